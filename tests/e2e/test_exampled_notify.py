"""sd_notify: READY=1 once serving, RELOADING=1 with MONOTONIC_USEC then READY=1 around a
reload, STOPPING=1 at SIGTERM -- to a path and to an abstract "@name" socket."""

import os
import signal
import time

import pytest

from conftest import clean_env, fetch, notify_has, read_pidfile


def _mono_us():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


@pytest.fixture(params=["path", "abstract"])
def receiver(request):
    name = "notify_socket" if request.param == "path" else "notify_socket_abstract"
    return request.getfixturevalue(name)


def test_notify_lifecycle_foreground(exampled, procs, receiver):
    exampled.write_config(greeting="notified")
    p, out, err = exampled.popen(env=clean_env(NOTIFY_SOCKET=receiver.address))
    ready = receiver.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1")
    # Ready means serving, right now.
    assert fetch(exampled.port) == b"notified\n"
    assert read_pidfile(exampled.pidfile) == f"{p.pid}\n"
    assert ready.pid in (None, p.pid), f"READY=1 sent by pid {ready.pid}, not {p.pid}"

    exampled.write_config(greeting="reloaded")
    before = _mono_us()
    p.send_signal(signal.SIGHUP)
    reloading = receiver.wait(lambda d: notify_has(d, "RELOADING", "1"), what="RELOADING=1")
    after = _mono_us()
    fields = reloading.fields()
    assert "MONOTONIC_USEC" in fields, \
        f"RELOADING=1 without MONOTONIC_USEC in the same datagram: {reloading}"
    usec = int(fields["MONOTONIC_USEC"])
    assert before - 100_000 <= usec <= after + 100_000, \
        f"MONOTONIC_USEC={usec} is not between {before} and {after}"
    receiver.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1 after the reload")
    assert fetch(exampled.port) == b"reloaded\n"

    p.send_signal(signal.SIGTERM)
    receiver.wait(lambda d: notify_has(d, "STOPPING", "1"), what="STOPPING=1")
    assert p.wait(timeout=10) == 0


def test_notify_after_failed_reload_still_ready(exampled, procs, notify_socket):
    """A failed reload is still bracketed: RELOADING=1 ... READY=1 (the old config serves)."""
    exampled.write_config(greeting="keep")
    p, out, err = exampled.popen(env=clean_env(NOTIFY_SOCKET=notify_socket.address))
    notify_socket.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1")
    exampled.write_config(greeting="broken", extra=["nope = 1"])
    p.send_signal(signal.SIGHUP)
    notify_socket.wait(lambda d: notify_has(d, "RELOADING", "1"), what="RELOADING=1")
    notify_socket.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1 after the reload")
    assert fetch(exampled.port) == b"keep\n"
    assert p.poll() is None


def test_notify_detached(exampled, procs, receiver):
    exampled.write_config(greeting="detached and notified")
    r, pid = exampled.start(env=clean_env(NOTIFY_SOCKET=receiver.address))
    ready = receiver.wait(lambda d: notify_has(d, "READY", "1"), what="READY=1")
    assert ready.pid in (None, pid), f"READY=1 sent by pid {ready.pid}, not the daemon {pid}"
    os.kill(pid, signal.SIGTERM)
    receiver.wait(lambda d: notify_has(d, "STOPPING", "1"), what="STOPPING=1")


def test_no_notify_socket_is_fine(exampled):
    """Without $NOTIFY_SOCKET, or with one nobody listens on, the daemon starts normally."""
    exampled.write_config(greeting="quiet")
    exampled.start(env=clean_env(NOTIFY_SOCKET=str(exampled.dir / "nobody-here")))
    assert fetch(exampled.port) == b"quiet\n"
