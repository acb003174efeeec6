"""The spawn contract of a wait = no stream server (DESIGN.md decision 7): the connection on
0/1/2 and nothing else, default signal dispositions and an empty mask, its own session, the
environment (REMOTE_HOST, env, passenv, then the systemd/ucspi-tcp address variables), argv
from server/server_args (NAMEINARGS), umask, nice, rlimit_*, user/group/groups as root.

The server is tests/e2e/servers/report.py, which reports all that as JSON. Compatibility
tests (xinetd too) unless marked portier-only with need_portierd()."""

import os
import resource
import re
import shlex
import shutil
import signal

import pytest

from conftest import clean_env, fetch
from portierd_util import need_portierd, report, server

PY = "/usr/bin/python3"
GREP = shutil.which("grep") or "/bin/grep"
NEW_VARS = ("REMOTE_ADDR=", "REMOTE_PORT=", "PROTO=", "TCPREMOTEIP=", "TCPREMOTEPORT=",
            "TCPLOCALIP=", "TCPLOCALPORT=")


def _report_service(daemon, sid="rep", args="", **attrs):
    return daemon.add(sid, PY, f"-S {server('report.py')} {args}".rstrip(), **attrs)


def test_fds_and_session(daemon):
    """Nothing of the daemon's leaks: not the other services' sockets (TCP and UDP), not the
    log files."""
    port = _report_service(daemon)
    daemon.add("other", "/bin/echo", "x")
    daemon.add("udp", "/bin/true", socket_type="dgram", protocol="udp", wait="yes")
    daemon.add("ownlog", "/bin/echo", "x", log_type=f"FILE {daemon.dir / 'own.log'}")
    daemon.start()
    r, me = report(port)
    fds = r["fds"]
    assert sorted(fds) == ["0", "1", "2"], f"open fds of the server: {fds}"
    assert fds["0"].startswith("socket:[") and fds["0"] == fds["1"] == fds["2"], fds
    assert r["sock0"]["type"] == "SOCK_STREAM"
    assert tuple(r["sock0"]["peer"]) == tuple(me), r["sock0"]
    assert tuple(r["sock0"]["local"]) == ("127.0.0.1", port), r["sock0"]
    assert r["sid"] == r["pid"], "the server is not a session leader (setsid)"
    assert r["pgrp"] == r["pid"]
    assert r["ppid"] == daemon.pid


def test_signal_dispositions_and_mask(daemon):
    """Default dispositions and an empty mask, whatever the daemon was started with (here:
    SIGPIPE, SIGHUP and SIGUSR1 ignored, SIGINT and SIGUSR2 blocked). The server is grep reading
    its own /proc status (interpreters change their dispositions at start-up)."""
    port = daemon.add("sigs", GREP, r"-E ^Sig(Blk|Ign|Cgt): /proc/self/status")

    def disturb():
        for sig in (signal.SIGPIPE, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGUSR2})
    daemon.start(preexec_fn=disturb)
    text = fetch(port).decode()
    m = re.fullmatch(r"SigBlk:\s+([0-9a-f]+)\nSigIgn:\s+([0-9a-f]+)\nSigCgt:\s+([0-9a-f]+)\n",
                     text)
    assert m, text
    assert int(m.group(1), 16) == 0, f"blocked signals in the server: {text}"
    assert int(m.group(2), 16) == 0, f"ignored signals in the server: {text}"


def test_environment_xinetd_part(daemon):
    """The passenv variables from the daemon's own environment (in attribute order), the env
    entries (values may contain '='), and REMOTE_HOST; nothing else of the daemon's
    environment once passenv is given."""
    port = _report_service(daemon, env="ALPHA=1 BETA=x=y", passenv="PASS_ONE NOT_SET PASS_TWO")
    daemon.start(env=clean_env(PASS_TWO="two", PASS_ONE="one", SECRET_VAR="no"))
    r, me = report(port)
    env = [e for e in r["env"] if not e.startswith(NEW_VARS)]
    assert env == ["PASS_ONE=one", "PASS_TWO=two", "ALPHA=1", "BETA=x=y",
                   f"REMOTE_HOST={me[0]}"], r["env"]


