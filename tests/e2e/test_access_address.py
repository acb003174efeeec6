"""only_from / no_access over real connections from chosen loopback sources (127.0.0.x, ::1):
every address form the parser accepts (dotted, trailing .0 wildcards, CIDR v4 and v6, plain
IPv6, factorized a.b.c.{x,y}, +=), "the more specific match wins", and an empty only_from.
Refused: FAIL <id> address from=<addr>, no server; portier logs no START/EXIT for it (xinetd
forks and logs START, FAIL, EXIT: DESIGN.md decision 4, accounted for by Probe). Where xinetd
gets the rule wrong (DESIGN.md decision 9), the expectation follows the daemon under test and
says so. Host names and .domain entries need reverse DNS, not done yet: not tested here."""

import pytest

from access_util import PORTIERD, Probe, recorder
from conftest import have_ipv6_loopback
from portierd_util import need_portierd

pytestmark = pytest.mark.timeout(120)

# sid -> (attributes, [(source, admitted?)])
V4_RULES = {
    "dotted": ({"only_from": "127.0.0.2"},
               [("127.0.0.2", True), ("127.0.0.1", False), ("127.0.0.3", False)]),
    "wild8": ({"only_from": "127.0.0.0"},            # trailing .0 parts: 127.0.0.0/8
              [("127.0.0.1", True), ("127.0.0.2", True), ("127.1.2.3", True)]),
    "wild16": ({"only_from": "127.5.0.0"},           # 127.5.0.0/16
               [("127.5.1.1", True), ("127.5.200.9", True), ("127.0.0.1", False),
                ("127.6.0.1", False)]),
    "cidr": ({"only_from": "127.0.0.0/30"},
             [("127.0.0.1", True), ("127.0.0.3", True), ("127.0.0.4", False)]),
    "fact": ({"only_from": "127.0.0.{1,3}"},
             [("127.0.0.1", True), ("127.0.0.3", True), ("127.0.0.2", False)]),
    "multi": ({"only_from": "127.0.0.1 127.0.0.4", "only_from+": "127.0.0.6"},
              [("127.0.0.4", True), ("127.0.0.6", True), ("127.0.0.1", True),
               ("127.0.0.5", False)]),
    "noacc": ({"no_access": "127.0.0.3"},
              [("127.0.0.3", False), ("127.0.0.1", True), ("127.0.0.2", True)]),
    "noacc_cidr": ({"no_access": "127.0.0.0/24"},
                   [("127.0.0.5", False), ("127.0.1.1", True)]),
    "noacc_fact": ({"no_access": "127.0.{0,1}"},        # 127.0.0.0/24 and 127.0.1.0/24
                   [("127.0.1.7", False), ("127.0.0.7", False), ("127.0.2.7", True)]),
    # the more specific match wins: the host beats the network
    "specific": ({"only_from": "127.0.0.0/8", "no_access": "127.0.0.1"},
                 [("127.0.0.1", False), ("127.0.0.2", True)]),
    "specific24": ({"only_from": "127.0.0.0/24", "no_access": "127.0.0.0/8"},
                   [("127.0.0.9", None), ("127.9.0.1", False)]),
    "nobody": ({"only_from": ""}, [("127.0.0.1", False), ("127.0.0.2", False)]),
    "everyone": ({"only_from": "0.0.0.0"}, [("127.0.0.1", True), ("127.200.0.1", True)]),
    "host32": ({"only_from": "127.0.0.2/32"}, [("127.0.0.2", True), ("127.0.0.3", False)]),
    "minus": ({"only_from": "127.0.0.1 127.0.0.2", "only_from-": "127.0.0.2"},
              [("127.0.0.1", True), ("127.0.0.2", False)]),
    "noacc_minus": ({"no_access": "127.0.0.1 127.0.0.2", "no_access-": "127.0.0.1"},
                    [("127.0.0.1", True), ("127.0.0.2", False)]),
}


def _expect_specific24():
    # only_from = 127.0.0.0/24 with no_access = 127.0.0.0/8: 127.0.0.9 matches both lists,
    # only_from more specifically. The manual and portier: admitted. xinetd 2.3.15 refuses
    # any client both lists match (access.h, "match equally").
    return PORTIERD


def _run(daemon, tmp_path, rules, host=None):
    script, recorded = recorder(tmp_path)
    ports = {sid: daemon.add(sid, script, sid, **attrs, **({"bind": host} if host else {}))
             for sid, (attrs, _) in rules.items()}
    daemon.start()
    p = Probe(daemon)
    for sid, (_, cases) in rules.items():
        for src, ok in cases:
            if ok is None:
                ok = _expect_specific24()
            if ok:
                p.admitted(sid, ports[sid], src)
            else:
                p.refused(sid, ports[sid], src, "address")
    p.check(recorded)


def test_ipv4_forms(daemon, tmp_path):
    """Dotted, .0 wildcards, CIDR, factorized, several entries and +=, no_access alone, the
    more specific match winning, an empty only_from."""
    _run(daemon, tmp_path, V4_RULES)


def test_more_specific_only_from_host_wins(daemon, tmp_path):
    """only_from = 127.0.0.1 with no_access = 127.0.0.0/8: the host entry is the better match,
    so 127.0.0.1 is admitted (xinetd.conf(5); DESIGN.md decision 9). xinetd 2.3.15 refuses it
    ("only_from list and no_access list match equally"): a documented difference."""
    rules = {"hostwins": ({"only_from": "127.0.0.1", "no_access": "127.0.0.0/8"},
                          [("127.0.0.1", PORTIERD), ("127.0.0.2", False)])}
    _run(daemon, tmp_path, rules)


