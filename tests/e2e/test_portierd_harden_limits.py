"""`rlimit_nproc = N`: the server's user cannot have more than N processes, so a server cannot
fork without bound. A limit portierd cannot grant is refused at load, never dropped."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import fetch
from portierd_util import need_portierd

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (switching the user)")

# Users of their own (no passwd entry needed): RLIMIT_NPROC counts every process of the
# server's real uid, and other tests' servers run as nobody.
UID_LIMITED = "64991"
UID_FREE = "64992"

FORKER = """#!/usr/bin/python3
import errno, os, signal
kids, err = [], 0
for _ in range(6):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        signal.pause()
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print("forked", len(kids), "errno", errno.errorcode.get(err, err), flush=True)
"""


@pytest.fixture
def forker():
    """The forking server, in a directory any uid can read."""
    pub = Path(tempfile.mkdtemp(prefix="ptr-harden-", dir="/tmp"))
    os.chmod(pub, 0o755)
    prog = pub / "forker"
    prog.write_text(FORKER)
    os.chmod(prog, 0o755)
    yield str(prog)
    shutil.rmtree(pub, ignore_errors=True)


@ROOT_ONLY
def test_rlimit_nproc_stops_forking(daemon, forker):
    need_portierd("rlimit_nproc is portier's")
    limited = daemon.add("limited", forker, user=UID_LIMITED, group=UID_LIMITED,
                         rlimit_nproc="3")
    free = daemon.add("free", forker, user=UID_FREE, group=UID_FREE)
    daemon.start()
    # The server is the user's only process: 2 more fit under 3, the third fork fails.
    assert fetch(limited).decode().split() == ["forked", "2", "errno", "EAGAIN"]
    assert fetch(free).decode().split() == ["forked", "6", "errno", "0"]


def test_rlimit_nproc_dumped(daemon):
    need_portierd()
    daemon.add("limited", "/bin/true", rlimit_nproc="40")
    daemon.write()
    r = subprocess.run([daemon.bin, "--dump-config", "-f", daemon.conf], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert any(ln.split() == ["rlimit_nproc", "=", "40"] for ln in r.stdout.splitlines()), \
        r.stdout


def _has_cap(bit):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> bit & 1)
    return False


def test_rlimit_nproc_beyond_reach_refused(daemon):
    """Above the hard limit without CAP_SYS_RESOURCE (24) the spawn would fail for every
    connection: `-n` refuses the service instead, naming it."""
    need_portierd()
    hard = subprocess.run(["sh", "-c", "ulimit -Hu"], capture_output=True, text=True,
                          timeout=10).stdout.strip()
    if hard == "unlimited" or _has_cap(24):
        pytest.skip("portierd could raise RLIMIT_NPROC to any value here")
    daemon.add("ok", "/bin/true")
    daemon.add("greedy", "/bin/true", rlimit_nproc="UNLIMITED")
    daemon.write()
    r = subprocess.run([daemon.bin, "-n", "-f", daemon.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "greedy" in r.stderr and "rlimit_nproc" in r.stderr, r.stderr
    assert "'ok'" not in r.stderr, r.stderr
