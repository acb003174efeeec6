#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""soak.py — portierd under a long mixed workload: does it keep serving, and leak nothing?

    make soak                                   # 10 minutes (bench/README.md, "Soak")
    make soak SOAK_ARGS='--minutes 1'           # a quick run
    /usr/bin/python3 bench/soak.py --help       # once make soak has built the programs

One portierd (build/portierd, detached, its own pid file, daemon log and control socket in a
temporary directory) serves, on 127.0.0.1 and ports picked at run time:

  exec      bench's tinyserver, an exec'd wait = no stream server (one line, then exit)
  echo      the echo built-in over TCP
  daytime   the daytime built-in over TCP
  udpecho   the echo built-in over UDP (per_source_cps lifted)
  redirect  redirect = to a plain backend this harness runs (rbench backend, "line" port)
  refused   only_from = 192.0.2.1 (TEST-NET-1): every client is refused, by design
  udpwait   an exec'd wait = yes UDP server (a small Python script written here): it echoes
            datagrams and exits after 0.5 s without one; its client sends bursts of 100 and
            pauses 1.5 s, so the server is spawned again and again. (A datagram that arrives
            as the server exits is dropped by design, as xinetd drains the socket then:
            portierd(8). The pause keeps the sender clear of that moment.)

For --minutes, at the same time: a closed-loop load generator per TCP kind (--clients each,
run in chunks of --sample-every seconds so that counts are cumulative), a closed-loop UDP
sender per UDP service (at most --udp-rate datagrams a second), a reload (SIGHUP) every
--reload-every seconds that alternately adds and removes one more exec'd service (whose port
must serve after it is added and refuse after it is removed), and `portierctl status --json`
every --status-every seconds. Every --sample-every seconds: the daemon's open descriptors
(/proc/PID/fd, pipe ends counted apart), VmRSS, CPU (its own, and its reaped servers'), its
running servers, and every workload's cumulative ok/error counts.

Baseline: after --warmup seconds of the same load (and one reload) and once the daemon has
settled (no server running, no in-process connection). End: after the load stops, a last
reload back to the base configuration, and the daemon settled again (at most --settle s).

Exit status 1 when any of these fails:
  - an unexpected error: any failed connection or datagram of any kind (see "Errors" in
    bench/README.md; a refusal by only_from on the refused service is the expected outcome
    and counts as ok), a reload not confirmed within 30 s or whose extra service did not
    appear or disappear, a failed `portierctl status --json`, a server spawned for the
    refused service, or the daemon gone;
  - descriptors at the end above the baseline (pipe ends aside: redirect.c keeps up to 64
    empty pipes, 128 ends, for reuse; more pipe ends than that also fails);
  - VmRSS at the end more than --rss-bound KiB above the baseline.
Only the processes started here are stopped, by pid; the temporary directory is removed.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (Proc, stop_pid, run_loadgen, free_port, cpu_ticks, rss_kib, ...)

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
PIPE_POOL_ENDS = 2 * 64         # redirect.c keeps up to 64 empty pipes for reuse
RELOAD_TIMEOUT = 30.0
UDP_TIMEOUT = 2.0
TCP_KINDS = ("exec", "echo", "daytime", "redirect", "refused")
UDP_KINDS = ("udpecho", "udpwait")

UDP_WAIT_IDLE = 0.5             # the wait = yes server exits after this long without a datagram
UDP_WAIT_BURST = 100            # its client sends bursts of this many datagrams,
UDP_WAIT_PAUSE = 1.5            # then pauses this long: the server exits, and is spawned again
UDP_WAIT_SERVER = f"""#!/usr/bin/python3 -S
# soak.py's wait = yes UDP server: the listening socket is fd 0. Echo each datagram; exit
# after {UDP_WAIT_IDLE} s without one, so that portierd spawns it again (bounded: 100,000).
import socket
s = socket.socket(fileno=0)
s.settimeout({UDP_WAIT_IDLE})
for _ in range(100000):
    try:
        data, addr = s.recvfrom(65536)
    except socket.timeout:
        break
    s.sendto(data, addr)
"""


def log(msg):
    print(f"soak: {msg}", file=sys.stderr, flush=True)


# --- configuration ---------------------------------------------------------------------------

def service(name, port, body, proto="tcp"):
    sock = "dgram" if proto == "udp" else "stream"
    return (f"service {name}\n{{\n\tid = {name}\n\ttype = UNLISTED\n\tsocket_type = {sock}\n"
            f"\tprotocol = {proto}\n\tbind = 127.0.0.1\n\tport = {port}\n{body}}}\n\n")


def builtin(name, port, proto, extra=""):
    """An INTERNAL service: the service name picks the built-in, the id keeps them apart."""
    sock = "dgram" if proto == "udp" else "stream"
    wait = "yes" if proto == "udp" else "no"
    return (f"service {name}\n{{\n\tid = {name}-{sock}\n\ttype = INTERNAL UNLISTED\n"
            f"\tsocket_type = {sock}\n\tprotocol = {proto}\n\twait = {wait}\n"
            f"\tbind = 127.0.0.1\n\tport = {port}\n{extra}}}\n\n")


def conf_text(tmp, ports, bins, udp_server, extra):
    user = "\tuser = root\n" if os.geteuid() == 0 else ""
    tiny = bins["tinyserver"]
    out = ["defaults\n{\n"
           f"\tlog_type = FILE {os.path.join(tmp, 'services.log')}\n"
           "\tlog_on_success = PID HOST EXIT DURATION\n"
           "\tlog_on_failure = HOST\n"
           "\tinstances = UNLIMITED\n"
           "\tcps = 1000000 1\n"
           "}\n\n"]
    out.append(service("exec", ports["exec"], f"\twait = no\n{user}\tserver = {tiny}\n"))
    out.append(builtin("echo", ports["echo"], "tcp"))
    out.append(builtin("daytime", ports["daytime"], "tcp"))
    out.append(builtin("echo", ports["udpecho"], "udp",
                       "\tper_source_cps = 1000000000 1\n"))
    out.append(service("redirect", ports["redirect"],
                       f"\twait = no\n\tredirect = 127.0.0.1 {ports['backend']}\n"))
    out.append(service("refused", ports["refused"],
                       f"\twait = no\n{user}\tserver = {tiny}\n\tonly_from = 192.0.2.1\n"))
    out.append(service("udpwait", ports["udpwait"],
                       f"\twait = yes\n{user}\tserver = {udp_server}\n", proto="udp"))
    if extra:
        out.append(service("extra", ports["extra"], f"\twait = no\n{user}\tserver = {tiny}\n"))
    return "".join(out)


def write_conf(path, text):
    new = path + ".new"
    with open(new, "w") as f:
        f.write(text)
    os.replace(new, path)


def free_udp_port(taken):
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port
    raise RuntimeError("no free UDP loopback port")


# --- the daemon, read from /proc ----------------------------------------------------------------

def fd_counts(pid):
    """(descriptors other than pipes, pipe ends), or None when the daemon is gone."""
    other = pipes = 0
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}").startswith("pipe:"):
                pipes += 1
            else:
                other += 1
        except OSError:
            pass
    return other, pipes


