"""Admission limits: `instances` (FAIL ... service_limit) and the global -limit
(FAIL ... process_limit). The refused connection is accepted and closed at once, no server is
started for it, and only a FAIL line is logged. Compatibility tests (xinetd too)."""

import os
import socket
import time

from conftest import fetch, wait_for
from portierd_util import children, connect, hold, need_portierd, read_all, read_line, server


def _refused(port):
    """Connect; the connection must be accepted and then closed without a byte."""
    with connect(port) as s:
        try:
            data = read_all(s, timeout=5)
        except ConnectionResetError:
            data = b""
    assert data == b"", f"a refused connection got {data!r}"


def test_instances(daemon):
    port = daemon.add("lim", server("hold.sh"), instances="2")
    daemon.start()
    held = [hold(port) for _ in range(2)]
    _refused(port)
    daemon.wait_log(r"FAIL: lim service_limit from=127\.0\.0\.1")
    assert len(children(daemon.pid)) == 2
    starts = [line for line in daemon.log() if line.startswith("START:")]
    assert len(starts) == 2, daemon.log()
    # a slot frees: the next connection is served
    s, pid = held.pop()
    s.close()
    daemon.wait_log(rf"EXIT: lim status=0 pid={pid} duration=\d+\(sec\)")
    s2, pid2 = hold(port)
    s2.sendall(b"again\n")
    assert read_line(s2) == "again\n"
    for s, _ in held + [(s2, pid2)]:
        s.close()
    daemon.wait_log(r"EXIT: lim status=0 .*", count=3)
    fails = [line for line in daemon.log() if line.startswith("FAIL:")]
    assert fails == ["FAIL: lim service_limit from=127.0.0.1"]


def test_instances_one_repeatedly(daemon):
    port = daemon.add("one", server("hold.sh"), instances="1")
    daemon.start()
    s, pid = hold(port)
    for _ in range(3):
        _refused(port)
    daemon.wait_log(r"FAIL: one service_limit from=127\.0\.0\.1", count=3)
    s.close()
    daemon.wait_log(rf"EXIT: one status=0 pid={pid} .*")
    s, pid = hold(port)
    s.close()
    daemon.wait_log(rf"EXIT: one status=0 pid={pid} .*")


def test_failure_not_logged_without_log_on_failure(daemon):
    port = daemon.add("quiet", server("hold.sh"), instances="1", log_on_failure="")
    marker = daemon.add("marker", "/bin/echo", "m")
    daemon.start()
    s, pid = hold(port)
    _refused(port)
    # the marker's lines come after the refusal in the one log file
    assert fetch(marker) == b"m\n"
    daemon.wait_log(r"EXIT: marker status=0 .*")
    s.close()
    daemon.wait_log(rf"EXIT: quiet status=0 pid={pid} .*")
    assert [line.split(" pid=")[0] for line in daemon.log()] == [
        "START: quiet", "START: marker", "EXIT: marker status=0", "EXIT: quiet status=0"]


def test_process_limit(daemon):
    """-limit N caps the servers of all services together."""
    p1 = daemon.add("a", server("hold.sh"))
    p2 = daemon.add("b", server("hold.sh"))
    daemon.start("-limit", "2")
    sa, pa = hold(p1)
    sb, pb = hold(p2)
    _refused(p1)
    _refused(p2)
    daemon.wait_log(r"FAIL: a process_limit from=127\.0\.0\.1")
    daemon.wait_log(r"FAIL: b process_limit from=127\.0\.0\.1")
    sa.close()
    daemon.wait_log(rf"EXIT: a status=0 pid={pa} .*")
    s, pid = hold(p2)
    s.sendall(b"x\n")
    assert read_line(s) == "x\n"
    s.close()
    sb.close()
    daemon.wait_log(r"EXIT: b status=0 .*", count=2)
    wait_for(lambda: not children(daemon.pid), what="every server gone")


