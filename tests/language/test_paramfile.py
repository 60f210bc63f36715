"""Parameter files (sequences.paramfile, ``--params``): reading, writing, errors."""

from __future__ import annotations

import pytest

import sequences
from sequences.config import ConfigError
from sequences.paramfile import params_for, read_params, write_params
from spinecho.cli import main


def test_write_read_round_trip_and_partial_use(tmp_path):
    p = write_params(tmp_path / "p.toml", {"t90": "120 ns", "amp": 0.5, "rx": "10 deg",
                                           "t180": "240 ns"},
                     header="a test\nsecond line", extra={"tune": {"note": "x", "n": 3}})
    assert read_params(p) == {"t90": "120 ns", "amp": "0.5", "rx": "10 deg", "t180": "240 ns"}
    used, ignored = params_for(sequences.load("fid"), p)
    assert used == {"t90": "120 ns", "amp": "0.5"} and ignored == ["rx", "t180"]
    s = sequences.load("hahn").bind_values(read_params(p))
    assert s.pulses[0].duration == pytest.approx(120e-9)


@pytest.mark.parametrize("text, message", [
    ("t90 = 1", "no [params] table"),
    ("[params]\nt90 = [1, 2]", "expected a number or a string"),
    ("[params]\nt90 = nan", "not finite"),
    ("[params]\nt90 = true", "expected a number"),
    ("[params\nt90 = 1", "p.toml:1:"),
])
def test_bad_files_name_file_and_entry(tmp_path, text, message):
    (tmp_path / "p.toml").write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        read_params(tmp_path / "p.toml")


def test_cli_params_option_and_set_override(tmp_path, capsys):
    p = write_params(tmp_path / "p.toml", {"t90": "120 ns", "tau": "3 us"})
    assert main(["check", "hahn", "--params", str(p), "--set", "tau=4us"]) == 0
    out = capsys.readouterr().out
    assert "t90 = 120 ns" in out and "tau = 4 us" in out
    # a swept parameter keeps its sweep; the file's value is left out with a note
    assert main(["check", "hahn", "--params", str(p), "--sweep", "tau=1us,2us",
                 "--quiet"]) == 0
    assert "swept: tau" in capsys.readouterr().err
    assert main(["check", "hahn", "--params", str(tmp_path / "none.toml")]) == 2
    assert "no such parameter file" in capsys.readouterr().err
