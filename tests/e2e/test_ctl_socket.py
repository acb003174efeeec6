"""The control socket itself: mode 0600, only root and the daemon's user answered (SO_PEERCRED),
malformed and oversized frames refused without hurting the daemon, a bounded idle client, a
stale socket replaced, a file that is not a socket never replaced, the socket removed at stop."""

import os
import shutil
import socket
import stat
import struct
import time

import pytest

from conftest import wait_for
from ctl_util import ctl, exchange, frame, request, read_answer, REQ  # noqa: F401
from portierd_util import server

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _start(ctl):
    port = ctl.daemon.add("holder", server("hold.sh"))
    ctl.start()
    return port


def _still_serves(ctl):
    body, status, _ = exchange(ctl.sock, [request("info")])
    assert status == 0 and f"pid {ctl.daemon.pid}\n".encode() in body
    assert ctl.daemon.pid and os.kill(ctl.daemon.pid, 0) is None


def test_socket_mode_and_removal(ctl):
    _start(ctl)
    st = os.lstat(ctl.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert not [p for p in ctl.sock.parent.iterdir() if p.name.endswith(".new")]
    assert ctl.daemon.stop() == 0
    assert not ctl.sock.exists()


def test_other_users_refused(ctl):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run portierctl as nobody")
    _start(ctl)
    os.chmod(ctl.sock.parent, 0o755)
    # the file mode keeps nobody out ...
    r = ctl.run("status", prefix=NOBODY)
    assert r.rc == 4 and "permission denied" in r.err, r
    # ... and with the mode opened up, the daemon's credential check still does
    os.chmod(ctl.sock, 0o666)
    r = ctl.run("list", prefix=NOBODY)
    assert r.rc == 4 and "permission denied" in r.err, r
    ctl.daemon.wait_message("control socket: refused a request from uid 65534")
    assert "holder" not in r.out
    _still_serves(ctl)


@pytest.mark.parametrize("packet,why", [
    (b"", "empty"),
    (b"\x01\x02\x03", "short"),
    (frame(2, b"\0\0\0\0", magic=0x12345678), "bad magic"),
    (frame(2, b"\0\0\0\0", length=99), "length disagrees"),
    (frame(999, b"\0\0\0\0"), "unknown type"),
    (frame(2, b""), "no flags"),
    (frame(2, struct.pack("<I", 0x80)), "unknown flag"),
    (frame(3, b"\0\0\0\0bad\nname"), "control byte in argument"),
    (frame(3, b"\0\0\0\0" + b"x" * 300), "argument too long"),
    (frame(101, b"\0\0\0\0"), "a reply type"),
])
def test_malformed_frames(ctl, packet, why):
    _start(ctl)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(10)
        s.connect(str(ctl.sock))
        s.send(packet)
        if packet == b"":
            # an empty packet reads as a hang-up: the daemon just closes
            assert s.recv(100) == b""
        else:
            body, status, msg = read_answer(s)
            assert status == 2 and msg in ("malformed request", "unknown request"), (why, msg)
    _still_serves(ctl)


def test_wrong_version_and_oversized(ctl):
    _start(ctl)
    body, status, msg = exchange(ctl.sock, [frame(2, b"\0\0\0\0", version=7)])
    assert status == 2 and "version 7 is not supported" in msg
    body, status, msg = exchange(ctl.sock, [frame(2, b"\0\0\0\0" + b"x" * 100000)])
    assert status == 2 and msg == "request too large"
    _still_serves(ctl)


def test_one_request_per_connection_and_idle_clients(ctl):
    _start(ctl)
    # clients that connect and say nothing do not hold up others
    idle = []
    for _ in range(5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(str(ctl.sock))
        idle.append(s)
    try:
        _still_serves(ctl)
        body, status, _ = exchange(ctl.sock, [request("list"), request("list")])
        assert status == 0 and b"holder" in body
        assert ctl.ok("status").rc == 0
    finally:
        for s in idle:
            s.close()


def test_too_many_clients(ctl):
    _start(ctl)
    idle = []
    try:
        for _ in range(32):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(str(ctl.sock))
            idle.append(s)
        # the daemon has seen them all once it answers a request queued after them
        wait_for(lambda: exchange(ctl.sock, [request("info")])[1] == 1,
                 what="a 'too many clients' answer")
        _, status, msg = exchange(ctl.sock, [request("info")])
        assert status == 1 and "too many control clients" in msg
    finally:
        for s in idle:
            s.close()
    wait_for(lambda: exchange(ctl.sock, [request("info")])[1] == 0,
             what="the daemon to answer again")


def test_stale_socket_replaced(ctl):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(str(ctl.sock))
    stale.close()                   # a socket file nobody listens on
    _start(ctl)
    _still_serves(ctl)


def test_live_socket_and_non_socket_left_alone(ctl):
    # a file that is not a socket: never replaced, never removed; the daemon runs without
    ctl.sock.write_text("precious\n")
    _start(ctl)
    ctl.daemon.wait_message("is not a socket; not replacing it")
    assert ctl.sock.read_text() == "precious\n"
    assert ctl.daemon.stop() == 0
    assert ctl.sock.read_text() == "precious\n"


def test_large_answer_is_sent_whole(ctl):
    d = ctl.daemon
    for i in range(400):
        d.add(f"svc{i:03d}-" + "x" * 100, "/bin/true")
    ctl.start()
    r = ctl.ok("--json", "status")
    assert len(r.out) > 200000
    import json
    assert len(json.loads(r.out)["services"]) == 400


def test_client_that_does_not_read_its_answer(ctl):
    """A client that asks for a large answer and never reads it holds nothing up: others are
    answered meanwhile, and it is dropped (bounded wait) rather than kept forever."""
    d = ctl.daemon
    for i in range(300):
        d.add(f"svc{i:03d}-" + "y" * 120, "/bin/true")
    ctl.start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(str(ctl.sock))
        s.send(request("status", flags=1))
        _still_serves(ctl)
        assert ctl.ok("list").out.count("\n\tsvc") == 300
        # after the idle bound (10 s) without reading, the daemon has closed it
        time.sleep(11)
        got = b""
        s.settimeout(10)
        while True:
            pkt = s.recv(70000)
            if not pkt:
                break
            got += pkt
            assert len(got) < 50 * 1024 * 1024
        assert got and struct.unpack("<H", got[6:8])[0] == 100   # DATA frames, then EOF
    _still_serves(ctl)
