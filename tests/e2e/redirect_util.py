"""Helpers for the end-to-end tests of `redirect = host port` (test_redirect_*.py).

Backend is the server a redirect service forwards to: a listening socket on loopback served
by a thread, which counts the connections it accepted (so that a test can show that a refused
client never reached it) and serves each with a mode:

  echo          send back everything received; close at EOF
  reply_eof     read to EOF, then send "<n> <sha256>\\n" of what was read, and close
                (the half-close case: the reply only exists after the client's EOF)
  hold          keep the connection, never read (backpressure); closed at stop()
  reset         read a line, then reset the connection (SO_LINGER 0)
  greet         send "hello <client address>\\n", then echo

Every thread is a daemon thread with bounded waits; stop() closes the listener and every
connection it kept.
"""

import hashlib
import socket
import struct
import threading
import time

from conftest import DEFAULT_TIMEOUT, wait_for
from portierd_util import KIND

PORTIERD = KIND == "portierd"
PID = r"0" if PORTIERD else r"\d+"          # in-process connections log pid=0


class Backend:
    def __init__(self, mode="echo", host="127.0.0.1", backlog=128):
        self.mode, self.host = mode, host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.peers = []
        self.kept = []
        self.received = {}      # connection number -> bytes read (hold/reply_eof)
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while self.running:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                n = self.accepted
                self.accepted += 1
                self.peers.append(peer)
                self.kept.append(c)
            threading.Thread(target=self._serve, args=(c, n, peer), daemon=True).start()

    def _serve(self, c, n, peer):
        c.settimeout(60)
        try:
            getattr(self, "_mode_" + self.mode)(c, n, peer)
        except OSError:
            pass
        finally:
            if self.mode != "hold":
                c.close()

    def _mode_echo(self, c, n, peer):
        while True:
            data = c.recv(1 << 16)
            if not data:
                return
            c.sendall(data)

    def _mode_greet(self, c, n, peer):
        c.sendall(f"hello {peer[0]}\n".encode())
        self._mode_echo(c, n, peer)

    def _mode_reply_eof(self, c, n, peer):
        h, total = hashlib.sha256(), 0
        while True:
            data = c.recv(1 << 16)
            if not data:
                break
            h.update(data)
            total += len(data)
        time.sleep(0.2)         # the reply comes well after the client's EOF
        c.sendall(f"{total} {h.hexdigest()}\n".encode())

    def _mode_hold(self, c, n, peer):
        pass

    def _mode_reset(self, c, n, peer):
        buf = b""
        while not buf.endswith(b"\n"):
            data = c.recv(1)
            if not data:
                return
            buf += data
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def wait_accepted(self, n, timeout=DEFAULT_TIMEOUT):
        wait_for(lambda: self.accepted >= n, timeout, what=f"{n} backend connections "
                 f"(have {self.accepted})")

    def stop(self):
        self.running = False
        self.sock.close()
        with self.lock:
            for c in self.kept:
                try:
                    c.close()
                except OSError:
                    pass


class Blackhole:
    """A backend address whose SYNs are dropped: a listener with backlog 0 whose accept
    queue is filled by connections of our own (Linux drops SYNs while it is full)."""

    def __init__(self, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            f = socket.socket(family, socket.SOCK_STREAM)
            f.setblocking(False)
            try:
                f.connect((host, self.port))
            except BlockingIOError:
                pass
            self.fillers.append(f)
        time.sleep(0.1)

    def stop(self):
        for f in self.fillers:
            f.close()
        self.sock.close()


def add_redirect(daemon, sid, backend_port, backend_host="127.0.0.1", **attrs):
    """A redirect service (stream, wait = no) to backend_host:backend_port; its port."""
    return daemon.add(sid, redirect=f"{backend_host} {backend_port}", **attrs)


def send_all_then_read(s, data, timeout=60, shut=True):
    """Send data while reading what comes back (both at once, so that neither side's
    buffers fill up). With shut, shut down the write side at the end and read to EOF;
    without, read until as many bytes as were sent came back. Returns the bytes read."""
    got = []
    err = []

    def reader():
        try:
            s.settimeout(timeout)
            total = 0
            while shut or total < len(data):
                chunk = s.recv(1 << 16)
                if not chunk:
                    return
                got.append(chunk)
                total += len(chunk)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    view = memoryview(data)
    s.settimeout(timeout)
    for i in range(0, len(data), 1 << 16):
        s.sendall(view[i:i + (1 << 16)])
    if shut:
        s.shutdown(socket.SHUT_WR)
    t.join(timeout)
    assert not t.is_alive(), "the reply did not end in time"
    if err:
        raise err[0]
    return b"".join(got)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
