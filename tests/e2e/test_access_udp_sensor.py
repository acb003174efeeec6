"""A datagram SENSOR service: the sender is put on the global deny list (and refused: FAIL
<id> address), after which TCP services refuse it too. Compatibility test."""

import socket

import pytest

from access_util import Probe, recorder

pytestmark = pytest.mark.timeout(120)


def test_udp_sensor(daemon, tmp_path):
    script, recorded = recorder(tmp_path)
    trap = daemon.add("utrap", "/bin/echo", "x", flags="SENSOR", deny_time="5",
                      socket_type="dgram", protocol="udp", wait="yes")
    svc = daemon.add("svc", script, "svc")
    daemon.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.8", 0))
        s.sendto(b"touch", ("127.0.0.1", trap))
    msg = daemon.wait_message("Adding 127.0.0.8 ")
    assert msg == "Adding 127.0.0.8 to the global_no_access list for 5 minutes", msg
    p = Probe(daemon)
    p.expect("utrap", "FAIL: utrap address from=127.0.0.8")
    p.refused("svc", svc, "127.0.0.8", "address")
    p.admitted("svc", svc, "127.0.0.9")
    p.check(recorded)
