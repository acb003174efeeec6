"""Helpers for the configuration tests (test_conf*.py): the corpus and portierd -n / --dump-config.

The corpus lives in tests/conf/: valid/*.conf must pass `portierd -n`; invalid/*.conf must fail
it and print every line given in a `# expect: LINE` comment, where {file} stands for the path
passed to -f. A valid file whose first lines contain `portier-only` uses what xinetd does not
read (portier's own attributes, or xinetd-rejected forms portier accepts) and is left out of
the xinetd comparison.
"""

import os
import re
import subprocess
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
CORPUS = TOP / "tests" / "conf"


def build_dir():
    return Path(os.environ.get("PORTIER_BUILD", TOP / "build"))


def portierd():
    return str(build_dir() / "portierd")


def run(args, cwd=None, timeout=60):
    """Run portierd with args; return the CompletedProcess (text)."""
    return subprocess.run([portierd()] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def check(path, cwd=None):
    return run(["-n", "-f", str(path)], cwd=cwd)


def dump(path, cwd=None):
    return run(["--dump-config", "-f", str(path)], cwd=cwd)


def valid_files():
    return sorted((CORPUS / "valid").glob("*.conf"))


def invalid_files():
    return sorted((CORPUS / "invalid").glob("*.conf"))


def expected_lines(path, shown):
    """The `# expect:` lines of a corpus file, with {file} replaced by `shown`."""
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"^# expect: (.*)$", line)
        if m:
            out.append(m.group(1).replace("{file}", shown))
    return out


def portier_only(path):
    head = path.read_text().splitlines()[:3]
    return any("portier-only" in line for line in head)


def dump_counts(text):
    """(total, active, disabled, skipped) from the --dump-config header."""
    m = re.search(r"(\d+) services \((\d+) active, (\d+) disabled, (\d+) skipped\)", text)
    assert m, text[:200]
    return tuple(int(x) for x in m.groups())


def strip_positions(text):
    """A dump without its header and '# file:line' comments, for comparing two dumps."""
    return "\n".join(line for line in text.splitlines()
                     if not line.startswith("# ")) + "\n"
