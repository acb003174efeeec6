"""What ships with portierd: the LSB init script driving a real daemon, `make install
DESTDIR=...`, the example configuration, the systemd unit and the fail2ban filter (checked with
the real fail2ban-regex against FAIL lines a real portierd sent to syslog)."""

import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import fetch, pid_alive, port_refuses, try_fetch, wait_for
from portierd_util import need_portierd

ROOT = Path(__file__).resolve().parents[2]
INIT = ROOT / "contrib" / "init.d" / "portierd"


def _init(daemon, action, **env):
    """Run the init script with the test daemon's program, configuration and pid file."""
    argv = daemon.argv()
    e = dict(os.environ, PORTIERD=str(argv[0]), PORTIERD_CONFIG=str(daemon.conf),
             PORTIERD_PIDFILE=str(daemon.pidfile),
             PORTIERD_OPTS=" ".join(str(a) for a in argv[5:]), STOP_TIMEOUT="10")
    e.update(env)
    r = subprocess.run(["/bin/sh", str(INIT), action], env=e, capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_init_script_headers():
    text = INIT.read_text()
    assert re.search(r"^# chkconfig: 345 \d\d \d\d$", text, re.M)
    block = text[text.index("### BEGIN INIT INFO"):text.index("### END INIT INFO")]
    for key in ("Provides: ", "Required-Start:", "Required-Stop:", "Default-Start:",
                "Default-Stop:", "Short-Description:"):
        assert f"# {key}" in block, key
    assert os.access(INIT, os.X_OK)


def test_init_script_lifecycle(daemon):
    need_portierd("the init script starts portierd")
    port = daemon.add("hi", "/bin/echo", "hi")
    daemon.write()
    assert _init(daemon, "status")[0] == 3
    assert _init(daemon, "reload")[0] == 7         # not running
    rc, out = _init(daemon, "start")
    assert rc == 0, out
    pid = int(daemon.pidfile.read_text().split()[0])
    daemon.pid = daemon.procs.adopt(pid)
    assert fetch(port) == b"hi\n"
    rc, out = _init(daemon, "start")
    assert rc == 0 and f"already running (pid {pid})" in out, out
    rc, out = _init(daemon, "status")
    assert rc == 0 and str(pid) in out, out

    added = daemon.add("ho", "/bin/echo", "ho")
    daemon.write()
    rc, out = _init(daemon, "reload")
    assert rc == 0, out
    wait_for(lambda: try_fetch(added) == b"ho\n", what="the reloaded service")

    daemon.write(daemon.text().replace("server", "sever", 1))     # broken: refused, no HUP
    rc, out = _init(daemon, "reload")
    assert rc == 6, out
    assert fetch(port) == b"hi\n"
    daemon.write()

    rc, out = _init(daemon, "restart")
    assert rc == 0, out
    new = int(daemon.pidfile.read_text().split()[0])
    assert new != pid and not pid_alive(pid)
    daemon.pid = daemon.procs.adopt(new)
    assert fetch(port) == b"hi\n"

    rc, out = _init(daemon, "stop")
    assert rc == 0, out
    assert not pid_alive(new) and not daemon.pidfile.exists()
    assert port_refuses(port)
    assert _init(daemon, "stop")[0] == 0
    assert _init(daemon, "status")[0] == 3
    assert _init(daemon, "bogus")[0] == 2


def test_init_script_dead_with_pidfile(daemon):
    need_portierd("the init script starts portierd")
    daemon.add("hi", "/bin/echo", "hi")
    daemon.write()
    assert _init(daemon, "start")[0] == 0
    pid = int(daemon.pidfile.read_text().split()[0])
    daemon.pid = daemon.procs.adopt(pid)
    os.kill(pid, signal.SIGKILL)                # no chance to remove its pid file
    daemon.procs.wait_exit(pid)
    rc, out = _init(daemon, "status")
    assert rc == 1 and "dead" in out, out
    rc, out = _init(daemon, "start")            # a stale pid file is taken over
    assert rc == 0, out
    daemon.pid = daemon.procs.adopt(int(daemon.pidfile.read_text().split()[0]))
    assert _init(daemon, "stop")[0] == 0


def test_init_script_missing_program_or_config(daemon, tmp_path):
    need_portierd()
    assert _init(daemon, "start", PORTIERD=str(tmp_path / "nope"))[0] == 5
    assert _init(daemon, "start", PORTIERD_CONFIG=str(tmp_path / "nope.conf"))[0] == 6


def _install(build, dest):
    mode = ["SANITIZE=1"] if Path(build).name == "sanitize" else []
    return subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"DESTDIR={dest}",
                           f"B={build}", "PREFIX=/usr", *mode],
                          capture_output=True, text=True, timeout=600)


