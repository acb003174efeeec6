"""Banners on a SENSOR service: xinetd 2.3.15 sends the sensor's `banner` and `banner_fail`
to the client that touches it (observed); so must portier ("banner = FILE sent to every
client, refused ones too"). Compatibility test."""

import pytest

from access_util import Probe, recorder
from test_access_banner import B, NO, OK, _banners

pytestmark = pytest.mark.timeout(120)


def test_banners_and_sensor(daemon, tmp_path):
    """The client touching a SENSOR service gets its banner and banner_fail; a service
    refusing the sensed address (global deny list) sends its own."""
    files = _banners(tmp_path)
    script, recorded = recorder(tmp_path)
    trap = daemon.add("b_trap", "/bin/echo", "x", flags="SENSOR", deny_time="5", **files)
    svc = daemon.add("b_svc", script, "b_svc", **files)
    daemon.start()
    p = Probe(daemon)
    p.refused("b_trap", trap, "127.0.0.9", "address", reply=B + NO, xinetd_child=False)
    daemon.wait_message("Adding 127.0.0.9 ")
    p.refused("b_svc", svc, "127.0.0.9", "address", reply=B + NO)
    p.admitted("b_svc", svc, "127.0.0.8", reply=B + OK + b"b_svc\n")
    p.check(recorded)
