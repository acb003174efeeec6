"""type = UNLISTED and the /etc/services check, as xinetd does it: a service that is not
UNLISTED takes its port from /etc/services and is refused when its `port` says otherwise or
when its name/protocol is not listed; an UNLISTED one needs a `port`; an UNLISTED service may
use a listed name on another port; a built-in named in /etc/services follows the same rules.
Compatibility tests (xinetd too)."""

from conftest import port_refuses
from builtin_util import add_builtin
from portierd_util import connect, listening, read_all


def _plain(daemon, sid, name, unlisted, **attrs):
    port = daemon.add(sid, "/bin/echo", sid, _name=name, **attrs)
    if not unlisted:
        daemon.services[sid]["attrs"].pop("type")
    return port


def test_services_port_check(daemon):
    wrong = _plain(daemon, "ftp", "ftp", False)                 # listed as 21
    unknown = _plain(daemon, "nosuch", "nosuchsvcname", False)
    ok = _plain(daemon, "telnet-here", "telnet", True)           # UNLISTED: any port
    daemon.add("lonely", "/bin/echo", "x")
    daemon.services["lonely"]["attrs"].pop("port")
    daemon.start()
    with connect(ok) as s:
        assert read_all(s) == b"telnet-here\n"
    assert port_refuses(wrong) and port_refuses(unknown)
    msgs = "\n".join(daemon.messages())
    assert "expects port 21" in msgs and f"not {wrong}" in msgs, msgs
    assert "nosuchsvcname/tcp" in msgs and "not in /etc/services" in msgs, msgs
    assert "lonely" in msgs, msgs


def test_listed_builtin_with_the_wrong_port(daemon):
    """daytime is 13 in /etc/services: without UNLISTED, another port is refused."""
    port = add_builtin(daemon, "daytime", type="INTERNAL")
    good = add_builtin(daemon, "echo")
    daemon.start()
    assert not listening(port)
    assert listening(good)
    assert "expects port 13" in "\n".join(daemon.messages())
