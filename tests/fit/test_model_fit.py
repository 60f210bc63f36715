"""Model fits with a closed-form test double for the simulator (see conftest.py): recovery
and interval coverage across seeds, joint fits share parameters, fixed parameters stay
fixed, per-data-set read-out parameters, dotted paths and their errors."""

from __future__ import annotations

import numpy as np
import pytest
from fit_doubles import closed_form_simulator

from echo.fit import FitError, from_arrays
from echo.fit.model_fit import Dataset, fit_model, get_path, set_path

TRUE = {"sigma": 25e3, "tau_c": 3e-6}
TAU = np.linspace(0.5e-6, 12e-6, 24)
K = np.arange(1, 21, dtype=float)
TAU_CP = 1.5e-6
NOISE = 2e-4  # V; the echo at τ→0 is 0.5·(1e3·2·100·1e-6) V = 0.1 V: SNR 500


def make_data(model, seed, true=TRUE, readout=None):
    """Hahn τ sweep and CPMG train simulated at the true parameters + Gaussian noise."""
    rng = np.random.default_rng(seed)
    m = model
    for k, v in true.items():
        m = set_path(m, k, v)
    out = []
    for kind, x, extra in (("hahn", TAU, {}), ("cpmg", K, {"tau_cp": TAU_CP})):
        probe = Dataset(from_arrays(x, np.zeros(x.size)), meta={"kind": kind, **extra})
        y = closed_form_simulator(m, probe)
        if readout:
            y = y * readout.get("scale", 1.0) * np.exp(1j * readout.get("phase", 0.0)) \
                + readout.get("baseline", 0.0)
        y = y + rng.normal(0, NOISE, x.size) + 1j * rng.normal(0, NOISE, x.size)
        out.append(Dataset(from_arrays(x, y, sigma=NOISE, x_name="tau" if kind == "hahn"
                                       else "k"), label=kind, meta={"kind": kind, **extra}))
    return out


def test_paths_get_set_and_errors(small_model):
    assert get_path(small_model, "environment.noise[0].sigma") == 20e3
    assert get_path(small_model, "tau_c") == 2e-6
    m = set_path(small_model, "ensemble.bias.std", 7e6)
    assert m.ensemble.bias.std == 7e6 and small_model.ensemble.bias.std == 5e6
    with pytest.raises(FitError, match="Gaussian has no field 'median'"):
        get_path(small_model, "ensemble.bias.median")
    with pytest.raises(FitError, match=r"noise has 1 entries, no \[3\]"):
        get_path(small_model, "environment.noise[3].sigma")
    with pytest.raises(FitError, match="not set in the model"):
        get_path(small_model, "t1")
    with pytest.raises(FitError, match="discrete setting"):
        set_path(small_model, "ensemble.n_samples", 3.5)
    with pytest.raises(FitError, match="cannot read"):
        get_path(small_model, "environment..t1")


def test_mistyped_short_name_suggests_the_alias(small_model):
    # 'sigmaa' is neither a short name nor a Model field: the message offers the short
    # names (not the Model's top-level fields ensemble, environment, detection)
    with pytest.raises(FitError, match=r"unknown fit parameter 'sigmaa' \(did you mean "
                                       r"'sigma'\?\); short names: sigma, tau_c") as info:
        get_path(small_model, "sigmaa")
    assert "environment.noise[0].sigma" in str(info.value)
    with pytest.raises(FitError, match="unknown fit parameter 'zzz'; short names"):
        get_path(small_model, "zzz")


def test_joint_fit_recovers_truth_and_shares_parameters(small_model):
    data = make_data(small_model, 1)
    r = fit_model(data, small_model, ["sigma", "tau_c"], simulator=closed_form_simulator,
                  truth=TRUE)
    assert r.success, r.message
    assert sorted(r.varied) == ["sigma", "tau_c"]  # one σ and one τc for both data sets
    for k, v in TRUE.items():
        assert abs(r.value(k) - v) < 4 * r.stderr(k), (k, r.value(k), v, r.stderr(k))
    # the shared value is really used for both: each curve equals the double at the fit
    fitted = r.meta["fitted_model"]
    for ds, curve in zip(data, r.curves, strict=True):
        np.testing.assert_allclose(curve.model, closed_form_simulator(fitted, ds), rtol=1e-12)
    # joint data constrain σ better than the Hahn sweep alone
    alone = fit_model(data[:1], small_model, ["sigma", "tau_c"],
                      simulator=closed_form_simulator)
    assert r.stderr("sigma") < alone.stderr("sigma")


def test_fixed_parameters_stay_fixed(small_model):
    data = make_data(small_model, 2)
    m = set_path(small_model, "tau_c", 3.3e-6)  # deliberately off the truth, kept fixed
    r = fit_model(data, m, {"sigma": 10e3}, simulator=closed_form_simulator)
    fitted = r.meta["fitted_model"]
    assert fitted.environment.noise[0].tau_c == 3.3e-6
    assert fitted.ensemble == m.ensemble and fitted.detection == m.detection
    assert r.varied == ["sigma"] and r.nvary == 1
    assert not r["amplitude"].vary and r["amplitude"].stderr is None


