"""Helpers for the AF_UNIX listener tests (test_unix_*.py): services with a socket_path, and
clients of unix sockets, some of them run as another user (a child that drops to uid/gid
65534 before it connects; the tests run as root, and skip that part otherwise)."""

import json
import os
import socket

import pytest

from conftest import DEFAULT_TIMEOUT
from portierd_util import read_all

NOBODY = 65534
# what a client the daemon refused sees: the connection closed, or reset when what it sent was
# left unread, or closed before it could send (a broken pipe)
CLOSED = ("", "refused: ConnectionResetError", "refused: BrokenPipeError")


def add_unix(daemon, sid, path, srv=None, args=None, socket_type="stream", **attrs):
    """A service on the unix socket `path` (no port, bind or protocol)."""
    daemon.add(sid, srv, args, socket_type=socket_type, **attrs)
    a = daemon.services[sid]["attrs"]
    for k in ("port", "bind", "protocol"):
        a.pop(k, None)
    a["socket_path"] = str(path)
    daemon.services[sid]["port"] = None
    return path


def connect(path, kind=socket.SOCK_STREAM, timeout=DEFAULT_TIMEOUT):
    s = socket.socket(socket.AF_UNIX, kind)
    s.settimeout(timeout)
    s.connect(str(path) if not str(path).startswith("@") else "\0" + str(path)[1:])
    return s


def need_root(why, sockdir=None):
    """Skip unless root; with sockdir, let other users reach the sockets in it (mkdtemp made
    it 0700)."""
    if os.geteuid() != 0:
        pytest.skip(f"{why}: needs root (the test runs as uid {os.geteuid()})")
    if sockdir is not None:
        os.chmod(sockdir, 0o711)


def as_user(uid, gid, fn, timeout=DEFAULT_TIMEOUT, groups=()):
    """Run fn() in a child process with the given uid and gid (and supplementary groups);
    return what it returns (JSON-able) and the child's pid, or raise with its error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            out = {"ok": fn(), "pid": os.getpid()}
        except BaseException as e:     # reported to the parent, which fails the test
            out = {"error": f"{type(e).__name__}: {e}", "pid": os.getpid()}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0, f"child as uid {uid} ended with status {status}"
    out = json.loads(data)
    if "error" in out:
        raise AssertionError(f"child as uid {uid}: {out['error']}")
    return out["ok"], out["pid"]


def exchange(path, data=b"", kind=socket.SOCK_STREAM):
    """Connect, send data, shut the write side, read everything; return it (str), or
    "refused: <errno name>" when the connection is refused or reset."""
    try:
        with connect(path, kind) as s:
            if data:
                s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            return read_all(s).decode(errors="replace")
    except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError,
            PermissionError) as e:
        return f"refused: {type(e).__name__}"
