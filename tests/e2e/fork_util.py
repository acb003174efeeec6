"""The checks of a daemon whose fork fails while two servers (hold.sh) fill what the kernel
allows: RLIMIT_NPROC for an unprivileged daemon (test_portierd_nonroot.py), a pids cgroup
for a root one (test_portierd_fork_pids.py)."""

from conftest import fetch, pid_alive, wait_for
from portierd_util import connect, hold, read_line


def served_once_a_server_ends(d, port, sid, held):
    """Without NORETRY: a connection at the limit is retried, and served once one of the
    held servers ends; no FAIL line."""
    (a, pa), (b, _) = held
    c = connect(port)
    d.wait_message(f"service '{sid}': cannot fork")
    a.close()
    wait_for(lambda: not pid_alive(pa), what="a process slot to free")
    line = read_line(c, timeout=10)
    assert line.startswith("pid "), f"the connection retried was not served: {line!r}"
    c.sendall(b"late but served\n")
    assert read_line(c) == "late but served\n"
    for s in (b, c):
        s.close()
    d.wait_log(rf"EXIT: {sid} status=0 .*", count=3)
    assert not [x for x in d.log() if x.startswith("FAIL:")], d.log()
    assert pid_alive(d.pid)


def fails_then_serves_again(d, port, sid, held):
    """With NORETRY: a connection at the limit is closed with `FAIL: <id> fork`; once a held
    server ends, the next one is served."""
    (a, pa), (b, _) = held
    assert fetch(port, timeout=5) == b"", "a third server was started over the limit"
    d.wait_log(rf"FAIL: {sid} fork from=127\.0\.0\.1")
    assert pid_alive(d.pid)
    a.close()
    d.wait_log(rf"EXIT: {sid} status=0 pid={pa} .*")
    wait_for(lambda: not pid_alive(pa), what="the first server gone")
    c, _ = hold(port)
    c.sendall(b"served again\n")
    assert read_line(c) == "served again\n"
    for s in (b, c):
        s.close()
    d.wait_log(rf"EXIT: {sid} status=0 .*", count=3)
