"""The portierd skeleton: xinetd's command line (single-dash long options, never bundles), and
the daemon guarantees of libportier -- detaching, pid file, logging, notify, SIGTERM.

Every start passes -stayalive: portierd with no service would otherwise be allowed to exit
(xinetd's rule), and these tests are about the process, not about services."""

import os
import re
import signal

import pytest

from conftest import (SYSLOG_RE, DgramReceiver, clean_env, notify_has, pid_alive, proc_fds,
                      proc_stat, read_pidfile, wait_for)


class Portierd:
    def __init__(self, binary, procs, tmp_path, sockdir):
        self.bin, self.procs, self.dir = binary, procs, tmp_path
        self.conf = tmp_path / "portier.conf"
        self.conf.write_text("# no services yet\n")
        self.pidfile = tmp_path / "portierd.pid"
        self.syslog = DgramReceiver(path=sockdir / "devlog")

    def args(self, *extra, pidfile=None):
        return [self.bin, "-f", self.conf, "-pidfile", pidfile or self.pidfile, "-stayalive",
                "--syslog-socket", self.syslog.address, *extra]

    def start(self, *extra, env=None):
        r = self.procs.run(self.args(*extra), env=env or clean_env(), timeout=60)
        content = read_pidfile(self.pidfile)
        if content and content.strip().isdigit() and pid_alive(int(content)):
            self.procs.adopt(int(content))
        return r


@pytest.fixture
def portierd(portierd_bin, procs, tmp_path, sockdir):
    p = Portierd(portierd_bin, procs, tmp_path, sockdir)
    yield p
    p.syslog.close()


def _started(portierd, r):
    assert r.rc == 0, r
    content = read_pidfile(portierd.pidfile)
    assert content is not None and re.fullmatch(r"[1-9]\d*\n", content), (content, r)
    pid = int(content)
    assert pid_alive(pid)
    return pid


@pytest.mark.parametrize("flag", ["--version", "-version"])
def test_version(portierd, procs, flag):
    r = procs.run([portierd.bin, flag], timeout=20)
    assert r.rc == 0, r
    assert r.out == "portierd 0.1.0\n", r


def test_help_lists_options(portierd, procs):
    r = procs.run([portierd.bin, "--help"], timeout=20)
    assert r.rc == 0, r
    for opt in ["-f", "-d", "-dontfork", "-stayalive", "-pidfile", "-syslog", "-filelog",
                "-limit", "-logprocs", "-inetd_compat", "-n"]:
        assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", r.out), \
            f"--help does not list {opt}: {r.out!r}"


@pytest.mark.parametrize("argv", [["-x"], ["--bogus"], ["-df"], ["-df", "/dev/null"]])
def test_unknown_option(portierd, procs, argv):
    r = procs.run([portierd.bin, *argv, "-pidfile", portierd.pidfile], timeout=20)
    assert r.rc == 2, r
    assert "unknown option" in r.err, r
    assert not portierd.pidfile.exists()


@pytest.mark.parametrize("opt", ["-f", "-pidfile", "-filelog", "-syslog", "-limit"])
def test_option_missing_its_argument(portierd, procs, opt):
    r = procs.run([portierd.bin, "-pidfile", portierd.pidfile, opt], timeout=20)
    assert r.rc == 2, r
    assert r.err.strip(), r


def test_unreadable_config(portierd, procs):
    missing = portierd.dir / "missing.conf"
    r = procs.run([portierd.bin, "-f", missing, "-pidfile", portierd.pidfile, "-stayalive"],
                  timeout=30)
    assert r.rc != 0, r
    assert str(missing) in r.err, r
    wait_for(lambda: not procs.leftovers(), what="no portierd left")


def test_detaches_and_stops(portierd, procs):
    r = portierd.start()
    pid = _started(portierd, r)
    st = proc_stat(pid)
    assert st["session"] != pid, f"portierd is a session leader: {st}"
    assert st["session"] != os.getsid(0)
    assert st["tty_nr"] == 0
    fds = proc_fds(pid)
    assert all(fds.get(fd) == "/dev/null" for fd in (0, 1, 2)), fds
    assert pid_alive(pid)
    os.kill(pid, signal.SIGTERM)
    code = procs.wait_exit(pid)
    if procs.subreaper:
        assert code == 0, f"portierd exited with {code} on SIGTERM"
    assert not portierd.pidfile.exists()


def test_xinetd_noop_options_accepted(portierd, procs):
    r = portierd.start("-reuse", "-shutdownprocs", "-inetd_ipv6")
    pid = _started(portierd, r)
    os.kill(pid, signal.SIGTERM)
    procs.wait_exit(pid)


def test_second_instance_refused(portierd, procs):
    pid = _started(portierd, portierd.start())
    r = procs.run(portierd.args(), env=clean_env(), timeout=30)
    assert r.rc != 0, r
    assert f"already running (pid {pid})" in r.err, r
    assert pid_alive(pid)
    assert read_pidfile(portierd.pidfile) == f"{pid}\n"


def test_filelog(portierd, procs):
    log = portierd.dir / "portierd.log"
    pid = _started(portierd, portierd.start("-filelog", log))
    wait_for(lambda: log.exists() and f"portierd[{pid}]: " in log.read_text(),
             what=f"a portierd[{pid}] line in {log}")
    os.kill(pid, signal.SIGTERM)
    procs.wait_exit(pid)


@pytest.mark.parametrize("ident", [None, "xinetd"])
def test_syslog_ident(portierd, procs, ident):
    extra = ["--log-ident", ident] if ident else []
    pid = _started(portierd, portierd.start(*extra))
    want = ident or "portierd"
    d = portierd.syslog.wait(lambda d: True, what="a syslog datagram")
    m = SYSLOG_RE.fullmatch(d.text)
    assert m, f"not a syslog datagram: {d}"
    assert m["ident"] == want and int(m["pid"]) == pid, d
    assert int(m["pri"]) >> 3 == 3, f"facility is not daemon: {d}"


@pytest.mark.parametrize("flag", ["-d", "-dontfork"])
def test_foreground(portierd, procs, notify_socket, flag):
    p, out, err = procs.spawn(portierd.args(flag),
                              env=clean_env(NOTIFY_SOCKET=notify_socket.address))
    d = notify_socket.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1")
    assert p.poll() is None, "portierd did not stay in the foreground"
    assert d.pid == p.pid
    wait_for(lambda: read_pidfile(portierd.pidfile) == f"{p.pid}\n",
             what="the pid file to name the foreground process")
    p.send_signal(signal.SIGTERM)
    notify_socket.wait(lambda d: notify_has(d, "STOPPING", "1"), what="STOPPING=1")
    assert p.wait(timeout=10) == 0
    assert not portierd.pidfile.exists()


def test_notify_detached(portierd, procs, notify_socket_abstract):
    r = portierd.start(env=clean_env(NOTIFY_SOCKET=notify_socket_abstract.address))
    pid = _started(portierd, r)
    notify_socket_abstract.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1")
    os.kill(pid, signal.SIGTERM)
    notify_socket_abstract.wait(lambda d: notify_has(d, "STOPPING", "1"), what="STOPPING=1")
    procs.wait_exit(pid)
    assert not portierd.pidfile.exists()
