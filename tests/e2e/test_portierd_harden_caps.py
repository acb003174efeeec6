"""`capabilities = NAME ...`: a root server keeps only the named capabilities (bounding,
permitted, effective and inheritable sets); a server of another user gets them as ambient
capabilities, which survive its exec. A capability portierd cannot give refuses the service
at load, never a server with less (or more) than asked."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import fetch
from portierd_util import need_portierd

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (capabilities)")

CAP_DAC_OVERRIDE, CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN = 1, 10, 21
UID_OTHER = "64993"     # no passwd entry needed
UID_OWNER = "64994"


def _own_caps(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    return 0


def _server_caps(port):
    """The Cap* lines of the server's /proc/self/status, as integers."""
    out = fetch(port).decode()
    return {ln.split(":")[0]: int(ln.split()[1], 16) for ln in out.splitlines()
            if ln.startswith("Cap")}


def _need_caps(*bits):
    missing = [b for b in bits if not _own_caps("CapPrm") >> b & 1]
    if missing:
        pytest.skip(f"this machine withholds capabilities {missing} from root")


@ROOT_ONLY
def test_root_server_keeps_only_the_named(daemon):
    need_portierd("capabilities is portier's")
    _need_caps(CAP_NET_BIND_SERVICE, CAP_SYS_ADMIN)
    kept = daemon.add("kept", "/bin/grep", "^Cap /proc/self/status",
                      capabilities="NET_BIND_SERVICE")
    plain = daemon.add("plain", "/bin/grep", "^Cap /proc/self/status")
    daemon.start()
    caps = _server_caps(kept)
    only = 1 << CAP_NET_BIND_SERVICE
    assert caps["CapBnd"] == only and caps["CapEff"] == only and caps["CapPrm"] == only, caps
    assert caps["CapAmb"] == 0, caps
    full = _server_caps(plain)
    assert full["CapEff"] >> CAP_SYS_ADMIN & 1, full


@ROOT_ONLY
def test_root_server_without_dac_override_cannot_read(daemon):
    """The dropped capabilities are really gone: root without CAP_DAC_OVERRIDE cannot read
    another user's 0600 file, and without CAP_SYS_ADMIN cannot make a mount namespace."""
    need_portierd()
    _need_caps(CAP_DAC_OVERRIDE, CAP_SYS_ADMIN)
    pub = Path(tempfile.mkdtemp(prefix="ptr-harden-", dir="/tmp"))
    try:
        secret = pub / "secret"
        secret.write_text("s3cret\n")
        os.chown(secret, int(UID_OWNER), int(UID_OWNER))
        os.chmod(secret, 0o600)
        os.chmod(pub, 0o755)
        weak = daemon.add("weak", "/bin/cat", str(secret), capabilities="CAP_NET_BIND_SERVICE")
        strong = daemon.add("strong", "/bin/cat", str(secret),
                            capabilities="CAP_NET_BIND_SERVICE CAP_DAC_OVERRIDE")
        unshare = shutil.which("unshare")
        if unshare:
            ns_weak = daemon.add("ns-weak", unshare, "-m /bin/echo inside",
                                 capabilities="NET_BIND_SERVICE")
            ns_strong = daemon.add("ns-strong", unshare, "-m /bin/echo inside",
                                   capabilities="SYS_ADMIN")
        daemon.start()
        out = fetch(weak)       # the server's stderr is the connection too
        assert b"s3cret" not in out and b"Permission denied" in out, out
        assert fetch(strong) == b"s3cret\n"
        if unshare:
            out = fetch(ns_weak)
            assert b"inside" not in out and b"not permitted" in out, out
            assert fetch(ns_strong) == b"inside\n"
    finally:
        shutil.rmtree(pub, ignore_errors=True)


@ROOT_ONLY
def test_other_user_gets_ambient(daemon):
    need_portierd()
    _need_caps(CAP_NET_BIND_SERVICE)
    port = daemon.add("amb", "/bin/grep", "^Cap /proc/self/status", user=UID_OTHER,
                      group=UID_OTHER, capabilities="cap_net_bind_service")
    none = daemon.add("none", "/bin/grep", "^Cap /proc/self/status", user=UID_OTHER,
                      group=UID_OTHER)
    daemon.start()
    caps = _server_caps(port)
    only = 1 << CAP_NET_BIND_SERVICE
    assert caps["CapAmb"] == only and caps["CapEff"] == only and caps["CapPrm"] == only, caps
    assert caps["CapBnd"] == only, caps
    assert _server_caps(none)["CapEff"] == 0


@ROOT_ONLY
def test_empty_set_drops_everything(daemon):
    need_portierd()
    port = daemon.add("bare", "/bin/grep", "^Cap /proc/self/status", capabilities="")
    daemon.start()
    caps = _server_caps(port)
    assert caps["CapEff"] == 0 and caps["CapBnd"] == 0 and caps["CapPrm"] == 0, caps


def test_unknown_name_is_an_error(daemon):
    need_portierd()
    daemon.add("bad", "/bin/true", capabilities="NET_BIND_SERVICE CAP_FLY")
    daemon.write()
    r = subprocess.run([daemon.bin, "-n", "-f", daemon.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "CAP_FLY" in r.stderr, r.stderr


@ROOT_ONLY
def test_capability_portierd_lacks_is_refused(daemon):
    """A capability outside portierd's own permitted set (a container withholds it) cannot
    be given: the service is refused at load, naming the capability; the others run."""
    need_portierd()
    own = _own_caps("CapPrm")
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    lacking = [b for b in range(last + 1) if not own >> b & 1]
    if not lacking:
        pytest.skip("portierd has every capability here: nothing to refuse")
    names = dict((int(m.group(2)), m.group(1)) for m in re.finditer(
        r"#define (CAP_[A-Z_]+)\s+(\d+)", Path("/usr/include/linux/capability.h").read_text()))
    name = names[lacking[0]]
    ok = daemon.add("ok", "/bin/echo", "ok", capabilities="NET_BIND_SERVICE")
    daemon.add("greedy", "/bin/true", capabilities=name)
    daemon.write()
    r = subprocess.run([daemon.bin, "-n", "-f", daemon.conf], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and "greedy" in r.stderr and name in r.stderr, r.stderr
    assert "'ok'" not in r.stderr, r.stderr
    daemon.start()
    assert fetch(ok) == b"ok\n"
    assert "greedy" in daemon.dlog_text() and name in daemon.dlog_text()


@ROOT_ONLY
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) is missing")
def test_refused_without_root(daemon):
    """portierd as uid 65534 cannot set a server's capabilities: `-n` refuses the service."""
    need_portierd()
    from test_portierd_harden import check_unprivileged
    daemon.add("ok", "/bin/echo", "ok")
    daemon.add("capped", "/bin/true", capabilities="NET_BIND_SERVICE")
    r = check_unprivileged(daemon, lambda pub: None)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "'capped'" in r.stderr and "capabilities" in r.stderr, r.stderr
    assert "not run as root" in r.stderr and "'ok'" not in r.stderr, r.stderr
