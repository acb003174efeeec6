#!/usr/bin/python3
"""access.py — what refusing costs: portierd against xinetd, in one run, on loopback.

Part 1, refusals. Each daemon serves a service whose only_from names an address no client
has (192.0.2.1, TEST-NET-1), so every connection is refused by address and logged as a FAIL
line (log_on_failure HOST). loadgen runs 8 clients in a closed loop (connect, read to EOF,
close) and counts a refusal as a completed connection (-e 0). Measured: refused connections a
second, and the daemon's own CPU per refusal (utime + stime of all its threads, and of the
children it reaped: xinetd forks a child for every address refusal).

The ceiling of the machine is the rate of a no-fork built-in in the same run: daytime
(type = INTERNAL) served by portierd, and by xinetd, whichever is faster. Target: portierd's
refusal rate >= 80 % of that ceiling (issue 5).

Part 2, isolation. While loadgen floods the refusing service at a fixed rate (2,000
connections a second, open loop: -r), a second loadgen with one client measures a victim
service (the exec'd tiny server of run.py, which writes a line and exits) on the same daemon:
its p99 latency from connect to EOF (the reply is one line, so EOF is its first byte plus
the server's exit). Target: p99 under the flood <= 2x the same measure without it.

Rounds interleave the daemons so that a shared machine's noise falls on all of them alike;
the table shows medians over the rounds. Everything binds 127.0.0.1 on ports the kernel
hands out; only the processes this script starts are stopped, by pid.

    make bench-access                         # or, once `make bench-build` has run:
    /usr/bin/python3 bench/access.py --help
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the spawn bench's process, port and loadgen helpers)

TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
TARGET_CEILING = 0.80
TARGET_ISOLATION = 2.0


def conf_text(logfile, ports, tiny, with_daytime=True):
    out = [run.xinetd_defaults(logfile)]
    user = "\tuser = nobody\n" if os.geteuid() == 0 else ""
    out.append("service refused\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n"
               f"\tprotocol = tcp\n\twait = no\n{user}\tserver = /bin/true\n"
               "\tbind = 127.0.0.1\n"
               f"\tport = {ports['refused']}\n\tonly_from = 192.0.2.1\n"
               "\tinstances = UNLIMITED\n\tcps = 1000000 1\n}\n")
    if with_daytime:
        out.append("service daytime\n{\n\ttype = INTERNAL UNLISTED\n\tid = daytime-stream\n"
                   "\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n"
                   f"\tbind = 127.0.0.1\n\tport = {ports['daytime']}\n"
                   "\tinstances = UNLIMITED\n\tcps = 1000000 1\n}\n")
    out.append(run.xinetd_service("victim", ports["victim"], tiny))
    return "".join(out)


class Daemon:
    def __init__(self, name, argv, tmp, ports, bins):
        self.name, self.ports, self.bins, self.na = name, ports, bins, None
        self.services = {}
        self.proc = run.Proc(name, argv, tmp)

    def ticks(self):
        t = run.cpu_ticks(self.proc.pid)
        return None if t is None else t[0] + t[1]

    def serves(self, service):
        """Does the daemon answer on that service's port (any reply, or a refusal)?"""
        port = self.ports[service]
        ok, why = run.probe(port, want_reply=False, timeout=1.0)
        if not ok:
            return False, why
        r, err = loadgen(self.bins, port, 1, 0.05, extra=["-n", "3"])
        if err or r["ok"] < 1:
            return False, err or "no connection completed"
        return True, ""


def loadgen(bins, port, conc, seconds, extra=(), timeout_ms=5000):
    """A closed-loop run that takes any reply, a refusal included."""
    return run.run_loadgen(bins, port, conc, seconds, timeout_ms, extra=["-e", "0", *extra])


