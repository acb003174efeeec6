"""portierctl reexec: the daemon executes its binary again in place. Same pid, the listening
sockets and the pid file lock kept, running servers adopted (their EXIT lines still written),
counters kept, no connection refused meanwhile; a re-exec that cannot happen, or whose new image
cannot take over, leaves the old program serving."""

import os
import re
import shutil
import socket
import threading
import time

from conftest import wait_for
from ctl_util import ctl  # noqa: F401 (fixture)
from portierd_util import hold, serving_pid, socket_inode


def _fd_flags(pid, fd):
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError("no flags")


class ClientLoop(threading.Thread):
    """Connect to an echo service again and again until stopped; count the failures."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.ok, self.failed, self.stop = port, 0, [], threading.Event()

    def run(self):
        deadline = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as c:
                    data = c.recv(10)
                    if data == b"hi\n":
                        self.ok += 1
                    else:
                        self.failed.append(f"got {data!r}")
            except OSError as e:
                self.failed.append(repr(e))


def _setup(ctl, binary=None):
    d = ctl.daemon
    if binary:
        d.bin = binary
    p_hold = d.add("holder", os.path.join(os.path.dirname(__file__), "servers", "hold.sh"))
    p_echo = d.add("echoer", "/bin/echo", "echo hi", flags="NAMEINARGS")
    ctl.start()
    return p_hold, p_echo


def test_reexec_under_load(ctl):
    p_hold, p_echo = _setup(ctl)
    d = ctl.daemon
    pid = d.pid
    inodes = (socket_inode(p_hold), socket_inode(p_echo))
    held, server_pid = hold(p_hold)
    loop = ClientLoop(p_echo)
    loop.start()
    try:
        wait_for(lambda: loop.ok >= 20, what="the client loop to get going")
        r = ctl.run("reexec")
        assert r.rc == 0, r
        # the holder's server, and maybe an echo server caught running
        assert re.fullmatch(rf"re-executed '{re.escape(str(d.bin))}': pid {pid}, 2 services, "
                            r"\d+ servers adopted\n", r.out), r.out
        before = loop.ok
        wait_for(lambda: loop.ok >= before + 20, what="connections after the re-exec")
    finally:
        loop.stop.set()
        loop.join(30)
    assert loop.failed == [], loop.failed[:5]
    assert d.pid == pid and int(d.pidfile.read_text()) == pid
    assert (socket_inode(p_hold), socket_inode(p_echo)) == inodes
    d.wait_message("re-executed")
    st = ctl.json("status")
    assert st["pid"] == pid and st["generation"] == 2
    s = {x["id"]: x for x in st["services"]}
    assert s["echoer"]["accepted"] >= loop.ok and s["holder"]["running"] == 1
    assert [x["pid"] for x in s["holder"]["servers"]] == [server_pid]
    # the pid file is still locked: a second daemon on it refuses to start
    r2 = d.procs.run(d.argv("--control-socket", ctl.sock.with_name("other.sock")))
    assert r2.rc != 0 and f"already running (pid {pid})" in r2.err
    # the adopted server's exit is reaped and logged by the new image
    held.close()
    d.wait_log(rf"EXIT: holder status=0 pid={server_pid} duration=\d+\(sec\)")
    wait_for(lambda: not d.zombies(), what="no zombie")
    assert ctl.json("status", "holder")["services"][0]["running"] == 0
    # the listening sockets are close-on-exec again
    for x in ctl.json("sockets")["sockets"]:
        assert _fd_flags(serving_pid(d), x["fd"]) & os.O_CLOEXEC
    # and a second re-exec works as the first
    assert ctl.run("reexec").rc == 0
    assert ctl.json("status")["generation"] == 3 and d.pid == pid


def _copy_binary(ctl, tmp_path):
    b = tmp_path / "bin"
    b.mkdir()
    copy = b / "portierd"
    shutil.copy2(ctl.daemon.bin, copy)
    return copy


def test_reexec_refused_binary_not_executable(ctl, tmp_path):
    copy = _copy_binary(ctl, tmp_path)
    p_hold, p_echo = _setup(ctl, copy)
    pid = ctl.daemon.pid
    os.chmod(copy, 0o644)
    r = ctl.run("reexec")
    assert r.rc == 1 and "is not an executable file" in r.err, r
    assert ctl.json("status")["pid"] == pid and ctl.json("status")["generation"] == 1
    with socket.create_connection(("127.0.0.1", p_echo), timeout=10) as c:
        assert c.recv(10) == b"hi\n"


def test_reexec_execve_fails_and_is_undone(ctl, tmp_path):
    copy = _copy_binary(ctl, tmp_path)
    p_hold, p_echo = _setup(ctl, copy)
    pid = ctl.daemon.pid
    tmp = copy.with_name("new")
    tmp.write_bytes(b"\x7fELF garbage, not a program")
    os.chmod(tmp, 0o755)
    os.rename(tmp, copy)
    r = ctl.run("reexec")
    assert r.rc == 1 and "cannot execute" in r.err and "still serving" in r.err, r
    assert ctl.daemon.pid == pid
    with socket.create_connection(("127.0.0.1", p_echo), timeout=10) as c:
        assert c.recv(10) == b"hi\n"
    for x in ctl.json("sockets")["sockets"]:
        assert _fd_flags(serving_pid(ctl.daemon), x["fd"]) & os.O_CLOEXEC


def test_reexec_new_image_fails_old_one_serves_again(ctl, tmp_path):
    copy = _copy_binary(ctl, tmp_path)
    real = copy.with_name("real-portierd")
    shutil.copy2(copy, real)
    p_hold, p_echo = _setup(ctl, copy)
    pid = ctl.daemon.pid
    held, server_pid = hold(p_hold)
    # the "upgrade": a new program that cannot load the configuration
    tmp = copy.with_name("new")
    tmp.write_text(f'#!/bin/sh\nexec {real} "$@" -f /nonexistent/portier.conf\n')
    os.chmod(tmp, 0o755)
    os.rename(tmp, copy)
    r = ctl.run("reexec")
    assert r.rc == 1, r
    assert "re-exec failed" in r.err and "the previous binary serves again" in r.err, r
    assert ctl.daemon.pid == pid
    st = ctl.json("status")
    assert st["pid"] == pid
    assert {x["id"]: x for x in st["services"]}["holder"]["running"] == 1
    with socket.create_connection(("127.0.0.1", p_echo), timeout=10) as c:
        assert c.recv(10) == b"hi\n"
    held.close()
    ctl.daemon.wait_log(rf"EXIT: holder status=0 pid={server_pid} duration=\d+\(sec\)")


def test_reexec_with_a_wait_yes_server_running(ctl):
    """A wait = yes server has the socket during the re-exec: the new image leaves the socket
    to it (suspended) and serves again once it has exited."""
    from portierd_util import server, udp_ask
    d = ctl.daemon
    port = d.add("u", "/usr/bin/python3", f"-S {server('udp_upper.py')} 1", socket_type="dgram",
                 protocol="udp", wait="yes")
    ctl.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.bind(("127.0.0.1", 0))
        pid1 = udp_ask(port, b"one", sock=c).split()[0]
        assert ctl.run("reexec").rc == 0
        st = ctl.json("status", "u")["services"][0]
        assert st["state"] == "suspended" and st["running"] == 1
        assert st["servers"][0]["pid"] == int(pid1)
        # the same server still answers on the socket it was handed
        assert udp_ask(port, b"two", sock=c).split() == [pid1, b"127.0.0.1", b"TWO"]
    d.wait_log(rf"EXIT: u status=0 pid={int(pid1)} duration=\d+\(sec\)")
    pid2 = udp_ask(port, b"three").split()[0]
    assert pid2 != pid1
    d.wait_log(rf"EXIT: u status=0 pid={int(pid2)} duration=\d+\(sec\)")
