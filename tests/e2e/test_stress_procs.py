"""Process exhaustion and bad servers: servers that crash, hang or exit at once, and a
connection flood under a low RLIMIT_NPROC (enforced only for non-root users: the daemon runs
as uid 65534 through setpriv, as in test_portierd_nonroot.py). Each is logged and counted,
its `instances` slot is released, no zombie is left, and the daemon serves again."""

import datetime
import os
import resource
import signal
import socket

import pytest

from conftest import pid_alive, try_fetch, wait_for
from portierd_util import children, connect, hold, need_portierd, read_line, server
from stress_util import close_all, cpu_over, state_dump
from test_portierd_nonroot import NOBODY, PREFIX, SETPRIV, _tasks_of, nobody_daemon  # noqa: F401

pytestmark = pytest.mark.timeout(120)


def test_servers_that_crash_hang_or_exit_at_once(daemon):
    need_portierd("reads portierd's state dump")
    d = daemon
    crash = d.add("crash", server("crash.sh"), instances="2")
    quick = d.add("quick", "/bin/true", instances="2")
    hang = d.add("hang", "/bin/sleep", "1000", instances="3")
    d.start()
    for _ in range(20):
        with connect(crash) as s:
            assert read_line(s).startswith("pid ")
            s.settimeout(5)
            assert s.recv(100) == b""
        wait_for(lambda: not children(d.pid), what="the crashed server reaped")
    for _ in range(30):
        assert try_fetch(quick, timeout=5) == b""
        # the client sees the end before the exit is reaped: a slot frees only then
        wait_for(lambda: not children(d.pid), what="the quick server reaped")
    d.wait_log(r"EXIT: crash signal=11 pid=\d+ duration=\d+\(sec\)", count=20)
    d.wait_log(r"EXIT: quick status=0 pid=\d+ duration=\d+\(sec\)", count=30)
    # three hanging servers fill `hang`; the fourth client is refused at the limit
    hung = [connect(hang) for _ in range(3)]
    wait_for(lambda: len([p for p in children(d.pid)]) == 3, what="three hanging servers")
    with connect(hang) as s:
        s.settimeout(5)
        assert s.recv(100) == b""
    d.wait_log(r"FAIL: hang service_limit from=127\.0\.0\.1")
    pids = children(d.pid)
    for p in pids:
        os.kill(p, signal.SIGKILL)
    d.wait_log(r"EXIT: hang signal=9 pid=\d+ duration=\d+\(sec\)", count=3)
    close_all(hung)
    wait_for(lambda: not children(d.pid), what="every server reaped")
    # the slots are free again: every service serves
    with connect(crash) as s:
        assert read_line(s).startswith("pid ")
    assert try_fetch(quick, timeout=5) == b""
    wait_for(lambda: not children(d.pid), what="the crash and quick servers reaped")
    extra = connect(hang)
    wait_for(lambda: len(children(d.pid)) == 1, what="a new hanging server")
    for p in children(d.pid):
        os.kill(p, signal.SIGKILL)
    extra.close()
    wait_for(lambda: not children(d.pid), what="every server reaped")
    dump = state_dump(d)
    assert dump["crash"]["started"] == dump["crash"]["exited"] == 21, dump["crash"]
    q = dump["quick"]
    assert q["started"] == q["exited"] == q["accepted"] == 31, q
    assert dump["hang"]["refused service_limit"] == 1 and dump["hang"]["exited"] == 4, dump["hang"]
    assert dump[""]["servers running"] == 0
    assert not d.zombies()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to uid 65534")
@pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) is not installed")
def test_nproc_exhaustion_under_a_flood(nobody_daemon):  # noqa: F811 (the fixture)
    """40 clients at once while only 3 processes fit: the forks that fail are logged and
    counted (FAIL fork after the retries, or served by a retry), the daemon does not spin, and
    once the clients leave everything is reaped and it serves again."""
    need_portierd("xinetd retries forking and is hard to bound here")
    d = nobody_daemon
    port = d.add("p", server("hold.sh"), flags="NORETRY")
    limit = _tasks_of(NOBODY) + 4

    def low_nproc():
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    d.start(prefix=PREFIX, preexec_fn=low_nproc)
    wait_for(lambda: _tasks_of(NOBODY) == limit - 3,
             what=f"uid {NOBODY} to run {limit - 3} tasks (the daemon started)")
    socks = []
    try:
        for _ in range(40):
            socks.append(connect(port))
        d.wait_log(r"FAIL: p fork from=127\.0\.0\.1", count=30)
        used = cpu_over(d.pid, 1.0)
        assert used < 0.2, f"portierd used {used:.2f} s of CPU in 1 s at the process limit"
        served = []
        for s in socks:
            s.settimeout(5)
            line = read_line(s, timeout=5)
            if line.startswith("pid "):
                served.append(int(line.split()[1]))
        assert 1 <= len(served) <= 3, served
    finally:
        close_all(socks)
    wait_for(lambda: not children(d.pid), what="every server reaped")
    a, pa = hold(port)
    a.sendall(b"again\n")
    assert read_line(a) == "again\n"
    a.close()
    d.wait_log(rf"EXIT: p status=0 pid={pa} .*")
    dump = state_dump(d)
    p = dump["p"]
    assert p["started"] == p["exited"] == len(served) + 1, p
    assert p["refused fork"] == 40 - len(served), p
    assert p["accepted"] == 41, p
    assert dump[""]["servers running"] == 0
    assert not d.zombies()
    assert pid_alive(d.pid)


@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_wait_yes_server_that_cannot_start(daemon, tmp_path, kind):
    """A wait = yes service whose server cannot be executed (here: its file lost its execute
    permission after the start) with a datagram or a connection waiting on its socket: each
    failure is logged, but the daemon does not retry at once, forever (the socket stays
    readable: level-triggered). Once the server can run again, it is served. (The tests run
    with cps off; the default cps would stop the loop after 50 attempts, for 10 s.)"""
    need_portierd("reads the daemon's CPU time")
    d = daemon
    wrapper = tmp_path / "srv.sh"
    script = server("udp_upper.py" if kind == "udp" else "tcp_accept.py")
    wrapper.write_text(f"#!/bin/sh\nexec /usr/bin/python3 -S {script} 0.5\n")
    wrapper.chmod(0o755)
    if kind == "udp":
        port = d.add("w", str(wrapper), socket_type="dgram", protocol="udp", wait="yes")
    else:
        port = d.add("w", str(wrapper), wait="yes")
    d.start()
    wrapper.chmod(0o644)
    if kind == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"lost", ("127.0.0.1", port))
        waiting = None
    else:
        waiting = connect(port)
    try:
        d.wait_message("cannot start")
        used = cpu_over(d.pid, 1.0)
        failures = [m for m in d.messages() if "cannot start" in m]
        assert used < 0.2, f"portierd used {used:.2f} s of CPU in 1 s retrying a failing server"
        assert len(failures) <= 5, f"{len(failures)} attempts in about a second"
        wrapper.chmod(0o755)
        if kind == "udp":
            wait_for(lambda: (udp_try(port, b"back") or b"").endswith(b"BACK"),
                     what="the service to serve again")
        else:
            assert read_line(waiting, timeout=10).endswith(" 1\n")
    finally:
        if waiting:
            waiting.close()
    assert pid_alive(d.pid)


def udp_try(port, data):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recv(100)
        except socket.timeout:
            return None


def test_wait_yes_refused_connection_is_not_forgotten(daemon):
    """A wait = yes stream service refuses the connection waiting on its socket (outside its
    access_times): it neither spins on the still-readable socket nor stops looking at it for
    good. Once a reload lifts the restriction, the waiting client is served."""
    need_portierd("reads the daemon's CPU time")
    d = daemon
    hour = (datetime.datetime.now().hour + 2) % 24
    cmd = ("/usr/bin/python3", f"-S {server('tcp_accept.py')} 0.5")
    port = d.add("w", *cmd, wait="yes", access_times=f"{hour:02}:00-{hour:02}:30")
    d.start()
    with connect(port) as c:
        d.wait_log(r"FAIL: w time from=<no address>")
        used = cpu_over(d.pid, 1.0)
        assert used < 0.2, f"portierd used {used:.2f} s of CPU in 1 s on a refused client"
        refused = [x for x in d.log() if x.startswith("FAIL: w time")]
        assert len(refused) <= 4, f"{len(refused)} refusals of one client in about a second"
        d.add("w", *cmd, wait="yes")
        d.reload()
        assert read_line(c, timeout=10).endswith(" 1\n"), "the waiting client was forgotten"
    d.wait_log(r"EXIT: w status=0 .*")
