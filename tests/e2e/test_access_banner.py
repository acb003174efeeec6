"""Banners: `banner` goes to every client, refused ones too, first; then `banner_success`
before the server's own output, or `banner_fail` when the connection is refused (whatever the
reason), after which it is closed. Compatibility tests, run against xinetd too."""

import time

import pytest

from access_util import Probe, connect_from, loadavg1, read_to_eof, recorder
from portierd_util import need_portierd, read_line, server

pytestmark = pytest.mark.timeout(120)

B, OK, NO = b"WELCOME to the test\n", b"+OK granted\n", b"-ERR denied\n"


def _banners(tmp_path, which="all"):
    files = {}
    for name, data in (("banner", B), ("banner_success", OK), ("banner_fail", NO)):
        if which == "all" or name in which:
            f = tmp_path / f"{name}.txt"
            f.write_bytes(data)
            files[name] = str(f)
    return files


def test_banners_admitted_and_refused(daemon, tmp_path):
    script, recorded = recorder(tmp_path)
    port = daemon.add("ban", script, "ban", only_from="127.0.0.2", **_banners(tmp_path))
    daemon.start()
    p = Probe(daemon)
    p.admitted("ban", port, "127.0.0.2", reply=B + OK + b"ban\n")
    p.refused("ban", port, "127.0.0.3", "address", reply=B + NO)
    p.admitted("ban", port, "127.0.0.2", reply=B + OK + b"ban\n")
    p.check(recorded)


def test_banner_alone(daemon, tmp_path):
    """Only `banner`: admitted clients get it before the output, refused ones get it alone."""
    script, recorded = recorder(tmp_path)
    port = daemon.add("ban1", script, "ban1", no_access="127.0.0.3",
                      **_banners(tmp_path, ("banner",)))
    daemon.start()
    p = Probe(daemon)
    p.admitted("ban1", port, "127.0.0.2", reply=B + b"ban1\n")
    p.refused("ban1", port, "127.0.0.3", "address", reply=B)
    p.check(recorded)


def test_banner_success_and_fail_without_banner(daemon, tmp_path):
    script, recorded = recorder(tmp_path)
    port = daemon.add("ban2", script, "ban2", only_from="127.0.0.2",
                      **_banners(tmp_path, ("banner_success", "banner_fail")))
    daemon.start()
    p = Probe(daemon)
    p.admitted("ban2", port, "127.0.0.2", reply=OK + b"ban2\n")
    p.refused("ban2", port, "127.0.0.3", "address", reply=NO)
    p.check(recorded)


def test_banner_before_server_output_held(daemon, tmp_path):
    """The success banners come before anything the server writes (a server that writes at
    once and keeps the connection)."""
    port = daemon.add("banh", server("hold.sh"), **_banners(tmp_path))
    daemon.start()
    with connect_from(port, "127.0.0.1") as s:
        got = b""
        while len(got) < len(B + OK):
            data = s.recv(len(B + OK) - len(got))
            assert data, got
            got += data
        assert got == B + OK
        assert read_line(s).startswith("pid ")
        s.sendall(b"echo\n")
        assert read_line(s) == "echo\n"


def test_banner_fail_on_service_limit(daemon, tmp_path):
    """A refusal by instances (decided before any fork) sends the banners too."""
    port = daemon.add("banl", server("hold.sh"), instances="1", **_banners(tmp_path))
    daemon.start()
    p = Probe(daemon)
    s = connect_from(port, "127.0.0.1")
    got = b""
    while not got.endswith(b"\n") or got.count(b"\n") < 3:
        data = s.recv(100)
        assert data, got
        got += data
    assert got.startswith(B + OK + b"pid "), got
    p.expect("banl", "START: banl pid=P from=127.0.0.1")
    p.refused("banl", port, "127.0.0.2", "service_limit", reply=B + NO)
    s.close()
    p.expect("banl", "EXIT: banl status=0 pid=P duration=D")
    p.check()


def test_banner_fail_on_every_portier_refusal(daemon, tmp_path):
    """banner then banner_fail for refusals by time, load, per_source, per_source_cps and the
    global deny list too (portier: every refusal; each is decided before a fork)."""
    need_portierd("per_source_cps is portier's")
    files = _banners(tmp_path)
    script, recorded = recorder(tmp_path)
    ports = {
        "b_time": daemon.add("b_time", script, "b_time", access_times="00:00-00:00", **files),
        "b_ps": daemon.add("b_ps", server("hold.sh"), per_source="1", **files),
        "b_psc": daemon.add("b_psc", script, "b_psc", per_source_cps="1 30", **files),
        "b_svc": daemon.add("b_svc", script, "b_svc", **files),
    }
    load = loadavg1()
    if load >= 0.02:
        ports["b_load"] = daemon.add("b_load", script, "b_load", max_load=f"{load / 4:.2f}",
                                     **files)
    daemon.start()
    p = Probe(daemon)
    t = time.localtime()
    if (t.tm_hour, t.tm_min) != (0, 0):
        p.refused("b_time", ports["b_time"], "127.0.0.1", "time", reply=B + NO)
    if "b_load" in ports:
        p.refused("b_load", ports["b_load"], "127.0.0.1", "load", reply=B + NO)
    held = connect_from(ports["b_ps"], "127.0.0.1")
    assert _read_n(held, len(B + OK)) == B + OK
    assert read_line(held).startswith("pid ")
    p.expect("b_ps", "START: b_ps pid=P from=127.0.0.1")
    p.refused("b_ps", ports["b_ps"], "127.0.0.1", "per_source_limit", reply=B + NO)
    held.close()
    p.expect("b_ps", "EXIT: b_ps status=0 pid=P duration=D")
    socks = [connect_from(ports["b_psc"], "127.0.0.1") for _ in range(2)]
    replies = [read_to_eof(s) for s in socks]
    for s in socks:
        s.close()
    assert replies == [B + OK + b"b_psc\n", B + NO], replies
    daemon.wait_log(r"FAIL: b_psc per_source_cps from=127\.0\.0\.1")
    p.check()


def _read_n(s, n):
    got = b""
    while len(got) < n:
        data = s.recv(n - len(got))
        if not data:
            break
        got += data
    return got


def test_banner_fail_on_process_limit(daemon, tmp_path):
    port = daemon.add("banp", server("hold.sh"), **_banners(tmp_path))
    daemon.start("-limit", "1")
    p = Probe(daemon)
    s = connect_from(port, "127.0.0.1")
    assert _read_n(s, len(B + OK)) == B + OK
    assert read_line(s).startswith("pid ")
    p.expect("banp", "START: banp pid=P from=127.0.0.1")
    p.refused("banp", port, "127.0.0.2", "process_limit", reply=B + NO)
    s.close()
    p.expect("banp", "EXIT: banp status=0 pid=P duration=D")
    p.check()


def test_banner_fail_on_cps(daemon, tmp_path):
    """The connection that trips cps gets the banners before the socket closes."""
    script, _ = recorder(tmp_path)
    port = daemon.add("banc", script, "banc", cps="1 2", **_banners(tmp_path))
    daemon.start()
    socks = [connect_from(port, "127.0.0.1") for _ in range(2)]
    replies = [read_to_eof(s) for s in socks]
    for s in socks:
        s.close()
    assert replies == [B + OK + b"banc\n", B + NO], replies
