"""portierctl list without a running portierd: the services are read from the configuration
files (as chkconfig --list does), on/off and the rest, with a header that says the daemon is
not running and no live state (JSON: daemon_running false, generation, state and running
null); with a daemon, the same rows with their live state."""

import re

from ctl_util import ctl  # noqa: F401 (fixture)


def _setup(d):
    d.add("on1", "/bin/cat")
    d.add("off1", "/bin/cat", disable="yes")
    d.add("echo1", _name="echo", type="INTERNAL UNLISTED", user=None)
    d.write()


def test_list_without_daemon_text(ctl):
    d = ctl.daemon
    _setup(d)
    r = ctl.run("-f", d.conf, "list")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == (f"portierd based services ({d.conf}; portierd is not running: "
                        "read from the files):"), r.out
    rows = {ln.split()[0].rstrip(":"): ln.split() for ln in lines[1:]}
    assert set(rows) == {"on1", "off1", "echo1"}
    assert rows["on1"][1:4] == ["on", "tcp", f"127.0.0.1:{d.services['on1']['port']}"]
    assert rows["off1"][1] == "off" and "disable = yes" in " ".join(rows["off1"])
    assert rows["echo1"][1] == "on" and rows["echo1"][4] == "internal"
    assert all("running" not in ln for ln in lines[1:]), r.out


def test_list_without_daemon_json(ctl):
    d = ctl.daemon
    _setup(d)
    j = ctl.json("-f", d.conf, "list")
    assert j["daemon_running"] is False and j["generation"] is None
    assert j["config"] == str(d.conf)
    s = {x["id"]: x for x in j["services"]}
    assert s["on1"]["enabled"] is True and s["off1"]["enabled"] is False
    assert s["off1"]["config_state"] == "disabled"
    for x in s.values():
        assert x["state"] is None and x["running"] is None, x
    assert s["echo1"]["kind"] == "internal" and s["on1"]["kind"] == "server"


def test_list_with_daemon_has_live_state(ctl):
    d = ctl.daemon
    _setup(d)
    ctl.start()
    j = ctl.json("list")
    assert j["daemon_running"] is True and j["generation"] == 1
    s = {x["id"]: x for x in j["services"]}
    assert s["on1"]["state"] == "listening" and s["on1"]["running"] == 0
    r = ctl.ok("list")
    assert re.match(r"portierd based services \(.*\):\n", r.out) and "not running" not in r.out
    assert d.stop() == 0
    # the daemon gone: the same services from the files
    r = ctl.run("-f", d.conf, "list")
    assert r.rc == 0 and "portierd is not running" in r.out, r


def test_list_without_daemon_unreadable_config(ctl, tmp_path):
    r = ctl.run("-f", tmp_path / "missing.conf", "list")
    assert r.rc == 7, r         # as every command that needs a daemon
    assert "portierd is not running" in r.err and "cannot be read" in r.err, r
