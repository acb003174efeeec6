"""Reload (SIGHUP, SIGUSR2) by diff: unchanged services keep their listening socket (no
connection fails during reloads), changed ones take effect for new connections, removed ones
stop listening and their servers get SIGTERM, added ones listen; a broken new definition or an
unreadable file keeps the old configuration; log files are reopened. Compatibility tests
(xinetd too) where xinetd behaves so."""

import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import clean_env, fetch, notify_has, pid_alive, try_fetch, wait_for
from portierd_util import (connect, hold, listening, need_portierd, port_refuses, read_all,
                           read_line, report, server, socket_inode, udp_ask)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR2])
def test_reload_add_change_remove(daemon, sig):
    keep = daemon.add("keep", server("hold.sh"))
    change = daemon.add("change", "/bin/echo", "v1")
    gone = daemon.add("gone", "/bin/echo", "bye")
    daemon.start()
    assert fetch(change) == b"v1\n" and fetch(gone) == b"bye\n"
    ks, kpid = hold(keep)

    daemon.add("change", "/bin/echo", "v2")
    daemon.remove("gone")
    new = daemon.add("new", "/bin/echo", "fresh")
    daemon.reload(sig)
    msg = daemon.wait_message("Reconfigured:")
    assert re.fullmatch(r"Reconfigured: new=1 old=2 dropped=1 \(services\)", msg), msg
    msgs = daemon.messages()
    assert "Starting reconfiguration" in msgs[:msgs.index(msg)], msgs

    assert fetch(change) == b"v2\n"
    assert fetch(new) == b"fresh\n"
    wait_for(lambda: port_refuses(gone), what="the removed service's port to close")
    assert not listening(gone)
    # the connection to the unchanged service is untouched, and it still accepts
    ks.sendall(b"still here\n")
    assert read_line(ks) == "still here\n"
    ks.close()
    daemon.wait_log(rf"EXIT: keep status=0 pid={kpid} .*")
    s2, _ = hold(keep)
    s2.close()


def test_removed_service_servers_get_sigterm(daemon):
    gone = daemon.add("gone", server("hold.sh"))
    daemon.add("stay", "/bin/echo", "x")
    daemon.start()
    s, pid = hold(gone)
    daemon.remove("gone")
    daemon.reload()
    wait_for(lambda: not pid_alive(pid), what=f"server {pid} of the removed service to end")
    # xinetd ends it too, but its EXIT line says status=0
    exit_how = "signal=15" if daemon.kind == "portierd" else r"\S+"
    daemon.wait_log(rf"EXIT: gone {exit_how} pid={pid} duration=\d+\(sec\)")
    s.close()


def test_changed_service_running_server_continues(daemon):
    """Servers of a changed service keep running under the settings they started with."""
    port = daemon.add("chg", server("hold.sh"))
    daemon.start()
    s, pid = hold(port)
    daemon.add("chg", server("hold.sh"), env="NEW=1")
    daemon.reload()
    s.sendall(b"ping\n")
    assert read_line(s) == "ping\n"
    assert pid_alive(pid)
    s.close()
    daemon.wait_log(rf"EXIT: chg status=0 pid={pid} .*")


def test_no_connection_fails_during_reloads(daemon):
    """A client loops on an unchanged service while the daemon reloads many times (with another
    service changing each time): every connection succeeds."""
    port = daemon.add("steady", "/bin/echo", "steady")
    daemon.add("flip", "/bin/echo", "0")
    daemon.start()
    stop = threading.Event()
    results = {"ok": 0, "bad": []}

    def client():
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            got = try_fetch(port, timeout=5)
            if got == b"steady\n":
                results["ok"] += 1
            else:
                results["bad"].append(got)
    t = threading.Thread(target=client)
    t.start()
    try:
        for i in range(15):
            daemon.add("flip", "/bin/echo", str(i + 1))
            daemon.reload(signal.SIGHUP if i % 2 else signal.SIGUSR2)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not t.is_alive()
    assert results["bad"] == [], f"{len(results['bad'])} failed connections: {results}"
    assert results["ok"] > 0
    assert fetch(daemon.services["flip"]["port"]) == b"15\n"


