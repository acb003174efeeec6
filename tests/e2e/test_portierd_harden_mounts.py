"""`private_tmp = yes` and `read_only_root = yes`: the server runs in a mount namespace of its
own, with a fresh, empty /tmp that no one else sees (no leaks into or from the real /tmp) and
with / mounted read-only (a compromised server cannot change the system). Where the machine
does not allow a mount namespace, the service is refused at load, never run without it."""

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import fetch
from portierd_util import need_portierd

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount namespaces)")
SETPRIV = shutil.which("setpriv")
UNSHARE = shutil.which("unshare")


def _namespaces_allowed():
    if UNSHARE is None:
        return False
    r = subprocess.run([UNSHARE, "-m", "/bin/true"], capture_output=True, timeout=30)
    return r.returncode == 0


@pytest.fixture
def need_mount_ns():
    if os.geteuid() != 0 or not _namespaces_allowed():
        pytest.skip("this machine does not allow a private mount namespace (EPERM)")


def test_private_tmp(daemon, need_mount_ns):
    need_portierd("private_tmp is portier's")
    name = f"ptr-private-{uuid.uuid4().hex}"
    real = Path("/tmp") / name
    writer = daemon.add("writer", "/usr/bin/touch", f"/tmp/{name}", private_tmp="yes")
    lister = daemon.add("lister", "/bin/ls", "-A /tmp", private_tmp="yes")
    control = daemon.add("control", "/usr/bin/touch", f"/tmp/{name}")
    daemon.start()
    try:
        assert fetch(writer) == b""                 # touch succeeded, quietly
        daemon.wait_log(r"EXIT: writer status=0 .*")
        assert not real.exists(), "the server's /tmp file leaked into the real /tmp"
        assert fetch(lister) == b"", "the private /tmp is not fresh"
        assert any(Path("/tmp").iterdir())          # while the real one is not empty
        assert fetch(control) == b""
        daemon.wait_log(r"EXIT: control status=0 .*")
        assert real.exists()                        # the same write, without private_tmp
    finally:
        real.unlink(missing_ok=True)


def _dir_on_root_mount():
    """A writable directory on the same file system as /, or None."""
    root = os.stat("/").st_dev
    for d in ("/var/tmp", "/tmp", "/root"):
        if os.path.isdir(d) and os.stat(d).st_dev == root:
            return d
    return None


def test_read_only_root(daemon, need_mount_ns):
    need_portierd("read_only_root is portier's")
    where = _dir_on_root_mount()
    if where is None:
        pytest.skip("no writable directory on the root file system's mount")
    target = Path(where) / f"ptr-ro-{uuid.uuid4().hex}"
    ro = daemon.add("ro", "/usr/bin/touch", str(target), read_only_root="yes")
    both = daemon.add("both", "/usr/bin/touch", "/tmp/scratch", read_only_root="yes",
                      private_tmp="yes")
    rw = daemon.add("rw", "/usr/bin/touch", str(target))
    daemon.start()
    try:
        out = fetch(ro)                             # stderr is the connection too
        assert b"Read-only file system" in out, out
        assert not target.exists()
        daemon.wait_log(r"EXIT: ro status=1 .*")
        assert fetch(both) == b""                   # the private /tmp stays writable
        daemon.wait_log(r"EXIT: both status=0 .*")
        assert fetch(rw) == b""
        daemon.wait_log(r"EXIT: rw status=0 .*")
        assert target.exists()
    finally:
        target.unlink(missing_ok=True)


def test_read_only_root_covers_every_mount(daemon, tmp_path, need_mount_ns):
    """Not only the mount of /: a separate writable mount (here a tmpfs, mounted in a mount
    namespace of the daemon's own) is read-only for the server too, while the kernel's file
    systems keep their flags (/dev/null stays writable)."""
    need_portierd("read_only_root is portier's")
    extra = tmp_path / "extra"
    extra.mkdir()
    ro = daemon.add("ro", "/usr/bin/touch", f"{extra}/ro", read_only_root="yes")
    rw = daemon.add("rw", "/usr/bin/touch", f"{extra}/rw")
    script = tmp_path / "null.sh"
    script.write_text("echo x >/dev/null && echo written\n")   # (server_args has no quoting)
    null = daemon.add("null", "/bin/sh", str(script), read_only_root="yes")
    daemon.start(prefix=[UNSHARE, "-m", "--propagation", "private", "/bin/sh", "-c",
                         f"mount -t tmpfs tmpfs {extra} && exec \"$@\"", "sh"])
    out = fetch(ro)
    assert b"Read-only file system" in out, out
    daemon.wait_log(r"EXIT: ro status=1 .*")
    assert fetch(rw) == b""                         # the same mount, writable without
    daemon.wait_log(r"EXIT: rw status=0 .*")
    assert fetch(null) == b"written\n"
    daemon.wait_log(r"EXIT: null status=0 .*")


