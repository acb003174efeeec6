"""wait = yes services: the listening socket is handed to one server (on 0/1/2, or on fd 3 with
portier's `listen_fds = yes`); the daemon stops watching the port until that server exits, then
resumes (UDP: datagrams left over by the server are drained). Compatibility tests (xinetd too)
except listen_fds."""

import json
import socket
import time

from conftest import fetch, wait_for
from portierd_util import children, connect, need_portierd, read_all, server, udp_ask

PY = "/usr/bin/python3"


def _udp(daemon, sid="u", idle="0.5", **attrs):
    return daemon.add(sid, PY, f"-S {server('udp_upper.py')} {idle}", socket_type="dgram",
                      protocol="udp", wait="yes", **attrs)


def test_udp_wait_yes(daemon):
    port = _udp(daemon)
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.bind(("127.0.0.1", 0))
        pid, host, word = udp_ask(port, b"hello", sock=c).split()
        assert (host, word) == (b"127.0.0.1", b"HELLO")
        # the same server answers while it runs
        for i in range(3):
            assert udp_ask(port, b"more%d" % i, sock=c).split() == [pid, host, b"MORE%d" % i]
    start, = daemon.wait_log(rf"START: u pid={int(pid)} from=127\.0\.0\.1")
    daemon.wait_log(rf"EXIT: u status=0 pid={int(pid)} duration=\d+\(sec\)")
    # served again by a new server once the first has exited
    pid2 = udp_ask(port, b"again").split()[0]
    assert pid2 != pid
    daemon.wait_log(rf"EXIT: u status=0 pid={int(pid2)} duration=\d+\(sec\)")
    assert len([line for line in daemon.log() if line.startswith("START:")]) == 2


def test_udp_leftover_datagrams_drained(daemon):
    """Datagrams the server left unread when it exited are drained: no new server starts for
    them, and the next datagram after that is served by a fresh server."""
    port = _udp(daemon, idle="3")
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.bind(("127.0.0.1", 0))
        c.settimeout(10)
        for data in (b"quit", b"late1", b"late2", b"late3"):
            c.sendto(data, ("127.0.0.1", port))
        pid, _, word = c.recvfrom(1000)[0].split()
        assert word == b"QUIT"
        daemon.wait_log(rf"EXIT: u status=0 pid={int(pid)} .*")
        wait_for(lambda: not children(daemon.pid), what="the server to be reaped")
        c.sendto(b"fresh", ("127.0.0.1", port))
        pid2, _, word = c.recvfrom(1000)[0].split()
        assert word == b"FRESH", f"a leftover datagram was served after the server exited: " \
                                 f"{word!r}; log: {daemon.log()!r}"
        c.sendto(b"quit", ("127.0.0.1", port))
        assert c.recvfrom(1000)[0].split() == [pid2, b"127.0.0.1", b"QUIT"]
    daemon.wait_log(rf"EXIT: u status=0 pid={int(pid2)} .*")
    assert len([line for line in daemon.log() if line.startswith("START:")]) == 2, daemon.log()


def test_udp_remote_host_is_first_sender(daemon):
    port = _udp(daemon, idle="1")
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.2", 0))
        first = udp_ask(port, b"one", sock=a).split()
        second = udp_ask(port, b"two", sock=b).split()
        assert first[:2] == [first[0], b"127.0.0.1"]
        assert second == [first[0], b"127.0.0.1", b"TWO"], "REMOTE_HOST is the first sender"
        udp_ask(port, b"quit", sock=a)


def _tcp(daemon, sid="w", args="0.5", **attrs):
    return daemon.add(sid, PY, f"-S {server('tcp_accept.py')} {args}", wait="yes", **attrs)


def test_tcp_wait_yes(daemon):
    port = _tcp(daemon)
    daemon.start()
    replies = []
    for _ in range(3):
        with connect(port) as s:
            replies.append(read_all(s).split())
    pid = replies[0][0]
    assert [(r[0], r[-1]) for r in replies] == [(pid, b"1"), (pid, b"2"), (pid, b"3")], \
        f"one server accepts every connection: {replies}"
    daemon.wait_log(rf"START: w pid={int(pid)} from=<no address>")
    daemon.wait_log(rf"EXIT: w status=0 pid={int(pid)} duration=\d+\(sec\)")
    with connect(port) as s:
        again = read_all(s).split()
    assert again[0] != pid and again[-1] == b"1"
    daemon.wait_log(rf"EXIT: w status=0 pid={int(again[0])} .*")


