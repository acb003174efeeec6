"""Admission of unix-socket clients by their SO_PEERCRED: uid:/gid: entries of only_from and
no_access (refused with xinetd's FAIL reason `address`, so fail2ban-style counters keep
counting), per_source counted per uid, and the rest of the pipeline (instances) as for TCP.
Clients of another user are children that setuid(65534) before they connect: run as root
(skipped otherwise)."""

import os
import re

import pytest

from portierd_util import need_portierd, read_line, server
from unix_util import CLOSED, NOBODY, add_unix, as_user, connect, exchange, need_root

PY = "/usr/bin/python3"


@pytest.fixture(autouse=True)
def _portierd_only():
    need_portierd("AF_UNIX listeners")


def _echo(daemon, sid, path, **attrs):
    return add_unix(daemon, sid, path, type="INTERNAL", _name="echo", socket_mode="0666",
                    **attrs)


def test_only_from_uid(daemon, sockdir):
    need_root("clients of another uid", sockdir)
    path = _echo(daemon, "e", sockdir / "e.sock", only_from=f"uid:nobody")
    daemon.start()
    assert exchange(path, b"root?\n") in CLOSED, "root is not in only_from"
    got, child = as_user(NOBODY, NOBODY, lambda: exchange(path, b"nobody\n"))
    assert got == "nobody\n"
    daemon.wait_log(rf"FAIL: e address from=uid:0,gid:0,pid:{os.getpid()}")
    daemon.wait_log(rf"START: e pid=0 from=uid:{NOBODY},gid:{NOBODY},pid:{child}")


def test_no_access_gid_and_uid_more_specific(daemon, sockdir):
    """no_access = gid:nogroup refuses the group; only_from = uid:nobody, one user, is more
    specific than a group and lets that user in (the rule of access.h)."""
    need_root("clients of another uid", sockdir)
    p1 = _echo(daemon, "g", sockdir / "g.sock", no_access="gid:nogroup")
    p2 = _echo(daemon, "h", sockdir / "h.sock", no_access="gid:nogroup",
               only_from="uid:nobody uid:root")
    daemon.start()
    assert exchange(p1, b"root\n") == "root\n"
    got, child = as_user(NOBODY, NOBODY, lambda: exchange(p1, b"nobody\n"))
    assert got in CLOSED
    daemon.wait_log(rf"FAIL: g address from=uid:{NOBODY},gid:{NOBODY},pid:{child}")
    got, child = as_user(NOBODY, NOBODY, lambda: exchange(p2, b"nobody\n"))
    assert got == "nobody\n"
    # a user of another group, not in only_from: refused
    got, child = as_user(1234, 1234, lambda: exchange(p2, b"x\n"))
    assert got in CLOSED
    daemon.wait_log(rf"FAIL: h address from=uid:1234,gid:1234,pid:{child}")


def test_file_mode_keeps_other_users_out(daemon, sockdir):
    """The default mode, 0600 owned by root: another user cannot even connect."""
    need_root("clients of another uid", sockdir)
    path = add_unix(daemon, "m", sockdir / "m.sock", type="INTERNAL", _name="echo")
    daemon.start()
    got, _ = as_user(NOBODY, NOBODY, lambda: exchange(path, b"x\n"))
    assert got == "refused: PermissionError"
    assert exchange(path, b"root\n") == "root\n"


def test_per_source_counts_per_uid(daemon, sockdir):
    need_root("clients of another uid", sockdir)
    path = add_unix(daemon, "p", sockdir / "p.sock", "/bin/sh", server("hold.sh"),
                    per_source="1", socket_mode="0666")
    daemon.start()
    held = connect(path)
    try:
        assert re.fullmatch(r"pid \d+\n", read_line(held))
        # the same uid again: over its per_source
        assert exchange(path) in CLOSED
        daemon.wait_log(rf"FAIL: p per_source_limit from=uid:0,gid:0,pid:{os.getpid()}")
        # another uid has a slot of its own
        got, _ = as_user(NOBODY, NOBODY, lambda: read_line(connect(path)))
        assert re.fullmatch(r"pid \d+\n", got), got
    finally:
        held.close()


def test_ip_rules_refused_on_unix_service(daemon, sockdir):
    _echo(daemon, "ip", sockdir / "ip.sock", only_from="127.0.0.1")
    r = daemon.run("-n")
    assert r.rc != 0
    text = r.err + r.out
    assert re.search(r"portier\.conf:\d+: service 'ip': only_from: '127\.0\.0\.1' is an "
                     r"address, but a unix service", text), text