def running_servers(pid):
    """Children of the daemon: the servers it runs (and any not yet reaped)."""
    n = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rpartition(")")[2].split()[1]) == pid:
                        n += 1
            except (OSError, IndexError, ValueError):
                pass
    return n


def cpu_by_process():
    """{pid: (command name, utime+stime ticks)} of every process now."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    text = f.read()
                comm = text[text.index("(") + 1:text.rindex(")")]
                rest = text.rpartition(")")[2].split()
                out[int(name)] = (comm, int(rest[11]) + int(rest[12]))
            except (OSError, ValueError, IndexError):
                pass
    return out


def other_work(before, after, ours, top=6):
    """What else used the CPU between two cpu_by_process() snapshots: the processes alive at
    the end, ours aside, by CPU seconds (those that came and went in between are missed)."""
    used = {}
    for pid, (comm, ticks) in after.items():
        if pid in ours:
            continue
        t0 = before.get(pid, (comm, 0))[1] if before.get(pid, ("", 0))[0] == comm else 0
        used[comm] = used.get(comm, 0) + (ticks - t0) * TICK_S
    best = sorted(((v, k) for k, v in used.items() if v >= 1), reverse=True)[:top]
    return ", ".join(f"{k} {v:.0f} s" for v, k in best) or "nothing over 1 s"


def machine_cpu():
    """(busy, interrupt) CPU seconds of the whole machine so far, from /proc/stat; interrupt is
    the irq and softirq time (much of it the loopback traffic of this run itself)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq) * TICK_S, (irq + softirq) * TICK_S