def test_environment_exact(daemon):
    """portierd adds REMOTE_ADDR, REMOTE_PORT, PROTO and the ucspi-tcp variables, in order,
    after xinetd's part."""
    need_portierd("REMOTE_ADDR and the TCP* variables are portier's")
    port = _report_service(daemon, env="ALPHA=1", passenv="PASS_ONE")
    daemon.start(env=clean_env(PASS_ONE="one", OTHER="no"))
    r, me = report(port)
    assert r["env"] == [
        "PASS_ONE=one", "ALPHA=1", f"REMOTE_HOST={me[0]}",
        f"REMOTE_ADDR={me[0]}", f"REMOTE_PORT={me[1]}", "PROTO=TCP",
        f"TCPREMOTEIP={me[0]}", f"TCPREMOTEPORT={me[1]}",
        "TCPLOCALIP=127.0.0.1", f"TCPLOCALPORT={port}",
    ]


def test_environment_without_passenv(daemon):
    """Without passenv (in the service or the defaults), the daemon's whole environment reaches
    the server, as xinetd.conf(5) says and xinetd does — less the variables that describe the
    daemon itself (NOTIFY_SOCKET, LISTEN_*, JOURNAL_STREAM)."""
    port = _report_service(daemon, env="ALPHA=1")
    daemon.start(env=clean_env(SECRET_VAR="yes", JOURNAL_STREAM="1:2"))
    r, me = report(port)
    assert "SECRET_VAR=yes" in r["env"], r["env"]
    assert "ALPHA=1" in r["env"] and f"REMOTE_HOST={me[0]}" in r["env"], r["env"]
    if not os.environ.get("PORTIER_DAEMON") == "xinetd":
        names = [e.partition("=")[0] for e in r["env"]]
        assert not {"NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "JOURNAL_STREAM"} & set(names)


def test_environment_empty_passenv(daemon):
    """An empty passenv passes nothing of the daemon's environment."""
    port = _report_service(daemon, passenv="")
    daemon.start(env=clean_env(SECRET_VAR="no"))
    r, me = report(port)
    env = [e for e in r["env"] if not e.startswith(NEW_VARS)]
    assert env == [f"REMOTE_HOST={me[0]}"], r["env"]


def test_argv(daemon):
    """argv[0] is the basename of server; server_args split on blanks only (quotes and '#'
    are literal)."""
    port = _report_service(daemon, args='one  two\t"three four" #five')
    daemon.start()
    r, _ = report(port)
    assert r["cmdline"] == ["python3", "-S", server("report.py"), "one", "two",
                            '"three', 'four"', "#five"], r["cmdline"]


def test_nameinargs(daemon):
    """NAMEINARGS: server_args gives argv[0]. (xinetd only reads the flag when `flags` comes
    before `server_args`, and its child crashes with SIGSEGV unless NOLIBWRAP is set too; the
    helper writes flags first.)"""
    port = daemon.add("nia", PY, f"pyname -S {server('report.py')} x", flags="NAMEINARGS NOLIBWRAP")
    daemon.start()
    r, _ = report(port)
    assert r["cmdline"] == ["pyname", "-S", server("report.py"), "x"], r["cmdline"]


def test_umask_nice_rlimits(daemon):
    port = _report_service(daemon, umask="027", nice="7", rlimit_files="77",
                           rlimit_cpu="100", rlimit_data="300M", rlimit_stack="4M",
                           rlimit_as="UNLIMITED")
    daemon.start()
    r, _ = report(port)
    assert r["umask"] == "0027"
    assert r["nice"] == 7
    lim = r["rlimits"]
    assert lim["RLIMIT_NOFILE"] == [77, 77], lim
    assert lim["RLIMIT_CPU"] == [100, 100], lim
    assert lim["RLIMIT_DATA"] == [300 << 20, 300 << 20], lim
    assert lim["RLIMIT_STACK"] == [4 << 20, 4 << 20], lim
    assert lim["RLIMIT_AS"] == [resource.RLIM_INFINITY, resource.RLIM_INFINITY], lim


def test_negative_nice_and_rss(daemon):
    if os.geteuid() != 0:
        pytest.skip("a negative nice needs root")
    port = _report_service(daemon, nice="-5", rlimit_rss="10M")
    daemon.start()
    r, _ = report(port)
    assert r["nice"] == -5
    assert r["rlimits"]["RLIMIT_RSS"] == [10 << 20, 10 << 20]


def test_default_umask_and_nofile(daemon):
    """Without umask/rlimit_files: the server gets the daemon's umask (xinetd: inherited
    OR 022) and the RLIMIT_NOFILE the daemon was started with, even though portierd raises its
    own soft limit (xinetd hands its raised limit over: a deliberate difference)."""
    need_portierd("xinetd gives servers its own raised RLIMIT_NOFILE")
    port = _report_service(daemon)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want_soft = min(512, hard)

    def lower():
        os.umask(0o002)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want_soft, hard))
    daemon.start(preexec_fn=lower)
    limits = open(f"/proc/{daemon.pid}/limits").read()
    row = [x for x in limits.splitlines() if x.startswith("Max open files")][0].split()
    assert row[3] == row[4] == str(hard), f"the daemon did not raise its own soft limit: {row}"
    r, _ = report(port)
    assert r["umask"] == "0022", r["umask"]
    assert r["rlimits"]["RLIMIT_NOFILE"] == [want_soft, hard]


