"""Load: a reload storm while clients loop (no connection fails), a stop with hundreds of
connections and servers running (every server ended, the pid file removed, nothing left
listening), and the leak check: after many connections of mixed kinds (exec'd servers,
built-ins over TCP and UDP, tcpmux, redirects, refused clients, clients that reset,
control-socket requests good and malformed) the daemon's descriptors are back to their baseline and its
memory has not grown beyond a generous bound.

CI runs the short versions; `make stress` (PORTIER_STRESS=1) the long ones (100,000
connections in the leak check)."""

import os
import signal
import socket
import threading
import time

import pytest

from builtin_util import add_builtin
from ctl_util import REQ, exchange, frame, request
from conftest import pid_alive, try_fetch, wait_for
from portierd_util import connect, descendants, hold, listening, need_portierd, read_line, \
    server, udp_ask
from stress_util import LONG, SANITIZED, close_all, fd_count, fds_settled, linger_reset, \
    pipe_count, rss_kib, state_dump, stress_count

pytestmark = pytest.mark.timeout(1800 if LONG else 240)


def run_clients(fns, seconds):
    """Run each fn(stop_event) in a thread until stop is set by the caller (bounded)."""
    stop = threading.Event()
    threads = [threading.Thread(target=fn, args=(stop,), daemon=True) for fn in fns]
    for t in threads:
        t.start()
    return stop, threads


def join_all(stop, threads, timeout=60):
    stop.set()
    for t in threads:
        t.join(timeout)
    assert not [t for t in threads if t.is_alive()], "a client thread did not finish"


def test_reload_storm(daemon):
    """100 reloads (SIGHUP; 1,000 under `make stress`), half of them waited for, half sent in
    bursts, while clients loop
    on unchanged services (exec'd, a TCP built-in, a UDP built-in): zero failed connections."""
    d = daemon
    ex = d.add("steady", "/bin/echo", "steady")
    echo = add_builtin(d, "echo")
    # UDP built-ins answer 100 datagrams a second per source unless per_source_cps says
    udp = add_builtin(d, "echo", proto="udp", per_source_cps="1000000 1")
    d.add("flip", "/bin/echo", "0")
    d.start()
    lock = threading.Lock()
    res = {"ok": 0, "bad": []}

    def note(ok, what):
        with lock:
            if ok:
                res["ok"] += 1
            else:
                res["bad"].append(what)

    def exec_client(stop):
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            got = try_fetch(ex, timeout=5)
            note(got == b"steady\n", ("exec", got))

    def echo_client(stop):
        deadline = time.monotonic() + 120
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            n += 1
            try:
                with connect(echo, timeout=5) as s:
                    s.sendall(b"%d\n" % n)
                    got = read_line(s, timeout=5).encode()
            except OSError as e:
                got = repr(e)
            note(got == b"%d\n" % n, ("echo", got))

    def udp_client(stop):
        deadline = time.monotonic() + 120
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            n += 1
            try:
                got = udp_ask(udp, b"u%d" % n, timeout=5)
            except OSError as e:
                got = repr(e)
            note(got == b"u%d" % n, ("udp", got))

    stop, threads = run_clients([exec_client, exec_client, echo_client, udp_client], 120)
    try:
        waited = stress_count(50, 500)
        for i in range(waited):
            d.add("flip", "/bin/echo", str(i + 1))
            d.reload(signal.SIGHUP)
        for burst in range(stress_count(10, 100)):
            for i in range(5):
                os.kill(d.pid, signal.SIGHUP)
                time.sleep(0.005)
            d.reload(signal.SIGHUP)       # and one more waited for: the burst is over
    finally:
        join_all(stop, threads)
    assert res["bad"] == [], f"{len(res['bad'])} failed of {res['ok']}: {res['bad'][:10]}"
    assert res["ok"] > 100, res["ok"]
    assert try_fetch(d.services["flip"]["port"]) == b"%d\n" % waited
    assert pid_alive(d.pid)
    wait_for(lambda: not d.zombies(), what="no zombie")


