"""Serving: every client gets the greeting and the connection is closed, also when many
connect at once (the accept loop drains its queue)."""

import socket
import struct
import time

from conftest import fetch


def test_many_clients_at_once(exampled):
    exampled.write_config(greeting="one for everybody")
    exampled.start()
    clients = []
    try:
        for _ in range(40):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(("127.0.0.1", exampled.port))
            clients.append(s)
        deadline = time.monotonic() + 10
        for s in clients:
            data = b""
            while time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data == b"one for everybody\n"
    finally:
        for s in clients:
            s.close()


def test_sequential_clients(exampled):
    exampled.write_config(greeting="again and again")
    exampled.start()
    for _ in range(200):
        assert fetch(exampled.port) == b"again and again\n"


def test_client_that_resets_does_not_hurt(exampled):
    """A client that connects and resets at once (SO_LINGER 0) does not stop the service."""
    exampled.write_config(greeting="still here")
    _, pid = exampled.start()
    for _ in range(20):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.connect(("127.0.0.1", exampled.port))
        s.close()
    assert fetch(exampled.port) == b"still here\n"
