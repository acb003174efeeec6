"""Ident (RFC 1413): `log_on_success = USERID` (the USERID line after START; the server runs
whatever the answer), `flags = IDONLY` (the server runs only after a USERID reply; otherwise
NOID: <id> <addr> <reason> and no server) and `log_on_failure = USERID` (a USERID line after a
FAIL decided before any fork). The identd must be on port 113 of the client's address, so each
test runs in a private network namespace: this file, run as a script under `unshare -n`, brings
lo up, serves a scripted identd on 127.0.0.1:113 (127.0.0.2 has none: "no server"), starts
the daemon (portierd, or xinetd with PORTIER_DAEMON=xinetd), makes the connections and writes
what it saw as JSON; the test asserts on that. xinetd writes START before NOID (it forks
first); portier decides before any fork and writes no START for a refused client (ident.h,
userid.c; DESIGN.md decision 4)."""

import json
import os
import re
import socket
import sys
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

IDENT_REPLIES = {
    "alice": "{p},{l}:USERID:UNIX:alice",
    "spaced": "{p} , {l} : USERID : UNIX : alice",
    "bob": "{p},{l}:USERID:UNIX,UTF-8:bob smith",
    "carol": "{p},{l}: USERID :OTHER: c:a:r:o:l",
    "error": "{p},{l}:ERROR:NO-USER",
    "wrongport": "{p1},{l}:USERID:UNIX:mallory",
}


# --- inside the namespace ------------------------------------------------------------------

class Identd(IdentdBase):
    """A scripted identd: the reply for a query depends on the client port asked about
    (registered by the client before it connects)."""

    def __init__(self):
        self.plan = {}          # client port -> reply key ("close": close without a reply)
        super().__init__()

    def answer(self, c, query, ports):
        if not ports:
            return
        p, l = ports
        key = self.plan.get(p, "error")
        if key == "close":
            c.sendall(b"%d,%d" % (p, l))        # no end of line
            return
        c.sendall((IDENT_REPLIES[key].format(p=p, l=l, p1=p + 1) + "\r\n").encode())


def _wait(pred, what, timeout=15):
    wait_for(pred, timeout, what=what)


def _client(identd, port, src, plan, send=b"", hold=False):
    s = socket.socket()
    s.settimeout(15)
    s.bind((src, 0))
    identd.plan[s.getsockname()[1]] = plan
    s.connect(("127.0.0.1", port))
    if hold:
        line = b""
        while not line.endswith(b"\n"):
            data = s.recv(1)
            assert data, f"no greeting from the held server: {line!r}"
            line += data
        return s
    if send:
        s.sendall(send)
    chunks = []
    try:
        while True:
            data = s.recv(4096)
            if not data:
                break
            chunks.append(data)
    except ConnectionResetError:
        pass
    s.close()
    return b"".join(chunks).decode(errors="replace")


def netns_main(scenario, tmp):
    from access_util import netns_daemon
    from portierd_util import server
    d, procs = netns_daemon(tmp)
    identd = Identd()
    out = {"replies": {}}
    try:
        SCENARIOS[scenario](d, identd, out, server)
        out["log"] = d.log()
        out["messages"] = d.messages()
        out["queries"] = identd.queries
        out["sanitizer"] = d.sanitizer_reports()
    finally:
        d.teardown()
        procs.cleanup()
    (Path(tmp) / "result.json").write_text(json.dumps(out))


def _lines(d, sid, n):
    _wait(lambda: len([x for x in d.log() if x.split()[1:2] == [sid]]) >= n,
          f"{n} lines of {sid}: {d.log()}")


def scenario_userid(d, identd, out, server):
    port = d.add("uid", "/bin/echo", "served", log_on_success="PID HOST EXIT DURATION USERID")
    d.start()
    for i, plan in enumerate(("alice", "spaced", "bob", "carol", "error", "wrongport")):
        out["replies"][plan] = _client(identd, port, "127.0.0.1", plan)
        # START, EXIT, and USERID when the reply is one
        _lines(d, "uid", 2 * (i + 1) + min(i + 1, 4))
    out["replies"]["noserver"] = _client(identd, port, "127.0.0.2", "alice")
    _lines(d, "uid", 2 * 7 + 4)
    # let any late line arrive before the log is read
    time.sleep(0.3)


