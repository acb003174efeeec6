"""Reload when a listening socket must be re-bound on a port that is still taken: a renamed
service keeping its port, two services swapping ports, a wait = yes service changed to
wait = no while its server still holds the old listening socket. The port must serve the new
definition as soon as it is free, with no "Address already in use" failure left to the
5-second bind retry. Compatibility tests (xinetd 2.3.15.3 passes all three).

(All three failed against portierd before f0742c5: new services were bound before the removed
ones closed, and a re-opened socket's bind failure at reload was not logged.)
"""

from conftest import fetch, pid_alive, try_fetch, wait_for
from portierd_util import connect, read_all, server, udp_ask

PY = "/usr/bin/python3"


def test_reload_renamed_service_same_port(daemon):
    """A service renamed (new id, same port) in one reload: the old listener is closed before
    the new one binds, so the port serves the new service as soon as the reload is done, with
    no bind error."""
    port = daemon.add("before", "/bin/echo", "before")
    daemon.start()
    assert fetch(port) == b"before\n"
    daemon.remove("before")
    daemon.add("after", "/bin/echo", "after", port=port)
    daemon.reload()
    assert try_fetch(port) == b"after\n", daemon.dlog_text()
    assert not [m for m in daemon.messages() if "cannot bind" in m or "bind failed" in m], \
        daemon.dlog_text()


def test_reload_swaps_ports(daemon):
    """Two services exchange their ports in one reload."""
    pa = daemon.add("a", "/bin/echo", "a")
    pb = daemon.add("b", "/bin/echo", "b")
    daemon.start()
    daemon.add("a", "/bin/echo", "a", port=pb)
    daemon.add("b", "/bin/echo", "b", port=pa)
    daemon.reload()
    assert try_fetch(pa) == b"b\n", daemon.dlog_text()
    assert try_fetch(pb) == b"a\n", daemon.dlog_text()
    assert not [m for m in daemon.messages() if "cannot bind" in m or "bind failed" in m], \
        daemon.dlog_text()


def test_reload_wait_yes_to_no_while_server_runs(daemon):
    """A wait = yes stream service whose server still holds the listening socket is changed to
    wait = no: once that server exits, the new definition serves -- the new socket is bound
    without an "Address already in use" failure left to a 5-second retry."""
    port = daemon.add("wy", PY, f"-S {server('tcp_accept.py')} 1", wait="yes")
    daemon.start()
    with connect(port) as s:
        pid = int(read_all(s).split()[0])
    daemon.add("wy", "/bin/echo", "now wait = no", wait="no")
    daemon.reload()
    daemon.wait_log(rf"EXIT: wy status=0 pid={pid} .*")
    wait_for(lambda: not pid_alive(pid), what="the wait = yes server to be gone")
    assert try_fetch(port) == b"now wait = no\n", daemon.dlog_text()
    assert not [m for m in daemon.messages() if "cannot bind" in m or "bind failed" in m], \
        daemon.dlog_text()


def test_reload_renamed_udp_service_while_its_server_runs(daemon):
    """A wait = yes UDP service renamed (same port) while its server runs: the old server is
    ended, and the next datagram is served under the new id."""
    port = daemon.add("old", PY, f"-S {server('udp_upper.py')} 5", socket_type="dgram",
                      protocol="udp", wait="yes")
    daemon.start()
    pid = int(udp_ask(port, b"a").split()[0])
    daemon.remove("old")
    daemon.add("new", PY, f"-S {server('udp_upper.py')} 0.3", socket_type="dgram",
               protocol="udp", wait="yes", port=port)
    daemon.reload()
    wait_for(lambda: not pid_alive(pid), what="the old service's server to end")
    daemon.wait_log(rf"EXIT: old \S+ pid={pid} .*")
    reply = udp_ask(port, b"b").split()
    assert reply[-1] == b"B" and int(reply[0]) != pid, reply
    daemon.wait_log(rf"START: new pid={int(reply[0])} from=127\.0\.0\.1")
