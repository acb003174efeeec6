"""-inetd_compat: /etc/inetd.conf is read after the xinetd-style files. The test runs the
daemon in a private mount namespace with an overlay on /etc holding its own inetd.conf and
services entry, so the machine's /etc is never touched; the inetd.conf line binds 127.0.0.1
(OpenBSD's `addr:service` prefix, which xinetd does not read: that case is portier-only)."""

import os
import shutil
import subprocess

import pytest

from conftest import fetch, free_port
from portierd_util import need_portierd

UNSHARE = shutil.which("unshare")


def test_inetd_compat_without_inetd_conf(daemon):
    """With no /etc/inetd.conf the daemon starts and serves its own services."""
    if os.path.exists("/etc/inetd.conf"):
        pytest.skip("this machine has an /etc/inetd.conf")
    port = daemon.add("a", "/bin/echo", "a")
    daemon.start("-inetd_compat")
    assert fetch(port) == b"a\n"


def _can_overlay(tmp_path):
    if os.geteuid() != 0 or UNSHARE is None:
        return False
    u, w = tmp_path / "probe-u", tmp_path / "probe-w"
    u.mkdir()
    w.mkdir()
    r = subprocess.run([UNSHARE, "-m", "--propagation", "private", "sh", "-c",
                        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={u},workdir={w} "
                        "/etc"], capture_output=True, timeout=30)
    return r.returncode == 0


def test_inetd_compat_reads_inetd_conf(daemon, tmp_path):
    need_portierd("xinetd's inetd.conf reader has no address prefix: it would bind 0.0.0.0")
    if not _can_overlay(tmp_path):
        pytest.skip("no mount namespace with an overlay on /etc here")
    own = daemon.add("own", "/bin/echo", "own")
    port = free_port()
    upper, work = tmp_path / "etc-upper", tmp_path / "etc-work"
    upper.mkdir()
    work.mkdir()
    script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc"
              f" && printf 'ptrinetd {port}/tcp\\n' >> /etc/services"
              f" && printf '127.0.0.1:ptrinetd stream tcp nowait root /bin/echo echo "
              f"from inetd\\n' > /etc/inetd.conf"
              ' && exec "$@"')
    daemon.start("-inetd_compat",
                  prefix=[UNSHARE, "-m", "--propagation", "private", "sh", "-c", script, "sh"])
    assert fetch(own) == b"own\n"
    assert fetch(port) == b"from inetd\n"
    daemon.wait_log(r"START: ptrinetd pid=\d+ from=127\.0\.0\.1")
    assert not os.path.exists("/etc/inetd.conf") or "ptrinetd" not in open(
        "/etc/inetd.conf").read()
