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

from fork_util import fails_then_serves_again, served_once_a_server_ends
from portierd_util import PRIVSEP, hold, need_portierd, server

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
    port = daemon.add("r", server("hold.sh"))
    start_in_group(daemon, pids_group, mode, 3)     # the main pid and two servers
    served_once_a_server_ends(daemon, port, "r", [hold(port), hold(port)])


def test_fork_failure_with_noretry_fails_the_connection(daemon, pids_group, mode):
    need_portierd("xinetd retries forking and is hard to bound here")
    port = daemon.add("f", server("hold.sh"), flags="NORETRY")
    start_in_group(daemon, pids_group, mode, 3)
    fails_then_serves_again(daemon, port, "f", [hold(port), hold(port)])
