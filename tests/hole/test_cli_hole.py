"""`spinecho hole design|simulate|analyse`, `simulate --burn`, `check --model` and
`compare --kind hole-series` from the command line: outputs, agreement with the library,
and clean refusals (exit 2, one line naming the value, no traceback) for bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echo.hole.experiment import simulate_series
from echo.model import (
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Gaussian,
    Model,
    OrnsteinUhlenbeck,
)
from spinecho.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "examples" / "holeburn.toml")


def test_design_prints_the_burn_and_its_sets(capsys):
    assert main(["hole", "design", "--model", MODEL, "--f-burn", "4.5MHz"]) == 0
    out = capsys.readouterr().out
    assert "pi burn at 4.5 MHz" in out and "--set burn=2e-05" in out
    assert main(["hole", "design", "--model", MODEL, "--f-burn", "4.5MHz", "--burn", "90deg",
                 "--hole-width", "40kHz", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["fwhm_hz"] == pytest.approx(40e3, rel=1e-6)
    assert d["angle"] == pytest.approx(1.5707963, rel=1e-6)


@pytest.mark.parametrize("argv, words", [
    (["--burn", "saturate"], "share one Rabi frequency"),
    (["--burn", "2pi"], "doublet"),
    (["--burn", "nan"], "burn"),
    (["--burn", "fast"], "burn"),
    (["--hole-width", "0Hz"], "width"),
    (["--burn-time=-1us"], "duration"),
    (["--burn-time", "1e-15us"], "amplitude"),
])
def test_design_refusals_are_clean(argv, words, capsys):
    assert main(["hole", "design", "--model", MODEL, "--f-burn", "4.5MHz", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and words in err and "Traceback" not in err


@pytest.mark.parametrize("f", ["nan MHz", "inf", "0Hz", "=-4MHz", "3MHz", "4.5us"])
def test_bad_burn_frequencies_are_refused(f, capsys):
    argv = ["--f-burn" + f] if f.startswith("=") else ["--f-burn", f]
    assert main(["hole", "design", "--model", MODEL, *argv]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_check_model_warns_on_the_default_burn(capsys):
    assert main(["check", "holeburn", "--model", str(ROOT / "examples" / "simple.toml"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "angle 7.035 rad" in out and "WARNING" in out


def test_simulate_burn_designs_the_burn(tmp_path, capsys):
    model = tmp_path / "m.toml"
    model.write_text(Path(MODEL).read_text().replace("n_samples = 8000", "n_samples = 50"))
    out = tmp_path / "r.nc"
    assert main(["simulate", "holeburn", "--model", str(model), "--set", "f_burn=4.5MHz",
                 "--set", "f_probe=4.5MHz", "--burn", "pi", "--set", "ideal=1",
                 "--no-normalise", "-o", str(out)]) == 0
    assert "pi burn at 4.5 MHz" in capsys.readouterr().out
    assert main(["simulate", "holeburn", "--model", str(model), "--burn", "pi",
                 "--set", "burn_amp=0.01", "-o", str(out)]) == 2
    assert "do not also --set" in capsys.readouterr().err
    assert main(["simulate", "hahn", "--model", str(model), "--burn", "pi",
                 "-o", str(out)]) == 2
    assert "no parameter 'burn'" in capsys.readouterr().err


def test_analyse_and_compare_fit_a_saved_series(tmp_path, capsys):
    ens = Ensemble(Fixed(1e6), Gaussian(0, 1e6), spin=100, g=2, n_grains=1e10,
                   n_samples=800, seed=5)
    m = Model(ens, Environment(noise=(OrnsteinUhlenbeck(6e4, 150e-6),)),
              Detection(flux_per_moment=1e-13))
    waits = [3e-6, 50e-6, 150e-6, 400e-6]
    sr = simulate_series(m, 4.5e6, waits, "pi", width=200e3, resolution=100e3, span=1.2e6)
    sr.holes[0].results["reference"].save(tmp_path / "ref.nc")
    runs = []
    for k, h in enumerate(sr.holes):
        h.results["burn"].save(tmp_path / f"b{k}.nc")
        runs.append(str(tmp_path / f"b{k}.nc"))
    model = tmp_path / "m.toml"
    model.write_text(Path(MODEL).read_text().replace("n_samples = 8000", "n_samples = 800")
                     .replace("seed = 1", "seed = 5"))
    d = sr.holes[0].design
    wtext = ",".join(f"{w * 1e6:g}us" for w in waits)
    assert main(["compare", "--kind", "hole-series", str(tmp_path / "ref.nc"), *runs,
                 "--model", str(model), "--set", "f_burn=4.5MHz",
                 "--set", f"burn={d.duration!r}s", "--set", f"burn_amp={d.amp!r}",
                 "--waits", wtext, "-o", str(tmp_path / "cmp"), "--json"]) in (0, 1)
    got = json.loads(capsys.readouterr().out)["fit"]
    # the same holes, the same fit: the library's result (the burn rebuilt from its
    # amplitude: identical to rounding). With 800 grains σ and τc are known to ~30 % and
    # ~170 % here (a flat valley: least_squares stops at points that move with
    # rounding-level input), so the two agree within a fifth of the stated error
    assert abs(got["sigma"] - sr.fit.sigma) < 0.2 * sr.fit.sigma_err
    assert abs(got["tau_c"] - sr.fit.tau_c) < 0.2 * sr.fit.tau_c_err
    assert (tmp_path / "cmp" / "series.png").stat().st_size > 10_000
    # one hole through `hole analyse`
    assert main(["hole", "analyse", runs[0], "--reference", str(tmp_path / "ref.nc"),
                 "--model", str(model), "--f-burn", "4.5MHz", "--burn-time",
                 f"{d.duration!r}s", "--burn-amp", repr(d.amp), "-o",
                 str(tmp_path / "one")]) == 0
    out = capsys.readouterr().out
    assert "hole depth" in out and (tmp_path / "one" / "hole.png").exists()
    assert main(["hole", "analyse", runs[0], "--reference", str(tmp_path / "nope.nc"),
                 "--model", str(model), "--f-burn", "4.5MHz", "--burn-time", "4us",
                 "--burn-amp", "0.05", "-o", str(tmp_path / "two")]) == 2
    assert "not a result file" in capsys.readouterr().err
    assert main(["hole", "analyse", runs[0], "--reference", str(tmp_path / "ref.nc"),
                 "--model", str(model), "--f-burn", "4.5MHz", "--burn-time", "4us",
                 "--burn-amp", "0.05", "--probe", "2us,3us", "-o",
                 str(tmp_path / "three")]) == 2
    assert "T90,TAU,WINDOW" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["--resolution", "0Hz"], "resolution"),
    (["--resolution=-5kHz"], "resolution"),
    (["--points", "0", "--readout", "swept"], "points"),
    (["--sample-rate", "0Hz"], "sample_rate"),
    (["--sample-rate", "100kHz"], "span"),
    (["--waits", "1us,2us"], ">= 4 waits"),
    (["--wait=-1us"], "wait"),
    (["--waits", "1us,2us,3us,4us", "--readout", "swept"], "--readout spectrum"),
])
def test_hole_simulate_refusals_are_clean(argv, words, tmp_path, capsys):
    assert main(["hole", "simulate", "--model", MODEL, "--set", "ensemble.n_samples=20",
                 "--f-burn", "4.5MHz", *argv, "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and words in err, err
