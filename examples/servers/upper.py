#!/usr/bin/python3 -S
"""A wait = yes UDP server for the portier demo: answers each datagram upper-cased, on the
socket portierd hands over as fd 0, and exits after 5 idle seconds (portierd then watches
the port again)."""
import socket
import sys

s = socket.socket(fileno=0)
s.settimeout(5)
while True:
    try:
        data, addr = s.recvfrom(2048)
    except socket.timeout:
        sys.exit(0)
    s.sendto(data.upper(), addr)
