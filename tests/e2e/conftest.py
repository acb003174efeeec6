"""Shared fixtures for portier's end-to-end tests.

The tests drive the real programs from $PORTIER_BUILD (default: build/ at the top of this
checkout), so the same modules run against build/ and build/sanitize/. Everything happens on
loopback with ports picked by the kernel, every wait is bounded by a deadline, and every
process a test starts is tracked by pid and SIGKILLed at teardown if it is still there.

Nothing here is autouse: the config-parser tests (test_conf*.py) share this directory and must
not pay for, or be broken by, the daemon fixtures.

Fixtures:
  build_dir, exampled_bin, portierd_bin   the programs under test
  procs       a ProcTracker: start processes, adopt detached daemons, kill leftovers
  sockdir     a short per-test directory for AF_UNIX socket paths (108-byte limit)
  notify_socket / notify_socket_abstract  a NOTIFY_SOCKET receiver (path, "@name")
  syslog_receiver   an AF_UNIX SOCK_DGRAM socket standing in for /dev/log
  exampled    an ExampledEnv: config, pid file, port and start helpers for exampled
Helpers: free_port, fetch, wait_for, wait_greeting, proc_stat, proc_status, proc_fds, proc_cwd,
pid_alive, read_pidfile, clean_env.
"""

import ctypes
import errno
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 10.0          # seconds any single condition may take to come true
MY_MODULES = ("test_exampled_", "test_portierd_")
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# Variables that would change a daemon's behaviour if inherited from the caller's environment.
FOREIGN_ENV = ("NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_USEC",
               "WATCHDOG_PID", "JOURNAL_STREAM", "XDG_RUNTIME_DIR")


def pytest_collection_modifyitems(config, items):
    """Give every test of this suite's own modules a hard time bound (pytest-timeout)."""
    for item in items:
        if item.module.__name__.startswith(MY_MODULES) and \
                item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(120))


# --- small helpers -------------------------------------------------------------------------

def wait_for(pred, timeout=DEFAULT_TIMEOUT, interval=0.02, what="a condition"):
    """Poll pred() until it returns something true; return that value or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def free_port(host="127.0.0.1"):
    """A TCP port the kernel just handed out on host (bound to 0, read, closed)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def fetch(port, host="127.0.0.1", timeout=5.0):
    """Connect, read until EOF, return the bytes. Raises OSError if the connection fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = s.recv(4096)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def try_fetch(port, host="127.0.0.1", timeout=2.0):
    """fetch(), or None when the connection is refused or reset or times out."""
    try:
        return fetch(port, host, timeout)
    except OSError:
        return None


def wait_greeting(port, greeting, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
    """Poll the port until it serves exactly greeting + "\\n"; fail with the last reply seen."""
    want = greeting.encode() + b"\n"
    last = []

    def check():
        got = try_fetch(port, host)
        last[:] = [got]
        return got == want
    try:
        wait_for(check, timeout, interval=0.05, what=f"{host}:{port} to serve {want!r}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last reply: {last[0]!r}") from None


def port_refuses(port, host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            s.connect((host, port))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        return False


def clean_env(**extra):
    """os.environ without the service-manager variables, plus extra (None removes a key)."""
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def read_pidfile(path):
    """The pid file's contents as a string, or None if it does not exist."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return None


# --- /proc ---------------------------------------------------------------------------------

def proc_stat(pid):
    """Fields of /proc/<pid>/stat by name (comm may contain spaces and parentheses)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    head, _, tail = text.rpartition(")")
    f = tail.split()
    return {
        "pid": int(head.split("(", 1)[0]), "comm": head.split("(", 1)[1],
        "state": f[0], "ppid": int(f[1]), "pgrp": int(f[2]), "session": int(f[3]),
        "tty_nr": int(f[4]), "tpgid": int(f[5]), "starttime": int(f[19]),
    }


def proc_status(pid):
    """/proc/<pid>/status as a dict of strings."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def proc_fds(pid):
    """{fd: readlink target} of /proc/<pid>/fd."""
    out = {}
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            out[int(name)] = os.readlink(f"{base}/{name}")
        except FileNotFoundError:
            pass
    return out


def proc_cwd(pid):
    return os.readlink(f"/proc/{pid}/cwd")


def proc_cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def pid_alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        return proc_stat(pid)["state"] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def sig_mask(value):
    """The set of signal numbers in a SigIgn/SigBlk/SigCgt hex mask."""
    m = int(value, 16)
    return {n + 1 for n in range(64) if m >> n & 1}


# --- processes -----------------------------------------------------------------------------

_PR_SET_CHILD_SUBREAPER = 36


