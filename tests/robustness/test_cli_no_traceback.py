"""The command line never ends in a traceback (issue 9 item 6): a closed pipe ends
quietly, an unexpected failure prints one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spinecho import cli


def test_broken_pipe_is_quiet():
    # `spinecho check hahn | head -c 0`: the reader is gone before the first write
    # (with `head -c 1` the short output may fit in the pipe buffer and never fail)
    proc = subprocess.Popen([sys.executable, "-m", "spinecho", "check", "hahn"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert rc in (0, 141)


def test_unexpected_error_is_one_line(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("kaputt")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = parser.parse_args(["check", "hahn"])
    monkeypatch.setattr(args, "func", boom, raising=False)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    monkeypatch.delenv("SPINECHO_TRACEBACK", raising=False)
    assert cli.main(["check", "hahn"]) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: kaputt" in err
    assert "Traceback" not in err


def test_traceback_on_request(monkeypatch):
    parser = cli.build_parser()
    args = parser.parse_args(["check", "hahn"])
    monkeypatch.setattr(args, "func", lambda a: 1 / 0, raising=False)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    monkeypatch.setenv("SPINECHO_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main([])
