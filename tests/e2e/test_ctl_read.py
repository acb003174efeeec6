"""portierctl's read commands against a real portierd: list, status, sockets, dump (text and
JSON), check (no daemon needed), and the exit codes when the daemon is not there."""

import os
import re

from conftest import wait_for
from ctl_util import ctl  # noqa: F401 (fixture)
from portierd_util import hold, server, serving_pid


def _setup(ctl):
    d = ctl.daemon
    d.defaults["disabled"] = "off1"
    p_hold = d.add("holder", server("hold.sh"))
    p_echo = d.add("echoer", "/bin/echo", "echo hi", flags="NAMEINARGS")
    d.add("off1", "/bin/true")
    ctl.start()
    return p_hold, p_echo


def test_list_text_and_json(ctl):
    p_hold, p_echo = _setup(ctl)
    s, pid = hold(p_hold)
    with s:
        r = ctl.ok("list")
        lines = r.out.splitlines()
        assert lines[0] == f"portierd based services ({ctl.daemon.conf}):"
        rows = {m.group(1): m for m in (re.match(r"\t(\S+):\s*\t(on |off)\t(\S+)\s+(\S+)\s+(\S+)"
                                                 r"\s*(.*)", line) for line in lines[1:]) if m}
        assert set(rows) == {"holder", "echoer", "off1"}, r.out
        assert rows["holder"].group(2) == "on " and rows["off1"].group(2) == "off"
        assert rows["holder"].group(4) == f"127.0.0.1:{p_hold}"
        assert rows["holder"].group(6) == "running 1"
        assert "'disabled' list" in rows["off1"].group(6)
        data = ctl.json("list")
    by_id = {x["id"]: x for x in data["services"]}
    assert data["config"] == str(ctl.daemon.conf) and data["generation"] == 1
    assert by_id["holder"]["running"] == 1 and by_id["holder"]["state"] == "listening"
    assert by_id["echoer"]["port"] == p_echo and by_id["echoer"]["enabled"] is True
    assert by_id["off1"]["enabled"] is False and by_id["off1"]["state"] is None
    assert by_id["off1"]["config_state"] == "disabled"


def test_status_counters_and_exits(ctl):
    p_hold, p_echo = _setup(ctl)
    for _ in range(3):
        with __import__("socket").create_connection(("127.0.0.1", p_echo), timeout=10) as c:
            assert c.recv(100) == b"hi\n"
    ctl.daemon.wait_log(r"EXIT: echoer .*", count=3)
    data = ctl.json("status")
    assert data["pid"] == ctl.daemon.pid and data["generation"] == 1
    assert data["services_on"] == 2 and data["services_off"] == 1
    e = {x["id"]: x for x in data["services"]}["echoer"]
    assert e["accepted"] == 3 and e["started"] == 3 and e["exited"] == 3 and e["running"] == 0
    assert len(e["last_exits"]) == 3 and all(x["exit_code"] == 0 for x in e["last_exits"])
    assert e["refused"]["address"] == 0 and e["cps_disabled_until"] is None
    r = ctl.ok("status", "echoer")
    assert f"pid {ctl.daemon.pid}" in r.out
    assert "Counters: accepted 3, started 3, exited 3, spawn failed 0, running 0" in r.out
    assert re.search(r"Last exits: pid \d+, exit 0 after \d+ s", r.out), r.out
    assert "holder" not in r.out
    one = ctl.json("status", "echoer")
    assert [x["id"] for x in one["services"]] == ["echoer"]


def test_status_exit_codes(ctl):
    _setup(ctl)
    assert ctl.run("status", "off1").rc == 3            # not active
    r = ctl.run("status", "nosuch")
    assert r.rc == 4 and "no service 'nosuch'" in r.err
    assert ctl.run("status").rc == 0


