"""Helpers for the end-to-end tests of admission (test_access_*.py): only_from/no_access,
access_times, cps, max_load, per_source, per_source_cps, SENSOR, banners, ident.

The daemon is portierd_util's Daemon (the `daemon` fixture), so the compatibility tests also
run against xinetd with PORTIER_DAEMON=xinetd. Clients choose their source address on the
loopback network (127.0.0.x: every address of 127.0.0.0/8 is local on Linux) by binding
before connecting.

Probe drives connections one at a time and records, per service id, the log lines each one
must produce; check() then compares every service's lines with that record exactly (pids and
durations normalized). Where xinetd and portier differ on purpose (DESIGN.md decision 4:
xinetd forks for the checks it makes in its child and logs START, FAIL, EXIT; portier refuses
before any fork and logs FAIL only), the expectation follows the daemon under test.
"""

import errno
import os
import re
import socket
import threading
import time
from collections import defaultdict
from pathlib import Path

from conftest import DEFAULT_TIMEOUT, wait_for
from portierd_util import KIND

PORTIERD = KIND == "portierd"

# FAIL reasons that xinetd 2.3.15 decides in the forked child (after START; EXIT follows):
# the address lists and the global no_access list (access.c, access_control()).
XINETD_CHILD_REASONS = {"address"}


def sock_for(host):
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)


def connect_from(port, src, host=None, timeout=DEFAULT_TIMEOUT):
    """A TCP connection to host:port (127.0.0.1, or ::1 for an IPv6 src) from address src."""
    if host is None:
        host = "::1" if ":" in src else "127.0.0.1"
    s = sock_for(host)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((host, port))
    return s


def read_to_eof(s, timeout=DEFAULT_TIMEOUT):
    """Everything the peer sends until it closes (a reset counts as the end)."""
    s.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    else:
        raise AssertionError(f"the connection stayed open for {timeout}s; got {chunks!r}")
    return b"".join(chunks)


def exchange(port, src, host=None, timeout=DEFAULT_TIMEOUT):
    """Connect from src, read to EOF; the bytes received."""
    with connect_from(port, src, host, timeout) as s:
        return read_to_eof(s, timeout)


def refused_by_kernel(port, host="127.0.0.1", src="127.0.0.1"):
    """Whether a connection to host:port is refused (ECONNREFUSED: nothing listens)."""
    with sock_for(host) as s:
        s.settimeout(2.0)
        s.bind((src, 0))
        try:
            s.connect((host, port))
        except ConnectionRefusedError:
            return True
        return False


def norm(line):
    line = re.sub(r"pid=\d+", "pid=P", line)
    return re.sub(r"duration=\d+\(sec\)", "duration=D", line)


def lines_of(daemon, sid):
    """The per-connection log lines of service sid, normalized."""
    out = []
    for line in daemon.log():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == sid:
            out.append(norm(line))
    return out


def recorder(tmp_path, name="spawned"):
    """A server script that records each start (its first argument and REMOTE_HOST) in a file
    and prints its first argument: proof of which connections got a process. Returns
    (script path, function returning the recorded (arg, host) pairs)."""
    rec = Path(tmp_path) / f"{name}.txt"
    script = Path(tmp_path) / f"{name}.sh"
    script.write_text(f'#!/bin/sh\necho "$1 $REMOTE_HOST" >> {rec}\necho "$1"\n')
    script.chmod(0o755)

    def recorded():
        try:
            return [tuple(x.split()) for x in rec.read_text().splitlines()]
        except FileNotFoundError:
            return []
    return str(script), recorded


class Probe:
    """Connections one at a time, with the log lines each must give, checked in order."""

    def __init__(self, daemon):
        self.d = daemon
        self.want = defaultdict(list)
        self.results = []       # (sid, src, what was expected, what happened)
        self.admissions = []    # (sid, src) expected to get a server

    def _wait_lines(self, sid):
        n = len(self.want[sid])
        try:
            wait_for(lambda: len(lines_of(self.d, sid)) >= n,
                     what=f"{n} log line(s) of {sid}")
        except AssertionError as e:
            raise AssertionError(f"{e}\nwanted: {self.want[sid]}\ngot:    "
                                 f"{lines_of(self.d, sid)}\nall: {self.d.log()}") from None

    def expect(self, sid, *lines):
        """Expect these (normalized) lines of sid next; wait for them."""
        self.want[sid] += lines
        self._wait_lines(sid)

    def admitted(self, sid, port, src, reply=None, host=None, from_=None):
        """Expect src to be served: reply (default: sid + newline), START and EXIT."""
        frm = from_ or src
        reply = (sid + "\n").encode() if reply is None else reply
        got = exchange(port, src, host)
        self.results.append((sid, src, "admitted", got))
        assert got == reply, (f"{sid} from {src}: expected to be served {reply!r}, got {got!r}"
                              f"; log: {lines_of(self.d, sid)}")
        self.want[sid] += [f"START: {sid} pid=P from={frm}",
                           f"EXIT: {sid} status=0 pid=P duration=D"]
        self.admissions.append((sid, frm))
        self._wait_lines(sid)

    def refused(self, sid, port, src, reason, host=None, reply=b"", from_=None,
                xinetd_child=None):
        """Expect src to be refused with FAIL <reason> (and the bytes reply: a banner).
        xinetd_child: whether xinetd decides this refusal in a forked child (START, FAIL, EXIT;
        default: by reason, XINETD_CHILD_REASONS)."""
        frm = from_ or src
        got = exchange(port, src, host)
        self.results.append((sid, src, f"refused ({reason})", got))
        assert got == reply, (f"{sid} from {src}: expected a refusal ({reason}) with {reply!r}, "
                              f"got {got!r}; log: {lines_of(self.d, sid)}")
        fail = f"FAIL: {sid} {reason} from={frm}"
        if xinetd_child is None:
            xinetd_child = reason in XINETD_CHILD_REASONS
        if not PORTIERD and xinetd_child:
            self.want[sid] += [f"START: {sid} pid=P from={frm}", fail,
                               f"EXIT: {sid} status=0 pid=P duration=D"]
        else:
            self.want[sid].append(fail)
        self._wait_lines(sid)

    def check(self, recorded=None):
        """Every service's log lines are exactly the expected ones; with recorded (from
        recorder()), exactly the admitted connections started the server."""
        got = {sid: lines_of(self.d, sid) for sid in self.want}

        def same(w, g):
            # xinetd's forked child writes FAIL while its parent writes START: either may
            # come first, so only the lines count there; portier's order is exact
            return w == g if PORTIERD else sorted(w) == sorted(g)
        diff = {sid: (self.want[sid], got[sid]) for sid in self.want
                if not same(self.want[sid], got[sid])}
        assert not diff, "log lines differ (wanted, got):\n" + "\n".join(
            f"{sid}:\n  wanted {w}\n  got    {g}" for sid, (w, g) in diff.items())
        if recorded is not None:
            want = sorted(self.admissions)
            wait_for(lambda: len(recorded()) >= len(want), what="the servers' records")
            assert sorted(recorded()) == want, (sorted(recorded()), want)


