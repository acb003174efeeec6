"""Running unprivileged (uid 65534, through setpriv): the daemon starts, serves (servers run as
its own uid; `user`/`group` are ignored with a warning, as in xinetd), logs and stops. And fork
failure: RLIMIT_NPROC is only enforced for non-root users, so the daemon runs as uid 65534 with
a low RLIMIT_NPROC; a connection whose server cannot be forked logs `FAIL: <id> fork`, and the
daemon serves again once processes free up."""

import os
import resource
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from conftest import fetch, pid_alive, port_refuses, proc_status, wait_for
from fork_util import fails_then_serves_again, served_once_a_server_ends
from portierd_util import Daemon, connect, hold, need_portierd, read_all, report, server

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to uid 65534"),
    pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) is not installed"),
]
PREFIX = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
PY = "/usr/bin/python3"


@pytest.fixture
def nobody_daemon(daemon, procs, sockdir):
    """The daemon fixture, moved to a directory uid 65534 can write."""
    d = Path(tempfile.mkdtemp(prefix="ptr-nobody-", dir="/tmp"))
    os.chown(d, NOBODY, NOBODY)
    os.chmod(sockdir, 0o755)
    (sockdir / "nobody").mkdir()
    nd = Daemon(daemon.kind, daemon.bin, procs, d, sockdir / "nobody")
    os.chmod(nd.syslog.address, 0o666)
    yield nd
    nd.teardown()
    reports = nd.sanitizer_reports()
    shutil.rmtree(d, ignore_errors=True)
    if reports:
        pytest.fail("sanitizer reports from the daemon:\n" + "\n".join(reports)[:20000],
                    pytrace=False)


def _tasks_of(uid):
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                st = proc_status(int(name))
                if int(st["Uid"].split()[0]) == uid:
                    n += int(st["Threads"])
            except (FileNotFoundError, ProcessLookupError, KeyError, ValueError):
                pass
    return n


def test_runs_unprivileged(nobody_daemon):
    d = nobody_daemon
    port = d.add("me", PY, f"-S {server('report.py')}", user="nobody")
    d.start(prefix=PREFIX)
    assert proc_status(d.pid)["Uid"].split() == [str(NOBODY)] * 4
    r, _ = report(port)
    assert r["Uid"].split() == [str(NOBODY)] * 4, "the server does not run as the daemon's uid"
    d.wait_log(rf"EXIT: me status=0 pid={r['pid']} duration=\d+\(sec\)")
    assert d.pidfile.exists()
    d.stop()
    wait_for(lambda: not d.pidfile.exists(), what="the pid file to be removed")


def test_user_ignored_when_unprivileged(nobody_daemon):
    """user = root while the daemon is not root: ignored with one warning, the server runs as
    the daemon's uid. (xinetd 2.3.15.3 tries setuid in the child, logs "setuid failed" and the
    server never runs: EXIT status=1.)"""
    need_portierd("xinetd 2.3.15.3 fails the server instead")
    d = nobody_daemon
    port = d.add("me", PY, f"-S {server('report.py')}", user="root", group="root")
    d.start(prefix=PREFIX)
    r, _ = report(port)
    assert r["Uid"].split() == [str(NOBODY)] * 4
    assert r["Gid"].split() == [str(NOBODY)] * 4
    d.wait_message(f"service 'me': not running as root: 'user' and 'group' are ignored "
                   f"(the server runs as uid {NOBODY})")
    report(port)
    d.wait_log(r"EXIT: me status=0 .*", count=2)
    warnings = [m for m in d.messages() if "are ignored" in m]
    assert len(warnings) == 1, warnings


def test_chroot_service_not_served_unprivileged(nobody_daemon):
    """chroot needs root: without it the service is refused at load with the reason (never a
    server running unprotected), and the other services are served."""
    need_portierd("chroot is portier's")
    d = nobody_daemon
    ok = d.add("ok", "/bin/echo", "ok", user="nobody")
    jailed = d.add("jailed", "/bin/echo", "jailed", user="nobody", chroot="/")
    d.start(prefix=PREFIX)
    d.wait_message("chroot = /: portierd does not run as root")
    assert fetch(ok) == b"ok\n"
    assert port_refuses(jailed)


def test_fork_failure(nobody_daemon):
    need_portierd("xinetd retries forking and is hard to bound here")
    d = nobody_daemon
    port = d.add("f", server("hold.sh"), flags="NORETRY")
    # the starting command, its intermediate child and the daemon run at once while starting;
    # once started, the daemon alone: two servers fit, the third fork fails
    limit = _tasks_of(NOBODY) + 3

    def low_nproc():
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    d.start(prefix=PREFIX, preexec_fn=low_nproc)
    wait_for(lambda: _tasks_of(NOBODY) == limit - 2,
             what=f"uid {NOBODY} to run {limit - 2} tasks (the daemon started)")
    fails_then_serves_again(d, port, "f", [hold(port), hold(port)])
    os.kill(d.pid, signal.SIGTERM)
    d.procs.wait_exit(d.pid)


def _at_nproc_limit(d, port, flags=None):
    """Start d as uid 65534 with RLIMIT_NPROC leaving room for two servers; hold two."""
    limit = _tasks_of(NOBODY) + 3

    def low_nproc():
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    d.start(prefix=PREFIX, preexec_fn=low_nproc)
    wait_for(lambda: _tasks_of(NOBODY) == limit - 2,
             what=f"uid {NOBODY} to run {limit - 2} tasks (the daemon started)")
    return [hold(port), hold(port)]


def test_fork_retry_serves_once_a_process_frees(nobody_daemon):
    """Without NORETRY a failed fork is retried (every second, a few times): a connection
    that arrived at the limit is served once a process slot frees in time."""
    need_portierd("xinetd retries forking and is hard to bound here")
    d = nobody_daemon
    port = d.add("r", server("hold.sh"))
    served_once_a_server_ends(d, port, "r", _at_nproc_limit(d, port))


def test_stop_with_fork_retry_pending(nobody_daemon):
    need_portierd("xinetd retries forking and is hard to bound here")
    d = nobody_daemon
    port = d.add("r", server("hold.sh"))
    held = _at_nproc_limit(d, port)
    c = connect(port)
    d.wait_message("service 'r': cannot fork")
    code = d.stop()
    if d.procs.subreaper:
        assert code == 0
    assert read_all(c, timeout=5) == b""
    c.close()
    for s, pid in held:
        wait_for(lambda: not pid_alive(pid), what=f"server {pid} ended")
        s.close()
