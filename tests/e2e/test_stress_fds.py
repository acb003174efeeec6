"""Descriptor exhaustion: portierd under a small RLIMIT_NOFILE and a flood of connections
neither spins (it pauses accepting on EMFILE, and the level-triggered loop must then really
stop reporting the listener) nor dies, and serves again once descriptors free up.

More services than descriptors: 1,100 services under RLIMIT_NOFILE 1024. portierd names the
services it could not open, keeps descriptors in reserve so that those it opened accept and
serve, stays idle when nothing arrives and obeys SIGTERM."""

import signal
import socket
import time

import pytest

from builtin_util import add_builtin
from conftest import fetch, pid_alive, wait_for
from portierd_util import connect, need_portierd, read_line, server
from stress_util import close_all, cpu_over, fd_count, nofile_limit, open_many

pytestmark = pytest.mark.timeout(120)


def echo_once(port, payload=b"still here\n"):
    with connect(port, timeout=5) as s:
        s.sendall(payload)
        return read_line(s, timeout=5).encode()


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
        wait_for(lambda: fd_count(d.pid) >= 46, what="the daemon to run out of descriptors")
        time.sleep(0.3)
        used = cpu_over(d.pid, 1.0)
        assert used < 0.2, f"portierd used {used:.2f} s of CPU in 1 s while out of descriptors"
        assert pid_alive(d.pid)
        paused = [m for m in d.messages() if "cannot accept" in m]
        assert len(paused) <= 3, f"one message per pause, not one per retry: {paused[:5]}"
    finally:
        close_all(socks)
    # descriptors free up: the queued connections were closed by their clients; new ones
    # are served
    wait_for(lambda: echo_once(port) == b"still here\n", timeout=15,
             what="the daemon to serve again")
    d.wait_message("accepting again")
    wait_for(lambda: fd_count(d.pid) < 20, what="the descriptors of the flood to be closed")
