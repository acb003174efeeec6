"""Detaching done right: the starting command waits for readiness, and the daemon it leaves
behind is a clean grandchild (daemon-rules.md P1-P6)."""

import fcntl
import os
import resource
import select
import signal
import socket
import subprocess
import termios
import time

from conftest import (clean_env, fetch, pid_alive, proc_cwd, proc_fds, proc_stat, proc_status,
                      read_pidfile, sig_mask, wait_for, wait_greeting)


def test_start_returns_after_readiness(exampled):
    """With startup_delay the starting command takes that long, and the moment it returns the
    port serves and the pid file holds the daemon's pid (no retry, no grace period)."""
    exampled.write_config(greeting="ready now", extra=["startup_delay = 1.5"])
    r = exampled.run()
    # Checked before anything else, so that no time passes between exit and these checks.
    served = fetch(exampled.port)
    content = read_pidfile(exampled.pidfile)
    assert r.rc == 0, r
    assert served == b"ready now\n"
    assert r.elapsed >= 1.4, f"the starting command returned before readiness: {r!r}"
    assert content is not None and content.endswith("\n") and content[:-1].isdigit(), content
    assert pid_alive(int(content))


def test_default_greeting_and_each_connection_closed(exampled):
    exampled.write_config()
    exampled.start()
    for _ in range(3):
        assert fetch(exampled.port) == b"hello from exampled\n"


def test_daemon_is_a_clean_grandchild(exampled, procs):
    exampled.write_config(greeting="g")
    r, pid = exampled.start()
    st = proc_stat(pid)
    assert st["session"] != pid, f"the daemon is a session leader: {st}"
    assert st["session"] != os.getsid(0), "the daemon did not leave the caller's session"
    assert st["pgrp"] != os.getpgid(0)
    assert st["tty_nr"] == 0, f"the daemon has a controlling terminal: {st}"
    assert proc_cwd(pid) == "/"
    fds = proc_fds(pid)
    for fd in (0, 1, 2):
        assert fds.get(fd) == "/dev/null", f"fd {fd} of the daemon is {fds.get(fd)!r}"
    # The intermediate child (the session leader) is gone: the daemon is all that is left.
    wait_for(lambda: procs.leftovers() == [pid], what=f"only the daemon {pid} to remain")


def _start_on_pty(procs, argv):
    """Start argv as a session leader whose controlling terminal is a fresh pty, all of 0/1/2 on
    it. Returns (Popen, master fd)."""
    master, slave = os.openpty()

    def make_ctty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    try:
        p = procs.popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                        preexec_fn=make_ctty, env=clean_env(TERM="dumb"))
    finally:
        os.close(slave)
    return p, master


def _drain_pty(master, p, timeout=30.0):
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:         # EIO: every slave side closed
                data = b""
            out += data
            if not data and p.poll() is not None:
                break
        elif p.poll() is not None:
            break
    return out


def test_no_controlling_terminal_when_started_from_a_terminal(exampled, procs):
    """Started from a pty that is the starter's controlling terminal, the daemon still has none
    (double fork, O_NOCTTY), and survives the hang-up when the terminal's session ends."""
    # The harness itself: a process started this way does have the pty as its terminal.
    ctl, ctl_master = _start_on_pty(procs, ["/bin/cat", "/proc/self/stat"])
    ctl_out = _drain_pty(ctl_master, ctl)
    os.close(ctl_master)
    assert ctl.wait(timeout=10) == 0
    ctl_tty = int(ctl_out.decode().rpartition(")")[2].split()[4])
    assert ctl_tty != 0, f"harness problem: the pty did not become a terminal: {ctl_out!r}"

    exampled.write_config(greeting="from a tty")
    p, master = _start_on_pty(procs, exampled.args())
    out = _drain_pty(master, p)
    rc = p.wait(timeout=10)
    content = read_pidfile(exampled.pidfile)
    assert rc == 0, f"exit {rc}, terminal output {out!r}"
    pid = procs.adopt(int(content))
    st = proc_stat(pid)
    assert st["tty_nr"] == 0, f"the daemon has a controlling terminal: {st}"
    assert st["session"] != pid
    assert st["session"] != p.pid, "the daemon is still in the terminal's session"
    assert fetch(exampled.port) == b"from a tty\n"
    assert pid_alive(pid)
    fds = proc_fds(pid)
    assert all(fds.get(fd) == "/dev/null" for fd in (0, 1, 2)), fds
    os.close(master)
    # The terminal is gone now: the daemon still serves.
    assert fetch(exampled.port) == b"from a tty\n"


