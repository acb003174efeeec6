"""Log destinations beyond the per-connection FILE basics: FILE soft/hard size limits, daemon
messages to syslog with -syslog FACILITY, the -filelog file and FILE logs following log
rotation at SIGHUP (xinetd 2.3.15 keeps writing its -filelog to the renamed file)."""

import calendar
import os
import re
import signal
import time

from conftest import SYSLOG_RE, clean_env, fetch, try_fetch, wait_for
from portierd_util import need_portierd


def test_file_hard_limit(daemon):
    """`log_type = FILE path soft hard`: past the hard limit nothing more is written. portierd
    keeps serving; xinetd 2.3.15.3 stops serving the service once its log is full (every
    connection closed at once, "Error in lim log" in its own log)."""
    log = daemon.dir / "limited.log"
    port = daemon.add("lim", "/bin/echo", "x", log_type=f"FILE {log} 1024 2048")
    marker = daemon.add("mark", "/bin/echo", "m")
    daemon.start()
    for _ in range(50):
        got = try_fetch(port)
        if daemon.kind == "portierd":
            assert got == b"x\n"
    assert fetch(marker) == b"m\n"
    daemon.wait_log(r"EXIT: mark status=0 .*")
    wait_for(lambda: log.exists() and log.stat().st_size >= 1024, what="the log to fill")
    size = log.stat().st_size
    text = log.read_text()
    assert size <= 2048 + 200, f"{size} bytes past a 2048-byte hard limit"
    assert text.startswith("START: lim", text.index(": ") + 2), text[:200]
    if daemon.kind == "portierd":
        assert fetch(port) == b"x\n"


def test_reload_reopens_log_files(daemon):
    """logrotate renames the files, then sends SIGHUP: portierd writes to new files, its
    -filelog included (a portier difference: xinetd reopens only the services' logs)."""
    need_portierd("xinetd keeps its -filelog open across SIGHUP")
    port = daemon.add("rot", "/bin/echo", "r")
    daemon.start()
    assert fetch(port) == b"r\n"
    daemon.wait_log(r"EXIT: rot .*")
    old_dlog, old_svclog = daemon.dir / "daemon.log.1", daemon.dir / "services.log.1"
    daemon.dlog.rename(old_dlog)
    daemon.svclog.rename(old_svclog)
    os.kill(daemon.pid, signal.SIGHUP)
    daemon.wait_message("Reconfigured:")
    assert "Reconfigured:" not in old_dlog.read_text()
    assert fetch(port) == b"r\n"
    daemon.wait_log(r"EXIT: rot .*")
    assert old_svclog.read_text().count("START: rot") == 1


def test_syslog_facility_for_daemon_messages(daemon):
    need_portierd("xinetd's syslog goes to /dev/log")
    port = daemon.add("a", "/bin/echo", "a")
    daemon.write()
    argv = [a for a in daemon.argv() if a not in ("-filelog", daemon.dlog)]
    r = daemon.procs.run(argv + ["-syslog", "local3"], timeout=60)
    assert r.rc == 0, r
    pid = int(daemon.pidfile.read_text())
    daemon.procs.adopt(pid)
    daemon.pid = pid
    d = daemon.syslog.wait_text("Started working")
    m = SYSLOG_RE.fullmatch(d.text)
    assert m and int(m["pri"]) >> 3 == 19 and int(m["pid"]) == pid, d.text
    assert try_fetch(port) == b"a\n"
    assert re.search(r"listening on 127\.0\.0\.1:%d/tcp" % port,
                     " ".join(daemon.syslog.texts()))


def test_file_stamp_is_local_time(daemon):
    """The FILE time stamp is local time, as the daemon's TZ says (xinetd: localtime())."""
    port = daemon.add("tz", "/bin/echo", "t")
    daemon.start(env=clean_env(TZ="UTC-9"))
    assert fetch(port) == b"t\n"
    daemon.wait_log(r"EXIT: tz .*")
    line = daemon.svclog.read_text().splitlines()[0]
    m = re.match(r"(\d\d)/(\d{1,2})/(\d{1,2})@(\d\d):(\d\d):(\d\d): ", line)
    assert m, line
    y, mo, d, h, mi, s = (int(x) for x in m.groups())
    stamped = calendar.timegm((2000 + y, mo, d, h, mi, s, 0, 0, 0)) - 9 * 3600
    assert abs(stamped - time.time()) < 120, f"{line!r} is not UTC+9 local time"
