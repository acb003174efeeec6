#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""run.py — portier's benchmark harness: portierd, the limit reference, xinetd and tcpserver
in one run, on loopback.

    /usr/bin/python3 bench/run.py [--build build] [--seconds 3] [--rounds 3] ...

Part 1, the spawn path. Every contender is started once, in this session, on its own free
loopback port, serving the same static tiny server (bench/tinyserver.c) as a `wait = no`
stream service:

  limitref   bench/limitref.c, the leanest correct spawner (what a super-server can reach here)
  portierd   build/portierd -dontfork -f CONF (xinetd syntax, START/EXIT logged to a FILE)
  xinetd     xinetd -dontfork -f CONF, the same config
  tcpserver  ucspi-tcp tcpserver -q -H -R -l 0 -c 1024 (its fastest: no DNS, no ident)

Then, for each round and each concurrency, each contender in turn (the order rotates from
round to round) is loaded by bench/loadgen for --seconds. Per cell: connections/s and
latency p50/p99 (median round by conn/s), errors (all rounds, every kind), and the daemon's
own CPU per connection: utime+stime of the daemon process and all its threads, from
/proc/<pid>/stat before and after each load, summed over the rounds, divided by the
connections — never its children's time.

Part 2, scale: portierd and xinetd with N (10,000) services, one file each in an includedir,
on distinct loopback ports in a free range outside the ephemeral one. portierd: the time of
its starting command (it returns when ready), SIGHUP-to-READY=1 (sd_notify, on a socket of
ours) reload time, VmRSS after start and after reload. xinetd has no readiness signal: its
start lasts until every port listens, its reload until its "Reconfigured" log line.

A contender that cannot serve prints "n/a (reason)" instead of failing the run. The harness
kills only the processes it started, by pid, and removes its temporary directory.
"""

import argparse
import ctypes
import datetime
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPLY = b"portier-bench\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Targets from issue 4 ("Performance").
TARGET_VS_LIMITREF = {1: 0.85, 8: 0.9, 64: 0.9}
TARGET_VS_TCPSERVER = 1.0
TARGET_CPU_VS_XINETD = 0.5
TARGET_START_MS = 150
TARGET_RELOAD_MS = 100
TARGET_RSS_MIB = 16


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --- processes -------------------------------------------------------------------------------

_libc = None


def _raise_nofile():
    """Soft descriptor limit up to the hard one (room for many sockets)."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def _child_setup():
    """Runs in each child before exec: die with us, and have room for many sockets."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    _raise_nofile()


class Proc:
    """A daemon we started: its Popen, pid, stderr file; stopped by pid only."""

    def __init__(self, name, argv, tmp, env=None, pdeath=True):
        self.name = name
        self.argv = argv
        self.errpath = os.path.join(tmp, name + ".stderr")
        self.errf = open(self.errpath, "wb")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.errf,
                                      stderr=self.errf, env=env, start_new_session=True,
                                      preexec_fn=_child_setup if pdeath else None)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def last_error(self):
        try:
            with open(self.errpath, "rb") as f:
                lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()
                         if ln.strip()]
        except OSError:
            return ""
        return lines[-1][:160] if lines else ""

    def stop(self):
        if self.alive():
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                try:
                    self.popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    log(f"bench: {self.name} (pid {self.pid}) did not die")
            except ProcessLookupError:
                pass
        self.errf.close()


def stop_pid(pid, name):
    """Stops a daemon we started that detached (its pid read from its own pid file)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or _proc_state(pid) == "Z":
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    log(f"bench: {name} (pid {pid}) needed SIGKILL")


def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "?"


def cpu_ticks(pid):
    """(own, children): utime+stime of the process and all its threads, and cutime+cstime of
    the children it has reaped (its servers), in ticks. None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rpartition(")")[2].split()
        return int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])
    except (OSError, IndexError, ValueError):
        return None


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


# --- sockets ---------------------------------------------------------------------------------

def free_port(taken):
    """A currently free loopback port (kernel-chosen), not in `taken`."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in taken:
            taken.add(port)
            return port
    raise RuntimeError("no free loopback port")


def probe(port, want_reply=True, timeout=1.0):
    """Connects to 127.0.0.1:port; with want_reply, reads to EOF. Returns (ok, reason)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        if not want_reply:
            return True, ""
        data = b""
        for _ in range(64):
            chunk = s.recv(256)
            if not chunk:
                break
            data += chunk
        if data == REPLY:
            return True, ""
        return False, f"accepted, but the server replied {data[:40]!r}"
    except ConnectionRefusedError:
        return False, "connection refused"
    except socket.timeout:
        return False, "timed out"
    except OSError as e:
        return False, e.strerror or str(e)
    finally:
        s.close()


def wait_serving(proc, port, seconds):
    """Until proc serves the tiny server's line on port. Returns None, or the n/a reason."""
    deadline = time.monotonic() + seconds
    reason = "port never opened"
    while time.monotonic() < deadline:
        if not proc.alive():
            err = proc.last_error()
            return f"exited with status {proc.popen.returncode}" + (f": {err}" if err else "")
        ok, why = probe(port)
        if ok:
            return None
        reason = why
        time.sleep(0.05)
    return f"not serving after {seconds:g} s ({reason})"