def test_default_umask_is_022_not_inherited(exampled, procs):
    exampled.write_config()
    r = exampled.run(umask=0o077)
    assert r.rc == 0, r
    pid = int(read_pidfile(exampled.pidfile))
    assert proc_status(pid)["Umask"] == "0022"


def test_umask_option(exampled):
    exampled.write_config()
    _, pid = exampled.start("-u", "027")
    assert proc_status(pid)["Umask"] == "0027"


def test_umask_long_option(exampled):
    exampled.write_config()
    _, pid = exampled.start("--umask", "0077")
    assert proc_status(pid)["Umask"] == "0077"


def test_no_signal_ignored_or_blocked_from_the_starter(exampled, procs):
    """The starter ignores SIGHUP (nohup), SIGUSR1 and SIGPIPE and blocks SIGUSR2 and a
    real-time signal: none of that may reach the daemon (P2)."""
    rt = signal.SIGRTMIN + 4

    def spoil_signals():
        for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGPIPE):
            signal.signal(s, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, rt})

    exampled.write_config(greeting="before")
    r = exampled.run(preexec_fn=spoil_signals)
    assert r.rc == 0, r
    pid = int(read_pidfile(exampled.pidfile))
    status = proc_status(pid)
    assert status["SigIgn"] == "0000000000000000", \
        f"the daemon ignores signals {sorted(sig_mask(status['SigIgn']))}"
    blocked = sig_mask(status["SigBlk"])
    assert signal.SIGUSR2 not in blocked and rt not in blocked, \
        f"the starter's signal mask leaked into the daemon: blocked {sorted(blocked)}"
    # And SIGHUP really works (it would be ignored if the disposition leaked).
    exampled.write_config(greeting="after")
    os.kill(pid, signal.SIGHUP)
    wait_greeting(exampled.port, "after")


def test_stray_descriptors_are_closed(exampled, procs, tmp_path):
    """Descriptors the starting process had (a pipe, a file, a socket, one above 1024) are not
    open in the daemon (P4)."""
    r_fd, w_fd = os.pipe()
    stray_file = tmp_path / "stray-file"
    f_fd = os.open(stray_file, os.O_RDWR | os.O_CREAT, 0o600)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    planted = [r_fd, w_fd, f_fd, sock.fileno()]
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    high = None
    if soft > 1600:
        high = os.dup2(w_fd, 1500, inheritable=False)
        planted.append(high)
    try:
        targets = {os.readlink(f"/proc/self/fd/{fd}") for fd in planted}
        # The harness: a child started this way does see them.
        ctl = subprocess.run(["/bin/ls", "-l", "/proc/self/fd"], pass_fds=planted,
                             capture_output=True, text=True, timeout=10)
        for t in targets:
            assert t in ctl.stdout, f"harness problem: {t} not passed to a child"

        exampled.write_config(greeting="clean")
        r = exampled.run(pass_fds=planted)
        assert r.rc == 0, r
        pid = int(read_pidfile(exampled.pidfile))
        fds = proc_fds(pid)
        leaked = {fd: t for fd, t in fds.items() if t in targets}
        assert not leaked, f"descriptors of the starting process open in the daemon: {leaked}"
        assert fetch(exampled.port) == b"clean\n"
    finally:
        for fd in planted:
            if fd != sock.fileno():
                os.close(fd)
        sock.close()
