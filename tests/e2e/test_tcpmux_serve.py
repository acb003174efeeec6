"""tcpmux (RFC 1078): a TCPMUX server gets the connection and sends its own "+", a TCPMUXPLUS
one is preceded by the daemon's "+Go", both run as their `user`; names are not case
sensitive; a service that is not of type TCPMUX is not reachable (xinetd's CVE-2012-0862) nor
is an unknown one; what the client sends after the name line reaches the server. Then
portier's own: help, malformed, overlong and control-character lines (escaped in the log),
the name-line timeout, and the target's admission."""

import re
import socket
import time

from builtin_util import add_builtin
from portierd_util import connect, need_portierd, read_all, server

NOBODY = "uid=65534(nobody)"


def add_mux(daemon, sid, srv, args=None, plus=False, **attrs):
    """A TCPMUX (or TCPMUXPLUS) service: no port of its own."""
    daemon.add(sid, srv, args, type=("TCPMUXPLUS" if plus else "TCPMUX") + " UNLISTED",
               user="nobody", **attrs)
    for key in ("port", "bind"):
        daemon.services[sid]["attrs"].pop(key)


def ask(port, data, shut=False, timeout=10):
    with connect(port) as s:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        try:
            return read_all(s, timeout=timeout)
        except ConnectionResetError:
            return b"<reset>"


def _setup(daemon, **mux_attrs):
    port = add_builtin(daemon, "tcpmux", sid="tcpmux", **mux_attrs)
    add_mux(daemon, "whoami", "/usr/bin/id", plus=True)
    add_mux(daemon, "hello", "/bin/echo", "+hello")
    add_mux(daemon, "cat", "/bin/cat", plus=True)
    daemon.add("plain", "/bin/echo", "plain")
    return port


def test_tcpmuxplus_ack_and_user(daemon):
    port = _setup(daemon)
    daemon.start()
    answer = ask(port, b"whoami\r\n").replace(b"\0", b"")      # xinetd sends "+Go\r\n\0"
    assert answer.startswith(b"+Go\r\n"), answer
    assert NOBODY.encode() in answer, answer           # its user, not root (CVE-2013-4342)


def test_tcpmux_server_sends_its_own_ack(daemon):
    port = _setup(daemon)
    daemon.start()
    assert ask(port, b"hello\r\n") == b"+hello\n"
    assert ask(port, b"HeLLo\r\n") == b"+hello\n"       # RFC 1078: names ignore case


def test_only_tcpmux_services_are_reachable(daemon):
    port = _setup(daemon)
    daemon.start()
    for name in (b"plain", b"tcpmux", b"nosuch"):
        answer = ask(port, name + b"\r\n").replace(b"\0", b"")
        assert answer == b"-Service name not found\r\n", (name, answer)


def test_bytes_after_the_line_reach_the_server(daemon):
    need_portierd("xinetd answers nothing when data follows the name line at once")
    port = _setup(daemon)
    daemon.start()
    answer = ask(port, b"cat\r\nsent with the name\n", shut=True).replace(b"\0", b"")
    assert answer == b"+Go\r\nsent with the name\n"


def test_start_and_exit_lines(daemon):
    need_portierd("xinetd logs nothing for the TCPMUX server it starts")
    port = _setup(daemon)
    daemon.start()
    assert ask(port, b"hello\r\n") == b"+hello\n"
    daemon.wait_log(r"EXIT: hello status=0 pid=[1-9]\d* duration=\d+\(sec\)")
    lines = daemon.log()
    assert lines[0] == "START: tcpmux pid=0 from=127.0.0.1"
    # (duration= counts wall-clock seconds: 1 when the connection spanned the turn of one)
    assert [x for x in lines
            if re.fullmatch(r"EXIT: tcpmux status=0 pid=0 duration=[01]\(sec\)", x)], lines
    assert [x for x in lines if x.startswith("START: hello pid=")]


def test_help_lists_the_tcpmux_services(daemon):
    need_portierd("xinetd answers help with -Service name not found")
    port = _setup(daemon)
    daemon.start()
    assert ask(port, b"help\r\n") == b"whoami\r\nhello\r\ncat\r\n"
    assert ask(port, b"HELP\n") == b"whoami\r\nhello\r\ncat\r\n"


