"""portierd -n and --dump-config over the configuration corpus (tests/conf/).

Every valid file passes -n ("configuration OK", exit 0, warnings allowed); every invalid file
fails it (exit 1) and prints exactly the error lines it announces; --dump-config output reads
back to the same services.
"""

import pytest

from confutil import (check, dump, dump_counts, expected_lines, invalid_files, strip_positions,
                      valid_files)


@pytest.mark.parametrize("path", valid_files(), ids=lambda p: p.name)
def test_valid_passes(path):
    p = check(path.name, cwd=path.parent)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "configuration OK\n"
    for line in p.stderr.splitlines():
        assert ": warning: " in line, line        # only warnings


@pytest.mark.parametrize("path", invalid_files(), ids=lambda p: p.name)
def test_invalid_fails_with_expected_lines(path):
    want = expected_lines(path, path.name)
    assert want, f"{path.name} has no '# expect:' line"
    p = check(path.name, cwd=path.parent)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "configuration OK" not in p.stdout
    got = p.stderr.splitlines()
    for line in want:
        assert line in got, f"missing: {line}\ngot:\n{p.stderr}"
    assert got[-1].startswith("portierd: ") and "error" in got[-1]


def test_missing_main_file(tmp_path):
    p = check(tmp_path / "nope.conf")
    assert p.returncode == 1
    assert f"{tmp_path}/nope.conf: No such file or directory" in p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("path", valid_files(), ids=lambda p: p.name)
def test_dump_reads_back(path, tmp_path):
    first = dump(path.name, cwd=path.parent)
    assert first.returncode == 0, first.stderr
    out = tmp_path / "dump.conf"
    out.write_text(first.stdout)
    again = dump(out)
    assert again.returncode == 0, again.stderr
    assert dump_counts(first.stdout) == dump_counts(again.stdout)
    assert strip_positions(first.stdout) == strip_positions(again.stdout)
    assert check(out).returncode == 0


def test_dump_shows_effective_values(tmp_path):
    conf = tmp_path / "x.conf"
    conf.write_text(
        "defaults\n{\n\tlog_on_success = PID HOST\n\tinstances = 25\n\tonly_from = 10.0.0.0\n}\n"
        "service echo\n{\n\ttype = INTERNAL\n\tid = echo-stream\n\tsocket_type = stream\n"
        "\twait = no\n\tlog_on_success += EXIT\n\tonly_from += 192.168.{1,2}\n}\n"
        "service off\n{\n\tdisable = yes\n\ttype = UNLISTED\n\tport = 20100\n"
        "\tsocket_type = stream\n\twait = no\n}\n"
        "service broken\n{\n\tsocket_type = stream\n\twait = no\n\tinstances = lots\n}\n")
    p = dump(conf)
    assert p.returncode == 0
    text = p.stdout
    assert dump_counts(text) == (3, 1, 1, 1)
    echo = text[text.index("service echo"):text.index("service off")]
    assert "protocol        = tcp\n" in echo
    assert "port            = 7\n" in echo
    assert "instances       = 25\n" in echo
    assert "log_on_success  = PID HOST EXIT\n" in echo
    assert "only_from       = 10.0.0.0/8 192.168.1.0/24 192.168.2.0/24\n" in echo
    assert "# disabled: disable = yes (" in text
    off = text[text.index("service off"):text.index("#service broken")]
    assert "disable         = yes\n" in off
    assert "# skipped: " in text and "instances: expected a number" in text
    broken = text[text.index("#service broken"):]
    assert "#\tinstances = lots\n" in broken         # as written, commented out
    assert "instances: expected a number" in p.stderr


def test_includedir_rules(tmp_path):
    d = tmp_path / "xinetd.d"
    d.mkdir()
    svc = ("service {name}\n{{\n\ttype = UNLISTED\n\tport = {port}\n\tsocket_type = stream\n"
           "\tprotocol = tcp\n\twait = no\n\tuser = root\n\tserver = /bin/cat\n}}\n")
    for i, name in enumerate(["zeta", "Alpha", "beta", "skip.rpmnew", "skip~", "with.dot"]):
        fname = name
        (d / fname).write_text(svc.format(name=name.replace(".", "_").replace("~", "_"),
                                          port=21000 + i))
    (d / "subdir").mkdir()
    main = tmp_path / "portier.conf"
    main.write_text(f"defaults\n{{\n}}\n\nincludedir {d}\n")
    p = dump(main)
    assert p.returncode == 0, p.stderr
    names = [line.split()[1] for line in p.stdout.splitlines() if line.startswith("service ")]
    assert names == ["Alpha", "beta", "zeta"]       # C-locale order, skipped names left out
    assert check(main).stdout == "configuration OK\n"


def test_every_error_is_reported(tmp_path):
    conf = tmp_path / "many.conf"
    blocks = []
    for i in range(5):
        blocks.append(f"service s{i}\n{{\n\ttype = UNLISTED\n\tport = {22000 + i}\n"
                      f"\tsocket_type = stream\n\twait = no\n\tuser = root\n}}\n")
    conf.write_text("".join(blocks))
    p = check(conf)
    assert p.returncode == 1
    errs = [line for line in p.stderr.splitlines() if "missing attribute 'server'" in line]
    assert len(errs) == 5
    assert p.stderr.splitlines()[-1] == "portierd: 5 errors in the configuration"


def test_warnings_alone_pass(tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text("service echo\n{\n\ttype = INTERNAL\n\tsocket_type = stream\n"
                    "\twait = no\n\tsever = x\n}\n")
    p = check(conf)
    assert p.returncode == 0
    assert p.stdout == "configuration OK\n"
    assert f"{conf}:6:2: warning: service 'echo': unknown attribute 'sever' " \
           "(did you mean 'server'?), ignored" in p.stderr


def test_limits_do_not_hang(tmp_path):
    conf = tmp_path / "long.conf"
    conf.write_text("service echo\n{\n\ttype = INTERNAL\n\tsocket_type = stream\n\twait = no\n"
                    "\tonly_from = " + "127.0.0.1 " * 10000 + "\n}\n")
    p = check(conf)
    assert p.returncode == 1
    assert "line longer than 65536 bytes, ignored" in p.stderr
    loop = tmp_path / "loop.conf"
    loop.write_text(f"include {loop}\n")
    p = check(loop)
    assert p.returncode == 1
    assert "include loop" in p.stderr
    fifo = tmp_path / "fifo"
    import os
    os.mkfifo(fifo)
    p = check(fifo)
    assert p.returncode == 1
    assert "not a regular file" in p.stderr