def test_readout_parameters_amplitude_phase_and_per_dataset_baseline(small_model):
    data = make_data(small_model, 4, readout={"scale": 1.7, "phase": 0.4})
    # add a different baseline to each data set
    data[0].data.y = data[0].data.y + 3e-3
    data[1].data.y = data[1].data.y - 2e-3
    r = fit_model(data, small_model, ["sigma", "tau_c", "amplitude", "phase", "baseline"],
                  per_dataset=["baseline"], simulator=closed_form_simulator)
    assert r.success, r.message
    ngs = 1e3 * 2.0 * 100
    for k, v in {"amplitude": 1.7 * ngs, "phase": 0.4, "baseline@0": 3e-3,
                 "baseline@1": -2e-3, **TRUE}.items():
        assert abs(r.value(k) - v) < 4 * r.stderr(k), (k, r.value(k), v, r.stderr(k))
    assert "baseline" not in r.varied


def test_coverage_across_seeds(small_model):
    # 60 noise realisations of the joint data; nominal 68.3 % / 95.4 %. Binomial SE at
    # n = 60: 6.0 % / 2.7 %; bounds of 4 SE: ±24 % / −11 %.
    n = 60
    hit1 = {k: 0 for k in TRUE}
    hit2 = {k: 0 for k in TRUE}
    for seed in range(n):
        r = fit_model(make_data(small_model, 100 + seed), small_model, ["sigma", "tau_c"],
                      simulator=closed_form_simulator)
        assert r.success, r.message
        for k, v in TRUE.items():
            dev = abs(r.value(k) - v) / r.stderr(k)
            hit1[k] += dev <= 1
            hit2[k] += dev <= 2
    for k in TRUE:
        assert abs(hit1[k] / n - 0.683) < 0.24, (k, hit1[k] / n)
        assert hit2[k] / n > 0.954 - 0.11, (k, hit2[k] / n)


def test_unconstrained_parameter_reported(small_model):
    data = make_data(small_model, 5)
    # T_phi does not enter the CPMG double and is ≫ the Hahn time window: undetermined
    m = set_path(small_model, "environment.t_phi", 1.0)
    r = fit_model(data, m, ["sigma", "tau_c", "t_phi"], simulator=closed_form_simulator)
    assert not r.success
    assert "t_phi" in r.message


def test_setup_errors(small_model):
    data = make_data(small_model, 6)
    with pytest.raises(FitError, match="no free parameters"):
        fit_model(data, small_model, [], simulator=closed_form_simulator)
    with pytest.raises(FitError, match="has no field 'bogus'"):
        fit_model(data, small_model, ["environment.bogus"], simulator=closed_form_simulator)
    with pytest.raises(FitError, match="outside its bounds"):
        fit_model(data, small_model, {"sigma": 1e3}, bounds={"sigma": (5e3, 1e5)},
                  simulator=closed_form_simulator)
    with pytest.raises(FitError, match="per-data-set parameter 'baseline' is not free"):
        fit_model(data, small_model, ["sigma"], per_dataset=["baseline"],
                  simulator=closed_form_simulator)


def test_explicit_starting_values_are_used_and_left(small_model):
    # start values differ from both the model file's values and the truth
    data = make_data(small_model, 9)
    r = fit_model(data, small_model, {"sigma": 12e3, "tau_c": 1.2e-6},
                  simulator=closed_form_simulator)
    assert r["sigma"].init == 12e3 and r["tau_c"].init == 1.2e-6
    assert r.success, r.message
    for k, v in TRUE.items():
        assert abs(r.value(k) - v) < 4 * r.stderr(k), (k, r.value(k), v)


def test_magnitude_data_are_compared_with_the_model_magnitude(small_model, tmp_path):
    # a CSV with only |signal|: the model's phase must not matter
    from echo.fit import load

    m = set_path(small_model, "sigma", TRUE["sigma"])
    m = set_path(m, "tau_c", TRUE["tau_c"])
    probe = Dataset(from_arrays(TAU, np.zeros(TAU.size)), meta={"kind": "hahn"})
    y = np.abs(closed_form_simulator(m, probe) * np.exp(1.1j))
    rows = "\n".join(f"{t * 1e6:.9g},{v:.12g}" for t, v in zip(TAU, y, strict=True))
    p = tmp_path / "mag.csv"
    p.write_text("tau (us),magnitude (V)\n" + rows + "\n")
    d = load(p)
    assert d.meta["signal_kind"] == "magnitude"
    start = set_path(small_model, "tau_c", TRUE["tau_c"])
    r = fit_model(Dataset(d, meta={"kind": "hahn"}), start, ["sigma"],
                  simulator=closed_form_simulator)
    # noise-free data: limited by the optimiser tolerance (1e-4 on x, 1e-4 on the cost)
    assert r.value("sigma") == pytest.approx(TRUE["sigma"], rel=5e-3)
    np.testing.assert_allclose(r.curves[0].model.real, y, atol=2e-3 * y.max())
