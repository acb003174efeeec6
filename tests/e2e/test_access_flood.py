"""A flood of refused connections: at most 100 FAIL lines a second per service, the rest
counted, and the count logged as a daemon message once the second is over (portier's;
xinetd logs every refusal). Every refused client is still counted in the state dump."""

import socket

import pytest

from conftest import wait_for
from portierd_util import need_portierd

pytestmark = pytest.mark.timeout(120)


def _flood(port, n):
    """n connections, all queued before the daemon accepts them; each is closed by the
    daemon (refused)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
        for s in socks:
            s.settimeout(5)
            assert s.recv(16) == b""
    finally:
        for s in socks:
            s.close()


def test_refusal_lines_are_rate_limited(daemon):
    need_portierd("xinetd writes every FAIL line")
    port = daemon.add("flooded", "/bin/echo", "x", only_from="")
    daemon.start()
    _flood(port, 300)
    daemon.wait_message("refused connections not logged")

    def books_balance():
        msgs = [m for m in daemon.messages() if "refused connections not logged" in m]
        suppressed = sum(int(m.split("': ")[1].split()[0]) for m in msgs)
        fails = [x for x in daemon.log() if x.startswith("FAIL: flooded address")]
        return (len(fails), suppressed, msgs) if len(fails) + suppressed == 300 else None

    fails, suppressed, msgs = wait_for(books_balance, what="FAIL lines + suppressed = 300")
    assert 100 <= fails < 300 and suppressed > 0, (fails, suppressed)
    assert all(m.endswith("(more than 100 FAIL lines a second)") for m in msgs), msgs


def test_few_refusals_all_logged(daemon):
    port = daemon.add("quiet", "/bin/echo", "x", only_from="")
    daemon.start()
    _flood(port, 20)
    wait_for(lambda: len([x for x in daemon.log() if x.startswith("FAIL: quiet address")]) == 20,
             what=f"20 FAIL lines; log: {daemon.log()}")
    assert not [m for m in daemon.messages() if "not logged" in m]
