"""Hostile input: maximum-size (65507 bytes) and empty UDP datagrams to the UDP built-ins and
to a wait = yes UDP service; half-open, half-closed and reset (SO_LINGER 0) connections; and
slowloris-style clients on the built-ins, a redirect and tcpmux's name line, which must not hurt the
other clients. (Malformed and overlong TCPMUX lines: test_tcpmux_serve.py; garbage, split,
overlong and slow ident answers: tests/unit/test-ident.c and test_access_ident*.py.)"""

import socket
import threading
import time

import pytest

from builtin_util import add_builtin, wait_eof
from conftest import pid_alive, try_fetch, wait_for
from portierd_util import connect, descendants, need_portierd, read_line, server, udp_ask
from stress_util import close_all, cpu_over, fd_count, fds_settled, linger_reset, open_many, \
    pipe_count

pytestmark = pytest.mark.timeout(120)
PY = "/usr/bin/python3"
MAX_UDP = 65507


def udp_send(port, data, timeout=5):
    """Send one datagram, return the answer (or None when none came)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recvfrom(1 << 17)[0]
        except socket.timeout:
            return None


def test_extreme_udp_datagrams(daemon):
    d = daemon
    ports = {name: add_builtin(d, name, proto="udp")
             for name in ("echo", "daytime", "time", "chargen", "discard")}
    upper = d.add("upper", PY, f"-S {server('udp_upper.py')} 1", socket_type="dgram",
                  protocol="udp", wait="yes")
    d.start()
    big = bytes(range(256)) * (MAX_UDP // 256) + b"z" * (MAX_UDP % 256)
    assert len(big) == MAX_UDP
    assert udp_send(ports["echo"], big) == big
    assert udp_send(ports["echo"], b"") == b""
    for data in (big, b""):
        assert udp_send(ports["daytime"], data).endswith(b"\n")
        assert len(udp_send(ports["time"], data)) == 4
        assert len(udp_send(ports["chargen"], data)) == 512
        assert udp_send(ports["discard"], data, timeout=0.3) is None
    # a wait = yes server gets the big one whole, then the empty one
    got = udp_send(upper, big[:60000].replace(b"\n", b"x"))
    assert got is not None and got.split(b" ", 2)[2] == big[:60000].replace(b"\n", b"x").upper()
    got = udp_send(upper, b"")
    assert got is not None and got.endswith(b" "), got
    # and the ordinary ones are answered as before
    assert udp_ask(ports["echo"], b"after") == b"after"
    assert udp_ask(upper, b"after").endswith(b"AFTER")
    assert pid_alive(d.pid)


def test_half_open_half_closed_and_reset_connections(daemon):
    need_portierd("reads the daemon's descriptors")
    d = daemon
    echo = add_builtin(d, "echo")
    daytime = add_builtin(d, "daytime")
    mux = add_builtin(d, "tcpmux")
    ex = d.add("ex", server("hold.sh"))
    rd = d.add("rd", redirect=f"127.0.0.1 {echo}")
    d.start()
    base = fd_count(d.pid)
    # half-open: connected, never a byte; the others are served meanwhile
    idle = open_many(echo, 60) + open_many(mux, 20) + open_many(rd, 20)
    try:
        assert len(idle) == 100
        for i in range(20):
            with connect(echo) as s:
                s.sendall(b"%d\n" % i)
                assert read_line(s) == f"{i}\n"
            assert try_fetch(daytime).endswith(b"\n")
        # half-closed: the echo comes back whole, then the end
        for i in range(20):
            with connect(echo) as s:
                s.sendall(b"half %d\n" % i)
                s.shutdown(socket.SHUT_WR)
                assert read_line(s) == f"half {i}\n"
                assert wait_eof(s)
        # reset at once, mid-line (tcpmux), and with an exec'd server running
        for port, data in ((echo, b""), (echo, b"part"), (mux, b"he"), (daytime, b""),
                           (ex, b""), (rd, b""), (rd, b"y" * 5000)) * 20:
            s = connect(port)
            if data:
                s.sendall(data)
            linger_reset(s)
            s.close()
        for i in range(5):
            with connect(echo) as s:
                s.sendall(b"still %d\n" % i)
                assert read_line(s) == f"still {i}\n"
    finally:
        close_all(idle)
    wait_for(lambda: not descendants(d.pid), what="the exec'd servers of reset clients to end")
    wait_for(lambda: fds_settled(d.pid, base), what=f"descriptors back to {base} (pipes "
             f"aside: now {fd_count(d.pid)}, and {pipe_count(d.pid)} pipe ends)")
    assert not d.zombies()
    assert pid_alive(d.pid)


def slow_client(port, stop, line, results):
    """Send one byte of `line` every 0.3 s, never the end: a slowloris."""
    try:
        with connect(port, timeout=10) as s:
            for b in line * 100:
                if stop.is_set():
                    break
                s.sendall(bytes([b]))
                time.sleep(0.3)
    except OSError as e:
        results.append(repr(e))


def test_slowloris_does_not_hurt_the_others(daemon):
    d = daemon
    echo = add_builtin(d, "echo")
    daytime = add_builtin(d, "daytime")
    mux = add_builtin(d, "tcpmux")
    d.add("named", "/bin/echo", "named", type="TCPMUX UNLISTED")
    for key in ("port", "bind"):
        d.services["named"]["attrs"].pop(key)
    rd = d.add("rd", redirect=f"127.0.0.1 {echo}")
    d.start()
    stop = threading.Event()
    errors = []
    slow = [threading.Thread(target=slow_client, args=(echo, stop, b"xxxxxxxxxx", errors),
                             daemon=True) for _ in range(40)]
    slow += [threading.Thread(target=slow_client, args=(mux, stop, b"nam", errors),
                              daemon=True) for _ in range(40)]
    slow += [threading.Thread(target=slow_client, args=(rd, stop, b"slow", errors),
                              daemon=True) for _ in range(40)]
    for t in slow:
        t.start()
    try:
        time.sleep(1.0)
        if d.kind == "portierd":
            used = cpu_over(d.pid, 1.0)
            assert used < 0.3, f"portierd used {used:.2f} s of CPU in 1 s on 120 slow clients"
        for i in range(20):
            t0 = time.monotonic()
            with connect(echo, timeout=3) as s:
                s.sendall(b"fast %d\n" % i)
                assert read_line(s, timeout=3) == f"fast {i}\n"
            assert try_fetch(daytime, timeout=3).endswith(b"\n")
            with connect(rd, timeout=3) as s:
                s.sendall(b"via %d\n" % i)
                assert read_line(s, timeout=3) == f"via {i}\n"
            with connect(mux, timeout=3) as s:
                s.sendall(b"named\r\n")
                assert read_line(s, timeout=3) == "named\n"
            assert time.monotonic() - t0 < 3
    finally:
        stop.set()
        for t in slow:
            t.join(10)
    assert pid_alive(d.pid)