# --- configurations ---------------------------------------------------------------------------

def xinetd_defaults(logfile):
    return ("defaults\n{\n"
            f"\tlog_type       = FILE {logfile}\n"
            "\tlog_on_success = PID HOST EXIT DURATION\n"
            "\tlog_on_failure = HOST\n"
            "\tinstances      = UNLIMITED\n"
            "\tper_source     = UNLIMITED\n"
            "\tcps            = 1000000 1\n"
            "}\n\n")


def xinetd_service(name, port, server):
    user = "\tuser        = root\n" if os.geteuid() == 0 else ""
    return (f"service {name}\n{{\n"
            "\ttype        = UNLISTED\n"
            "\tsocket_type = stream\n"
            "\tprotocol    = tcp\n"
            "\twait        = no\n"
            f"{user}"
            f"\tserver      = {server}\n"
            "\tbind        = 127.0.0.1\n"
            f"\tport        = {port}\n"
            "\tinstances   = UNLIMITED\n"
            "\tcps         = 1000000 1\n"
            "}\n")


def write_conf(path, logfile, port, server):
    with open(path, "w") as f:
        f.write(xinetd_defaults(logfile))
        f.write(xinetd_service("benchtiny", port, server))


# --- part 1: the spawn path -------------------------------------------------------------------

class Contender:
    def __init__(self, name):
        self.name = name
        self.proc = None
        self.port = None
        self.na = None          # reason this contender is not measured
        self.logfile = None     # START/EXIT log, where there is one
        self.cells = {}         # concurrency -> list of loadgen results
        self.ticks = {}         # concurrency -> summed daemon ticks
        self.cticks = {}        # concurrency -> summed ticks of its reaped servers
        self.cell_na = {}       # concurrency -> reason (daemon died during the run)
        self.extra_pids = []    # more processes whose CPU is the daemon's (privsep's
                                # network process)


def network_process(pid):
    """portierd --privsep-user's network process: the child of @pid running as nobody."""
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
            if ppid == pid and os.stat(f"/proc/{name}").st_uid == nobody:
                return int(name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def daemon_ticks(c):
    """cpu_ticks() of the contender, with its extra processes' own ticks added."""
    t = cpu_ticks(c.proc.pid)
    for pid in c.extra_pids:
        e = cpu_ticks(pid)
        if t is None or e is None:
            return None
        t = (t[0] + e[0], t[1])
    return t


def start_contenders(args, tmp, bins):
    taken = set()
    order = ["limitref", "portierd", "privsep", "xinetd", "tcpserver", "limitfork"]
    cons = {n: Contender(n) for n in order}
    default = order[:5] if os.geteuid() == 0 else order[:2] + order[3:5]
    wanted = set(args.only.split(",")) if args.only else set(default)
    if args.fork_ref:
        wanted.add("limitfork")
    tiny = bins["tinyserver"]
    for name in order:
        c = cons[name]
        if name not in wanted:
            c.na = "not selected (--only)"
            continue
        c.port = free_port(taken)
        d = os.path.join(tmp, name)
        os.makedirs(d, exist_ok=True)
        if name == "limitref":
            argv = [bins["limitref"], str(c.port), tiny]
        elif name == "limitfork":
            argv = [bins["limitref"], "--fork", str(c.port), tiny]
        elif name == "tcpserver":
            if not bins.get("tcpserver"):
                c.na = "tcpserver not installed (Debian package ucspi-tcp)"
                continue
            argv = [bins["tcpserver"]] + args.tcpserver_opts.split() + \
                ["127.0.0.1", str(c.port), tiny]
        elif name == "xinetd":
            if not bins.get("xinetd"):
                c.na = "xinetd not installed (Debian package xinetd)"
                continue
            conf = os.path.join(d, "xinetd.conf")
            c.logfile = os.path.join(d, "services.log")
            write_conf(conf, c.logfile, c.port, tiny)
            argv = [bins["xinetd"], "-dontfork", "-f", conf, "-pidfile",
                    os.path.join(d, "xinetd.pid"), "-filelog", os.path.join(d, "daemon.log")]
        else:
            if not bins.get("portierd"):
                c.na = f"{args.build}/portierd not built"
                continue
            if name == "privsep" and os.geteuid() != 0:
                c.na = "privilege separation needs root"
                continue
            conf = os.path.join(d, "portier.conf")
            c.logfile = os.path.join(d, "services.log")
            write_conf(conf, c.logfile, c.port, tiny)
            argv = [bins["portierd"]] + args.portierd_opts.split() + \
                ["-f", conf, "-pidfile", os.path.join(d, "portierd.pid"),
                 "-filelog", os.path.join(d, "daemon.log"),
                 # never the machine's own /run/portierd.sock (nor the other contender's)
                 "--control-socket", os.path.join(d, "ctl.sock")]
            if name == "privsep":
                argv += ["--privsep-user", "nobody"]
        try:
            c.proc = Proc(name, argv, tmp)
        except OSError as e:
            c.na = f"cannot start: {e.strerror}"
            continue
        why = wait_serving(c.proc, c.port, args.start_timeout)
        if not why and name == "privsep":
            net = network_process(c.proc.pid)
            if net is None:
                why = "no network process as nobody"
            else:
                c.extra_pids = [net]
        if why:
            c.na = why
            c.proc.stop()
            c.proc = None
        log(f"bench: {name}: " + (f"n/a ({c.na})" if c.na else
                                  f"pid {c.proc.pid} serving on 127.0.0.1:{c.port}"))
    return [cons[n] for n in order if n in wanted or n not in ("limitfork", "privsep")]


def parse_kv(line):
    out = {}
    for tok in line.split():
        k, _, v = tok.partition("=")
        out[k] = v
    return out


def run_loadgen(bins, port, conc, seconds, timeout_ms, extra=()):
    """One loadgen run; extra: more options (-e 0, -r RATE, -n COUNT). Returns (result, None)
    or (None, why)."""
    argv = [bins["loadgen"], "-p", str(port), "-c", str(conc), "-d", f"{seconds:g}",
            "-t", str(timeout_ms), *extra]
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=seconds + timeout_ms / 1000 + 30)
    except subprocess.TimeoutExpired:
        return None, "loadgen did not finish"
    if r.returncode != 0:
        return None, f"loadgen failed: {r.stderr.strip()[:160]}"
    kv = parse_kv(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "")
    try:
        res = {k: int(kv[k]) for k in ("conns", "p50_us", "p90_us", "p99_us", "max_us", "ok",
                                       "refused", "reset", "timeout", "short", "other")}
        res["cps"] = float(kv["cps"])
        res["elapsed"] = float(kv["elapsed"])
        res["other_errno"] = kv.get("other_errno", "-")
    except (KeyError, ValueError):
        return None, f"unreadable loadgen output: {r.stdout.strip()[:160]}"
    return res, None


