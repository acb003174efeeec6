"""Helpers for the portierctl tests (test_ctl_*.py): a portierd under test with its own control
socket (in the short sockdir), and portierctl run against it.

    def test_x(ctl):
        ctl.daemon.add("svc", ...)
        ctl.start()
        r = ctl.run("list")             # a conftest.Result (rc, out, err)
        data = ctl.json("status")       # --json, rc 0 expected, parsed
"""

import json
import os
import socket
import struct
import time
from pathlib import Path

import pytest

from conftest import clean_env

# the wire format (src/proto/proto.h)
MAGIC = 0x4C544350
VERSION = 1
REQ = {"info": 1, "list": 2, "status": 3, "sockets": 4, "dump": 5, "reload": 6, "reexec": 7}
REPLY_DATA, REPLY_END = 100, 101


def frame(ftype, payload=b"", version=VERSION, magic=MAGIC, length=None):
    return struct.pack("<IHHI", magic, version, ftype,
                       len(payload) if length is None else length) + payload


def request(name, arg=b"", flags=0):
    return frame(REQ[name], struct.pack("<I", flags) + arg)


def exchange(path, data, timeout=10.0):
    """Send raw packets (one per element of data) and read the answer: (DATA bytes, END status,
    END message); status None when the daemon closed without an END frame."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                s.connect(str(path))
                break
            except BlockingIOError:
                # a full listen backlog (the daemon has not accepted those before us yet):
                # AF_UNIX says EAGAIN to a socket with a timeout
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        for d in data:
            try:
                s.send(d)
            except BrokenPipeError:     # refused at once: the answer is still queued
                break
        return read_answer(s)


def read_answer(s):
    body = b""
    while True:
        try:
            pkt = s.recv(70000)
        except ConnectionResetError:
            return body, None, None
        if not pkt:
            return body, None, None
        magic, version, ftype, length = struct.unpack("<IHHI", pkt[:12])
        assert magic == MAGIC and version == VERSION and length == len(pkt) - 12, pkt[:12]
        if ftype == REPLY_DATA:
            body += pkt[12:]
            continue
        assert ftype == REPLY_END, ftype
        status, = struct.unpack("<i", pkt[12:16])
        return body, status, pkt[16:].decode()


class Ctl:
    def __init__(self, daemon, procs, sockdir, build_dir):
        self.daemon, self.procs = daemon, procs
        self.sock = daemon.control_socket
        self.bin = build_dir / "portierctl"
        if not os.access(self.bin, os.X_OK):
            pytest.fail(f"{self.bin} is missing: build it first (make)")

    def start(self, *extra, **kw):
        return self.daemon.start(*extra, **kw)

    def argv(self, *args):
        return [self.bin, "--socket", self.sock, *args]

    def run(self, *args, prefix=(), env=None, timeout=60):
        return self.procs.run([*prefix, *self.argv(*args)], env=env or clean_env(),
                              timeout=timeout)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.rc == 0, f"portierctl {' '.join(map(str, args))} failed: {r!r}"
        return r

    def json(self, *args, rc=0):
        r = self.run("--json", *args)
        assert r.rc == rc, f"portierctl --json {' '.join(map(str, args))}: {r!r}"
        return json.loads(r.out)


@pytest.fixture
def ctl(daemon, procs, sockdir, build_dir):
    from portierd_util import need_portierd
    need_portierd("portierctl")
    return Ctl(daemon, procs, sockdir, build_dir)
