#!/usr/bin/python3
"""Run portier's test suite: every cmocka unit binary, then the pytest e2e suite.

Prints each runner's own output, then one closing line with the totals:

    total: N passed, N failed, N skipped

and exits non-zero if anything failed or if no test ran at all.
"""

import argparse
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"  # Debian's, which sees python3-pytest


def run_unit(build):
    """Run each build/tests/test-* binary; return (passed, failed, skipped)."""
    tdir = os.path.join(build, "tests")
    bins = sorted(
        os.path.join(tdir, f) for f in os.listdir(tdir) if f.startswith("test-")
    ) if os.path.isdir(tdir) else []
    passed = failed = skipped = 0
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="STDOUT")
    for b in bins:
        try:
            p = subprocess.run([b], cwd=TOP, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
            out, rc = p.stdout, p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or "") + "\n[ TIMEOUT ]\n", -1
        n_pass = sum(int(m) for m in re.findall(r"^\[  PASSED  \] (\d+) test", out, re.M))
        n_fail = sum(int(m) for m in re.findall(r"^\[  FAILED  \] (\d+) test", out, re.M))
        n_skip = sum(int(m) for m in re.findall(r"^\[  SKIPPED \] (\d+) test", out, re.M))
        if rc != 0 and n_fail == 0:
            n_fail = 1  # crashed or timed out: count the binary as one failure
        passed, failed, skipped = passed + n_pass, failed + n_fail, skipped + n_skip
        name = os.path.basename(b)
        status = "ok" if rc == 0 else f"FAILED (exit {rc})"
        print(f"unit {name}: {n_pass} passed, {n_fail} failed  {status}")
        if rc != 0:
            sys.stdout.write(out)
    print(f"unit: {passed} passed, {failed} failed, {skipped} skipped")
    return passed, failed, skipped


def run_e2e(build, extra):
    """Run pytest on tests/e2e; return (passed, failed, skipped)."""
    xml = os.path.join(build, "e2e-results.xml")
    if os.path.exists(xml):
        os.unlink(xml)
    env = dict(os.environ, PORTIER_BUILD=os.path.abspath(build), PYTHONDONTWRITEBYTECODE="1")
    cmd = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs",
           f"--junitxml={xml}", os.path.join(TOP, "tests", "e2e")] + extra
    rc = subprocess.run(cmd, cwd=TOP, env=env).returncode
    if not os.path.exists(xml):
        return 0, 1, 0
    root = ET.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    tests = sum(int(s.get("tests", 0)) for s in suites)
    fail = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skip = sum(int(s.get("skipped", 0)) for s in suites)
    if rc not in (0, 5) and fail == 0:
        fail = 1
    return tests - fail - skip, fail, skip


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default="build")
    ap.add_argument("--unit-only", action="store_true")
    ap.add_argument("--e2e-only", action="store_true")
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()

    tp = tf = ts = 0
    if not a.e2e_only:
        p, f, s = run_unit(a.build)
        tp, tf, ts = tp + p, tf + f, ts + s
    if not a.unit_only:
        p, f, s = run_e2e(a.build, a.pytest_args)
        print(f"e2e: {p} passed, {f} failed, {s} skipped")
        tp, tf, ts = tp + p, tf + f, ts + s
    print(f"total: {tp} passed, {tf} failed, {ts} skipped")
    if tf:
        return 1
    if tp == 0:
        print("no test ran", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
