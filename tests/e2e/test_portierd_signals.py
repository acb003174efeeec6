"""Stopping and the other signals: SIGTERM/SIGINT stop listening at once, end every running
server (SIGTERM to its process group, SIGKILL after 5 s), exit 0 and remove the pid file;
SIGQUIT exits at once; SIGUSR1 writes a state dump. Servers surviving SIGTERM is xinetd's
behaviour (xinetd-reference.md 1.5), so those tests are portier-only."""

import os
import signal
import time

import pytest

from conftest import fetch, pid_alive, wait_for
from portierd_util import (children, hold, listening, need_portierd, port_refuses, read_line,
                           server, udp_ask)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_idle(daemon, sig):
    if sig == signal.SIGINT:
        need_portierd("xinetd 2.3.15.3 does not stop on SIGINT")
    port = daemon.add("e", "/bin/echo", "x")
    daemon.start()
    assert listening(port)
    code = daemon.stop(sig)
    if daemon.procs.subreaper:
        assert code == 0, f"exit status {code} after {sig.name}"
    assert not daemon.pidfile.exists()
    assert not listening(port)
    daemon.wait_message("Exiting...")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_ends_running_servers(daemon, sig):
    need_portierd("xinetd leaves exec'd servers running at SIGTERM")
    port = daemon.add("held", server("hold.sh"))
    other = daemon.add("other", server("hold.sh"))
    daemon.start()
    held = [hold(port) for _ in range(3)] + [hold(other)]
    code = daemon.stop(sig)
    if daemon.procs.subreaper:
        assert code == 0
    for s, pid in held:
        wait_for(lambda: not pid_alive(pid), what=f"server {pid} to be ended")
        s.close()
    assert not daemon.pidfile.exists()
    assert not listening(port) and not listening(other)


def test_stop_ends_the_server_process_group(daemon):
    """SIGTERM goes to each server's process group: a server's own children end too."""
    need_portierd("xinetd leaves exec'd servers running at SIGTERM")
    port = daemon.add("fam", server("family.sh"))
    daemon.start()
    s, pid = hold(port)
    line = read_line(s)
    assert line.startswith("child "), line
    child = int(line.split()[1])
    assert pid_alive(child)
    daemon.stop()
    wait_for(lambda: not pid_alive(pid), what="the server to end")
    wait_for(lambda: not pid_alive(child), what="the server's child to end")
    s.close()


def test_stop_kills_stubborn_server_after_grace(daemon):
    """A server ignoring SIGTERM: the port is closed at once, the server is SIGKILLed after the
    grace period, then the daemon exits 0."""
    need_portierd("xinetd leaves exec'd servers running at SIGTERM")
    port = daemon.add("stub", server("stubborn.sh"))
    daemon.start()
    s, pid = hold(port)
    os.kill(daemon.pid, signal.SIGTERM)
    wait_for(lambda: port_refuses(port), timeout=3,
             what="the port to refuse connections right after SIGTERM")
    assert pid_alive(daemon.pid), "the daemon exited without waiting for its server"
    # a reload asked for while stopping must not bring the service back
    os.kill(daemon.pid, signal.SIGHUP)
    time.sleep(0.5)
    assert port_refuses(port), "a SIGHUP during the stop re-opened the port"
    code = daemon.procs.wait_exit(daemon.pid, timeout=15)
    if daemon.procs.subreaper:
        assert code == 0
    assert not pid_alive(pid), "the server ignoring SIGTERM survived the daemon"
    s.close()
    assert not daemon.pidfile.exists()


def test_sigquit_exits_at_once(daemon):
    port = daemon.add("e", "/bin/echo", "x")
    daemon.start()
    os.kill(daemon.pid, signal.SIGQUIT)
    daemon.procs.wait_exit(daemon.pid, timeout=5)
    assert not listening(port)


def test_sigusr1_state_dump(daemon):
    """SIGUSR1: portierd.dump beside the pid file: each service with its state, counters and
    running servers."""
    need_portierd("xinetd writes its dump to a fixed /var/run/xinetd.dump")
    port = daemon.add("dumped", server("hold.sh"), instances="1")
    idle = daemon.add("idle", "/bin/echo", "x")
    udp = daemon.add("udp", "/usr/bin/python3", f"-S {server('udp_upper.py')} 5",
                     socket_type="dgram", protocol="udp", wait="yes")
    daemon.start()
    for _ in range(3):
        assert fetch(idle) == b"x\n"
    daemon.wait_log(r"EXIT: idle .*", count=3)
    s, pid = hold(port)
    assert fetch(port, timeout=5) == b""
    daemon.wait_log(r"FAIL: dumped service_limit .*")
    upid = int(udp_ask(udp, b"x").split()[0])
    dump = daemon.pidfile.parent / "portierd.dump"
    daemon.kill(signal.SIGUSR1)
    msg = daemon.wait_message("generated state dump in file")
    assert msg.endswith(f"generated state dump in file {dump}"), msg
    text = dump.read_text()
    blocks = {b.split("\n", 1)[0]: b for b in text.split("\nservice ")[1:]}
    assert set(blocks) == {"dumped", "idle", "udp"}, text
    d = blocks["dumped"]
    for want in (f"/{port}", "state = listening", "running = 1", "accepted = 2",
                 "started = 1", "refused service_limit = 1", f"server pid {pid}"):
        assert want in d, f"{want!r} not in:\n{d}"
    i = blocks["idle"]
    for want in ("running = 0", "accepted = 3", "started = 3", "exited = 3"):
        assert want in i, f"{want!r} not in:\n{i}"
    u = blocks["udp"]
    for want in ("state = suspended", "running = 1", f"server pid {upid}"):
        assert want in u, f"{want!r} not in:\n{u}"
    s.close()
    assert pid_alive(daemon.pid)


def test_no_zombie_after_many_exits(daemon):
    port = daemon.add("z", "/bin/true")
    daemon.start()
    from conftest import try_fetch
    for _ in range(30):
        try_fetch(port)
    daemon.wait_log(r"EXIT: z status=0 .*", count=30)
    wait_for(lambda: not children(daemon.pid), what="every server reaped")
