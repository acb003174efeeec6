"""A reload re-applies the access rules to the servers already running (xinetd(8) on SIGHUP:
"re-apply address, time and instance checks to running servers, killing the ones that now
fail"; issue 5; DESIGN.md decision 6): portier ends (SIGTERM) the servers whose client the new
address rules refuse, all of them outside new access_times, and those beyond a lowered
instances (the newest); the others keep running.

xinetd 2.3.15.3 does not do it, whatever its manual says: its hard_reconfig()/readjust()
(src/reconfig.c) only swap the configuration, and on loopback the servers keep running
(observed). So against xinetd these tests check that the servers survive: a difference, in
portier's case following the manual."""

import re
import time

import pytest

from access_util import PORTIERD, connect_from, read_to_eof
from conftest import clean_env, wait_for
from portierd_util import read_line, server
from test_access_time_load import TZ, _hhmm, _local_minute

pytestmark = pytest.mark.timeout(120)


def _hold_from(port, src):
    s = connect_from(port, src)
    m = re.fullmatch(r"pid (\d+)\n", read_line(s))
    assert m
    return s, int(m.group(1))


def _ended(daemon, pid):
    return any(x.startswith("EXIT: ") and f" pid={pid} " in x + " " for x in daemon.log())


def _still_serves(s):
    s.sendall(b"still\n")
    return read_line(s) == "still\n"


def _check(daemon, ended, kept):
    """ended: [(socket, pid)] that portier must end (xinetd: keeps); kept: [(socket, pid)]."""
    if PORTIERD:
        for s, pid in ended:
            wait_for(lambda: _ended(daemon, pid),
                     what=f"server {pid} ended by the reload; log: {daemon.log()}")
            assert read_to_eof(s) == b""
            line = [x for x in daemon.log() if f" pid={pid} " in x + " " and
                    x.startswith("EXIT:")][0]
            assert re.fullmatch(r"EXIT: \S+ signal=15 pid=\d+ duration=\d+\(sec\)", line), line
    else:
        for s, pid in ended:
            assert _still_serves(s), f"xinetd ended server {pid}"
    for s, pid in kept:
        assert _still_serves(s), f"server {pid} was ended"
        assert not _ended(daemon, pid), daemon.log()
    for s, _ in ended + kept:
        s.close()


def test_reload_ends_servers_of_refused_clients(daemon):
    port = daemon.add("rr", server("hold.sh"), only_from="127.0.0.0/8")
    daemon.start()
    gone = _hold_from(port, "127.0.0.2")
    kept = _hold_from(port, "127.0.0.3")
    daemon.add("rr", server("hold.sh"), only_from="127.0.0.3")
    daemon.reload()
    _check(daemon, [gone], [kept])


def test_reload_no_access_ends_servers(daemon):
    port = daemon.add("rn", server("hold.sh"))
    daemon.start()
    gone = _hold_from(port, "127.0.0.4")
    kept = _hold_from(port, "127.0.0.5")
    daemon.add("rn", server("hold.sh"), no_access="127.0.0.4")
    daemon.reload()
    _check(daemon, [gone], [kept])


def test_reload_lowered_instances_ends_newest(daemon):
    port = daemon.add("ri", server("hold.sh"))
    daemon.start()
    held = []
    for src in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        held.append(_hold_from(port, src))
        time.sleep(0.05)            # distinct start order
    daemon.add("ri", server("hold.sh"), instances="1")
    daemon.reload()
    _check(daemon, held[1:], held[:1])


def test_reload_access_times_ends_servers(daemon):
    now, _ = _local_minute()
    if now < 3 or now > 24 * 60 - 8:
        pytest.skip("too close to midnight (local time of the test daemon)")
    port = daemon.add("rt", server("hold.sh"))
    other = daemon.add("other", server("hold.sh"))
    daemon.start(env=clean_env(TZ=TZ))
    gone = _hold_from(port, "127.0.0.1")
    kept = _hold_from(other, "127.0.0.1")
    daemon.add("rt", server("hold.sh"), access_times=f"{_hhmm(now + 3)}-{_hhmm(now + 6)}")
    daemon.reload()
    _check(daemon, [gone], [kept])