def test_defaults_ip_rules_do_not_apply(daemon, sockdir):
    """only_from = 127.0.0.1 in defaults restricts the IP services, not the unix ones."""
    daemon.defaults["only_from"] = "127.0.0.1"
    path = _echo(daemon, "d", sockdir / "d.sock")
    daemon.start()
    assert exchange(path, b"still served\n") == "still served\n"


def test_reload_ends_servers_of_refused_uid(daemon, sockdir):
    """As for addresses (xinetd's reload rule): a running server whose client the new rules
    refuse is ended; the servers of clients still allowed go on."""
    need_root("clients of another uid", sockdir)
    path = add_unix(daemon, "k", sockdir / "k.sock", "/bin/sh", server("hold.sh"),
                    socket_mode="0666")
    daemon.start()
    held = connect(path)
    try:
        pid = int(read_line(held).split()[1])
        daemon.services["k"]["attrs"]["only_from"] = "uid:nobody"
        daemon.reload()
        daemon.wait_log(rf"EXIT: k signal=15 pid={pid} duration=\d+\(sec\)")
    finally:
        held.close()
    daemon.services["k"]["attrs"]["only_from"] = "uid:root"
    daemon.reload()
    held = connect(path)
    try:
        pid = int(read_line(held).split()[1])
        daemon.services["k"]["attrs"]["only_from"] = "uid:root gid:nogroup"
        daemon.reload()
        held.sendall(b"still here\n")
        assert read_line(held) == "still here\n"
    finally:
        held.close()
    daemon.wait_log(rf"EXIT: k status=0 pid={pid} duration=\d+\(sec\)")


def test_gid_rules_see_supplementary_groups(daemon, sockdir):
    """gid: entries match a supplementary group too (SO_PEERGROUPS), not only the effective
    gid: a no_access group cannot be escaped by switching the primary group."""
    need_root("clients with other groups", sockdir)
    allow = _echo(daemon, "ga", sockdir / "ga.sock", only_from="gid:4242")
    deny = _echo(daemon, "gd", sockdir / "gd.sock", no_access="gid:4242")
    daemon.start()
    got, _ = as_user(1000, 1000, lambda: exchange(allow, b"member\n"), groups=[4242])
    assert got == "member\n"
    got, child = as_user(1000, 1000, lambda: exchange(allow, b"outsider\n"))
    assert got in CLOSED
    daemon.wait_log(rf"FAIL: ga address from=uid:1000,gid:1000,pid:{child}")
    got, child = as_user(1000, 1000, lambda: exchange(deny, b"member\n"), groups=[4242])
    assert got in CLOSED
    daemon.wait_log(rf"FAIL: gd address from=uid:1000,gid:1000,pid:{child}")
    got, _ = as_user(1000, 1000, lambda: exchange(deny, b"outsider\n"), groups=[77])
    assert got == "outsider\n"


def test_datagram_rules(daemon, sockdir):
    """A datagram's sender is admitted by the credentials the kernel attached to it; it brings
    no supplementary groups, so a gid: entry in no_access refuses every datagram (fail
    closed)."""
    need_root("clients of another uid", sockdir)
    ok = add_unix(daemon, "du", sockdir / "du.sock", PY, f"-S {server('udp_upper.py')} 0.3",
                  socket_type="dgram", wait="yes", only_from="uid:nobody", socket_mode="0666")
    closed = add_unix(daemon, "dg", sockdir / "dg.sock", PY,
                      f"-S {server('udp_upper.py')} 0.3", socket_type="dgram", wait="yes",
                      no_access="gid:4242", socket_mode="0666")
    daemon.start()

    def send(path, timeout=1):
        import socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
            c.bind("")          # an autobound abstract name to be answered at
            c.settimeout(timeout)
            c.sendto(b"hi", str(path))
            try:
                return c.recv(100).decode()
            except socket.timeout:
                return "no answer"

    assert send(ok) == "no answer"
    daemon.wait_log(rf"FAIL: du address from=uid:0,gid:0,pid:{os.getpid()}")
    got, child = as_user(NOBODY, NOBODY, lambda: send(ok, timeout=10))
    assert got.endswith(" - HI"), got
    daemon.wait_log(rf"START: du pid=\d+ from=uid:{NOBODY},gid:{NOBODY},pid:{child}")
    assert send(closed) == "no answer"
    daemon.wait_log(rf"FAIL: dg address from=uid:0,gid:0,pid:{os.getpid()}")