def test_tcp_wait_yes_start_line(daemon):
    """The START line of a wait = yes stream service: no client is known when the server
    starts; xinetd 2.3.15.3 logs from=<no address> (its PR #7 came later)."""
    port = _tcp(daemon)
    daemon.start()
    with connect(port) as s:
        pid = int(read_all(s).split()[0])
    daemon.wait_log(rf"START: w pid={pid} from=<no address>")


def test_wait_yes_server_gets_listening_socket(daemon):
    port = _tcp(daemon, "ws", "--report")
    daemon.start()
    with connect(port) as s:
        r = json.loads(read_all(s))
    fds = r["fds"]
    assert sorted(fds) == ["0", "1", "2"], fds
    assert fds["0"] == fds["1"] == fds["2"] and fds["0"].startswith("socket:[")
    assert r["listening"] == ["127.0.0.1", port]


def test_listen_fds(daemon):
    """listen_fds = yes: the listening socket on fd 3, LISTEN_FDS=1, LISTEN_PID=<server>,
    LISTEN_FDNAMES=<id>, 0/1/2 on /dev/null."""
    need_portierd("listen_fds is portier's")
    port = _tcp(daemon, "lf", "--report", listen_fds="yes")
    named = _tcp(daemon, "lfn", "--report", listen_fds="yes web")
    daemon.start()
    with connect(port) as s:
        r = json.loads(read_all(s))
    fds = r["fds"]
    assert sorted(fds) == ["0", "1", "2", "3"], fds
    assert fds["0"] == fds["1"] == fds["2"] == "/dev/null", fds
    assert fds["3"].startswith("socket:[")
    assert r["listening"] == ["127.0.0.1", port]
    env = dict(e.split("=", 1) for e in r["env"])
    assert env["LISTEN_FDS"] == "1"
    assert env["LISTEN_PID"] == str(r["pid"])
    assert env["LISTEN_FDNAMES"] == "lf"
    with connect(named) as s:
        r = json.loads(read_all(s))
    env = dict(e.split("=", 1) for e in r["env"])
    assert env["LISTEN_FDNAMES"] == "web"
    assert env["LISTEN_PID"] == str(r["pid"])


def test_listen_fds_udp(daemon):
    need_portierd("listen_fds is portier's")
    port = _udp(daemon, "lu", listen_fds="yes")
    daemon.start()
    pid, host, word = udp_ask(port, b"hi").split()
    assert (host, word) == (b"127.0.0.1", b"HI")
    udp_ask(port, b"quit")
    daemon.wait_log(rf"EXIT: lu status=0 pid={int(pid)} .*")


def test_wait_yes_not_watched_while_server_runs(daemon):
    """While the wait = yes server runs, connections queue for it and start no other server
    (instances of wait = yes is one server)."""
    port = _tcp(daemon, "q", "1.5")
    daemon.start()
    socks = [connect(port) for _ in range(5)]
    pids = set()
    for s in socks:
        pids.add(read_all(s).split()[0])
        s.close()
    assert len(pids) == 1
    time.sleep(0.05)
    assert len(children(daemon.pid)) == 1
    assert len([line for line in daemon.log() if line.startswith("START:")]) == 1


def test_udp_server_that_reads_nothing(daemon):
    """A wait = yes UDP server that exits without reading: the datagram is drained, so one
    datagram starts one server (no respawn loop)."""
    port = daemon.add("nr", "/bin/true", socket_type="dgram", protocol="udp", wait="yes")
    marker = daemon.add("mk", "/bin/echo", "m")
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        for i in range(2):
            c.sendto(b"x", ("127.0.0.1", port))
            daemon.wait_log(r"EXIT: nr status=0 .*", count=i + 1)
            wait_for(lambda: not children(daemon.pid), what="the server reaped")
    # give a respawn loop the time to show, then check with a marker connection
    time.sleep(0.3)
    assert fetch(marker) == b"m\n"
    daemon.wait_log(r"EXIT: mk .*")
    starts = [x for x in daemon.log() if x.startswith("START: nr")]
    assert len(starts) == 2, daemon.log()


def test_udp_server_crash(daemon):
    port = daemon.add("uc", server("crash.sh"), "SEGV", socket_type="dgram", protocol="udp",
                      wait="yes")
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.sendto(b"x", ("127.0.0.1", port))
        daemon.wait_log(r"EXIT: uc signal=11 pid=\d+ duration=\d+\(sec\)")
        wait_for(lambda: not children(daemon.pid), what="the server reaped")
        c.sendto(b"y", ("127.0.0.1", port))
        daemon.wait_log(r"EXIT: uc signal=11 pid=\d+ duration=\d+\(sec\)", count=2)
