"""portierd and xinetd read the valid corpus the same way.

For each file of tests/conf/valid/ that xinetd can read (not marked portier-only), xinetd 2.3.15
is started on it for a moment: it must report no "bad service attribute", no DISABLING, no
parse error, and start as many services as portierd has active ones (services xinetd could
not bind are counted as started: binding is not parsing). Every line xinetd warns about gets a
portier warning too. Skipped when xinetd is not installed (Debian package xinetd).
"""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from confutil import check, dump, dump_counts, portier_only, valid_files

XINETD = shutil.which("xinetd") or ("/usr/sbin/xinetd" if os.path.exists("/usr/sbin/xinetd")
                                    else None)
pytestmark = pytest.mark.skipif(XINETD is None, reason="xinetd is not installed")

COMPARABLE = [p for p in valid_files() if not portier_only(p)]
BAD = re.compile(r"bad service attribute|DISABLING|missing attribute|Error parsing|"
                 r"should not be in default section|Bad .* flag|bad log|unknown")


def run_xinetd(conf, tmp_path):
    """Start xinetd on conf, wait for "Started working", stop it; return its log lines."""
    log = tmp_path / "xinetd.log"
    log.write_text("")
    proc = subprocess.Popen([XINETD, "-f", str(conf), "-dontfork", "-filelog", str(log),
                             "-pidfile", str(tmp_path / "xinetd.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            text = log.read_text()
            if "Started working" in text or proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    return log.read_text().splitlines()


@pytest.mark.parametrize("path", COMPARABLE, ids=lambda p: p.name)
def test_xinetd_reads_the_same(path, tmp_path):
    lines = run_xinetd(path, tmp_path)
    text = "\n".join(lines)
    started = re.search(r"Started working: (\d+) available service", text)
    assert started, text
    bad = [line for line in lines if BAD.search(line)]
    assert not bad, "\n".join(bad)
    not_bound = len(re.findall(r"failed to start and is deactivated", text))

    p = dump(path)
    assert p.returncode == 0, p.stderr
    _, active, _, skipped = dump_counts(p.stdout)
    assert skipped == 0
    assert active == int(started.group(1)) + not_bound, text

    # every line xinetd warns about, portier warns about too
    xlines = {int(m.group(1)) for m in re.finditer(r"\[line=(\d+)\]", text)}
    c = check(path)
    plines = {int(m.group(1)) for m in re.finditer(r"^[^:]+:(\d+)[:\s]", c.stderr, re.M)}
    assert xlines <= plines, (sorted(xlines), c.stderr)


def test_comparable_corpus_is_not_empty():
    assert len(COMPARABLE) >= 8


@pytest.mark.skipif(not os.path.exists("/etc/xinetd.conf"), reason="no /etc/xinetd.conf")
def test_system_xinetd_conf_passes():
    """This machine's own /etc/xinetd.conf (and its includedir) is read without error."""
    p = check("/etc/xinetd.conf")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "configuration OK\n"
