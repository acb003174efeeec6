"""Descriptor exhaustion: portierd under a small RLIMIT_NOFILE and a flood of connections
neither spins (it pauses accepting on EMFILE, and the level-triggered loop must then really
stop reporting the listener) nor dies, and serves again once descriptors free up.

More services than descriptors: 1,100 services under RLIMIT_NOFILE 1024. portierd names the
services it could not open, keeps descriptors in reserve so that those it opened accept and
serve, stays idle when nothing arrives and obeys SIGTERM."""

import os
import re
import select
import signal
import socket
import time

import pytest

from builtin_util import add_builtin
from redirect_util import Backend
from conftest import free_port, pid_alive, wait_for
from portierd_util import connect, listening, need_portierd, read_line, serving_pid
from stress_util import close_all, cpu_over, fd_count, nofile_limit, open_many, stress_count

pytestmark = pytest.mark.timeout(120)


def echo_once(port, payload=b"still here\n"):
    with connect(port, timeout=5) as s:
        s.sendall(payload)
        return read_line(s, timeout=5).encode()


def distinct_ports(n):
    """n different free ports (free_port() alone may hand out one twice)."""
    ports = []
    seen = set()
    for _ in range(20 * n):
        if len(ports) == n:
            break
        p = free_port()
        if p not in seen:
            seen.add(p)
            ports.append(p)
    assert len(ports) == n
    return ports


def test_emfile_flood_pauses_without_spinning(daemon):
    need_portierd()
    d = daemon
    port = add_builtin(d, "echo")
    d.start(preexec_fn=nofile_limit(48))
    assert echo_once(port) == b"still here\n"
    # in-process echo connections hold a descriptor each: 120 exhaust the 48 (the rest wait
    # in the listen queue, which the daemon cannot take from)
    socks = open_many(port, 120)
    try:
        assert len(socks) >= 60, "the kernel did not queue the flood"
        d.wait_message("cannot accept")
        wait_for(lambda: fd_count(serving_pid(d)) >= 46, what="the daemon to run out of descriptors")
        time.sleep(0.3)
        used = cpu_over(serving_pid(d), 1.0)
        assert used < 0.2, f"portierd used {used:.2f} s of CPU in 1 s while out of descriptors"
        assert pid_alive(d.pid)
        paused = [m for m in d.messages() if "cannot accept" in m]
        assert len(paused) <= 3, f"one message per pause, not one per retry: {paused[:5]}"
        # nor does a portierctl client waiting on the control socket make it spin
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as ctl:
            ctl.connect(str(d.control_socket))
            time.sleep(0.3)
            used = cpu_over(serving_pid(d), 1.0)
            assert used < 0.2, f"portierd used {used:.2f} s of CPU in 1 s with a control " \
                               "client it cannot accept"
        # a reload without descriptors to read the configuration with fails and keeps the
        # old one (or succeeds, if a descriptor was free at that moment)
        os.kill(d.pid, signal.SIGHUP)
        d.wait_message("Starting reconfiguration")
        wait_for(lambda: [m for m in d.messages() if "reload failed" in m or
                          "Reconfigured" in m], what="the reload to end")
        assert pid_alive(d.pid)
    finally:
        close_all(socks)
    # descriptors free up: the queued connections were closed by their clients; new ones
    # are served
    wait_for(lambda: echo_once(port) == b"still here\n", timeout=15,
             what="the daemon to serve again")
    d.wait_message("accepting again")
    paused = [m for m in d.messages() if "cannot accept" in m]
    assert len(paused) == 1, f"one message per shortage: {paused}"
    wait_for(lambda: fd_count(serving_pid(d)) < 20, what="the descriptors of the flood to be closed")
    d.reload()                  # and with descriptors back, a reload works
    assert echo_once(port) == b"still here\n"


def test_more_services_than_descriptors(daemon):
    """1,100 services under RLIMIT_NOFILE 1024: the services that did not fit are named, the
    others keep a reserve of descriptors for their connections."""
    # xinetd 2.3.15.3 (Debian), measured by hand on the same configuration: it opens 1,015
    # listeners ("Maximum number of services reached" for the rest), serves, stays idle and
    # exits on SIGTERM; it keeps no reserve, so its in-process and exec'd connections share
    # the last few descriptors
    need_portierd("portier's descriptor reserve and messages")
    d = daemon
    n = 1100
    ports = distinct_ports(n)
    for i, p in enumerate(ports):
        add_builtin(d, "echo", sid=f"e{i:04}", port=p)
    d.start(preexec_fn=nofile_limit(1024), timeout=90)
    wait_for(lambda: "Started working" in d.dlog_text(), what="the daemon to start working")
    unopened = [m for m in d.messages()
                if re.fullmatch(r"service 'e\d+': .*; retrying every 5 seconds", m)]
    assert 50 <= len(unopened) < n - 500, \
        f"expected the services that did not fit to be named: {d.messages()[-5:]}"
    last = int(re.match(r"service 'e(\d+)'", unopened[-1]).group(1))
    assert not listening(ports[last]), "a service reported as not opened listens"
    # the first services listen (opened in order); hold many connections at once on them
    held = []
    try:
        for p in ports[:4]:
            held += [connect(p, timeout=5) for _ in range(15)]
        for i, s in enumerate(held):
            s.sendall(b"conn %d\n" % i)
        for i, s in enumerate(held):
            assert read_line(s, timeout=5) == f"conn {i}\n", f"connection {i} not served"
    finally:
        close_all(held)
    assert echo_once(ports[0]) == b"still here\n"
    # idle: no spinning on listeners it could not open, nor on the ones it did
    # (over 6 s under `make stress`: the bind retries of the unopened services, every 5 s)
    time.sleep(0.5)
    seconds = stress_count(1.0, 6.0)
    used = cpu_over(d.pid, seconds)
    assert used < 0.1 * seconds, f"portierd used {used:.2f} s of CPU in {seconds} s idle"
    assert d.stop(timeout=15) == 0 or not pid_alive(d.pid)
    wait_for(lambda: not d.pidfile.exists(), what="the pid file to be removed")


def test_emfile_flood_on_a_redirect(daemon):
    """Redirect pairs take two descriptors each: under RLIMIT_NOFILE 48 a flood of 100 runs
    out of them, some with the client accepted but no socket left for the backend. Those are
    closed (and said so in a bounded number of lines), the daemon does not spin, and serves
    again once the clients leave."""
    need_portierd()
    d = daemon
    backend = Backend("echo")
    try:
        port = d.add("rd", redirect=f"127.0.0.1 {backend.port}")
        d.start(preexec_fn=nofile_limit(48))
        assert echo_once(port) == b"still here\n"
        socks = open_many(port, 100)
        try:
            for s in socks:
                s.sendall(b"x\n")
            time.sleep(1.0)
            used = cpu_over(d.pid, 1.0)
            assert used < 0.2, f"portierd used {used:.2f} s of CPU in 1 s out of descriptors"
            ready, _, _ = select.select(socks, [], [], 0)
            served = 0
            for s in ready:
                try:
                    served += s.recv(10) == b"x\n"
                except OSError:
                    pass
            assert 5 <= served < 100, f"{served} of 100 pairs served"
        finally:
            close_all(socks)
        wait_for(lambda: echo_once(port) == b"still here\n", timeout=15,
                 what="the daemon to serve again")
        lines = d.messages()
        assert len(lines) < 60, f"{len(lines)} messages for one flood: {lines[-10:]}"
        assert pid_alive(d.pid)
    finally:
        backend.stop()