def start_daemons(args, bins, tmp):
    daemons = []
    taken = set()
    for name in ("portierd", "xinetd"):
        if not bins.get(name):
            run.log(f"access: {name} not found; its rows are left out")
            continue
        ports = {k: run.free_port(taken) for k in ("refused", "daytime", "victim")}
        d = os.path.join(tmp, name)
        os.makedirs(d)
        conf = os.path.join(d, "conf")
        with open(conf, "w") as f:
            f.write(conf_text(os.path.join(d, "services.log"), ports, bins["tinyserver"]))
        argv = [bins[name], "-dontfork", "-f", conf, "-pidfile", os.path.join(d, "pid"),
                "-filelog", os.path.join(d, "daemon.log")]
        if name == "portierd":          # never the machine's own /run/portierd.sock
            argv += ["--control-socket", os.path.join(d, "ctl.sock")]
        dm = Daemon(name, argv, d, ports, bins)
        why = run.wait_serving(dm.proc, ports["victim"], args.start_timeout)
        if why:
            dm.na = why
        for svc in ("refused", "daytime"):
            ok, why = (False, dm.na) if dm.na else dm.serves(svc)
            dm.services[svc] = None if ok else why
        daemons.append(dm)
    return daemons


def measure_refusals(args, bins, daemons):
    """Per daemon and service: lists of (conn/s, daemon µs per connection) over the rounds."""
    res = {(d.name, s): [] for d in daemons for s in ("refused", "daytime")}
    for rnd in range(args.rounds):
        for d in daemons:
            for svc in ("refused", "daytime"):
                if d.na or d.services[svc]:
                    continue
                t0 = d.ticks()
                r, err = loadgen(bins, d.ports[svc], args.concurrency, args.seconds)
                t1 = d.ticks()
                if err or t0 is None or t1 is None:
                    d.services[svc] = err or "the daemon exited"
                    continue
                errors = r["refused"] + r["reset"] + r["timeout"] + r["other"]
                us = (t1 - t0) * TICK_US / r["ok"] if r["ok"] else float("nan")
                res[(d.name, svc)].append((r["cps"], us, errors))
        run.log(f"access: refusals, round {rnd + 1}/{args.rounds} done")
    return res


