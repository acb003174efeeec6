"""Concurrency limits per source and per service: `per_source = N` (concurrent servers per
source address: FAIL <id> per_source_limit, other sources still admitted; compatibility test)
and portier's `at_limit = defer` (at `instances`, new connections wait in the kernel's queue,
without a FAIL line, and are served as servers exit)."""

import re
import time

import pytest

from access_util import Probe, connect_from
from conftest import wait_for
from portierd_util import hold, need_portierd, read_line, server, socket_inode

pytestmark = pytest.mark.timeout(120)


def _hold_from(port, src):
    s = connect_from(port, src)
    line = read_line(s)
    m = re.fullmatch(r"pid (\d+)\n", line)
    assert m, f"{src}: expected to be served, got {line!r}"
    return s, int(m.group(1))


def test_per_source(daemon):
    """per_source = 2: a third concurrent connection from 127.0.0.2 is refused; 127.0.0.3 is
    served meanwhile; once one of 127.0.0.2's servers exits it is served again."""
    port = daemon.add("ps", server("hold.sh"), per_source="2")
    daemon.start()
    p = Probe(daemon)
    a1 = _hold_from(port, "127.0.0.2")
    a2 = _hold_from(port, "127.0.0.2")
    p.expect("ps", "START: ps pid=P from=127.0.0.2", "START: ps pid=P from=127.0.0.2")
    p.refused("ps", port, "127.0.0.2", "per_source_limit")
    b1 = _hold_from(port, "127.0.0.3")
    p.expect("ps", "START: ps pid=P from=127.0.0.3")
    p.refused("ps", port, "127.0.0.2", "per_source_limit")
    a1[0].close()
    daemon.wait_log(rf"EXIT: ps status=0 pid={a1[1]} duration=\d+\(sec\)")
    p.expect("ps", "EXIT: ps status=0 pid=P duration=D")
    a3 = _hold_from(port, "127.0.0.2")
    p.expect("ps", "START: ps pid=P from=127.0.0.2")
    p.refused("ps", port, "127.0.0.2", "per_source_limit")
    for s, pid in (a2, b1, a3):
        s.close()
        daemon.wait_log(rf"EXIT: ps status=0 pid={pid} duration=\d+\(sec\)")
        p.expect("ps", "EXIT: ps status=0 pid=P duration=D")
    p.check()


def test_per_source_refused_connection_frees_nothing(daemon):
    """A refused connection does not take (or give back) a slot: after two refusals, closing
    the one held connection lets exactly one more in."""
    port = daemon.add("ps1", server("hold.sh"), per_source="1")
    daemon.start()
    p = Probe(daemon)
    a = _hold_from(port, "127.0.0.5")
    p.expect("ps1", "START: ps1 pid=P from=127.0.0.5")
    p.refused("ps1", port, "127.0.0.5", "per_source_limit")
    p.refused("ps1", port, "127.0.0.5", "per_source_limit")
    a[0].close()
    p.expect("ps1", "EXIT: ps1 status=0 pid=P duration=D")
    b = _hold_from(port, "127.0.0.5")
    p.expect("ps1", "START: ps1 pid=P from=127.0.0.5")
    p.refused("ps1", port, "127.0.0.5", "per_source_limit")
    b[0].close()
    p.expect("ps1", "EXIT: ps1 status=0 pid=P duration=D")
    p.check()


def _accept_queue(port):
    """The number of connections waiting in the accept queue of the listening socket."""
    want = "%08X:%04X" % (int.from_bytes(bytes([127, 0, 0, 1]), "little"), port)
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return int(fields[4].split(":")[1], 16)
    return None


def test_at_limit_defer(daemon):
    """instances = 1, at_limit = defer: two more clients connect (the kernel completes their
    handshakes) but wait unserved in the queue, with no FAIL line; each is served in turn as
    the server before it exits."""
    need_portierd("at_limit is portier's")
    port = daemon.add("defer", server("hold.sh"), instances="1", at_limit="defer")
    daemon.start()
    assert socket_inode(port) is not None
    first = _hold_from(port, "127.0.0.1")
    c2 = connect_from(port, "127.0.0.2")
    c3 = connect_from(port, "127.0.0.3")
    wait_for(lambda: _accept_queue(port) == 2, what="two connections in the accept queue")
    time.sleep(0.3)             # the daemon had its chance to accept (and must not)
    assert _accept_queue(port) == 2
    c2.settimeout(0.2)
    with pytest.raises(TimeoutError):
        c2.recv(1)
    assert not [x for x in daemon.log() if x.startswith("FAIL:")], daemon.log()
    first[0].close()
    daemon.wait_log(rf"EXIT: defer status=0 pid={first[1]} duration=\d+\(sec\)")
    line = read_line(c2)
    m = re.fullmatch(r"pid (\d+)\n", line)
    assert m, f"the deferred connection was not served: {line!r}"
    assert _accept_queue(port) == 1
    c2.close()
    daemon.wait_log(rf"EXIT: defer status=0 pid={m.group(1)} duration=\d+\(sec\)")
    line = read_line(c3)
    m3 = re.fullmatch(r"pid (\d+)\n", line)
    assert m3, f"the second deferred connection was not served: {line!r}"
    c3.close()
    daemon.wait_log(rf"EXIT: defer status=0 pid={m3.group(1)} duration=\d+\(sec\)")
    p = Probe(daemon)
    p.want["defer"] = ["START: defer pid=P from=127.0.0.1", "EXIT: defer status=0 pid=P duration=D",
                       "START: defer pid=P from=127.0.0.2", "EXIT: defer status=0 pid=P duration=D",
                       "START: defer pid=P from=127.0.0.3", "EXIT: defer status=0 pid=P duration=D"]
    p.check()


def test_at_limit_refuse_is_default(daemon):
    """Without at_limit (or with at_limit = refuse) the connection over instances is accepted
    and refused: FAIL service_limit."""
    need_portierd("at_limit is portier's")
    p1 = daemon.add("dflt", server("hold.sh"), instances="1")
    p2 = daemon.add("refuse", server("hold.sh"), instances="1", at_limit="refuse")
    daemon.start()
    p = Probe(daemon)
    for sid, port in (("dflt", p1), ("refuse", p2)):
        s, pid = hold(port)
        p.expect(sid, f"START: {sid} pid=P from=127.0.0.1")
        p.refused(sid, port, "127.0.0.2", "service_limit")
        s.close()
        p.expect(sid, f"EXIT: {sid} status=0 pid=P duration=D")
    p.check()
