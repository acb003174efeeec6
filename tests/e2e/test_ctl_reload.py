"""portierctl reload waits for the outcome and prints the errors of a failed reload; sd_notify
STATUS= carries the service and connection counts and follows them."""

import os
import socket

from conftest import clean_env, notify_socket, wait_for  # noqa: F401 (fixture)
from ctl_util import ctl  # noqa: F401 (fixture)
from portierd_util import listening, server


def test_reload_success(ctl):
    d = ctl.daemon
    d.add("a", server("hold.sh"))
    ctl.start()
    pb = d.add("b", server("hold.sh"))
    d.write()
    r = ctl.run("reload")
    assert r.rc == 0 and r.out == "reloaded: configuration generation 2\n", r
    # the answer came after the reload was applied
    assert listening(pb)
    assert ctl.json("status")["generation"] == 2


def test_reload_with_broken_service(ctl):
    d = ctl.daemon
    pa = d.add("a", server("hold.sh"))
    ctl.start()
    d.add("a", "/nonexistent/server")
    d.write()
    r = ctl.run("reload")
    assert r.rc == 1, r
    assert "reloaded with 1 error" in r.err
    assert f"{d.conf}:" in r.err and "/nonexistent/server" in r.err
    assert listening(pa)                # the old definition keeps serving


def test_reload_unreadable_config(ctl):
    d = ctl.daemon
    d.add("a", server("hold.sh"))
    ctl.start()
    os.rename(d.conf, d.conf.with_name("moved.conf"))
    r = ctl.run("reload")
    assert r.rc == 1 and "reload failed: cannot read" in r.err and "old configuration" in \
        r.err, r
    os.rename(d.conf.with_name("moved.conf"), d.conf)
    assert ctl.run("reload").rc == 0


def test_concurrent_reloads_each_answered(ctl):
    d = ctl.daemon
    d.add("a", server("hold.sh"))
    ctl.start()
    procs = [ctl.procs.spawn(ctl.argv("reload"), env=clean_env()) for _ in range(4)]
    for p, out, err in procs:
        assert p.wait(timeout=60) == 0, err.read_text()
        assert out.read_text().startswith("reloaded: configuration generation ")


def test_notify_status(ctl, notify_socket):
    d = ctl.daemon
    port = d.add("echoer", "/bin/echo", "echo hi", flags="NAMEINARGS")
    d.add("off", "/bin/true", disable="yes")
    ctl.start(env=clean_env(NOTIFY_SOCKET=notify_socket.address))
    notify_socket.wait_text("READY=1")
    first = notify_socket.wait(lambda g: "STATUS=1 services (1 listening), 0 servers running, "
                               "0 connections accepted" in g.text, what="the first STATUS=")
    assert first.pid == d.pid
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            assert c.recv(10) == b"hi\n"
    notify_socket.wait_text("0 servers running, 2 connections accepted")
    # rate-limited: unchanged counts send nothing new
    n = len(notify_socket.all())
    import time
    time.sleep(2.5)
    assert len(notify_socket.all()) == n, notify_socket.texts()[n:]
