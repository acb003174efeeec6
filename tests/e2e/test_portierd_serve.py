"""Serving wait = no stream services, and the per-connection log lines (xinetd's, byte for
byte: xinetd-reference.md 1.6). Compatibility tests: also run with PORTIER_DAEMON=xinetd."""

import os
import re
import socket
import time

from conftest import DEFAULT_TIMEOUT, fetch, proc_fds, try_fetch, wait_for
from portierd_util import (STAMP_RE, children, connect, hold, need_portierd, read_line, server,
                           udp_ask)


def _quiet(daemon):
    """Wait until every server the daemon started has been reaped."""
    wait_for(lambda: not children(daemon.pid),
             what="the daemon to have no child left")


def test_serves_and_logs_start_exit(daemon):
    port = daemon.add("hello", "/bin/echo", "hello world")
    daemon.start()
    assert fetch(port) == b"hello world\n"
    start, = daemon.wait_log(r"START: hello pid=(\d+) from=127\.0\.0\.1")
    end, = daemon.wait_log(r"EXIT: hello status=0 pid=(\d+) duration=(\d+)\(sec\)")
    assert start.group(1) == end.group(1)
    assert int(end.group(2)) <= 2
    lines = daemon.log()
    assert lines.index(start.group(0)) < lines.index(end.group(0)), lines


# log_on_success value -> (expected START line or None, expected EXIT line or None), where
# PID stands for the server's pid
VARIANTS = {
    "all": ("PID HOST EXIT DURATION", "START: all pid=PID from=127.0.0.1",
            "EXIT: all status=0 pid=PID duration=0(sec)"),
    "pid": ("PID", "START: pid pid=PID", None),
    "host": ("HOST", "START: host from=127.0.0.1", None),
    "exit": ("EXIT", "START: exit", "EXIT: exit status=0"),
    "duration": ("DURATION", "START: duration", "EXIT: duration duration=0(sec)"),
    "pidexit": ("PID EXIT", "START: pidexit pid=PID", "EXIT: pidexit status=0 pid=PID"),
    "hostdur": ("HOST DURATION", "START: hostdur from=127.0.0.1",
                "EXIT: hostdur duration=0(sec)"),
    "none": ("", None, None),
}


def test_log_on_success_fields(daemon):
    """Each combination of log_on_success gives exactly xinetd's START and EXIT lines (a bare
    `START: <id>` without PID or HOST; no line at all when the list is empty)."""
    ports = {}
    for sid, (flags, _, _) in VARIANTS.items():
        ports[sid] = daemon.add(sid, server("hold.sh"), log_on_success=flags)
    ports["marker"] = daemon.add("marker", "/bin/echo", "marker")
    daemon.start()
    pids = {}
    for sid in VARIANTS:
        s, pid = hold(ports[sid])
        pids[sid] = pid
        s.shutdown(socket.SHUT_WR)
        assert read_line(s) == ""
        s.close()
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"),
                 what=f"server {pid} of {sid} to be reaped")
    _quiet(daemon)
    assert fetch(ports["marker"]) == b"marker\n"
    daemon.wait_log(r"EXIT: marker status=0 pid=\d+ duration=\d+\(sec\)")
    lines = [line for line in daemon.log() if " marker " not in line + " "]
    want = []
    for sid, (_, st, ex) in VARIANTS.items():
        for w in (st, ex):
            if w:
                want.append(w.replace("PID", str(pids[sid])))
    # durations are whole seconds; a slow machine may log 1(sec)
    got = [re.sub(r"duration=1\(sec\)", "duration=0(sec)", line) for line in lines]
    assert got == want


def test_exit_status_logged(daemon):
    port = daemon.add("st", server("status.sh"), "7")
    daemon.start()
    assert fetch(port) == b"bye\n"
    daemon.wait_log(r"EXIT: st status=7 pid=\d+ duration=\d+\(sec\)")


def test_server_killed_by_signal(daemon):
    """A server that dies of SIGSEGV is logged with signal=11; the daemon keeps serving."""
    port = daemon.add("crash", server("crash.sh"), "SEGV")
    daemon.start()
    s, pid = hold(port)
    assert read_line(s) == ""
    s.close()
    daemon.wait_log(rf"EXIT: crash signal=11 pid={pid} duration=\d+\(sec\)")
    s, pid2 = hold(port)
    s.close()
    daemon.wait_log(rf"EXIT: crash signal=11 pid={pid2} duration=\d+\(sec\)")
    assert pid2 != pid