def test_status_refused_and_cps_off(ctl):
    d = ctl.daemon
    p = d.add("picky", "/bin/true", only_from="10.9.9.9")
    q = d.add("limited", server("hold.sh"), cps="1 30")
    ctl.start()
    import socket
    with socket.create_connection(("127.0.0.1", p), timeout=10) as c:
        c.recv(10)
    conns = []
    for _ in range(3):
        try:
            conns.append(socket.create_connection(("127.0.0.1", q), timeout=10))
        except (ConnectionRefusedError, ConnectionResetError):
            break       # the second one went over the cps limit, which closed the socket
    try:
        assert len(conns) >= 2
        wait_for(lambda: ctl.json("status", "limited")["services"][0]["state"] == "cps-off",
                 what="the cps limit to close the socket")
        st = ctl.json("status")
        s = {x["id"]: x for x in st["services"]}
        assert s["picky"]["refused"]["address"] == 1
        assert s["limited"]["cps_disabled_until"] is not None
        r = ctl.ok("status", "limited")
        assert "CPS off: until" in r.out
        assert "Refused: address 1" in ctl.ok("status", "picky").out
    finally:
        for c in conns:
            c.close()


def test_sockets_text_and_json(ctl):
    p_hold, p_echo = _setup(ctl)
    r = ctl.ok("sockets")
    assert r.out.splitlines()[0].split() == ["LISTEN", "PROTO", "FD", "SERVICE", "STATE",
                                             "SERVER"]
    rows = {line.split()[3]: line.split() for line in r.out.splitlines()[1:]}
    assert rows["holder"][0] == f"127.0.0.1:{p_hold}" and rows["holder"][1] == "tcp"
    assert rows["echoer"][5] == "/bin/echo"
    assert "off1" not in rows
    data = ctl.json("sockets")
    by = {x["service"]: x for x in data["sockets"]}
    assert by["holder"]["port"] == p_hold and by["holder"]["fd"] >= 0
    fd = by["holder"]["fd"]
    assert os.readlink(f"/proc/{serving_pid(ctl.daemon)}/fd/{fd}").startswith("socket:")


def test_dump_text_and_json(ctl):
    _setup(ctl)
    r = ctl.ok("dump")
    assert r.out.startswith(f"portierd ") and f"pid {ctl.daemon.pid}" in r.out
    assert "service holder\n\tkey = holder/tcp/127.0.0.1/" in r.out
    data = ctl.json("dump")
    assert {x["id"] for x in data["services"]} == {"holder", "echoer", "off1"}


def test_check_without_daemon(ctl, tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("service x\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n\tprotocol = tcp"
                    "\n\twait = no\n\tport = 40999\n\tserver = /bin/true\n\tuser = root\n}\n")
    r = ctl.run("check", "-f", good)
    assert r.rc == 0 and r.out == "configuration OK\n", r
    bad = tmp_path / "bad.conf"
    bad.write_text(good.read_text().replace("/bin/true", "/nonexistent/server"))
    r = ctl.run("check", "-f", bad)
    assert r.rc == 1 and f"{bad}:" in r.err and "configuration OK" not in r.out
    data = ctl.json("check", "-f", bad, rc=1)
    assert data["ok"] is False and data["errors"] == 1
    assert data["diagnostics"][0]["file"] == str(bad) and data["diagnostics"][0]["line"] > 0
    assert ctl.json("check", "-f", good)["ok"] is True
    r = ctl.run("check", "-f", tmp_path / "missing.conf")
    assert r.rc == 6
    # the same verdict as portierd -n
    n = ctl.procs.run([ctl.daemon.bin, "-n", "-f", bad])
    mine = ctl.run("check", "-f", bad)
    assert n.rc == mine.rc == 1
    assert n.err.replace("portierd:", "portierctl:") == mine.err


def test_not_running_and_usage(ctl):
    r = ctl.run("status")
    assert r.rc == 3 and "not running" in r.err
    for cmd in ("list", "sockets", "dump", "reload", "reexec"):
        r = ctl.run(cmd)
        assert r.rc == 7 and "not running" in r.err, (cmd, r)
    assert ctl.run("frobnicate").rc == 2
    assert ctl.run("enable").rc == 2
    assert ctl.run("list", "extra").rc == 2
    assert ctl.run("status", "bad name").rc == 2
    h = ctl.run("--help")
    assert h.rc == 0 and "reexec" in h.out


def test_socket_from_environment(ctl):
    _setup(ctl)
    from conftest import clean_env
    r = ctl.procs.run([ctl.bin, "list"], env=clean_env(PORTIER_SOCKET=ctl.sock))
    assert r.rc == 0 and "holder" in r.out
