"""portierctl reexec and the state beyond sockets and servers: adopted servers keep their
per_source slots (and count against `instances`), servers of a service a reload retired still
get their EXIT line (and are ended by the stop), a service off for its cps stays off until it
was due."""

import socket
import time

import pytest

from access_util import connect_from, read_to_eof, refused_by_kernel
from conftest import pid_alive, wait_for
from ctl_util import ctl  # noqa: F401 (fixture)
from portierd_util import hold, server

pytestmark = [pytest.mark.timeout(120)]


def _hold_from(port, src):
    s = connect_from(port, src)
    s.settimeout(10)
    line = b""
    while not line.endswith(b"\n"):
        chunk = s.recv(100)
        assert chunk, f"no greeting: {line!r}"
        line += chunk
    assert line.startswith(b"pid "), line
    return s, int(line.split()[1])


def _refused(port, src):
    """A connection from src that the daemon refuses (closed without the greeting)."""
    s = connect_from(port, src)
    try:
        return read_to_eof(s) == b""
    finally:
        s.close()


def test_per_source_counts_servers_adopted_at_reexec(ctl):
    d = ctl.daemon
    port = d.add("ps", server("hold.sh"), per_source="1", instances="2")
    ctl.start()
    a, pid_a = _hold_from(port, "127.0.0.2")
    assert ctl.run("reexec").rc == 0
    # 127.0.0.2 already has its one server (started before the re-exec)
    assert _refused(port, "127.0.0.2")
    d.wait_log(r"FAIL: ps per_source_limit from=127\.0\.0\.2")
    b, pid_b = _hold_from(port, "127.0.0.3")
    # instances = 2: the adopted server and the new one fill it
    assert _refused(port, "127.0.0.4")
    d.wait_log(r"FAIL: ps service_limit from=127\.0\.0\.4")
    # the adopted server's exit gives the slot back
    a.close()
    d.wait_log(rf"EXIT: ps status=0 pid={pid_a} duration=\d+\(sec\)")
    c, _ = _hold_from(port, "127.0.0.2")
    for s in (b, c):
        s.close()


def test_retired_service_server_gets_its_exit_after_reexec(ctl):
    d = ctl.daemon
    p_old = d.add("gone", server("stubborn.sh"))
    d.add("stays", server("hold.sh"))
    ctl.start()
    held, pid = hold(p_old)
    d.remove("gone")
    d.reload()                  # its server ignores the SIGTERM: the service is retired
    time.sleep(0.3)
    assert pid_alive(pid)
    assert ctl.run("reexec").rc == 0
    d.wait_message("services no longer configured are adopted")
    assert pid_alive(pid)
    held.close()
    d.wait_log(rf"EXIT: gone status=0 pid={pid} duration=\d+\(sec\)")
    wait_for(lambda: not d.zombies(), what="no zombie")


def test_retired_service_server_ended_by_the_stop_after_two_reexecs(ctl):
    """The stop ends a retired service's server adopted through two re-execs as any server:
    SIGTERM, then SIGKILL after the grace period (this one ignores SIGTERM)."""
    d = ctl.daemon
    p_old = d.add("gone", server("stubborn.sh"))
    d.add("stays", server("hold.sh"))
    ctl.start()
    held, pid = hold(p_old)
    d.remove("gone")
    d.reload()
    assert ctl.run("reexec").rc == 0
    assert ctl.run("reexec").rc == 0            # the orphan is handed over again
    assert pid_alive(pid)
    assert d.stop(timeout=30) == 0
    assert not pid_alive(pid)
    d.wait_log(rf"EXIT: gone signal=9 pid={pid} duration=\d+\(sec\)")
    held.close()


def test_cps_pause_survives_reexec(ctl, tmp_path):
    d = ctl.daemon
    port = d.add("c", "/bin/echo", "echo hi", flags="NAMEINARGS", cps="2 4")
    ctl.start()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
    for s in socks:
        read_to_eof(s)
        s.close()
    d.wait_message("Deactivating service c")
    assert ctl.json("status", "c")["services"][0]["state"] == "cps-off"
    assert ctl.run("reexec").rc == 0
    # not reopened at once: still off, the socket closed
    st = ctl.json("status", "c")["services"][0]
    assert st["state"] == "cps-off" and st["cps_disabled_until"], st
    assert refused_by_kernel(port)
    # ... but when it was due
    d.wait_message("Activating service c", timeout=30)
    wait_for(lambda: not refused_by_kernel(port), what="the service to listen again")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert read_to_eof(s) == b"hi\n"