def own_cpu():
    """CPU seconds of the harness and of everything it started and reaped (load generators,
    portierctl, the starting command)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def ctl_status(bins, sock):
    """portierctl status --json: (dict, None) or (None, why)."""
    try:
        r = subprocess.run([bins["portierctl"], "--socket", sock, "--timeout", "30", "status",
                            "--json"], capture_output=True, text=True, timeout=40)
    except subprocess.TimeoutExpired:
        return None, "portierctl did not return within 40 s"
    if r.returncode != 0:
        return None, f"portierctl exited {r.returncode}: {r.stderr.strip()[:160]}"
    try:
        return json.loads(r.stdout), None
    except ValueError as e:
        return None, f"unreadable JSON ({e})"


def count_reconfigured(dlog):
    try:
        with open(dlog, "rb") as f:
            return f.read().count(b"Reconfigured")
    except OSError:
        return 0


# --- workloads -------------------------------------------------------------------------------

class Workload(threading.Thread):
    """One kind of traffic, run until `until` (monotonic) in chunks; counts are cumulative and
    read by the sampler at any time (under the lock)."""

    def __init__(self, kind):
        super().__init__(name=kind, daemon=True)
        self.kind = kind
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = {}            # error kind -> count
        self.seconds = 0.0          # time under load (sum of the chunks' elapsed)
        self.p99 = []               # p99 µs of each chunk, where there is one
        self.until = 0.0
        self.t0 = 0.0               # chunks end on t0 + k * chunk_s (no drift over a long run)
        self.chunk_s = 10.0
        self.stop_now = threading.Event()
        self.note = ""              # first unusual thing seen (a loadgen failure, ...)

    def counts(self):
        with self.lock:
            return self.ok, sum(self.errors.values())

    def add_error(self, kind, n=1):
        if n:
            self.errors[kind] = self.errors.get(kind, 0) + n

    def remaining(self):
        return self.until - time.monotonic()

    def chunk_length(self, left):
        """Up to the next chunk boundary (at least 0.2 s away), at most `left`."""
        now = time.monotonic() - self.t0
        k = int((now + 0.2) / self.chunk_s) + 1
        return min(k * self.chunk_s - now, left)

    def run(self):
        for _ in range(100000):         # bounded: chunks are at least 0.2 s each
            left = self.remaining()
            if left < 0.2 or self.stop_now.is_set():
                return
            self.chunk(left)


class LoadgenWorkload(Workload):
    def __init__(self, kind, bins, port, clients, extra=()):
        super().__init__(kind)
        self.bins, self.port, self.clients = bins, port, clients
        self.extra = list(extra)

    def chunk(self, left):
        res, err = run.run_loadgen(self.bins, self.port, self.clients, self.chunk_length(left),
                                   5000, extra=self.extra)
        with self.lock:
            if err:
                self.add_error("loadgen")
                self.note = self.note or err
                time.sleep(0.5)
                return
            self.ok += res["ok"]
            self.seconds += res["elapsed"]
            self.p99.append(res["p99_us"])
            for k in run.ERR_KINDS:
                self.add_error(k, res[k])
            if res["other"] and not self.note:
                self.note = f"other errno: {res['other_errno']}"


class EchoWorkload(Workload):
    """echobench conn: connect, send 16 bytes, read them back, close (loadgen only reads)."""

    def __init__(self, bins, port, clients):
        super().__init__("echo")
        self.bins, self.port, self.clients = bins, port, clients

    def chunk(self, left):
        argv = [self.bins["echobench"], "conn", str(self.port), str(self.clients),
                f"{self.chunk_length(left):.3f}"]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=self.chunk_s + 60)
            kv = run.parse_kv(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and \
                r.stdout.strip() else {}
            conns, errors, elapsed = int(kv["conns"]), int(kv["errors"]), float(kv["elapsed"])
        except (subprocess.TimeoutExpired, KeyError, ValueError) as e:
            with self.lock:
                self.add_error("echobench")
                self.note = self.note or f"echobench failed: {e!r}"
            time.sleep(0.5)
            return
        with self.lock:
            self.ok += conns
            self.seconds += elapsed
            self.add_error("failed", errors)


class UdpWorkload(Workload):
    """A closed-loop UDP sender: one datagram, its answer (the same bytes) within 2 s, the
    next; at most `rate` a second."""

    def __init__(self, kind, port, rate, burst=0, pause=0.0):
        super().__init__(kind)
        self.port, self.rate, self.burst, self.pause = port, rate, burst, pause
        self.seq = 0

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect(("127.0.0.1", self.port))
            start = t0 = time.monotonic()
            sent = 0
            while self.remaining() > 0 and not self.stop_now.is_set():
                self.ask(s)
                sent += 1
                if self.burst and sent % self.burst == 0:
                    time.sleep(self.pause)      # the server's idle exit, well clear of both
                    t0 += self.pause            # ends of the pause
                ahead = t0 + sent / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(min(ahead, 1.0))
            with self.lock:
                self.seconds += time.monotonic() - start
        finally:
            s.close()

    def ask(self, s):
        self.seq += 1
        want = b"soak %s %d" % (self.kind.encode(), self.seq)
        deadline = time.monotonic() + UDP_TIMEOUT
        try:
            s.send(want)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout
                s.settimeout(left)
                got = s.recv(65536)
                if got == want:
                    with self.lock:
                        self.ok += 1
                    return
                if not got.startswith(b"soak "):
                    with self.lock:
                        self.add_error("wrong answer")
                        self.note = self.note or f"answer {got[:40]!r} to {want!r}"
                    return
                # a late answer to an earlier datagram (already counted lost): keep waiting
        except socket.timeout:
            with self.lock:
                self.add_error("lost")
        except OSError as e:
            with self.lock:
                self.add_error("other")
                self.note = self.note or f"{e!r}"
            time.sleep(0.1)


# --- the run ---------------------------------------------------------------------------------

class Soak:
    def __init__(self, args, bins, tmp):
        self.args, self.bins, self.tmp = args, bins, tmp
        self.conf = os.path.join(tmp, "portier.conf")
        self.dlog = os.path.join(tmp, "daemon.log")
        self.pidfile = os.path.join(tmp, "portierd.pid")
        self.ctl = os.path.join(tmp, "ctl.sock")
        self.udp_server = os.path.join(tmp, "udpwait.py")
        self.pid = None
        self.backend = None
        self.ports = {}
        self.extra = False
        self.lock = threading.Lock()            # config file and SIGHUP
        self.problems = []                      # unexpected events, not connections
        self.reloads = []                       # seconds from SIGHUP to "Reconfigured"
        self.status_ok = 0
        self.status_failed = 0
        self.samples = []
        self.load_t0 = 0.0

    def problem(self, what):
        with self.lock:
            self.problems.append(what)
        log(f"UNEXPECTED: {what}")

    # setup

    def start_backend(self):
        argv = [self.bins["rbench"], "backend"]
        self.backend = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True,
                                        start_new_session=True, preexec_fn=run._child_setup)
        line = self.backend.stdout.readline()
        kv = run.parse_kv(line.strip())
        if "line" not in kv:
            raise RuntimeError(f"rbench backend printed {line!r}")
        return int(kv["line"])

    def start_daemon(self):
        taken = set()
        self.ports = {k: run.free_port(taken) for k in
                      ("exec", "echo", "daytime", "redirect", "refused", "extra")}
        for k in UDP_KINDS:
            self.ports[k] = free_udp_port(taken)
        self.ports["backend"] = self.start_backend()
        with open(self.udp_server, "w") as f:
            f.write(UDP_WAIT_SERVER)
        os.chmod(self.udp_server, 0o755)
        write_conf(self.conf, self.text(False))
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "PORTIER_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
        argv = [self.bins["portierd"], "-f", self.conf, "-pidfile", self.pidfile,
                "-filelog", self.dlog, "--control-socket", self.ctl]
        errpath = os.path.join(self.tmp, "start.stderr")
        with open(errpath, "wb") as ef:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=ef, stderr=ef, env=env,
                               timeout=60, preexec_fn=run._child_setup)
        self.pid = run.read_pidfile(self.pidfile)
        if r.returncode != 0 or self.pid is None:
            with open(errpath, "rb") as f:
                err = f.read().decode(errors="replace").strip()
            raise RuntimeError(f"portierd did not start (status {r.returncode}): "
                               f"{err[-300:]}\n{self.dlog_tail()}")
        for kind in ("exec", "redirect"):
            ok, why = run.probe(self.ports[kind], timeout=5)
            if not ok:
                raise RuntimeError(f"portierd started, but {kind} does not serve: {why}\n"
                                   f"{self.dlog_tail()}")
        log(f"portierd pid {self.pid}, ports {self.ports}")

    def dlog_tail(self):
        try:
            with open(self.dlog, errors="replace") as f:
                return "".join(f.readlines()[-10:])
        except OSError:
            return ""

    def text(self, extra):
        return conf_text(self.tmp, self.ports, self.bins, self.udp_server, extra)

    def alive(self):
        return os.path.exists(f"/proc/{self.pid}") and run._proc_state(self.pid) not in "Z?"

    # reloads and status

    def reload(self, extra):
        """Rewrite the configuration (with or without the extra service), SIGHUP, wait for the
        'Reconfigured' line; check that the extra service came or went."""
        with self.lock:
            before = count_reconfigured(self.dlog)
            write_conf(self.conf, self.text(extra))
            t0 = time.monotonic()
            try:
                os.kill(self.pid, signal.SIGHUP)
            except ProcessLookupError:
                self.problems.append("reload: portierd is gone")
                return
            while time.monotonic() - t0 < RELOAD_TIMEOUT:
                if count_reconfigured(self.dlog) > before:
                    break
                time.sleep(0.01)
            else:
                self.problems.append(f"reload {len(self.reloads) + 1}: no 'Reconfigured' "
                                     f"within {RELOAD_TIMEOUT:g} s")
                return
            self.reloads.append(time.monotonic() - t0)
            self.extra = extra
        ok, why = run.probe(self.ports["extra"], timeout=5)
        if extra and not ok:
            self.problem(f"reload {len(self.reloads)}: the added service does not serve: {why}")
        if not extra and (ok or why != "connection refused"):
            self.problem(f"reload {len(self.reloads)}: the removed service still answers "
                         f"({why or 'it served'})")

    def reloader(self, until, stop):
        n = 0
        while not stop.wait(self.args.reload_every) and time.monotonic() < until:
            n += 1
            self.reload(n % 2 == 1)
            if not self.alive():
                return

    def status(self):
        st, why = ctl_status(self.bins, self.ctl)
        if st is None or st.get("pid") != self.pid:
            self.status_failed += 1
            self.problem(f"portierctl status --json: {why or 'pid ' + str(st.get('pid'))}")
            return None
        self.status_ok += 1
        return st

    def status_loop(self, until, stop):
        while not stop.wait(self.args.status_every) and time.monotonic() < until:
            self.status()

    # workloads

    def workloads(self):
        a, b, p = self.args, self.bins, self.ports
        c = a.clients
        return [
            LoadgenWorkload("exec", b, p["exec"], c),
            EchoWorkload(b, p["echo"], c),
            LoadgenWorkload("daytime", b, p["daytime"], c, ["-e", "20"]),
            LoadgenWorkload("redirect", b, p["redirect"], c),
            LoadgenWorkload("refused", b, p["refused"], c, ["-e", "0"]),
            UdpWorkload("udpecho", p["udpecho"], a.udp_rate),
            UdpWorkload("udpwait", p["udpwait"], a.udp_rate, UDP_WAIT_BURST, UDP_WAIT_PAUSE),
        ]

    def load(self, seconds, sampling):
        """All workloads, reloads and status calls for `seconds`; samples when `sampling`.
        Returns the workloads (their final counts)."""
        until = time.monotonic() + seconds
        wls = self.workloads()
        stop = threading.Event()
        helpers = [threading.Thread(target=self.reloader, args=(until, stop), daemon=True),
                   threading.Thread(target=self.status_loop, args=(until, stop), daemon=True)]
        t0 = self.load_t0 = time.monotonic()
        for w in wls:
            w.until, w.t0, w.chunk_s = until, t0, self.args.sample_every
            w.start()
        for h in helpers:
            h.start()
        # Samples fall half-way between the load generators' chunk ends: the cumulative
        # counts of a sample then hold whole chunks, and the rate between two samples is true.
        next_sample = t0 + self.args.sample_every / 2
        try:
            while time.monotonic() < until + 60 and any(w.is_alive() for w in wls):
                if sampling and time.monotonic() >= next_sample and time.monotonic() < until:
                    self.sample(t0, wls)
                    next_sample += self.args.sample_every
                if not self.alive():
                    self.problem("portierd is gone")
                    break
                time.sleep(0.1)
        finally:
            stop.set()
            for w in wls:
                w.stop_now.set()
            for t in wls + helpers:
                t.join(RELOAD_TIMEOUT + 70)
        if self.extra:
            self.reload(False)
        return wls

    def sample(self, t0, wls):
        fds = fd_counts(self.pid)
        ticks = run.cpu_ticks(self.pid)
        self.samples.append({
            "t": time.monotonic() - t0,
            "fds": fds[0] if fds else None, "pipes": fds[1] if fds else None,
            "rss": run.rss_kib(self.pid),
            "cpu": ticks[0] if ticks else None, "ccpu": ticks[1] if ticks else None,
            "servers": running_servers(self.pid), "load": run.loadavg(),
            "counts": {w.kind: w.counts() for w in wls},
        })

    def settle(self, base=None):
        """Until no server runs, no in-process connection is open and (with base) the
        descriptors are back to it; at most --settle seconds. Returns the last status."""
        deadline = time.monotonic() + self.args.settle
        st = None
        while time.monotonic() < deadline:
            st = self.status()
            if st is None:
                return None
            quiet = st.get("servers_running") == 0 and running_servers(self.pid) == 0 and \
                all(s.get("in_process", 0) == 0 and s.get("running", 0) == 0
                    for s in st.get("services", []))
            fds = fd_counts(self.pid)
            if quiet and fds and (base is None or
                                  (fds[0] <= base[0] and fds[1] <= PIPE_POOL_ENDS)):
                return st
            time.sleep(0.5)
        return st


# --- the report --------------------------------------------------------------------------------

def fmt_errors(w):
    errs = {k: v for k, v in w.errors.items() if v}
    return ", ".join(f"{k} {v}" for k, v in sorted(errs.items())) if errs else "0"


def report(args, soak, wls, base, end, final_status, out):
    p = lambda s="": print(s, file=out)
    unexpected = 0
    p(f"Throughput and errors per kind ({args.clients} closed-loop clients per TCP kind, "
      f"UDP at most {args.udp_rate:g}/s per service)")
    p()
    hdr = f"{'kind':<9} {'ok':>10} {'per s':>8} {'p99 µs':>8}  errors (unexpected)"
    p(hdr)
    p("-" * len(hdr))
    for w in wls:
        rate = w.ok / w.seconds if w.seconds else 0.0
        p99 = f"{statistics.median(w.p99):.0f}" if w.p99 else "-"
        p(f"{w.kind:<9} {w.ok:>10,} {rate:>8.0f} {p99:>8}  {fmt_errors(w)}"
          + (f"  [{w.note}]" if w.note else ""))
        unexpected += sum(w.errors.values())
    total = sum(w.ok for w in wls)
    p(f"{'all':<9} {total:>10,}")
    p("refused: every connection accepted and closed by only_from without a byte is its "
      "expected outcome (counted ok); what the daemon counted:")
    svc = {s["id"]: s for s in (final_status or {}).get("services", [])}
    r = svc.get("refused")
    if r:
        refusals = r.get("refused", {}).get("address")
        p(f"  refused.address = {refusals:,}, servers started for it = {r.get('started')}")
        if r.get("started"):
            soak.problems.append(f"{r['started']} servers started for the refused service")
    e = svc.get("exec")
    if e:
        p(f"  exec: started {e.get('started'):,}, exited {e.get('exited'):,}, spawn_failed "
          f"{e.get('spawn_failed')}, dropped {e.get('dropped')}")
    p()
    rl = soak.reloads
    p(f"Reloads: {len(rl)} (every {args.reload_every:g} s, alternately adding and removing a "
      "service)" + (f", SIGHUP to 'Reconfigured' median {statistics.median(rl) * 1000:.0f} ms, "
                    f"max {max(rl) * 1000:.0f} ms" if rl else ""))
    p(f"portierctl status --json: {soak.status_ok} ok, {soak.status_failed} failed (the "
      "periodic calls and those that watch the daemon settle)")
    unexpected += len(soak.problems)
    for what in soak.problems[:20]:
        p(f"  UNEXPECTED: {what}")
    p()
    print_curves(args, soak.samples, out)
    p()
    fails = []
    if unexpected:
        fails.append(f"{unexpected} unexpected errors")
    fd_line = "n/a"
    if base and end:
        fd_line = (f"descriptors {base['fds']} + {base['pipes']} pipe ends at the baseline, "
                   f"{end['fds']} + {end['pipes']} at the end")
        if end["fds"] > base["fds"]:
            fails.append(f"descriptors above the baseline ({base['fds']} -> {end['fds']})")
        if end["pipes"] > PIPE_POOL_ENDS:
            fails.append(f"{end['pipes']} pipe ends (the redirect pool keeps at most "
                         f"{PIPE_POOL_ENDS})")
        grown = end["rss"] - base["rss"]
        rss_line = (f"VmRSS {base['rss']:,} KiB at the baseline, {end['rss']:,} KiB at the end "
                    f"({grown:+,} KiB; bound +{args.rss_bound:,} KiB)")
        if grown > args.rss_bound:
            fails.append(f"VmRSS grew {grown:,} KiB (bound {args.rss_bound:,})")
    else:
        fails.append("no baseline or end measurement")
        rss_line = "VmRSS n/a"
    p(f"Leak check (after the load, a last reload to the base configuration, and settling): "
      f"{fd_line}; {rss_line}")
    p("RESULT: " + ("PASS" if not fails else "FAIL: " + "; ".join(fails)))
    return not fails


def print_curves(args, samples, out):
    p = lambda s="": print(s, file=out)
    if not samples:
        p("no samples")
        return
    every = max(1, round(60 / args.sample_every)) if args.minutes >= 3 else 1
    periodic = [s for s in samples if not s.get("end")]
    rows = periodic[::every]
    if periodic and rows[-1] is not periodic[-1]:
        rows.append(periodic[-1])
    rows += [s for s in samples if s.get("end")]
    p(f"Samples ({len(periodic)} taken every {args.sample_every:g} s during the load; "
      f"{'one row a minute' if every > 1 else 'all'}, the last, and the end once settled): "
      "descriptors (pipe ends apart), VmRSS, the daemon's CPU % and its servers' since the "
      "previous row, running servers, connections+datagrams a second since the previous row, "
      "cumulative unexpected errors, the machine's load average (1 min)")
    p()
    hdr = f"{'t s':>6} {'fds':>5} {'pipes':>5} {'RSS KiB':>8} {'cpu %':>6} {'srv cpu %':>9} " \
          f"{'servers':>7} {'ok/s':>7} {'errors':>6} {'load':>5}"
    p(hdr)
    p("-" * len(hdr))
    prev = None
    for s in rows:
        ok = sum(c[0] for c in s["counts"].values())
        err = sum(c[1] for c in s["counts"].values())
        if prev and s["t"] > prev["t"] and s["cpu"] is not None and prev["cpu"] is not None \
                and not s.get("end"):
            dt = s["t"] - prev["t"]
            cpu = f"{(s['cpu'] - prev['cpu']) * TICK_S / dt * 100:.0f}"
            ccpu = f"{(s['ccpu'] - prev['ccpu']) * TICK_S / dt * 100:.0f}"
            rate = f"{(ok - sum(c[0] for c in prev['counts'].values())) / dt:.0f}"
        else:
            cpu = ccpu = rate = "-"
        t = "end" if s.get("end") else f"{s['t']:.0f}"
        p(f"{t:>6} {s['fds'] if s['fds'] is not None else '-':>5} "
          f"{s['pipes'] if s['pipes'] is not None else '-':>5} "
          f"{s['rss'] if s['rss'] is not None else '-':>8} {cpu:>6} {ccpu:>9} "
          f"{s['servers']:>7} {rate:>7} {err:>6} "
          f"{s['load'] if s['load'] is not None else '-':>5}")
        prev = s
    for key, name in (("fds", "descriptors"), ("pipes", "pipe ends"), ("rss", "VmRSS KiB"),
                      ("servers", "running servers")):
        v = [s[key] for s in samples if s[key] is not None]
        if v:
            p(f"{name}: min {min(v):,}, max {max(v):,} over all {len(samples)} samples")


# --- main ------------------------------------------------------------------------------------

def find_bins(build):
    b = os.path.abspath(build)
    bins = {}
    for name, path in (("portierd", "portierd"), ("portierctl", "portierctl"),
                       ("loadgen", "bench/loadgen"), ("tinyserver", "bench/tinyserver"),
                       ("echobench", "bench/echobench"), ("rbench", "bench/rbench")):
        full = os.path.join(b, path)
        if not os.access(full, os.X_OK):
            sys.exit(f"soak: {full} missing: run `make soak` (it builds everything needed)")
        bins[name] = full
    return bins


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the load (10)")
    ap.add_argument("--reload-every", type=float, default=10.0,
                    help="seconds between reloads (SIGHUP) during the load (10)")
    ap.add_argument("--sample-every", type=float, default=10.0,
                    help="seconds between samples; also the load generators' chunk (10)")
    ap.add_argument("--status-every", type=float, default=30.0,
                    help="seconds between `portierctl status --json` calls (30)")
    ap.add_argument("--clients", type=int, default=2,
                    help="closed-loop clients per TCP kind (2; 5 kinds)")
    ap.add_argument("--udp-rate", type=float, default=200.0,
                    help="at most this many datagrams a second per UDP service (200)")
    ap.add_argument("--warmup", type=float, default=10.0,
                    help="seconds of load before the baseline is taken (10)")
    ap.add_argument("--settle", type=float, default=60.0,
                    help="longest wait for the daemon to settle, before the baseline and at "
                         "the end (60)")
    ap.add_argument("--rss-bound", type=int, default=4096,
                    help="largest VmRSS growth from the baseline to the end, KiB (4096, as the "
                         "leak check of tests/e2e/test_stress_load.py)")
    ap.add_argument("--output", help="also write the report to this file")
    args = ap.parse_args()
    if not (0.1 <= args.minutes <= 24 * 60 and 1 <= args.reload_every <= 3600
            and 1 <= args.sample_every <= 600 and 1 <= args.status_every <= 3600
            and 1 <= args.clients <= 256 and 1 <= args.udp_rate <= 100000
            and 1 <= args.warmup <= 600 and 1 <= args.settle <= 600
            and 0 <= args.rss_bound <= 1 << 30):
        sys.exit("soak: an option is out of its range (see --help)")
    return args


def main():
    args = parse_args()
    bins = find_bins(args.build)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("soak: SIGTERM"))
    tmp = tempfile.mkdtemp(prefix="portier-soak-")
    soak = Soak(args, bins, tmp)
    lines = []

    class Tee:
        def write(self, s):
            lines.append(s)
            sys.stdout.write(s)

        def flush(self):
            sys.stdout.flush()

    out = Tee()
    passed = False
    try:
        passed = soak_run(args, soak, out)
    except RuntimeError as e:
        log(f"FAILED to set up: {e}")
    finally:
        if soak.pid is not None:
            run.stop_pid(soak.pid, "portierd (soak)")
        if soak.backend is not None:
            soak.backend.stdin.close()
            try:
                soak.backend.wait(timeout=5)
            except subprocess.TimeoutExpired:
                soak.backend.kill()
                soak.backend.wait(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.output:
        with open(args.output, "w") as f:
            f.write("".join(lines))
    return 0 if passed else 1


def soak_run(args, soak, out):
    """Start, warm up, take the baseline, load, settle, report. True when the run passed."""
    bins = soak.bins
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"portier soak — {when} — {run.machine()}", file=out)
    built = datetime.datetime.fromtimestamp(os.stat(bins["portierd"]).st_mtime,
                                            datetime.timezone.utc).strftime("%H:%M UTC")
    print(f"portierd: {bins['portierd']} built {built}, tree at {run.source_version()}",
          file=out)
    la0 = run.loadavg()
    print(f"Load average (1 min) at the start: {la0}", file=out)
    procs0, mach0, own0 = cpu_by_process(), machine_cpu(), own_cpu()
    soak.start_daemon()
    log(f"warm-up: {args.warmup:g} s")
    soak.load(args.warmup, sampling=False)
    soak.reload(True)           # the extra service's listener opened and closed once
    soak.reload(False)
    st = soak.settle()
    fds = fd_counts(soak.pid)
    if st is None or fds is None:
        raise RuntimeError("the daemon did not settle after the warm-up")
    base = {"fds": fds[0], "pipes": fds[1], "rss": run.rss_kib(soak.pid)}
    warm_problems = list(soak.problems)
    soak.reloads.clear()
    soak.status_ok = 0
    log(f"baseline {base}; load for {args.minutes:g} min")
    wls = soak.load(args.minutes * 60, sampling=True)
    log("load over; settling")
    final = soak.settle(base=(base["fds"], base["pipes"]))
    end = None
    fds = fd_counts(soak.pid)
    if fds is not None and soak.alive():
        end = {"fds": fds[0], "pipes": fds[1], "rss": run.rss_kib(soak.pid)}
    soak.samples.append({"end": True, "t": time.monotonic() - soak.load_t0,
                         "fds": end and end["fds"], "pipes": end and end["pipes"],
                         "rss": end and end["rss"], "cpu": None, "ccpu": None,
                         "servers": running_servers(soak.pid), "load": run.loadavg(),
                         "counts": {w.kind: w.counts() for w in wls}})
    if warm_problems:
        print(f"During the warm-up: {len(warm_problems)} unexpected events (counted): "
              + "; ".join(warm_problems[:5]), file=out)
    print(file=out)
    passed = report(args, soak, wls, base, end, final, out)
    ticks = run.cpu_ticks(soak.pid)
    mach1, la1 = machine_cpu(), run.loadavg()
    print(f"Load average (1 min) at the end: {la1}", file=out)
    if mach0 and mach1 and ticks:
        busy, intr = mach1[0] - mach0[0], mach1[1] - mach0[1]
        ours = own_cpu() - own0 + (ticks[0] + ticks[1]) * TICK_S
        print(f"Machine CPU from the start to now: {busy:.0f} s busy (irq and softirq "
              f"{intr:.0f} s of it, much of it this run's loopback traffic); this run's "
              f"processes (harness, load generators, portierd and its servers) {ours:.0f} s; "
              f"other work {max(0.0, busy - ours):.0f} s at most", file=out)
    pids = {os.getpid(), soak.pid, soak.backend.pid}
    print("Other processes by CPU (those alive at the end): "
          f"{other_work(procs0, cpu_by_process(), pids)}", file=out)
    return passed


if __name__ == "__main__":
    sys.exit(main())
