"""Helpers for the tests of the INTERNAL services and tcpmux (test_builtin_*.py,
test_tcpmux_*.py): declaring a built-in on the Daemon of portierd_util, and bounded clients."""

import socket
import threading
import time

from conftest import DEFAULT_TIMEOUT


def add_builtin(daemon, name, proto="tcp", sid=None, **attrs):
    """Add the built-in `name` (echo, discard, daytime, chargen, time, tcpmux) as an INTERNAL
    UNLISTED service on a free port; its id is name-stream or name-dgram unless given.
    Returns the port."""
    sid = sid or f"{name}-{'stream' if proto == 'tcp' else 'dgram'}"
    kw = {"_name": name, "type": "INTERNAL UNLISTED", "user": None}
    if proto == "udp":
        kw.update(socket_type="dgram", protocol="udp", wait="yes")
    kw.update(attrs)
    return daemon.add(sid, **kw)


def recv_exactly(s, n, timeout=DEFAULT_TIMEOUT):
    """Read n bytes (fewer only at EOF or when the time is up)."""
    s.settimeout(timeout)
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while len(buf) < n and time.monotonic() < deadline:
        data = s.recv(min(1 << 20, n - len(buf)))
        if not data:
            break
        buf += data
    return bytes(buf)


def echo_roundtrip(s, payload, timeout=60):
    """Send payload while a thread reads the echo; return what came back."""
    got = []

    def reader():
        got.append(recv_exactly(s, len(payload), timeout))

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(payload)
    t.join(timeout + 5)
    assert not t.is_alive(), "the echo reader did not finish"
    return got[0]


def wait_eof(s, timeout=DEFAULT_TIMEOUT):
    """Read (and drop) until the peer closes; True if it did within the time."""
    s.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
    return False


def udp_collect(sock, timeout):
    """Every datagram that arrives on sock within timeout seconds."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return out
        sock.settimeout(left)
        try:
            out.append(sock.recvfrom(65536)[0])
        except socket.timeout:
            return out
