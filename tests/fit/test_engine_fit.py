"""Model fits with the fast engine in the loop, and ``spinecho compare`` end to end.

Synthetic data: the engine's own prediction at the true parameters (same ensemble seed,
so the model is exact) plus Gaussian noise of known σ; a few seeds (each fit costs tens
of engine runs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.fit import from_arrays
from echo.fit.model_fit import Dataset, engine_simulator, fit_model, set_path
from echo.model import Detection, Ensemble, Environment, Gaussian, Model, OrnsteinUhlenbeck
from sequences.model import Sequence
from spinecho.cli import main

TAUS = np.linspace(1e-6, 9e-6, 5)
NOISE = 0.01  # V per quadrature; the echo is ~0.3–0.5 V

MODEL_TOML = """
[ensemble]
spin = 100
n_grains = 1e9
n_samples = 24
seed = 1
delta0 = { kind = "gaussian", mean = 1.0e6, std = 0.01e6 }
bias = { kind = "gaussian", mean = 0.0, std = 1.0e6 }

[[environment.noise]]
kind = "ou"
sigma = 1.0e5
tau_c = 5e-6

[detection]
flux_per_moment = 5e-12
sample_rate = 250e6
reference_frequency = 4e6
"""


def small_model() -> Model:
    return Model(Ensemble(delta0=Gaussian(1e6, 0.01e6), bias=Gaussian(0.0, 1e6), spin=100,
                          n_grains=1e9, n_samples=24, seed=1),
                 Environment(noise=(OrnsteinUhlenbeck(1e5, 5e-6),)),
                 Detection(flux_per_moment=5e-12, sample_rate=250e6, reference_frequency=4e6))


@pytest.fixture(scope="module")
def hahn_data():
    seq = Sequence.load("hahn")
    schedules = [seq.bind(tau=t) for t in TAUS]
    sim = engine_simulator("fast")
    truth = small_model()
    clean = sim(truth, Dataset(from_arrays(TAUS, np.zeros(TAUS.size)), schedules))
    return schedules, clean, sim


@pytest.mark.parametrize("seed", [0, 1])
def test_engine_fit_recovers_sigma_and_amplitude(hahn_data, seed):
    schedules, clean, sim = hahn_data
    rng = np.random.default_rng(seed)
    y = 1.2 * clean + rng.normal(0, NOISE, TAUS.size) + 1j * rng.normal(0, NOISE, TAUS.size)
    ds = Dataset(from_arrays(TAUS, y, sigma=NOISE, x_name="tau", x_unit="s"), schedules)
    start = set_path(small_model(), "sigma", 7e4)
    truth = {"sigma": 1e5, "amplitude": 1.2 * 1e9 * 2 * 100}
    r = fit_model(ds, start, ["sigma", "amplitude"], simulator=sim, truth=truth)
    assert r.success, r.message
    for k, v in truth.items():
        # 3σ: two seeds, each inside with probability 0.997 for a correct interval
        assert abs(r.value(k) - v) < 3 * r.stderr(k), (k, r.value(k), v, r.stderr(k))
    # fixed parameters stay at the model's values
    assert r.meta["fitted_model"].environment.noise[0].tau_c == 5e-6
    assert r.meta["simulations"] < 40


def test_compare_cli_end_to_end(tmp_path, hahn_data, capsys):
    schedules, clean, _ = hahn_data
    from echo.result import build_result

    rng = np.random.default_rng(5)
    y = clean * 1.2 + NOISE * (rng.normal(size=TAUS.size) + 1j * rng.normal(size=TAUS.size))
    res = build_result(schedules=schedules, times=[np.zeros(1)] * TAUS.size,
                       window_index=[np.zeros(1, int)] * TAUS.size,
                       trace=[np.full((2, 1), v) * np.array([[1], [-1]]) for v in y],
                       params=[{"tau": t} for t in TAUS], attrs={"kind": "measured"})
    np.testing.assert_allclose(res.amplitude, y)  # receiver [x, −x] undoes the ± steps
    run = res.save(tmp_path / "run.nc")
    model = tmp_path / "model.toml"
    model.write_text(MODEL_TOML)
    out = tmp_path / "report"
    rc = main(["compare", str(run), "--sequence", "hahn", "--model", str(model), "--fit",
               "sigma=7e4,amplitude", "-o", str(out), "--no-progress",
               "--grains", "1e9:2e7", "--chi-moment", "240:10"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "sigma" in text and f"report: {out}" in text
    # amplitude 1.2·N·g·S = 2.4e11 μB over 1e9 grains: 240 μB per grain, as "measured"
    assert "moment per grain from the echo" in text and "consistent" in text
    for name in ("parameters.txt", "summary.json", "fit_model_fit.png"):
        assert (out / name).stat().st_size > 200
    import json

    s = json.loads((out / "summary.json").read_text())
    p = s["fits"]["model fit"]["params"]
    assert abs(p["sigma"]["value"] - 1e5) < 4 * p["sigma"]["stderr"]
    assert math.isclose(p["amplitude"]["value"], 2.4e11, rel_tol=0.1)
    assert s["moment"]["verdict"] == "consistent"


@pytest.mark.parametrize("argv_extra, message", [
    (["--fit", "bogus"], "unknown fit parameter 'bogus'"),
    (["--fit", "sigma=abc"], "is not a number"),
])
def test_compare_cli_user_errors_are_clean(tmp_path, capsys, argv_extra, message):
    data = tmp_path / "d.csv"
    data.write_text("tau (us),real,imag\n1,0.5,0\n2,0.4,0\n3,0.3,0\n")
    model = tmp_path / "model.toml"
    model.write_text(MODEL_TOML)
    rc = main(["compare", str(data), "--sequence", "hahn", "--model", str(model), "-o",
               str(tmp_path / "r"), *argv_extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_compare_cli_bad_file_is_clean(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("tau (us),real,imag\n1,0.5,0\n2,x,0\n")
    model = tmp_path / "model.toml"
    model.write_text(MODEL_TOML)
    rc = main(["compare", str(data), "--sequence", "hahn", "--model", str(model), "--fit",
               "sigma", "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "d.csv:3: column 2" in err


def test_engine_joint_fit_hahn_sweep_and_cpmg_train_share_sigma_and_tau_c(hahn_data):
    """A τ sweep and a CPMG echo train (one point per detection window) fitted together:
    one σ, one τc, one amplitude for both data sets, recovered within 3σ. With 24 grains
    τc is known to ±61 % only (linearised; 42 % from the nonlinear refits of the replicate
    ensembles): a positive parameter whose ±2σ interval reaches zero is refused as 'not
    determined' (issue 14), so either the fit succeeds or τc alone is named — the values
    and stated errors are checked either way."""
    schedules, clean_h, sim = hahn_data
    cpmg = Sequence.load("cpmg").bind(n=6, tau=1.5e-6)
    k = np.arange(1, 7, dtype=float)
    truth_model = small_model()
    clean_c = sim(truth_model, Dataset(from_arrays(k, np.zeros(6)), [cpmg],
                                       observable="windows"))
    assert np.all(np.abs(clean_c) > 0.05)  # six real echoes (V), far above the noise
    rng = np.random.default_rng(11)

    def noisy(y):
        return y + NOISE * (rng.normal(size=y.size) + 1j * rng.normal(size=y.size))

    data = [Dataset(from_arrays(TAUS, noisy(clean_h), sigma=NOISE, x_name="tau",
                                x_unit="s"), schedules, label="hahn"),
            Dataset(from_arrays(k, noisy(clean_c), sigma=NOISE, x_name="echo"), [cpmg],
                    observable="windows", label="cpmg")]
    start = set_path(set_path(truth_model, "sigma", 7e4), "tau_c", 7e-6)
    truth = {"sigma": 1e5, "tau_c": 5e-6, "amplitude": 1e9 * 2 * 100}
    r = fit_model(data, start, ["sigma", "tau_c", "amplitude"], simulator=sim, truth=truth)
    if not r.success:
        why = r.message.split("not determined by the data (refitted with other model "
                              "ensembles): ", 1)
        assert len(why) == 2 and why[1].startswith("tau_c = "), r.message
        assert "sigma =" not in why[1].split("; data noise")[0], r.message
    assert r.varied == ["sigma", "tau_c", "amplitude"]  # shared: one copy each
    for name, v in truth.items():
        assert abs(r.value(name) - v) < 3 * r.stderr(name), (name, r.value(name), r.stderr(name))
    fitted = r.meta["fitted_model"]
    for ds, curve in zip(data, r.curves, strict=True):  # both curves from the same model
        np.testing.assert_allclose(curve.model, sim(fitted, ds) * r.value("amplitude") / 2e11,
                                   rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4, 5, 6])
def test_engine_fit_of_an_ensemble_width(seed):
    """ensemble.bias.std (moves every grain, and the largest grain energy) with σ. The data
    are the engine's prediction at the truth with the step frozen at the starting point,
    as the fit freezes it, plus noise; 200 grains (with 24 the Monte-Carlo objective has
    local minima a start 30 % off can fall into). 4σ: a few seeds, non-linear errors."""
    from dataclasses import replace

    m = small_model()
    m = replace(m, ensemble=replace(m.ensemble, n_samples=200))
    seq = Sequence.load("hahn")
    sch = [seq.bind(tau=t) for t in TAUS]
    sim = engine_simulator("fast", carrier_margin=0.5)  # the grain energies move
    start = set_path(set_path(m, "ensemble.bias.std", 0.7e6), "sigma", 8e4)
    ds = Dataset(from_arrays(TAUS, np.zeros(TAUS.size) + 0j, sigma=NOISE), sch)
    sim(start, ds)  # freeze the step where the fit will
    rng = np.random.default_rng(seed)
    ds.data.y = sim(m, ds) + NOISE * (rng.normal(size=5) + 1j * rng.normal(size=5))
    truth = {"ensemble.bias.std": 1e6, "sigma": 1e5}
    r = fit_model(ds, start, list(truth), simulator=sim, truth=truth)
    assert r.success, r.message
    for k, v in truth.items():
        assert abs(r.value(k) - v) < 4 * r.stderr(k), (k, r.value(k), r.stderr(k))


def test_compare_reads_a_measure_run_directory_csv(tmp_path, hahn_data):
    """A run directory as `spinecho measure` leaves it before result.nc exists: run.json
    (its --set values are applied when binding) and the procedure's results.csv."""
    schedules, clean, _ = hahn_data
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text('{"config": {"sets": "t90=100 ns; amp=0.89"}}')
    rows = ["#Procedure: <instruments.procedure.EchoProcedure>", "#Parameters:",
            "#\tSequence: hahn", "#Data:",
            "point,sweep value,amplitude re (V),amplitude im (V),amplitude abs (V),"
            "phase (rad),averages,params"]
    for i, (t, y) in enumerate(zip(TAUS, 1.2 * clean, strict=True)):
        rows.append(f"{i},{t:.12g},{y.real:.12g},{y.imag:.12g},{abs(y):.12g},0,1,tau={t:.12g}")
    (run / "results.csv").write_text("\n".join(rows) + "\n")
    model = tmp_path / "model.toml"
    model.write_text(MODEL_TOML)
    from echo.fit import compare

    fit, files = compare(run, "hahn", model, "sigma=8e4,amplitude", tmp_path / "rep")
    assert fit.success, fit.message
    # noise-free data from the same engine, but 24 grains and the bias-noise step frozen at
    # the start (σ = 80 kHz), not at the truth: another noise realisation, so the fit is
    # off by its stated (Monte-Carlo) error, not by rounding
    assert abs(fit.value("sigma") - 1e5) < 4 * fit.stderr("sigma")
    assert files["json"].exists()


@pytest.mark.parametrize("kind", [[], ["--kind", "echo-decay"]])
def test_compare_cli_output_that_is_a_file_is_refused_before_fitting(tmp_path, capsys, kind):
    data = tmp_path / "d.csv"
    data.write_text("tau (us),real,imag\n1,0.5,0\n2,0.4,0\n3,0.3,0\n4,0.25,0\n5,0.2,0\n")
    model = tmp_path / "model.toml"
    model.write_text(MODEL_TOML)
    taken = tmp_path / "report"
    taken.write_text("not a folder")
    rc = main(["compare", str(data), "--sequence", "hahn", "--model", str(model),
               "--fit", "sigma", "-o", str(taken), *kind])
    err = capsys.readouterr().err
    assert rc == 2 and f"-o {taken}: exists and is not a directory" in err
    assert "Traceback" not in err and "simulations:" not in err
