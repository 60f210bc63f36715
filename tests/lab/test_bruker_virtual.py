"""Bruker BES3T export of a run measured on the virtual lab: ``spinecho measure`` →
``spinecho bruker export`` → the loaders read the BES3T files back as exactly the data of
the run's result.nc, which ``spinecho compare`` fits like any data file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from virtual_support import lab_file, small_config, start_lab

from echo.bes3t import read_bes3t
from echo.fit.loaders import load
from spinecho.cli import main


@pytest.fixture(scope="module")
def vlab():
    lab = start_lab(small_config(n_samples=16, noise_rms=0.01))
    yield lab
    lab.stop()


def test_measured_run_exported_as_bes3t_reads_back_exactly(vlab, tmp_path, capsys):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    assert main(["measure", "hahn", "--lab", str(labfile), "--sweep", "tau=2us,3us,4us",
                 "--set", "window=0.5us", "-o", str(run), "--no-progress"]) == 0
    for order in ("BIG", "LIT"):
        out = tmp_path / f"hahn_{order}.DSC"
        assert main(["bruker", "export", str(run), "-o", str(out), "--byte-order",
                     order]) == 0
        b = read_bes3t(out)
        assert b.param("BSEQ") == order and b.axes[0].unit == "ns"
        np.testing.assert_allclose(b.axes[0].values, [2000, 3000, 4000])
        d, ref = load(out), load(run / "result.nc")
        assert (d.x_name, d.x_unit) == ("tau", "s") == (ref.x_name, ref.x_unit)
        np.testing.assert_allclose(d.x, ref.x, rtol=1e-15)
        np.testing.assert_array_equal(d.y, ref.y)  # float64 both ways: bit for bit
        assert np.all(np.abs(d.y) > 0.1)  # a real echo, not zeros
    capsys.readouterr()
    assert main(["bruker", "show", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "complex" and info["axes"][0]["name"] == "tau"
    # the traces of a tau sweep have moving windows: refused with the reason
    assert main(["bruker", "export", str(run), "-o", str(tmp_path / "sig.DSC"),
                 "--observable", "signal"]) == 2
    assert "one time axis" in capsys.readouterr().err
    # an existing output is not overwritten without --force
    assert main(["bruker", "export", str(run), "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["bruker", "export", str(tmp_path / "nothing"), "-o",
                 str(tmp_path / "x.DSC")]) == 2