def _set_subreaper(on):
    """Make this process the reaper of orphans started by the test (so a detached daemon's exit
    status can be read). Returns whether it worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Result:
    """What a finished command left: exit code, output, time taken."""

    def __init__(self, argv, rc, out, err, elapsed):
        self.argv, self.rc, self.out, self.err, self.elapsed = argv, rc, out, err, elapsed

    def __repr__(self):
        return (f"Result(argv={self.argv!r}, rc={self.rc}, elapsed={self.elapsed:.2f}s,\n"
                f"  stdout={self.out!r},\n  stderr={self.err!r})")


class ProcTracker:
    """Starts processes, remembers every pid, and kills what is left at teardown.

    Detached daemons are not our children: adopt(pid) records them with their start time, so
    teardown only ever kills that very process (never a recycled pid). As a last safety net,
    teardown also kills processes whose command line mentions this test's private directory:
    only this test can have started those.
    """

    def __init__(self, tag, outdir):
        self.tag = str(tag)
        self.outdir = Path(outdir)
        self.popens = []
        self.adopted = {}       # pid -> starttime
        self.started = time.monotonic()
        self.subreaper = _set_subreaper(True)
        self._n = 0

    # starting things

    def popen(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("env", clean_env())
        p = subprocess.Popen([str(a) for a in argv], **kw)
        self.popens.append(p)
        return p

    def spawn(self, argv, **kw):
        """popen() with stdout and stderr sent to files (never pipes: a daemon that kept them
        open would hang the reader). Returns (Popen, out_path, err_path)."""
        self._n += 1
        out = self.outdir / f"cmd{self._n}.out"
        err = self.outdir / f"cmd{self._n}.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            p = self.popen(argv, stdout=fo, stderr=fe, **kw)
        return p, out, err

    def run(self, argv, timeout=30.0, **kw):
        """Run a command to completion (bounded); return a Result."""
        t0 = time.monotonic()
        p, out, err = self.spawn(argv, **kw)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            raise AssertionError(f"{argv!r} did not finish within {timeout}s; stderr: "
                                 f"{err.read_text(errors='replace')!r}")
        elapsed = time.monotonic() - t0
        return Result([str(a) for a in argv], rc, out.read_text(errors="replace"),
                      err.read_text(errors="replace"), elapsed)

    def adopt(self, pid):
        """Track a process we did not fork ourselves (a detached daemon)."""
        pid = int(pid)
        try:
            self.adopted[pid] = proc_stat(pid)["starttime"]
        except FileNotFoundError:
            self.adopted[pid] = None
        return pid

    # waiting

    def wait_exit(self, pid, timeout=DEFAULT_TIMEOUT):
        """Wait until pid has exited. Returns its exit code (negative: killed by that signal)
        when we can reap it (our child, or an orphan reparented to us), else None. Fails at
        the deadline."""
        for p in self.popens:
            if p.pid == pid:
                try:
                    return p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"pid {pid} still running after {timeout}s") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                got, status = os.waitpid(pid, os.WNOHANG)
                if got == pid:
                    return os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                if not pid_alive(pid):
                    return None
            if time.monotonic() >= deadline:
                raise AssertionError(f"pid {pid} still running after {timeout}s")
            time.sleep(0.02)

    # cleaning up

    def _same_process(self, pid, starttime):
        try:
            st = proc_stat(pid)
        except FileNotFoundError:
            return False
        return starttime is None or st["starttime"] == starttime

    def _reap(self, pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def leftovers(self):
        """Pids of live processes whose command line mentions this test's directory."""
        found = []
        needle = self.tag.encode() + b"/"
        me = os.getpid()
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            if any(needle in arg for arg in proc_cmdline(int(name))) and pid_alive(int(name)):
                found.append(int(name))
        return found

    def cleanup(self):
        for p in self.popens:
            if p.poll() is None:
                p.kill()
        for p in self.popens:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for pid, starttime in self.adopted.items():
            if pid_alive(pid) and self._same_process(pid, starttime):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        pending = set(self.adopted) | set(self.leftovers())
        while pending and time.monotonic() < deadline:
            for pid in list(pending):
                self._reap(pid)
                if not pid_alive(pid):
                    pending.discard(pid)
            time.sleep(0.02)
        self._reap_orphans()
        if self.subreaper:
            _set_subreaper(False)

    def _reap_orphans(self):
        """Reap zombie daemons (and intermediate children) reparented to us during this test."""
        me = os.getpid()
        ours = {p.pid for p in self.popens}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                st = proc_stat(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            if st["ppid"] == me and st["state"] == "Z" and pid not in ours and \
                    st["comm"] in ("exampled", "portierd", "python3", "sh"):
                self._reap(pid)


@pytest.fixture
def procs(tmp_path):
    tracker = ProcTracker(tmp_path, tmp_path)
    yield tracker
    tracker.cleanup()


@pytest.fixture
def sockdir():
    """A short directory for AF_UNIX socket paths (tmp_path can exceed sun_path's 108 bytes)."""
    d = tempfile.mkdtemp(prefix="ptr-", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


# --- the programs --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def build_dir():
    return Path(os.environ.get("PORTIER_BUILD") or TOP / "build").resolve()


def _program(build_dir, name):
    path = build_dir / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing or not executable: build it first (make)")
    return path


@pytest.fixture(scope="session")
def exampled_bin(build_dir):
    return _program(build_dir, "exampled")


@pytest.fixture(scope="session")
def portierd_bin(build_dir):
    return _program(build_dir, "portierd")


# --- datagram receivers: sd_notify and syslog ----------------------------------------------

class Datagram:
    def __init__(self, data, pid):
        self.data = data
        self.pid = pid          # sender's pid from SCM_CREDENTIALS, None if not received
        self.text = data.decode(errors="replace")

    def fields(self):
        """sd_notify VAR=VALUE lines as a dict."""
        out = {}
        for line in self.text.split("\n"):
            if "=" in line:
                k, _, v = line.partition("=")
                out[k] = v
        return out

    def __repr__(self):
        return f"Datagram({self.text!r}, pid={self.pid})"


class DgramReceiver:
    """An AF_UNIX SOCK_DGRAM socket at a path or an abstract name; keeps every datagram seen."""

    def __init__(self, path=None, abstract=None):
        self.path, self.abstract = path, abstract
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if abstract is not None:
            self.sock.bind("\0" + abstract)
            self.address = "@" + abstract
        else:
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.setblocking(False)
        self.seen = []
        self._cursor = 0

    def close(self):
        self.sock.close()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def _drain(self):
        space = socket.CMSG_SPACE(struct.calcsize("3i"))
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(65536, space)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno == errno.EBADF:
                    return
                raise
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("3i", payload[:struct.calcsize("3i")])[0]
            self.seen.append(Datagram(data, pid))

    def all(self):
        self._drain()
        return list(self.seen)

    def texts(self):
        return [d.text for d in self.all()]

    def wait(self, pred, timeout=DEFAULT_TIMEOUT, what=None, new_only=True):
        """Wait for a datagram matching pred (a function of Datagram) that arrived after the
        previous wait() returned; return it. Datagrams before it are skipped, not lost (all())."""
        found = []

        def check():
            self._drain()
            start = self._cursor if new_only else 0
            for i in range(start, len(self.seen)):
                if pred(self.seen[i]):
                    self._cursor = i + 1
                    found.append(self.seen[i])
                    return True
            return False
        try:
            wait_for(check, timeout, what=what or "a datagram")
        except AssertionError as e:
            raise AssertionError(f"{e}; received so far: {self.texts()!r}") from None
        return found[0]

    def wait_text(self, needle, timeout=DEFAULT_TIMEOUT):
        return self.wait(lambda d: needle in d.text, timeout, what=f"a datagram with {needle!r}")


def notify_has(datagram, var, value=None):
    f = datagram.fields()
    return var in f and (value is None or f[var] == value)


@pytest.fixture
def notify_socket(sockdir):
    r = DgramReceiver(path=sockdir / "notify")
    yield r
    r.close()


@pytest.fixture
def notify_socket_abstract():
    r = DgramReceiver(abstract=f"portier-test-{os.getpid()}-{time.monotonic_ns()}")
    yield r
    r.close()


@pytest.fixture
def syslog_receiver(sockdir):
    r = DgramReceiver(path=sockdir / "log")
    yield r
    r.close()


SYSLOG_RE = re.compile(
    rf"<(?P<pri>\d+)>(?P<mon>{MONTHS}) (?P<day>[ 123]\d) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) "
    r"(?P<ident>[^\[\]: ]+)\[(?P<pid>\d+)\]: (?P<msg>.*)")
FILELOG_RE = re.compile(
    rf"(?P<mon>{MONTHS}) (?P<day>[ 123]\d) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) "
    r"(?P<ident>[^\[\]: ]+)\[(?P<pid>\d+)\]: (?P<msg>.*)")


def stamp_is_now(m, slack=120):
    """Whether the Mmm dd hh:mm:ss stamp of a match is within slack seconds of local time now."""
    mon = MONTHS.split("|").index(m["mon"]) + 1
    now = time.time()
    for year in (time.localtime(now).tm_year - 1, time.localtime(now).tm_year,
                 time.localtime(now).tm_year + 1):
        t = time.mktime((year, mon, int(m["day"]), int(m["h"]), int(m["m"]), int(m["s"]),
                         0, 0, -1))
        if abs(t - now) <= slack:
            return True
    return False


# --- exampled ------------------------------------------------------------------------------

class ExampledEnv:
    """One exampled set-up in a test's private directory: config, pid file, port, log socket.

    start() runs the starting command to completion (detached mode) and adopts the daemon;
    popen() starts it in the foreground. Every start passes --syslog-socket to a receiver of
    ours, so no test ever writes to the machine's /dev/log.
    """

    def __init__(self, binary, procs, tmp_path, sockdir):
        self.bin = binary
        self.procs = procs
        self.dir = tmp_path
        self.conf = tmp_path / "exampled.conf"
        self.pidfile = tmp_path / "exampled.pid"
        self.port = free_port()
        self.greeting = "hello from test"
        self.syslog = DgramReceiver(path=sockdir / "devlog")

    def write_config(self, path=None, listen=None, greeting=None, extra=(), port=None):
        """Write a config; listen=False leaves the key out. Returns the path."""
        path = Path(path or self.conf)
        lines = ["# exampled test config", ""]
        if listen is None:
            listen = f"127.0.0.1:{port or self.port}"
        if listen is not False:
            lines.append(f"listen = {listen}")
        if greeting is not None:
            lines.append(f"greeting = {greeting}")
        lines.extend(extra)
        tmp = path.with_name(path.name + ".new")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, path)
        return path

    def args(self, *extra, conf=None, pidfile=None, syslog=True):
        a = [self.bin, "-f", conf or self.conf, "-p", pidfile or self.pidfile]
        if syslog:
            a += ["--syslog-socket", self.syslog.address]
        return a + [str(x) for x in extra]

    def run(self, *extra, conf=None, pidfile=None, timeout=90.0, env=None, **kw):
        """Run the starting command to completion; adopt the daemon named by the pid file.
        Sanitizer reports of the detached daemon go to files the fixture checks."""
        env = dict(env if env is not None else clean_env())
        env.setdefault("ASAN_OPTIONS", f"log_path={self.dir}/asan")
        env.setdefault("UBSAN_OPTIONS", f"log_path={self.dir}/ubsan:print_stacktrace=1")
        r = self.procs.run(self.args(*extra, conf=conf, pidfile=pidfile), timeout=timeout,
                           env=env, **kw)
        content = read_pidfile(pidfile or self.pidfile)
        if content and content.strip().isdigit() and pid_alive(int(content)):
            self.procs.adopt(int(content))
        return r

    def start(self, *extra, **kw):
        """Start detached and expect success; return (Result, daemon pid)."""
        r = self.run(*extra, **kw)
        assert r.rc == 0, f"exampled failed to start: {r!r}\nsyslog: {self.syslog.texts()!r}"
        content = read_pidfile(kw.get("pidfile") or self.pidfile)
        assert content is not None, f"no pid file after a successful start: {r!r}"
        assert re.fullmatch(r"[1-9]\d*\n", content), f"pid file content {content!r}"
        pid = int(content)
        assert pid_alive(pid), f"pid {pid} from the pid file is not running"
        return r, pid

    def popen(self, *extra, env=None, **kw):
        """Start in the foreground (-d); returns (Popen, stdout path, stderr path)."""
        return self.procs.spawn(self.args("-d", *extra), env=env or clean_env(), **kw)

    def stop(self, pid, sig=signal.SIGTERM, timeout=DEFAULT_TIMEOUT):
        os.kill(pid, sig)
        return self.procs.wait_exit(pid, timeout)


@pytest.fixture
def exampled(exampled_bin, procs, tmp_path, sockdir):
    env = ExampledEnv(exampled_bin, procs, tmp_path, sockdir)
    yield env
    env.syslog.close()
    procs.cleanup()     # (the daemons end, and write their reports)
    reports = [f"== {p.name}\n{p.read_text(errors='replace')}"
               for p in sorted([*tmp_path.glob("asan.*"), *tmp_path.glob("ubsan.*")])]
    if reports:
        pytest.fail("sanitizer reports from exampled:\n" + "\n".join(reports)[:20000],
                    pytrace=False)


# --- portierd serving (test_portierd_*.py; helpers in portierd_util.py) ---------------------

@pytest.fixture
def daemon(build_dir, procs, tmp_path, sockdir):
    """The super-server under test: portierd, or xinetd with PORTIER_DAEMON=xinetd (skipped
    when xinetd is not installed). Its descendants and itself are SIGKILLed at teardown."""
    import portierd_util
    if portierd_util.KIND == "xinetd":
        if portierd_util.XINETD is None:
            pytest.skip("xinetd is not installed")
        binary = portierd_util.XINETD
    elif portierd_util.KIND == "portierd":
        binary = _program(build_dir, "portierd")
    else:
        pytest.fail(f"PORTIER_DAEMON={portierd_util.KIND!r}: expected portierd or xinetd")
    d = portierd_util.Daemon(portierd_util.KIND, binary, procs, tmp_path, sockdir)
    yield d
    d.teardown()
    reports = d.sanitizer_reports()
    if reports:
        pytest.fail("sanitizer reports from the daemon:\n" + "\n".join(reports)[:20000],
                    pytrace=False)
