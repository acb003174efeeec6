"""The file log target: 'Mmm dd hh:mm:ss exampled[pid]: msg' lines appended to a file, by the
foreground daemon and by the detached one."""

import os
import signal

import pytest

from conftest import FILELOG_RE, stamp_is_now, wait_for


def _file_lines(path):
    try:
        return path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("foreground", [False, True])
def test_file_target(exampled, procs, foreground):
    log = exampled.dir / "exampled.log"
    log.write_text("an older line\n")
    exampled.write_config()
    if foreground:
        p, out, err = exampled.popen("-l", f"file:{log}")
        pid = p.pid
    else:
        _, pid = exampled.start("-l", f"file:{log}")
    want = f"started, listening on 127.0.0.1:{exampled.port}"
    wait_for(lambda: any(want in line for line in _file_lines(log)), what=f"{want!r} in {log}")
    lines = _file_lines(log)
    assert lines[0] == "an older line\n", "the log file was not appended to"
    started = [line for line in lines if want in line][0]
    assert started.endswith("\n")
    m = FILELOG_RE.fullmatch(started[:-1])
    assert m, f"not a 'Mmm dd hh:mm:ss exampled[pid]: msg' line: {started!r}"
    assert m["ident"] == "exampled" and int(m["pid"]) == pid and m["msg"] == want, started
    assert stamp_is_now(m), started

    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: f"exampled[{pid}]: stopping\n" in "".join(_file_lines(log)),
             what="'stopping' in the log file")
    if foreground:
        assert p.wait(timeout=10) == 0
