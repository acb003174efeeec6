"""log_on_failure = USERID and a refusal by only_from/no_access: xinetd decides it in its
forked child and asks no identd (observed, and documented in src/daemon/ident.h: "Refusals by
only_from/no_access ... make no lookup at all"), so no USERID line follows the FAIL line.
Runs test_access_ident.py's "failure_child_side" scenario in a network namespace."""

import pytest

from access_util import netns_usable, run_in_netns
from test_access_ident import HERE

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not netns_usable(), reason="needs root, unshare and ip")]


def test_no_userid_after_address_refusal(procs, tmp_path):
    out = run_in_netns(procs, tmp_path, str(HERE / "test_access_ident.py"), "failure_child_side")
    assert out["replies"]["addr"] == "", out["replies"]
    lines = [x for x in out["log"] if x.split()[1:2] == ["addr"]]
    assert "FAIL: addr address from=127.0.0.1" in lines, out["log"]
    assert not [x for x in lines if x.startswith("USERID:")], out["log"]
