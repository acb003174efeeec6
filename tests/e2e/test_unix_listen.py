"""The file of an AF_UNIX listener (socket_path): created with socket_owner and socket_mode
(0600 by default, 0660 when socket_owner names a group); an old socket at the path replaced,
anything else there (a regular file, a directory, a symbolic link) refused and left alone; an
unchanged service keeps its socket across a reload (same inode, no gap), a removed one's file
is removed, but only while it is still the file the daemon made; a stop removes them; a
re-exec keeps them. portier-only."""

import os
import shutil
import socket
import stat

import pytest

from conftest import wait_for
from ctl_util import ctl  # noqa: F401 (fixture)
from portierd_util import Daemon, need_portierd
from unix_util import NOBODY, add_unix, exchange

NOGROUP = 65534


@pytest.fixture(autouse=True)
def _portierd_only():
    need_portierd("AF_UNIX listeners")


def _echo(daemon, sid, path, **attrs):
    return add_unix(daemon, sid, path, type="INTERNAL", _name="echo", **attrs)


def _stat(path):
    st = os.lstat(path)
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_ino


def test_owner_group_and_mode(daemon, sockdir):
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    p1 = _echo(daemon, "a", sockdir / "a.sock", socket_owner="nobody:nogroup",
               socket_mode="0640")
    p2 = _echo(daemon, "b", sockdir / "b.sock")
    p3 = _echo(daemon, "c", sockdir / "c.sock", socket_owner=":nogroup")
    daemon.start()
    assert _stat(p1)[:4] == (stat.S_IFSOCK, 0o640, NOBODY, NOGROUP)
    assert _stat(p2)[:4] == (stat.S_IFSOCK, 0o600, 0, 0), "the default: 0600, the daemon's"
    assert _stat(p3)[:4] == (stat.S_IFSOCK, 0o660, 0, NOGROUP), "a group named: 0660"
    assert exchange(p1, b"x\n") == "x\n"


@pytest.mark.parametrize("kind", ["file", "dir", "symlink"])
def test_not_a_socket_is_left_alone(daemon, sockdir, kind):
    path = sockdir / "taken"
    target = sockdir / "target"
    target.write_text("precious\n")
    if kind == "file":
        path.write_text("precious\n")
    elif kind == "dir":
        path.mkdir()
    else:
        path.symlink_to(target)
    before = _stat(path)
    _echo(daemon, "t", path)
    r = daemon.run("-n")
    assert r.rc != 0
    want = {"file": "a regular file", "dir": "a directory", "symlink": "a symbolic link"}[kind]
    assert f"socket_path '{path}' is {want}, not a socket" in r.err + r.out, r
    assert "portier.conf:" in r.err + r.out, "the error names the file and line"
    # the daemon: the service is not started, the others are
    p_ok = _echo(daemon, "ok", sockdir / "ok.sock")
    daemon.start("-stayalive")
    assert exchange(p_ok, b"fine\n") == "fine\n"
    assert _stat(path) == before
    assert target.read_text() == "precious\n"
    if kind == "file":
        assert path.read_text() == "precious\n"
    daemon.stop()
    assert _stat(path) == before
    assert not (sockdir / "ok.sock").exists()


def test_old_socket_replaced(daemon, sockdir):
    path = sockdir / "old.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))       # left behind, as by a crashed daemon
    old = _stat(path)
    _echo(daemon, "o", path)
    daemon.start()
    # made again: the daemon's mode (inode numbers are soon reused: not compared)
    assert _stat(path)[:2] == (stat.S_IFSOCK, 0o600) and old[1] != 0o600
    assert exchange(path, b"new\n") == "new\n"


def test_reload_keeps_removes_and_recreates(daemon, sockdir):
    keep = _echo(daemon, "keep", sockdir / "keep.sock")
    gone = _echo(daemon, "gone", sockdir / "gone.sock")
    mode = _echo(daemon, "mode", sockdir / "mode.sock")
    daemon.start()
    ino_keep = _stat(keep)[4]
    # a client waits in the queue across the reload: no gap for an unchanged service
    waiting = socket.socket(socket.AF_UNIX)
    waiting.settimeout(10)
    waiting.connect(str(keep))
    daemon.remove("gone")
    daemon.services["mode"]["attrs"]["socket_mode"] = "0606"
    daemon.reload()
    assert _stat(keep)[4] == ino_keep, "an unchanged service keeps its socket file"
    assert not gone.exists(), "a removed service's file is removed"
    assert _stat(mode)[1] == 0o606, "a changed mode: the socket is made again"
    waiting.sendall(b"queued\n")
    waiting.shutdown(socket.SHUT_WR)
    assert waiting.recv(100) == b"queued\n"
    waiting.close()


