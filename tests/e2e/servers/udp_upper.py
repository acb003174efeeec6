#!/usr/bin/python3 -S
"""Test server for wait = yes dgram services: the listening UDP socket is on fd 0 (or fd 3
with LISTEN_FDS). Answers every datagram with "<pid> <REMOTE_HOST> <DATA IN UPPER CASE>" and
exits after IDLE seconds without a datagram (argv[1], default 0.5) or right after answering a
datagram "quit"."""
import os
import socket
import sys

idle = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
fd = 3 if os.environ.get("LISTEN_FDS") == "1" else 0
s = socket.socket(fileno=fd)
s.settimeout(idle)
host = os.environ.get("REMOTE_HOST", "-").encode()
while True:
    try:
        data, addr = s.recvfrom(65536)
    except socket.timeout:
        break
    s.sendto(b"%d %s %s" % (os.getpid(), host, data.upper()), addr)
    if data.strip() == b"quit":
        break
