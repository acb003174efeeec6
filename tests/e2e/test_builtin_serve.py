"""The INTERNAL services on TCP and UDP: echo, discard, daytime, chargen, time, their answers
in xinetd's forms (daytime's "DD MON YYYY HH:MM:SS ZONE", time's 32-bit seconds since 1900,
chargen's rotating 72-character lines), a large echo, IPv6, START lines with pid=0, and
`instances` (FAIL service_limit). Compatibility tests (xinetd too) unless marked."""

import re
import socket
import struct
import time

import pytest

from builtin_util import add_builtin, echo_roundtrip, recv_exactly, udp_collect, wait_eof
from conftest import have_ipv6_loopback
from portierd_util import connect, need_portierd, read_all, udp_ask

DAYTIME_RE = re.compile(rb"(0[1-9]|[12]\d|3[01]) (JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
                        rb" (\d{4}) (\d\d):(\d\d):(\d\d) [A-Z]+\r\n")
SECONDS_1900 = 2208988800


def _chargen_lines_ok(data, first=90):
    """The complete lines (of the first `first`) are 72 printable characters, each starting
    one character after the previous one (RFC 864); the last line of a datagram may be cut
    (xinetd's). Only the first lines are compared across daemons: where the rotation wraps,
    xinetd's ring has 93 characters and a glitch, portier's the RFC's 95."""
    lines = data.split(b"\r\n")[:-1][:first]
    assert lines, data[:200]
    for a, b in zip(lines, lines[1:]):
        assert 0 < len(b) <= 72 and all(0x20 <= c <= 0x7e for c in b), b
        assert len(a) == 72, a
        assert a[0] + 1 == b[0], (a, b)
    return len(lines)


def test_echo_tcp(daemon):
    port = add_builtin(daemon, "echo")
    daemon.start()
    with connect(port) as s:
        s.sendall(b"hello\r\n")
        assert recv_exactly(s, 7) == b"hello\r\n"
        s.sendall(b"\x00\xff binary")
        assert recv_exactly(s, 9) == b"\x00\xff binary"
    daemon.wait_log(r"START: echo-stream pid=\d+ from=127\.0\.0\.1")


def test_echo_large_payload_and_half_close(daemon):
    """8 MB both ways at once, then the client half-closes and still gets the end."""
    port = add_builtin(daemon, "echo")
    daemon.start()
    payload = bytes(range(256)) * (8 * 4096)
    with connect(port, timeout=60) as s:
        assert echo_roundtrip(s, payload) == payload
        s.sendall(b"last words")
        s.shutdown(socket.SHUT_WR)
        assert read_all(s, timeout=10) == b"last words"


def test_discard_tcp(daemon):
    port = add_builtin(daemon, "discard")
    daemon.start()
    with connect(port) as s:
        s.sendall(b"x" * 100000)
        s.shutdown(socket.SHUT_WR)
        assert read_all(s, timeout=10) == b""


def test_daytime_tcp_and_udp(daemon):
    tport = add_builtin(daemon, "daytime")
    uport = add_builtin(daemon, "daytime", "udp")
    daemon.start()
    with connect(tport) as s:
        answer = read_all(s)
    m = DAYTIME_RE.fullmatch(answer)
    assert m, answer
    assert abs(int(m.group(3)) - time.gmtime().tm_year) <= 1
    assert DAYTIME_RE.fullmatch(udp_ask(uport, b"?")), "udp daytime"
    daemon.wait_log(r"START: daytime-stream pid=0 from=127\.0\.0\.1")
    daemon.wait_log(r"START: daytime-dgram pid=0 from=127\.0\.0\.1")


def test_time_tcp_and_udp(daemon):
    tport = add_builtin(daemon, "time")
    uport = add_builtin(daemon, "time", "udp")
    daemon.start()
    with connect(tport) as s:
        answer = read_all(s)
    assert len(answer) == 4
    assert abs(struct.unpack("!I", answer)[0] - SECONDS_1900 - time.time()) < 5
    answer = udp_ask(uport, b"")
    assert abs(struct.unpack("!I", answer)[0] - SECONDS_1900 - time.time()) < 5
    daemon.wait_log(r"START: time-stream pid=0 from=127\.0\.0\.1")


def test_chargen_tcp(daemon):
    port = add_builtin(daemon, "chargen")
    daemon.start()
    with connect(port) as s:
        data = recv_exactly(s, 74 * 300)
    assert _chargen_lines_ok(data) == 90
    assert len(data) == 74 * 300 and all(len(x) == 72 for x in data.split(b"\r\n")[:-1])


def test_chargen_udp_echo_udp_discard_udp(daemon):
    cport = add_builtin(daemon, "chargen", "udp")
    eport = add_builtin(daemon, "echo", "udp")
    dport = add_builtin(daemon, "discard", "udp")
    daemon.start()
    data = udp_ask(cport, b"x")
    assert 74 <= len(data) <= 1024 and data.startswith(b"!\"#$%&'()*+,-./0123")
    _chargen_lines_ok(data)
    assert udp_ask(eport, b"ping \x00\x01") == b"ping \x00\x01"
    if daemon.kind == "portierd":       # xinetd loses some datagrams (its bug, issue 6)
        assert udp_ask(eport, b"") == b""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"into the void", ("127.0.0.1", dport))
        assert udp_collect(u, 1.0) == []
    daemon.wait_log(r"START: discard-dgram pid=0 from=127\.0\.0\.1")
    daemon.wait_log(r"START: echo-dgram pid=0 from=127\.0\.0\.1")


