"""portierctl reexec and the connections served inside portierd: echo, chargen and redirect
pairs open at a re-exec are served on by the drainer (a fork of the old image) until they end,
with one EXIT (and TRAFFIC) line each; the daemon's stop ends them too; a re-exec whose execve()
fails leaves them with the old image."""

import hashlib
import os
import re
import socket
import time

from builtin_util import add_builtin, echo_roundtrip, recv_exactly, wait_eof
from conftest import pid_alive, proc_stat, wait_for
from ctl_util import ctl  # noqa: F401 (fixture)
from portierd_util import PRIVSEP, children, connect, is_network_process, serving_pid, start_time
from redirect_util import Backend, add_redirect


CHARGEN_LINE = 72


def chargen_expected(offset, n):
    """RFC 864's stream as portierd writes it: bytes [offset, offset + n)."""
    out = bytearray()
    line, col = divmod(offset, CHARGEN_LINE + 2)
    while len(out) < n:
        if col < CHARGEN_LINE:
            out.append(32 + (line + 1 + col) % 95)
        else:
            out.append(13 if col == CHARGEN_LINE else 10)
        col += 1
        if col == CHARGEN_LINE + 2:
            col, line = 0, line + 1
    return bytes(out)


def drainers(d):
    """The daemon's children that are portierd processes (the drainers), not servers. With
    privilege separation the drainer is an old network process: every network process but the
    newest. A child still becoming the new network process (forked, not yet running as
    nobody) is neither, so it is not mistaken for the drainer while the old one looks newest."""
    out = []
    kids = children(d.pid, network=True)
    if PRIVSEP:
        kids = [c for c in kids if _alive_network_process(c, d.pid)]
        if kids:
            newest = max(kids, key=lambda c: (start_time(c), c))
            kids.remove(newest)
    for c in kids:
        try:
            st = proc_stat(c)
            if os.path.realpath(f"/proc/{c}/exe") == os.path.realpath(d.bin) and \
                    st["state"] != "Z":
                out.append(c)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return out


def _alive_network_process(child, parent):
    try:
        return is_network_process(child, parent)
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return False


def announced_drainer(d):
    """The pid the drainer names in its notice."""
    m = d.wait_message("in-process connections until they end")
    return int(re.search(r"pid (\d+) serves", m).group(1))


def _three_services(d):
    p_echo = add_builtin(d, "echo")
    p_chargen = add_builtin(d, "chargen")
    backend = Backend("reply_eof")
    p_redir = add_redirect(d, "relay", backend.port,
                           log_on_success="PID HOST EXIT DURATION TRAFFIC")
    return p_echo, p_chargen, p_redir, backend


