"""valgrind's leak check over a short portierd run: start, a few connections of each kind
(exec'd, built-ins over TCP and UDP, tcpmux, a redirect, refused, reset), a reload that changes, adds and
removes services, more connections, SIGTERM. Any memory error or definitely/indirectly lost
block fails the run (--error-exitcode). Skipped without valgrind (CI machines have it) and
for a sanitizer build (the two do not mix). Bounded to about a minute."""

import os
import re
import shutil
import signal

import pytest

from builtin_util import add_builtin
from conftest import try_fetch, wait_for
from portierd_util import connect, need_portierd, read_line, udp_ask
from stress_util import SANITIZED, linger_reset

VALGRIND = shutil.which("valgrind")
ERROR_EXIT = 97
pytestmark = [
    pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed"),
    pytest.mark.skipif(SANITIZED, reason="valgrind does not run a sanitizer build"),
    pytest.mark.timeout(150),
]


def a_few_of_each(ports, n=3):
    for i in range(n):
        assert try_fetch(ports["exec"], timeout=20) == b"hello\n"
        with connect(ports["echo"], timeout=20) as s:
            s.sendall(b"v%d\n" % i)
            assert read_line(s, timeout=20) == f"v{i}\n"
        assert try_fetch(ports["daytime"], timeout=20).endswith(b"\n")
        assert udp_ask(ports["udp"], b"u%d" % i, timeout=20) == b"u%d" % i
        assert try_fetch(ports["refused"], timeout=20) == b""
        with connect(ports["tcpmux"], timeout=20) as s:
            s.sendall(b"muxed\r\n")
            assert read_line(s, timeout=20) == "muxed\n"
        with connect(ports["redirect"], timeout=20) as s:
            s.sendall(b"r%d\n" % i)
            assert read_line(s, timeout=20) == f"r{i}\n"
        for port in (ports["echo"], ports["redirect"]):
            s = connect(port, timeout=20)
            s.sendall(b"x" * 3000)
            linger_reset(s)
            s.close()


def test_valgrind_leak_check(daemon, procs):
    need_portierd()
    d = daemon
    ports = {
        "exec": d.add("ex", "/bin/echo", "hello"),
        "echo": add_builtin(d, "echo"),
        "daytime": add_builtin(d, "daytime"),
        "udp": add_builtin(d, "echo", proto="udp"),
        "refused": d.add("no", "/bin/echo", "never", only_from="127.0.0.2"),
        "tcpmux": add_builtin(d, "tcpmux"),
    }
    d.add("muxed", "/bin/echo", "muxed", type="TCPMUX UNLISTED")
    for key in ("port", "bind"):
        d.services["muxed"]["attrs"].pop(key)
    ports["redirect"] = d.add("rd", redirect=f"127.0.0.1 {ports['echo']}")
    d.add("gone", "/bin/echo", "gone")
    d.write()
    vlog = d.dir / "valgrind.log"
    p, out, err = procs.spawn([VALGRIND, "--leak-check=full",
                               "--errors-for-leak-kinds=definite,indirect",
                               "--show-leak-kinds=definite,indirect",
                               f"--error-exitcode={ERROR_EXIT}", "--child-silent-after-fork=yes",
                               f"--log-file={vlog}", *d.argv("-dontfork")])
    wait_for(lambda: "Started working" in d.dlog_text() or p.poll() is not None, timeout=60,
             what="portierd under valgrind to start")
    assert p.poll() is None, f"portierd under valgrind ended: {d.dlog_text()}"
    d.pid = p.pid
    a_few_of_each(ports)
    # a reload: a changed, a removed and a new service
    d.add("ex", "/bin/echo", "hello", server_args="hello", instances="5")
    d.remove("gone")
    d.add("new", "/bin/echo", "new")
    d.reload()
    assert try_fetch(d.services["new"]["port"], timeout=20) == b"new\n"
    a_few_of_each(ports)
    os.kill(p.pid, signal.SIGTERM)
    rc = p.wait(timeout=60)
    report = vlog.read_text(errors="replace") if vlog.exists() else ""
    assert rc == 0, f"portierd under valgrind exited {rc}:\n{report[-6000:]}"
    assert "ERROR SUMMARY: 0 errors" in report, report[-6000:]
    assert not re.search(r"definitely lost: [1-9]|indirectly lost: [1-9]|Invalid (read|write)",
                         report), report[-6000:]
