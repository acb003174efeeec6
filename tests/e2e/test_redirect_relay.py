"""redirect = host port: relaying. Echo through the proxy with START/EXIT (pid=0: no process
per connection), large transfers both ways checked by hash, the half-close xinetd loses,
resets passed on, many pairs at once, and backpressure (a side that does not read stops the
reading of the other; one stuck pair does not slow another). The compatibility tests run
against xinetd too (PORTIER_DAEMON=xinetd)."""

import hashlib
import os
import socket
import threading
import time

import pytest

from conftest import wait_for
from portierd_util import connect, need_portierd, read_all, read_line
from redirect_util import (PID, PORTIERD, Backend, add_redirect, rss_kib,
                           send_all_then_read)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def backends():
    made = []

    def make(mode="echo", host="127.0.0.1", **kw):
        b = Backend(mode, host, **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


def test_echo_through_proxy(daemon, backends):
    b = backends("greet")
    port = add_redirect(daemon, "r", b.port)
    daemon.start()
    with connect(port) as s:
        assert read_line(s) == "hello 127.0.0.1\n"
        s.sendall(b"ping\n")
        assert read_line(s) == "ping\n"
        s.shutdown(socket.SHUT_WR)
        assert read_all(s) == b""
    daemon.wait_log(rf"EXIT: r status=0 pid={PID} duration=\d+\(sec\)")
    assert [x for x in daemon.log() if not x.startswith("EXIT")] == \
        [x for x in daemon.log() if x.startswith("START")]
    daemon.wait_log(rf"START: r pid={PID} from=127\.0\.0\.1")
    if PORTIERD:
        assert not daemon.zombies() and b.accepted == 1


def test_large_transfer_both_directions(daemon, backends):
    """50 MB sent while the same 50 MB comes back (echo), both directions at once, checked
    by hash. (The client closes only once it has everything back: xinetd would lose what is
    in flight at a half-close.)"""
    data = os.urandom(50 << 20)
    echo = backends("echo")
    port = add_redirect(daemon, "big", echo.port)
    daemon.start()
    with connect(port, timeout=60) as s:
        back = send_all_then_read(s, data, shut=False)
    assert len(back) == len(data)
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()


def test_large_upload_then_reply(daemon, backends):
    """50 MB to a backend that hashes them and answers after the client's EOF."""
    need_portierd("xinetd loses the reply after a half-close")
    data = os.urandom(50 << 20)
    count = backends("reply_eof")
    port = add_redirect(daemon, "count", count.port)
    daemon.start()
    with connect(port, timeout=60) as s:
        reply = send_all_then_read(s, data)
    assert reply == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n".encode()


def test_half_close(daemon, backends):
    """The client sends, shuts down its write side and waits: the backend, which answers only
    after EOF, gets its reply through. xinetd closes both sides at the client's EOF and loses
    the reply (DESIGN.md decision 9)."""
    b = backends("reply_eof")
    port = add_redirect(daemon, "hc", b.port)
    daemon.start()
    payload = b"question\n" * 1000
    with connect(port) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = read_all(s)
    want = f"{len(payload)} {hashlib.sha256(payload).hexdigest()}\n".encode()
    if PORTIERD:
        assert reply == want
        daemon.wait_log(rf"EXIT: hc status=0 pid=0 duration=\d+\(sec\)")
    else:
        assert reply == b"", "xinetd was expected to lose the reply"


def test_backend_reset_reaches_client(daemon, backends):
    """A reset from the backend ends the pair and resets the client (not a clean EOF that
    could pass for a complete answer)."""
    need_portierd("the reset is passed on")
    b = backends("reset")
    port = add_redirect(daemon, "rst", b.port)
    daemon.start()
    with connect(port) as s:
        s.sendall(b"line\n")
        with pytest.raises(ConnectionResetError):
            s.settimeout(10)
            while s.recv(100):
                pass
    daemon.wait_log(r"EXIT: rst status=0 pid=0 duration=\d+\(sec\)")


def test_client_reset_ends_pair(daemon, backends):
    need_portierd()
    b = backends("hold")
    port = add_redirect(daemon, "crst", b.port)
    daemon.start()
    s = connect(port)
    b.wait_accepted(1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    s.close()
    daemon.wait_log(r"EXIT: crst status=0 pid=0 duration=\d+\(sec\)")
    conn = b.kept[0]
    conn.settimeout(10)
    with pytest.raises(ConnectionResetError):
        conn.recv(10)


def test_many_concurrent_pairs(daemon, backends):
    """200 pairs open at once, each with its own data, all relayed correctly."""
    b = backends("echo")
    port = add_redirect(daemon, "many", b.port)
    daemon.start()
    n = 200 if PORTIERD else 50         # xinetd forks one process per pair
    socks = [connect(port) for _ in range(n)]
    try:
        b.wait_accepted(n)
        for i, s in enumerate(socks):
            s.sendall(b"pair %d\n" % i)
        for i, s in enumerate(socks):
            assert read_line(s) == "pair %d\n" % i
    finally:
        for s in socks:
            s.close()
    daemon.wait_log(rf"EXIT: many status=0 pid={PID} .*", count=n)


def test_backpressure_bounded_and_fair(daemon, backends):
    """A client that sends to a backend that never reads: after the socket buffers and one
    pipe are full, the client's send blocks (portierd stops reading it) and portierd's memory
    does not grow; meanwhile another pair of the same service is served at once."""
    need_portierd("measures portierd's memory")
    stuck = backends("hold")
    echo = backends("echo")
    p_stuck = add_redirect(daemon, "stuck", stuck.port)
    p_echo = add_redirect(daemon, "fine", echo.port)
    daemon.start()
    before = rss_kib(daemon.pid)
    s = connect(p_stuck)
    s.setblocking(False)
    sent, chunk = 0, b"x" * 65536
    deadline = time.monotonic() + 20
    idle_since = None
    while time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
            idle_since = None
        except BlockingIOError:
            if idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 1.0:
                break           # nothing taken for a second: the chain is full
            time.sleep(0.01)
    assert idle_since is not None, f"the client could send {sent} bytes without blocking"
    # loopback socket buffers are a few MB at most; one 64 KiB pipe per direction in between
    assert sent < 64 << 20, sent
    grown = rss_kib(daemon.pid) - before
    assert grown < 4096, f"portierd grew by {grown} KiB while relaying into a stuck backend"
    t0 = time.monotonic()
    with connect(p_echo) as e:
        e.sendall(b"still here\n")
        assert read_line(e) == "still here\n"
    assert time.monotonic() - t0 < 5
    s.close()


def test_slow_reader_slows_writer(daemon, backends):
    """The other direction: a backend that sends more than the client reads. The data comes
    through complete once the client reads; in between, nothing is lost or duplicated."""
    need_portierd()
    payload = os.urandom(8 << 20)
    b = backends("echo")
    port = add_redirect(daemon, "slow", b.port)
    daemon.start()
    with connect(port, timeout=60) as s:
        # send everything first in a thread; read only after a pause
        t = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)),
                             daemon=True)
        t.start()
        time.sleep(1.0)
        back = read_all(s, timeout=60)
        t.join(30)
    assert hashlib.sha256(back).digest() == hashlib.sha256(payload).digest()


