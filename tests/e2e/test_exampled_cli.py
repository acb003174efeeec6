"""exampled's command line: --version, --help, and refusing what it does not know."""

import re

import pytest


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(exampled, procs, flag):
    r = procs.run([exampled.bin, flag], timeout=20)
    assert r.rc == 0, r
    assert r.out == "exampled 0.1.0\n", r


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_every_option(exampled, procs, flag):
    r = procs.run([exampled.bin, flag], timeout=20)
    assert r.rc == 0, r
    assert re.search(r"usage", r.out, re.I), r
    for opt in ["-f", "--config", "-p", "--pidfile", "-d", "--foreground", "-u", "--umask",
                "-t", "--timeout", "-l", "--log", "--syslog-socket", "-h", "--help", "-V",
                "--version"]:
        assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", r.out), \
            f"--help does not mention {opt}: {r.out!r}"


@pytest.mark.parametrize("argv", [["--bogus"], ["-x"], ["-f"], ["--log", "nowhere"],
                                  ["-u", "99z"]])
def test_bad_command_line_is_refused(exampled, procs, argv):
    """Bad options fail at once, before anything is started, with a word on stderr."""
    r = procs.run([exampled.bin, *argv, "-p", exampled.pidfile], timeout=20)
    assert r.rc != 0, r
    assert r.err.strip(), f"nothing on stderr: {r!r}"
    assert not exampled.pidfile.exists(), "a pid file was written by a refused command line"
