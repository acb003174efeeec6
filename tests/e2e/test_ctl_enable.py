"""portierctl enable/disable: the chkconfig way. One line of one file changes (the rest stays
byte for byte), the file is replaced atomically with its mode and owner, a running daemon is
reloaded, a stopped one is not needed; the defaults' enabled/disabled lists are edited when they
decide; duplicate definitions and unwritable files are clear errors."""

import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import port_refuses, wait_for
from ctl_util import ctl  # noqa: F401 (fixture)
from portierd_util import listening

SERVICE = """# the echo service, hand-written
service hello
{{
\t# not in /etc/services
\ttype        = UNLISTED
\tsocket_type = stream
\tprotocol    = tcp
\twait        = no
\tuser        = root
\tbind        = 127.0.0.1
\tport        = {port}
\tserver      = /bin/echo
\tserver_args = hi
{disable}}}
"""


def _main(ctl, extra_defaults=""):
    d = ctl.daemon
    d.extra_text = f"includedir {d.dir / 'conf.d'}\n"
    d.defaults.update({k: v for k, v in (line.split(" = ") for line in extra_defaults.split(
        "\n") if line)})
    (d.dir / "conf.d").mkdir(exist_ok=True)
    d.write()


def _service_file(ctl, port, disable="", name="hello"):
    path = ctl.daemon.dir / "conf.d" / name
    path.write_text(SERVICE.format(port=port, disable=disable))
    return path


def test_disable_enable_round_trip_byte_identical(ctl):
    from conftest import free_port
    port = free_port()
    _main(ctl)
    path = _service_file(ctl, port, disable="\tdisable     = no\n\n")
    os.chmod(path, 0o640)
    original = path.read_bytes()
    ctl.start()
    assert listening(port)
    ino = os.stat(path).st_ino

    r = ctl.ok("disable", "hello")
    assert "disable = yes" in r.out and "reloaded" in r.out
    after = path.read_bytes()
    assert after == original.replace(b"disable     = no\n", b"disable     = yes\n"), after
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.stat(path).st_ino != ino          # replaced, not rewritten in place
    wait_for(lambda: not listening(port), what="the disabled service to stop listening")
    assert ctl.json("list")["services"][0]["enabled"] is False

    r = ctl.ok("enable", "hello")
    assert path.read_bytes() == original
    wait_for(lambda: listening(port), what="the enabled service to listen again")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    # nothing to do: no change, exit 0
    r = ctl.ok("enable", "hello")
    assert "already on" in r.out and path.read_bytes() == original
    assert not list(path.parent.glob(".hello.portierctl-*"))


def test_disable_inserts_one_line_without_daemon(ctl):
    from conftest import free_port
    port = free_port()
    _main(ctl)
    path = _service_file(ctl, port)
    original = path.read_text()
    r = ctl.ok("-f", ctl.daemon.conf, "disable", "hello")
    assert "not running" in r.out
    lines = path.read_text().splitlines(keepends=True)
    brace = lines.index("{\n")
    assert lines[brace + 1] == "\tdisable = yes\n"
    assert "".join(lines[:brace + 1] + lines[brace + 2:]) == original
    # the daemon started afterwards does not serve it
    ctl.start("-stayalive")
    assert port_refuses(port)
    assert ctl.json("status", "hello", rc=3)["services"][0]["config_state"] == "disabled"


def test_enabled_list_of_defaults(ctl):
    from conftest import free_port
    port = free_port()
    _main(ctl, "enabled = other\n")
    path = _service_file(ctl, port)
    svc_bytes = path.read_bytes()
    main_before = ctl.daemon.conf.read_text()
    ctl.start("-stayalive")
    assert port_refuses(port)
    r = ctl.ok("enable", "hello")
    assert "'enabled' list of defaults" in r.out
    assert path.read_bytes() == svc_bytes        # the service's own file is not what decides
    main_after = ctl.daemon.conf.read_text()
    assert main_after == main_before.replace("\tenabled = other\n", "\tenabled = other hello\n")
    wait_for(lambda: listening(port), what="the service to listen")


def test_disabled_list_of_defaults(ctl):
    from conftest import free_port
    port = free_port()
    _main(ctl, "disabled = hello\n")
    path = _service_file(ctl, port)
    main_before = ctl.daemon.conf.read_text()
    ctl.start("-stayalive")
    r = ctl.ok("disable", "hello")
    assert "already off" in r.out and "'disabled' list" in r.out
    r = ctl.ok("enable", "hello")
    assert "'disabled' list of defaults" in r.out
    assert ctl.daemon.conf.read_text() == main_before.replace("\tdisabled = hello\n", "")
    assert "disable" not in path.read_text()
    wait_for(lambda: listening(port), what="the service to listen")


def test_duplicate_definition_is_an_error(ctl):
    from conftest import free_port
    _main(ctl)
    a = _service_file(ctl, free_port(), name="a")
    b = _service_file(ctl, free_port(), name="b")
    before = (a.read_bytes(), b.read_bytes())
    r = ctl.run("-f", ctl.daemon.conf, "disable", "hello")
    assert r.rc == 1 and "defined in 2 places" in r.err
    assert f"{a}:2" in r.err and f"{b}:2" in r.err, r.err
    assert (a.read_bytes(), b.read_bytes()) == before


def test_unknown_service(ctl):
    _main(ctl)
    r = ctl.run("-f", ctl.daemon.conf, "disable", "nosuch")
    assert r.rc == 5 and "no service 'nosuch'" in r.err


def test_not_writable(ctl):
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run portierctl as nobody")
    from conftest import free_port
    import tempfile
    top = Path(tempfile.mkdtemp(prefix="ptr-ro-", dir="/tmp"))
    try:
        # nobody can read everything on the way, and write nothing
        os.chmod(top, 0o755)
        (top / "conf.d").mkdir(mode=0o755)
        main = top / "portier.conf"
        main.write_text(f"includedir {top / 'conf.d'}\n")
        path = top / "conf.d" / "hello"
        path.write_text(SERVICE.format(port=free_port(), disable=""))
        before = path.read_bytes()
        r = ctl.run("-f", main, "disable", "hello",
                    prefix=["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        assert r.rc == 1, r
        assert f"cannot change '{path}'" in r.err and "not writable" in r.err, r.err
        assert path.read_bytes() == before
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_inetd_conf_line_commented_and_uncommented(ctl, tmp_path):
    from conftest import free_port
    _main(ctl)
    inetd = tmp_path / "inetd.conf"
    port = free_port()
    text = ("# inetd.conf\n"
            f"127.0.0.1:{port} stream tcp nowait root /bin/echo echo hi\n"
            "# the end\n")
    inetd.write_text(text)
    r = ctl.ok("-f", ctl.daemon.conf, "--inetd-conf", inetd, "disable", str(port))
    assert inetd.read_text() == text.replace(f"127.0.0.1:{port} stream", f"#127.0.0.1:{port} "
                                             "stream"), r
    r = ctl.ok("-f", ctl.daemon.conf, "--inetd-conf", inetd, "enable", str(port))
    assert inetd.read_text() == text, r


def test_owner_kept(ctl):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file another owner")
    from conftest import free_port
    import pwd
    _main(ctl)
    path = _service_file(ctl, free_port())
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    os.chmod(path, 0o604)
    ctl.ok("-f", ctl.daemon.conf, "disable", "hello")
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (nobody.pw_uid, nobody.pw_gid,
                                                                0o604)
    assert "disable = yes" in path.read_text()