def test_reload_reopens_log_files(daemon):
    port = daemon.add("rot", "/bin/echo", "x")
    daemon.start()
    assert fetch(port) == b"x\n"
    daemon.wait_log(r"EXIT: rot .*")
    rotated = daemon.svclog.with_name("services.log.1")
    os.rename(daemon.svclog, rotated)
    daemon.reload()
    assert fetch(port) == b"x\n"
    daemon.wait_log(r"EXIT: rot .*")
    assert [line for line in daemon.log() if line.startswith("START: rot")], daemon.log()
    old = rotated.read_text()
    assert old.count("START: rot") == 1, old


def test_broken_definition_keeps_old_one(daemon):
    need_portierd("xinetd drops a service whose new definition is broken")
    port = daemon.add("b", "/bin/echo", "old")
    other = daemon.add("o", "/bin/echo", "other")
    daemon.start()
    daemon.services["b"]["attrs"].pop("server")
    daemon.add("o", "/bin/echo", "other2")
    daemon.reload()
    msg = daemon.wait_message("keeping the old one")
    assert msg.startswith("service 'b': the new definition is broken"), msg
    assert fetch(port) == b"old\n"
    assert fetch(other) == b"other2\n"


def test_unreadable_file_keeps_everything(daemon):
    """(xinetd keeps everything too, logging "reconfiguration failed".)"""
    port = daemon.add("a", "/bin/echo", "a")
    daemon.start()
    os.unlink(daemon.conf)
    os.kill(daemon.pid, signal.SIGHUP)
    if daemon.kind == "portierd":
        msg = daemon.wait_message("reload failed")
        assert str(daemon.conf) in msg and "keeping the old configuration" in msg, msg
    else:
        daemon.wait_message("reconfiguration failed")
    assert fetch(port) == b"a\n"
    # and a later good reload works
    daemon.add("b", "/bin/echo", "b")
    daemon.reload()
    assert fetch(daemon.services["b"]["port"]) == b"b\n"
    assert fetch(port) == b"a\n"


def test_reload_notify(daemon, notify_socket):
    need_portierd("sd_notify is portier's")
    port = daemon.add("n", "/bin/echo", "n")
    daemon.start(env=clean_env(NOTIFY_SOCKET=notify_socket.address))
    notify_socket.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1")
    daemon.reload()
    d = notify_socket.wait(lambda d: notify_has(d, "RELOADING", "1"), what="RELOADING=1")
    usec = d.fields().get("MONOTONIC_USEC")
    assert usec and usec.isdigit(), d
    assert abs(int(usec) - time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000) < 60_000_000
    notify_socket.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1 after the reload")
    assert fetch(port) == b"n\n"


def test_reload_burst_ends_in_last_configuration(daemon):
    """Reload signals sent faster than reloads complete: the last configuration wins."""
    port = daemon.add("burst", "/bin/echo", "0")
    daemon.start()
    for i in range(1, 11):
        daemon.add("burst", "/bin/echo", str(i))
        daemon.reload(signal.SIGHUP, wait=False)
    wait_for(lambda: try_fetch(port) == b"10\n", what="the last configuration to be served")
    assert pid_alive(daemon.pid)


def test_reload_moves_service_to_another_port(daemon):
    old = daemon.add("mv", "/bin/echo", "mv")
    daemon.start()
    assert fetch(old) == b"mv\n"
    from conftest import free_port
    new = free_port()
    daemon.add("mv", "/bin/echo", "mv", port=new)
    daemon.reload()
    assert fetch(new) == b"mv\n"
    wait_for(lambda: port_refuses(old), what="the old port to close")


