"""Name-based address rules: host names in only_from/no_access (resolved when the
configuration is loaded) and `.domain` entries (matched by a reverse lookup of the client,
off portier's event loop). Name resolution is controlled: each test runs in private network
and mount namespaces (this file, run as a script under `unshare -n -m`) where /etc/hosts is
ours and nsswitch.conf says "hosts: files". The scenario drives the connections with Probe
and its assertions fail the test (the traceback is in the assertion message). Compatibility
tests: xinetd checks these rules in its forked child (START, FAIL, EXIT), and refuses any
client both lists match, where portier lets the more specific match win (DESIGN.md 9)."""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import pytest  # noqa: E402

from access_util import (PORTIERD, Probe, netns_daemon, netns_hosts, netns_usable,  # noqa: E402
                         recorder, run_in_netns)

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not netns_usable(), reason="needs root, unshare and ip")]

HOSTS = [
    "127.0.0.1 localhost",
    "127.0.0.2 host2.example.org",
    "127.0.0.3 host3.other.net",
    "127.0.0.5 x.bad.example.org",
    "127.0.0.6 host6.example.org",
    "127.0.0.7 host7.example.org",
    "127.0.0.8 Host8.Example.ORG",
    # 127.0.0.4 has no name
]

# sid -> (attributes, [(source, admitted?)])
RULES = {
    "dom": ({"only_from": ".example.org"},
            [("127.0.0.2", True), ("127.0.0.3", False), ("127.0.0.4", False),
             ("127.0.0.8", True)]),
    "nodom": ({"no_access": ".other.net"},
              [("127.0.0.3", False), ("127.0.0.2", True), ("127.0.0.4", True)]),
    "host": ({"only_from": "host6.example.org"},
             [("127.0.0.6", True), ("127.0.0.7", False)]),
    "nohost": ({"no_access": "host7.example.org"},
               [("127.0.0.7", False), ("127.0.0.6", True)]),
    # the more specific match wins: a host beats a domain, a domain beats a network, a
    # longer domain beats a shorter one (xinetd: refused whenever both lists match)
    "dom_host": ({"only_from": ".example.org", "no_access": "127.0.0.2"},
                 [("127.0.0.2", False), ("127.0.0.6", True)]),
    "net_dom": ({"only_from": "127.0.0.0/8", "no_access": ".other.net"},
                [("127.0.0.3", False), ("127.0.0.2", True)]),
    "dom_dom": ({"only_from": ".example.org", "no_access": ".bad.example.org"},
                [("127.0.0.5", False), ("127.0.0.6", True)]),
    "dom_net": ({"only_from": ".example.org", "no_access": "127.0.0.0/8"},
                [("127.0.0.2", PORTIERD), ("127.0.0.3", False)]),
}


def scenario_names(tmp):
    netns_hosts(tmp, HOSTS)
    d, procs = netns_daemon(tmp)
    out = {}
    try:
        script, recorded = recorder(tmp)
        ports = {sid: d.add(sid, script, sid, **attrs) for sid, (attrs, _) in RULES.items()}
        d.start()
        p = Probe(d)
        for sid, (_, cases) in RULES.items():
            for src, ok in cases:
                if ok:
                    p.admitted(sid, ports[sid], src)
                else:
                    p.refused(sid, ports[sid], src, "address")
        p.check(recorded)
        out["sanitizer"] = d.sanitizer_reports()
    finally:
        d.teardown()
        procs.cleanup()
    (Path(tmp) / "result.json").write_text(json.dumps(out))


def test_name_rules(procs, tmp_path):
    run_in_netns(procs, tmp_path, __file__, "names", mounts=True)


if __name__ == "__main__":
    {"names": scenario_names}[sys.argv[1]](sys.argv[2])
