"""SIGHUP re-reads the configuration: new greeting, re-binding, and a broken file keeps the old
configuration serving."""

import os
import signal
import socket

import pytest

from conftest import (fetch, free_port, have_ipv6_loopback, pid_alive, port_refuses, wait_for,
                      wait_greeting)


def test_sighup_changes_greeting(exampled):
    exampled.write_config(greeting="old greeting")
    _, pid = exampled.start("-l", "syslog")
    assert fetch(exampled.port) == b"old greeting\n"
    exampled.write_config(greeting="new greeting")
    os.kill(pid, signal.SIGHUP)
    wait_greeting(exampled.port, "new greeting")
    exampled.syslog.wait_text("configuration reloaded")
    # Again, to show it was not a one-off.
    exampled.write_config(greeting="newer still")
    os.kill(pid, signal.SIGHUP)
    wait_greeting(exampled.port, "newer still")
    assert pid_alive(pid)


def test_greeting_is_rest_of_line(exampled):
    exampled.write_config(greeting="hello = world # not a comment  ")
    exampled.start()
    got = fetch(exampled.port)
    assert got.startswith(b"hello = world # not a comment"), got


@pytest.mark.parametrize("broken", ["unknown_key = 1", "listen = 127.0.0.1:notaport",
                                    "missing-file"])
def test_broken_config_at_reload_keeps_old(exampled, broken):
    exampled.write_config(greeting="still the old one")
    _, pid = exampled.start("-l", "syslog")
    exampled.syslog.wait_text("started, listening on")
    if broken == "missing-file":
        os.unlink(exampled.conf)
    else:
        exampled.write_config(greeting="must not be served", extra=[broken])
    os.kill(pid, signal.SIGHUP)
    msg = exampled.syslog.wait_text("reload failed, keeping the old configuration: ")
    assert pid_alive(pid)
    assert fetch(exampled.port) == b"still the old one\n"
    assert "configuration reloaded" not in msg.text
    # And a fixed file is taken at the next SIGHUP.
    exampled.write_config(greeting="fixed")
    os.kill(pid, signal.SIGHUP)
    wait_greeting(exampled.port, "fixed")


def test_changed_listen_rebinds(exampled):
    exampled.write_config(greeting="moving")
    _, pid = exampled.start()
    assert fetch(exampled.port) == b"moving\n"
    new_port = free_port()
    exampled.write_config(greeting="moved", port=new_port)
    os.kill(pid, signal.SIGHUP)
    wait_greeting(new_port, "moved")
    wait_for(lambda: port_refuses(exampled.port), what="the old port to be closed")
    assert pid_alive(pid)


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_rebind_to_ipv6_and_back(exampled):
    exampled.write_config(greeting="v4")
    _, pid = exampled.start()
    v6_port = free_port("::1")
    exampled.write_config(listen=f"[::1]:{v6_port}", greeting="v6")
    os.kill(pid, signal.SIGHUP)
    wait_greeting(v6_port, "v6", host="::1")
    wait_for(lambda: port_refuses(exampled.port), what="the IPv4 port to be closed")
    exampled.write_config(greeting="v4 again")
    os.kill(pid, signal.SIGHUP)
    wait_greeting(exampled.port, "v4 again")


def test_rebind_to_busy_port_keeps_old(exampled):
    """A reload whose new address is busy must not lose the working socket: the daemon logs
    the failure and keeps serving the old configuration."""
    exampled.write_config(greeting="staying")
    _, pid = exampled.start("-l", "syslog")
    exampled.syslog.wait_text("started, listening on")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        busy_port = busy.getsockname()[1]
        exampled.write_config(greeting="cannot move", port=busy_port)
        os.kill(pid, signal.SIGHUP)
        msg = exampled.syslog.wait(lambda d: True, what="a log line about the reload")
        assert "configuration reloaded" not in msg.text, msg
        assert f"127.0.0.1:{busy_port}" in msg.text, msg
        assert fetch(exampled.port) == b"staying\n"
        assert pid_alive(pid)


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_listen(exampled):
    port = free_port("::1")
    exampled.write_config(listen=f"[::1]:{port}", greeting="over v6")
    exampled.start()
    assert fetch(port, host="::1") == b"over v6\n"
