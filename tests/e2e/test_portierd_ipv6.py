"""IPv6: services bound to ::1 (TCP and UDP), and v4-mapped clients logged as plain IPv4
(portier's deliberate difference: xinetd logs from=::ffff:127.0.0.1). Everything stays on
loopback: the v4-mapped case binds ::ffff:127.0.0.1, never a wildcard (xinetd cannot bind that
address at all: it sets IPV6_V6ONLY whenever v6only is given, so that case is portier-only)."""

import socket

import pytest

from conftest import have_ipv6_loopback
from portierd_util import need_portierd, report, server, udp_ask

pytestmark = pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
PY = "/usr/bin/python3"


def _report(daemon, sid, **attrs):
    return daemon.add(sid, PY, f"-S {server('report.py')}", **attrs)


@pytest.mark.parametrize("flags", [None, "IPv6"])
def test_bind_ipv6_loopback(daemon, flags):
    port = _report(daemon, "six", bind="::1", flags=flags)
    daemon.start()
    r, me = report(port, "::1")
    assert me[0] == "::1"
    assert r["sock0"]["family"] == "AF_INET6"
    assert r["sock0"]["local"] == ["::1", port]
    assert "REMOTE_HOST=::1" in r["env"], r["env"]
    daemon.wait_log(rf"START: six pid={r['pid']} from=::1")
    daemon.wait_log(rf"EXIT: six status=0 pid={r['pid']} duration=\d+\(sec\)")


def test_ipv6_environment(daemon):
    need_portierd("the address variables are portier's")
    port = _report(daemon, "six", bind="::1")
    daemon.start()
    r, me = report(port, "::1")
    env = dict(e.split("=", 1) for e in r["env"])
    assert env["REMOTE_ADDR"] == "::1" and env["TCPREMOTEIP"] == "::1"
    assert env["REMOTE_PORT"] == env["TCPREMOTEPORT"] == str(me[1])
    assert env["TCPLOCALIP"] == "::1" and env["TCPLOCALPORT"] == str(port)


def test_ipv4_client_cannot_reach_ipv6_only_service(daemon):
    port = _report(daemon, "six", bind="::1")
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))


def test_udp_ipv6(daemon):
    port = daemon.add("u6", PY, f"-S {server('udp_upper.py')} 0.3", bind="::1",
                      socket_type="dgram", protocol="udp", wait="yes")
    daemon.start()
    pid, host, word = udp_ask(port, b"six", host="::1").split()
    assert (host, word) == (b"::1", b"SIX")
    daemon.wait_log(rf"START: u6 pid={int(pid)} from=::1")


def test_v4_mapped_client_logged_as_ipv4(daemon):
    need_portierd("xinetd cannot bind a v4-mapped address; it would log ::ffff:127.0.0.1")
    port = _report(daemon, "mapped", bind="::ffff:127.0.0.1", flags="IPv6", v6only="no")
    daemon.start()
    r, me = report(port, "127.0.0.1")
    assert r["sock0"]["family"] == "AF_INET6"
    daemon.wait_log(rf"START: mapped pid={r['pid']} from=127\.0\.0\.1")
    env = dict(e.split("=", 1) for e in r["env"])
    assert env["REMOTE_HOST"] == "127.0.0.1", r["env"]
    assert env["REMOTE_ADDR"] == env["TCPREMOTEIP"] == "127.0.0.1", r["env"]
    assert env["TCPLOCALIP"] == "127.0.0.1", r["env"]


def test_ipv6_daemon_messages(daemon):
    need_portierd()
    port = _report(daemon, "six", bind="::1")
    busy = daemon.add("busy", "/bin/echo", "b", bind="::1")
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as b:
        b.bind(("::1", busy))
        b.listen(1)
        daemon.start()
        daemon.wait_message(f"service 'six': listening on [::1]:{port}/tcp")
        daemon.wait_message(f"service 'busy': cannot bind [::1]:{busy}: Address already in use; "
                            "retrying every 5 seconds")