def test_instances_counted_across_reload(daemon):
    """A changed service keeps counting the servers started before the reload."""
    port = daemon.add("cnt", server("hold.sh"), instances="1")
    daemon.start()
    s, pid = hold(port)
    daemon.add("cnt", server("hold.sh"), "changed", instances="1")
    daemon.reload()
    assert fetch(port, timeout=5) == b"", "instances = 1 exceeded after a reload"
    daemon.wait_log(r"FAIL: cnt service_limit from=127\.0\.0\.1")
    s.close()
    daemon.wait_log(rf"EXIT: cnt status=0 pid={pid} .*")
    s, pid = hold(port)
    s.close()


def test_instances_raised_by_reload(daemon):
    port = daemon.add("up", server("hold.sh"), instances="1")
    daemon.start()
    s1, _ = hold(port)
    daemon.add("up", server("hold.sh"), instances="2")
    daemon.reload()
    s2, _ = hold(port)
    assert fetch(port, timeout=5) == b""
    daemon.wait_log(r"FAIL: up service_limit from=127\.0\.0\.1")
    s1.close()
    s2.close()


PY = "/usr/bin/python3"


def test_reload_switches_wait_no_to_yes(daemon):
    """The same key changes from wait = no to wait = yes: new connections go to one server
    that is handed the listening socket."""
    port = daemon.add("sw", "/bin/echo", "nowait")
    daemon.start()
    assert fetch(port) == b"nowait\n"
    daemon.add("sw", PY, f"-S {server('tcp_accept.py')} 0.5", wait="yes")
    daemon.reload()
    with connect(port) as s:
        first = read_all(s).split()
    with connect(port) as s:
        second = read_all(s).split()
    assert first[-1] == b"1" and (second[0], second[-1]) == (first[0], b"2"), (first, second)
    daemon.wait_log(rf"EXIT: sw status=0 pid={int(first[0])} .*")
    # and back to wait = no
    daemon.add("sw", "/bin/echo", "nowait again", wait="no")
    daemon.reload()
    assert fetch(port) == b"nowait again\n"


def test_reload_while_wait_yes_server_runs(daemon):
    """A wait = yes UDP server running through a reload: an unchanged service's server keeps
    its socket and the port is watched again after it exits; a changed one's next server
    runs the new definition; a removed one's server is ended and its port closed."""
    same = daemon.add("same", PY, f"-S {server('udp_upper.py')} 1", socket_type="dgram",
                      protocol="udp", wait="yes")
    chg = daemon.add("chg", PY, f"-S {server('udp_upper.py')} 1", socket_type="dgram",
                     protocol="udp", wait="yes")
    gone = daemon.add("gone", PY, f"-S {server('udp_upper.py')} 5", socket_type="dgram",
                      protocol="udp", wait="yes")
    daemon.start()
    p_same = int(udp_ask(same, b"a").split()[0])
    p_chg = int(udp_ask(chg, b"a").split()[0])
    p_gone = int(udp_ask(gone, b"a").split()[0])
    daemon.add("chg", PY, f"-S {server('udp_upper.py')} 0.3", socket_type="dgram",
               protocol="udp", wait="yes", env="CHANGED=1")
    daemon.remove("gone")
    daemon.reload()
    assert udp_ask(same, b"b").split()[0] == b"%d" % p_same
    wait_for(lambda: not pid_alive(p_gone), what="the removed service's server to end")
    daemon.wait_log(rf"EXIT: same status=0 pid={p_same} .*")
    daemon.wait_log(rf"EXIT: chg status=0 pid={p_chg} .*")
    assert int(udp_ask(same, b"c").split()[0]) != p_same
    assert int(udp_ask(chg, b"c").split()[0]) != p_chg
    assert not listening(gone, proto="udp")


def test_reload_with_broken_new_service(daemon):
    """A new service that is broken is skipped with an error; the rest of the reload applies."""
    port = daemon.add("ok", "/bin/echo", "ok")
    daemon.start()
    bad = daemon.add("bad", "/bin/echo", "bad")
    daemon.services["bad"]["attrs"].pop("server")
    good = daemon.add("good", "/bin/echo", "good")
    daemon.reload()
    assert fetch(good) == b"good\n"
    assert fetch(port) == b"ok\n"
    assert port_refuses(bad)


