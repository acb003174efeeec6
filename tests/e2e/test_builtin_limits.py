"""The built-ins' bounds (portier's behaviour): chargen and echo clients that do not read cost
the daemon no memory and do not slow others, idle connections are closed after idle_timeout,
UDP built-ins answer no privileged or built-in source port and at most 100 datagrams a second
per source, and stop and reload end in-process connections with their EXIT lines."""

import os
import signal
import socket
import time

import pytest

from builtin_util import add_builtin, recv_exactly, udp_collect, wait_eof
from conftest import proc_status
from portierd_util import connect, need_portierd, udp_ask

pytestmark = pytest.mark.usefixtures("portier_only")


@pytest.fixture
def portier_only():
    need_portierd("the built-ins' bounds are portier's")


def _rss_kib(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def test_chargen_client_that_never_reads(daemon):
    """Clients that never read chargen's (or echo's) output do not grow the daemon: the data
    waits in the kernel's socket buffers, and another client is still served at once."""
    cport = add_builtin(daemon, "chargen")
    eport = add_builtin(daemon, "echo")
    daemon.start()
    with connect(cport) as warm:
        recv_exactly(warm, 100000)
    before = _rss_kib(daemon.pid)
    stalled = []
    for _ in range(20):
        s = connect(cport)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.append(s)
    for _ in range(5):                  # echo clients that send but never read
        s = connect(eport)
        s.setblocking(False)
        try:
            for _ in range(2000):
                s.send(b"e" * 65536)
        except BlockingIOError:
            pass
        stalled.append(s)
    time.sleep(1.0)                     # the daemon fills their buffers, then waits
    t0 = time.monotonic()
    with connect(cport) as s:
        assert len(recv_exactly(s, 1 << 20, timeout=10)) == 1 << 20
    with connect(eport) as s:
        s.sendall(b"still here")
        assert recv_exactly(s, 10) == b"still here"
    assert time.monotonic() - t0 < 5, "a stalled client slowed the others"
    time.sleep(0.5)
    grown = _rss_kib(daemon.pid) - before
    assert grown < 8 * 1024, f"the daemon grew by {grown} KiB with 25 stalled clients"
    for s in stalled:
        s.close()


def test_idle_timeout(daemon):
    port = add_builtin(daemon, "echo", idle_timeout="1")
    busy = add_builtin(daemon, "chargen", idle_timeout="1")
    daemon.start()
    with connect(port) as s:
        s.sendall(b"x")
        assert recv_exactly(s, 1) == b"x"
        t0 = time.monotonic()
        assert wait_eof(s, timeout=10), "an idle connection was not closed"
        assert 0.8 < time.monotonic() - t0 < 5
    daemon.wait_log(r"EXIT: echo-stream status=0 pid=0 duration=[12]\(sec\)")
    # traffic keeps a connection open past the timeout
    with connect(busy) as s:
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            assert recv_exactly(s, 1000) != b""
            time.sleep(0.2)


def test_idle_timeout_zero_means_never(daemon):
    port = add_builtin(daemon, "echo", idle_timeout="0")
    daemon.start()
    with connect(port) as s:
        s.settimeout(2.5)
        with pytest.raises(socket.timeout):
            s.recv(1)                   # nothing, and no close


def _udp_from(port, dest, payload=b"loop?"):
    """Send from a given source port (privileged ones need root); the answers within 0.4 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind(("127.0.0.1", port))
        u.sendto(payload, ("127.0.0.1", dest))
        return udp_collect(u, 0.4)


@pytest.mark.skipif(os.geteuid() != 0, reason="binding a privileged source port needs root")
def test_udp_loop_protection(daemon):
    eport = add_builtin(daemon, "echo", "udp")
    cport = add_builtin(daemon, "chargen", "udp")
    daemon.start()
    for src in (7, 19, 1023, 123):
        try:
            answers = _udp_from(src, eport) + _udp_from(src, cport)
        except OSError as e:            # the port is busy on this machine: try the others
            if e.errno == 98:
                continue
            raise
        assert answers == [], f"answered a datagram from port {src}"
    assert udp_ask(eport, b"fine") == b"fine"     # an ordinary port is answered
    daemon.kill(signal.SIGUSR1)
    daemon.wait_message("generated state dump")
    assert "datagrams not answered" in (daemon.dir / "portierd.dump").read_text()


def test_udp_no_answer_to_our_own_builtin_ports(daemon):
    """chargen and echo on unprivileged ports must not be set talking to each other: a
    datagram whose source port is one a UDP built-in of this daemon serves is not answered."""
    eport = add_builtin(daemon, "echo", "udp")
    cport = add_builtin(daemon, "chargen", "udp")
    daemon.start()
    # the daemon's sockets have SO_REUSEADDR: ours may share the chargen's address
    assert _udp_from(cport, eport) == []
    assert udp_ask(eport, b"fine") == b"fine"


def test_udp_per_source_answer_limit(daemon):
    port = add_builtin(daemon, "echo", "udp")
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for i in range(300):
            u.sendto(b"%d" % i, ("127.0.0.1", port))
        answers = udp_collect(u, 1.5)
    assert 1 <= len(answers) <= 200, f"{len(answers)} of 300 datagrams answered"
    # the block lasts one second; then the source is answered again
    time.sleep(1.2)
    assert udp_ask(port, b"later") == b"later"


def test_udp_per_source_cps_replaces_the_limit(daemon):
    port = add_builtin(daemon, "echo", "udp", per_source_cps="1000 1")
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for i in range(300):            # in bursts the daemon's socket buffer holds
            u.sendto(b"%d" % i, ("127.0.0.1", port))
            if i % 25 == 24:
                time.sleep(0.01)
        answers = udp_collect(u, 1.5)
    assert len(answers) == 300


def test_stop_closes_in_process_connections(daemon):
    port = add_builtin(daemon, "echo")
    daemon.start()
    clients = [connect(port) for _ in range(3)]
    for s in clients:
        s.sendall(b"k")
        assert recv_exactly(s, 1) == b"k"
    t0 = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - t0 < 3, "stop waited for in-process connections"
    for s in clients:
        assert wait_eof(s, timeout=2)
        s.close()
    assert len([line for line in daemon.log() if line.startswith("EXIT: echo-stream")]) == 3


def test_reload_removing_the_service_ends_its_connections(daemon):
    port = add_builtin(daemon, "echo")
    other = add_builtin(daemon, "discard")
    daemon.start()
    s = connect(port)
    s.sendall(b"r")
    assert recv_exactly(s, 1) == b"r"
    daemon.remove("echo-stream")
    daemon.reload()
    assert wait_eof(s, timeout=5)
    s.close()
    daemon.wait_log(r"EXIT: echo-stream status=0 pid=0 duration=\d+\(sec\)")
    with connect(other) as d:
        d.sendall(b"the other service still serves")


def test_reload_with_rules_that_refuse_the_client(daemon):
    port = add_builtin(daemon, "echo", instances="3")
    daemon.start()
    s = connect(port)
    s.sendall(b"a")
    assert recv_exactly(s, 1) == b"a"
    # unchanged rules: the connection stays
    daemon.reload()
    s.sendall(b"b")
    assert recv_exactly(s, 1) == b"b"
    add_builtin(daemon, "echo", instances="3", only_from="127.0.0.2")
    daemon.reload()
    assert wait_eof(s, timeout=5)
    s.close()
    daemon.wait_log(r"EXIT: echo-stream status=0 pid=0 .*")


def test_reload_lowering_instances_ends_the_newest(daemon):
    port = add_builtin(daemon, "echo", instances="3")
    daemon.start()
    clients = []
    for i in range(3):
        s = connect(port)
        s.sendall(b"%d" % i)
        assert recv_exactly(s, 1) == b"%d" % i
        clients.append(s)
    add_builtin(daemon, "echo", instances="1")
    daemon.reload()
    assert wait_eof(clients[2], timeout=5) and wait_eof(clients[1], timeout=5)
    clients[0].sendall(b"oldest stays")
    assert recv_exactly(clients[0], 12) == b"oldest stays"
    for s in clients:
        s.close()