def test_stop_under_load(daemon):
    """SIGTERM with hundreds of connections open: exec'd servers running, in-process
    connections and redirect pairs, clients waiting in the listen queue. Every server ends, the pid file goes,
    nothing listens any more."""
    d = daemon
    n_srv = stress_count(120, 400)
    n_inproc = stress_count(150, 1000)
    held_port = d.add("held", server("hold.sh"))
    echo = add_builtin(d, "echo")
    daytime = add_builtin(d, "daytime")
    udp = add_builtin(d, "echo", proto="udp")
    rd = d.add("rd", redirect=f"127.0.0.1 {echo}")
    d.start()
    conns, pids = [], []
    try:
        for _ in range(n_srv):
            s, pid = hold(held_port)
            conns.append(s)
            pids.append(pid)
        for i in range(n_inproc):
            s = connect(echo)
            s.sendall(b"x\n")
            conns.append(s)
        assert read_line(conns[-1]) == "x\n"
        for i in range(n_inproc // 3):          # redirect pairs (to the echo built-in)
            s = connect(rd)
            s.sendall(b"r\n")
            conns.append(s)
        assert read_line(conns[-1]) == "r\n"
        # and a flood still arriving while it stops
        arriving = []
        stop_flood = threading.Event()

        def flood():
            deadline = time.monotonic() + 30
            while not stop_flood.is_set() and time.monotonic() < deadline and \
                    len(arriving) < 2000:
                try:
                    s = socket.create_connection(("127.0.0.1", echo), timeout=2)
                    arriving.append(s)
                except OSError:
                    time.sleep(0.01)
        t = threading.Thread(target=flood, daemon=True)
        t.start()
        time.sleep(0.2)
        kids = descendants(d.pid)
        assert len(kids) >= n_srv, f"{len(kids)} servers running, expected {n_srv}"
        assert d.stop(timeout=30) in (0, None)
        stop_flood.set()
        t.join(30)
        assert not pid_alive(d.pid)
        assert not d.pidfile.exists(), "the pid file outlived the daemon"
        alive = [p for p in kids if pid_alive(p)]
        assert alive == [], f"servers outlived the daemon: {alive[:10]}"
        for port in (held_port, echo, daytime, rd):
            assert not listening(port), f"port {port} still listening after the stop"
        assert not listening(udp, proto="udp")
        # every client sees the end of its connection
        for s in conns[:20] + conns[-20:]:
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        d.wait_message("Exiting...")
        close_all(arriving)
    finally:
        close_all(conns)


# --- the leak check ---------------------------------------------------------------------

def mixed_config(d):
    ports = {
        "exec": d.add("ex", "/bin/echo", "hello"),
        "echo": add_builtin(d, "echo"),
        "daytime": add_builtin(d, "daytime"),
        "udp": add_builtin(d, "echo", proto="udp", per_source_cps="1000000 1"),
        "refused": d.add("no", "/bin/echo", "never", only_from="127.0.0.2"),
        "tcpmux": add_builtin(d, "tcpmux"),
    }
    d.add("muxed", "/bin/echo", "muxed", type="TCPMUX UNLISTED")
    for key in ("port", "bind"):
        d.services["muxed"]["attrs"].pop(key)
    ports["control"] = d.control_socket
    ports["redirect"] = d.add("rd", redirect=f"127.0.0.1 {ports['echo']}")
    return ports


KINDS = 12
EXEC_KIND, REFUSED_KIND = 7, 4


def kind_count(kind, *totals):
    """How many connections of this kind run_mixed() made over runs of these sizes."""
    return sum(len(range(kind, n, KINDS)) for n in totals)


def one_of_each(ports, k):
    """One connection of kind k % KINDS; returns None when it went as expected, else what
    happened."""
    kind = k % KINDS
    try:
        if kind == 10:          # a redirect (to the echo built-in)
            with connect(ports["redirect"], timeout=5) as s:
                s.sendall(b"r%d\n" % k)
                got = read_line(s, timeout=5)
            return None if got == f"r{k}\n" else ("redirect", got)
        if kind == 11:          # a redirect reset by its client with data in flight
            s = connect(ports["redirect"], timeout=5)
            s.sendall(b"x" * 10000)
            linger_reset(s)
            s.close()
            return None
        if kind == 8:
            data, status, _ = exchange(ports["control"], [request("status")])
            return None if status == 0 and data else ("control", status)
        if kind == 9:           # a malformed request: an error answer, then closed
            _, status, _ = exchange(ports["control"], [frame(REQ["list"], length=99)])
            return None if status not in (0, None) else ("control garbage", status)
        if kind in (0, 1):
            with connect(ports["echo"], timeout=5) as s:
                s.sendall(b"%d\n" % k)
                got = read_line(s, timeout=5)
            return None if got == f"{k}\n" else ("echo", got)
        if kind == 2:
            with connect(ports["daytime"], timeout=5) as s:
                got = read_line(s, timeout=5)
            return None if got.endswith("\n") and len(got) > 10 else ("daytime", got)
        if kind == 3:
            got = udp_ask(ports["udp"], b"d%d" % k, timeout=5)
            return None if got == b"d%d" % k else ("udp", got)
        if kind == 4:
            with connect(ports["refused"], timeout=5) as s:
                s.settimeout(5)
                got = s.recv(100)
            return None if got == b"" else ("refused", got)
        if kind == 5:
            s = connect(ports["echo"], timeout=5)   # reset at once, maybe before the accept
            linger_reset(s)
            s.close()
            return None
        if kind == 6:
            with connect(ports["tcpmux"], timeout=5) as s:
                s.sendall(b"muxed\r\n")
                got = s.recv(100)
                while not got.endswith(b"\n"):
                    more = s.recv(100)
                    if not more:
                        break
                    got += more
            return None if got == b"muxed\n" else ("tcpmux", got)
        got = try_fetch(ports["exec"], timeout=5)       # kind 7
        return None if got == b"hello\n" else ("exec", got)
    except OSError as e:
        return (kind, repr(e))


def run_mixed(ports, total, threads=4):
    lock = threading.Lock()
    bad, done = [], [0]

    def worker(w):
        deadline = time.monotonic() + (1500 if LONG else 150)
        for k in range(w, total, threads):
            if time.monotonic() > deadline:
                break
            r = one_of_each(ports, k)
            with lock:
                done[0] += 1
                if r is not None:
                    bad.append(r)
    ts = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(1600 if LONG else 160)
    return done[0], bad


def test_no_leak_after_many_connections(daemon):
    need_portierd("reads the daemon's own descriptors and memory")
    d = daemon
    d.defaults["log_on_failure"] = "HOST"
    ports = mixed_config(d)
    d.start()
    done, bad = run_mixed(ports, 800)           # warm up: caches, tables, log buffers
    assert bad == [], bad[:10]
    wait_for(lambda: not descendants(d.pid), what="the warm-up's servers to exit")
    base_fds = fd_count(d.pid)
    base_rss = rss_kib(d.pid)
    total = stress_count(12000, 100000)
    done, bad = run_mixed(ports, total)
    assert done == total, f"only {done} of {total} connections in the time allowed"
    assert bad == [], f"{len(bad)} of {done} went wrong: {bad[:10]}"
    wait_for(lambda: not descendants(d.pid), timeout=30, what="every server to exit")
    wait_for(lambda: state_dump(d)[""]["in-process connections"] == 0, timeout=15,
             what="every in-process connection and redirect pair to end")
    wait_for(lambda: fds_settled(d.pid, base_fds), timeout=15,
             what=f"the descriptors back to {base_fds}, pipes aside (now {fd_count(d.pid)}, "
                  f"and {pipe_count(d.pid)} pipe ends)")
    grown = rss_kib(d.pid) - base_rss
    print(f"leak check: {done} connections; descriptors {base_fds} -> {fd_count(d.pid)}; "
          f"RSS {base_rss} KiB -> {base_rss + grown} KiB")
    if not SANITIZED:      # ASan's quarantine grows by design
        assert grown < 4096, f"RSS grew by {grown} KiB over {done} connections"
    assert not d.zombies()
    assert pid_alive(d.pid)
    dump = state_dump(d)
    assert dump["no"]["refused address"] == kind_count(REFUSED_KIND, 800, done), dump["no"]
    assert dump["ex"]["started"] == dump["ex"]["exited"] == kind_count(EXEC_KIND, 800, done), \
        dump["ex"]
    assert dump[""]["servers running"] == 0 and dump[""]["in-process connections"] == 0, dump[""]