ERR_KINDS = ("refused", "reset", "timeout", "short", "other")


def measure(args, bins, cons):
    live = [c for c in cons if not c.na]
    concs = [int(x) for x in args.concurrency.split(",")]
    for c in live:                          # warm up caches, page tables, the listen queue
        run_loadgen(bins, c.port, 8, args.warmup, args.timeout_ms)
    for rnd in range(args.rounds):
        for conc in concs:
            k = rnd % len(live) if live else 0
            for c in live[k:] + live[:k]:
                if conc in c.cell_na:
                    continue
                if not c.proc.alive():
                    c.cell_na[conc] = f"daemon exited (status {c.proc.popen.returncode})"
                    continue
                t0 = daemon_ticks(c)
                res, err = run_loadgen(bins, c.port, conc, args.seconds, args.timeout_ms)
                time.sleep(0.02)        # the last servers exited: let the daemon reap them
                t1 = daemon_ticks(c)
                if err:
                    c.cell_na[conc] = err
                    continue
                if t0 is None or t1 is None:
                    c.cell_na[conc] = "daemon exited during the load"
                    continue
                res["round"] = rnd
                c.cells.setdefault(conc, []).append(res)
                c.ticks[conc] = c.ticks.get(conc, 0) + (t1[0] - t0[0])
                c.cticks[conc] = c.cticks.get(conc, 0) + (t1[1] - t0[1])
                log(f"bench: round {rnd + 1}/{args.rounds} c={conc:<3} {c.name:<9} "
                    f"{res['cps']:8.0f} conn/s  p50 {res['p50_us']:>6} us  "
                    f"p99 {res['p99_us']:>7} us  errors "
                    f"{sum(res[e] for e in ERR_KINDS)}")
    return concs


