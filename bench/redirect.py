#!/usr/bin/python3
"""Redirect benchmark: a direct connection to a plain backend, portierd's in-process redirect
and xinetd's forking redirect, measured in one run.

  single stream   one connection reads --bytes (1 GiB) from the backend to EOF; MB/s
  conn/s          loadgen at --conc (8) clients: connect, read the backend's one line, close
  idle            --idle (10,000) connections held open through portierd (each has seen one
                  byte from the backend, so every pair is up end to end); the daemon's RSS
                  and PSS growth per connection. xinetd forks a process per connection, so it
                  is measured with --xinetd-idle (500) connections and its processes' PSS.

Targets (issue 6): single stream >= 50 % of direct; conn/s >= 3x xinetd's redirect.
The backend is build/bench/rbench (one epoll process for all contenders). Everything stays on
loopback; only processes started here are stopped, by pid. See bench/README.md, "Redirect".
"""

import argparse
import ctypes
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

NOFILE = 65536
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
XINETD = shutil.which("xinetd") or "/usr/sbin/xinetd"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def _child_setup():
    """Before exec: die with the harness, and room for tens of thousands of sockets."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)     # PR_SET_PDEATHSIG
    except OSError:
        pass
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        pass


def raise_own_nofile():
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start(argv, **kw):
    return subprocess.Popen([str(a) for a in argv], preexec_fn=_child_setup,
                            start_new_session=True, **kw)


def stop(p, name):
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)
        log(f"bench: {name} (pid {p.pid}) needed SIGKILL")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rpartition(")")[2].split()[1]) == pid:
                        out.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def n_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rpartition(")")[2].split()
        return sum(int(x) for x in rest[11:15])
    except (OSError, IndexError, ValueError):
        return 0


def probe(port, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                data = b""
                while True:
                    chunk = s.recv(100)
                    if not chunk:
                        break
                    data += chunk
                if data == b"portier-bench\n":
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def write_conf(path, logfile, ports, backend):
    svc = []
    for name, target in (("rline", "line"), ("rsource", "source"), ("rhold", "hold")):
        svc += [f"service {name}", "{", "\ttype = UNLISTED", "\tsocket_type = stream",
                "\tprotocol = tcp", "\twait = no", "\tuser = root", "\tbind = 127.0.0.1",
                f"\tport = {ports[name]}", f"\tredirect = 127.0.0.1 {backend[target]}", "}", ""]
    with open(path, "w") as f:
        f.write("\n".join(["defaults", "{", f"\tlog_type = FILE {logfile}",
                           "\tlog_on_success = PID HOST EXIT DURATION",
                           "\tlog_on_failure = HOST", "\tcps = 1000000 1",
                           "\tinstances = UNLIMITED", "}", ""] + svc))


class Contender:
    def __init__(self, name, ports, proc=None, na=None):
        self.name, self.ports, self.proc, self.na = name, ports, proc, na
        self.mbps, self.cps, self.cpu = [], [], 0
        self.conn_cpu, self.conns = 0, 0
        self.idle = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None


def start_daemon(kind, binary, tmp, backend):
    ports = {n: free_port() for n in ("rline", "rsource", "rhold")}
    conf = os.path.join(tmp, f"{kind}.conf")
    write_conf(conf, os.path.join(tmp, f"{kind}.svclog"), ports, backend)
    if not binary or not os.access(binary, os.X_OK):
        return Contender(kind, ports, na=f"{binary} not found")
    err = open(os.path.join(tmp, f"{kind}.stderr"), "wb")
    argv = [binary, "-dontfork", "-f", conf, "-pidfile", os.path.join(tmp, f"{kind}.pid"),
            "-filelog", os.path.join(tmp, f"{kind}.log")]
    if kind == "portierd":              # never the machine's own /run/portierd.sock
        argv += ["--control-socket", os.path.join(tmp, f"{kind}.ctl")]
    p = start(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    c = Contender(kind, {"line": ports["rline"], "source": ports["rsource"],
                         "hold": ports["rhold"]}, p)
    if not probe(c.ports["line"]):
        c.na = "does not serve the redirect (see its log)"
    return c


def run_read(rbench, port, timeout):
    r = subprocess.run([rbench, "-t", str(int(timeout)), "read", str(port)],
                       capture_output=True, text=True, timeout=timeout + 10)
    kv = dict(t.split("=", 1) for t in r.stdout.split() if "=" in t)
    if r.returncode != 0 or "mbps" not in kv:
        return None, int(kv.get("bytes", 0))
    return float(kv["mbps"]), int(kv["bytes"])


def run_loadgen(loadgen, port, conc, seconds):
    r = subprocess.run([loadgen, "-p", str(port), "-c", str(conc), "-d", f"{seconds:g}",
                        "-t", "5000"], capture_output=True, text=True, timeout=seconds + 40)
    kv = dict(t.split("=", 1) for t in r.stdout.split() if "=" in t)
    try:
        return float(kv["cps"]), int(kv["ok"]), {k: int(kv[k]) for k in (
            "refused", "reset", "timeout", "short", "other")}
    except (KeyError, ValueError):
        return None, 0, {}


def measure_idle(rbench, c, n, settle=1.0):
    """Open n connections through contender c, wait for all pairs, read memory; close."""
    pids = lambda: [c.pid] + (children(c.pid) if c.name == "xinetd" else [])
    time.sleep(settle)
    rss0 = status_kib(c.pid, "VmRSS")
    pss0 = sum(pss_kib(p) for p in pids())
    fds0 = n_fds(c.pid)
    client = start([rbench, "-t", "300", "idle", str(c.ports["hold"]), str(n)],
                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = client.stdout.readline().decode()
    kv = dict(t.split("=", 1) for t in line.split() if "=" in t)
    time.sleep(settle)
    res = {"n": n, "ready": int(kv.get("ready", 0)), "failed": int(kv.get("failed", 0)),
           "seconds": float(kv.get("seconds", 0)),
           "rss": status_kib(c.pid, "VmRSS") - rss0,
           "pss": sum(pss_kib(p) for p in pids()) - pss0,
           "fds": n_fds(c.pid) - fds0, "procs": len(pids()) - 1}
    client.stdin.close()
    try:
        client.wait(timeout=60)
    except subprocess.TimeoutExpired:
        client.kill()
    # the pairs end as the clients go away: wait (bounded) until the daemon is back down
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and n_fds(c.pid) > fds0 + 8:
        time.sleep(0.1)
    return res


def median(v):
    return statistics.median(v) if v else None


def fmt(v, spec="{:,.0f}"):
    return "n/a" if v is None else spec.format(v)


def verdict(r, target):
    return "n/a" if r is None else ("met" if r >= target else "MISSED")


def report(args, cons, out):
    def w(s=""):
        print(s)
        out.append(s)
    direct, pd, xd = cons
    w(f"## Redirect: single stream ({args.bytes_text} read to EOF), rounds={args.rounds}")
    w()
    w("| contender | MB/s (median) | best | worst | daemon CPU s/GiB |")
    w("|---|---:|---:|---:|---:|")
    for c in cons:
        if c.na:
            w(f"| {c.name} | n/a ({c.na}) | | | |")
            continue
        gib = args.bytes * max(len(c.mbps), 1) / (1 << 30)
        cpu = f"{c.cpu / os.sysconf('SC_CLK_TCK') / gib:.2f}" if c.pid else "-"
        w(f"| {c.name} | {fmt(median(c.mbps))} | {fmt(max(c.mbps, default=None))} | "
          f"{fmt(min(c.mbps, default=None))} | {cpu} |")
    w()
    w(f"## Redirect: connections/s at c={args.conc} ({args.seconds:g} s x {args.rounds} rounds)")
    w()
    w("| contender | conn/s (median) | best | worst | daemon CPU µs/conn | errors |")
    w("|---|---:|---:|---:|---:|---|")
    for c in cons:
        if c.na:
            w(f"| {c.name} | n/a | | | | |")
            continue
        errs = ", ".join(f"{k}={v}" for k, v in c.errors.items() if v) or "0"
        cpu = (f"{c.conn_cpu / os.sysconf('SC_CLK_TCK') * 1e6 / c.conns:.1f}"
               if c.pid and c.conns else "-")
        w(f"| {c.name} | {fmt(median(c.cps))} | {fmt(max(c.cps, default=None))} | "
          f"{fmt(min(c.cps, default=None))} | {cpu} | {errs} |")
    w()
    w("## Redirect: idle connections held")
    w()
    w("| contender | connections | up | failed | open time s | RSS growth KiB/conn | "
      "PSS growth KiB/conn | fds/conn | processes |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in (pd, xd):
        i = c.idle
        if c.na or not i:
            w(f"| {c.name} | n/a | | | | | | | |")
            continue
        up = max(i["ready"], 1)
        w(f"| {c.name} | {i['n']:,} | {i['ready']:,} | {i['failed']} | {i['seconds']:.1f} | "
          f"{i['rss'] / up:.2f} | {i['pss'] / up:.2f} | {i['fds'] / up:.2f} | {i['procs']} |")
    w()
    r_mbps = median(pd.mbps) / median(direct.mbps) if pd.mbps and direct.mbps else None
    r_cps = median(pd.cps) / median(xd.cps) if pd.cps and xd.cps else None
    r_dcps = median(pd.cps) / median(direct.cps) if pd.cps and direct.cps else None
    w("| ratio | value | target | |")
    w("|---|---:|---:|---|")
    w(f"| portierd / direct, single stream MB/s | {fmt(r_mbps, '{:.2f}')} | >= 0.50 | "
      f"{verdict(r_mbps, 0.5)} |")
    w(f"| portierd / xinetd, conn/s at c={args.conc} | {fmt(r_cps, '{:.1f}')} | >= 3.0 | "
      f"{verdict(r_cps, 3.0)} |")
    w(f"| portierd / direct, conn/s at c={args.conc} | {fmt(r_dcps, '{:.2f}')} | (for scale) | |")


def parse_bytes(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1].upper()] if s[-1].upper() in mult else int(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--bytes", default="1G", help="single-stream size (1G; K/M/G suffixes)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of each measure (5)")
    ap.add_argument("--seconds", type=float, default=1.0, help="loadgen time per cell (1)")
    ap.add_argument("--conc", type=int, default=8, help="loadgen clients (8)")
    ap.add_argument("--idle", type=int, default=10000, help="idle pairs via portierd (10000)")
    ap.add_argument("--xinetd-idle", type=int, default=500,
                    help="idle connections via xinetd, one process each (500)")
    ap.add_argument("--output", help="also write the tables to this file")
    args = ap.parse_args()
    args.bytes_text = args.bytes
    args.bytes = parse_bytes(args.bytes)
    build = os.path.join(TOP, args.build) if not os.path.isabs(args.build) else args.build
    rbench, loadgen = os.path.join(build, "bench/rbench"), os.path.join(build, "bench/loadgen")
    for b in (rbench, loadgen):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {b} is missing: make bench-redirect builds it")
    raise_own_nofile()
    tmp = tempfile.mkdtemp(prefix="portier-rbench-")
    procs = []
    try:
        be = start([rbench, "-b", str(args.bytes), "backend"], stdin=subprocess.PIPE,
                   stdout=subprocess.PIPE)
        procs.append((be, "backend"))
        backend = dict(t.split("=") for t in be.stdout.readline().decode().split())
        backend = {k: int(v) for k, v in backend.items()}
        direct = Contender("direct", backend)
        pd = start_daemon("portierd", os.path.join(build, "portierd"), tmp, backend)
        xd = start_daemon("xinetd", XINETD, tmp, backend)
        procs += [(c.proc, c.name) for c in (pd, xd) if c.proc]
        cons = [direct, pd, xd]
        for c in cons:
            c.errors = {}
        load0 = os.getloadavg()[0]
        log(f"bench: backend {backend}, portierd {pd.ports}, xinetd {xd.ports}")
        for r in range(args.rounds):
            order = cons[r % 3:] + cons[:r % 3]
            for c in order:
                if c.na:
                    continue
                t0 = cpu_ticks(c.pid) if c.pid else 0
                mbps, got = run_read(rbench, c.ports["source"], 300)
                if c.pid:
                    c.cpu += cpu_ticks(c.pid) - t0
                if mbps is None or got != args.bytes:
                    log(f"bench: {c.name}: single stream read {got} of {args.bytes} bytes")
                else:
                    c.mbps.append(mbps)
            for c in order:
                if c.na:
                    continue
                t0 = cpu_ticks(c.pid) if c.pid else 0
                cps, ok, errs = run_loadgen(loadgen, c.ports["line"], args.conc, args.seconds)
                if c.pid:
                    c.conn_cpu += cpu_ticks(c.pid) - t0
                c.conns += ok
                if cps is not None:
                    c.cps.append(cps)
                for k, v in errs.items():
                    c.errors[k] = c.errors.get(k, 0) + v
            log(f"bench: round {r + 1}/{args.rounds} done")
        time.sleep(2)
        # Each pair holds two sockets in portierd: the descriptor limit caps the pairs.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        idle = min(args.idle, (hard - 64) // 2)
        if idle < args.idle:
            log(f"bench: RLIMIT_NOFILE's hard limit is {hard} and cannot be raised here: "
                f"{idle} idle pairs instead of {args.idle}")
        if not pd.na:
            pd.idle = measure_idle(rbench, pd, idle)
        if not xd.na:
            xd.idle = measure_idle(rbench, xd, args.xinetd_idle)
        out = [f"load average {load0:.2f} -> {os.getloadavg()[0]:.2f}, "
               f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"RLIMIT_NOFILE {hard}", ""]
        print(out[0])
        print()
        report(args, cons, out)
        if args.output:
            with open(args.output, "w") as f:
                f.write("\n".join(out) + "\n")
    finally:
        for p, name in reversed(procs):
            if name == "backend" and p.stdin:
                p.stdin.close()
            stop(p, name)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
