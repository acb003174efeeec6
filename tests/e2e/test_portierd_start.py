"""Starting: the starting command returns once every service listens (exit 0) or fails with
the reason; bind errors are reported and retried while other services serve; -stayalive; spawn
failures are reported. The daemon's own messages are portierd's; xinetd only shares
"Started working"."""

import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import fetch, pid_alive, try_fetch, wait_for
from portierd_util import listening, need_portierd, port_refuses


def _busy(port, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(1)
    return s


def test_started_working(daemon):
    a = daemon.add("a", "/bin/echo", "a")
    b = daemon.add("b", "/bin/echo", "b")
    daemon.start()
    assert listening(a) and listening(b)
    msg = daemon.wait_message("Started working:")
    assert re.fullmatch(r"Started working: 2 available services?", msg), msg
    assert fetch(a) == b"a\n" and fetch(b) == b"b\n"


def test_listening_messages(daemon):
    need_portierd()
    a = daemon.add("a", "/bin/echo", "a")
    daemon.start()
    daemon.wait_message(f"service 'a': listening on 127.0.0.1:{a}/tcp")
    assert daemon.wait_message("Started working:") == "Started working: 1 available services"


def test_no_service_can_listen(daemon):
    need_portierd("xinetd starts and exits later")
    a = daemon.add("a", "/bin/echo", "a")
    b = daemon.add("b", "/bin/echo", "b")
    with _busy(a), _busy(b):
        r = daemon.run()
        assert r.rc != 0, r
        for sid, port in (("a", a), ("b", b)):
            want = f"service '{sid}': cannot bind 127.0.0.1:{port}: Address already in use"
            assert want in r.err, r
    assert not daemon.pidfile.exists()
    wait_for(lambda: not daemon.procs.leftovers(), what="no daemon left")


def test_busy_port_retried(daemon):
    """One port busy at start: the others serve, the busy one is retried every 5 s."""
    need_portierd()
    a = daemon.add("a", "/bin/echo", "a")
    b = daemon.add("b", "/bin/echo", "b")
    blocker = _busy(b)
    try:
        daemon.start()
        daemon.wait_message(f"service 'b': cannot bind 127.0.0.1:{b}: Address already in use; "
                            "retrying every 5 seconds")
        assert fetch(a) == b"a\n"
    finally:
        blocker.close()
    wait_for(lambda: try_fetch(b) == b"b\n", timeout=15, interval=0.2,
             what="the busy service to listen once its port is free")
    daemon.wait_message("service 'b': listening")


def test_stayalive_with_nothing_listening(daemon):
    need_portierd()
    a = daemon.add("a", "/bin/echo", "a")
    with _busy(a):
        daemon.start("-stayalive")
        assert pid_alive(daemon.pid)
        daemon.wait_message(f"service 'a': cannot bind 127.0.0.1:{a}: Address already in use")
        assert pid_alive(daemon.pid)


def test_no_services_without_stayalive(daemon):
    need_portierd()
    daemon.start("-stayalive")
    assert pid_alive(daemon.pid)
    daemon.stop()
    r = daemon.run()
    assert r.rc != 0, r
    assert r.err.strip(), r


def test_unreadable_config_exit_6(daemon, procs):
    need_portierd()
    daemon.add("a", "/bin/echo", "a")
    daemon.write()
    os.unlink(daemon.conf)
    r = daemon.run(write=False)
    assert r.rc == 6, r
    assert str(daemon.conf) in r.err, r


def test_disabled_service_not_listening(daemon):
    a = daemon.add("a", "/bin/echo", "a")
    d = daemon.add("d", "/bin/echo", "d", disable="yes")
    daemon.start()
    assert fetch(a) == b"a\n"
    assert port_refuses(d)


def test_spawn_failure_reported(daemon, tmp_path):
    """The server vanishes after the configuration was read: the client gets EOF, the failure
    is reported, and the service works again once the server is back."""
    need_portierd()
    srv = tmp_path / "srv"
    shutil.copy("/bin/echo", srv)
    port = daemon.add("v", str(srv), "back")
    daemon.start()
    assert fetch(port) == b"back\n"
    hidden = tmp_path / "srv.hidden"
    os.rename(srv, hidden)
    assert try_fetch(port) in (b"", None)
    daemon.wait_message(f"service 'v': cannot start '{srv}': executing the server failed: "
                        "No such file or directory")
    os.rename(hidden, srv)
    assert fetch(port) == b"back\n"
    assert pid_alive(daemon.pid)


def test_two_services_on_one_port(daemon):
    """The second service on an address/port/protocol already taken is disabled with a
    diagnostic; the first serves."""
    a = daemon.add("a", "/bin/echo", "first")
    daemon.add("b", "/bin/echo", "second", port=a)
    daemon.start()
    assert fetch(a) == b"first\n"
    assert fetch(a) == b"first\n"
    assert re.fullmatch(r"Started working: 1 available services?",
                        daemon.wait_message("Started working"))
    if daemon.kind == "portierd":
        msg = daemon.wait_message("service 'b': same address")
        assert re.search(rf"same address, port \({a}\) and protocol \(tcp\) as service 'a' "
                         rf"at {re.escape(str(daemon.conf))}:\d+; service skipped$", msg), msg
    else:
        daemon.wait_message("DISABLING")


def test_reload_while_bind_retrying(daemon):
    """Services whose port was busy (retrying every 5 s) through a reload: a removed one never
    binds later; a changed one binds with its new definition once its port frees."""
    need_portierd()
    a = daemon.add("a", "/bin/echo", "a")
    gone = daemon.add("gone", "/bin/echo", "gone")
    chg = daemon.add("chg", "/bin/echo", "old")
    b1, b2 = _busy(gone), _busy(chg)
    try:
        daemon.start()
        daemon.wait_message(f"service 'gone': cannot bind 127.0.0.1:{gone}")
        daemon.wait_message(f"service 'chg': cannot bind 127.0.0.1:{chg}")
        daemon.remove("gone")
        daemon.add("chg", "/bin/echo", "new")
        daemon.reload()
    finally:
        b1.close()
        b2.close()
    wait_for(lambda: try_fetch(chg) == b"new\n", timeout=15, interval=0.2,
             what="the changed service to listen with its new definition")
    assert not listening(gone), "a removed service bound its port later"
    assert fetch(a) == b"a\n"
    assert pid_alive(daemon.pid)


def test_ready_after_listening(daemon, notify_socket):
    """READY=1 is sent once the services listen."""
    need_portierd()
    from conftest import clean_env, notify_has
    ports = [daemon.add(f"s{i}", "/bin/echo", str(i)) for i in range(20)]
    daemon.write()
    p, _, _ = daemon.procs.spawn(daemon.argv("-d"),
                                 env=clean_env(NOTIFY_SOCKET=notify_socket.address))
    notify_socket.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1")
    assert all(listening(port) for port in ports)
    p.terminate()
    assert p.wait(timeout=10) == 0


def test_many_services(daemon):
    """300 services start, serve and survive a reload that changes one of them."""
    ports = [daemon.add(f"m{i}", "/bin/echo", str(i)) for i in range(300)]
    daemon.start()
    for i in (0, 150, 299):
        assert fetch(ports[i]) == b"%d\n" % i
    daemon.add("m7", "/bin/echo", "seven")
    daemon.reload()
    assert fetch(ports[7]) == b"seven\n"
    assert fetch(ports[8]) == b"8\n"
    assert all(listening(p) for p in ports)


def _backlog(port):
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                         timeout=30).stdout.split()
    return int(out[2]) if len(out) > 2 else None


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_backlog(daemon):
    """The listen backlog is SOMAXCONN by default (xinetd: 64) and `backlog = N` sets it."""
    dflt = daemon.add("dflt", "/bin/echo", "d")
    five = daemon.add("five", "/bin/echo", "f", backlog="5") if daemon.kind == "portierd" \
        else None
    daemon.start()
    somaxconn = int(open("/proc/sys/net/core/somaxconn").read())
    want = somaxconn if daemon.kind == "portierd" else 64
    assert _backlog(dflt) == want
    if five:
        assert _backlog(five) == 5


def test_spawn_failure_not_executable(daemon, tmp_path):
    need_portierd()
    srv = tmp_path / "srv"
    shutil.copy("/bin/echo", srv)
    port = daemon.add("nx", str(srv), "ok")
    daemon.start()
    assert fetch(port) == b"ok\n"
    os.chmod(srv, 0o644)
    assert try_fetch(port) in (b"", None)
    daemon.wait_message(f"service 'nx': cannot start '{srv}': executing the server failed: "
                        "Permission denied")
    os.chmod(srv, 0o755)
    assert fetch(port) == b"ok\n"
