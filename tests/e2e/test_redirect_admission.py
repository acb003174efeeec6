"""redirect = host port: admission and accounting. The access rules refuse a client before
any connection to the backend is made; a pair counts against `instances` and `per_source`
until it ends; banners come before the backend's first byte; the TRAFFIC line counts the bytes
of each direction; a reload that removes the service ends its pairs, one that keeps it keeps
them, one whose new rules refuse a client ends that client's pair. The compatibility tests run
against xinetd too (PORTIER_DAEMON=xinetd)."""

import socket
import time

import pytest

from access_util import connect_from
from conftest import wait_for
from portierd_util import connect, need_portierd, read_all, read_line
from redirect_util import PID, PORTIERD, Backend, add_redirect

pytestmark = pytest.mark.timeout(120)

ALL = "PID HOST EXIT DURATION TRAFFIC"


@pytest.fixture
def backend():
    b = Backend("greet")
    yield b
    b.stop()


def _closed(s, timeout=10):
    """The proxy ended this client's connection (EOF or reset)."""
    s.settimeout(timeout)
    try:
        while s.recv(1000):
            pass
    except ConnectionResetError:
        pass
    return True


def test_access_refused_before_backend(daemon, backend):
    """only_from refuses 127.0.0.1: FAIL address, and the backend never sees a connection;
    127.0.0.2 is let through."""
    port = add_redirect(daemon, "acl", backend.port, only_from="127.0.0.2")
    daemon.start()
    s = connect_from(port, "127.0.0.1")
    assert read_all(s) == b""
    s.close()
    daemon.wait_log(r"FAIL: acl address from=127\.0\.0\.1")
    with connect_from(port, "127.0.0.2") as ok:
        assert read_line(ok) == "hello 127.0.0.1\n"
    backend.wait_accepted(1)
    assert backend.accepted == 1, "the refused client reached the backend"
    if PORTIERD:
        assert not [x for x in daemon.log() if x.startswith("START") and "127.0.0.1" in x]


def test_instances_limit(daemon, backend):
    """instances = 2: two pairs held open, a third client is refused (FAIL service_limit)
    without reaching the backend; once a pair ends, a new client is served."""
    port = add_redirect(daemon, "lim", backend.port, instances="2")
    daemon.start()
    a, b = connect(port), connect(port)
    assert read_line(a) == read_line(b) == "hello 127.0.0.1\n"
    backend.wait_accepted(2)
    with connect(port) as c:
        assert _closed(c)
    daemon.wait_log(r"FAIL: lim service_limit from=127\.0\.0\.1")
    assert backend.accepted == 2
    a.close()
    daemon.wait_log(rf"EXIT: lim status=0 pid={PID} .*")

    def served():
        with connect(port) as d:
            return read_line(d, timeout=2) == "hello 127.0.0.1\n"
    wait_for(served, what="a free slot after one pair ended")
    b.close()


def test_per_source(daemon, backend):
    need_portierd()
    port = add_redirect(daemon, "ps", backend.port, per_source="1")
    daemon.start()
    a = connect_from(port, "127.0.0.2")
    assert read_line(a) == "hello 127.0.0.1\n"
    with connect_from(port, "127.0.0.2") as again:
        assert _closed(again)
    daemon.wait_log(r"FAIL: ps per_source_limit from=127\.0\.0\.2")
    with connect_from(port, "127.0.0.3") as other:
        assert read_line(other) == "hello 127.0.0.1\n"
    a.close()
    assert backend.accepted == 2


def test_banners_before_backend_data(daemon, backend, tmp_path):
    """banner and banner_success come before the backend's greeting; a refused client gets
    banner and banner_fail and no greeting."""
    (tmp_path / "b").write_text("banner\n")
    (tmp_path / "ok").write_text("welcome\n")
    (tmp_path / "no").write_text("go away\n")
    port = add_redirect(daemon, "ban", backend.port, banner=str(tmp_path / "b"),
                        banner_success=str(tmp_path / "ok"), banner_fail=str(tmp_path / "no"),
                        only_from="127.0.0.2")
    daemon.start()
    with connect_from(port, "127.0.0.2") as s:
        assert read_line(s) == "banner\n"
        assert read_line(s) == "welcome\n"
        assert read_line(s) == "hello 127.0.0.1\n"
    with connect_from(port, "127.0.0.1") as s:
        assert read_all(s) == b"banner\ngo away\n"
    assert backend.accepted == 1


def test_traffic_line(daemon):
    """TRAFFIC: <id> in=<bytes from the client>(bytes) out=<bytes to the client>(bytes),
    written before EXIT (xinetd's order)."""
    b = Backend("echo")
    try:
        port = add_redirect(daemon, "tr", b.port, log_on_success=ALL)
        daemon.start()
        with connect(port) as s:
            s.sendall(b"0123456789" * 100)
            got = b""
            while len(got) < 1000:
                got += s.recv(1000)
            s.sendall(b"tail\n")
            assert read_line(s) == "tail\n"
        daemon.wait_log(rf"EXIT: tr status=0 pid={PID} .*")
        lines = daemon.log()
        assert lines[-2:-1] == ["TRAFFIC: tr in=1005(bytes) out=1005(bytes)"], lines
        assert lines[0].startswith("START: tr ")
    finally:
        b.stop()


def test_traffic_not_asked(daemon, backend):
    port = add_redirect(daemon, "notr", backend.port, log_on_success="PID HOST EXIT")
    daemon.start()
    with connect(port) as s:
        read_line(s)
    daemon.wait_log(rf"EXIT: notr status=0 pid={PID}")
    assert not [x for x in daemon.log() if x.startswith("TRAFFIC")]


