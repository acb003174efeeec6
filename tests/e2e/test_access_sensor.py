"""flags = SENSOR with deny_time: a client touching the sensor is refused (FAIL <sensor id>
address) and put on the global deny list (daemon message, at crit: "Adding <addr> to the
global_no_access list for <N> minutes"); from then on every service refuses that address
(FAIL <id> address) while other addresses are served. deny_time = NEVER adds nothing.
Compatibility tests (xinetd refuses the sensor's client in its parent, FAIL only, but decides
the global list for the other services in its forked child: START, FAIL, EXIT, as for only_from
— Probe accounts for it). deny_time is in minutes: expiry is not waited for."""

import pytest

from access_util import Probe, recorder
from conftest import have_ipv6_loopback

pytestmark = pytest.mark.timeout(120)


def _adding(daemon, addr):
    return [m for m in daemon.messages() if f"Adding {addr} to the global_no_access list" in m]


def _sensor(daemon, sid, deny_time):
    return daemon.add(sid, "/bin/echo", sid, flags="SENSOR", deny_time=deny_time)


def test_sensor_denies_everywhere(daemon, tmp_path):
    script, recorded = recorder(tmp_path)
    trap = _sensor(daemon, "trap", "5")
    svc = daemon.add("svc", script, "svc")
    svc2 = daemon.add("svc2", script, "svc2", only_from="127.0.0.0/8")
    daemon.start()
    p = Probe(daemon)
    p.admitted("svc", svc, "127.0.0.2")
    p.refused("trap", trap, "127.0.0.2", "address", xinetd_child=False)
    msg = daemon.wait_message("Adding 127.0.0.2 ")
    assert msg == "Adding 127.0.0.2 to the global_no_access list for 5 minutes", msg
    p.refused("svc", svc, "127.0.0.2", "address")
    p.refused("svc2", svc2, "127.0.0.2", "address")
    p.admitted("svc", svc, "127.0.0.3")
    p.admitted("svc2", svc2, "127.0.0.3")
    p.refused("svc", svc, "127.0.0.2", "address")
    p.check(recorded)            # the sensor never started its server: no START: trap


def test_sensor_again_and_second_address(daemon, tmp_path):
    """Touching the sensor again is refused again; a second address is added on its own."""
    script, recorded = recorder(tmp_path)
    trap = _sensor(daemon, "trap", "5")
    svc = daemon.add("svc", script, "svc")
    daemon.start()
    p = Probe(daemon)
    p.refused("trap", trap, "127.0.0.6", "address", xinetd_child=False)
    daemon.wait_message("Adding 127.0.0.6 ")
    p.refused("trap", trap, "127.0.0.6", "address", xinetd_child=False)
    p.admitted("svc", svc, "127.0.0.7")
    p.refused("trap", trap, "127.0.0.7", "address", xinetd_child=False)
    daemon.wait_message("Adding 127.0.0.7 ")
    p.refused("svc", svc, "127.0.0.7", "address")
    p.refused("svc", svc, "127.0.0.6", "address")
    p.admitted("svc", svc, "127.0.0.8")
    p.check(recorded)
    assert len(_adding(daemon, "127.0.0.7")) == 1, daemon.messages()


def test_sensor_never(daemon, tmp_path):
    """deny_time = NEVER: the sensor refuses the connection but adds nobody to the list."""
    script, recorded = recorder(tmp_path)
    trap = _sensor(daemon, "never", "NEVER")
    svc = daemon.add("svc", script, "svc")
    daemon.start()
    p = Probe(daemon)
    p.refused("never", trap, "127.0.0.4", "address", xinetd_child=False)
    p.admitted("svc", svc, "127.0.0.4")
    p.check(recorded)
    assert not _adding(daemon, "127.0.0.4"), daemon.messages()


def test_sensor_forever(daemon, tmp_path):
    """deny_time = FOREVER: added (xinetd's text says "for -1 minutes") and refused after."""
    script, recorded = recorder(tmp_path)
    trap = _sensor(daemon, "forever", "FOREVER")
    svc = daemon.add("svc", script, "svc")
    daemon.start()
    p = Probe(daemon)
    p.refused("forever", trap, "127.0.0.5", "address", xinetd_child=False)
    msg = daemon.wait_message("Adding 127.0.0.5 ")
    assert msg == "Adding 127.0.0.5 to the global_no_access list for -1 minutes", msg
    p.refused("svc", svc, "127.0.0.5", "address")
    p.admitted("svc", svc, "127.0.0.1")
    p.check(recorded)


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_sensor_ipv6(daemon, tmp_path):
    """An IPv6 client touching an IPv6 sensor is denied on the IPv6 services."""
    script, recorded = recorder(tmp_path)
    trap = daemon.add("trap6", "/bin/echo", "trap6", flags="SENSOR", deny_time="5", bind="::1")
    svc = daemon.add("svc6", script, "svc6", bind="::1")
    daemon.start()
    p = Probe(daemon)
    p.admitted("svc6", svc, "::1")
    p.refused("trap6", trap, "::1", "address", xinetd_child=False)
    msg = daemon.wait_message("Adding ::1 ")
    assert msg == "Adding ::1 to the global_no_access list for 5 minutes", msg
    p.refused("svc6", svc, "::1", "address")
    p.check(recorded)


def test_sensor_applies_to_v4_mapped_clients(daemon, tmp_path):
    """An IPv4 address on the deny list is refused on a dual-stack service too, where it
    arrives v4-mapped (and is logged as plain IPv4). Portier only: xinetd cannot bind a
    v4-mapped address (test_portierd_ipv6.py)."""
    from portierd_util import need_portierd
    need_portierd("xinetd cannot bind ::ffff:127.0.0.1")
    if not have_ipv6_loopback():
        pytest.skip("no IPv6")
    script, recorded = recorder(tmp_path)
    trap = daemon.add("trap", "/bin/echo", "x", flags="SENSOR", deny_time="5")
    dual = daemon.add("dual", script, "dual", bind="::ffff:127.0.0.1", flags="IPv6",
                      v6only="no")
    daemon.start()
    p = Probe(daemon)
    p.refused("trap", trap, "127.0.0.5", "address")
    daemon.wait_message("Adding 127.0.0.5 ")
    p.refused("dual", dual, "127.0.0.5", "address", host="127.0.0.1")
    p.admitted("dual", dual, "127.0.0.6", host="127.0.0.1")
    p.check(recorded)