def loadavg1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def alias_ok(addr):
    """Whether we can bind a client socket to addr (127.0.0.x always works on Linux)."""
    with sock_for(addr) as s:
        try:
            s.bind((addr, 0))
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                return False
            raise
    return True


def in_netns():
    """Whether we can make a private network namespace (unshare -n) here."""
    return os.geteuid() == 0 and os.path.exists("/usr/bin/unshare")


# --- private network namespaces ------------------------------------------------------------

def netns_usable():
    import shutil
    return os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip")


def run_in_netns(procs, tmp_path, script, scenario, timeout=90, mounts=False):
    """Run `python3 script scenario tmp_path` under `unshare -n` (a private network namespace,
    where the script brings lo up and may add addresses; with mounts, a private mount
    namespace too, where it may bind-mount files such as /etc/hosts); return the JSON it wrote
    to tmp_path/result.json. Sanitizer reports of the daemon it ran fail the caller."""
    import json
    import sys
    r = procs.run(["unshare", "-n"] + (["-m"] if mounts else []) +
                  [sys.executable, script, scenario, str(tmp_path)],
                  timeout=timeout, env=dict(os.environ))
    res = Path(tmp_path) / "result.json"
    assert r.rc == 0 and res.exists(), f"the namespace run failed: {r!r}"
    out = json.loads(res.read_text())
    assert not out.get("sanitizer"), "\n".join(out["sanitizer"])[:20000]
    return out


def netns_hosts(tmp, hosts):
    """Inside a private mount namespace: name resolution from these /etc/hosts lines only
    (bind mounts over /etc/hosts and /etc/nsswitch.conf, which say "hosts: files")."""
    import subprocess
    tmp = Path(tmp)
    (tmp / "hosts").write_text("".join(line + "\n" for line in hosts))
    (tmp / "nsswitch.conf").write_text("passwd: files\ngroup: files\nshadow: files\n"
                                       "hosts: files\nnetworks: files\nservices: files\n"
                                       "protocols: files\n")
    for name in ("hosts", "nsswitch.conf"):
        subprocess.run(["mount", "--bind", str(tmp / name), f"/etc/{name}"], check=True)


def netns_daemon(tmp, addrs=()):
    """Inside the namespace: bring lo up, add addrs (e.g. "fd00:1::2/64") to it, and make a
    Daemon (portierd from $PORTIER_BUILD, or xinetd) in tmp. Returns (daemon, procs)."""
    import subprocess
    from conftest import ProcTracker, TOP
    import portierd_util
    from portierd_util import Daemon
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for a in addrs:
        subprocess.run(["ip", "addr", "add", a, "dev", "lo"] + (["nodad"] if ":" in a else []),
                       check=True)
    if portierd_util.KIND == "xinetd":
        binary = portierd_util.XINETD
    else:
        binary = Path(os.environ.get("PORTIER_BUILD") or TOP / "build").resolve() / "portierd"
    tmp = Path(tmp)
    (tmp / "s").mkdir(exist_ok=True)
    procs = ProcTracker(tmp, tmp)
    return Daemon(portierd_util.KIND, str(binary), procs, tmp, tmp / "s"), procs


class IdentdBase:
    """An RFC 1413 server on 127.0.0.1:113, for tests in their own network namespace: it reads
    one query line per connection and hands it to answer(conn, query, ports), ports being the
    (client port, server port) pair asked about, or None when the query is malformed."""

    TIMEOUT = 10                        # seconds a connection may take to send its query

    def __init__(self):
        self.queries = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 113))
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        with c:
            c.settimeout(self.TIMEOUT)
            buf = b""
            while b"\n" not in buf:
                data = c.recv(100)
                if not data:
                    return
                buf += data
            q = buf.decode().strip()
            self.queries.append(q)
            m = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*", q)
            self.answer(c, q, (int(m.group(1)), int(m.group(2))) if m else None)

    def answer(self, conn, query, ports):
        raise NotImplementedError
