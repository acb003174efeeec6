"""Access rules on datagram services (wait = yes UDP): the first datagram's source is checked
against only_from/no_access and the global deny list before a server is started (xinetd:
"only the first packet is checked"). A refused datagram gets no server and no answer:
FAIL <id> address from=<addr> (xinetd, in its forked child: START, FAIL, EXIT). Compatibility
tests."""

import socket

import pytest

from access_util import PORTIERD, lines_of
from conftest import wait_for
from portierd_util import server

pytestmark = pytest.mark.timeout(120)
PY = "/usr/bin/python3"


def _udp(daemon, sid, **attrs):
    return daemon.add(sid, PY, f"-S {server('udp_upper.py')} 0.3", socket_type="dgram",
                      protocol="udp", wait="yes", **attrs)


def _ask(port, src, data, timeout=3.0):
    """Send one datagram from src; the reply, or None when none comes within timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        try:
            return s.recv(65536)
        except socket.timeout:
            return None


def _refused_lines(sid, src):
    fail = f"FAIL: {sid} address from={src}"
    if PORTIERD:
        return [fail]
    return [f"START: {sid} pid=P from={src}", fail, f"EXIT: {sid} status=0 pid=P duration=D"]


def test_udp_only_from(daemon):
    port = _udp(daemon, "u_of", only_from="127.0.0.2")
    daemon.start()
    want = _refused_lines("u_of", "127.0.0.3")
    assert _ask(port, "127.0.0.3", b"no", timeout=1.0) is None
    wait_for(lambda: len(lines_of(daemon, "u_of")) >= len(want),
             what=f"the refusal logged; log: {daemon.log()}")
    reply = _ask(port, "127.0.0.2", b"yes")
    assert reply is not None and reply.split()[1:] == [b"127.0.0.2", b"YES"], reply
    want += ["START: u_of pid=P from=127.0.0.2", "EXIT: u_of status=0 pid=P duration=D"]
    wait_for(lambda: len(lines_of(daemon, "u_of")) >= len(want),
             what=f"the server's EXIT; log: {daemon.log()}")
    assert lines_of(daemon, "u_of") == want


def test_udp_no_access(daemon):
    port = _udp(daemon, "u_na", no_access="127.0.0.4")
    daemon.start()
    want = _refused_lines("u_na", "127.0.0.4")
    assert _ask(port, "127.0.0.4", b"no", timeout=1.0) is None
    wait_for(lambda: len(lines_of(daemon, "u_na")) >= len(want),
             what=f"the refusal logged; log: {daemon.log()}")
    reply = _ask(port, "127.0.0.5", b"yes")
    assert reply is not None and reply.split()[1:] == [b"127.0.0.5", b"YES"], reply
    want += ["START: u_na pid=P from=127.0.0.5", "EXIT: u_na status=0 pid=P duration=D"]
    wait_for(lambda: len(lines_of(daemon, "u_na")) >= len(want),
             what=f"the server's EXIT; log: {daemon.log()}")
    assert lines_of(daemon, "u_na") == want


def test_udp_global_deny_list(daemon):
    """An address the SENSOR put on the global deny list is refused by datagram services too."""
    trap = daemon.add("trap", "/bin/echo", "x", flags="SENSOR", deny_time="5")
    port = _udp(daemon, "u_gl")
    daemon.start()
    with socket.socket() as s:
        s.bind(("127.0.0.6", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", trap))
        try:
            s.recv(10)
        except ConnectionResetError:
            pass
    daemon.wait_message("Adding 127.0.0.6 ")
    want = _refused_lines("u_gl", "127.0.0.6")
    assert _ask(port, "127.0.0.6", b"no", timeout=1.0) is None
    wait_for(lambda: len(lines_of(daemon, "u_gl")) >= len(want),
             what=f"the refusal logged; log: {daemon.log()}")
    reply = _ask(port, "127.0.0.7", b"yes")
    assert reply is not None and reply.split()[1:] == [b"127.0.0.7", b"YES"], reply
    want += ["START: u_gl pid=P from=127.0.0.7", "EXIT: u_gl status=0 pid=P duration=D"]
    wait_for(lambda: len(lines_of(daemon, "u_gl")) >= len(want),
             what=f"the server's EXIT; log: {daemon.log()}")
    assert lines_of(daemon, "u_gl") == want