def test_reload_changes_log_file(daemon):
    other = daemon.dir / "other.log"
    port = daemon.add("lf", "/bin/echo", "x")
    daemon.start()
    assert fetch(port) == b"x\n"
    daemon.wait_log(r"EXIT: lf .*")
    daemon.add("lf", "/bin/echo", "x", log_type=f"FILE {other}")
    daemon.reload()
    assert fetch(port) == b"x\n"
    wait_for(lambda: other.exists() and "EXIT: lf status=0" in other.read_text(),
             what="the new log file to get the lines")
    assert len([x for x in daemon.log() if x.startswith("START: lf")]) == 1


def test_sigterm_during_reload(daemon):
    port = daemon.add("t", "/bin/echo", "t")
    daemon.start()
    daemon.add("t2", "/bin/echo", "t2")
    daemon.write()
    os.kill(daemon.pid, signal.SIGHUP)
    code = daemon.stop()
    if daemon.procs.subreaper:
        assert code == 0, daemon.dlog_text()
    assert not daemon.pidfile.exists()
    assert not listening(port)
    assert not listening(daemon.services["t2"]["port"])


def test_unchanged_services_keep_their_socket(daemon):
    tcp = daemon.add("t", "/bin/echo", "t")
    udp = daemon.add("u", PY, f"-S {server('udp_upper.py')} 0.2", socket_type="dgram",
                     protocol="udp", wait="yes")
    daemon.add("c", "/bin/echo", "c")
    daemon.start()
    before = (socket_inode(tcp), socket_inode(udp, proto="udp"))
    assert None not in before
    daemon.add("c", "/bin/echo", "changed")
    daemon.reload(signal.SIGHUP)
    daemon.reload(signal.SIGUSR2)
    assert (socket_inode(tcp), socket_inode(udp, proto="udp")) == before
    assert fetch(tcp) == b"t\n"
    assert udp_ask(udp, b"x").split()[-1] == b"X"


def _service_file(path, sid, port, text):
    path.write_text(f"""service {sid}
{{
\ttype = UNLISTED
\tsocket_type = stream
\tprotocol = tcp
\twait = no
\tbind = 127.0.0.1
\tport = {port}
\tuser = root
\tserver = /bin/echo
\tserver_args = {text}
}}
""")


def test_reload_includedir(daemon):
    """Services in an includedir (Debian's /etc/xinetd.d layout) are added, changed and
    removed by editing files there and reloading."""
    from conftest import free_port
    incl = daemon.dir / "portier.d"
    incl.mkdir()
    p1, p2 = free_port(), free_port()
    _service_file(incl / "one", "one", p1, "first")
    daemon.extra_text = f"includedir {incl}\n"
    daemon.start()
    assert fetch(p1) == b"first\n"
    _service_file(incl / "one", "one", p1, "changed")
    _service_file(incl / "two", "two", p2, "second")
    daemon.reload()
    assert fetch(p1) == b"changed\n"
    assert fetch(p2) == b"second\n"
    (incl / "one").unlink()
    _service_file(incl / "two.disabled", "three", free_port(), "skipped: a dot in the name")
    daemon.reload()
    wait_for(lambda: port_refuses(p1), what="the removed file's service to stop listening")
    assert fetch(p2) == b"second\n"
    msg = daemon.messages()
    assert not [m for m in msg if "three" in m and "listening" in m], msg


def test_reload_to_no_services(daemon):
    """A reload that removes every service: they stop listening; the daemon keeps running
    (portierd) and a later reload brings services back."""
    port = daemon.add("only", "/bin/echo", "x")
    daemon.start()
    daemon.remove("only")
    daemon.reload()
    wait_for(lambda: port_refuses(port), what="the port to close")
    if daemon.kind == "portierd":
        assert pid_alive(daemon.pid)
        daemon.add("only", "/bin/echo", "back", port=port)
        daemon.reload()
        assert fetch(port) == b"back\n"


