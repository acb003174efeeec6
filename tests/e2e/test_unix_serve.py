"""AF_UNIX listeners (socket_path), every dispatch kind over a real unix socket: a server per
connection (stream, seqpacket), wait = yes stream and dgram (the listening socket handed
over, listen_fds too), the echo and discard built-ins, and a redirect from a unix socket to
TCP. The client is its SO_PEERCRED: logged as from=uid:U,gid:G,pid:P and passed to the
server as REMOTE_UID/REMOTE_GID/REMOTE_PID and ucspi-unix's PROTO=UNIX, UNIXREMOTEEUID,
UNIXREMOTEEGID, UNIXREMOTEPID. portier-only (xinetd has no unix listeners)."""

import json
import os
import pwd
import socket

import pytest

from portierd_util import PRIVSEP, need_portierd, read_all, read_line, server, serving_pid
from unix_util import add_unix, connect, exchange

PY = "/usr/bin/python3"


@pytest.fixture(autouse=True)
def _portierd_only():
    need_portierd("AF_UNIX listeners")


def env_of(report):
    return dict(e.split("=", 1) for e in report["env"])


def me():
    return rf"uid:{os.geteuid()},gid:{os.getegid()},pid:{os.getpid()}"


def test_stream_server_gets_connection_and_credentials(daemon, sockdir):
    path = add_unix(daemon, "u", sockdir / "u.sock", PY, f"-S {server('report.py')}")
    daemon.start()
    with connect(path) as s:
        data = read_all(s)
    rep = json.loads(data)
    env = env_of(rep)
    assert env["PROTO"] == "UNIX"
    for k, v in (("REMOTE_UID", os.geteuid()), ("REMOTE_GID", os.getegid()),
                 ("REMOTE_PID", os.getpid()), ("UNIXREMOTEEUID", os.geteuid()),
                 ("UNIXREMOTEEGID", os.getegid()), ("UNIXREMOTEPID", os.getpid())):
        assert env[k] == str(v), (k, env)
    # no IP variables: a unix client has no address
    for k in ("REMOTE_HOST", "REMOTE_ADDR", "REMOTE_PORT", "TCPREMOTEIP"):
        assert k not in env, (k, env)
    assert "socket:" in rep["fds"]["0"], rep["fds"]
    daemon.wait_log(rf"START: u pid={rep['pid']} from={me()}")
    daemon.wait_log(rf"EXIT: u status=0 pid={rep['pid']} duration=\d+\(sec\)")


def test_seqpacket_and_abstract(daemon, sockdir):
    name = f"@portier-test-{os.getpid()}-{os.urandom(4).hex()}"
    add_unix(daemon, "sq", name, "/bin/echo", "packet", socket_type="seqpacket")
    daemon.start()
    with connect(name, socket.SOCK_SEQPACKET) as s:
        assert s.recv(100) == b"packet\n"
    daemon.wait_log(rf"START: sq pid=\d+ from={me()}")
    assert not any(p.name.startswith("portier-test") for p in sockdir.iterdir())


def test_wait_yes_stream_and_listen_fds(daemon, sockdir):
    p1 = add_unix(daemon, "w", sockdir / "w.sock", PY,
                  f"-S {server('tcp_accept.py')} --report", wait="yes")
    p2 = add_unix(daemon, "lf", sockdir / "lf.sock", PY,
                  f"-S {server('tcp_accept.py')} --report", wait="yes", listen_fds="yes")
    daemon.start()
    for path in (p1, p2):
        with connect(path) as s:
            rep = json.loads(read_line(s))
        # tcp_accept.py reports getsockname()[:2]: for a unix socket, the path's first two
        # characters
        assert rep["listening"] == list(str(path)[:2]), rep
        assert "PROTO" not in env_of(rep), "wait = yes: the server accepts, no peer known"
    env = env_of(rep)
    assert env["LISTEN_FDS"] == "1" and env["LISTEN_PID"] == str(rep["pid"]), env
    # as for TCP: the server accepts, the daemon knows no client
    daemon.wait_log(r"START: w pid=\d+ from=<no address>")
    daemon.wait_log(rf"START: lf pid={rep['pid']} from=<no address>")


