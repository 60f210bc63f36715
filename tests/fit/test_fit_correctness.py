"""Fit correctness (issue 14): residuals scaled by the data's noise with relative stopping
criteria (a µV echo fits like a V echo), a refusal when the fit does not move, the noise
estimate from the phase cycle, the model's Monte-Carlo error in the uncertainties, and the
combination of strongly correlated parameters that the data constrain.

Engine fits use small ensembles so that the default suite stays cheap; the issue's full
small-signal fit (unmodified ``examples/simple.toml``, 2000 grains) and the coverage over
20 seeds are marked slow."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fit_doubles import closed_form_simulator

from echo.fit import from_arrays, from_result
from echo.fit.fitresult import ParamValue, constrained_combinations, undetermined
from echo.fit.model_fit import Dataset, dataset_from_sequence, fit_model, set_path
from echo.fit.noise import phase_cycle_noise
from echo.model import Detection, Ensemble, Environment, Fixed, Gaussian, Model, OrnsteinUhlenbeck
from echo.modelfile import load_model
from echo.simulate import simulate
from sequences.model import Sequence

SIMPLE = Path(__file__).resolve().parents[2] / "examples" / "simple.toml"
TAU = np.linspace(0.5e-6, 12e-6, 24)


def tiny_volts_model() -> Model:
    # echo 0.5·(10·2·100·1e-9) V = 1 µV: residuals of 1e-8 V pass any absolute gtol at once
    return Model(Ensemble(delta0=Fixed(1e6), bias=Gaussian(0.0, 5e6), spin=100, n_grains=10,
                          n_samples=16, seed=3),
                 Environment(noise=(OrnsteinUhlenbeck(sigma=20e3, tau_c=2e-6),)),
                 Detection(flux_per_moment=1e-9, volts_per_flux=1.0))


@pytest.mark.parametrize("given_sigma", [True, False])
def test_microvolt_echo_is_fitted_not_stopped_at_the_start(given_sigma):
    """The issue's false convergence: mV/µV-scale residuals against an absolute gtol. The
    fit must move from a start 40 % off and recover σ and τc (closed-form double, so the
    model is exact: 4σ)."""
    m = tiny_volts_model()
    truth = set_path(set_path(m, "sigma", 25e3), "tau_c", 3e-6)
    rng = np.random.default_rng(2)
    probe = Dataset(from_arrays(TAU, np.zeros(TAU.size)), meta={"kind": "hahn"})
    noise = 2e-9
    y = closed_form_simulator(truth, probe) + noise * (rng.normal(size=TAU.size)
                                                       + 1j * rng.normal(size=TAU.size))
    ds = Dataset(from_arrays(TAU, y, sigma=noise if given_sigma else None), label="hahn",
                 meta={"kind": "hahn"})
    start = set_path(set_path(m, "sigma", 15e3), "tau_c", 2e-6)
    r = fit_model(ds, start, ["sigma", "tau_c"], simulator=closed_form_simulator,
                  truth={"sigma": 25e3, "tau_c": 3e-6})
    assert r.success, r.message
    assert r.meta["moved"] and r.nfev > 2
    for k, v in {"sigma": 25e3, "tau_c": 3e-6}.items():
        assert abs(r.value(k) - v) < 4 * r.stderr(k), (k, r.value(k), r.stderr(k))
    assert r.covar_scaled is (not given_sigma)
    assert ("given with the data" in r.message) is given_sigma


def test_a_fit_that_does_not_move_is_refused():
    """A simulator that ignores the free parameter: the optimiser cannot move, and the
    result says so instead of 'converged'."""
    m = tiny_volts_model()
    ds = Dataset(from_arrays(TAU, np.exp(-TAU / 5e-6) + 0j, sigma=0.01), meta={"kind": "hahn"})

    def flat(model, dset):
        return np.full(dset.data.x.shape, 0.5 + 0j)

    r = fit_model(ds, m, ["sigma"], simulator=flat)
    assert not r.success
    assert "REFUSED: the fit did not move from its starting values" in r.message
    assert r.meta["moved"] is False
    assert "NOT CONVERGED" in r.table()


def test_constrained_combination_of_a_correlated_pair():
    """A covariance built in log space along a known valley: log a + 0.5 log b is known to
    1 %, the orthogonal direction to 50 %. The report gives exponent 0.5 and ± 1 %."""
    a, b = 6e4, 2e-6
    # L = Cov(log a, log b) = s_small² u uᵀ + s_big² v vᵀ with u ∝ (1, 0.5) constrained
    u = np.array([1.0, 0.5]) / math.hypot(1.0, 0.5)
    v = np.array([-0.5, 1.0]) / math.hypot(1.0, 0.5)
    s_small = 0.01 / math.hypot(1.0, 0.5)  # δ(log a + 0.5 log b) = |(1, .5)|·s_small
    L = s_small**2 * np.outer(u, u) + 0.5**2 * np.outer(v, v)
    cov = L * np.outer([a, b], [a, b])
    params = {"sigma": ParamValue("sigma", a, math.sqrt(cov[0, 0]), unit="Hz"),
              "tau_c": ParamValue("tau_c", b, math.sqrt(cov[1, 1]), unit="s")}
    (c,) = constrained_combinations(params, cov, ["sigma", "tau_c"])
    assert c["params"] == ["sigma", "tau_c"] and abs(c["correlation"]) > 0.9
    # the valley is 50× longer than wide: the best-determined power is 0.5 to 1e-3
    assert c["exponent"] == pytest.approx(0.5, rel=1e-3)
    assert c["value"] == pytest.approx(a * b ** c["exponent"], rel=1e-12)
    assert c["rel_stderr"] == pytest.approx(0.01, rel=1e-3)

    def rel_var(p):  # Var(log a + p log b)
        return L[0, 0] + 2 * p * L[0, 1] + p * p * L[1, 1]

    grid = np.linspace(0.3, 0.7, 4001)
    assert rel_var(c["exponent"]) <= rel_var(grid).min() * (1 + 1e-9)
    assert math.isclose(math.sqrt(rel_var(c["exponent"])), c["rel_stderr"], rel_tol=1e-9)
    # a weakly correlated pair gives nothing
    cov2 = np.diag(np.diag(cov))
    assert constrained_combinations(params, cov2, ["sigma", "tau_c"]) == []


def test_phase_cycle_noise_matches_the_spread_over_detector_seeds():
    """The null combination of the [x, −x] cycle carries the detector noise of one echo
    amplitude. With ideal pulses and no bath noise the two steps are exact mirror images,
    so it carries nothing else: its estimate (one sweep of 21 points) against the spread
    of the amplitude over 12 detector seeds — two variance estimates with ~40 and 22
    degrees of freedom — agree within a factor 1.6 in σ (p > 0.99 when both estimate the
    same noise)."""
    m = Model(Ensemble(delta0=Fixed(1e6), bias=Gaussian(0.0, 1e6), spin=100, n_grains=1e9,
                       n_samples=8, seed=1),
              Environment(),
              Detection(flux_per_moment=5e-12, sample_rate=100e6, reference_frequency=4e6,
                        noise_rms=0.5))
    seq = Sequence.load("hahn")
    taus = np.linspace(1e-6, 9e-6, 21)
    res = simulate(seq, m, sweep={"tau": taus}, values={"ideal": 1}, normalise=False)
    est = from_result(res).meta["noise_estimate"]
    ds = res.dataset
    win = np.broadcast_to(ds["window"].values, ds["signal"].shape)
    assert est == phase_cycle_noise(ds["trace"].values, ds["receiver"].values, win == 0)
    amps = np.array([simulate(seq, replace(m, detection=replace(m.detection, seed=s)),
                              sweep={"tau": taus[:1]}, values={"ideal": 1},
                              normalise=False).amplitude[0]
                     for s in range(2, 14)])
    spread = math.sqrt((np.var(amps.real, ddof=1) + np.var(amps.imag, ddof=1)) / 2)
    assert 1 / 1.6 < est / spread < 1.6, (est, spread)
    # noise-free data: no estimate from a cycle that carries no noise
    clean = simulate(seq, replace(m, detection=replace(m.detection, noise_rms=0.0)),
                     sweep={"tau": taus}, values={"ideal": 1}, normalise=False)
    assert from_result(clean).meta.get("noise_estimate") is None


def small_signal(n_samples: int | None, taus):
    """Data simulated from the unmodified examples/simple.toml at σ = 60 kHz (data seed
    99), and the model to fit (model seed 1); ``n_samples`` overrides the ensemble size of
    both (None: the file's 2000)."""
    m = load_model(SIMPLE)
    if n_samples is not None:
        m = replace(m, ensemble=replace(m.ensemble, n_samples=n_samples))
    truth = set_path(m, "sigma", 6e4)
    seq = Sequence.load("hahn")
    res = simulate(seq, replace(truth, ensemble=replace(truth.ensemble, seed=99)),
                   sweep={"tau": taus}, normalise=False)
    data = from_result(res)
    assert data.meta["simulated_samples"] == m.ensemble.n_samples
    return dataset_from_sequence(data, seq, parameter="tau"), m


def check_small_signal_starts(ds, m, starts, *, min_success=None):
    """Every start must succeed and recover the truth within 2 stated σ — or, with
    ``min_success``, at least that many must, and the others must be *refused* with a
    named reason (never a success far from the truth). Returns (successes, refusals)."""
    truth = {"sigma": 6e4, "tau_c": 2e-6}
    fits, refused = [], []
    for s0, t0 in starts:
        r = fit_model(ds, m, {"sigma": s0, "tau_c": t0, "amplitude": None}, truth=truth)
        if min_success is not None and not r.success:
            assert "not resolved" in r.message or "not determined" in r.message, r.message
            refused.append(r)
            continue
        assert r.success, (s0, t0, r.message)
        assert r.meta["moved"] and r.meta["mc_seeds"] == 4
        assert "Monte-Carlo error" in r.message
        for k, v in truth.items():
            se = r.stderr(k)
            # the stated error includes the model's (and the simulated data's) ensemble
            assert se > r.meta["mc_stderr"][k] > 0
            # within 2 stated σ (one data set: a 95 % interval per parameter)
            assert abs(r.value(k) - v) < 2 * se, (s0, t0, k, r.value(k), se)
        fits.append(r)
    assert len(fits) >= (len(starts) if min_success is None else min_success)
    return fits, refused


CHEAP_TAUS = np.linspace(1e-6, 8e-6, 6)


def test_small_signal_fit_from_several_starts_cheap():
    """Default-suite variant of the issue's small-signal fit (a few mV echo at 1 %
    polarisation): 300 grains (data and model), 6 delays, 3 starts. No start may report
    a success whose interval misses the truth. Measured (issue 14): these data do not
    determine τc — each end point refitted with 8 other model ensembles gives τc from
    4e-8 to 6e-5 s (starts 40 kHz/2 µs and 120 kHz/1.5 µs) or 6e-8 to 5.5e-7 s (start
    30 kHz/1 µs, a local basin in the motional-narrowing corner); the linearised τc error
    is 71–80 % of the value at all three end points. So the old premise "at least 2 of 3
    recover σ and τc" held only with intervals that did not honestly cover (τc 16 σ off
    at the corner, reported as success): every start must now be refused with τc named
    as not determined, the refits' range given — and σ, which the data do determine,
    within 2 stated σ of the truth (its stated error with the refits' Monte-Carlo part).
    A success is allowed only if it covers (checked by check_small_signal_starts); the
    2000-grain, 10-delay fit from 5 starts (slow) must succeed from every start."""
    ds, m = small_signal(300, CHEAP_TAUS)
    fits, refused = check_small_signal_starts(ds, m, [(4e4, 2e-6), (3e4, 1e-6),
                                                      (1.2e5, 1.5e-6)], min_success=0)
    for r in refused:
        assert "not determined by the data (refitted with other model ensembles): tau_c"\
            in r.message, r.message
        assert "nonlinear refits" in r.message and r.meta["nonlinear"]["refits"] == 4
        assert abs(r.value("sigma") - 6e4) < 2 * r.stderr("sigma"), (r.value("sigma"),
                                                                    r.stderr("sigma"))
    assert len(fits) + len(refused) == 3


def test_small_signal_corner_is_not_a_success():
    """The false success issue 14 found: from σ = 30 kHz, τc = 1 µs the 300-grain fit ends
    in the motional-narrowing corner (τc ≈ 0.15 µs, truth 2 µs) with a lower residual
    scatter than near the truth; its linearised interval (0.147 ± 0.117 µs, τc 16 σ off)
    was reported as a success. Now τc's linearised error (80 % of its value) triggers the
    nonlinear refits of the replicate ensembles and the fit is refused, naming τc and the
    refits' range; σ's stated interval (refit-based) holds the truth."""
    ds, m = small_signal(300, CHEAP_TAUS)
    r = fit_model(ds, m, {"sigma": 3e4, "tau_c": 1e-6, "amplitude": None},
                  truth={"sigma": 6e4, "tau_c": 2e-6})
    assert r.value("tau_c") < 0.5e-6  # the corner (else this test no longer probes it)
    assert not r.success, r.message
    assert "not determined by the data (refitted with other model ensembles): tau_c" \
        in r.message
    assert "the refits end between" in r.message and "nonlinear refits" in r.message
    nl = r.meta["nonlinear"]
    assert nl["suspect"] == ["tau_c"] and nl["linear_rel"]["tau_c"] > 0.5
    assert len(nl["ends"]["tau_c"]) == 4 and nl["evaluations"] >= 4
    assert abs(r.value("sigma") - 6e4) < 2 * r.stderr("sigma")


@pytest.mark.slow
def test_small_signal_fit_from_five_starts():
    """The issue's small-signal fit: unmodified examples/simple.toml (2000 grains), 10
    delays, σ, τc and amplitude from 5 starts (one was σ = 40 kHz, which used to stop at
    once with 'converged — gtol')."""
    ds, m = small_signal(None, np.linspace(1e-6, 8e-6, 10))
    fits, _ = check_small_signal_starts(ds, m, [(4e4, 2e-6), (3e4, 1e-6), (9e4, 3e-6),
                                             (1.2e5, 1.5e-6), (5e4, 4e-6)])
    assert all(f.nfev > 2 for f in fits)


def joint_problem(n_grains: int, n_hahn: int, n_cpmg: int, data_seed: int, model_seed: int):
    """The issue's ground-state joint fit, scaled down: a ground-state copy of
    examples/simple.toml (initial state 'ground'), data at σ = 60 kHz, τc = 2 µs from
    ensemble seed ``data_seed`` (no detector noise: the data's only noise is their own
    ensemble's), a Hahn τ sweep and a CPMG train, the model fitted with ``model_seed``."""
    from echo.fit.model_fit import engine_simulator

    m = load_model(SIMPLE)
    m = replace(m, ensemble=replace(m.ensemble, n_samples=n_grains, seed=model_seed))
    truth = set_path(m, "sigma", 6e4)
    taus = np.linspace(1e-6, 10e-6, n_hahn)
    hahn = [Sequence.load("hahn").bind(tau=t) for t in taus]
    cpmg = [Sequence.load("cpmg").bind(n=n_cpmg, tau=2e-6)]
    k = np.arange(1, n_cpmg + 1, dtype=float)
    sim = engine_simulator("fast", initial="ground")
    probe_h = Dataset(from_arrays(taus, np.zeros(n_hahn) + 0j), hahn)
    probe_c = Dataset(from_arrays(k, np.zeros(n_cpmg) + 0j), cpmg, observable="windows")
    data_model = replace(truth, ensemble=replace(truth.ensemble, seed=data_seed))
    y_h, y_c = sim.batch([(data_model, probe_h), (data_model, probe_c)])
    meta = {"simulated_samples": n_grains}
    data = [Dataset(from_arrays(taus, y_h, meta=meta), hahn, label="hahn"),
            Dataset(from_arrays(k, y_c, meta=meta), cpmg, observable="windows",
                    label="cpmg")]
    return data, m, sim


def coverage(n_seeds: int, n_grains: int, n_hahn: int, n_cpmg: int):
    """Fraction of seeds whose 1σ interval holds the truth, and the |deviations| in
    stated σ, for σ and τc."""
    inside = {"sigma": 0, "tau_c": 0}
    devs: dict[str, list[float]] = {"sigma": [], "tau_c": []}
    for s in range(n_seeds):
        data, m, sim = joint_problem(n_grains, n_hahn, n_cpmg, 100 + s, 1000 + s)
        r = fit_model(data, m, {"sigma": 4e4, "tau_c": 3e-6, "amplitude": None},
                      simulator=sim, truth={"sigma": 6e4, "tau_c": 2e-6})
        assert r.meta["moved"], r.message
        for k, v in (("sigma", 6e4), ("tau_c", 2e-6)):
            dev = abs(r.value(k) - v) / r.stderr(k)
            inside[k] += dev <= 1.0
            devs[k].append(dev)
    return {k: v / n_seeds for k, v in inside.items()}, devs


@pytest.mark.slow
def test_joint_fit_intervals_cover_the_truth_over_20_seeds():
    """Stated 1σ intervals (with the model's and the data's Monte-Carlo error) cover the
    true σ and τc in 68 ± 15 % of 20 data seeds (each with its own model seed). 68 ± 15 %
    is 1.4 binomial standard deviations for 20 seeds: a correct interval fails it with
    probability ~0.15 per parameter, so the seeds are fixed. 1000 grains, 8 + 8 points (the
    issue's 10^4 grains × 20 + 20 points is the benchmark, benchmarks/fit.py)."""
    frac, worst = coverage(20, 1000, 8, 8)
    for k, f in frac.items():
        assert 0.53 <= f <= 0.83, (k, frac, worst)


def test_joint_fit_intervals_cover_the_truth_cheap():
    """Default-suite variant: 5 seeds, 200 grains, 4 + 4 points. Too few seeds for a
    coverage fraction; what it guards is the issue's failure (truth 44 and 47 stated σ
    away in every fit): at most one of the 5 fits more than 3.5 stated σ from the truth
    (a correct interval fails that with probability 5e-4 per parameter and seed). One is
    allowed because the 200-grain objective has a spurious minimum in the motional-
    narrowing corner (τc ≈ 0.1–0.5 µs) that the first trust-region step from (40 kHz,
    3 µs) sometimes lands in. Measured over data/model seeds 100–134/1000–1034: with
    the engine step frozen as one dt, 3 of 35 fits (τc at −5.0σ; −33σ and −137σ, those
    two refused); with per-point noise steps (issue 14), 1 of 35 (seed 1002, −15σ). The
    seeds are fixed."""
    _, worst = coverage(5, 200, 4, 4)
    for k, w in worst.items():
        assert sorted(w)[-2] < 3.5, (k, worst)


def test_an_offset_fitted_as_zero_is_determined():
    """A baseline of 1 µV ± 0.38 mV on a 0.1 V echo is determined (0 within its error);
    its error against its own ~0 value (σ/|value| = 380) used to call it 'not determined'
    and fail a good fit at random. Judged against a scale, a real failure still shows."""
    pv = {"baseline": ParamValue("baseline", 1e-6, 3.8e-4, True, 0.0),
          "sigma": ParamValue("sigma", 6e4, 7e6, True, 4e4)}
    assert undetermined(pv, None, ["baseline"]) != ""  # the old judgement
    assert undetermined(pv, None, ["baseline"], scale={"baseline": 0.1}) == ""
    assert "baseline" in undetermined(pv, None, ["baseline"], scale={"baseline": 1e-7})
    assert "sigma" in undetermined(pv, None, ["baseline", "sigma"],
                                   scale={"baseline": 0.1})
