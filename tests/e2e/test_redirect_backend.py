"""redirect = host port: the backend side. A backend that refuses (xinetd's "can't connect to
remote host" message, START and EXIT, no TRAFFIC line, the client closed), one that never
answers the SYN (portier's connect_timeout), IPv4 and IPv6 on either side, a target given by
name. The compatibility tests run against xinetd too (PORTIER_DAEMON=xinetd)."""

import socket
import time

import pytest

from conftest import free_port, have_ipv6_loopback
from portierd_util import connect, need_portierd, read_all, read_line
from redirect_util import PID, Backend, Blackhole, add_redirect

pytestmark = pytest.mark.timeout(120)

ALL = "PID HOST EXIT DURATION TRAFFIC"


def test_backend_refuses(daemon):
    """Nothing listens at the target: the client's connection is closed (EOF), START and
    EXIT status=0 are logged (no TRAFFIC: nothing was relayed) and the daemon log says why,
    in xinetd's words."""
    dead = free_port()
    port = add_redirect(daemon, "down", dead, log_on_success=ALL)
    daemon.start()
    with connect(port) as s:
        assert read_all(s) == b""
    daemon.wait_log(rf"EXIT: down status=0 pid={PID} duration=\d+\(sec\)")
    daemon.wait_log(rf"START: down pid={PID} from=127\.0\.0\.1")
    lines = daemon.log()
    assert [x.split()[0] for x in lines] == ["START:", "EXIT:"], lines
    msg = daemon.wait_message("can't connect to remote host")
    assert msg.endswith("can't connect to remote host 127.0.0.1: Connection refused "
                        "(errno = 111)"), msg


def test_backend_timeout(daemon):
    """The backend never completes the handshake: connect_timeout ends the attempt (EXIT, the
    client's connection closed, "Connection timed out"); other connections are served
    meanwhile."""
    need_portierd("connect_timeout is portier's")
    hole = Blackhole()
    echo = Backend("echo")
    try:
        port = add_redirect(daemon, "slow", hole.port, connect_timeout="1")
        other = add_redirect(daemon, "fine", echo.port)
        daemon.start()
        t0 = time.monotonic()
        with connect(port) as s:
            with connect(other) as o:
                o.sendall(b"meanwhile\n")
                assert read_line(o) == "meanwhile\n"
            assert read_all(s, timeout=10) == b""
        took = time.monotonic() - t0
        assert 0.8 < took < 8, took
        daemon.wait_log(r"EXIT: slow status=0 pid=0 duration=\d+\(sec\)")
        msg = daemon.wait_message("can't connect to remote host")
        assert "Connection timed out (errno = 110)" in msg, msg
    finally:
        hole.stop()
        echo.stop()


def test_backend_down_messages_bounded(daemon):
    """A flood towards a dead backend: every client gets its EXIT line, but the daemon log
    gets at most 10 "can't connect" messages a second (the rest counted)."""
    need_portierd()
    port = add_redirect(daemon, "flood", free_port())
    daemon.start()
    for _ in range(60):
        with connect(port) as s:
            assert read_all(s) == b""
    daemon.wait_log(r"EXIT: flood status=0 pid=0 .*", count=60)
    n = len([m for m in daemon.messages() if "can't connect to remote host" in m])
    assert 10 <= n <= 40, n


needs_v6 = pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")


@needs_v6
@pytest.mark.parametrize("front,back", [("::1", "::1"), ("::1", "127.0.0.1"),
                                        ("127.0.0.1", "::1")])
def test_ipv6_either_side(daemon, front, back):
    b = Backend("greet", host=back)
    try:
        port = add_redirect(daemon, "v6", b.port, backend_host=back, bind=front)
        daemon.start()
        with connect(port, host=front) as s:
            # the backend sees the proxy's address, of the backend's family
            assert read_line(s) == f"hello {back}\n"
            s.sendall(b"through\n")
            assert read_line(s) == "through\n"
        daemon.wait_log(rf"START: v6 pid={PID} from={front.replace('.', '[.]')}")
        daemon.wait_log(rf"EXIT: v6 status=0 pid={PID} .*")
    finally:
        b.stop()


def test_target_by_name(daemon):
    """`redirect = localhost PORT`: the name is resolved when the configuration is loaded
    (off the loop), and the connection goes through."""
    b = Backend("echo")
    try:
        port = add_redirect(daemon, "named", b.port, backend_host="localhost")
        daemon.start()
        with connect(port) as s:
            s.sendall(b"by name\n")
            assert read_line(s) == "by name\n"
    finally:
        b.stop()


def test_unresolvable_target_skipped(daemon):
    """A target name that does not resolve: the service is skipped with the file:line error,
    the others serve."""
    need_portierd("xinetd's message differs")
    b = Backend("echo")
    try:
        add_redirect(daemon, "bad", 1, backend_host="no-such-host.invalid")
        port = add_redirect(daemon, "good", b.port)
        daemon.start()
        msg = daemon.wait_message("redirect: cannot resolve")
        assert "no-such-host.invalid" in msg
        with connect(port) as s:
            s.sendall(b"ok\n")
            assert read_line(s) == "ok\n"
    finally:
        b.stop()
