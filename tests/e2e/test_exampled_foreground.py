"""-d / --foreground: everything but the detaching. The process started is the daemon; it writes
its pid file, logs to stderr, reloads on SIGHUP and removes the pid file on SIGTERM."""

import os
import signal

import pytest

from conftest import (fetch, free_port, pid_alive, proc_stat, proc_status, read_pidfile,
                      try_fetch, wait_for, wait_greeting)


def _wait_serving(exampled, p, greeting, port=None):
    port = port or exampled.port

    def ok():
        assert p.poll() is None, f"exampled -d exited with {p.returncode}"
        return try_fetch(port) == greeting.encode() + b"\n"
    wait_for(ok, what=f"exampled -d to serve on {port}")


@pytest.mark.parametrize("flag", ["-d", "--foreground"])
def test_foreground_runs_in_place(exampled, procs, flag):
    exampled.write_config(greeting="in the foreground")
    p, out, err = procs.spawn(exampled.args(flag))
    _wait_serving(exampled, p, "in the foreground")
    assert p.poll() is None, "the foreground daemon exited"
    assert read_pidfile(exampled.pidfile) == f"{p.pid}\n"
    st = proc_stat(p.pid)
    assert st["ppid"] == os.getpid()
    text = err.read_text()
    assert f"exampled: started, listening on 127.0.0.1:{exampled.port}\n" in text, text

    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    assert not exampled.pidfile.exists()
    assert "exampled: stopping\n" in err.read_text()


def test_foreground_sigint(exampled, procs):
    exampled.write_config(greeting="ctrl-c")
    p, out, err = exampled.popen()
    _wait_serving(exampled, p, "ctrl-c")
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 0
    assert not exampled.pidfile.exists()


def test_foreground_reload(exampled, procs):
    exampled.write_config(greeting="one")
    p, out, err = exampled.popen()
    _wait_serving(exampled, p, "one")
    exampled.write_config(greeting="two")
    p.send_signal(signal.SIGHUP)
    wait_greeting(exampled.port, "two")
    wait_for(lambda: "exampled: configuration reloaded\n" in err.read_text(),
             what="'configuration reloaded' on stderr")

    exampled.write_config(greeting="three", extra=["nonsense = yes"])
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: "exampled: reload failed, keeping the old configuration: " in
             err.read_text(), what="'reload failed' on stderr")
    assert p.poll() is None
    assert fetch(exampled.port) == b"two\n"

    new_port = free_port()
    exampled.write_config(greeting="four", port=new_port)
    p.send_signal(signal.SIGHUP)
    wait_greeting(new_port, "four")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0


def test_foreground_startup_error(exampled, procs):
    missing = exampled.dir / "missing.conf"
    r = procs.run(exampled.args("-d", conf=missing), timeout=20)
    assert r.rc != 0, r
    assert f"exampled: cannot read config '{missing}': No such file or directory" in r.err, r


def test_foreground_umask(exampled, procs):
    exampled.write_config(greeting="masked")
    p, out, err = procs.spawn(exampled.args("-d", "-u", "027"), umask=0o077)
    _wait_serving(exampled, p, "masked")
    assert proc_status(p.pid)["Umask"] == "0027"
    p.terminate()
    assert p.wait(timeout=10) == 0


def test_foreground_stale_pid_file(exampled, procs):
    exampled.pidfile.write_text("garbage\n")
    exampled.write_config(greeting="fg")
    p, out, err = exampled.popen()
    _wait_serving(exampled, p, "fg")
    assert read_pidfile(exampled.pidfile) == f"{p.pid}\n"
    assert pid_alive(p.pid)
    p.terminate()
    assert p.wait(timeout=10) == 0
    assert not exampled.pidfile.exists()
