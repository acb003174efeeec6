"""Banners: `banner` goes to every client (refused ones included), then `banner_success` to
admitted ones before the server writes, or `banner_fail` to refused ones (xinetd's order).
Compatibility tests (xinetd too)."""

from conftest import fetch
from portierd_util import connect, read_all, read_line, server


def test_banners(daemon, tmp_path):
    always = tmp_path / "banner"
    ok = tmp_path / "banner_success"
    ko = tmp_path / "banner_fail"
    always.write_bytes(b"ALWAYS\r\n")
    ok.write_bytes(b"WELCOME\n")
    ko.write_bytes(b"GO AWAY\n")
    port = daemon.add("ban", server("hold.sh"), instances="1", banner=str(always),
                      banner_success=str(ok), banner_fail=str(ko))
    plain = daemon.add("plain", "/bin/echo", "x", banner_success=str(ok))
    daemon.start()
    assert fetch(plain) == b"WELCOME\nx\n"
    s = connect(port)
    head = [read_line(s) for _ in range(3)]
    assert head[:2] == ["ALWAYS\r\n", "WELCOME\n"] and head[2].startswith("pid "), head
    refused = connect(port)
    assert read_all(refused, timeout=5) == b"ALWAYS\r\nGO AWAY\n"
    refused.close()
    s.close()
    daemon.wait_log(r"FAIL: ban service_limit from=127\.0\.0\.1")