def test_chargen_rfc864_ring(daemon):
    """portier: the rotation goes through RFC 864's 95 printable characters, space included."""
    need_portierd("xinetd's ring has 93 characters")
    port = add_builtin(daemon, "chargen")
    daemon.start()
    with connect(port) as s:
        data = recv_exactly(s, 74 * 200)
    firsts = bytes(line[0] for line in data.split(b"\r\n")[:200])
    assert firsts[:95] == bytes(range(0x21, 0x7f)) + b" "
    assert firsts[95:190] == firsts[:95]


def test_in_process_start_and_exit_lines(daemon):
    """portier: every in-process connection logs START and EXIT with pid=0 (xinetd forks for
    stream echo and logs no EXIT for daytime); a datagram logs START only, as in xinetd."""
    need_portierd("EXIT lines with pid=0")
    eport = add_builtin(daemon, "echo")
    dport = add_builtin(daemon, "daytime")
    uport = add_builtin(daemon, "echo", "udp")
    daemon.start()
    with connect(eport) as s:
        s.sendall(b"a")
        assert recv_exactly(s, 1) == b"a"
    daemon.wait_log(r"EXIT: echo-stream status=0 pid=0 duration=\d+\(sec\)")
    with connect(dport) as s:
        read_all(s)
    daemon.wait_log(r"EXIT: daytime-stream status=0 pid=0 duration=\d+\(sec\)")
    udp_ask(uport, b"u")
    daemon.wait_log(r"START: echo-dgram pid=0 from=127\.0\.0\.1")
    time.sleep(0.3)
    # (duration= counts wall-clock seconds: 1 when a connection spanned the turn of one)
    assert [re.sub(r"duration=1\(sec\)", "duration=0(sec)", x) for x in daemon.log()] == [
        "START: echo-stream pid=0 from=127.0.0.1",
        "EXIT: echo-stream status=0 pid=0 duration=0(sec)",
        "START: daytime-stream pid=0 from=127.0.0.1",
        "EXIT: daytime-stream status=0 pid=0 duration=0(sec)",
        "START: echo-dgram pid=0 from=127.0.0.1"]


def test_log_on_success_fields(daemon):
    """Without PID and HOST, START is bare; without EXIT/DURATION there is no EXIT line."""
    need_portierd("EXIT lines of in-process connections")
    port = add_builtin(daemon, "echo", log_on_success="DURATION")
    quiet = add_builtin(daemon, "discard", log_on_success="")
    daemon.start()
    with connect(port) as s:
        s.sendall(b"z")
        assert recv_exactly(s, 1) == b"z"
    with connect(quiet) as s:
        s.sendall(b"q")
    daemon.wait_log(r"EXIT: echo-stream duration=\d+\(sec\)")
    assert daemon.log()[0] == "START: echo-stream"
    assert not [line for line in daemon.log() if "discard" in line]


def test_instances_with_builtins(daemon):
    port = add_builtin(daemon, "echo", instances="2")
    daemon.start()
    held = [connect(port) for _ in range(2)]
    for i, s in enumerate(held):          # both are served
        s.sendall(b"%d" % i)
        assert recv_exactly(s, 1) == b"%d" % i
    with connect(port) as s:
        try:
            assert read_all(s, timeout=5) == b""
        except ConnectionResetError:
            pass
    daemon.wait_log(r"FAIL: echo-stream service_limit from=127\.0\.0\.1")
    held.pop().close()
    daemon.wait_log(r"EXIT: echo-stream .*")
    with connect(port) as s:             # the freed slot is used again
        s.sendall(b"again")
        assert recv_exactly(s, 5) == b"again"
    for s in held:
        s.close()


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_echo_tcp_and_udp(daemon):
    tport = add_builtin(daemon, "echo", bind="::1")
    uport = add_builtin(daemon, "echo", "udp", bind="::1")
    daemon.start()
    with connect(tport, "::1") as s:
        s.sendall(b"six")
        assert recv_exactly(s, 3) == b"six"
    assert udp_ask(uport, b"SIX", host="::1") == b"SIX"
    daemon.wait_log(r"START: echo-dgram pid=0 from=::1")


def test_wait_yes_stream_builtin(daemon):
    """portier: an INTERNAL stream service with wait = yes is accepted on like wait = no."""
    need_portierd("INTERNAL stream with wait = yes")
    port = add_builtin(daemon, "echo", wait="yes")
    daemon.start()
    for _ in range(2):
        with connect(port) as s:
            s.sendall(b"w")
            assert recv_exactly(s, 1) == b"w"
            s.shutdown(socket.SHUT_WR)
            assert wait_eof(s)