def test_wait_yes_dgram_credentials(daemon, sockdir):
    path = add_unix(daemon, "dg", sockdir / "dg.sock", PY,
                    f"-S {server('udp_upper.py')} 0.5", socket_type="dgram", wait="yes")
    daemon.start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as c:
        c.bind(str(sockdir / "client.sock"))
        c.settimeout(10)
        c.sendto(b"hello", str(path))
        pid, host, word = c.recvfrom(1000)[0].split()
    assert word == b"HELLO" and host == b"-"
    # the datagram's sender, from the SCM_CREDENTIALS the kernel attached to it
    daemon.wait_log(rf"START: dg pid={int(pid)} from={me()}")
    daemon.wait_log(rf"EXIT: dg status=0 pid={int(pid)} .*")


def test_builtins_echo_discard(daemon, sockdir):
    pe = add_unix(daemon, "echo-u", sockdir / "echo.sock", type="INTERNAL", _name="echo")
    pd = add_unix(daemon, "discard-u", sockdir / "discard.sock", type="INTERNAL",
                  _name="discard")
    daemon.start()
    assert exchange(pe, b"over unix\n") == "over unix\n"
    assert exchange(pd, b"into the void\n") == ""
    daemon.wait_log(rf"START: echo-u pid=0 from={me()}")
    daemon.wait_log(rf"EXIT: echo-u status=0 pid=0 duration=\d+\(sec\)")
    daemon.wait_log(rf"START: discard-u pid=0 from={me()}")


def test_redirect_unix_to_tcp(daemon, sockdir):
    port = daemon.add("echo-t", type="INTERNAL UNLISTED", _name="echo")
    path = add_unix(daemon, "r", sockdir / "r.sock", redirect=f"127.0.0.1 {port}")
    daemon.services["r"]["attrs"].pop("user")
    daemon.start()
    assert exchange(path, b"through the proxy\n") == "through the proxy\n"
    daemon.wait_log(rf"START: r pid=0 from={me()}")
    daemon.wait_log(r"START: echo-t pid=0 from=127\.0\.0\.1")


def test_builtin_dgram_refused_at_load(daemon, sockdir):
    add_unix(daemon, "echo-d", sockdir / "ed.sock", type="INTERNAL", socket_type="dgram",
             _name="echo")
    r = daemon.run("-n")
    assert r.rc != 0
    assert "a built-in on a unix socket must have socket_type stream" in r.err + r.out, r


def test_redirect_to_unix_path(daemon, sockdir):
    """portier's `redirect = /path`: from TCP (or a unix socket) to a unix stream socket."""
    # (with privilege separation the proxy runs as nobody: the backend lets it in)
    backend = add_unix(daemon, "echo-b", sockdir / "b.sock", type="INTERNAL", _name="echo",
                       **({"socket_mode": "0666"} if PRIVSEP else {}))
    port = daemon.add("r-tcp", redirect=str(backend), log_on_success="PID HOST EXIT TRAFFIC")
    daemon.services["r-tcp"]["attrs"].pop("user")
    front = add_unix(daemon, "r-unix", sockdir / "f.sock", redirect=str(backend))
    daemon.services["r-unix"]["attrs"].pop("user")
    gone = add_unix(daemon, "r-gone", sockdir / "g.sock", redirect=str(sockdir / "none.sock"))
    daemon.services["r-gone"]["attrs"].pop("user")
    daemon.start()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"tcp to unix\n")
        s.shutdown(socket.SHUT_WR)
        assert read_all(s) == b"tcp to unix\n"
    assert exchange(front, b"unix to unix\n") == "unix to unix\n"
    daemon.wait_log(r"TRAFFIC: r-tcp in=12\(bytes\) out=12\(bytes\)")
    # the backend's client is portierd itself (its network process, as nobody, with
    # privilege separation)
    if PRIVSEP:
        nobody = pwd.getpwnam("nobody")
        me = f"uid:{nobody.pw_uid},gid:{nobody.pw_gid},pid:{serving_pid(daemon)}"
    else:
        me = f"uid:0,gid:0,pid:{daemon.pid}"
    daemon.wait_log(rf"START: echo-b pid=0 from={me}", count=2)
    assert exchange(gone, b"x") in ("", "refused: ConnectionResetError",
                                    "refused: BrokenPipeError")
    daemon.wait_message(f"can't connect to unix socket '{sockdir}/none.sock'")
    r = daemon.procs.run([daemon.bin, "--dump-config", "-f", daemon.conf])
    assert f"redirect        = {backend}\n" in r.out, r.out
