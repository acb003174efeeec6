#!/usr/bin/python3 -S
"""Test server: reports how it was started, as one JSON object on fd 1, then exits.

Reported: argv, the environment in its exact order, open fds (with their targets and, for
sockets, the local and peer addresses), umask, signal masks, credentials, session, process
group, nice, rlimits, cwd. Options (argv after the ones under test are ignored):
  REPORT_WAIT=1 in the environment, or an argument "--wait": after reporting, read fd 0 until
  EOF before exiting (keeps the server running while the client holds the connection).
"""
import fcntl
import json
import os
import resource
import socket
import sys


def fds():
    out = {}
    base = "/proc/self/fd"
    names = os.listdir(base)
    for name in names:
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue        # the directory fd listdir used, already closed
        out[name] = target
    return out


def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def sockinfo(fd):
    # first, before Python touches the (shared) file status flags
    nonblocking = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        return None
    try:
        info = {"family": s.family.name, "type": s.type.name, "nonblocking": nonblocking}
        try:
            info["nodelay"] = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            info["keepalive"] = s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        except OSError:
            pass
        try:
            info["local"] = list(s.getsockname())[:2]
        except OSError:
            pass
        try:
            info["peer"] = list(s.getpeername())[:2]
        except OSError:
            info["peer"] = None
        return info
    finally:
        s.close()


def main():
    fdmap = fds()       # first: before this script opens anything
    st = status()
    with open("/proc/self/environ", "rb") as f:
        env = [e.decode(errors="replace") for e in f.read().split(b"\0") if e]
    limits = {}
    for name in ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_DATA",
                 "RLIMIT_STACK", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_AS", "RLIMIT_RSS"):
        limits[name] = list(resource.getrlimit(getattr(resource, name)))
    with open("/proc/self/cmdline", "rb") as f:
        cmdline = [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    report = {
        "argv": sys.argv, "cmdline": cmdline, "env": env, "fds": fdmap,
        "sock0": sockinfo(0),
        "umask": st.get("Umask"), "SigBlk": st.get("SigBlk"), "SigIgn": st.get("SigIgn"),
        "Uid": st.get("Uid"), "Gid": st.get("Gid"), "Groups": st.get("Groups"),
        "pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0), "pgrp": os.getpgrp(),
        "nice": os.getpriority(os.PRIO_PROCESS, 0), "rlimits": limits, "cwd": os.getcwd(),
    }
    os.write(1, (json.dumps(report) + "\n").encode())
    if "--wait" in sys.argv or os.environ.get("REPORT_WAIT") == "1":
        while True:
            try:
                if not os.read(0, 4096):
                    break
            except OSError:
                break


main()