def test_entry_order_does_not_matter(daemon, tmp_path):
    """The best match of each list counts, wherever it is in the list: 127.0.0.7 is matched
    by only_from's second entry (a host) better than by no_access's /24. (xinetd 2.3.15 refuses
    any client both lists match: the documented difference of the test above.)"""
    rules = {"order": ({"only_from": "127.0.0.0/8 127.0.0.7", "no_access": "127.0.0.0/24"},
                       [("127.0.0.7", PORTIERD), ("127.0.0.8", False), ("127.0.1.8", True)])}
    _run(daemon, tmp_path, rules)


V6_RULES = {
    "v6plain": ({"only_from": "::1"}, [("::1", True)]),
    "v6cidr": ({"only_from": "::/64"}, [("::1", True)]),
    "v6other": ({"only_from": "2001:db8::/32"}, [("::1", False)]),
    "v6host": ({"only_from": "2001:db8::1"}, [("::1", False)]),
    "v6v4only": ({"only_from": "127.0.0.1"}, [("::1", False)]),   # IPv4 entry, IPv6 client
    "v6noacc": ({"no_access": "::1"}, [("::1", False)]),
    "v6noacc_cidr": ({"no_access": "::/96"}, [("::1", False)]),
    "v6specific": ({"only_from": "::/0", "no_access": "::1"}, [("::1", False)]),
    "v6nobody": ({"only_from": ""}, [("::1", False)]),
}


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_forms(daemon, tmp_path):
    """Plain IPv6 and IPv6 CIDR entries against an IPv6 client (::1, on a service bound to
    ::1); an IPv4 entry never matches a native IPv6 client."""
    _run(daemon, tmp_path, V6_RULES, host="::1")


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_host_prefix_128(daemon, tmp_path):
    """only_from = ::1/128 lets ::1 in (portier, following the manual). xinetd 2.3.15 reads a
    /128 as a host name that never matches and refuses ::1: a documented difference."""
    rules = {"v6128": ({"only_from": "::1/128"}, [("::1", PORTIERD)]),
             "v6no128": ({"no_access": "::1/128"}, [("::1", not PORTIERD)])}
    _run(daemon, tmp_path, rules, host="::1")


def test_v4_mapped_client_matched_as_ipv4(daemon, tmp_path):
    """A v4-mapped client on a dual-stack socket is matched by IPv4 entries and logged as IPv4
    (portier only: xinetd cannot bind ::ffff:127.0.0.1, see test_portierd_ipv6.py)."""
    need_portierd("xinetd cannot bind a v4-mapped address")
    if not have_ipv6_loopback():
        pytest.skip("no IPv6")
    script, recorded = recorder(tmp_path)
    common = {"bind": "::ffff:127.0.0.1", "flags": "IPv6", "v6only": "no"}
    p_allow = daemon.add("m_allow", script, "m_allow", only_from="127.0.0.2", **common)
    p_deny = daemon.add("m_deny", script, "m_deny", no_access="127.0.0.0/24", **common)
    daemon.start()
    p = Probe(daemon)
    p.admitted("m_allow", p_allow, "127.0.0.2", host="127.0.0.1")
    p.refused("m_allow", p_allow, "127.0.0.3", "address", host="127.0.0.1")
    p.refused("m_deny", p_deny, "127.0.0.4", "address", host="127.0.0.1")
    p.admitted("m_deny", p_deny, "127.0.1.4", host="127.0.0.1")
    p.check(recorded)


def test_refusal_without_log_on_failure(daemon, tmp_path):
    """An address refusal with an empty log_on_failure writes no FAIL line (and no START in
    portier), and still starts no server."""
    script, recorded = recorder(tmp_path)
    port = daemon.add("quietacc", script, "quietacc", only_from="127.0.0.2", log_on_failure="")
    daemon.start()
    p = Probe(daemon)
    p.admitted("quietacc", port, "127.0.0.2")
    from access_util import exchange
    assert exchange(port, "127.0.0.3") == b""
    p.admitted("quietacc", port, "127.0.0.2")
    if PORTIERD:
        p.check(recorded)
    else:
        # xinetd's child logs START and EXIT for the refused client, without a FAIL line
        got = [line for line in p.d.log() if line.startswith("START:")]
        assert len(got) == 3, p.d.log()


def test_defaults_lists(daemon, tmp_path):
    """only_from/no_access in `defaults`: a service without its own list takes the default
    one, a service's `=` replaces it, `+=` adds to it (xinetd's behaviour, observed)."""
    script, recorded = recorder(tmp_path)
    daemon.defaults["no_access"] = "127.0.0.66"
    daemon.defaults["only_from"] = "127.0.0.0/8"
    srcs = ("127.0.0.66", "127.0.0.77", "127.0.0.5", "127.0.0.9")
    table = {   # sid: (attributes, admitted sources)
        "plain": ({}, {"127.0.0.77", "127.0.0.5", "127.0.0.9"}),
        "ownna": ({"no_access": "127.0.0.77"}, {"127.0.0.66", "127.0.0.5", "127.0.0.9"}),
        "plusna": ({"no_access+": "127.0.0.77"}, {"127.0.0.5", "127.0.0.9"}),
        "ownof": ({"only_from": "127.0.0.5"}, {"127.0.0.5"}),
        "plusof": ({"only_from+": "10.0.0.1"}, {"127.0.0.77", "127.0.0.5", "127.0.0.9"}),
    }
    rules = {sid: (attrs, [(src, src in ok) for src in srcs])
             for sid, (attrs, ok) in table.items()}
    _run(daemon, tmp_path, rules)
