"""Connection rates: `cps <rate> <wait>` (xinetd's measure; the tripping connection gets
FAIL <id> connections per second, the listening socket is closed for <wait> seconds with
xinetd's daemon messages naming the service, then reopened) and portier's
`per_source_cps <rate> <seconds>` (a source over the rate is refused, FAIL <id> per_source_cps,
for <seconds>; other sources are not). The cps test runs against xinetd too."""

import time

import pytest

from access_util import (connect_from, exchange, lines_of, read_to_eof, recorder,
                         refused_by_kernel)
from conftest import wait_for
from portierd_util import listening, need_portierd

pytestmark = pytest.mark.timeout(120)


def _burst(port, src, n):
    """Open n connections from src at once (all queued before the daemon accepts them), then
    read each to EOF; the replies, in connection order."""
    socks = [connect_from(port, src) for _ in range(n)]
    try:
        return [read_to_eof(s) for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait_count(daemon, sid, line, n):
    wait_for(lambda: lines_of(daemon, sid).count(line) >= n,
             what=f"{n} x {line!r}; log: {daemon.log()}")


def test_cps_deactivates_and_reactivates(daemon, tmp_path):
    """cps = 2 3: the third connection within a second trips it: FAIL, the socket closed
    (ECONNREFUSED) while another service goes on serving, the two daemon messages with the
    service's name (not its id), then served again."""
    script, recorded = recorder(tmp_path)
    port = daemon.add("cpsid", script, "cpsid", _name="cpsname", cps="2 3")
    other = daemon.add("other", script, "other")
    daemon.start()
    replies = _burst(port, "127.0.0.1", 3)
    assert replies == [b"cpsid\n", b"cpsid\n", b""], replies
    _wait_count(daemon, "cpsid", "FAIL: cpsid connections per second from=127.0.0.1", 1)
    msg = daemon.wait_message("Deactivating service")
    assert msg == ("Deactivating service cpsname due to excessive incoming connections.  "
                   "Restarting in 3 seconds."), msg
    if not any("Activating service" in m for m in daemon.messages()):
        assert refused_by_kernel(port), "the listening socket is still open while cps is off"
        assert exchange(other, "127.0.0.1") == b"other\n"
    msg = daemon.wait_message("Activating service")
    assert msg == "Activating service cpsname", msg
    wait_for(lambda: listening(port), what="the socket open again")
    assert exchange(port, "127.0.0.1") == b"cpsid\n"
    _wait_count(daemon, "cpsid", "EXIT: cpsid status=0 pid=P duration=D", 3)
    got = sorted(lines_of(daemon, "cpsid"))
    want = sorted(["START: cpsid pid=P from=127.0.0.1"] * 3 +
                  ["EXIT: cpsid status=0 pid=P duration=D"] * 3 +
                  ["FAIL: cpsid connections per second from=127.0.0.1"])
    assert got == want
    assert sorted(r for r in recorded() if r[0] == "cpsid") == [("cpsid", "127.0.0.1")] * 3


def test_cps_below_rate_served(daemon, tmp_path):
    """Two connections in a second with cps = 2 N: both served, nothing logged at the
    daemon level."""
    script, _ = recorder(tmp_path)
    port = daemon.add("cpsok", script, "cpsok", cps="2 3")
    daemon.start()
    assert _burst(port, "127.0.0.1", 2) == [b"cpsok\n", b"cpsok\n"]
    _wait_count(daemon, "cpsok", "EXIT: cpsok status=0 pid=P duration=D", 2)
    assert not [m for m in daemon.messages() if "Deactivating" in m]
    assert not [x for x in daemon.log() if x.startswith("FAIL:")]


def test_per_source_cps(daemon, tmp_path):
    """per_source_cps = 2 30: the third connection of 127.0.0.2 within its second is refused,
    and so is its next one (blocked); 127.0.0.3 is served meanwhile; the service's socket
    stays open."""
    need_portierd("per_source_cps is portier's")
    script, recorded = recorder(tmp_path)
    port = daemon.add("psc", script, "psc", per_source_cps="2 30")
    daemon.start()
    assert _burst(port, "127.0.0.2", 3) == [b"psc\n", b"psc\n", b""]
    _wait_count(daemon, "psc", "FAIL: psc per_source_cps from=127.0.0.2", 1)
    assert exchange(port, "127.0.0.2") == b""
    _wait_count(daemon, "psc", "FAIL: psc per_source_cps from=127.0.0.2", 2)
    assert _burst(port, "127.0.0.3", 2) == [b"psc\n", b"psc\n"]
    _wait_count(daemon, "psc", "EXIT: psc status=0 pid=P duration=D", 4)
    got = sorted(lines_of(daemon, "psc"))
    want = sorted(["START: psc pid=P from=127.0.0.2"] * 2 + ["START: psc pid=P from=127.0.0.3"] * 2
                  + ["EXIT: psc status=0 pid=P duration=D"] * 4
                  + ["FAIL: psc per_source_cps from=127.0.0.2"] * 2)
    assert got == want
    assert sorted(recorded()) == sorted([("psc", "127.0.0.2")] * 2 + [("psc", "127.0.0.3")] * 2)
    assert not [m for m in daemon.messages() if "Deactivating" in m]


def test_per_source_cps_block_ends(daemon, tmp_path):
    """per_source_cps = 1 1: the blocked source is served again once its second is over
    (refused attempts in between do not extend the block)."""
    need_portierd("per_source_cps is portier's")
    script, recorded = recorder(tmp_path)
    port = daemon.add("psc1", script, "psc1", per_source_cps="1 1")
    daemon.start()
    assert _burst(port, "127.0.0.4", 2) == [b"psc1\n", b""]
    refused = 1
    deadline = time.monotonic() + 10
    while True:
        got = exchange(port, "127.0.0.4")
        if got == b"psc1\n":
            break
        assert got == b"", got
        refused += 1
        assert time.monotonic() < deadline, f"still refused after {refused} attempts"
        time.sleep(0.2)
    _wait_count(daemon, "psc1", "EXIT: psc1 status=0 pid=P duration=D", 2)
    lines = lines_of(daemon, "psc1")
    assert lines.count("FAIL: psc1 per_source_cps from=127.0.0.4") == refused, lines
    assert lines.count("START: psc1 pid=P from=127.0.0.4") == 2, lines
    assert len(recorded()) == 2


def test_cps_default_50_10(daemon):
    """A service that sets no cps gets xinetd's "cps = 50 10": the 51st connection within a
    second trips it. (The service refuses everyone by address, so that the burst costs portier
    no process; cps is checked first, and every connection counts.)"""
    daemon.defaults["cps"] = None        # no cps in defaults either (portierd_util sets one)
    port = daemon.add("dflt", "/bin/echo", "x", only_from="")
    daemon.start()
    replies = _burst(port, "127.0.0.1", 51)
    assert replies == [b""] * 51
    wait_for(lambda: sum(1 for x in daemon.log() if x.startswith("FAIL: dflt")) >= 51,
             what=f"51 FAIL lines; log: {daemon.log()}")
    # (xinetd's children log their address refusals after the parent's cps refusal)
    fails = sorted(x for x in daemon.log() if x.startswith("FAIL: dflt"))
    assert fails == ["FAIL: dflt address from=127.0.0.1"] * 50 + [
        "FAIL: dflt connections per second from=127.0.0.1"], fails
    msg = daemon.wait_message("Deactivating service")
    assert msg == ("Deactivating service dflt due to excessive incoming connections.  "
                   "Restarting in 10 seconds."), msg
    assert refused_by_kernel(port)


def test_cps_zero_is_no_limit(daemon):
    """cps = 0 0 turns the limit off: a burst of 55 is not cut."""
    port = daemon.add("nocps", "/bin/echo", "x", only_from="", cps="0 0")
    daemon.start()
    assert _burst(port, "127.0.0.1", 55) == [b""] * 55
    wait_for(lambda: sum(1 for x in daemon.log() if x.startswith("FAIL: nocps")) >= 55,
             what=f"55 FAIL lines; log: {daemon.log()}")
    fails = [x for x in daemon.log() if x.startswith("FAIL: nocps")]
    assert fails == ["FAIL: nocps address from=127.0.0.1"] * 55, fails
    assert not [m for m in daemon.messages() if "Deactivating" in m]
