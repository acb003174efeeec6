"""One instance per pid file: the lock is held for the daemon's life, a second start is refused
on the terminal, and a stale file is taken over (daemon-rules.md P6-P9)."""

import fcntl
import os

import pytest

from conftest import fetch, free_port, pid_alive, read_pidfile, wait_for


def test_second_instance_refused(exampled, procs):
    exampled.write_config(greeting="first")
    _, pid = exampled.start()
    # A different port, so that only the pid file can make it fail.
    other_port_conf = exampled.write_config(path=exampled.dir / "second.conf",
                                            greeting="second", port=free_port())
    r = exampled.run(conf=other_port_conf)
    assert r.rc != 0, r
    assert f"exampled: already running (pid {pid})" in r.err, r
    assert r.elapsed < 5, f"the refusal was not immediate: {r!r}"
    assert pid_alive(pid)
    assert read_pidfile(exampled.pidfile) == f"{pid}\n"
    assert fetch(exampled.port) == b"first\n"


def test_second_instance_refused_in_foreground(exampled, procs):
    exampled.write_config(greeting="first")
    _, pid = exampled.start()
    conf2 = exampled.write_config(path=exampled.dir / "second.conf", port=free_port())
    r = procs.run(exampled.args("-d", conf=conf2), timeout=20)
    assert r.rc != 0, r
    assert f"exampled: already running (pid {pid})" in r.err, r
    assert pid_alive(pid)
    assert read_pidfile(exampled.pidfile) == f"{pid}\n"


def _lock_is_free(path):
    """Whether nobody holds a lock on path: flock, or an OFD lock (which conflicts with the
    classic fcntl lock tried here). A lock obtained here is dropped at once by the close."""
    with open(path, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
    with open(path, "r+b") as f:
        try:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            return False
    return True


def test_pid_file_is_locked_for_the_daemons_life(exampled, procs):
    """A reader can tell the daemon runs by the lock on the file (flock or OFD lock), and the
    lock goes with the daemon."""
    exampled.write_config()
    _, pid = exampled.start()
    assert not _lock_is_free(exampled.pidfile), "the running daemon holds no lock on its pid file"
    assert fetch(exampled.port) == b"hello from exampled\n"
    assert not _lock_is_free(exampled.pidfile), "the lock was dropped after serving"
    os.kill(pid, 9)
    procs.wait_exit(pid)
    assert exampled.pidfile.exists()    # SIGKILL: nobody removed it
    assert _lock_is_free(exampled.pidfile)


def _dead_pid(procs):
    p = procs.popen(["/bin/true"])
    p.wait(timeout=10)
    assert not pid_alive(p.pid)
    return p.pid


@pytest.mark.parametrize("kind", ["dead-pid", "garbage", "empty", "long"])
def test_stale_pid_file_taken_over(exampled, procs, kind):
    content = {
        "dead-pid": f"{_dead_pid(procs)}\n",
        "garbage": "not a pid at all\n",
        "empty": "",
        "long": "4194303999999999\nwith a second line that is much longer than a pid\n",
    }[kind]
    exampled.pidfile.write_text(content)
    exampled.write_config(greeting="took over")
    r, pid = exampled.start()
    assert "already running" not in r.err, r
    assert read_pidfile(exampled.pidfile) == f"{pid}\n"
    assert fetch(exampled.port) == b"took over\n"


def test_stale_pid_file_naming_a_live_process_without_lock(exampled, procs):
    """A pid file naming a live process (pid reuse) but locked by nobody is stale too."""
    sleeper = procs.popen(["/bin/sleep", "60"])
    exampled.pidfile.write_text(f"{sleeper.pid}\n")
    exampled.write_config(greeting="mine now")
    r, pid = exampled.start()
    assert pid != sleeper.pid
    assert read_pidfile(exampled.pidfile) == f"{pid}\n"
    assert sleeper.poll() is None, "exampled did something to the process the stale file named"


def test_restart_after_stop(exampled, procs):
    exampled.write_config(greeting="one")
    _, pid1 = exampled.start()
    assert exampled.stop(pid1) in (0, None)
    wait_for(lambda: not exampled.pidfile.exists(), what="the pid file to go")
    exampled.write_config(greeting="two")
    _, pid2 = exampled.start()
    assert pid2 != pid1
    assert fetch(exampled.port) == b"two\n"


def test_simultaneous_starts_exactly_one_wins(exampled, procs):
    """Starts racing for one pid file: the lock is taken before forking, so exactly one
    succeeds and the others are refused -- never two daemons, never a torn pid file."""
    starters = []
    for n in range(4):
        conf = exampled.write_config(path=exampled.dir / f"race{n}.conf", greeting=f"racer {n}",
                                     port=free_port())
        starters.append(procs.spawn(exampled.args(conf=conf)))
    results = []
    for p, out, err in starters:
        results.append((p.wait(timeout=60), err.read_text()))
    winners = [r for r in results if r[0] == 0]
    assert len(winners) == 1, f"{len(winners)} starts succeeded: {results}"
    for rc, err in results:
        if rc != 0:
            assert "exampled: already running" in err, results
    content = read_pidfile(exampled.pidfile)
    assert content is not None and content.endswith("\n") and content[:-1].isdigit(), content
    pid = procs.adopt(int(content))
    assert pid_alive(pid)
    wait_for(lambda: procs.leftovers() == [pid], what="a single daemon to remain")