def test_reaped_promptly_no_zombie(daemon):
    """Each server is reaped as soon as it exits: its EXIT line comes, and no zombie is left,
    while the daemon is otherwise idle."""
    port = daemon.add("held", server("hold.sh"))
    daemon.start()
    socks = [hold(port) for _ in range(5)]
    for s, pid in socks:
        s.close()
    for s, pid in socks:
        daemon.wait_log(rf"EXIT: held status=0 pid={pid} duration=\d+\(sec\)")
    wait_for(lambda: not daemon.zombies(), what="no zombie child of the daemon")
    for _, pid in socks:
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"),
                 what=f"pid {pid} to be gone")


def test_sequential_clients(daemon):
    port = daemon.add("seq", "/bin/echo", "ok")
    daemon.start()
    for i in range(40):
        assert fetch(port) == b"ok\n", f"connection {i}"
    starts = daemon.wait_log(r"START: seq pid=(\d+) from=127\.0\.0\.1", count=40)
    exits = daemon.wait_log(r"EXIT: seq status=0 pid=(\d+) duration=\d+\(sec\)", count=40)
    assert len({m.group(1) for m in starts}) == 40
    assert {m.group(1) for m in starts} == {m.group(1) for m in exits}
    wait_for(lambda: not daemon.zombies(), what="no zombie")


def test_concurrent_clients(daemon):
    """Many connections open at once: each gets its own server."""
    port = daemon.add("many", server("hold.sh"))
    daemon.start()
    n = 25
    socks = [connect(port) for _ in range(n)]
    pids = set()
    for s in socks:
        line = read_line(s)
        m = re.fullmatch(r"pid (\d+)\n", line)
        assert m, line
        pids.add(int(m.group(1)))
    assert len(pids) == n
    for i, s in enumerate(socks):
        s.sendall(b"ping %d\n" % i)
        assert read_line(s) == "ping %d\n" % i
        s.close()
    daemon.wait_log(r"EXIT: many status=0 pid=\d+ duration=\d+\(sec\)", count=n)


def test_two_services(daemon):
    p1 = daemon.add("one", "/bin/echo", "first")
    p2 = daemon.add("two", "/bin/echo", "second")
    daemon.start()
    for _ in range(3):
        assert fetch(p1) == b"first\n"
        assert fetch(p2) == b"second\n"
    daemon.wait_log(r"EXIT: one status=0 .*", count=3)
    daemon.wait_log(r"EXIT: two status=0 .*", count=3)