def summarize(c, conc):
    """Median round by conn/s, errors over all rounds, CPU per connection over all rounds."""
    if c.na:
        return {"na": c.na}
    if conc in c.cell_na and not c.cells.get(conc):
        return {"na": c.cell_na[conc]}
    rs = c.cells.get(conc) or []
    if not rs:
        return {"na": "not measured"}
    med = sorted(rs, key=lambda r: r["cps"])[(len(rs) - 1) // 2]
    conns = sum(r["ok"] for r in rs)
    errs = {e: sum(r[e] for r in rs) for e in ERR_KINDS}
    other_errno = next((r["other_errno"] for r in rs if r["other_errno"] != "-"), "-")
    cpu_us = (c.ticks[conc] / CLK_TCK * 1e6 / conns) if conns else None
    all_us = ((c.ticks[conc] + c.cticks[conc]) / CLK_TCK * 1e6 / conns) if conns else None
    return {"cps": med["cps"], "p50": med["p50_us"], "p99": med["p99_us"], "conns": conns,
            "errs": errs, "other_errno": other_errno, "cpu_us": cpu_us, "all_us": all_us,
            "rounds": len(rs), "lo": min(r["cps"] for r in rs),
            "hi": max(r["cps"] for r in rs), "by_round": {r["round"]: r["cps"] for r in rs}}


def fmt_errs(s):
    total = sum(s["errs"].values())
    if not total:
        return "0"
    parts = [f"{k} {v}" for k, v in s["errs"].items() if v]
    if s["other_errno"] != "-":
        parts.append(s["other_errno"])
    return f"{total} (" + ", ".join(parts) + ")"


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def round_ratio(sa, sb):
    """Median over the rounds both were measured in of the per-round conn/s ratio: the two
    ran seconds apart, under the same background load, so this is steadier than a ratio of
    medians."""
    if "by_round" not in sa or "by_round" not in sb:
        return None
    rs = [sa["by_round"][k] / sb["by_round"][k] for k in sa["by_round"]
          if k in sb["by_round"] and sb["by_round"][k] > 0]
    return statistics.median(rs) if rs else None


def verdict(r, target, higher_is_better=True):
    if r is None:
        return "n/a"
    ok = r >= target if higher_is_better else r <= target
    return f"{r:.2f}  ({'≥' if higher_is_better else '≤'} {target:g}: {'met' if ok else 'MISSED'})"


def print_spawn_table(args, cons, concs, out):
    p = lambda s="": print(s, file=out)
    p(f"Spawn path: {args.seconds:g} s per cell, {args.rounds} rounds (conn/s, p50, p99: "
      "median round; best, worst: fastest and slowest round; errors and CPU: all rounds)")
    p()
    hdr = f"{'contender':<10} {'c':>3} {'conn/s':>7} {'best':>6} {'worst':>6} {'p50 µs':>7} " \
          f"{'p99 µs':>8} {'CPU µs/conn':>11} {'+servers':>8}  errors"
    p(hdr)
    p("-" * len(hdr))
    summ = {}
    for conc in concs:
        for c in cons:
            s = summarize(c, conc)
            summ[(c.name, conc)] = s
            if "na" in s:
                p(f"{c.name:<10} {conc:>3} n/a ({s['na']})")
                continue
            cpu = f"{s['cpu_us']:.1f}" if s["cpu_us"] is not None else "n/a"
            alls = f"{s['all_us']:.0f}" if s["all_us"] is not None else "n/a"
            p(f"{c.name:<10} {conc:>3} {s['cps']:>7.0f} {s['hi']:>6.0f} {s['lo']:>6.0f} "
              f"{s['p50']:>7} {s['p99']:>8} {cpu:>11} {alls:>8}  {fmt_errs(s)}")
        p()

    def val(name, conc, key):
        s = summ.get((name, conc), {})
        return s.get(key)

    def rr(a, b, conc):
        return round_ratio(summ.get((a, conc), {}), summ.get((b, conc), {}))

    def best(a, b, conc):
        r = ratio(val(a, conc, "hi"), val(b, conc, "hi"))
        return f"   best/best {r:.2f}" if r is not None else ""

    def targets(name, conc):
        """The three Core targets of one portierd contender at one concurrency."""
        p(f"  c={conc:<3} conn/s vs limitref   "
          + verdict(rr(name, "limitref", conc), TARGET_VS_LIMITREF.get(conc, 0.9))
          + best(name, "limitref", conc))
        p(f"  c={conc:<3} conn/s vs tcpserver  "
          + verdict(rr(name, "tcpserver", conc), TARGET_VS_TCPSERVER)
          + best(name, "tcpserver", conc))
        p(f"  c={conc:<3} CPU/conn vs xinetd   "
          + verdict(ratio(val(name, conc, "cpu_us"), val("xinetd", conc, "cpu_us")),
                    TARGET_CPU_VS_XINETD, higher_is_better=False))

    p("Ratios, portierd / other (conn/s: median of the per-round ratios, judged against the "
      "target; best/best: ratio of the fastest rounds, for a busy machine):")
    for conc in concs:
        targets("portierd", conc)
        r = ratio(val("limitref", conc, "all_us"), val("portierd", conc, "all_us"))
        if r is not None:
            p(f"  c={conc:<3} CPU-bound capacity vs limitref (limitref / portierd CPU per "
              f"connection, servers included): {r:.2f}")
    if any("by_round" in summ.get(("privsep", conc), {}) for conc in concs):
        p("Privilege separation (portierd --privsep-user nobody; CPU: monitor + network "
          "process):")
        for conc in concs:
            targets("privsep", conc)
            r = rr("privsep", "portierd", conc)
            rc = ratio(val("privsep", conc, "cpu_us"), val("portierd", conc, "cpu_us"))
            p(f"  c={conc:<3} against portierd without it: conn/s "
              + (f"{r:.2f}" if r is not None else "n/a") + ", CPU/conn "
              + (f"{rc:.2f}" if rc is not None else "n/a"))
    p("  (and, for scale: limitref / tcpserver, limitref / xinetd conn/s: " + ", ".join(
        f"c={conc} " + "/".join(
            f"{r:.2f}" if r is not None else "n/a" for r in (
                rr("limitref", "tcpserver", conc), rr("limitref", "xinetd", conc)))
        for conc in concs) + ")")
    if any("by_round" in summ.get(("limitfork", conc), {}) for conc in concs):
        p("  (limitfork / limitref, fork() against vfork(): conn/s " + ", ".join(
            f"c={conc} " + (f"{r:.2f}" if (r := rr("limitfork", "limitref", conc)) is not None
                            else "n/a") for conc in concs)
          + "; CPU with servers " + ", ".join(
            f"c={conc} " + (f"{r:.2f}" if (r := ratio(val("limitfork", conc, "all_us"),
                                                     val("limitref", conc, "all_us")))
                            is not None else "n/a") for conc in concs) + ")")
    return summ


def log_line_counts(c):
    """START/EXIT lines in a contender's service log, to show that logging was on."""
    if not c.logfile or not os.path.exists(c.logfile):
        return None
    start = exit_ = 0
    with open(c.logfile, "rb") as f:
        for line in f:
            if b" START: " in line or line.startswith(b"START: "):
                start += 1
            elif b" EXIT: " in line or line.startswith(b"EXIT: "):
                exit_ += 1
    return start, exit_


# --- part 2: many services --------------------------------------------------------------------

def port_range_free(base, n):
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
        return True
    finally:
        for s in socks:
            s.close()


def pick_port_block(n):
    """A block of n free ports, outside the ephemeral range when it fits."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    cands = []
    for base in range(1024 + 9000, 65536 - n, 1000):   # 10024, 11024, ...
        if base + n <= lo or base > hi:
            cands.append(base)
    for base in range(lo, hi - n, 2000):
        cands.append(base)                              # inside it: last resort
    for base in cands[:40]:
        if port_range_free(base, n):
            return base
    return None


def listening_count(base, n):
    """Listening TCP sockets on 127.0.0.1 with a port in [base, base+n).

    ss(8) asks the kernel for listening sockets only (netlink), which stays fast when tens of
    thousands of TIME_WAIT sockets from the spawn part fill /proc/net/tcp; the latter is the
    fallback."""
    ss = shutil.which("ss", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/bin")
    if ss:
        try:
            r = subprocess.run([ss, "-Hltn4"], capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                cnt = 0
                for line in r.stdout.splitlines():
                    parts = line.split()
                    if len(parts) >= 4 and parts[3].startswith("127.0.0.1:"):
                        p = int(parts[3].rpartition(":")[2])
                        if base <= p < base + n:
                            cnt += 1
                return cnt
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
    cnt = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split(None, 4)
                if len(parts) < 4 or parts[3] != "0A":
                    continue
                addr, _, port = parts[1].partition(":")
                p = int(port, 16)
                if addr == "0100007F" and base <= p < base + n:
                    cnt += 1
    except (OSError, ValueError):
        return -1
    return cnt


def write_many(d, base, n, server, logfile):
    sd = os.path.join(d, "services")
    os.makedirs(sd, exist_ok=True)
    for i in range(n):
        with open(os.path.join(sd, f"svc{i:05d}"), "w") as f:
            f.write(xinetd_service(f"svc{i:05d}", base + i, server))
    conf = os.path.join(d, "main.conf")
    with open(conf, "w") as f:
        f.write(xinetd_defaults(logfile))
        f.write(f"includedir {sd}\n")
    return conf


class Notify:
    """An sd_notify socket of ours (NOTIFY_SOCKET), to read READY=1 after a reload."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def drain(self):
        self.sock.setblocking(False)
        msgs = []
        for _ in range(1000):
            try:
                msgs.append(self.sock.recv(4096).decode(errors="replace"))
            except BlockingIOError:
                break
        return msgs

    def wait_for(self, key, seconds, also=None):
        """Time at which `key` arrives, or `also()` turns true (polled every 5 ms); with the
        marker that fired first. (None, None) after `seconds`."""
        deadline = time.monotonic() + seconds
        self.sock.setblocking(True)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            self.sock.settimeout(min(left, 0.005))
            try:
                msg = self.sock.recv(4096).decode(errors="replace")
                if key in msg.split("\n"):
                    return time.monotonic(), key
            except socket.timeout:
                pass
            if also and also():
                return time.monotonic(), "log line"

    def close(self):
        self.sock.close()


def count_in_file(path, needle):
    try:
        with open(path, "rb") as f:
            return f.read().count(needle)
    except OSError:
        return 0


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def scale_portierd(args, bins, tmp, base, n, extra=()):
    res = {}
    _raise_nofile()
    if not bins.get("portierd"):
        return {"na": f"{args.build}/portierd not built"}
    d = os.path.join(tmp, "scale-portierd" + ("-privsep" if extra else ""))
    os.makedirs(d)
    conf = write_many(d, base, n, bins["tinyserver"], os.path.join(d, "services.log"))
    pidfile = os.path.join(d, "portierd.pid")
    notify = Notify(d)
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    pid = None
    try:
        argv = [bins["portierd"], "-f", conf, "-pidfile", pidfile,
                "-filelog", os.path.join(d, "daemon.log"),
                "--control-socket", os.path.join(d, "ctl.sock"), *extra]
        errpath = os.path.join(d, "start.stderr")
        starts = []
        # The start is timed args.starts times (a shared machine makes one figure noisy);
        # the daemon of the last start goes on to the reloads.
        for k in range(args.starts):
            if pid is not None:
                stop_pid(pid, "portierd (scale)")
                pid = None
            with open(errpath, "wb") as ef:
                # Popen.wait() without a timeout: with one, Python polls the child with
                # sleeps of up to 50 ms, which added ~30 ms to this figure. No preexec_fn
                # either: Python then starts the command with vfork, as a shell does, not
                # with a fork running Python code before the exec. The command detaches, so
                # PR_SET_PDEATHSIG would not reach the daemon anyway; the descriptor limit
                # is raised in this process (_raise_nofile) and inherited.
                t0 = time.monotonic()
                r = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=ef, stderr=ef,
                                     env=env)
                watchdog = threading.Timer(60, r.kill)
                watchdog.start()
                r.wait()
                t1 = time.monotonic()
                watchdog.cancel()
                if t1 - t0 >= 60:
                    return {"na": "starting command did not return within 60 s"}
            pid = read_pidfile(pidfile)
            if r.returncode != 0:
                with open(errpath, "rb") as f:
                    err = f.read().decode(errors="replace").strip().splitlines()
                return {"na": f"start failed with status {r.returncode}" +
                        (f": {err[-1][:120]}" if err else "")}
            if pid is None or not os.path.exists(f"/proc/{pid}"):
                return {"na": "started, but no running daemon in its pid file"}
            for p in (base, base + n // 2, base + n - 1):
                ok, why = probe(p)
                if not ok:
                    return {"na": f"started, but 127.0.0.1:{p} is not served ({why})"}
            cnt = listening_count(base, n)
            if cnt != n:
                return {"na": f"started, but {cnt} of {n} services listen"}
            starts.append((t1 - t0) * 1000)
        res["start_ms"] = statistics.median(starts)
        res["starts_ms"] = starts
        res["rss_start"] = rss_kib(pid)
        dlog = os.path.join(d, "daemon.log")
        times = []
        for i in range(args.reloads):
            notify.drain()
            before = count_in_file(dlog, b"Reconfigured")
            t0 = time.monotonic()
            os.kill(pid, signal.SIGHUP)
            t1, marker = notify.wait_for(
                "READY=1", 30, also=lambda: count_in_file(dlog, b"Reconfigured") > before)
            if t1 is None:
                res["reload_na"] = "neither READY=1 on NOTIFY_SOCKET nor a 'Reconfigured' " \
                                   f"log line within 30 s of SIGHUP number {i + 1}"
                break
            times.append((t1 - t0) * 1000)
            res["reload_marker"] = marker
            ok, why = probe(base + n - 1)
            if not ok:
                res["reload_na"] = f"not serving after reload number {i + 1} ({why})"
                break
            res["rss_reload1" if i == 0 else "rss_reload"] = rss_kib(pid)
        if times and "reload_na" not in res:
            res["reload_ms"] = statistics.median(times)
        res.setdefault("rss_reload", res.get("rss_reload1"))
        return res
    finally:
        if pid is None:                 # it may have written its pid file late
            time.sleep(0.2)
            pid = read_pidfile(pidfile)
        if pid is not None:
            stop_pid(pid, "portierd (scale)")
        notify.close()


def scale_xinetd(args, bins, tmp, base, n):
    if not bins.get("xinetd"):
        return {"na": "xinetd not installed"}
    d = os.path.join(tmp, "scale-xinetd")
    os.makedirs(d)
    conf = write_many(d, base, n, bins["tinyserver"], os.path.join(d, "services.log"))
    dlog = os.path.join(d, "daemon.log")
    argv = [bins["xinetd"], "-dontfork", "-f", conf, "-pidfile", os.path.join(d, "x.pid"),
            "-filelog", dlog]
    res = {}
    t0 = time.monotonic()
    proc = Proc("xinetd-scale", argv, d)
    try:
        deadline = t0 + 120
        ready = False
        while time.monotonic() < deadline:
            if not proc.alive():
                return {"na": f"exited with status {proc.popen.returncode}: "
                              f"{proc.last_error()}"}
            ok, _ = probe(base + n - 1, want_reply=False, timeout=0.2)
            if ok and listening_count(base, n) == n:
                ready = True
                break
            time.sleep(0.002 if not ok else 0.02)
        if not ready:
            return {"na": f"not all {n} ports listening after 120 s "
                          f"({listening_count(base, n)} are)"}
        res["start_ms"] = (time.monotonic() - t0) * 1000
        res["rss_start"] = rss_kib(proc.pid)

        def reconfigured():
            return count_in_file(dlog, b"Reconfigured")

        times = []
        for i in range(args.reloads):
            before = reconfigured()
            t0 = time.monotonic()
            os.kill(proc.pid, signal.SIGHUP)
            deadline = t0 + 120
            while time.monotonic() < deadline and reconfigured() == before:
                time.sleep(0.005)
            if reconfigured() == before:
                res["reload_na"] = "no 'Reconfigured' log line within 120 s of SIGHUP " \
                                   f"number {i + 1}"
                break
            times.append((time.monotonic() - t0) * 1000)
            res["rss_reload1" if i == 0 else "rss_reload"] = rss_kib(proc.pid)
        if times and "reload_na" not in res:
            res["reload_ms"] = statistics.median(times)
        res.setdefault("rss_reload", res.get("rss_reload1"))
        return res
    finally:
        proc.stop()


def print_scale_table(n, reloads, rp, rx, out, rps=None):
    p = lambda s="": print(s, file=out)
    p(f"Scale: {n:,} services (one file each in an includedir), loopback ports")
    p()
    if rp.get("starts_ms"):
        p(f"start ms: portierd, median of {len(rp['starts_ms'])} starts ("
          + ", ".join(f"{x:.0f}" for x in rp["starts_ms"]) + "), the command's run until it "
          "returns once all services listen; xinetd, one start, until all its ports listen")
        p()
    p(f"reload ms: median of {reloads} reloads of the unchanged configuration (SIGHUP to READY=1"
      " for portierd, to the 'Reconfigured' line for xinetd); RSS after the first and the "
      "last reload")
    p()
    hdr = f"{'daemon':<9} {'start ms':>9} {'reload ms':>10} {'RSS start':>10} " \
          f"{'RSS reload 1':>13} {f'RSS reload {reloads}':>13}"
    p(hdr)
    p("-" * len(hdr))

    def mib(k):
        return f"{k / 1024:.1f} MiB" if k else "n/a"

    rows = [("portierd", rp), ("xinetd", rx)]
    if rps is not None:
        rows.insert(1, ("privsep", rps))       # portierd --privsep-user nobody
    for name, r in rows:
        if "na" in r:
            p(f"{name:<9} n/a ({r['na']})")
            continue
        rl = f"{r['reload_ms']:.0f}" if "reload_ms" in r else "n/a"
        p(f"{name:<9} {r['start_ms']:>9.0f} {rl:>10} {mib(r.get('rss_start')):>10} "
          f"{mib(r.get('rss_reload1')):>13} {mib(r.get('rss_reload')):>13}")
        if "reload_na" in r:
            p(f"{'':<9} reload n/a ({r['reload_na']})")
        elif r.get("reload_marker") == "log line":
            p(f"{'':<9} (reload timed to its 'Reconfigured' log line: no READY=1 came first)")
    p(f"targets (portierd): start ≤ {TARGET_START_MS} ms, reload ≤ {TARGET_RELOAD_MS} ms, "
      f"RSS ≤ {TARGET_RSS_MIB} MiB after start and after reload")
    if "na" not in rp:
        checks = []
        if "start_ms" in rp:
            checks.append(f"start {'met' if rp['start_ms'] <= TARGET_START_MS else 'MISSED'}")
        if "reload_ms" in rp:
            checks.append(
                f"reload {'met' if rp['reload_ms'] <= TARGET_RELOAD_MS else 'MISSED'}")
        rss = [v for v in (rp.get("rss_start"), rp.get("rss_reload1"), rp.get("rss_reload"))
               if v]
        if rss:
            checks.append(
                f"RSS {'met' if max(rss) <= TARGET_RSS_MIB * 1024 else 'MISSED'}")
        p("  portierd: " + ", ".join(checks))


# --- main ------------------------------------------------------------------------------------

def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {model}, " \
           f"Linux {platform.release()}"


def source_version():
    """The commit the tree is at, and whether src/ or lib/ has uncommitted changes: portierd
    is built from a moving tree, so a figure without it cannot be traced back."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--", "src", "lib",
                                "include"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + (" + uncommitted changes in src/lib/include"
                                  if dirty.stdout.strip() else "")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def find_bins(args):
    b = os.path.abspath(args.build)
    bins = {}
    for name in ("loadgen", "limitref", "tinyserver"):
        path = os.path.join(b, "bench", name)
        if not os.access(path, os.X_OK):
            sys.exit(f"bench: {path} missing: run `make bench` (or make {path})")
        bins[name] = path
    pd = os.path.join(b, "portierd")
    bins["portierd"] = pd if os.access(pd, os.X_OK) else None
    for name in ("xinetd", "tcpserver"):
        bins[name] = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    return bins


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--seconds", type=float, default=1.0, help="load time per cell (1)")
    ap.add_argument("--rounds", type=int, default=9, help="rounds over all cells (9)")
    ap.add_argument("--warmup", type=float, default=0.5, help="warm-up load per daemon (0.5)")
    ap.add_argument("--concurrency", default="1,8,64", help="client counts (1,8,64)")
    ap.add_argument("--timeout-ms", type=int, default=5000,
                    help="per-connection timeout of the load generator (5000)")
    ap.add_argument("--start-timeout", type=float, default=5.0,
                    help="seconds a daemon has to serve its first connection (5)")
    ap.add_argument("--only", default="",
                    help="comma-separated subset of limitref,portierd,privsep,xinetd,"
                         "tcpserver,limitfork (privsep: portierd --privsep-user nobody, "
                         "measured by default as root)")
    ap.add_argument("--fork-ref", action="store_true",
                    help="also measure limitfork: limitref with fork() instead of vfork()")
    ap.add_argument("--services", type=int, default=10000,
                    help="services for the scale measurement (10000; 0 skips it)")
    ap.add_argument("--starts", type=int, default=3,
                    help="starts of portierd in the scale measurement, the median is shown (3)")
    ap.add_argument("--reloads", type=int, default=3,
                    help="reloads in the scale measurement (3; RSS after the first and last)")
    ap.add_argument("--no-spawn", action="store_true", help="skip the spawn-path table")
    ap.add_argument("--portierd-opts", default="-dontfork",
                    help="portierd options before -f (default -dontfork)")
    ap.add_argument("--tcpserver-opts", default="-q -H -R -l 0 -c 1024 -b 1024",
                    help="tcpserver options (default: no DNS, no ident, 1024 children, backlog 1024)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the harness, the daemons and the load at this nice value "
                         "(e.g. -10 as root, to cut the noise of other work; default 0)")
    ap.add_argument("--output", help="also write the tables to this file")
    args = ap.parse_args()
    if not (0.05 <= args.seconds <= 120 and 1 <= args.rounds <= 20
            and 0 <= args.services <= 20000 and 0 < args.start_timeout <= 60
            and 0 <= args.warmup <= 30 and 1 <= args.timeout_ms <= 60000
            and 1 <= args.reloads <= 20 and 1 <= args.starts <= 20):
        sys.exit("bench: an option is out of its range (see --help)")
    try:
        concs = [int(x) for x in args.concurrency.split(",")]
        if not concs or any(c < 1 or c > 1024 for c in concs):
            raise ValueError
    except ValueError:
        sys.exit("bench: --concurrency takes numbers 1..1024, comma-separated")

    known = {"limitref", "portierd", "privsep", "xinetd", "tcpserver", "limitfork"}
    if args.only and not set(args.only.split(",")) <= known:
        sys.exit("bench: --only takes names among " + ",".join(sorted(known)))
    bins = find_bins(args)
    if args.nice:
        if not -20 <= args.nice <= 19:
            sys.exit("bench: --nice takes -20..19")
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)   # inherited by all we start
        except OSError as e:
            sys.exit(f"bench: --nice {args.nice}: {e.strerror}")
    tmp = tempfile.mkdtemp(prefix="portier-bench-")
    cons = []
    lines = []

    class Tee:
        def write(self, s):
            lines.append(s)
            sys.stdout.write(s)

    out = Tee()
    try:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        print(f"portier bench — {when} — {machine()}", file=out)
        pd = bins.get("portierd")
        if pd:
            built = datetime.datetime.fromtimestamp(os.stat(pd).st_mtime,
                                                    datetime.timezone.utc).strftime("%H:%M UTC")
            print(f"portierd: {pd} built {built}, tree at {source_version()}", file=out)
        print("Absolute figures move between runs on a shared machine: compare only within "
              "one run.", file=out)
        la0 = loadavg()
        if la0 is not None:
            busy = la0 > 0.5 * (os.cpu_count() or 1)
            print(f"Load average (1 min) at start: {la0:.2f}" +
                  (" — other work is running: expect noisier figures" if busy else "") +
                  (f"; the run is at nice {args.nice}" if args.nice else ""),
                  file=out)
        print(file=out)
        # The scale part runs first, before the spawn part leaves tens of thousands of
        # TIME_WAIT sockets behind; its table is printed last.
        scale = None
        if args.services:
            base = pick_port_block(args.services)
            if base is None:
                scale = f"no block of {args.services} free loopback ports"
            else:
                log(f"bench: scale: {args.services} services on ports {base}.."
                    f"{base + args.services - 1}")
                rp = scale_portierd(args, bins, tmp, base, args.services)
                log(f"bench: scale: portierd {rp}")
                rps = None
                if os.geteuid() == 0 and (not args.only or "privsep" in args.only):
                    rps = scale_portierd(args, bins, tmp, base, args.services,
                                         ("--privsep-user", "nobody"))
                    log(f"bench: scale: portierd --privsep-user nobody {rps}")
                rx = scale_xinetd(args, bins, tmp, base, args.services)
                log(f"bench: scale: xinetd {rx}")
                scale = (rp, rx, rps)
        if not args.no_spawn:
            cons = start_contenders(args, tmp, bins)
            concs = measure(args, bins, cons)
            for c in cons:                              # stop now: flushes their logs
                if c.proc:
                    c.proc.stop()
            print_spawn_table(args, cons, concs, out)
            counts = []
            for c in cons:
                lc = log_line_counts(c)
                if lc is not None and c.proc:
                    total = sum(s["ok"] for rs in c.cells.values() for s in rs)
                    counts.append(f"{c.name} START {lc[0]}, EXIT {lc[1]} "
                                  f"(measured connections: {total}, plus warm-up and probes)")
                    if lc[0] < total or lc[1] < total:
                        counts.append(f"WARNING: {c.name} logged fewer START/EXIT lines than "
                                      "it served connections: its logging is not what was "
                                      "configured, the comparison is not like for like")
            if counts:
                print("Service log lines: " + "; ".join(counts), file=out)
            print(file=out)
        if isinstance(scale, str):
            print(f"Scale: n/a ({scale})", file=out)
        elif scale:
            print_scale_table(args.services, args.reloads, scale[0], scale[1], out, scale[2])
        la1 = loadavg()
        if la1 is not None:
            print(f"Load average (1 min) at the end: {la1:.2f}", file=out)
    finally:
        for c in cons:
            if c.proc:
                c.proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.output:
        with open(args.output, "w") as f:
            f.write("".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
