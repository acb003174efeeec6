"""Socket activation: a listening socket passed on fd 3 with LISTEN_FDS=1 and LISTEN_PID set to
exampled's pid is served instead of the configured address, in the foreground and detached."""

import os
import signal
import socket
import sys

from conftest import fetch, pid_alive, proc_fds, read_pidfile, try_fetch, wait_for

# Puts the socket on fd 3 and sets LISTEN_PID to its own pid, then becomes the program, as a
# service manager would (sh -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec ...' with fd 3 set up).
LAUNCHER = r"""
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_PID"] = sys.argv[2] if sys.argv[2] != "self" else str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
os.execv(sys.argv[3], sys.argv[3:])
"""


def _listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def _launch(exampled, sock, argv, listen_pid="self"):
    return [sys.executable, "-c", LAUNCHER, str(sock.fileno()), listen_pid, *argv]


def test_listen_fds_foreground(exampled, procs):
    sock = _listener()
    port = sock.getsockname()[1]
    exampled.write_config(listen=False, greeting="activated")
    argv = _launch(exampled, sock, exampled.args("-d"))
    p, out, err = procs.spawn(argv, pass_fds=[sock.fileno()])
    sock.close()   # from now on only exampled holds the socket

    def serving():
        assert p.poll() is None, f"exited {p.returncode}: {err.read_text()!r}"
        return try_fetch(port) == b"activated\n"
    wait_for(serving, what="exampled to serve the passed socket")
    assert fetch(port) == b"activated\n"
    assert read_pidfile(exampled.pidfile) == f"{p.pid}\n"
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0


def test_listen_fds_detached(exampled, procs):
    sock = _listener()
    port = sock.getsockname()[1]
    sock_target = os.readlink(f"/proc/self/fd/{sock.fileno()}")
    exampled.write_config(listen=False, greeting="activated and detached")
    r = procs.run(_launch(exampled, sock, exampled.args()), pass_fds=[sock.fileno()],
                  timeout=60)
    sock.close()
    assert r.rc == 0, r
    pid = procs.adopt(int(read_pidfile(exampled.pidfile)))
    assert fetch(port) == b"activated and detached\n"
    assert fetch(port) == b"activated and detached\n"
    assert sock_target in proc_fds(pid).values()
    assert pid_alive(pid)
    os.kill(pid, signal.SIGTERM)
    status = procs.wait_exit(pid)
    assert status in (0, None), f"exit status {status}"
    assert not exampled.pidfile.exists()


def test_listen_fds_for_another_pid_are_ignored(exampled, procs):
    """LISTEN_PID naming another process: fd 3 is not ours, the configured address is used."""
    sock = _listener()
    exampled.write_config(greeting="configured")
    argv = _launch(exampled, sock, exampled.args("-d"), listen_pid="1")
    p, out, err = procs.spawn(argv, pass_fds=[sock.fileno()])
    sock.close()

    def serving():
        assert p.poll() is None, f"exited {p.returncode}: {err.read_text()!r}"
        return try_fetch(exampled.port) == b"configured\n"
    wait_for(serving, what="exampled to serve its configured address")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 0

