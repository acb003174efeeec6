#!/usr/bin/python3
"""bench/builtin.py — the echo built-in, in one run: portierd, xinetd, and a plain echo server.

The contenders serve echo on loopback at the same time, each on its own free port:

  portierd   INTERNAL echo, TCP and UDP (in-process)
  xinetd     INTERNAL echo, TCP and UDP (it forks for each TCP connection)
  plain      build/bench/echobench server: a bare epoll echo server, the ceiling

Measured, in --rounds interleaved rounds (the order rotates; medians are printed):
  conn/s     echobench conn at c=8 for --seconds: {connect, 16 bytes, echoed, close}
  MB/s       echobench stream: one connection, --mbytes sent while the echo is read
  UDP        echobench udp at c=8 for --seconds: datagrams answered per second, and how many
             went unanswered
Then the idle part: --idle connections held open on portierd's echo (and on the plain
server), each checked with a one-byte echo first; the daemon's RSS before and while they are
held gives its memory per connection. RLIMIT_NOFILE is raised to its hard limit (and the hard
limit to 65536 as root) for everything started here.

portierd and xinetd read the same configuration: log_type FILE with PID HOST EXIT DURATION,
cps and (portier's) per_source_cps lifted so that no rate limit interferes. The harness stays
on loopback, stops only the processes it started (by pid), and removes its directory.
"""