def measure_isolation(args, bins, daemons):
    """Per daemon: (victim p99 alone, victim p99 under the flood, flood conn/s), medians."""
    out = {}
    for d in daemons:
        if d.na:
            continue
        alone, loaded, flood_rates, errs = [], [], [], 0
        for rnd in range(args.rounds):
            r, err = loadgen(bins, d.ports["victim"], 1, args.seconds)
            if err:
                out[d.name] = {"na": err}
                break
            alone.append(r["p99_us"])
            errs += r["refused"] + r["reset"] + r["timeout"] + r["other"]
            flood = subprocess.Popen(
                [bins["loadgen"], "-p", str(d.ports["refused"]), "-c", "256",
                 "-d", f"{args.seconds + 0.4:g}", "-t", "5000", "-e", "0",
                 "-r", str(args.flood_rate)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.2)             # the flood is on before the victim is measured
            r, err = loadgen(bins, d.ports["victim"], 1, args.seconds)
            try:
                fo, _ = flood.communicate(timeout=args.seconds + 40)
            except subprocess.TimeoutExpired:
                flood.kill()
                fo, _ = flood.communicate()
            if err:
                out[d.name] = {"na": err}
                break
            loaded.append(r["p99_us"])
            errs += r["refused"] + r["reset"] + r["timeout"] + r["other"]
            kv = run.parse_kv(fo.strip().splitlines()[-1] if fo.strip() else "")
            try:
                flood_rates.append(float(kv["cps"]))
            except (KeyError, ValueError):
                pass
        else:
            out[d.name] = {"alone": statistics.median(alone),
                           "loaded": statistics.median(loaded),
                           "flood": statistics.median(flood_rates) if flood_rates else 0.0,
                           "errors": errs}
        run.log(f"access: isolation, {d.name} done")
    return out


def med(v, i):
    return statistics.median(x[i] for x in v) if v else None


def print_tables(args, daemons, ref, iso, out):
    p = lambda s="": print(s, file=out)
    p(f"Refusals: {args.concurrency} clients in a closed loop, {args.seconds:g} s a cell, "
      f"{args.rounds} rounds, medians; every connection refused by only_from and logged")
    p()
    hdr = f"{'daemon':<9} {'service':<9} {'conn/s':>8} {'daemon µs/conn':>15} {'errors':>7}"
    p(hdr)
    p("-" * len(hdr))
    ceiling = None
    for d in daemons:
        for svc in ("refused", "daytime"):
            why = d.na or d.services.get(svc)
            v = ref.get((d.name, svc))
            if why or not v:
                p(f"{d.name:<9} {svc:<9} n/a ({why or 'not measured'})")
                continue
            cps, us = med(v, 0), med(v, 1)
            p(f"{d.name:<9} {svc:<9} {cps:>8.0f} {us:>15.1f} {sum(x[2] for x in v):>7}")
            if svc == "daytime":
                ceiling = max(ceiling or 0, cps)
    p()
    pref = ref.get(("portierd", "refused"))
    xref = ref.get(("xinetd", "refused"))
    if pref and ceiling:
        r = med(pref, 0) / ceiling
        p(f"portierd refusals / no-fork ceiling (best daytime, {ceiling:.0f}/s): {r:.2f} "
          f"(target >= {TARGET_CEILING:.2f}: {'met' if r >= TARGET_CEILING else 'MISSED'})")
    elif pref:
        p("portierd refusals / no-fork ceiling: n/a (no daytime built-in served)")
    if pref and xref:
        p(f"portierd / xinetd refusals: conn/s {med(pref, 0) / med(xref, 0):.2f}x, daemon "
          f"CPU per refusal {med(pref, 1) / med(xref, 1):.2f}x")
    p()
    p(f"Isolation: victim (exec'd tiny server, 1 client) p99 connect-to-EOF latency, alone and "
      f"while {args.flood_rate}/s refused connections flood another service of the same "
      "daemon (open loop, at most 256 in flight)")
    p()
    hdr = f"{'daemon':<9} {'p99 alone µs':>13} {'p99 flood µs':>13} {'ratio':>6} " \
          f"{'flood conn/s':>13} {'errors':>7}"
    p(hdr)
    p("-" * len(hdr))
    for d in daemons:
        r = iso.get(d.name)
        if d.na or not r or "na" in r:
            p(f"{d.name:<9} n/a ({d.na or (r or {}).get('na', 'not measured')})")
            continue
        ratio = r["loaded"] / r["alone"] if r["alone"] else float("nan")
        p(f"{d.name:<9} {r['alone']:>13.0f} {r['loaded']:>13.0f} {ratio:>6.2f} "
          f"{r['flood']:>13.0f} {r['errors']:>7}")
    r = iso.get("portierd")
    if r and "na" not in r and r["alone"]:
        ratio = r["loaded"] / r["alone"]
        p(f"portierd: p99 under the flood / alone = {ratio:.2f} (target <= "
          f"{TARGET_ISOLATION:.1f}: {'met' if ratio <= TARGET_ISOLATION else 'MISSED'})")
    la = run.loadavg()
    p(f"Machine: {run.machine()}; portierd from {run.source_version()}; load average "
      f"(1 min) at the end: {la if la is not None else '?'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--seconds", type=float, default=1.0, help="load time per cell (1)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    ap.add_argument("--concurrency", type=int, default=8, help="clients for part 1 (8)")
    ap.add_argument("--flood-rate", type=int, default=2000,
                    help="connections a second of the flood in part 2 (2000)")
    ap.add_argument("--start-timeout", type=float, default=5.0,
                    help="seconds a daemon has to serve its first connection (5)")
    ap.add_argument("--output", help="also write the tables to this file")
    args = ap.parse_args()
    if not (0.1 <= args.seconds <= 60 and 1 <= args.rounds <= 50 and
            1 <= args.concurrency <= 1024 and 1 <= args.flood_rate <= 100000):
        sys.exit("access: an option is out of its range (see --help)")
    bins = run.find_bins(args)
    tmp = tempfile.mkdtemp(prefix="portier-access-")
    daemons = []
    try:
        daemons = start_daemons(args, bins, tmp)
        ref = measure_refusals(args, bins, daemons)
        iso = measure_isolation(args, bins, daemons)
    finally:
        for d in daemons:
            d.proc.stop()
    print_tables(args, daemons, ref, iso, sys.stdout)
    if args.output:
        with open(args.output, "w") as f:
            print_tables(args, daemons, ref, iso, f)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
