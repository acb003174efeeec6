"""A counter per refusal reason, per service (portier; the SIGUSR1 state dump shows them as
"refused <reason> = N"): address, time, service_limit, per_source_limit, per_source_cps,
connections per second, and the address refusals of a SENSOR."""

import signal

import pytest

from access_util import connect_from, exchange, read_to_eof, recorder
from conftest import wait_for
from portierd_util import need_portierd, read_line, server

pytestmark = pytest.mark.timeout(120)


def _blocks(daemon):
    dump = daemon.pidfile.parent / "portierd.dump"
    before = len([m for m in daemon.messages() if "generated state dump" in m])
    daemon.kill(signal.SIGUSR1)
    wait_for(lambda: len([m for m in daemon.messages() if "generated state dump" in m]) > before,
             what="the state dump")
    text = dump.read_text()
    return {b.split("\n", 1)[0]: b for b in text.split("\nservice ")[1:]}


def _refused(block):
    out = {}
    for line in block.splitlines():
        line = line.strip()
        if line.startswith("refused "):
            k, v = line[len("refused "):].rsplit(" = ", 1)
            out[k] = int(v)
    return out


def test_refusal_counters(daemon, tmp_path):
    need_portierd("the state dump is portier's")
    script, _ = recorder(tmp_path)
    p = {
        "c_addr": daemon.add("c_addr", script, "c_addr", only_from="127.0.0.2"),
        "c_time": daemon.add("c_time", script, "c_time", access_times="00:00-00:00"),
        "c_lim": daemon.add("c_lim", server("hold.sh"), instances="1", per_source="1"),
        "c_psc": daemon.add("c_psc", script, "c_psc", per_source_cps="1 30"),
        "c_cps": daemon.add("c_cps", script, "c_cps", cps="1 30"),
        "c_trap": daemon.add("c_trap", "/bin/echo", "x", flags="SENSOR", deny_time="5"),
    }
    daemon.start()
    assert exchange(p["c_addr"], "127.0.0.2") == b"c_addr\n"
    for src in ("127.0.0.3", "127.0.0.4", "127.0.0.5"):
        assert exchange(p["c_addr"], src) == b""
    assert exchange(p["c_time"], "127.0.0.1") == b""
    held = connect_from(p["c_lim"], "127.0.0.1")
    assert read_line(held).startswith("pid ")
    assert exchange(p["c_lim"], "127.0.0.1") == b""         # instances first
    assert exchange(p["c_lim"], "127.0.0.2") == b""
    socks = [connect_from(p["c_psc"], "127.0.0.1") for _ in range(3)]
    assert [read_to_eof(s) for s in socks] == [b"c_psc\n", b"", b""]
    # (two only: once tripped, the socket is closed and a third connect could be refused)
    socks = [connect_from(p["c_cps"], "127.0.0.1") for _ in range(2)]
    assert [read_to_eof(s) for s in socks] == [b"c_cps\n", b""]
    assert exchange(p["c_trap"], "127.0.0.9") == b""
    assert exchange(p["c_addr"], "127.0.0.9") == b""        # on the deny list now
    wait_for(lambda: sum(x.startswith("FAIL:") for x in daemon.log()) >= 11,
             what=f"11 FAIL lines; log: {daemon.log()}")
    b = _blocks(daemon)
    got = {sid: _refused(b[sid]) for sid in p}
    hour_zero = "c_time" not in [x.split()[1] for x in daemon.log() if x.startswith("FAIL:")]
    want = {"c_addr": {"address": 4}, "c_time": {} if hour_zero else {"time": 1},
            "c_lim": {"service_limit": 2}, "c_psc": {"per_source_cps": 2},
            "c_cps": {"connections per second": 1}, "c_trap": {"address": 1}}
    assert got == want, "\n".join(b.values())
    held.close()