def test_make_install_destdir(build_dir, tmp_path):
    dest = tmp_path / "root"
    r = _install(build_dir, dest)
    assert r.returncode == 0, r.stderr[-2000:]
    for f in ("usr/sbin/portierd", "usr/sbin/portierctl", "usr/share/man/man8/portierctl.8",
              "usr/lib/libportier.a", "usr/lib/libportier.so.0",
              "usr/lib/pkgconfig/libportier.pc", "usr/include/portier/daemon.h",
              "usr/share/man/man8/portierd.8", "usr/share/man/man5/portier.conf.5",
              "usr/share/man/man3/libportier.3", "usr/lib/systemd/system/portierd.service",
              "usr/share/doc/portier/contrib/init.d/portierd",
              "usr/share/doc/portier/contrib/fail2ban/filter.d/portierd.conf",
              "etc/portier.conf", "etc/portier.d/echo", "etc/portier.d/tftp"):
        assert (dest / f).is_file(), f
    assert os.access(dest / "usr/sbin/portierd", os.X_OK)
    assert os.path.islink(dest / "usr/lib/libportier.so")
    pc = (dest / "usr/lib/pkgconfig/libportier.pc").read_text()
    assert "libdir=/usr/lib" in pc and "-lportier" in pc
    unit = (dest / "usr/lib/systemd/system/portierd.service").read_text()
    assert "Type=notify" in unit and "ExecReload=" in unit and "@" not in unit
    assert "ExecStart=/usr/sbin/portierd -dontfork -f /etc/portier.conf" in unit

    # The configuration is the administrator's: a second install leaves it alone.
    conf = dest / "etc/portier.conf"
    conf.write_text(conf.read_text() + "# mine\n")
    r = _install(build_dir, dest)
    assert r.returncode == 0, r.stderr[-2000:]
    assert conf.read_text().endswith("# mine\n")


def test_example_configuration_is_valid(portierd_bin, tmp_path):
    """contrib/portier.conf with its portier.d: valid, every example service disabled."""
    d = tmp_path / "portier.d"
    shutil.copytree(ROOT / "contrib" / "portier.d", d)
    conf = tmp_path / "portier.conf"
    conf.write_text((ROOT / "contrib" / "portier.conf").read_text()
                    .replace("/etc/portier.d", str(d)))
    r = subprocess.run([portierd_bin, "-n", "-f", str(conf)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([portierd_bin, "--dump-config", "-f", str(conf)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    blocks = r.stdout.split("\nservice ")[1:]
    assert len(blocks) == 5 and all("disable" in b for b in blocks), r.stdout


@pytest.mark.skipif(not shutil.which("fail2ban-regex"), reason="fail2ban-regex not installed "
                    "(scripts/deps.sh check installs the fail2ban package)")
def test_fail2ban_filter_matches_fail_lines(daemon, tmp_path):
    """FAIL lines that portierd really sent to syslog, as a syslog daemon writes them to a
    file, run through fail2ban-regex with contrib's filter: address refusals count, other
    refusals and START lines do not."""
    need_portierd("the filter reads portierd's syslog identity")
    refused = daemon.add("deny", "/bin/echo", "x", only_from="192.0.2.1",
                         log_type="SYSLOG daemon info")
    limited = daemon.add("lim", "/bin/sleep", "3", instances="1",
                         log_type="SYSLOG daemon info")
    # a unix service's client is a uid: its FAIL line must not look like an address to ban
    from unix_util import add_unix, exchange
    ux = add_unix(daemon, "ux", daemon.syslog.address.rsplit("/", 1)[0] + "/ux.sock",
                  type="INTERNAL", _name="echo", only_from="uid:65534",
                  log_type="SYSLOG daemon info")
    daemon.start()
    try_fetch(refused)
    daemon.syslog.wait_text("FAIL: deny address")
    exchange(ux, b"x")
    daemon.syslog.wait_text("FAIL: ux address from=uid:")
    held = socket.create_connection(("127.0.0.1", limited))
    daemon.syslog.wait_text("START: lim")
    try_fetch(limited)                          # service_limit: says nothing of the client
    daemon.syslog.wait_text("FAIL: lim service_limit")
    held.close()
    lines = []
    for text in daemon.syslog.texts():
        # the datagram: "<pri>Mmm dd hh:mm:ss portierd[pid]: msg"; a file: with the host name
        m = re.fullmatch(r"<\d+>(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+\[\d+\]: .*)", text)
        if m:
            lines.append(f"{m.group(1)} testhost {m.group(2)}")
    log = tmp_path / "daemon.log"
    log.write_text("\n".join(lines) + "\n")
    fdir = tmp_path / "filter.d"
    fdir.mkdir()
    shutil.copy(ROOT / "contrib/fail2ban/filter.d/portierd.conf", fdir)
    shutil.copy("/etc/fail2ban/filter.d/common.conf", fdir)
    r = subprocess.run(["fail2ban-regex", "--print-all-matched", "--print-all-missed",
                        str(log), str(fdir / "portierd.conf")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"Lines: (\d+) lines, \d+ ignored, (\d+) matched, (\d+) missed", r.stdout)
    assert m, r.stdout
    matched = r.stdout[r.stdout.index("Matched line(s):"):]
    assert "FAIL: deny address from=127.0.0.1" in matched
    assert int(m.group(2)) == sum("FAIL: deny address" in ln for ln in lines), r.stdout
    missed = r.stdout[r.stdout.index("Missed line(s):"):]
    assert "FAIL: lim service_limit" in missed and "START: lim" in missed
    assert "FAIL: ux address from=uid:" in missed
