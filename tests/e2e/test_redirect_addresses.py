"""redirect = NAME port, where NAME has several addresses (IPv6 and IPv4, say): when the
connection to the first fails, the next is tried, so that a backend reachable on only one of
its addresses is still reached. Name resolution is controlled: the test runs in private
network and mount namespaces (this file, run as a script under `unshare -n -m`) where
/etc/hosts is ours. xinetd tries only the first address, so this is portier's."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pytest  # noqa: E402

from access_util import PORTIERD, netns_daemon, netns_hosts, netns_usable, run_in_netns  # noqa: E402,E501

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not netns_usable(), reason="needs root, unshare and ip"),
              pytest.mark.skipif(not PORTIERD, reason="xinetd tries the first address only")]

# RFC 6724 puts ::1 before 127.0.0.1: the first attempt goes to [::1], where nothing listens.
HOSTS = ["127.0.0.1 localhost", "::1 backend.test", "127.0.0.1 backend.test",
         "::1 nowhere.test", "127.0.0.1 nowhere.test"]


def scenario_fallback(tmp):
    from portierd_util import connect, read_all, read_line
    from redirect_util import Backend
    netns_hosts(tmp, HOSTS)
    d, procs = netns_daemon(tmp)
    out = {}
    echo = Backend("echo", host="127.0.0.1")
    try:
        both = d.add("both", redirect=f"backend.test {echo.port}")
        # the same name, no backend on any of its addresses: each is tried, then the client
        # is closed as for a single address
        dead = d.add("dead", redirect=f"nowhere.test {echo.port + 1 if echo.port < 65535 else 1}")
        d.start()
        with connect(both) as s:
            s.sendall(b"through the second address\n")
            out["echo"] = read_line(s)
        with connect(dead) as s:
            out["dead"] = read_all(s).decode()
        d.wait_log(r"EXIT: dead status=0 .*")
        out["messages"] = [m for m in d.messages() if "can't connect" in m]
        out["sanitizer"] = d.sanitizer_reports()
    finally:
        echo.stop()
        d.teardown()
        procs.cleanup()
    (Path(tmp) / "result.json").write_text(json.dumps(out))


def test_next_address_after_a_failed_one(procs, tmp_path):
    out = run_in_netns(procs, tmp_path, __file__, "fallback", mounts=True)
    assert out["echo"] == "through the second address\n", out
    assert out["dead"] == "", out
    msgs = out["messages"]
    # one message per address tried: [::1] refused first (for both services), then 127.0.0.1
    # for the dead one only
    assert any(m.endswith("can't connect to remote host ::1: Connection refused (errno = 111)")
               for m in msgs), msgs
    assert sum("remote host 127.0.0.1:" in m for m in msgs) == 1, msgs
    assert sum("remote host ::1:" in m for m in msgs) == 2, msgs


if __name__ == "__main__":
    {"fallback": scenario_fallback}[sys.argv[1]](sys.argv[2])