def test_reload_removing_service_ends_pairs(daemon, backend):
    """A reload that removes the service ends its pairs (reset), with their EXIT lines; the
    backend sees its side end too."""
    need_portierd("xinetd kills the redirect child; the log differs")
    port = add_redirect(daemon, "gone", backend.port)
    keep = add_redirect(daemon, "kept", backend.port)
    daemon.start()
    s = connect(port)
    k = connect(keep)
    assert read_line(s) == read_line(k) == "hello 127.0.0.1\n"
    daemon.remove("gone")
    daemon.reload()
    assert _closed(s)
    s.close()
    daemon.wait_log(r"EXIT: gone status=0 pid=0 .*")
    k.sendall(b"still\n")
    assert read_line(k) == "still\n"
    k.close()


def test_reload_keeping_service_keeps_pairs(daemon, backend):
    """A reload that keeps the service (changed log flags) keeps its pairs running."""
    need_portierd()
    port = add_redirect(daemon, "same", backend.port)
    daemon.start()
    s = connect(port)
    assert read_line(s) == "hello 127.0.0.1\n"
    add_redirect(daemon, "same", backend.port, log_on_success=ALL)
    daemon.reload()
    s.sendall(b"after reload\n")
    assert read_line(s) == "after reload\n"
    s.close()
    daemon.wait_log(r"TRAFFIC: same in=13\(bytes\) out=29\(bytes\)")


def test_reload_new_rules_end_refused_pair(daemon, backend):
    """A reload whose new only_from refuses a running pair's client ends that pair only."""
    need_portierd()
    port = add_redirect(daemon, "rules", backend.port)
    daemon.start()
    a = connect_from(port, "127.0.0.2")
    b = connect_from(port, "127.0.0.3")
    assert read_line(a) == read_line(b) == "hello 127.0.0.1\n"
    add_redirect(daemon, "rules", backend.port, only_from="127.0.0.3")
    daemon.reload()
    assert _closed(a)
    b.sendall(b"kept\n")
    assert read_line(b) == "kept\n"
    a.close()
    b.close()


def test_not_killed_when_idle_by_default(daemon, backend):
    """A quiet pair stays (proxies carry long sessions): nothing ends it in 3 s."""
    need_portierd()
    port = add_redirect(daemon, "quiet", backend.port)
    daemon.start()
    with connect(port) as s:
        assert read_line(s) == "hello 127.0.0.1\n"
        s.settimeout(3)
        with pytest.raises(socket.timeout):
            s.recv(10)
        s.sendall(b"awake\n")
        assert read_line(s) == "awake\n"


def test_idle_timeout_when_configured(daemon, backend):
    """idle_timeout = 1: traffic keeps a pair alive; a second of silence ends it (EXIT)."""
    need_portierd("idle_timeout is portier's")
    port = add_redirect(daemon, "idle", backend.port, idle_timeout="1")
    daemon.start()
    with connect(port) as s:
        assert read_line(s) == "hello 127.0.0.1\n"
        for i in range(4):
            time.sleep(0.5)
            s.sendall(b"tick %d\n" % i)
            assert read_line(s) == "tick %d\n" % i
        t0 = time.monotonic()
        assert _closed(s)
        assert 0.5 < time.monotonic() - t0 < 5
    daemon.wait_log(r"EXIT: idle status=0 pid=0 duration=\d+\(sec\)")


def test_idle_timeout_from_defaults(daemon, backend):
    need_portierd("idle_timeout is portier's")
    daemon.defaults["idle_timeout"] = "1"
    port = add_redirect(daemon, "didle", backend.port)
    daemon.start()
    with connect(port) as s:
        assert read_line(s) == "hello 127.0.0.1\n"
        assert _closed(s)


def test_reload_new_target(daemon, backend):
    """A reload that points the service at another backend: the running pair stays with its
    backend, new connections go to the new one."""
    need_portierd()
    other = Backend("echo")
    try:
        port = add_redirect(daemon, "move", backend.port)
        daemon.start()
        old = connect(port)
        assert read_line(old) == "hello 127.0.0.1\n"
        add_redirect(daemon, "move", other.port)
        daemon.reload()
        with connect(port) as new:
            new.sendall(b"to the new one\n")
            assert read_line(new) == "to the new one\n"
        old.sendall(b"old pair\n")
        assert read_line(old) == "old pair\n"
        old.close()
        assert other.accepted == 1 and backend.accepted == 1
    finally:
        other.stop()


def test_reached_through_tcpmux(daemon, backend):
    """A TCPMUXPLUS service whose target is a redirect: tcpmux's "+Go", then the backend."""
    need_portierd("xinetd's tcpmux forks; portier hands the connection over in-process")
    from builtin_util import add_builtin
    mux = add_builtin(daemon, "tcpmux", sid="tcpmux")
    daemon.add("proxied", redirect=f"127.0.0.1 {backend.port}", type="TCPMUXPLUS UNLISTED")
    for key in ("port", "bind"):
        daemon.services["proxied"]["attrs"].pop(key)
    daemon.start()
    with connect(mux) as s:
        s.sendall(b"proxied\r\n")
        assert read_line(s) == "+Go\r\n"
        assert read_line(s) == "hello 127.0.0.1\n"
        s.sendall(b"via tcpmux\n")
        assert read_line(s) == "via tcpmux\n"
    daemon.wait_log(r"EXIT: proxied status=0 pid=0 .*")
