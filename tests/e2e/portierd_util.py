"""Helpers for the end-to-end tests of portierd serving (test_portierd_*.py).

One Daemon object is one super-server under test in a test's private directory: the services
it serves (written as an xinetd.conf), its pid file, the daemon log (-filelog) and the
per-connection log (log_type = FILE in `defaults`).

The daemon under test is portierd from $PORTIER_BUILD by default. With PORTIER_DAEMON=xinetd
the same compatibility tests run against xinetd 2.3.15 (Debian package xinetd), to prove that
the log lines and the behaviour match; tests of portier-only behaviour call need_portierd() and
are skipped then. Everything listens on 127.0.0.1 (or ::1) on ports the kernel hands out.

    /usr/bin/python3 -m pytest tests/e2e -k portierd_                         # portierd
    PORTIER_DAEMON=xinetd /usr/bin/python3 -m pytest tests/e2e -k portierd_   # the same, xinetd
    PORTIER_BUILD=$PWD/build/sanitize /usr/bin/python3 -m pytest tests/e2e    # ASan+UBSan build

Sanitizer reports of a detached daemon (whose stderr is /dev/null) are sent to files in the
test's directory (ASAN_OPTIONS/UBSAN_OPTIONS log_path) and fail the test at teardown.
Test servers are in tests/e2e/servers/ (report.py reports the whole spawn contract as JSON).
"""

import errno
import json
import os
import pwd
import re
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

from conftest import (DEFAULT_TIMEOUT, DgramReceiver, clean_env, pid_alive, port_refuses,
                      proc_stat, read_pidfile, wait_for)

KIND = os.environ.get("PORTIER_DAEMON", "portierd")
# PORTIER_TEST_PRIVSEP=1: every portierd under test runs with privilege separation (as root;
# the network process as nobody), so that the whole suite proves it changes no behaviour.
PRIVSEP = os.environ.get("PORTIER_TEST_PRIVSEP") == "1" and os.geteuid() == 0
PRIVSEP_ARGS = ["--privsep-user", "nobody"] if PRIVSEP else []
XINETD = shutil.which("xinetd") or ("/usr/sbin/xinetd" if os.path.exists("/usr/sbin/xinetd")
                                    else None)
SERVERS = Path(__file__).resolve().parent / "servers"
STAMP_RE = re.compile(r"(\d\d)/(1[0-2]|[1-9])/(3[01]|[12]\d|[1-9])@(\d\d):(\d\d):(\d\d): (.*)")
PORTIERD_MSG_RE = re.compile(r"[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d portierd\[(\d+)\]: (.*)")
XINETD_MSG_RE = re.compile(r"\d\d/\d{1,2}/\d{1,2}@\d\d:\d\d:\d\d xinetd\[(\d+)\]: "
                           r"(?:[A-Z]+: )?(?:\d+ \{\w+\} )?(.*)")


def need_portierd(why="portier-only behaviour"):
    if KIND != "portierd":
        pytest.skip(f"{why}: not run against {KIND}")


def server(name):
    return str(SERVERS / name)


