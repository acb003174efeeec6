"""Helpers for the fault and load tests (test_stress_*.py): how much CPU, how many
descriptors and how much memory a process uses, read from /proc, and bounded client loops.

PORTIER_STRESS=1 (`make stress`) runs the long versions: stress_count(short, long) picks the
count of a loop accordingly. Everything stays on loopback and every loop is bounded.
"""

import os
import resource
import socket
import struct
import time
from pathlib import Path

from conftest import DEFAULT_TIMEOUT

LONG = os.environ.get("PORTIER_STRESS") == "1"
TICKS = os.sysconf("SC_CLK_TCK")
SANITIZED = os.environ.get("PORTIER_BUILD", "").rstrip("/").endswith("/sanitize")


def stress_count(short, long):
    """The count of a loop: short in CI, long under `make stress` (PORTIER_STRESS=1)."""
    return long if LONG else short


def cpu_seconds(pid):
    """User plus system CPU time of pid so far, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    f = text.rpartition(")")[2].split()
    return (int(f[11]) + int(f[12])) / TICKS


def cpu_over(pid, seconds=1.0):
    """The CPU time pid used over the next `seconds` of wall clock."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


REDIRECT_PIPE_POOL_FDS = 2 * 64        # redirect.c keeps up to 64 empty pipes for reuse


def fd_count(pid):
    """The descriptors pid has open, not counting pipes (redirect.c's pool of empty pipes
    grows and shrinks by design: see fds_settled())."""
    n = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += not os.readlink(f"/proc/{pid}/fd/{name}").startswith("pipe:")
        except FileNotFoundError:
            pass
    return n


def pipe_count(pid):
    n = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{name}").startswith("pipe:")
        except FileNotFoundError:
            pass
    return n


def fds_settled(pid, base):
    """Back to base descriptors (pipes aside), with no more pipes than the redirect pool
    may keep."""
    return fd_count(pid) <= base and pipe_count(pid) <= REDIRECT_PIPE_POOL_FDS


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def nofile_limit(n):
    """A preexec_fn: RLIMIT_NOFILE soft and hard n (portierd raises its soft limit to the hard
    one at start, so both must be low)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


def linger_reset(s):
    """Make close() send a RST (SO_LINGER with a zero time-out)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def open_many(port, n, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
    """Open up to n connections (those the kernel completes: the listen queue takes them even
    when the daemon cannot accept); returns the sockets."""
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            break
        out.append(s)
    return out


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def state_dump(d):
    """Ask the daemon for its state dump (SIGUSR1); return {service id: {field: value}} plus
    the global lines under the key "" (counts as ints where they are numbers)."""
    import re
    import signal
    from conftest import wait_for
    before = d.dlog_text().count("generated state dump")
    os.kill(d.pid, signal.SIGUSR1)
    wait_for(lambda: d.dlog_text().count("generated state dump") > before,
             what="the state dump")
    text = (Path(d.pidfile).parent / "portierd.dump").read_text()
    out = {"": {}}
    cur = out[""]
    for line in text.splitlines():
        if line.startswith("service "):
            cur = out.setdefault(line.split()[1], {})
        elif " = " in line:
            k, _, v = line.strip().partition(" = ")
            cur[k] = int(v) if re.fullmatch(r"\d+", v) else v
        elif ": " in line:
            k, _, v = line.partition(": ")
            cur[k] = int(v.split()[0]) if re.match(r"\d+", v) else v
    return out