def test_inproc_connections_survive_reexec(ctl):
    d = ctl.daemon
    p_echo, p_chargen, p_redir, backend = _three_services(d)
    ctl.start()
    pid = d.pid
    try:
        echo = connect(p_echo)
        assert echo_roundtrip(echo, b"before\n") == b"before\n"
        gen = connect(p_chargen)
        got = recv_exactly(gen, 10000)
        assert got == chargen_expected(0, 10000)
        relay = connect(p_redir)
        payload = os.urandom(3 << 20)
        relay.sendall(payload[:1 << 20])                # a transfer under way

        r = ctl.run("reexec")
        assert r.rc == 0, r
        assert re.fullmatch(rf"re-executed '.*': pid {pid}, 3 services, 0 servers adopted\n",
                            r.out), r.out
        announced = announced_drainer(d)
        assert d.pid == pid
        (drainer,) = wait_for(lambda: drainers(d), what="the drainer")
        assert drainer == announced

        # every connection goes on where it was
        assert echo_roundtrip(echo, b"after\n" * 1000) == b"after\n" * 1000
        more = recv_exactly(gen, 200000)
        assert more == chargen_expected(len(got), 200000)
        relay.sendall(payload[1 << 20:])
        relay.shutdown(socket.SHUT_WR)
        relay.settimeout(30)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = relay.recv(100)
            assert chunk, f"the relay ended early: {reply!r}"
            reply += chunk
        assert reply.decode().split() == [str(len(payload)),
                                          hashlib.sha256(payload).hexdigest()]
        assert wait_eof(relay)

        # the new image serves new connections meanwhile
        with connect(p_echo) as e2:
            assert echo_roundtrip(e2, b"new\n") == b"new\n"

        for s in (echo, gen, relay):
            s.close()
        wait_for(lambda: not pid_alive(drainer) or proc_stat(drainer)["state"] == "Z",
                 what="the drainer to exit once its connections ended")
        d.wait_message(f"the drainer (pid {drainer}) is done")
        d.wait_log(r"EXIT: relay status=0 pid=0 duration=\d+\(sec\)")
        d.wait_log(r"EXIT: echo-stream status=0 pid=0 duration=\d+\(sec\)", count=2)
        d.wait_log(r"EXIT: chargen-stream status=0 pid=0 duration=\d+\(sec\)")
        time.sleep(0.3)
        log = d.log()
        # once each: the connection of the new image, and the three drained ones
        assert len([x for x in log if x.startswith("EXIT: echo-stream")]) == 2, log
        assert len([x for x in log if x.startswith("EXIT: chargen-stream")]) == 1, log
        assert len([x for x in log if x.startswith("EXIT: relay")]) == 1, log
        traffic = [x for x in log if x.startswith("TRAFFIC: relay")]
        assert traffic == [f"TRAFFIC: relay in={len(payload)}(bytes) out={len(reply)}(bytes)"]
        wait_for(lambda: not d.zombies(), what="no zombie")
        assert drainers(d) == []
    finally:
        backend.stop()


def test_stop_after_reexec_ends_drained_connections(ctl):
    d = ctl.daemon
    p_echo, p_chargen, p_redir, backend = _three_services(d)
    ctl.start()
    try:
        echo, gen, relay = connect(p_echo), connect(p_chargen), connect(p_redir)
        assert echo_roundtrip(echo, b"x\n") == b"x\n"
        assert recv_exactly(gen, 1000) == chargen_expected(0, 1000)
        relay.sendall(b"partial")
        backend.wait_accepted(1)
        assert ctl.run("reexec").rc == 0
        (drainer,) = wait_for(lambda: drainers(d), what="the drainer")
        assert echo_roundtrip(echo, b"y\n") == b"y\n"
        pid = d.pid
        assert d.stop() == 0
        assert not pid_alive(pid) and not pid_alive(drainer)
        for s in (echo, gen, relay):
            assert wait_eof(s), "a drained connection outlived the daemon"
            s.close()
        log = d.log()
        for sid in ("echo-stream", "chargen-stream", "relay"):
            assert len([x for x in log if x.startswith(f"EXIT: {sid} ")]) == 1, log
    finally:
        backend.stop()


def test_failed_exec_keeps_inproc_connections_with_the_old_image(ctl, tmp_path):
    import shutil
    d = ctl.daemon
    copy = tmp_path / "bin" / "portierd"
    copy.parent.mkdir()
    shutil.copy2(d.bin, copy)
    d.bin = copy
    p_echo = add_builtin(d, "echo")
    ctl.start()
    echo = connect(p_echo)
    assert echo_roundtrip(echo, b"one\n") == b"one\n"
    tmp = copy.with_name("new")
    tmp.write_bytes(b"\x7fELF garbage, not a program")
    os.chmod(tmp, 0o755)
    os.rename(tmp, copy)
    r = ctl.run("reexec")
    assert r.rc == 1 and "cannot execute" in r.err, r
    # the drainer forked for the attempt left without serving anything
    wait_for(lambda: drainers(d) == [], what="the aborted drainer to be gone")
    assert echo_roundtrip(echo, b"two\n") == b"two\n"
    st = ctl.json("status", "echo-stream")["services"][0]
    assert st["running"] == 1
    echo.close()
    d.wait_log(r"EXIT: echo-stream status=0 pid=0 duration=\d+\(sec\)")
    time.sleep(0.3)
    assert len([x for x in d.log() if x.startswith("EXIT: echo-stream")]) == 1, d.log()
    wait_for(lambda: ctl.json("status", "echo-stream")["services"][0]["running"] == 0,
             what="the connection to be counted out")