def test_stop_ends_pairs(daemon, backends):
    need_portierd("xinetd's SIGTERM kills its redirect children; the lines differ")
    b = backends("hold")
    port = add_redirect(daemon, "st", b.port, log_on_success="PID HOST EXIT DURATION TRAFFIC")
    daemon.start()
    s = connect(port)
    b.wait_accepted(1)
    assert daemon.stop() == 0
    daemon.wait_log(r"EXIT: st status=0 pid=0 duration=\d+\(sec\)")
    daemon.wait_log(r"TRAFFIC: st in=0\(bytes\) out=0\(bytes\)")
    s.settimeout(5)
    try:
        assert s.recv(10) == b""
    except ConnectionResetError:
        pass
    s.close()
    wait_for(lambda: not daemon.zombies(), what="no zombies")


def _sockets_of(pid):
    out = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out += os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:")
        except FileNotFoundError:
            pass
    return out


def test_mixed_endings_leak_nothing(daemon, backends):
    """120 pairs ended every way there is, some at once: clean close, half-close, client reset,
    backend reset, client gone while data is in flight. Every pair writes its EXIT line, and
    portierd is left with exactly the sockets it had before (no descriptor leaked)."""
    need_portierd("counts portierd's descriptors")
    echo = backends("echo")
    rst = backends("reset")
    p_echo = add_redirect(daemon, "mix", echo.port)
    p_rst = add_redirect(daemon, "mixr", rst.port)
    daemon.start()
    before = _sockets_of(daemon.pid)
    linger0 = b"\x01\0\0\0\0\0\0\0"
    held = []
    for i in range(120):
        kind = i % 5
        s = connect(p_rst if kind == 3 else p_echo)
        if kind == 0:                   # clean: echo, then close
            s.sendall(b"x\n")
            assert read_line(s) == "x\n"
            s.close()
        elif kind == 1:                 # half-close: the echo still arrives, then EOF
            s.sendall(b"half\n")
            s.shutdown(socket.SHUT_WR)
            assert read_all(s) == b"half\n"
            s.close()
        elif kind == 2:                 # client reset with nothing read
            s.sendall(b"y" * 100000)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
            s.close()
        elif kind == 3:                 # backend reset
            s.sendall(b"reset me\n")
            held.append(s)
        else:                           # client gone while its data is in flight
            s.sendall(os.urandom(1 << 20))
            s.close()
    daemon.wait_log(r"EXIT: mixr? status=0 pid=0 .*", count=120, timeout=30)
    for s in held:
        s.close()
    wait_for(lambda: _sockets_of(daemon.pid) == before, timeout=10,
             what=f"portierd back to its {before} sockets (has {_sockets_of(daemon.pid)})")
    starts = [x for x in daemon.log() if x.startswith("START")]
    assert len(starts) == 120
