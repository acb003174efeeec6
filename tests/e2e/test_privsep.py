"""Privilege separation (--privsep-user): a root monitor stays the main pid and binds, spawns,
signals and reaps; the network process runs as the privsep user (here nobody) without groups,
capabilities or a way back. Servers still start as their configured users, privileged ports
are still bound (at start and by a reload), and the monitor refuses whatever its own
configuration does not allow.

The compromised-network-side simulation: the test takes a copy of the network process's end
of the request socket (pidfd_getfd(2), as root) and sends the monitor forged requests — a
spawn of an index outside the configuration, of an INTERNAL or redirect service, of a
generation it never had, with a descriptor that is not a socket, a signal to pid 1 or to
the test itself, an "open log" of /etc/shadow, an sd_notify line other than STATUS=, the removal of a file that is not a unix service's
socket, oversized, truncated and malformed messages,
and messages with the wrong number of descriptors. Each is refused with an error and
logged; the monitor and the network process keep serving. The network process itself, as
its uid, cannot open /etc/shadow.

The rest of the suite runs under privilege separation with PORTIER_TEST_PRIVSEP=1 (.ci/run).
"""

import ctypes
import errno
import os
import pwd
import re
import select
import signal
import socket
import struct
import time
import subprocess

import pytest

from conftest import pid_alive, proc_cmdline, proc_stat, proc_status, wait_for
from portierd_util import (children, connect, hold, need_portierd, read_all, report, server,
                           udp_ask)

PY = "/usr/bin/python3"
NOBODY = pwd.getpwnam("nobody")

# privmsg.h: types and payload sizes (native byte order: the test runs on the same machine)
HELLO, BIND, SPAWN, SIGNAL, OPEN_LOG, RELOAD, RELOADED, OPEN_DUMP, STATUS, REMOVE_FILE = \
    range(1, 11)
RESULT, BOUND, SPAWNED, OPENED = range(11, 15)
REEXEC, REEXEC_FAILED = 19, 20


@pytest.fixture(autouse=True)
def _root_portierd():
    need_portierd("privilege separation")
    if os.geteuid() != 0:
        pytest.skip("privilege separation needs portierd started as root")


def start(daemon, *extra):
    if not daemon.services:
        daemon.add("a", PY, f"-S {server('report.py')}")
    daemon.start("--privsep-user", "nobody", *extra)
    return network_pid(daemon)


def network_pids(daemon):
    """The monitor's children that run portierd as nobody, oldest first: the network process
    last (before it, after a re-exec, old ones that drain)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            if name.isdigit() and proc_stat(int(name))["ppid"] == daemon.pid and \
                    proc_status(int(name))["Uid"].split()[0] == str(NOBODY.pw_uid) and \
                    proc_cmdline(int(name))[:1] == proc_cmdline(daemon.pid)[:1]:
                with open(f"/proc/{name}/stat") as f:
                    found.append((int(f.read().rsplit(")", 1)[1].split()[19]), int(name)))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return [pid for _, pid in sorted(found)]


def network_pid(daemon):
    """The monitor's child that runs portierd as nobody (the newest)."""
    return wait_for(lambda: (network_pids(daemon) or [None])[-1], what="the network process")


