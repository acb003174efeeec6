"""libwrap (hosts.allow / hosts.deny): checked for exec'd services in a fork()ed child before
the server runs, as xinetd does (START, FAIL libwrap, EXIT for a refused client, which also
gets banner_fail; the daemon name is the server's base name), skipped with flags = NOLIBWRAP,
and under the name given by `libwrap`.
The hosts files are ours: each test runs (this file, as a script) in private network and
mount namespaces with /etc/hosts.allow and /etc/hosts.deny bind-mounted. Runs against xinetd
too."""

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pytest  # noqa: E402

from access_util import (exchange, lines_of, netns_daemon, netns_usable,  # noqa: E402
                         run_in_netns)
from conftest import wait_for  # noqa: E402

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not netns_usable(), reason="needs root, unshare and ip")]

# The daemon name is the server's base name (as tcpd sees it), or `libwrap`.
DENY = "echo: 127.0.0.2\nothername: 127.0.0.4\n"
ALLOW = "# no rule here\n"


def _hosts_files(tmp):
    for name, text in (("hosts.deny", DENY), ("hosts.allow", ALLOW)):
        (Path(tmp) / name).write_text(text)
        subprocess.run(["mount", "--bind", str(Path(tmp) / name), f"/etc/{name}"], check=True)


def scenario_libwrap(tmp):
    _hosts_files(tmp)
    d, procs = netns_daemon(tmp)
    out = {"errors": []}
    try:
        (Path(tmp) / "bf").write_text("denied by libwrap\n")
        (Path(tmp) / "bs").write_text("welcome\n")
        w = d.add("wrapped", "/bin/echo", "served", banner_fail=str(Path(tmp) / "bf"),
                  banner_success=str(Path(tmp) / "bs"))
        x = d.add("exempt", "/bin/echo", "served", flags="NOLIBWRAP", _name="wrapped")
        n = d.add("named", "/bin/echo", "served", libwrap="othername")
        d.start()

        def check(cond, what):
            if not cond:
                out["errors"].append(f"{what}; log: {d.log()}")

        check(exchange(w, "127.0.0.1") == b"welcome\nserved\n", "wrapped: 127.0.0.1 served")
        check(exchange(w, "127.0.0.2") == b"denied by libwrap\n", "wrapped: 127.0.0.2 refused")
        check(exchange(x, "127.0.0.2") == b"served\n", "NOLIBWRAP: 127.0.0.2 served")
        check(exchange(n, "127.0.0.4") == b"", "libwrap = othername: 127.0.0.4 refused")
        check(exchange(n, "127.0.0.2") == b"served\n", "libwrap = othername: 127.0.0.2 served")
        try:
            d.wait_message("libwrap refused connection to wrapped (libwrap=echo) from 127.0.0.2")
        except AssertionError as e:
            out["errors"].append(str(e))
        want = ["START: wrapped pid=P from=127.0.0.2", "FAIL: wrapped libwrap from=127.0.0.2",
                "EXIT: wrapped status=0 pid=P duration=D"]
        try:
            wait_for(lambda: all(line in lines_of(d, "wrapped") for line in want),
                     what="the libwrap refusal's lines")
            wait_for(lambda: "FAIL: named libwrap from=127.0.0.4" in
                     "\n".join(lines_of(d, "named")), what="the named refusal")
        except AssertionError as e:
            out["errors"].append(str(e))
        check(not [x for x in lines_of(d, "exempt") if "FAIL" in x], "NOLIBWRAP: no FAIL")
        out["sanitizer"] = d.sanitizer_reports()
    finally:
        d.teardown()
        procs.cleanup()
    (Path(tmp) / "result.json").write_text(json.dumps(out))


def test_libwrap(procs, tmp_path):
    out = run_in_netns(procs, tmp_path, __file__, "libwrap", mounts=True)
    assert not out["errors"], "\n".join(out["errors"])


if __name__ == "__main__":
    {"libwrap": scenario_libwrap}[sys.argv[1]](sys.argv[2])