def test_refused_client_sees_close_not_hang(daemon):
    """The refused connection is closed by the daemon (EOF or reset), promptly."""
    port = daemon.add("lim1", server("hold.sh"), instances="1")
    daemon.start()
    s, _ = hold(port)
    c = connect(port)
    c.settimeout(5)
    try:
        got = c.recv(10)
    except ConnectionResetError:
        got = b""
    except socket.timeout:
        raise AssertionError("the refused connection was left open") from None
    assert got == b""
    c.close()
    s.close()


def _cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return int(f[11]) + int(f[12])


def test_process_limit_udp_no_spin(daemon):
    """-limit reached while a datagram waits on a wait = yes UDP service: the datagram is
    refused with FAIL process_limit, the daemon does not spin on the readable socket, and the
    service is served once a process slot frees. (xinetd 2.3.15.3 never serves the UDP
    service again after such a refusal: observed, so portier-only.)"""
    need_portierd("xinetd stops serving the UDP service after a process_limit refusal")
    tcp = daemon.add("t", server("hold.sh"))
    udp = daemon.add("u", "/usr/bin/python3", f"-S {server('udp_upper.py')} 0.3",
                     socket_type="dgram", protocol="udp", wait="yes")
    daemon.start("-limit", "1")
    s, pid = hold(tcp)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.bind(("127.0.0.1", 0))
        c.sendto(b"blocked", ("127.0.0.1", udp))
        daemon.wait_log(r"FAIL: u process_limit from=127\.0\.0\.1")
        t0 = _cpu_ticks(daemon.pid)
        time.sleep(1.0)
        used = _cpu_ticks(daemon.pid) - t0
        hz = os.sysconf("SC_CLK_TCK")
        assert used < hz // 2, f"the daemon used {used}/{hz} s of CPU in 1 s while refusing"
        s.close()
        daemon.wait_log(rf"EXIT: t status=0 pid={pid} .*")
        wait_for(lambda: not children(daemon.pid), what="the TCP server reaped")
        c.settimeout(10)
        c.sendto(b"later", ("127.0.0.1", udp))
        replies = []
        while True:
            data = c.recv(1000)
            replies.append(data.split()[-1])
            if replies[-1] == b"LATER":
                break
        assert replies[-1] == b"LATER", replies


def test_fail_line_without_host(daemon):
    """log_on_failure without HOST (ATTEMPT only): the FAIL line has no from=."""
    port = daemon.add("att", server("hold.sh"), instances="1", log_on_failure="ATTEMPT")
    daemon.start()
    s, pid = hold(port)
    _refused(port)
    daemon.wait_log(r"FAIL: att service_limit")
    s.close()
    daemon.wait_log(rf"EXIT: att status=0 pid={pid} .*")
    assert [x for x in daemon.log() if x.startswith("FAIL:")] == ["FAIL: att service_limit"]


def test_process_limit_wait_yes_tcp(daemon):
    """-limit reached when a connection arrives for a wait = yes stream service: the refusal is
    logged, the connection waits in the queue, and the server starts (and takes it) once a
    process slot frees. (Both log `FAIL: w process_limit from=<no address>`; xinetd 2.3.15.3
    then never serves the service again: observed, so the rest is portier-only.)"""
    need_portierd("xinetd stops serving a wait = yes service after a process_limit refusal")
    tcp = daemon.add("t", server("hold.sh"))
    w = daemon.add("w", "/usr/bin/python3", f"-S {server('tcp_accept.py')} 0.5", wait="yes")
    daemon.start("-limit", "1")
    s, pid = hold(tcp)
    c = connect(w)
    daemon.wait_log(r"FAIL: w process_limit from=<no address>")
    s.close()
    daemon.wait_log(rf"EXIT: t status=0 pid={pid} .*")
    reply = read_all(c).split()
    c.close()
    assert reply and reply[-1] == b"1", reply
    daemon.wait_log(rf"EXIT: w status=0 pid={int(reply[0])} .*")
    fails = [x for x in daemon.log() if x.startswith("FAIL:")]
    assert len(fails) <= 3, f"the refused wait = yes service was retried in a loop: {fails}"
