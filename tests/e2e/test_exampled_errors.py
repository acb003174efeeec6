"""Start-up failures reach the starting command: a non-zero exit and the daemon's own message
on its stderr (daemon-rules.md P5) -- and nothing is left running."""

import os
import signal
import socket
import time

import pytest

from conftest import fetch, have_ipv6_loopback, proc_stat, wait_for


def _nothing_left(exampled, procs):
    """No process of this test survives a failed start, and the pid file lock is free again:
    a correct start with the same pid file then works."""
    wait_for(lambda: not procs.leftovers(), what="the failed daemon to go away")
    assert not exampled.pidfile.exists(), "the failed start left its pid file behind"
    exampled.write_config(greeting="recovered", path=exampled.dir / "good.conf")
    _, pid = exampled.start(conf=exampled.dir / "good.conf")
    assert fetch(exampled.port) == b"recovered\n"


def test_missing_config(exampled, procs):
    missing = exampled.dir / "no-such.conf"
    r = exampled.run(conf=missing)
    assert r.rc != 0, r
    assert f"exampled: cannot read config '{missing}': No such file or directory" in r.err, r
    _nothing_left(exampled, procs)


def test_config_is_a_directory(exampled, procs):
    d = exampled.dir / "confdir"
    d.mkdir()
    r = exampled.run(conf=d)
    assert r.rc != 0, r
    assert f"exampled: cannot read config '{d}': Is a directory" in r.err, r
    _nothing_left(exampled, procs)


def test_unknown_key_names_file_and_line(exampled, procs):
    exampled.write_config(extra=["", "bogus_key = 1"])
    # Lines: 1 comment, 2 blank, 3 listen, 4 blank, 5 bogus_key.
    r = exampled.run()
    assert r.rc != 0, r
    assert f"exampled: {exampled.conf}:5: " in r.err, r
    assert "bogus_key" in r.err, r
    _nothing_left(exampled, procs)


@pytest.mark.parametrize("line", ["listen = 127.0.0.1", "listen = 127.0.0.1:99999",
                                  "listen = 300.1.2.3:80", "startup_delay = soon",
                                  "this line has no equals sign"])
def test_bad_value_names_file_and_line(exampled, procs, line):
    exampled.conf.write_text(f"greeting = x\n{line}\n")
    r = exampled.run()
    assert r.rc != 0, r
    assert f"exampled: {exampled.conf}:2: " in r.err, r
    _nothing_left(exampled, procs)


def test_missing_listen_key(exampled, procs):
    exampled.write_config(listen=False, greeting="nowhere to listen")
    r = exampled.run()
    assert r.rc != 0, r
    assert "listen" in r.err and "exampled: " in r.err, r
    _nothing_left(exampled, procs)


def test_busy_port(exampled, procs):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        exampled.write_config(port=port)
        r = exampled.run()
        assert r.rc != 0, r
        assert f"exampled: cannot listen on 127.0.0.1:{port}: Address already in use" in r.err, r
    _nothing_left(exampled, procs)


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_busy_port_ipv6(exampled, procs):
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as busy:
        busy.bind(("::1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        exampled.write_config(listen=f"[::1]:{port}")
        r = exampled.run()
        assert r.rc != 0, r
        assert f"exampled: cannot listen on [::1]:{port}: Address already in use" in r.err, r


def test_readiness_timeout(exampled, procs):
    """--timeout 1 with a 3 s start-up: the starting command gives up after about 1 s."""
    exampled.write_config(extra=["startup_delay = 3"])
    t0 = time.monotonic()
    r = exampled.run("--timeout", "1")
    assert r.rc != 0, r
    assert "timed out" in r.err, r
    assert 0.8 <= time.monotonic() - t0 < 2.9, f"gave up after {r.elapsed:.2f}s, not ~1s: {r!r}"


def test_readiness_timeout_short_option(exampled, procs):
    exampled.write_config(extra=["startup_delay = 3"])
    r = exampled.run("-t", "1")
    assert r.rc != 0, r
    assert "timed out" in r.err, r
    assert r.elapsed < 2.9, r


def test_daemon_dying_before_readiness_fails_the_start(exampled, procs):
    """The daemon vanishes without a word during start-up: the starting command notices the
    closed pipe and fails at once, instead of waiting for the 60 s timeout."""
    exampled.write_config(extra=["startup_delay = 30"])
    t0 = time.monotonic()
    starter, out, err = procs.spawn(exampled.args())

    def grandchild():
        for pid in procs.leftovers():
            if pid == starter.pid:
                continue
            try:
                st = proc_stat(pid)
            except FileNotFoundError:
                continue
            if st["session"] not in (pid, os.getsid(0)):
                return pid
        return None
    daemon = wait_for(grandchild, what="the daemon (grandchild) to appear")
    os.kill(daemon, signal.SIGKILL)
    rc = starter.wait(timeout=20)
    elapsed = time.monotonic() - t0
    assert rc != 0, f"the start succeeded although the daemon died: {err.read_text()!r}"
    assert elapsed < 15, f"the starting command waited {elapsed:.1f}s for a dead daemon"
