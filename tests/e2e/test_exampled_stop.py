"""SIGTERM and SIGINT stop the daemon cleanly: exit 0, pid file removed -- only if it is still
the daemon's own (daemon-rules.md P6c)."""

import os
import signal

import pytest

from conftest import pid_alive, port_refuses, read_pidfile, wait_for


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_and_removes_pid_file(exampled, procs, sig):
    exampled.write_config()
    _, pid = exampled.start()
    status = exampled.stop(pid, sig)
    if procs.subreaper:
        assert status == 0, f"the daemon exited with {status} on {signal.Signals(sig).name}"
    assert not pid_alive(pid)
    assert not exampled.pidfile.exists(), \
        f"pid file left behind: {read_pidfile(exampled.pidfile)!r}"
    assert port_refuses(exampled.port)


def test_foreign_pid_file_not_removed(exampled, procs):
    """If the pid file was replaced (another instance's, or an admin's), the stopping daemon
    leaves the new file alone."""
    exampled.write_config()
    _, pid = exampled.start()
    replacement = exampled.dir / "other.pid"
    replacement.write_text("12345\n")
    os.replace(replacement, exampled.pidfile)
    exampled.stop(pid)
    assert not pid_alive(pid)
    assert read_pidfile(exampled.pidfile) == "12345\n"


def test_stop_logs_stopping(exampled):
    exampled.write_config()
    _, pid = exampled.start("-l", "syslog")
    exampled.syslog.wait_text("started, listening on")
    os.kill(pid, signal.SIGTERM)
    m = exampled.syslog.wait_text("stopping")
    assert f"exampled[{pid}]: stopping" in m.text, m
    wait_for(lambda: not pid_alive(pid), what="the daemon to exit")