def scenario_idonly(d, identd, out, server):
    port = d.add("idonly", "/bin/echo", "served", flags="IDONLY",
                 log_on_success="PID HOST EXIT DURATION USERID")
    d.start()
    steps = [("alice", "127.0.0.1", "USERID: idonly UNIX:alice"),
             ("error", "127.0.0.1", "NOID: idonly 127.0.0.1 bad response"),
             ("wrongport", "127.0.0.1", "NOID: idonly 127.0.0.1 bad response"),
             ("close", "127.0.0.1", "NOID: idonly 127.0.0.1 error while receiving response"),
             ("alice", "127.0.0.2", "NOID: idonly 127.0.0.2 no server"),
             ("bob", "127.0.0.1", "USERID: idonly UNIX,UTF-8:bob smith")]
    for plan, src, line in steps:
        out["replies"][f"{plan}@{src}"] = _client(identd, port, src, plan)
        _wait(lambda: line in d.log(), f"{line!r} in {d.log()}")
    _lines(d, "idonly", 2 * 2 + 2 + 4)      # 2 x (START, USERID, EXIT), 4 NOID (+ xinetd's)
    time.sleep(0.3)


def scenario_failure(d, identd, out, server):
    port = d.add("limited", server("hold.sh"), instances="1",
                 log_on_failure="HOST USERID")
    d.start()
    held = _client(identd, port, "127.0.0.1", "error", hold=True)
    _wait(lambda: any(x.startswith("START: limited") for x in d.log()), "START")
    out["replies"]["refused"] = _client(identd, port, "127.0.0.1", "carol")
    _wait(lambda: "USERID: limited OTHER: c:a:r:o:l" in d.log(), f"USERID in {d.log()}")
    out["replies"]["refused_error"] = _client(identd, port, "127.0.0.1", "error")
    _wait(lambda: d.log().count("FAIL: limited service_limit from=127.0.0.1") == 2,
          f"two FAIL lines in {d.log()}")
    held.close()
    _wait(lambda: any(x.startswith("EXIT: limited") for x in d.log()), "EXIT")
    time.sleep(0.3)


def scenario_failure_child_side(d, identd, out, server):
    port = d.add("addr", "/bin/echo", "served", only_from="127.0.0.9",
                 log_on_failure="HOST USERID")
    t = time.localtime()
    now = t.tm_hour * 60 + t.tm_min
    if now > 24 * 60 - 8:
        now = 0                 # (a window that is past: "00:03-00:06" is fine then too)
    window = "%02d:%02d-%02d:%02d" % ((now + 3) // 60, (now + 3) % 60, (now + 6) // 60,
                                      (now + 6) % 60)
    tport = d.add("tim", "/bin/echo", "served", access_times=window,
                  log_on_failure="HOST USERID")
    marker = d.add("marker", "/bin/echo", "served")
    d.start()
    out["replies"]["addr"] = _client(identd, port, "127.0.0.1", "alice")
    out["replies"]["tim"] = _client(identd, tport, "127.0.0.1", "bob")
    _wait(lambda: sum(x.startswith("FAIL:") for x in d.log()) >= 1, f"FAIL in {d.log()}")
    # give a lookup time to answer (the identd answers at once), then a marker line
    time.sleep(0.5)
    out["replies"]["marker"] = _client(identd, marker, "127.0.0.1", "error")
    _wait(lambda: any(x.startswith("EXIT: marker") for x in d.log()), "the marker")


SCENARIOS = {"userid": scenario_userid, "idonly": scenario_idonly, "failure": scenario_failure,
             "failure_child_side": scenario_failure_child_side}


# --- the tests (outside the namespace) ----------------------------------------------------

def _run(procs, tmp_path, scenario):
    from access_util import run_in_netns
    return run_in_netns(procs, tmp_path, __file__, scenario)


def _norm(lines, sid):
    return [re.sub(r"duration=\d+\(sec\)", "duration=D", re.sub(r"pid=\d+", "pid=P", x))
            for x in lines if x.split()[1:2] == [sid]]