def test_user_group_as_root(daemon):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    p1 = _report_service(daemon, "nob", user="nobody", group="nogroup", groups="yes")
    p2 = _report_service(daemon, "nog", user="nobody", groups="no")
    p3 = _report_service(daemon, "num", user="65534", group="65534")
    daemon.start()
    for port in (p1, p2, p3):
        r, _ = report(port)
        assert r["Uid"].split() == ["65534"] * 4, r["Uid"]
        assert r["Gid"].split() == ["65534"] * 4, r["Gid"]
    r, _ = report(p2)
    assert r["Groups"] == "", f"groups = no: supplementary groups {r['Groups']!r}"
    r, _ = report(p1)
    want = sorted(set(os.getgrouplist("nobody", 65534)))
    assert sorted(int(g) for g in r["Groups"].split()) == want, r["Groups"]


def test_server_args_with_shell_metacharacters_not_interpreted(daemon):
    port = _report_service(daemon, args="$HOME `id` ;ls |x")
    daemon.start()
    r, _ = report(port)
    assert r["cmdline"][3:] == ["$HOME", "`id`", ";ls", "|x"], shlex.join(r["cmdline"])


def test_connection_is_blocking(daemon):
    """The server gets a blocking connection (the daemon's O_NONBLOCK is cleared)."""
    port = _report_service(daemon)
    daemon.start()
    r, _ = report(port)
    assert r["sock0"]["nonblocking"] is False, r["sock0"]


def test_nodelay_keepalive(daemon):
    plain = _report_service(daemon, "plain")
    flagged = daemon.add("flagged", PY, f"-S {server('report.py')}", flags="NODELAY KEEPALIVE")
    daemon.start()
    r, _ = report(plain)
    assert (r["sock0"]["nodelay"], r["sock0"]["keepalive"]) == (0, 0), r["sock0"]
    r, _ = report(flagged)
    assert r["sock0"]["nodelay"] != 0 and r["sock0"]["keepalive"] != 0, r["sock0"]


def test_many_server_args(daemon):
    args = [f"a{i}" for i in range(300)]
    port = _report_service(daemon, args=" ".join(args), env=" ".join(f"E{i}=v{i}"
                                                                    for i in range(60)))
    daemon.start()
    r, _ = report(port)
    assert r["cmdline"][3:] == args
    assert [e for e in r["env"] if e.startswith("E")] == [f"E{i}=v{i}" for i in range(60)]
