"""Socket-activation hand-off: a daemon written for systemd socket units, built with
libportier's LISTEN_FDS helper (exampled), runs unchanged as a `wait = yes` service with
`listen_fds = yes`: portierd starts it at the first connection and hands it the listening
socket as fd 3 with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES."""

import os
import signal

from conftest import fetch, wait_for
from portierd_util import children, need_portierd


def test_exampled_activated_by_portierd(daemon, exampled_bin, tmp_path):
    need_portierd("listen_fds is portier's")
    # No `listen` in exampled's configuration: only the socket portierd passes is served.
    conf, pidfile = tmp_path / "exampled.conf", tmp_path / "exampled.pid"
    conf.write_text("greeting = activated by portierd\n")
    args = f"-d -f {conf} -p {pidfile} --syslog-socket {daemon.syslog.address}"
    port = daemon.add("exd", str(exampled_bin), args, wait="yes", listen_fds="yes")
    daemon.start()
    assert not children(daemon.pid)             # nothing runs before a client comes
    assert fetch(port) == b"activated by portierd\n"
    m = daemon.wait_log(r"START: exd pid=(\d+) .*")[0]
    pid = int(m.group(1))
    for _ in range(5):                          # exampled itself accepts from now on
        assert fetch(port) == b"activated by portierd\n"
    assert [line for line in daemon.log() if line.startswith("START:")] == [m.group(0)]
    assert children(daemon.pid) == [pid]
    assert pidfile.read_text().strip() == str(pid)
    # The server holds the socket until it exits; then portierd watches the port again.
    os.kill(pid, signal.SIGTERM)
    daemon.wait_log(rf"EXIT: exd status=0 pid={pid} .*")
    assert fetch(port) == b"activated by portierd\n"
    m2 = daemon.wait_log(r"START: exd pid=(\d+) .*", count=2)[1]
    assert int(m2.group(1)) != pid
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() == m2.group(1),
             what="the second exampled's pid file")
