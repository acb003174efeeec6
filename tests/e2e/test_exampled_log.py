"""Logging targets and line formats: syslog datagrams in glibc's local format, stderr lines,
the automatic choice, and a syslog sink that never blocks the daemon. (The file target:
test_exampled_filelog.py.)"""

import os
import signal
import socket

from conftest import SYSLOG_RE, DgramReceiver, pid_alive, stamp_is_now, wait_for, wait_greeting


def _syslog_line(exampled, msg_prefix):
    d = exampled.syslog.wait_text(msg_prefix)
    m = SYSLOG_RE.fullmatch(d.text)
    assert m, f"not a syslog datagram of the form '<PRI>Mmm dd hh:mm:ss ident[pid]: msg': {d}"
    return d, m


def test_syslog_target_format(exampled):
    exampled.write_config()
    _, pid = exampled.start("-l", "syslog")
    d, m = _syslog_line(exampled, "started")
    assert m["pri"] == "30", f"priority {m['pri']}, want daemon.info = 30: {d}"
    assert m["ident"] == "exampled" and int(m["pid"]) == pid, d
    assert m["msg"] == f"started, listening on 127.0.0.1:{exampled.port}", d
    assert stamp_is_now(m), f"time stamp is not the local time now: {d}"
    assert d.pid == pid, f"sent by {d.pid}, not the daemon {pid}"

    exampled.write_config(greeting="again")
    os.kill(pid, signal.SIGHUP)
    d, m = _syslog_line(exampled, "configuration reloaded")
    assert m["pri"] == "30" and int(m["pid"]) == pid and m["msg"] == "configuration reloaded", d

    exampled.write_config(extra=["what = ever"])
    os.kill(pid, signal.SIGHUP)
    d, m = _syslog_line(exampled, "reload failed")
    assert int(m["pri"]) >> 3 == 3, f"facility is not daemon: {d}"
    assert int(m["pri"]) & 7 <= 6, d
    assert m["msg"].startswith("reload failed, keeping the old configuration: "), d
    assert "what" in m["msg"] and ":4" in m["msg"], f"the reason does not name key and line: {d}"

    os.kill(pid, signal.SIGTERM)
    d, m = _syslog_line(exampled, "stopping")
    assert m["pri"] == "30" and m["msg"] == "stopping", d


def test_auto_target_detached_is_syslog(exampled):
    exampled.write_config()
    _, pid = exampled.start()
    d, m = _syslog_line(exampled, "started")
    assert int(m["pid"]) == pid
    assert m["msg"] == f"started, listening on 127.0.0.1:{exampled.port}"


def test_auto_target_foreground_is_stderr(exampled, procs):
    exampled.write_config(greeting="fg")
    p, out, err = exampled.popen()
    line = f"exampled: started, listening on 127.0.0.1:{exampled.port}\n"
    wait_for(lambda: line in err.read_text(), what=f"{line!r} on stderr")
    assert err.read_text().startswith("exampled: "), err.read_text()
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0
    assert err.read_text().endswith("exampled: stopping\n"), err.read_text()
    assert not any("started" in t for t in exampled.syslog.texts()), \
        "the foreground daemon logged to syslog too"


def test_stderr_target_in_foreground(exampled, procs):
    exampled.write_config()
    p, out, err = exampled.popen("-l", "stderr")
    line = f"exampled: started, listening on 127.0.0.1:{exampled.port}\n"
    wait_for(lambda: line in err.read_text(), what=f"{line!r} on stderr")
    p.terminate()
    assert p.wait(timeout=10) == 0


def test_syslog_target_in_foreground(exampled, procs):
    exampled.write_config()
    p, out, err = exampled.popen("--log", "syslog")
    d, m = _syslog_line(exampled, "started")
    assert int(m["pid"]) == p.pid
    p.terminate()
    assert p.wait(timeout=10) == 0
    assert "started" not in err.read_text()


def test_syslog_never_blocks_the_daemon(exampled, sockdir):
    """With the log socket's queue full (syslogd stuck), the daemon still reloads and serves;
    once the queue drains, its messages flow again."""
    exampled.write_config(greeting="before")
    _, pid = exampled.start("-l", "syslog")
    exampled.syslog.wait_text("started")
    # Fill the receiver's queue from a socket of our own until the kernel says it is full.
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.connect(exampled.syslog.address)
    sent = 0
    try:
        for _ in range(100000):
            filler.send(b"<31>filler", socket.MSG_DONTWAIT)
            sent += 1
    except BlockingIOError:
        pass
    assert sent < 100000, "harness problem: could not fill the log socket's queue"
    try:
        for n in range(3):
            exampled.write_config(greeting=f"during {n}")
            os.kill(pid, signal.SIGHUP)
            wait_greeting(exampled.port, f"during {n}")
        assert pid_alive(pid)
    finally:
        filler.close()
    # Drain; the next message gets through.
    exampled.syslog.all()
    os.kill(pid, signal.SIGTERM)
    exampled.syslog.wait_text("stopping")


def test_syslog_reconnects_after_syslogd_restart(exampled):
    exampled.write_config(greeting="a")
    _, pid = exampled.start("-l", "syslog")
    exampled.syslog.wait_text("started")
    path = exampled.syslog.path
    exampled.syslog.close()
    exampled.syslog = DgramReceiver(path=path)      # syslogd is back, with a new socket
    # One message may be lost to the restart; the ones after it must arrive.
    for n in range(3):
        exampled.write_config(greeting=f"after restart {n}")
        os.kill(pid, signal.SIGHUP)
        wait_greeting(exampled.port, f"after restart {n}")
    got = exampled.syslog.wait_text("configuration reloaded")
    assert f"exampled[{pid}]: configuration reloaded" in got.text
