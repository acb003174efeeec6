"""access_times (FAIL <id> time), max_load (FAIL <id> load), and the order of the admission
checks when several would refuse the same connection: cps, max_load, access_times, -limit,
instances, then the address lists. Compatibility tests (xinetd too: it decides all but the
address lists in its parent, so those refusals are FAIL lines without START/EXIT there as well).

access_times windows are built around the daemon's current local time; the daemon runs with a
TZ of UTC+05:30 so that a daemon reading UTC instead of local time would be caught."""

import time

import pytest

from access_util import PORTIERD, Probe, loadavg1, recorder
from conftest import clean_env
from portierd_util import hold, need_portierd, server

pytestmark = pytest.mark.timeout(120)

TZ = "<+0530>-05:30"            # POSIX TZ: local time = UTC + 5:30
TZ_OFFSET = 5 * 3600 + 30 * 60


def _local_minute():
    t = time.gmtime(time.time() + TZ_OFFSET)
    return t.tm_hour * 60 + t.tm_min, t.tm_sec


def _hhmm(m):
    return f"{m // 60:02d}:{m % 60:02d}"


def _windows():
    """(inside, outside): ranges hh:mm-hh:mm around the daemon's local time now, every
    boundary at least two minutes away, none wrapping past midnight (xinetd rejects those)."""
    now, _ = _local_minute()
    if now < 3 or now > 24 * 60 - 8:
        pytest.skip("too close to midnight (local time of the test daemon) for clean windows")
    inside = f"{_hhmm(now - 2)}-{_hhmm(now + 2)}"
    after = f"{_hhmm(now + 3)}-{_hhmm(now + 6)}"
    before = f"{_hhmm(max(0, now - 30))}-{_hhmm(now - 3)}"
    return inside, after, before


def test_access_times(daemon, tmp_path):
    """Inside a window: served. Outside every window: FAIL <id> time, no server. Several
    ranges: any one of them admits."""
    inside, after, before = _windows()
    script, recorded = recorder(tmp_path)
    p_in = daemon.add("t_in", script, "t_in", access_times=inside)
    p_out = daemon.add("t_out", script, "t_out", access_times=f"{before} {after}")
    p_multi = daemon.add("t_multi", script, "t_multi", access_times=f"{after} {inside}")
    daemon.start(env=clean_env(TZ=TZ))
    p = Probe(daemon)
    p.admitted("t_in", p_in, "127.0.0.1")
    p.refused("t_out", p_out, "127.0.0.1", "time")
    p.refused("t_out", p_out, "127.0.0.2", "time")
    p.admitted("t_multi", p_multi, "127.0.0.2")
    p.check(recorded)


def test_access_times_past_midnight(daemon, tmp_path):
    """A range that wraps past midnight means what it says (portier; xinetd rejects it):
    "now-2min - now-5min" covers now, "now+3min - now-3min" does not."""
    need_portierd("xinetd rejects access_times ranges that wrap past midnight")
    now, _ = _local_minute()
    if now < 6 or now > 24 * 60 - 8:
        pytest.skip("too close to midnight (local time of the test daemon)")
    script, recorded = recorder(tmp_path)
    p_in = daemon.add("w_in", script, "w_in", access_times=f"{_hhmm(now - 2)}-{_hhmm(now - 5)}")
    p_out = daemon.add("w_out", script, "w_out",
                       access_times=f"{_hhmm(now + 3)}-{_hhmm(now - 3)}")
    daemon.start(env=clean_env(TZ=TZ))
    p = Probe(daemon)
    p.admitted("w_in", p_in, "127.0.0.1")
    p.refused("w_out", p_out, "127.0.0.1", "time")
    p.check(recorded)


def test_max_load(daemon, tmp_path):
    """max_load below the current 1-minute load average: FAIL <id> load; far above it:
    served."""
    load = loadavg1()
    if load < 0.02:
        pytest.skip(f"load average {load:.2f}: too low to be over any max_load")
    script, recorded = recorder(tmp_path)
    p_low = daemon.add("loaded", script, "loaded", max_load=f"{load / 4:.2f}")
    p_high = daemon.add("light", script, "light", max_load=f"{load + 1000:.2f}")
    daemon.start()
    p = Probe(daemon)
    p.refused("loaded", p_low, "127.0.0.1", "load")
    p.admitted("light", p_high, "127.0.0.1")
    p.refused("loaded", p_low, "127.0.0.2", "load")
    p.check(recorded)


def test_time_before_address(daemon, tmp_path):
    """Outside access_times and not in only_from: the reason is time (checked first)."""
    _, after, _ = _windows()
    script, recorded = recorder(tmp_path)
    port = daemon.add("t_addr", script, "t_addr", access_times=after, only_from="127.0.0.9")
    daemon.start(env=clean_env(TZ=TZ))
    p = Probe(daemon)
    p.refused("t_addr", port, "127.0.0.1", "time")
    p.refused("t_addr", port, "127.0.0.9", "time")
    p.check(recorded)


def test_load_before_time(daemon, tmp_path):
    load = loadavg1()
    if load < 0.02:
        pytest.skip(f"load average {load:.2f}: too low to be over any max_load")
    _, after, _ = _windows()
    script, recorded = recorder(tmp_path)
    port = daemon.add("l_t", script, "l_t", access_times=after, max_load=f"{load / 4:.2f}")
    daemon.start(env=clean_env(TZ=TZ))
    p = Probe(daemon)
    p.refused("l_t", port, "127.0.0.1", "load")
    p.check(recorded)


def test_instances_before_address(daemon):
    """At instances, a client the address lists refuse gets service_limit (xinetd: the parent
    refuses before the child would look at the address)."""
    port = daemon.add("i_a", server("hold.sh"), instances="1", only_from="127.0.0.1")
    daemon.start()
    s, pid = hold(port)
    p = Probe(daemon)
    p.expect("i_a", "START: i_a pid=P from=127.0.0.1")
    p.refused("i_a", port, "127.0.0.2", "service_limit")
    p.refused("i_a", port, "127.0.0.1", "service_limit")
    s.close()
    p.expect("i_a", "EXIT: i_a status=0 pid=P duration=D")
    p.refused("i_a", port, "127.0.0.2", "address")
    p.check()


def test_time_before_instances(daemon):
    _, after, _ = _windows()
    port = daemon.add("t_i", server("hold.sh"), instances="0", access_times=after)
    daemon.start(env=clean_env(TZ=TZ))
    p = Probe(daemon)
    p.refused("t_i", port, "127.0.0.1", "time")
    p.check()


def test_process_limit_and_instances(daemon):
    """-limit and instances both reached: instances is checked first (service_limit), as in
    xinetd 2.3.15 (access.c, parent_access_control)."""
    port = daemon.add("pl", server("hold.sh"), instances="1")
    daemon.start("-limit", "1")
    s, pid = hold(port)
    p = Probe(daemon)
    p.expect("pl", "START: pl pid=P from=127.0.0.1")
    p.refused("pl", port, "127.0.0.1", "service_limit")
    s.close()
    p.expect("pl", "EXIT: pl status=0 pid=P duration=D")
    p.check()