def privileged_port(proto="tcp"):
    """A port below 1024 free on 127.0.0.1."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    for port in range(1023, 600, -1):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024 on 127.0.0.1")


def test_network_process_is_unprivileged(daemon):
    daemon.add("root-srv", PY, f"-S {server('report.py')}")
    daemon.add("nobody-srv", PY, f"-S {server('report.py')}", user="nobody")
    low = daemon.add("low", PY, f"-S {server('report.py')}", port=privileged_port())
    daemon.add("echo", type="INTERNAL UNLISTED", id="echo-stream", user=None, _name="echo")
    net = start(daemon)
    st = proc_status(net)
    assert st["Uid"].split() == [str(NOBODY.pw_uid)] * 4
    assert st["Gid"].split() == [str(NOBODY.pw_gid)] * 4
    assert st["Groups"] == ""
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    assert st["NoNewPrivs"] == "1"
    assert os.readlink(f"/proc/{net}/cwd") == "/"
    # the monitor is the main pid, still root
    assert proc_status(daemon.pid)["Uid"].split()[0] == "0"
    # servers start as their users, root included, on a port below 1024 too
    rep, _ = report(daemon.services["root-srv"]["port"])
    assert rep["Uid"].split()[0] == "0" and rep["ppid"] == daemon.pid
    rep, _ = report(daemon.services["nobody-srv"]["port"])
    assert rep["Uid"].split()[0] == str(NOBODY.pw_uid)
    rep, _ = report(low)
    assert rep["Uid"].split()[0] == "0"
    # built-ins are served in the network process
    with connect(daemon.services["echo"]["port"]) as s:
        s.sendall(b"ping\n")
        assert s.recv(100) == b"ping\n"
    daemon.wait_log(r"EXIT: root-srv status=0 pid=\d+ duration=\d+\(sec\)")
    daemon.wait_log(r"EXIT: low status=0 pid=\d+ duration=\d+\(sec\)")
    assert "network process" in daemon.wait_message("privilege separation")


def test_privsep_user_cannot_read_root_only_file(daemon):
    """What the network process's credentials allow: not /etc/shadow (a child with exactly
    its uid, gid and groups tries)."""
    net = start(daemon)
    st = proc_status(net)
    uid, gid = int(st["Uid"].split()[0]), int(st["Gid"].split()[0])

    def become():
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    r = subprocess.run([PY, "-c", "open('/etc/shadow').read()"], preexec_fn=become,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "Permission denied" in r.stderr


def test_reload_adds_privileged_port_and_new_log(daemon):
    daemon.add("a", PY, f"-S {server('report.py')}")
    start(daemon)
    low = daemon.add("low", PY, f"-S {server('report.py')}", port=privileged_port(),
                     user="nobody")
    # a per-service log file the network process cannot create itself (the test's directory
    # is root's, mode 0700): the monitor opens it
    other = daemon.dir / "other.log"
    daemon.add("own-log", PY, f"-S {server('report.py')}", log_type=f"FILE {other}")
    daemon.reload()
    rep, _ = report(low)
    assert rep["Uid"].split()[0] == str(NOBODY.pw_uid)
    report(daemon.services["own-log"]["port"])
    wait_for(lambda: other.exists() and "EXIT: own-log" in other.read_text(),
             what="the EXIT line in the new log file")
    daemon.wait_log(r"EXIT: low status=0 pid=\d+ duration=\d+\(sec\)")
    # removed again: the port is free (the monitor keeps no copy of the socket)
    daemon.remove("low")
    daemon.reload()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", low))


def test_daemon_log_reopened_after_rotation(daemon):
    daemon.add("a", PY, f"-S {server('report.py')}")
    start(daemon)
    os.rename(daemon.dlog, daemon.dir / "daemon.log.1")
    daemon.write()
    os.kill(daemon.pid, signal.SIGHUP)
    wait_for(lambda: "Reconfigured:" in daemon.dlog_text(), what="a new daemon log")


def test_stop_ends_servers_and_removes_pidfile(daemon):
    daemon.add("h", "/bin/sh", server("hold.sh"))
    net = start(daemon)
    s, spid = hold(daemon.services["h"]["port"])
    with s:
        assert daemon.stop() == 0
    assert not pid_alive(spid) and not pid_alive(net)
    assert not daemon.pidfile.exists()


def test_network_process_death_stops_everything(daemon):
    """Never half a daemon: the monitor ends the servers and exits non-zero."""
    daemon.add("h", "/bin/sh", server("hold.sh"))
    net = start(daemon)
    s, spid = hold(daemon.services["h"]["port"])
    with s:
        os.kill(net, signal.SIGKILL)
        code = daemon.procs.wait_exit(daemon.pid, 20)
    assert code not in (0, None)
    assert not pid_alive(spid)
    daemon.wait_message("the network process")


def _ctl(daemon, portierd_bin, *args):
    ctl = os.path.join(os.path.dirname(portierd_bin), "portierctl")
    return subprocess.run([ctl, "--socket", str(daemon.control_socket), *args],
                          capture_output=True, text=True, timeout=60)


def test_reexec_under_privsep(daemon, portierd_bin):
    """The monitor executes the new image with the network process's state: same main pid, a
    new unprivileged network process, the servers adopted (reaped with their EXIT lines by
    the new pair), and an open built-in connection drained by the old network process."""
    p_hold = daemon.add("holder", "/bin/sh", server("hold.sh"))
    p_echo = daemon.add("echo", type="INTERNAL UNLISTED", id="echo-stream", user=None,
                        _name="echo")
    net1 = start(daemon)
    pid = daemon.pid
    held, server_pid = hold(p_hold)
    echo = connect(p_echo)
    echo.sendall(b"one\n")
    assert echo.recv(100) == b"one\n"
    r = _ctl(daemon, portierd_bin, "reexec")
    assert r.returncode == 0 and "re-executed" in r.stdout and "1 servers adopted" in r.stdout, r
    assert daemon.pid == pid and proc_status(pid)["Uid"].split()[0] == "0"
    net2 = wait_for(lambda: network_pid(daemon) != net1 and network_pid(daemon),
                    what="a new network process")
    st = proc_status(net2)
    assert st["Uid"].split() == [str(NOBODY.pw_uid)] * 4
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    assert st["NoNewPrivs"] == "1"
    # the old network process drains the open connection; new ones go to the new one
    assert network_pids(daemon) == [net1, net2]
    echo.sendall(b"two\n")
    assert echo.recv(100) == b"two\n"
    with connect(p_echo) as e2:
        e2.sendall(b"new\n")
        assert e2.recv(100) == b"new\n"
    # the server started before the re-exec is the monitor's child still, and reaped
    assert proc_stat(server_pid)["ppid"] == pid
    held.close()
    daemon.wait_log(rf"EXIT: holder status=0 pid={server_pid} duration=\d+\(sec\)")
    echo.close()
    wait_for(lambda: not pid_alive(net1), what="the old network process to end")
    assert network_pids(daemon) == [net2]
    # and the new pair starts servers
    s2, pid2 = hold(p_hold)
    s2.close()
    daemon.wait_log(rf"EXIT: holder status=0 pid={pid2} duration=\d+\(sec\)")
    assert len([x for x in daemon.log() if x.startswith("EXIT: echo-stream")]) == 2
    assert not [x for x in daemon.messages() if "lost the monitor" in x]


def test_reexec_under_privsep_fallback(daemon, portierd_bin, tmp_path):
    """A new image that cannot load the configuration: the monitor runs the previous binary
    again; it serves on (same main pid, an unprivileged network process) and says so."""
    import shutil
    copy = tmp_path / "bin" / "portierd"
    copy.parent.mkdir()
    shutil.copy2(portierd_bin, copy)
    real = copy.with_name("real-portierd")
    shutil.copy2(copy, real)
    daemon.bin = copy
    p_hold = daemon.add("holder", "/bin/sh", server("hold.sh"))
    start(daemon)
    pid = daemon.pid
    held, server_pid = hold(p_hold)
    tmp = copy.with_name("new")
    tmp.write_text(f'#!/bin/sh\nexec {real} "$@" -f /nonexistent/portier.conf\n')
    os.chmod(tmp, 0o755)
    os.rename(tmp, copy)
    r = _ctl(daemon, portierd_bin, "reexec")
    assert r.returncode == 1 and "the previous binary serves again" in r.stderr, r
    assert daemon.pid == pid
    net = network_pid(daemon)
    assert int(proc_status(net)["CapEff"], 16) == 0
    s2, pid2 = hold(p_hold)
    assert pid2 != server_pid
    s2.close()
    held.close()
    daemon.wait_log(rf"EXIT: holder status=0 pid={server_pid} duration=\d+\(sec\)")
    daemon.wait_log(rf"EXIT: holder status=0 pid={pid2} duration=\d+\(sec\)")


def test_control_socket_refuses_privsep_user(daemon, portierd_bin):
    """The network process runs as nobody; the control socket still answers only root (and
    portierd's own user at start), never any process of nobody."""
    start(daemon)
    ctl = os.path.join(os.path.dirname(portierd_bin), "portierctl")
    os.chmod(daemon.control_socket, 0o666)
    os.chmod(os.path.dirname(daemon.control_socket), 0o755)

    def become():
        os.setgroups([])
        os.setresgid(NOBODY.pw_gid, NOBODY.pw_gid, NOBODY.pw_gid)
        os.setresuid(NOBODY.pw_uid, NOBODY.pw_uid, NOBODY.pw_uid)
    r = subprocess.run([ctl, "--socket", str(daemon.control_socket), "list"],
                       preexec_fn=become, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "permission denied" in (r.stdout + r.stderr).lower()
    r = subprocess.run([ctl, "--socket", str(daemon.control_socket), "list"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r


# --- the compromised-network-side simulation ------------------------------------------------

SYS_pidfd_getfd = 438
libc = ctypes.CDLL(None, use_errno=True)


def steal_request_socket(net):
    """A copy of the network process's end of the request socket: its blocking
    SOCK_SEQPACKET socket (the event socket is the non-blocking one)."""
    import fcntl
    pidfd = os.pidfd_open(net)
    try:
        for name in sorted(os.listdir(f"/proc/{net}/fd"), key=int):
            if not os.readlink(f"/proc/{net}/fd/{name}").startswith("socket:"):
                continue
            fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
            if fd < 0:
                e = ctypes.get_errno()
                if e in (errno.ENOSYS, errno.EPERM):
                    pytest.skip(f"pidfd_getfd: {os.strerror(e)}")
                continue
            s = socket.socket(fileno=fd)
            if s.type == socket.SOCK_SEQPACKET and s.family == socket.AF_UNIX and \
                    not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK:
                return s
            s.close()
    finally:
        os.close(pidfd)
    raise AssertionError("no request socket in the network process")


def msg(mtype, payload=b""):
    return struct.pack("=II", mtype, len(payload)) + payload


FORGED_ID = 0xFFFFFF00         # never a slot of the network process's spawns in flight


def spawn_msg(gen, index):
    return msg(SPAWN, struct.pack("=III", gen, index, 1) + bytes(20) +
               struct.pack("=I", FORGED_ID))


def send_only(sock, data, fds=()):
    """Send a forged SPAWN: its result goes to the network process's event socket (spawns
    are pipelined), which logs a result for no request of its own and drops it."""
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def ask(sock, data, fds=()):
    """Send a forged request and read the monitor's reply. (No socket timeout: that would
    set O_NONBLOCK on the file description the network process shares.)"""
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)
    for _ in range(64):
        ready, _, _ = select.select([sock], [], [], 10)
        assert ready, f"no reply to {data[:16]!r}"
        reply = sock.recv(4096)
        mtype, length = struct.unpack("=II", reply[:8])
        # a spawn result of the network process's own (one of its connections) may come by
        # on a shared socket: not the reply to this request
        if mtype != SPAWNED:
            break
    result = struct.unpack("=i", reply[8:12])[0]
    return mtype, result


def test_forged_requests_refused(daemon, tmp_path):
    daemon.add("exe", PY, f"-S {server('report.py')}")                          # index 0
    daemon.add("echo", type="INTERNAL UNLISTED", id="echo-stream", user=None,   # index 1
               _name="echo")
    target = daemon.add("target", "/bin/sh", server("hold.sh"))                 # index 2
    daemon.add("redir", redirect=f"127.0.0.1 {target}", user=None)              # index 3
    net = start(daemon)
    s = steal_request_socket(net)
    a, b = socket.socketpair()
    not_a_socket = os.open("/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd",
                           os.O_RDONLY)
    try:
        refused = [
            (spawn_msg(1, 999), [a.fileno()], SPAWNED, -errno.EPERM),      # outside the config
            (spawn_msg(1, 1), [a.fileno()], SPAWNED, -errno.EPERM),        # INTERNAL
            (spawn_msg(1, 3), [a.fileno()], SPAWNED, -errno.EPERM),        # redirect
            (spawn_msg(77, 0), [a.fileno()], SPAWNED, -errno.EPERM),       # no such generation
            (spawn_msg(1, 0), [not_a_socket], SPAWNED, -errno.EPERM),      # not a socket
            (spawn_msg(1, 0), [], RESULT, -errno.EBADMSG),                 # no descriptor
            (spawn_msg(1, 0), [a.fileno(), b.fileno()], RESULT, -errno.EBADMSG),  # two
            (msg(SIGNAL, struct.pack("=ii", 1, signal.SIGKILL)), [], RESULT, -errno.ESRCH),
            (msg(SIGNAL, struct.pack("=ii", os.getpid(), signal.SIGTERM)), [], RESULT,
             -errno.ESRCH),
            (msg(SIGNAL, struct.pack("=ii", daemon.pid, signal.SIGKILL)), [], RESULT,
             -errno.ESRCH),
            (msg(OPEN_LOG, b"/etc/shadow".ljust(1024, b"\0")), [], OPENED, -errno.EPERM),
            (msg(OPEN_LOG, b"/etc/shadow".ljust(1024, b"x")), [], RESULT, -errno.EBADMSG),
            # sd_notify through the monitor: one STATUS= line, never MAINPID= or READY=
            (msg(STATUS, b"MAINPID=1".ljust(256, b"\0")), [], RESULT, -errno.EBADMSG),
            (msg(STATUS, b"STATUS=x\nREADY=1".ljust(256, b"\0")), [], RESULT, -errno.EBADMSG),
            (msg(BIND, struct.pack("=II", 1, 999)), [], BOUND, -errno.EPERM),
            # removing a file: only a unix service's socket file
            (msg(REMOVE_FILE, struct.pack("=IIIIQQqq", 1, 0, 1, 0, 1, 2, 3, 4)), [], RESULT,
             -errno.EPERM),
            (msg(BIND, struct.pack("=II", 1, 1)) + b"x", [], RESULT, -errno.EBADMSG),  # long
            (msg(BIND, struct.pack("=II", 1, 1))[:-1], [], RESULT, -errno.EBADMSG),    # short
            (b"\x02\x00", [], RESULT, -errno.EBADMSG),                                  # 2 bytes
            (msg(BIND, bytes(8)) + bytes(5000), [], RESULT, -errno.EBADMSG),           # oversized
            (msg(99, bytes(8)), [], RESULT, -errno.EBADMSG),                           # unknown
            (msg(SPAWNED, struct.pack("=iiiii", 0, 1, 0, 0, 0)), [], RESULT,
             -errno.EBADMSG),                                                # not a request
        ]
        for data, fds, want_type, want in refused:
            if want_type == SPAWNED:
                send_only(s, data, fds)
                continue
            got = ask(s, data, fds)
            assert got == (want_type, want), f"{data[:16]!r} with {len(fds)} fds: {got}"
        # the refused spawns' results reached the network process, which dropped them
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(
                [m for m in daemon.messages() if f"no request of this process (id {FORGED_ID})"
                 in m]) < 5:
            time.sleep(0.05)
        assert len([m for m in daemon.messages()
                    if f"no request of this process (id {FORGED_ID})" in m]) == 5
        # a server of the monitor may be signalled, but only with SIGTERM or SIGKILL
        c, spid = hold(target)
        with c:
            assert ask(s, msg(SIGNAL, struct.pack("=ii", spid, signal.SIGSTOP))) == \
                (RESULT, -errno.EPERM)
            assert pid_alive(spid) and proc_status(spid)["State"][0] != "T"
    finally:
        os.close(not_a_socket)
        a.close()
        b.close()
        s.close()
    # every refusal is logged, and both processes keep serving
    assert len([m for m in daemon.messages() if "refused the network process's request" in m]) \
        >= len(refused)
    assert pid_alive(daemon.pid) and pid_alive(net)
    rep, _ = report(daemon.services["exe"]["port"])
    assert rep["Uid"].split()[0] == "0"
    with connect(daemon.services["echo"]["port"]) as e:
        e.sendall(b"still\n")
        assert e.recv(100) == b"still\n"
    assert not (tmp_path / "shadow").exists()


def test_reexec_with_spawns_under_way(daemon, portierd_bin):
    """Re-exec while clients keep the monitor starting servers (spawns pipelined): no
    server is lost across it — every START gets its EXIT line, no zombie stays — and a
    re-exec refused because results were under way says to try again."""
    import threading
    port = daemon.add("quick", "/bin/echo", "hi", log_on_success="PID EXIT")
    start(daemon)
    stop, served, errors = threading.Event(), [0], []

    def clients():
        for _ in range(2000):
            if stop.is_set():
                return
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                    if read_all(c) == b"hi\n":
                        served[0] += 1
            except OSError as e:
                errors.append(e)
    threads = [threading.Thread(target=clients) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        done = 0
        for _ in range(20):
            if done == 3:
                break
            r = _ctl(daemon, portierd_bin, "reexec")
            if r.returncode == 0:
                done += 1
            else:
                assert "try again" in r.stderr, r
        assert done == 3
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert served[0] > 0 and errors == [], errors[:3]

    def balanced():
        log = daemon.log()
        return len([x for x in log if x.startswith("START: quick")]) == \
            len([x for x in log if x.startswith("EXIT: quick")]) > 0
    wait_for(balanced, what="an EXIT line for every START")
    wait_for(lambda: not daemon.zombies(), what="no zombie")


def _inventory(*lines):
    text = "\n".join(["portier-reexec 2", "generation 1", "started 1 1", "pidfile 3",
                      "control -1", "client -1", *lines, "end"]) + "\n"
    fd = os.memfd_create("forged")
    os.write(fd, text.encode())
    return fd, len(text)


def test_forged_reexec_refused(daemon):
    """A forged REEXEC cannot make the monitor take a descriptor that is not a socket or that
    the network process does not have, adopt a process that is not its server, or name a
    drainer it does not know; each is refused with its reason and the pair serves on."""
    p_hold = daemon.add("holder", "/bin/sh", server("hold.sh"))
    net = start(daemon)
    pid = daemon.pid
    held, server_pid = hold(p_hold)
    # the network process took the spawn's result (else the monitor says "try again")
    daemon.wait_log(rf"START: holder pid={server_pid} from=127\.0\.0\.1")
    s = steal_request_socket(net)
    not_a_socket = next(int(n) for n in sorted(os.listdir(f"/proc/{net}/fd"), key=int)
                        if not os.readlink(f"/proc/{net}/fd/{n}").startswith("socket:"))
    key = "forged"
    zeros = " ".join(["0"] * 20)
    cases = [
        ([f"service {not_a_socket} {zeros} {key}"], -errno.ENOTSOCK, "not a socket"),
        ([f"service 4000 {zeros} {key}"], -errno.EBADF, "cannot be taken"),
        ([f"server 1 0 - - {key}"], -errno.EAGAIN, "no running server"),
        ([f"server {os.getpid()} 0 - - {key}"], -errno.EAGAIN, "no running server"),
        (["drainer 1"], -errno.EPERM, "no drainer"),
        (["nonsense line"], -errno.EBADMSG, "does not parse"),
    ]
    try:
        for lines, want, why in cases:
            fd, size = _inventory(*lines)
            try:
                mtype, result = ask(s, msg(REEXEC, struct.pack("=Q", size)), [fd])
            finally:
                os.close(fd)
            assert (mtype, result) == (REEXEC_FAILED, want), (lines, mtype, result)
            daemon.wait_message(why)
        # without its memfd the message itself is refused
        assert ask(s, msg(REEXEC, struct.pack("=Q", 0))) == (RESULT, -errno.EBADMSG)
    finally:
        s.close()
    assert daemon.pid == pid and pid_alive(pid) and network_pid(daemon) == net
    assert network_pids(daemon) == [net]
    s2, pid2 = hold(p_hold)
    s2.close()
    held.close()
    daemon.wait_log(rf"EXIT: holder status=0 pid={server_pid} duration=\d+\(sec\)")
    daemon.wait_log(rf"EXIT: holder status=0 pid={pid2} duration=\d+\(sec\)")


def test_key_behaviours_under_privsep(daemon):
    """EXIT lines, instances, wait = yes over UDP, redirect and a built-in, in one daemon."""
    h = daemon.add("h", "/bin/sh", server("hold.sh"), instances="1")
    u = daemon.add("u", PY, f"-S {server('udp_upper.py')} 0.3", socket_type="dgram",
                   protocol="udp", wait="yes")
    target = daemon.add("t", PY, f"-S {server('report.py')}")
    r = daemon.add("r", redirect=f"127.0.0.1 {target}", user=None)
    start(daemon)
    c, spid = hold(h)
    with c:
        with connect(h) as refused:
            assert read_all(refused, timeout=5) == b""
        daemon.wait_log(r"FAIL: h service_limit from=127\.0\.0\.1")
    daemon.wait_log(rf"EXIT: h status=\d+ pid={spid} duration=\d+\(sec\)")
    pid, host, word = udp_ask(u, b"hi").split()
    assert word == b"HI"
    daemon.wait_log(rf"EXIT: u status=0 pid={int(pid)} duration=\d+\(sec\)")
    with connect(r) as c:
        data = read_all(c)
    assert b'"Uid"' in data
    daemon.wait_log(r"EXIT: t status=0 pid=\d+ duration=\d+\(sec\)")


def test_reload_protection_verdict_is_the_monitors(daemon):
    """A service asking for a protection (private_tmp) added by a reload: the network process
    cannot probe it (no privileges) and takes the monitor's verdict from the bundle. Where the
    machine allows it, the service serves with a fresh /tmp; where it does not, the refusal is
    logged and the port stays closed — never a listener whose every spawn fails."""
    start(daemon)
    port = daemon.add("ptmp", "/bin/ls", "ls -A /tmp", private_tmp="yes", flags="NAMEINARGS")
    daemon.reload()
    refused = [m for m in daemon.messages() if "private_tmp = yes: this machine does not" in m]
    if refused:
        with pytest.raises(OSError):
            connect(port, timeout=2).close()
        assert "ptmp" in refused[0]
    else:
        assert os.listdir("/tmp"), "the test needs a /tmp with something in it"
        with connect(port) as c:
            assert read_all(c) == b""           # a fresh, empty /tmp
        daemon.wait_log(r"EXIT: ptmp status=0 pid=\d+ duration=\d+\(sec\)")


def test_forged_spawn_over_limit_refused(daemon):
    """-limit is kept by the monitor too: a network process that ignored it could not start
    more servers."""
    exe = daemon.add("exe", PY, f"-S {server('report.py')}")
    target = daemon.add("target", "/bin/sh", server("hold.sh"))
    net = start(daemon, "-limit", "1")
    c, spid = hold(target)
    with c:
        s = steal_request_socket(net)
        a, b = socket.socketpair()
        try:
            send_only(s, spawn_msg(1, 0), [a.fileno()])
        finally:
            a.close()
            b.close()
            s.close()
        daemon.wait_message("the -limit of running servers is reached")
    daemon.wait_log(rf"EXIT: target status=\d+ pid={spid} duration=\d+\(sec\)")
    rep, _ = report(exe)                # one server again: served
    assert rep["Uid"].split()[0] == "0"


def listen_backlog(port):
    """Connections waiting in the accept queue of the listener on 127.0.0.1:port."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                return int(queues.split(":")[1], 16)
    raise AssertionError(f"no listener on port {port}")


@pytest.mark.parametrize("limit,reason", [("instances", "service_limit"),
                                          ("per_source", "per_source_limit")])
def test_limits_count_spawns_in_flight(daemon, limit, reason):
    """Spawns are pipelined: one the monitor has not answered yet counts against instances
    and per_source. The monitor is stopped while two clients come: the network process asks
    for the first one's server and refuses the second at once, before any answer; the
    second's FAIL line waits for the START of the server that filled the limit (xinetd's
    order), so a monitor that answers late never writes them the other way round."""
    h = daemon.add("h", "/bin/sh", server("hold.sh"), **{limit: "1"})
    start(daemon)
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        first = connect(h)
        second = connect(h)
        # refused (the FAIL line would be written before the close), the monitor stopped
        assert read_all(second, timeout=5) == b""
        assert not daemon.log(), daemon.log()
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    with first, second:
        line = first.recv(100)
        assert line.startswith(b"pid "), line
        spid = int(line.split()[1])
    daemon.wait_log(rf"EXIT: h status=\d+ pid={spid} duration=\d+\(sec\)")
    assert [x for x in daemon.log() if not x.startswith("EXIT:")] == [
        f"START: h pid={spid} from=127.0.0.1", f"FAIL: h {reason} from=127.0.0.1"], \
        daemon.log()


def test_stop_with_spawns_in_flight(daemon):
    """SIGTERM while spawns wait for the monitor's answer: the network process waits for
    them, ends the servers they started (EXIT logged for each), and only then exits; no
    server is left behind."""
    h = daemon.add("h", "/bin/sh", server("hold.sh"))
    start(daemon)
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        clients = [connect(h) for _ in range(3)]
        # accepted (and so asked for: the same callback) once the queue is empty
        wait_for(lambda: listen_backlog(h) == 0, what="the connections accepted")
        os.kill(daemon.pid, signal.SIGTERM)
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    assert daemon.procs.wait_exit(daemon.pid, 15) == 0
    for c in clients:
        c.close()
    starts = [re.fullmatch(r"START: h pid=(\d+) from=127\.0\.0\.1", x) for x in daemon.log()
              if x.startswith("START:")]
    assert len(starts) == 3 and all(starts), daemon.log()
    assert len([x for x in daemon.log() if x.startswith("EXIT: h")]) == 3, daemon.log()
    for m in starts:
        assert not pid_alive(int(m.group(1)))