import argparse
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# Targets from issue 6 ("Performance").
TARGET_CPS_VS_PLAIN = 0.9
TARGET_MBPS_VS_XINETD = 2.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def raise_nofile(want=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 (bounded tries)."""
    for _ in range(100):
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def write_conf(path, logfile, port, portier):
    """The same services for both daemons; portierd also gets per_source_cps lifted, which
    replaces its default limit of 100 UDP answers a second per source (xinetd has neither)."""
    extra = "\tper_source_cps = 2000000000 1\n" if portier else ""
    svc = []
    for sock, proto, wait in (("stream", "tcp", "no"), ("dgram", "udp", "yes")):
        svc.append(f"""service echo
{{
\tid = echo-{sock}
\ttype = INTERNAL UNLISTED
\tsocket_type = {sock}
\tprotocol = {proto}
\twait = {wait}
\tport = {port}
\tbind = 127.0.0.1
{extra}}}
""")
    with open(path, "w") as f:
        f.write(f"""defaults
{{
\tlog_type = FILE {logfile}
\tlog_on_success = PID HOST EXIT DURATION
\tlog_on_failure = HOST
\tinstances = UNLIMITED
\tcps = 2000000000 1
}}
""" + "\n".join(svc))


def start(name, argv, tmp):
    err = open(os.path.join(tmp, name + ".stderr"), "wb")
    p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                         start_new_session=True)
    p.errf = err
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    p.errf.close()


def wait_echo(port, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"ping")
                if s.recv(4) == b"ping":
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def kv(line):
    return dict(x.split("=", 1) for x in line.split())


def echobench(bins, *args, timeout=180):
    r = subprocess.run([bins, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0 or not r.stdout.strip():
        raise RuntimeError(f"echobench {args}: rc={r.returncode} {r.stderr.strip()[:200]}")
    return kv(r.stdout.strip().splitlines()[-1])


def measure_idle(bins, port, pid, n):
    """Hold n echo connections; return (ready, rss before KiB, rss while held KiB)."""
    before = rss_kib(pid)
    p = subprocess.Popen([bins, "idle", str(port), str(n)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        time.sleep(0.5)
        held = rss_kib(pid)
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    ready = int(kv(line).get("ready", 0)) if line else 0
    return ready, before, held


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--mbytes", type=int, default=200)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--no-xinetd", action="store_true")
    args = ap.parse_args()

    raise_nofile()
    bins = os.path.join(args.build, "bench", "echobench")
    portierd = os.path.join(args.build, "portierd")
    xinetd = None if args.no_xinetd else (shutil.which("xinetd") or
                                          ("/usr/sbin/xinetd" if os.path.exists("/usr/sbin/xinetd")
                                           else None))
    tmp = tempfile.mkdtemp(prefix="portier-bench-builtin-")
    procs = {}
    ports = {}
    try:
        ports["plain"] = free_port()
        procs["plain"] = start("plain", [bins, "server", ports["plain"]], tmp)
        for name, binary in (("portierd", portierd), ("xinetd", xinetd)):
            if not binary:
                continue
            ports[name] = free_port()
            conf = os.path.join(tmp, name + ".conf")
            write_conf(conf, os.path.join(tmp, name + ".svc.log"), ports[name],
                       name == "portierd")
            argv = [binary, "-dontfork", "-f", conf, "-pidfile", os.path.join(tmp, name + ".pid"),
                    "-filelog", os.path.join(tmp, name + ".log")]
            if name == "portierd":      # never the machine's own /run/portierd.sock
                argv += ["--control-socket", os.path.join(tmp, name + ".ctl")]
            procs[name] = start(name, argv, tmp)
        for name in list(procs):
            if not wait_echo(ports[name]):
                log(f"bench: {name} does not serve echo; left out")
                stop(procs.pop(name))
        names = list(procs)
        res = {n: {"cps": [], "mbps": [], "pps": [], "sent": 0, "answered": 0, "errors": 0,
                   "intact": True} for n in names}
        load0 = os.getloadavg()
        for rnd in range(args.rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for n in order:
                c = echobench(bins, "conn", ports[n], 8, args.seconds)
                res[n]["cps"].append(float(c["cps"]))
                res[n]["errors"] += int(c["errors"])
                s = echobench(bins, "stream", ports[n], args.mbytes)
                res[n]["mbps"].append(float(s["mbps"]) if s["complete"] == "1" else 0.0)
                res[n]["intact"] &= s["intact"] == "1" and s["complete"] == "1"
                u = echobench(bins, "udp", ports[n], 8, args.seconds)
                res[n]["pps"].append(float(u["pps"]))
                res[n]["sent"] += int(u["sent"])
                res[n]["answered"] += int(u["answered"])
            log(f"bench: round {rnd + 1}/{args.rounds} done")
        idle = {}
        for n in ("portierd", "plain"):
            if n in procs:
                idle[n] = measure_idle(bins, ports[n], procs[n].pid, args.idle)
        load1 = os.getloadavg()
        report(args, names, res, idle, load0, load1)
    finally:
        for p in procs.values():
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


def report(args, names, res, idle, load0, load1):
    med = {n: {k: statistics.median(res[n][k]) for k in ("cps", "mbps", "pps")} for n in names}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, kernel {platform.release()}; "
          f"load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end (shared)")
    print(f"{args.rounds} rounds of {args.seconds:g} s per measure, interleaved; medians; "
          f"stream: {args.mbytes} MB per run\n")
    print("| contender | echo conn/s (c=8) | best | worst | errors | echo MB/s (1 stream) "
          "| intact | UDP answered/s (c=8) | UDP unanswered |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for n in names:
        r = res[n]
        lost = r["sent"] - r["answered"]
        print(f"| {n} | {med[n]['cps']:,.0f} | {max(r['cps']):,.0f} | {min(r['cps']):,.0f} "
              f"| {r['errors']} | {med[n]['mbps']:,.0f} | {'yes' if r['intact'] else 'NO'} "
              f"| {med[n]['pps']:,.0f} | {lost:,} of {r['sent']:,} "
              f"({100.0 * lost / max(1, r['sent']):.1f} %) |")
    print()
    if "portierd" in med and "plain" in med:
        ratios = [a / b for a, b in zip(res["portierd"]["cps"], res["plain"]["cps"]) if b]
        q = statistics.median(ratios)
        print(f"- portierd / plain echo conn/s: {q:.2f} (median of per-round ratios; target "
              f"≥ {TARGET_CPS_VS_PLAIN}: {'met' if q >= TARGET_CPS_VS_PLAIN else 'MISSED'})")
    if "portierd" in med and "xinetd" in med:
        q = med["portierd"]["mbps"] / max(1e-9, med["xinetd"]["mbps"])
        print(f"- portierd / xinetd single-stream echo MB/s: {q:.2f} (target ≥ "
              f"{TARGET_MBPS_VS_XINETD}: {'met' if q >= TARGET_MBPS_VS_XINETD else 'MISSED'})")
        q = med["portierd"]["cps"] / max(1e-9, med["xinetd"]["cps"])
        print(f"- portierd / xinetd echo conn/s: {q:.1f}")
    if "portierd" in res:
        r = res["portierd"]
        print(f"- portierd UDP echo: {r['answered']:,} of {r['sent']:,} datagrams answered "
              f"({'every one' if r['answered'] == r['sent'] else 'NOT every one'})")
    for n, (ready, before, held) in idle.items():
        per = (held - before) * 1024 / max(1, ready)
        print(f"- {n}: {ready:,} of {args.idle:,} idle echo connections held; RSS "
              f"{before / 1024:.1f} MiB -> {held / 1024:.1f} MiB, {per:,.0f} bytes per "
              f"connection")


if __name__ == "__main__":
    main()
