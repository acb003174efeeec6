"""The protections a service's server gets before it runs: `no_new_privs = yes` (the server
cannot gain privileges through set-user-ID programs or file capabilities) and `chroot = DIR`
(the server sees only DIR). A protection portierd cannot give is never silently left out: a
chroot without root refuses the service, at load and in `portierd -n`."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import fetch
from portierd_util import need_portierd

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, setpriv)")
SETPRIV = shutil.which("setpriv")


def _no_new_privs_line(port):
    out = fetch(port).decode()
    return [ln for ln in out.splitlines() if ln.startswith("NoNewPrivs:")][0].split()[1]


def test_no_new_privs(daemon):
    need_portierd("no_new_privs is portier's")
    on = daemon.add("nnp", "/bin/grep", "NoNewPrivs /proc/self/status", no_new_privs="yes")
    off = daemon.add("plain", "/bin/grep", "NoNewPrivs /proc/self/status")
    daemon.start()
    assert _no_new_privs_line(on) == "1"
    assert _no_new_privs_line(off) == "0"


def _populate_chroot(root, program):
    """A minimal tree in which @program runs: the program and the libraries ldd names."""
    out = subprocess.run(["ldd", program], capture_output=True, text=True, timeout=30).stdout
    files = [program] + [p for p in (w for line in out.splitlines() for w in line.split())
                         if p.startswith("/")]
    for f in files:
        dest = root / f.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(f), dest)


@ROOT_ONLY
def test_chroot(daemon, tmp_path):
    """The server lists "/": it sees the chroot's entries and nothing of the real root."""
    need_portierd("chroot is portier's")
    jail = tmp_path / "jail"
    _populate_chroot(jail, "/bin/ls")
    (jail / "only-in-the-jail").write_text("")
    port = daemon.add("jailed", "/bin/ls", "-1 /", chroot=str(jail), user="nobody")
    daemon.start()
    listing = set(fetch(port).decode().split())
    assert listing == {p.name for p in jail.iterdir()}, listing
    assert "only-in-the-jail" in listing and "proc" not in listing
    daemon.wait_log(r"EXIT: jailed status=0 .*")


@ROOT_ONLY
def test_chroot_server_must_exist_inside(daemon, tmp_path):
    """The server path is checked inside the chroot at load (here it exists only outside)."""
    need_portierd()
    jail = tmp_path / "empty-jail"
    jail.mkdir()
    daemon.add("jailed", "/bin/ls", "/", chroot=str(jail))
    daemon.write()
    r = subprocess.run([daemon.bin, "-n", "-f", daemon.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "jailed" in r.stderr and "/bin/ls" in r.stderr, r.stderr


def check_unprivileged(daemon, add):
    """`portierd -n` run as uid 65534 on the services add(pub) adds (pub: a directory uid
    65534 can read, removed afterwards); its CompletedProcess. Needs root and setpriv."""
    pub = Path(tempfile.mkdtemp(prefix="ptr-harden-", dir="/tmp"))
    try:
        add(pub)
        conf = pub / "portier.conf"
        conf.write_text(daemon.text())
        os.chmod(pub, 0o755)
        prefix = [SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups"]
        return subprocess.run(prefix + [daemon.bin, "-n", "-f", conf], capture_output=True,
                              text=True, timeout=60)
    finally:
        shutil.rmtree(pub, ignore_errors=True)


@ROOT_ONLY
@pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) is not installed")
def test_chroot_refused_without_root(daemon, tmp_path):
    """portierd as uid 65534 cannot chroot: `-n` says so, naming the service (the daemon
    skips it the same way, in generation.c)."""
    need_portierd()

    def add(pub):
        _populate_chroot(pub / "jail", "/bin/ls")
        daemon.add("ok", "/bin/echo", "ok")
        daemon.add("jailed", "/bin/ls", "/", chroot=str(pub / "jail"))

    r = check_unprivileged(daemon, add)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "jailed" in r.stderr and "not run as root" in r.stderr, r.stderr
    assert "'ok'" not in r.stderr, r.stderr