def test_userid_logged_after_start(procs, tmp_path):
    """USERID: <id> <text after "USERID :"> after START, the text verbatim as the identd
    spaced it; the server runs whatever the answer; a failed lookup writes nothing."""
    out = _run(procs, tmp_path, "userid")
    assert set(out["replies"].values()) == {"served\n"}, out["replies"]
    lines = _norm(out["log"], "uid")
    userids = [x for x in lines if x.startswith("USERID:")]
    assert userids == ["USERID: uid UNIX:alice", "USERID: uid UNIX : alice",
                       "USERID: uid UNIX,UTF-8:bob smith", "USERID: uid OTHER: c:a:r:o:l"], lines
    assert lines.count("START: uid pid=P from=127.0.0.1") == 6, lines
    assert lines.count("START: uid pid=P from=127.0.0.2") == 1, lines
    assert lines.count("EXIT: uid status=0 pid=P duration=D") == 7, lines
    assert not [x for x in lines if x.startswith(("NOID:", "FAIL:"))], lines
    # each USERID line follows its START
    starts = [i for i, x in enumerate(lines) if x.startswith("START:")]
    for k, i in enumerate(i for i, x in enumerate(lines) if x.startswith("USERID:")):
        assert i > starts[k], lines


def test_idonly(procs, tmp_path):
    """IDONLY: served only after a USERID reply; otherwise NOID with xinetd's reason and the
    connection closed without a server (portier: and without START/EXIT)."""
    out = _run(procs, tmp_path, "idonly")
    r = out["replies"]
    assert r["alice@127.0.0.1"] == "served\n" and r["bob@127.0.0.1"] == "served\n", r
    for k in ("error@127.0.0.1", "wrongport@127.0.0.1", "close@127.0.0.1", "alice@127.0.0.2"):
        assert r[k] == "", (k, r)
    lines = _norm(out["log"], "idonly")
    served = ["START: idonly pid=P from=127.0.0.1", "USERID: idonly UNIX:alice",
              "EXIT: idonly status=0 pid=P duration=D"]
    noids = ["NOID: idonly 127.0.0.1 bad response", "NOID: idonly 127.0.0.1 bad response",
             "NOID: idonly 127.0.0.1 error while receiving response",
             "NOID: idonly 127.0.0.2 no server"]
    assert [x for x in lines if x.startswith("NOID:")] == noids, lines
    assert [x for x in lines if x.startswith("USERID:")] == [
        "USERID: idonly UNIX:alice", "USERID: idonly UNIX,UTF-8:bob smith"], lines
    assert not [x for x in lines if x.startswith("FAIL:")], lines
    starts = [x for x in lines if x.startswith("START:")]
    if os.environ.get("PORTIER_DAEMON", "portierd") == "portierd":
        assert len(starts) == 2, f"START lines for refused clients: {lines}"
        assert lines[:3] == served, lines
    else:
        assert len(starts) == 6, lines     # xinetd forks first: START for every client


def test_userid_after_failure(procs, tmp_path):
    """log_on_failure = USERID: after a FAIL decided before any fork, the USERID line (when
    the identd answers); nothing more when it does not."""
    out = _run(procs, tmp_path, "failure")
    lines = _norm(out["log"], "limited")
    assert out["replies"]["refused"] == "" and out["replies"]["refused_error"] == ""
    assert lines == ["START: limited pid=P from=127.0.0.1",
                     "FAIL: limited service_limit from=127.0.0.1",
                     "USERID: limited OTHER: c:a:r:o:l",
                     "FAIL: limited service_limit from=127.0.0.1",
                     "EXIT: limited status=0 pid=P duration=D"], lines


def test_userid_after_time_refusal(procs, tmp_path):
    """log_on_failure = USERID after a refusal by access_times (decided in xinetd's parent:
    its lookup runs, observed; the note in src/daemon/ident.h that says otherwise is wrong)."""
    out = _run(procs, tmp_path, "failure_child_side")
    assert out["replies"]["tim"] == "", out["replies"]
    lines = [x for x in out["log"] if x.split()[1:2] == ["tim"]]
    assert lines == ["FAIL: tim time from=127.0.0.1", "USERID: tim UNIX,UTF-8:bob smith"], \
        out["log"]


if __name__ == "__main__":
    netns_main(sys.argv[1], sys.argv[2])
