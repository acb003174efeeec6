#!/usr/bin/python3 -S
"""Test server for wait = yes stream services: accepts on the listening socket (fd 0, or fd 3
with LISTEN_FDS) and answers each connection with "<pid> <REMOTE_HOST> <n>\\n", n counting
connections, or with "--report": a JSON object of its environment (in order), open fds and
pid. Exits after IDLE seconds without a connection (argv[1], default 0.5)."""
import json
import os
import socket
import sys


def fds():
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass
    return out


first_fds = fds()
with open("/proc/self/environ", "rb") as f:
    env = [e.decode(errors="replace") for e in f.read().split(b"\0") if e]
idle = float(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "--report" else 0.5
fd = 3 if os.environ.get("LISTEN_FDS") == "1" else 0
s = socket.socket(fileno=fd)
s.settimeout(idle)
n = 0
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    n += 1
    if "--report" in sys.argv:
        c.sendall(json.dumps({"pid": os.getpid(), "env": env, "fds": first_fds,
                              "listening": list(s.getsockname()[:2])}).encode() + b"\n")
    else:
        c.sendall(b"%d %s %d\n" % (os.getpid(), os.environ.get("REMOTE_HOST", "-").encode(), n))
    c.close()
