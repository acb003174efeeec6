"""log_type = SYSLOG: the per-connection lines as syslog datagrams
`<PRI>Mmm dd hh:mm:ss portierd[pid]: START: ...` (xinetd's text after the tag), sent to
--syslog-socket; --log-ident xinetd keeps fail2ban's xinetd filter working.

The comparison with xinetd (test_syslog_lines_match_xinetd): xinetd always writes to /dev/log,
so under PORTIER_DAEMON=xinetd it runs in a private mount namespace whose /dev is an overlay
with the test's receiver bind-mounted on /dev/log (the machine's /dev is never touched), and
portierd runs with --log-ident xinetd: the datagrams must be the same."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import SYSLOG_RE, fetch, stamp_is_now
from portierd_util import hold, need_portierd, server, serving_pid

FACILITIES = {"daemon": 3, "auth": 4, "authpriv": 10, "local0": 16, "local7": 23}
LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5,
          "info": 6, "debug": 7}


def _entries(daemon, sid):
    out = []
    for d in daemon.syslog.all():
        m = SYSLOG_RE.fullmatch(d.text)
        assert m, f"not a syslog datagram: {d.text!r}"
        if m["msg"].split(" ")[1:2] == [sid]:
            out.append(m)
    return out


def _whole_seconds(msg):
    """duration= counts wall-clock seconds (as xinetd's): 0, or 1 when the connection spanned
    the turn of a second."""
    return re.sub(r"duration=[01]\(sec\)", "duration=D(sec)", msg)


@pytest.mark.parametrize("log_type,pri", [
    ("SYSLOG local0", 16 * 8 + 6), ("SYSLOG daemon notice", 3 * 8 + 5),
    ("SYSLOG authpriv warning", 10 * 8 + 4)])
def test_syslog_lines(daemon, log_type, pri):
    need_portierd()
    port = daemon.add("sl", server("hold.sh"), log_type=log_type, instances="1")
    daemon.start()
    s, pid = hold(port)
    assert fetch(port, timeout=5) == b""        # refused: service_limit
    s.close()
    daemon.syslog.wait(lambda d: "EXIT: sl " in d.text, what="the EXIT datagram")
    ms = _entries(daemon, "sl")
    assert [_whole_seconds(m["msg"]) for m in ms] == [
        f"START: sl pid={pid} from=127.0.0.1",
        "FAIL: sl service_limit from=127.0.0.1",
        f"EXIT: sl status=0 pid={pid} duration=D(sec)"], [m.string for m in ms]
    for m in ms:
        assert int(m["pri"]) == pri, m.string
        assert m["ident"] == "portierd" and int(m["pid"]) == serving_pid(daemon), m.string
        assert stamp_is_now(m), m.string
    assert not daemon.log(), "SYSLOG lines also went to the defaults' FILE"


def test_syslog_ident_xinetd(daemon):
    need_portierd()
    port = daemon.add("fb", "/bin/echo", "x", log_type="SYSLOG authpriv")
    daemon.start("--log-ident", "xinetd")
    assert fetch(port) == b"x\n"
    d = daemon.syslog.wait(lambda d: "EXIT: fb " in d.text, what="the EXIT datagram")
    m = SYSLOG_RE.fullmatch(d.text)
    assert m["ident"] == "xinetd" and int(m["pid"]) == serving_pid(daemon), d.text
    # the line fail2ban's xinetd-fail filter reads: "xinetd[N]: FAIL: <svc> address from=<HOST>"
    start = [x for x in daemon.syslog.texts() if "START: fb" in x]
    assert start and start[0].split("]: ", 1)[1].startswith("START: fb pid="), start


UNSHARE = shutil.which("unshare")


def _xinetd_devlog_prefix(daemon):
    """The command prefix that runs xinetd with daemon.syslog as its /dev/log."""
    if os.geteuid() != 0 or UNSHARE is None:
        pytest.skip("needs root and unshare for a private /dev/log")
    upper, work = daemon.dir / "dev-upper", daemon.dir / "dev-work"
    upper.mkdir()
    work.mkdir()
    script = (f"mount -t overlay overlay -o lowerdir=/dev,upperdir={upper},workdir={work} /dev"
              f" && touch /dev/log && mount --bind {daemon.syslog.address} /dev/log"
              ' && exec "$@"')
    probe = subprocess.run([UNSHARE, "-m", "--propagation", "private", "sh", "-c", script,
                            "sh", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"no private /dev/log here: {probe.stderr!r}")
    for p in (upper, work):
        shutil.rmtree(p)
        p.mkdir()
    return [UNSHARE, "-m", "--propagation", "private", "sh", "-c", script, "sh"]


@pytest.mark.parametrize("log_type,pri", [
    ("SYSLOG local0", 16 * 8 + 6), ("SYSLOG daemon notice", 3 * 8 + 5)])
def test_syslog_lines_match_xinetd(daemon, log_type, pri):
    port = daemon.add("sx", server("hold.sh"), log_type=log_type, instances="1")
    if daemon.kind == "xinetd":
        daemon.start(prefix=_xinetd_devlog_prefix(daemon))
    else:
        daemon.start("--log-ident", "xinetd")
    s, pid = hold(port)
    assert fetch(port, timeout=5) == b""        # refused: service_limit
    s.close()
    daemon.syslog.wait(lambda d: "EXIT: sx " in d.text, what="the EXIT datagram")
    ms = _entries(daemon, "sx")
    assert [_whole_seconds(m["msg"]) for m in ms] == [
        f"START: sx pid={pid} from=127.0.0.1",
        "FAIL: sx service_limit from=127.0.0.1",
        f"EXIT: sx status=0 pid={pid} duration=D(sec)"], [m.string for m in ms]
    for m in ms:
        assert int(m["pri"]) == pri, m.string
        assert m["ident"] == "xinetd" and int(m["pid"]) == serving_pid(daemon), m.string
        assert stamp_is_now(m), m.string