def test_malformed_lines(daemon):
    need_portierd("portier's checks of the name line")
    port = _setup(daemon)
    daemon.start()
    assert ask(port, b"\r\n") == b"-Invalid service name\r\n"
    assert ask(port, b"hel lo\r\n") == b"-Invalid service name\r\n"
    assert ask(port, b"he\x1b[31mllo\r\n") == b"-Invalid service name\r\n"
    assert ask(port, b"caf\xc3\xa9\r\n") == b"-Invalid service name\r\n"
    answer = ask(port, b"x" * 5000 + b"\r\n")
    assert answer.startswith(b"-Service name too long\r\n") or answer == b"<reset>", answer
    assert ask(port, b"y" * 257 + b"\r\n").startswith(b"-Service name too long\r\n")
    # LF alone ends a line too
    assert ask(port, b"hello\n") == b"+hello\n"
    msgs = daemon.messages()
    bad = [m for m in msgs if "TCPMUX service name" in m]
    assert any(r"he\x1b[31mllo\x0d" in m for m in bad), bad
    assert any(r"caf\xc3\xa9" in m for m in bad), bad
    assert all("\x1b" not in m and "\r" not in m for m in msgs)
    overlong = [m for m in bad if "overlong" in m]
    assert overlong and all(len(m) < 2000 for m in overlong)


def test_the_name_line_times_out(daemon):
    need_portierd("portier's name-line timeout")
    port = _setup(daemon, idle_timeout="1")
    daemon.start()
    with connect(port) as s:
        s.sendall(b"hel")               # never finished
        t0 = time.monotonic()
        data = read_all(s, timeout=10)
        assert data == b"-Timeout reading the service name\r\n"
        assert time.monotonic() - t0 < 5
    daemon.wait_log(r"EXIT: tcpmux status=0 pid=0 duration=[0-2]\(sec\)")


def test_the_target_admission_applies(daemon):
    need_portierd("the FAIL line under the TCPMUX service's id")
    port = add_builtin(daemon, "tcpmux", sid="tcpmux")
    add_mux(daemon, "guarded", "/bin/echo", "+in", only_from="127.0.0.2")
    add_mux(daemon, "one", server("hold.sh"), instances="1")
    daemon.start()
    assert ask(port, b"guarded\r\n") in (b"", b"<reset>")
    daemon.wait_log(r"FAIL: guarded address from=127\.0\.0\.1")
    held = connect(port)
    held.sendall(b"one\r\n")
    assert held.recv(100).startswith(b"pid ")
    assert ask(port, b"one\r\n") in (b"", b"<reset>")
    daemon.wait_log(r"FAIL: one service_limit from=127\.0\.0\.1")
    held.close()


def test_tcpmux_connections_count_against_its_instances(daemon):
    need_portierd("in-process tcpmux connections")
    port = add_builtin(daemon, "tcpmux", sid="tcpmux", instances="1")
    add_mux(daemon, "hello", "/bin/echo", "+hello")
    daemon.start()
    pending = connect(port)            # reading its name line
    pending.sendall(b"hel")
    assert ask(port, b"hello\r\n") in (b"", b"<reset>")
    daemon.wait_log(r"FAIL: tcpmux service_limit from=127\.0\.0\.1")
    pending.sendall(b"lo\r\n")
    assert read_all(pending) == b"+hello\n"
    pending.close()
    daemon.wait_log(r"EXIT: tcpmux status=0 pid=0 .*")
    assert ask(port, b"hello\r\n") == b"+hello\n"      # the slot is free again


def test_tcpmux_services_are_not_counted_as_available(daemon):
    _setup(daemon)                      # tcpmux, plain, and three TCPMUX services
    daemon.start()
    daemon.wait_message("Started working: 2 available services")


def test_the_target_gets_its_banner(daemon, tmp_path):
    need_portierd("xinetd sends no banner for a TCPMUX service")
    port = add_builtin(daemon, "tcpmux", sid="tcpmux")
    banner = tmp_path / "banner.txt"
    banner.write_text("welcome to hello\n")
    add_mux(daemon, "hello", "/bin/echo", "+hello", banner=str(banner))
    daemon.start()
    assert ask(port, b"hello\r\n") == b"welcome to hello\n+hello\n"
