#!/usr/bin/python3 -S
"""Test server for wait = yes stream services: accepts on the listening socket (fd 0, or fd 3
with LISTEN_FDS), answers each connection with "<pid> <REMOTE_HOST> <n>\\n" where n counts
connections, and exits after IDLE seconds without a connection (argv[1], default 0.5) or after
COUNT connections (argv[2], default unlimited)."""
import os
import socket
import sys

idle = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30
fd = 3 if os.environ.get("LISTEN_FDS") == "1" else 0
s = socket.socket(fileno=fd)
s.settimeout(idle)
n = 0
while n < count:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    n += 1
    c.sendall(b"%d %s %d\n" % (os.getpid(), os.environ.get("REMOTE_HOST", "-").encode(), n))
    c.close()