def test_client_reset_does_not_hurt(daemon):
    port = daemon.add("rst", server("hold.sh"))
    daemon.start()
    for _ in range(5):
        s = connect(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    s, pid = hold(port)
    s.sendall(b"still\n")
    assert read_line(s) == "still\n"
    s.close()
    daemon.wait_log(rf"EXIT: rst status=0 pid={pid} .*")


def test_burst_of_connections(daemon):
    """100 connections opened at once are all served (accepting in batches)."""
    need_portierd("xinetd's listen backlog is 64: some of a burst of 100 are reset")
    port = daemon.add("burst", "/bin/echo", "b")
    daemon.start()
    socks = []
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    got = []
    for s in socks:
        s.setblocking(True)
        s.settimeout(DEFAULT_TIMEOUT)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(10)
            if not chunk:
                break
            data += chunk
        got.append(data)
        s.close()
    assert got == [b"b\n"] * 100, [g for g in got if g != b"b\n"][:5]
    daemon.wait_log(r"EXIT: burst status=0 .*", count=100)
    wait_for(lambda: not daemon.zombies(), what="no zombie")


def test_service_log_file(daemon):
    """A service's own log_type FILE gets its lines; the defaults' file does not."""
    own = daemon.dir / "own.log"
    port = daemon.add("own", "/bin/echo", "o", log_type=f"FILE {own}")
    other = daemon.add("oth", "/bin/echo", "p")
    daemon.start()
    assert fetch(port) == b"o\n" and fetch(other) == b"p\n"
    daemon.wait_log(r"EXIT: oth .*")
    wait_for(lambda: own.exists() and "EXIT: own status=0" in own.read_text(),
             what="the EXIT line in the service's own file")
    lines = own.read_text().splitlines()
    assert [STAMP_RE.fullmatch(x).group(7).split(" pid=")[0] for x in lines] == \
        ["START: own", "EXIT: own status=0"], lines
    assert not [x for x in daemon.log() if " own " in x + " "], daemon.log()


def test_duration(daemon):
    """duration= counts whole seconds from start to exit (a lower bound is checked)."""
    port = daemon.add("dur", server("hold.sh"))
    daemon.start()
    s, pid = hold(port)
    time.sleep(1.2)
    s.close()
    m, = daemon.wait_log(rf"EXIT: dur status=0 pid={pid} duration=(\d+)\(sec\)")
    assert int(m.group(1)) >= 1


def test_server_killed_from_outside(daemon):
    port = daemon.add("k9", server("hold.sh"))
    daemon.start()
    s, pid = hold(port)
    os.kill(pid, 9)
    daemon.wait_log(rf"EXIT: k9 signal=9 pid={pid} duration=\d+\(sec\)")
    s.close()


def test_log_lines_flushed_at_stop(daemon):
    """Lines of connections served just before SIGTERM are in the file once the daemon has
    exited (buffered lines are flushed)."""
    port = daemon.add("fl", "/bin/echo", "f")
    daemon.start()
    for _ in range(20):
        assert fetch(port) == b"f\n"
    daemon.stop()
    starts = [x for x in daemon.log() if x.startswith("START: fl ")]
    assert len(starts) == 20, daemon.log()


def test_no_fd_leak(daemon):
    """The daemon's descriptors come back to where they were after served, refused and reset
    connections, wait = yes rounds and reloads."""
    served = daemon.add("served", "/bin/echo", "s")
    limited = daemon.add("limited", server("hold.sh"), instances="1")
    udp = daemon.add("udp", "/usr/bin/python3", f"-S {server('udp_upper.py')} 0.1",
                     socket_type="dgram", protocol="udp", wait="yes")
    daemon.start()
    assert fetch(served) == b"s\n"
    daemon.wait_log(r"EXIT: served .*")
    wait_for(lambda: not children(daemon.pid), what="no server running")
    before = proc_fds(daemon.pid)
    held, _ = hold(limited)
    for _ in range(10):
        assert fetch(served) == b"s\n"
        assert try_fetch(limited, timeout=5) == b""
        s = connect(served)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    held.close()
    for i in range(3):
        udp_ask(udp, b"x")
        daemon.wait_log(r"EXIT: udp .*", count=i + 1)
    daemon.reload()
    daemon.reload()
    wait_for(lambda: not children(daemon.pid), what="no server running")
    daemon.wait_log(r"EXIT: limited .*")
    last = {}

    def back():
        last["fds"] = proc_fds(daemon.pid)
        return len(last["fds"]) <= len(before)
    try:
        wait_for(back, timeout=5, what="the daemon's fds to come back")
    except AssertionError:
        raise AssertionError(f"fd leak: before {before}, after {last['fds']}") from None


def test_same_name_two_ids(daemon):
    """One service name on two ports with distinct ids runs twice; lines carry the id."""
    p1 = daemon.add("dup-a", "/bin/echo", "a", _name="dup")
    p2 = daemon.add("dup-b", "/bin/echo", "b", _name="dup")
    daemon.start()
    assert fetch(p1) == b"a\n" and fetch(p2) == b"b\n"
    daemon.wait_log(r"EXIT: dup-a status=0 .*")
    daemon.wait_log(r"EXIT: dup-b status=0 .*")


def test_interface_is_bind(daemon):
    port = daemon.add("itf", "/bin/echo", "i", bind=None, interface="127.0.0.1")
    daemon.start()
    assert fetch(port) == b"i\n"


def test_log_on_success_operators(daemon):
    """`+=` and `-=` change the defaults' log_on_success / log_on_failure for one service."""
    daemon.defaults["log_on_success"] = "PID HOST"
    plus = daemon.add("plus", "/bin/echo", "p", **{"log_on_success+": "EXIT"})
    minus = daemon.add("minus", "/bin/echo", "m", **{"log_on_success-": "HOST"})
    daemon.start()
    assert fetch(plus) == b"p\n"
    m, = daemon.wait_log(r"START: plus pid=(\d+) from=127\.0\.0\.1")
    daemon.wait_log(rf"EXIT: plus status=0 pid={m.group(1)}")
    assert fetch(minus) == b"m\n"
    daemon.wait_log(r"START: minus pid=\d+")
    assert fetch(plus) == b"p\n"
    daemon.wait_log(r"EXIT: plus status=0 pid=\d+", count=2)
    assert not [x for x in daemon.log() if x.startswith("EXIT: minus")], daemon.log()
