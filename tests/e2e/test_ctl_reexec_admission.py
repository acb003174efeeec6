"""portierctl reexec while a connection is in admission: an IDONLY client whose ident lookup
is under way at the re-exec is handed over, the new image asks the identd again, and the
client is served (no NOID, no FAIL, nothing dropped). The identd must be on port 113 of the
client's address, so this runs in a private network namespace (as test_access_ident.py):
this file, run as a script under `unshare -n`, brings lo up, serves an identd on
127.0.0.1:113 that holds the first query unanswered, starts portierd, and writes what it saw
as JSON; the test asserts on that."""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pytest  # noqa: E402

from access_util import IdentdBase, netns_usable  # noqa: E402
from conftest import wait_for  # noqa: E402


pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not netns_usable(), reason="needs root, unshare and ip")]


class HoldingIdentd(IdentdBase):
    """Answers USERID alice, except that the first query is held (never answered) until its
    connection is closed by the asker."""

    TIMEOUT = 30

    def __init__(self):
        self.first_closed = threading.Event()
        super().__init__()

    def answer(self, c, query, ports):
        if len(self.queries) == 1:
            try:
                while c.recv(100):
                    pass
            except OSError:
                pass
            self.first_closed.set()
            return
        if ports:
            c.sendall(f"{ports[0]},{ports[1]}:USERID:UNIX:alice\r\n".encode())


def _wait(pred, what, timeout=15):
    wait_for(pred, timeout, what=what)


def netns_main(tmp):
    from access_util import netns_daemon
    d, procs = netns_daemon(tmp)
    identd = HoldingIdentd()
    out = {}
    try:
        port = d.add("idonly", "/bin/echo", "served", flags="IDONLY",
                     log_on_success="PID HOST EXIT DURATION USERID")
        d.start()
        c = socket.create_connection(("127.0.0.1", port), timeout=30)
        _wait(lambda: len(identd.queries) == 1, "the first ident query")
        ctl = Path(d.bin).with_name("portierctl")
        r = subprocess.run([str(ctl), "--socket", str(d.control_socket), "reexec"],
                           capture_output=True, text=True, timeout=60)
        out["reexec"] = [r.returncode, r.stdout, r.stderr]
        chunks = []
        while True:
            data = c.recv(4096)
            if not data:
                break
            chunks.append(data)
        c.close()
        out["reply"] = b"".join(chunks).decode(errors="replace")
        out["first_closed"] = identd.first_closed.wait(10)
        _wait(lambda: any(x.startswith("EXIT: idonly") for x in d.log()), "the EXIT line")
        time.sleep(0.3)
        out["log"] = d.log()
        out["messages"] = d.messages()
        out["queries"] = identd.queries
        out["sanitizer"] = d.sanitizer_reports()
    finally:
        d.teardown()
        procs.cleanup()
    (Path(tmp) / "result.json").write_text(json.dumps(out))


def test_ident_lookup_under_way_is_handed_over(procs, tmp_path):
    from access_util import run_in_netns
    from portierd_util import need_portierd
    need_portierd("portierctl reexec")
    out = run_in_netns(procs, tmp_path, __file__, "reexec")
    assert out["reexec"][0] == 0, out["reexec"]
    assert out["reply"] == "served\n", out
    lines = [re.sub(r"pid=\d+", "pid=P", re.sub(r"duration=\d+", "duration=D", x))
             for x in out["log"]]
    assert lines == ["START: idonly pid=P from=127.0.0.1", "USERID: idonly UNIX:alice",
                     "EXIT: idonly status=0 pid=P duration=D(sec)"], lines
    # the old image's query was abandoned at the exec; the new image asked again
    assert out["first_closed"] and len(out["queries"]) == 2, out["queries"]


if __name__ == "__main__":
    os.environ.setdefault("PORTIER_DAEMON", "portierd")
    netns_main(sys.argv[2])
