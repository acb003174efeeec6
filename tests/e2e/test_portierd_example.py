"""The `make run` demo: examples/portier.conf, with @EXAMPLES@ filled in as the Makefile does
(and its fixed ports swapped for free ones), served by portierd in the foreground (-dontfork),
printing where it listens and the connection log lines on standard error."""

import re
import signal
import socket
from pathlib import Path

from conftest import TOP, fetch, free_port, wait_for
from portierd_util import STAMP_RE, need_portierd, udp_ask


def test_make_run_config(portierd_bin, procs, tmp_path):
    need_portierd("the demo is portierd's")
    text = (TOP / "examples" / "portier.conf").read_text()
    text = text.replace("@EXAMPLES@", str(TOP / "examples"))
    ports = {}
    for old in re.findall(r"^\s*port\s*=\s*(\d+)\s*$", text, re.M):
        if "udp" in text.split(f"= {old}")[0].rsplit("service", 1)[1]:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                ports[old] = s.getsockname()[1]
        else:
            ports[old] = free_port()
        text = re.sub(rf"(^\s*port\s*=\s*){old}\s*$", rf"\g<1>{ports[old]}", text, flags=re.M)
    assert len(ports) == 5, text
    hello, date, upper, echo, redirect = (ports[k] for k in sorted(ports))
    text = text.replace("redirect    = 127.0.0.1 7071", f"redirect    = 127.0.0.1 {hello}")
    conf = tmp_path / "portier.conf"
    conf.write_text(text)
    p, out, err = procs.spawn([portierd_bin, "-dontfork", "-f", conf,
                               "-pidfile", tmp_path / "portierd.pid"])
    wait_for(lambda: "Started working" in err.read_text() or p.poll() is not None,
             what="portierd to start working")
    assert p.poll() is None, err.read_text()
    for sid, port, proto in (("hello", hello, "tcp"), ("date", date, "tcp"),
                             ("upper", upper, "udp"), ("echo-stream", echo, "tcp"),
                             ("to-hello", redirect, "tcp")):
        assert f"service '{sid}': listening on 127.0.0.1:{port}/{proto}" in err.read_text()

    assert fetch(hello) == b"hello from portierd\n"
    assert re.fullmatch(rb"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\n", fetch(date))
    assert udp_ask(upper, b"shout") == b"SHOUT"
    with socket.create_connection(("127.0.0.1", echo), timeout=5) as s:
        s.sendall(b"ping\n")
        assert s.recv(64) == b"ping\n"
    assert fetch(redirect) == b"hello from portierd\n"

    def lines():
        return [m.group(7) for m in map(STAMP_RE.fullmatch, err.read_text().splitlines()) if m]
    wait_for(lambda: any(x.startswith("EXIT: hello status=0 pid=") for x in lines()),
             what="the hello EXIT line on stderr")
    assert any(re.fullmatch(r"START: upper pid=\d+ from=127\.0\.0\.1", x) for x in lines())
    wait_for(lambda: any(x.startswith("TRAFFIC: to-hello in=0(bytes) out=20(bytes)")
                         for x in lines()), what="the redirect's TRAFFIC line")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=15) == 0
    assert not Path(tmp_path / "portierd.pid").exists()
    for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert bad not in err.read_text(), err.read_text()
