"""A root daemon whose fork fails: the kernel's pids controller (a cgroup v1 pids group with a
low pids.max, the daemon's main pid moved into it) refuses the third server while two run,
as RLIMIT_NPROC cannot for root. The connection is retried and served once a server ends, or
with NORETRY refused with `FAIL: <id> fork`. With privilege separation the monitor forks: it
hands the connection back to the network process, which retries it (it closed its own copy
when it asked). Skipped where no writable pids cgroup is mounted."""

import os
import time
import uuid
from pathlib import Path

import pytest

from conftest import fetch, pid_alive, wait_for
from portierd_util import PRIVSEP, connect, hold, need_portierd, read_line, server

PIDS_ROOT = Path("/sys/fs/cgroup/pids")


@pytest.fixture
def pids_group():
    if os.geteuid() != 0:
        pytest.skip("moving the daemon into a pids cgroup needs root")
    if not (PIDS_ROOT / "cgroup.procs").exists():
        pytest.skip(f"no cgroup v1 pids controller at {PIDS_ROOT}")
    group = PIDS_ROOT / f"portier-test-{uuid.uuid4().hex[:12]}"
    try:
        group.mkdir()
    except OSError as e:
        pytest.skip(f"cannot make a pids cgroup: {e}")
    yield group
    # the daemon's processes are gone by now (the daemon fixture ends them); an empty group
    # is removed, one with stragglers moved out first
    for _ in range(100):
        try:
            for pid in (group / "cgroup.procs").read_text().split():
                try:
                    (PIDS_ROOT / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            group.rmdir()
            break
        except FileNotFoundError:
            break
        except OSError:
            time.sleep(0.05)


@pytest.fixture(params=["plain", "privsep"])
def mode(request):
    if request.param == "plain" and PRIVSEP:
        pytest.skip("the suite runs with privilege separation (PORTIER_TEST_PRIVSEP=1)")
    return request.param


def start_in_group(d, group, mode, tasks):
    """Start d; move its main pid into group, which then holds at most tasks processes."""
    extra = ["--privsep-user", "nobody"] if mode == "privsep" and not PRIVSEP else []
    d.start(*extra)
    (group / "pids.max").write_text(str(tasks))
    (group / "cgroup.procs").write_text(str(d.pid))
    assert str(d.pid) in (group / "cgroup.procs").read_text().split()


def test_fork_failure_is_retried_once_a_server_ends(daemon, pids_group, mode):
    need_portierd("xinetd retries forking and is hard to bound here")
    d = daemon
    port = d.add("r", server("hold.sh"))
    start_in_group(d, pids_group, mode, 3)     # the main pid and two servers
    (a, pa), (b, pb) = hold(port), hold(port)
    c = connect(port)
    d.wait_message("service 'r': cannot fork")
    a.close()
    wait_for(lambda: not pid_alive(pa), what="a process slot to free")
    line = read_line(c, timeout=10)
    assert line.startswith("pid "), f"the connection retried was not served: {line!r}"
    c.sendall(b"late but served\n")
    assert read_line(c) == "late but served\n"
    for s in (b, c):
        s.close()
    d.wait_log(r"EXIT: r status=0 .*", count=3)
    assert not [x for x in d.log() if x.startswith("FAIL:")], d.log()
    assert pid_alive(d.pid)


def test_fork_failure_with_noretry_fails_the_connection(daemon, pids_group, mode):
    need_portierd("xinetd retries forking and is hard to bound here")
    d = daemon
    port = d.add("f", server("hold.sh"), flags="NORETRY")
    start_in_group(d, pids_group, mode, 3)
    (a, pa), (b, pb) = hold(port), hold(port)
    assert fetch(port, timeout=5) == b"", "a third server was started over pids.max"
    d.wait_log(r"FAIL: f fork from=127\.0\.0\.1")
    a.close()
    wait_for(lambda: not pid_alive(pa), what="the first server gone")
    c, pc = hold(port)
    c.sendall(b"served again\n")
    assert read_line(c) == "served again\n"
    for s in (b, c):
        s.close()
    d.wait_log(r"EXIT: f status=0 .*", count=3)