def test_removed_file_replaced_by_someone_else_is_not_removed(daemon, sockdir):
    path = _echo(daemon, "r", sockdir / "r.sock")
    daemon.start()
    os.unlink(path)
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))       # another program's socket now
    theirs = _stat(path)[4]
    daemon.remove("r")
    daemon.reload()
    assert path.exists() and _stat(path)[4] == theirs
    daemon.stop()
    assert path.exists() and _stat(path)[4] == theirs


def test_stop_removes_files(daemon, sockdir):
    paths = [_echo(daemon, f"s{i}", sockdir / f"s{i}.sock") for i in range(3)]
    daemon.start()
    assert all(p.exists() for p in paths)
    assert daemon.stop() == 0
    assert not any(p.exists() for p in paths)


def test_reexec_keeps_socket(ctl, sockdir):
    d = ctl.daemon
    path = _echo(d, "x", sockdir / "x.sock")
    ctl.start()
    ino = _stat(path)[4]
    assert ctl.run("reexec").rc == 0
    wait_for(lambda: "re-exec" in d.dlog_text().lower() or True)
    assert _stat(path)[4] == ino, "the file stays: the socket is inherited"
    assert exchange(path, b"after\n") == "after\n"
    # and the new image still removes it at stop
    assert d.stop() == 0
    assert not path.exists()


def test_portierctl_shows_path(ctl, sockdir):
    d = ctl.daemon
    path = _echo(d, "shown", sockdir / "shown.sock")
    ctl.start()
    for cmd in (["list"], ["sockets"], ["status", "shown"]):
        r = ctl.run(*cmd)
        assert r.rc == 0, r
        assert str(path) in r.out, (cmd, r.out)
        # no port after the path, no IP address in its place (a status header has clock
        # times with ":0" in them, so the whole output is not a test)
        assert f"{path}:" not in r.out and "0.0.0.0" not in r.out, (cmd, r.out)
    sock, = [s for s in ctl.json("sockets")["sockets"] if s["service"] == "shown"]
    assert sock["address"] == str(path) and sock["protocol"] == "unix", sock
    # and from the files, with no daemon running; check validates the attributes
    d.stop()
    r = ctl.run("-f", d.conf, "list")
    assert str(path) in r.out, r.out
    assert ctl.run("check", "-f", d.conf).rc == 0
    d.services["shown"]["attrs"]["port"] = "7"
    d.write()
    r = ctl.run("check", "-f", d.conf)
    assert r.rc != 0 and "port cannot be used with socket_path" in r.out + r.err, r


def test_unprivileged_daemon(daemon, procs, sockdir):
    """portierd as uid 65534: its sockets are its own; a socket_owner it cannot give (chown
    needs root) leaves that service not listening, with the reason, rather than a file with
    the wrong owner."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run the daemon as uid 65534")
    from test_portierd_nonroot import PREFIX
    for sub in ("d", "ctl", "s"):
        (sockdir / sub).mkdir()
        os.chown(sockdir / sub, NOBODY, NOGROUP)
    os.chmod(sockdir, 0o755)
    d = Daemon(daemon.kind, daemon.bin, procs, sockdir / "d", sockdir / "ctl")
    os.chmod(d.syslog.address, 0o666)
    try:
        mine = _echo(d, "mine", sockdir / "s" / "mine.sock")
        _echo(d, "root", sockdir / "s" / "root.sock", socket_owner="root")
        d.start("-stayalive", prefix=PREFIX)
        assert _stat(mine)[:4] == (stat.S_IFSOCK, 0o600, NOBODY, NOGROUP)
        msg = d.wait_message("cannot set the owner and mode of unix socket")
        assert "Operation not permitted" in msg and "portier.conf:" in msg, msg
        assert not (sockdir / "s" / "root.sock").exists()
        assert d.stop() == 0
        assert not mine.exists()
    finally:
        d.teardown()