def test_tcpmux_name_completed_in_the_drainer_is_answered(ctl):
    """A tcpmux connection still reading its service name at the re-exec: the drainer starts
    nothing, so it answers with a negative reply (RFC 1078) and closes."""
    d = ctl.daemon
    p_mux = add_builtin(d, "tcpmux")
    ctl.start()
    m = connect(p_mux)
    m.sendall(b"hel")
    wait_for(lambda: ctl.json("status", "tcpmux-stream")["services"][0]["running"] == 1,
             what="the tcpmux connection")
    assert ctl.run("reexec").rc == 0
    m.sendall(b"lo\r\n")
    m.settimeout(10)
    assert m.recv(200).startswith(b"-Service temporarily unavailable")
    assert wait_eof(m)
    m.close()
    d.wait_log(r"EXIT: tcpmux-stream status=0 pid=0 duration=\d+\(sec\)")


def test_second_reexec_keeps_the_first_drainer(ctl):
    d = ctl.daemon
    p_echo = add_builtin(d, "echo")
    ctl.start()
    a = connect(p_echo)
    assert echo_roundtrip(a, b"a\n") == b"a\n"
    assert ctl.run("reexec").rc == 0
    (first,) = wait_for(lambda: drainers(d), what="the first drainer")
    b = connect(p_echo)
    assert echo_roundtrip(b, b"b\n") == b"b\n"
    assert ctl.run("reexec").rc == 0
    both = wait_for(lambda: drainers(d) if len(drainers(d)) == 2 else None,
                    what="two drainers")
    assert first in both
    assert echo_roundtrip(a, b"a2\n") == b"a2\n"
    assert echo_roundtrip(b, b"b2\n") == b"b2\n"
    # the stop (after two re-execs) still ends the first drainer's connection
    assert d.stop() == 0
    for s in (a, b):
        assert wait_eof(s)
        s.close()
    assert not any(pid_alive(p) for p in both)
    assert len([x for x in d.log() if x.startswith("EXIT: echo-stream")]) == 2, d.log()


def test_new_image_fails_fallback_keeps_the_drainer(ctl, tmp_path):
    """The new program cannot load the configuration: the previous binary serves again, and it
    knows the drainer (forked once the execve() succeeded): the drained connection goes on,
    and the stop ends it."""
    import shutil
    d = ctl.daemon
    copy = tmp_path / "bin" / "portierd"
    copy.parent.mkdir()
    shutil.copy2(d.bin, copy)
    real = copy.with_name("real-portierd")
    shutil.copy2(copy, real)
    d.bin = copy
    p_echo = add_builtin(d, "echo")
    ctl.start()
    pid = d.pid
    echo = connect(p_echo)
    assert echo_roundtrip(echo, b"one\n") == b"one\n"
    tmp = copy.with_name("new")
    tmp.write_text(f'#!/bin/sh\nexec {real} "$@" -f /nonexistent/portier.conf\n')
    os.chmod(tmp, 0o755)
    os.rename(tmp, copy)
    r = ctl.run("reexec")
    assert r.rc == 1 and "the previous binary serves again" in r.err, r
    assert d.pid == pid
    # no server runs: the daemon's only child is the drainer (its binary file was replaced)
    (drainer,) = wait_for(lambda: live_children(pid, d), what="the drainer")
    assert echo_roundtrip(echo, b"two\n") == b"two\n"
    with connect(p_echo) as e2:
        assert echo_roundtrip(e2, b"new\n") == b"new\n"
    assert d.stop() == 0
    assert wait_eof(echo)
    echo.close()
    assert not pid_alive(drainer)
    assert len([x for x in d.log() if x.startswith("EXIT: echo-stream")]) == 2, d.log()



def live_children(pid, d=None):
    """Children not reaped yet; with d, under privilege separation, the old network process
    (a drainer) too, but not the one that serves."""
    out = []
    serving = serving_pid(d) if PRIVSEP and d else None
    for c in children(pid, network=d is not None):
        if c == serving:
            continue
        try:
            if proc_stat(c)["state"] != "Z":
                out.append(c)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out