def test_reload_changes_user(daemon):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    port = daemon.add("u", PY, f"-S {server('report.py')}", user="root")
    daemon.start()
    r, _ = report(port)
    assert r["Uid"].split()[0] == "0"
    daemon.add("u", PY, f"-S {server('report.py')}", user="nobody")
    daemon.reload()
    r, _ = report(port)
    assert r["Uid"].split() == ["65534"] * 4, r["Uid"]


def test_no_failure_with_concurrent_clients_during_reloads(daemon):
    """Four TCP clients and one UDP client loop on unchanged services while the daemon reloads
    20 times (another service changing, being added and removed): every request succeeds."""
    tcp = daemon.add("steady", "/bin/echo", "steady")
    # the UDP server stays up through the reloads (a datagram racing a server's idle exit
    # would be drained, by design)
    udp = daemon.add("udp", PY, f"-S {server('udp_upper.py')} 3", socket_type="dgram",
                     protocol="udp", wait="yes")
    daemon.add("flip", "/bin/echo", "0")
    daemon.start()
    stop = threading.Event()
    lock = threading.Lock()
    results = {"ok": 0, "udp_ok": 0, "bad": []}

    def tcp_client():
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            got = try_fetch(tcp, timeout=5)
            with lock:
                if got == b"steady\n":
                    results["ok"] += 1
                else:
                    results["bad"].append(("tcp", got))

    def udp_client():
        deadline = time.monotonic() + 60
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            n += 1
            try:
                got = udp_ask(udp, b"n%d" % n, timeout=5).split()[-1]
            except OSError as e:
                got = repr(e)
            with lock:
                if got == b"N%d" % n:
                    results["udp_ok"] += 1
                else:
                    results["bad"].append(("udp", got))
    threads = [threading.Thread(target=tcp_client) for _ in range(4)]
    threads.append(threading.Thread(target=udp_client))
    for t in threads:
        t.start()
    try:
        for i in range(20):
            daemon.add("flip", "/bin/echo", str(i + 1))
            if i % 3 == 0:
                daemon.add("extra", "/bin/echo", "extra")
            elif "extra" in daemon.services:
                daemon.remove("extra")
            daemon.reload(signal.SIGHUP if i % 2 else signal.SIGUSR2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not [t for t in threads if t.is_alive()]
    assert results["bad"] == [], f"{len(results['bad'])} failures: {results['bad'][:10]}"
    assert results["ok"] > 0 and results["udp_ok"] > 0, results
    wait_for(lambda: not daemon.zombies(), what="no zombie")


def test_reload_changes_socket_options(daemon):
    """NODELAY/KEEPALIVE changed by a reload apply to new connections. (xinetd 2.3.15.3 keeps
    a service's old flags across a reload: observed.)"""
    need_portierd("xinetd keeps the old NODELAY/KEEPALIVE across a reload")
    port = daemon.add("opt", PY, f"-S {server('report.py')}")
    daemon.start()
    r, _ = report(port)
    assert (r["sock0"]["nodelay"], r["sock0"]["keepalive"]) == (0, 0)
    daemon.add("opt", PY, f"-S {server('report.py')}", flags="NODELAY KEEPALIVE")
    daemon.reload()
    r, _ = report(port)
    assert r["sock0"]["nodelay"] != 0 and r["sock0"]["keepalive"] != 0, r["sock0"]
    daemon.add("opt", PY, f"-S {server('report.py')}")
    daemon.reload()
    r, _ = report(port)
    assert (r["sock0"]["nodelay"], r["sock0"]["keepalive"]) == (0, 0), r["sock0"]


def test_reload_changes_backlog_in_place(daemon):
    need_portierd("backlog is portier's")
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed")
    port = daemon.add("bl", "/bin/echo", "b", backlog="5")
    daemon.start()
    inode = socket_inode(port)

    def backlog():
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=30).stdout.split()
        return int(out[2]) if len(out) > 2 else None
    assert backlog() == 5
    daemon.add("bl", "/bin/echo", "b", backlog="9")
    daemon.reload()
    assert backlog() == 9
    assert fetch(port) == b"b\n"
    assert socket_inode(port) == inode, "the socket was replaced, not adjusted"