def test_from_defaults_and_dumped(daemon):
    need_portierd()
    daemon.defaults["private_tmp"] = "yes"
    daemon.add("svc", "/bin/true", read_only_root="yes")
    daemon.write()
    r = subprocess.run([daemon.bin, "--dump-config", "-f", daemon.conf], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [ln.split() for ln in r.stdout.splitlines()]
    assert ["private_tmp", "=", "yes"] in lines and ["read_only_root", "=", "yes"] in lines, \
        r.stdout


@ROOT_ONLY
@pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) is not installed")
def test_refused_without_mount_namespace(daemon):
    """portierd as uid 65534 cannot unshare a mount namespace (EPERM): `-n` refuses each
    service that asks for one, naming it and the reason; the others are fine."""
    need_portierd()
    from test_portierd_harden import check_unprivileged
    daemon.add("ok", "/bin/echo", "ok")
    daemon.add("tmp", "/bin/true", private_tmp="yes")
    daemon.add("ro", "/bin/true", read_only_root="yes")
    r = check_unprivileged(daemon, lambda pub: None)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "'tmp'" in r.stderr and "'ro'" in r.stderr and "mount namespace" in r.stderr, \
        r.stderr
    assert "'ok'" not in r.stderr, r.stderr


def test_private_tmp_in_chroot(daemon, tmp_path, need_mount_ns):
    """With a chroot, the fresh /tmp is the chroot's: what lies in the jail's /tmp is hidden."""
    need_portierd()
    from test_portierd_harden import _populate_chroot
    jail = tmp_path / "jail"
    _populate_chroot(jail, "/bin/ls")
    (jail / "tmp").mkdir()
    (jail / "tmp" / "left-behind").write_text("")
    private = daemon.add("private", "/bin/ls", "-A /tmp", chroot=str(jail), private_tmp="yes")
    shared = daemon.add("shared", "/bin/ls", "-A /tmp", chroot=str(jail))
    daemon.start()
    assert fetch(private) == b""
    assert fetch(shared) == b"left-behind\n"


def test_chroot_without_tmp_refused_at_load(daemon, tmp_path, need_mount_ns):
    """private_tmp in a chroot mounts the fresh /tmp on the jail's /tmp: without one the
    service is refused at load (and by -n), naming the reason; the others serve."""
    need_portierd()
    from test_portierd_harden import _populate_chroot
    jail = tmp_path / "jail-without-tmp"
    _populate_chroot(jail, "/bin/ls")
    daemon.add("notmp", "/bin/ls", "/", chroot=str(jail), private_tmp="yes")
    ok = daemon.add("ok", "/bin/echo", "ok")
    r = daemon.run("-n")
    assert r.rc == 1, r
    assert "service 'notmp'" in r.err and "its /tmp" in r.err and \
        "No such file or directory" in r.err, r.err
    daemon.start()
    assert fetch(ok) == b"ok\n"
    daemon.wait_message("its /tmp, where the private /tmp is mounted, is not a directory")


def test_spawn_failure_is_reported(daemon, tmp_path, need_mount_ns):
    """A step that fails only at spawn time (the jail's /tmp was there at load and is gone
    since) is logged with the step and the reason, and the client gets no server."""
    need_portierd()
    from test_portierd_harden import _populate_chroot
    jail = tmp_path / "jail"
    _populate_chroot(jail, "/bin/ls")
    (jail / "tmp").mkdir()
    port = daemon.add("notmp", "/bin/ls", "/", chroot=str(jail), private_tmp="yes")
    daemon.start()
    (jail / "tmp").rmdir()
    assert fetch(port) == b""
    daemon.wait_message("service 'notmp': cannot start '/bin/ls': setting up the private "
                        "mount namespace failed: No such file or directory")
