"""Access rules across a reload (SIGHUP): new connections are admitted by the new rules,
on the same listening socket. Compatibility tests."""

import pytest

from access_util import Probe, recorder
from portierd_util import socket_inode

pytestmark = pytest.mark.timeout(120)


def test_reload_changes_address_rules(daemon, tmp_path):
    script, recorded = recorder(tmp_path)
    port = daemon.add("rl", script, "rl", only_from="127.0.0.2")
    daemon.start()
    inode = socket_inode(port)
    p = Probe(daemon)
    p.admitted("rl", port, "127.0.0.2")
    p.refused("rl", port, "127.0.0.3", "address")
    daemon.add("rl", script, "rl", only_from="127.0.0.3", no_access="127.0.0.2")
    daemon.reload()
    p.admitted("rl", port, "127.0.0.3")
    p.refused("rl", port, "127.0.0.2", "address")
    daemon.services["rl"]["attrs"].pop("only_from")
    daemon.services["rl"]["attrs"].pop("no_access")
    daemon.reload()
    p.admitted("rl", port, "127.0.0.2")
    p.admitted("rl", port, "127.0.0.9")
    p.check(recorded)
    assert socket_inode(port) == inode


def test_reload_adds_limits(daemon, tmp_path):
    """A reload that adds per_source and a banner_fail applies them to new connections."""
    from access_util import connect_from
    from portierd_util import read_line, server
    port = daemon.add("rl2", server("hold.sh"))
    daemon.start()
    p = Probe(daemon)
    fail = tmp_path / "fail.txt"
    fail.write_bytes(b"busy\n")
    daemon.add("rl2", server("hold.sh"), per_source="1", banner_fail=str(fail))
    daemon.reload()
    s = connect_from(port, "127.0.0.4")
    assert read_line(s).startswith("pid ")
    p.expect("rl2", "START: rl2 pid=P from=127.0.0.4")
    p.refused("rl2", port, "127.0.0.4", "per_source_limit", reply=b"busy\n")
    s.close()
    p.expect("rl2", "EXIT: rl2 status=0 pid=P duration=D")
    p.check()
