"""max_load refusal: besides FAIL <id> load in the service's log, xinetd writes the daemon
message "refused connect from <addr> due to excessive load" (LOG_ERR; src/access.c,
documented in src/daemon/loadavg.h). Compatibility test."""

import pytest

from access_util import Probe, loadavg1, recorder

pytestmark = pytest.mark.timeout(120)


def test_load_refusal_daemon_message(daemon, tmp_path):
    load = loadavg1()
    if load < 0.02:
        pytest.skip(f"load average {load:.2f}: too low to be over any max_load")
    script, recorded = recorder(tmp_path)
    port = daemon.add("loaded", script, "loaded", max_load=f"{load / 4:.2f}")
    daemon.start()
    p = Probe(daemon)
    p.refused("loaded", port, "127.0.0.3", "load")
    p.check(recorded)
    msg = daemon.wait_message("due to excessive load")
    assert msg == "refused connect from 127.0.0.3 due to excessive load", msg
