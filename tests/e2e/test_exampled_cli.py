"""exampled's command line: --version, --help, and refusing what it does not know."""

import pytest


@pytest.mark.parametrize("argv", [["--bogus"], ["-x"], ["-f"], ["--log", "nowhere"],
                                  ["-u", "99z"]])
def test_bad_command_line_is_refused(exampled, procs, argv):
    """Bad options fail at once, before anything is started, with a word on stderr."""
    r = procs.run([exampled.bin, *argv, "-p", exampled.pidfile], timeout=20)
    assert r.rc != 0, r
    assert r.err.strip(), f"nothing on stderr: {r!r}"
    assert not exampled.pidfile.exists(), "a pid file was written by a refused command line"
