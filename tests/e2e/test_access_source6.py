"""IPv6 sources, in a private network namespace with addresses of two /64s on lo
(fd00:1::/64, fd00:2::/64): only_from with an IPv6 prefix, and portier's per-source limits
keyed by IPv6 /64 (DESIGN.md decision 8) — per_source and per_source_cps count fd00:1::2 and
fd00:1::3 as one source. xinetd counts per_source per address: a deliberate difference.
This file, run as a script under `unshare -n`, runs one scenario and writes what it saw."""

import json
import re
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pytest  # noqa: E402

from access_util import PORTIERD, netns_daemon, netns_usable, run_in_netns  # noqa: E402

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not netns_usable(), reason="needs root, unshare and ip")]

ADDRS = ("fd00:1::2/64", "fd00:1::3/64", "fd00:2::1/64")


# --- inside the namespace ------------------------------------------------------------------

def _connect(port, src):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("::1", port))
    return s


def _read(s):
    chunks = []
    try:
        while True:
            data = s.recv(4096)
            if not data:
                break
            chunks.append(data)
    except ConnectionResetError:
        pass
    return b"".join(chunks).decode(errors="replace")


def _greeting(s):
    line = b""
    while not line.endswith(b"\n"):
        data = s.recv(1)
        if not data:
            break
        line += data
    return line.decode()


def _wait_log(d, pred, what):
    deadline = time.monotonic() + 10
    while not pred(d.log()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; log: {d.log()}")
        time.sleep(0.02)


def scenario_per_source(d, out):
    from portierd_util import server
    port = d.add("ps6", server("hold.sh"), bind="::1", per_source="1")
    d.start()
    held = _connect(port, "fd00:1::2")
    out["first"] = _greeting(held)
    _wait_log(d, lambda log: any(x.startswith("START: ps6") for x in log), "START")
    same64 = _connect(port, "fd00:1::3")
    out["same64"] = _greeting(same64)          # "" when refused
    other = _connect(port, "fd00:2::1")
    out["other64"] = _greeting(other)
    for s in (same64, other, held):
        s.close()
    _wait_log(d, lambda log: sum(x.startswith("EXIT: ps6") for x in log) ==
              sum(x.startswith("START: ps6") for x in log), "every EXIT")


def scenario_per_source_cps(d, out):
    port = d.add("psc6", "/bin/echo", "served", bind="::1", per_source_cps="2 30")
    d.start()
    socks = [_connect(port, "fd00:1::2"), _connect(port, "fd00:1::2"),
             _connect(port, "fd00:1::3")]
    out["burst"] = [_read(s) for s in socks]
    out["other64"] = _read(_connect(port, "fd00:2::1"))
    _wait_log(d, lambda log: sum(x.startswith("EXIT: psc6") for x in log) == 3, "3 EXIT")


def scenario_only_from(d, out):
    port = d.add("of6", "/bin/echo", "served", bind="::1", only_from="fd00:1::/64")
    d.start()
    out["in"] = _read(_connect(port, "fd00:1::3"))
    out["out"] = _read(_connect(port, "fd00:2::1"))
    _wait_log(d, lambda log: any(x.startswith("FAIL: of6") for x in log) and
              any(x.startswith("EXIT: of6") for x in log), "FAIL and EXIT")
    time.sleep(0.2)


SCENARIOS = {"per_source": scenario_per_source, "per_source_cps": scenario_per_source_cps,
             "only_from": scenario_only_from}


def netns_main(scenario, tmp):
    d, procs = netns_daemon(tmp, ADDRS)
    out = {}
    try:
        SCENARIOS[scenario](d, out)
        time.sleep(0.2)
        out["log"] = d.log()
        out["sanitizer"] = d.sanitizer_reports()
    finally:
        d.teardown()
        procs.cleanup()
    (Path(tmp) / "result.json").write_text(json.dumps(out))


# --- the tests -----------------------------------------------------------------------------

def _norm(lines):
    return [re.sub(r"duration=\d+\(sec\)", "duration=D", re.sub(r"pid=\d+", "pid=P", x))
            for x in lines]


def test_ipv6_only_from_prefix(procs, tmp_path):
    out = run_in_netns(procs, tmp_path, __file__, "only_from")
    assert out["in"] == "served\n" and out["out"] == "", out
    log = _norm(out["log"])
    assert "FAIL: of6 address from=fd00:2::1" in log, log
    assert "START: of6 pid=P from=fd00:1::3" in log, log
    if PORTIERD:
        assert not [x for x in log if "fd00:2::1" in x and not x.startswith("FAIL:")], log


def test_per_source_ipv6_64(procs, tmp_path):
    """per_source = 1: fd00:1::3 shares fd00:1::2's /64 and is refused while fd00:1::2 holds
    its server (portier); xinetd counts addresses and serves it. fd00:2::1 is served."""
    out = run_in_netns(procs, tmp_path, __file__, "per_source")
    assert out["first"].startswith("pid ") and out["other64"].startswith("pid "), out
    log = _norm(out["log"])
    if PORTIERD:
        assert out["same64"] == "", out
        assert "FAIL: ps6 per_source_limit from=fd00:1::3" in log, log
        assert sorted(x for x in log if x.startswith("START:")) == [
            "START: ps6 pid=P from=fd00:1::2", "START: ps6 pid=P from=fd00:2::1"], log
    else:
        assert out["same64"].startswith("pid "), out
        assert not [x for x in log if x.startswith("FAIL:")], log


def test_per_source_cps_ipv6_64(procs, tmp_path):
    """per_source_cps = 2 30: two connections of fd00:1::2 and one of fd00:1::3 in a second
    are three of the same /64: the third is refused; fd00:2::1 is served."""
    if not PORTIERD:
        pytest.skip("per_source_cps is portier's")
    out = run_in_netns(procs, tmp_path, __file__, "per_source_cps")
    assert out["burst"] == ["served\n", "served\n", ""], out
    assert out["other64"] == "served\n", out
    log = _norm(out["log"])
    assert [x for x in log if x.startswith("FAIL:")] == [
        "FAIL: psc6 per_source_cps from=fd00:1::3"], log


if __name__ == "__main__":
    netns_main(sys.argv[1], sys.argv[2])
