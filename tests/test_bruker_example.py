"""examples/bruker.py runs as written and its files read back."""

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bruker_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bruker.py", str(tmp_path)])
    runpy.run_path(str(ROOT / "examples" / "bruker.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "tau in ns: [2000. 3000. 4000. 5000. 6000.]" in out
    for name in ("hahn.DSC", "hahn.DTA", "hahn.exp", "hahn.def"):
        assert (tmp_path / name).stat().st_size > 50
    assert "TITL\t'hahn'" in (tmp_path / "hahn.DSC").read_text()