def children(pid, network=False):
    """Pids whose parent is pid (any state). With PORTIER_TEST_PRIVSEP=1 the network process
    of a portierd is left out (the tests count servers; serving_pid() finds it), and so is an
    old one draining after a re-exec, unless network is true."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if proc_stat(int(name))["ppid"] == pid and \
                        (network or not (PRIVSEP and is_network_process(int(name), pid))):
                    out.append(int(name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
    return out


def is_network_process(child, parent):
    from conftest import proc_cmdline, proc_status
    return proc_status(child)["Uid"].split()[0] == str(pwd.getpwnam("nobody").pw_uid) and \
        proc_cmdline(child)[:1] == proc_cmdline(parent)[:1]


def descendants(pid):
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def zombies(pid):
    z = []
    for c in children(pid):
        try:
            if proc_stat(c)["state"] == "Z":
                z.append(c)
        except FileNotFoundError:
            pass
    return z


def listening(port, host="127.0.0.1", proto="tcp"):
    """Whether some socket is bound to host:port/proto: a bind of our own fails with
    EADDRINUSE (for TCP with SO_REUSEADDR, which TIME_WAIT leftovers do not block). (Reading /proc/net/tcp is
    too slow on a machine with tens of thousands of TIME_WAIT entries.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as s:
        if proto == "tcp":      # a UDP socket with SO_REUSEADDR could share the port
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return True
            raise
        return False


# --- clients --------------------------------------------------------------------------------

def connect(port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def read_line(s, timeout=DEFAULT_TIMEOUT):
    """Read up to and including the first newline (or EOF); return it decoded."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n") and time.monotonic() < deadline:
        data = s.recv(1)
        if not data:
            break
        buf += data
    return buf.decode(errors="replace")


def read_all(s, timeout=DEFAULT_TIMEOUT):
    s.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = s.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def report(port, host="127.0.0.1"):
    """Connect to a report.py service and return its report (a dict) and the client's own
    address (host, port)."""
    with connect(port, host) as s:
        me = s.getsockname()[:2]
        data = read_all(s)
    assert data.endswith(b"\n"), f"no complete report from {host}:{port}: {data!r}"
    return json.loads(data), me


def hold(port, host="127.0.0.1"):
    """Connect to a hold.sh/stubborn.sh/crash.sh service; return (socket, server pid)."""
    s = connect(port, host)
    line = read_line(s)
    m = re.fullmatch(r"pid (\d+)\n", line)
    assert m, f"unexpected greeting from {host}:{port}: {line!r}"
    return s, int(m.group(1))


def udp_ask(port, data, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, sock=None):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = sock or socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(data, (host, port))
        reply, _ = s.recvfrom(65536)
        return reply
    finally:
        if sock is None:
            s.close()


# --- the daemon -----------------------------------------------------------------------------

def _attr_line(key, value):
    """`key = value`; a key ending in + or - gives xinetd's += and -= operators."""
    if key[-1] in "+-":
        return f"\t{key[:-1]} {key[-1]}= {value}"
    return f"\t{key} = {value}"


DEFAULTS = {
    "log_on_success": "PID HOST EXIT DURATION",
    "log_on_failure": "HOST",
    # xinetd (and portierd) turn a service off for 10 s past 50 connections per second by
    # default; tests that hammer a service must not trip it. The cps tests set their own.
    "cps": "1000000 1",
}


class Daemon:
    """A super-server under test: portierd (default) or xinetd (PORTIER_DAEMON=xinetd)."""

    def __init__(self, kind, binary, procs, tmp_path, sockdir):
        self.kind, self.bin, self.procs = kind, binary, procs
        self.dir = Path(tmp_path)
        self.conf = self.dir / "portier.conf"
        self.pidfile = self.dir / "daemon.pid"
        self.dlog = self.dir / "daemon.log"
        self.svclog = self.dir / "services.log"
        self.syslog = DgramReceiver(path=Path(sockdir) / "devlog")
        if PRIVSEP:
            # the network process (nobody) logs there: open to all, as /dev/log is
            os.chmod(sockdir, 0o755)
            os.chmod(self.syslog.address, 0o666)
        # every portierd under test has its own control socket, never /run/portierd.sock
        self.control_socket = Path(sockdir) / "ctl.sock"
        self.services = {}
        self.defaults = dict(DEFAULTS)
        self.extra_text = ""
        self.pid = None
        self.sanitizer_dir = self.dir
        if PRIVSEP:
            # the network process (nobody) cannot enter tmp_path: its reports go where it can
            self.sanitizer_dir = Path(sockdir) / "sanitizer"
            self.sanitizer_dir.mkdir()
            os.chmod(self.sanitizer_dir, 0o1777)

    # configuration

    def add(self, sid, srv=None, args=None, port=None, **attrs):
        """Add (or replace) a service; returns its port. Attribute values are strings; None
        leaves an attribute out. Defaults: UNLISTED stream tcp, wait = no, bind 127.0.0.1."""
        if port is None:
            old = self.services.get(sid)
            port = old["port"] if old else None
        if port is None:
            port = self._new_port(attrs.get("bind") or "127.0.0.1",
                                  attrs.get("protocol") == "udp" or
                                  attrs.get("socket_type") == "dgram")
        a = {"type": "UNLISTED"}
        if "flags" in attrs:            # xinetd reads NAMEINARGS only if before server_args
            a["flags"] = attrs.pop("flags")
        a.update({"socket_type": "stream", "protocol": "tcp", "wait": "no",
                  "bind": "127.0.0.1", "port": str(port), "user": "root"})
        if srv is not None:
            a["server"] = srv
        if args is not None:
            a["server_args"] = args
        a.update(attrs)
        a["port"] = str(port)
        a = {k: v for k, v in a.items() if v is not None}
        self.services[sid] = {"attrs": a, "port": port}
        return port

    def _new_port(self, host, udp):
        """A port the kernel just handed out, and that no other service of this configuration
        has: bind(0) may hand out the same one again (it often does after many connections),
        and two services on one port would make the configuration invalid."""
        from conftest import free_port
        taken = {s["port"] for s in self.services.values()}
        for _ in range(100):
            if udp:
                with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                   socket.SOCK_DGRAM) as s:
                    s.bind((host, 0))
                    port = s.getsockname()[1]
            else:
                port = free_port(host)
            if port not in taken:
                return port
        raise AssertionError(f"no port free of this configuration's {len(taken)} on {host}")

    def remove(self, sid):
        del self.services[sid]

    def text(self):
        lines = ["# written by portierd_util.py", "defaults", "{",
                 f"\tlog_type = FILE {self.svclog}"]
        lines += [f"\t{k} = {v}" for k, v in self.defaults.items() if v is not None]
        lines += ["}", ""]
        for sid, s in self.services.items():
            name = s["attrs"].get("_name") or sid
            lines += [f"service {name}", "{"]
            if name != sid:
                lines.append(f"\tid = {sid}")
            lines += [_attr_line(k, v) for k, v in s["attrs"].items() if k != "_name"]
            lines += ["}", ""]
        return "\n".join(lines) + self.extra_text

    def write(self, text=None):
        tmp = self.conf.with_name(self.conf.name + ".new")
        tmp.write_text(self.text() if text is None else text)
        os.replace(tmp, self.conf)

    # starting and stopping

    def argv(self, *extra):
        if self.kind == "xinetd":
            return [XINETD, "-f", self.conf, "-pidfile", self.pidfile, "-filelog", self.dlog,
                    *extra]
        return [self.bin, "-f", self.conf, "-pidfile", self.pidfile, "-filelog", self.dlog,
                "--syslog-socket", self.syslog.address, "--control-socket", self.control_socket,
                *PRIVSEP_ARGS, *extra]

    def run(self, *extra, env=None, write=True, timeout=60, prefix=(), **kw):
        """Run the starting command to completion (detached mode); adopt the daemon if the pid
        file names a live one. Returns the Result."""
        if write:
            self.write()
        env = dict(env or clean_env())
        # sanitizer reports of a detached daemon would go to /dev/null: send them to files
        # that the fixture checks at teardown (harmless for a build without sanitizers)
        env.setdefault("ASAN_OPTIONS", f"log_path={self.sanitizer_dir}/asan")
        env.setdefault("UBSAN_OPTIONS", f"log_path={self.sanitizer_dir}/ubsan:"
                                        "print_stacktrace=1")
        r = self.procs.run([*prefix, *self.argv(*extra)], env=env, timeout=timeout, **kw)
        if self.kind == "xinetd" and r.rc == 0:
            # xinetd's starting command returns before the daemon is ready
            wait_for(lambda: "Started working" in self.dlog_text() or
                     "Exiting" in self.dlog_text(), what="xinetd to start working")
            wait_for(lambda: (read_pidfile(self.pidfile) or "").strip().isdigit(),
                     what="xinetd's pid file")
        content = read_pidfile(self.pidfile)
        if content and content.strip().isdigit() and pid_alive(int(content)):
            self.pid = self.procs.adopt(int(content))
        return r

    def start(self, *extra, **kw):
        r = self.run(*extra, **kw)
        assert r.rc == 0, f"{self.kind} failed to start: {r!r}\ndaemon log: {self.dlog_text()}"
        assert self.pid and pid_alive(self.pid), f"no live {self.kind} after start: {r!r}"
        return r

    def kill(self, sig):
        os.kill(self.pid, sig)

    def reload(self, sig=signal.SIGHUP, write=True, wait=True):
        """Rewrite the config, send sig and wait for the reconfiguration to be logged."""
        if write:
            self.write()
        before = self.dlog_text().count("Reconfigured:")
        os.kill(self.pid, sig)
        if wait:
            wait_for(lambda: self.dlog_text().count("Reconfigured:") > before,
                     what=f"'Reconfigured:' in the daemon log; log: {self.dlog_text()[-2000:]}")

    def stop(self, sig=signal.SIGTERM, timeout=DEFAULT_TIMEOUT):
        os.kill(self.pid, sig)
        code = self.procs.wait_exit(self.pid, timeout)
        return code

    def sanitizer_reports(self):
        """Reports left by an ASan/UBSan build of the daemon (log_path files)."""
        out = []
        for p in sorted([*Path(self.sanitizer_dir).glob("asan.*"),
                         *Path(self.sanitizer_dir).glob("ubsan.*")]):
            out.append(f"== {p.name}\n{p.read_text(errors='replace')}")
        return out

    def teardown(self):
        self.syslog.close()
        if self.pid and pid_alive(self.pid):
            kids = descendants(self.pid)
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for k in kids:
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # logs

    def dlog_text(self):
        try:
            return self.dlog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def messages(self):
        """The daemon's own messages (-filelog), without their prefix."""
        rx = XINETD_MSG_RE if self.kind == "xinetd" else PORTIERD_MSG_RE
        out = []
        for line in self.dlog_text().splitlines():
            m = rx.fullmatch(line)
            out.append(m.group(2) if m else line)
        return out

    def wait_message(self, needle, timeout=DEFAULT_TIMEOUT):
        def check():
            return [m for m in self.messages() if needle in m]
        try:
            return wait_for(check, timeout, what=f"a daemon message with {needle!r}")[0]
        except AssertionError as e:
            raise AssertionError(f"{e}; daemon log:\n{self.dlog_text()}") from None

    def log(self):
        """The per-connection log lines (FILE), with the time stamp checked and removed."""
        try:
            text = self.svclog.read_text(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            m = STAMP_RE.fullmatch(line)
            assert m, f"log line without xinetd's FILE time stamp: {line!r}"
            out.append(m.group(7))
        return out

    def wait_log(self, pattern, count=1, timeout=DEFAULT_TIMEOUT):
        """Wait until count lines of the per-connection log fully match the regex; return
        the match objects."""
        rx = re.compile(pattern)

        def check():
            found = [m for m in (rx.fullmatch(line) for line in self.log()) if m]
            return found if len(found) >= count else None
        try:
            return wait_for(check, timeout, what=f"{count} log line(s) matching {pattern!r}")
        except AssertionError as e:
            raise AssertionError(f"{e}; log: {self.log()!r}") from None

    def zombies(self):
        return zombies(self.pid)


def serving_pid(daemon):
    """The process that holds the daemon's sockets and serves: the daemon itself, or with
    privilege separation (PORTIER_TEST_PRIVSEP=1) its network process, the child of the
    main pid that runs the same program as nobody."""
    if not PRIVSEP or daemon.kind != "portierd":
        return daemon.pid

    def find():
        # after a re-exec the old network process may still drain: the newest one serves
        found = []
        for name in os.listdir("/proc"):
            try:
                if name.isdigit() and proc_stat(int(name))["ppid"] == daemon.pid and \
                        is_network_process(int(name), daemon.pid):
                    found.append((start_time(int(name)), int(name)))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
        return max(found)[1] if found else None
    return wait_for(find, what="the network process")


def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def need_no_privsep(why):
    if PRIVSEP:
        pytest.skip(f"{why}: not with privilege separation (PORTIER_TEST_PRIVSEP=1)")


def socket_inode(port, host="127.0.0.1", proto="tcp"):
    """The inode of the socket bound to host:port/proto (listening, for TCP), or None."""
    hexhost = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    if len(hexhost) == 4:
        want = "%08X:%04X" % (int.from_bytes(hexhost, "little"), port)
        table = f"/proc/net/{proto}"
    else:
        words = [int.from_bytes(hexhost[i:i + 4], "little") for i in range(0, 16, 4)]
        want = "".join("%08X" % w for w in words) + ":%04X" % port
        table = f"/proc/net/{proto}6"
    with open(table) as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want and (proto != "tcp" or fields[3] == "0A"):
                return int(fields[9])
    return None
