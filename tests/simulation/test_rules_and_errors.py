"""Ensemble rules (quadrature / QMC / grain tables) and batch-means standard errors.

Checks against closed forms: Gauss rules integrate polynomials of degree 2n − 1 exactly;
the free evolution of a grain from τz = +1 is ⟨τz⟩(t) = (ε² + Δ² cos 2Et)/E², whose
Gaussian-ε average is computed here by adaptive quadrature (scipy.integrate.quad,
independent of the rules); the Hahn echo under OU noise is the Klauder–Anderson
exp(−⟨φ²⟩/2) (tests/simulation/conftest.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from echo.model import (
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Gaussian,
    ModelError,
    OrnsteinUhlenbeck,
    Uniform,
)
from echo.modelfile import load_model, parse_model
from echo.rules import GrainTable, load_grain_table, refined
from echo.simulate import simulate_schedules
from echo.stats import t_quantile
from sequences.schedule import Channel, DetectionWindow, Schedule

TWO_PI = 2 * math.pi


# ------------------------------------------------------------------ rules
@pytest.mark.parametrize("n", [3, 8, 20])
def test_gauss_hermite_integrates_polynomials_exactly(n):
    vals, w = Gaussian(1.0, 2.0, rule="quadrature", points=n).nodes()
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    # central moments of N(1, 4) up to degree 2n − 1: E x^2k = (2k−1)!! σ^2k
    for k in range(0, n):
        if 2 * k <= 2 * n - 1:
            want = math.prod(range(1, 2 * k, 2)) * 2.0 ** (2 * k)
            assert np.sum(w * (vals - 1.0) ** (2 * k)) == pytest.approx(want, rel=1e-10)


def test_gauss_legendre_uniform_moments():
    vals, w = Uniform(-1.0, 3.0, rule="quadrature", points=6).nodes()
    for k in range(12):  # degree <= 11 = 2·6 − 1
        want = (3.0 ** (k + 1) - (-1.0) ** (k + 1)) / (4.0 * (k + 1))
        assert np.sum(w * vals ** k) == pytest.approx(want, rel=1e-12)


def test_quadrature_ensemble_is_the_tensor_grid():
    e = Ensemble(Gaussian(1e6, 1e5, rule="quadrature", points=4),
                 Uniform(-1e6, 1e6, rule="quadrature", points=3))
    assert e.deterministic and e.rule == "quadrature"
    assert e.n_samples == 12 and e.batches == 1
    c = e.chunk(0)
    assert c.weight.sum() == pytest.approx(12.0)
    d0 = c.delta / (2 * TWO_PI)  # Δ = 2Δ0 (S = 100 even)
    assert np.unique(np.round(d0, 3)).size == 4 and np.unique(np.round(c.bias, 3)).size == 3
    # batches = replicas of the grid
    e4 = Ensemble(Gaussian(1e6, 1e5, rule="quadrature", points=4), Fixed(0.0), batches=4)
    assert e4.n_samples == 16 and list(e4.batch_edges()) == [0, 4, 8, 12, 16]
    with pytest.raises(ModelError, match="deterministic grid of 4 grains"):
        Ensemble(Gaussian(1e6, 1e5, rule="quadrature", points=4), Fixed(0.0), n_samples=10)
    with pytest.raises(ModelError, match="points: only for rule"):
        Gaussian(0, 1, points=4)
    with pytest.raises(ModelError, match="rule: must be one of"):
        Gaussian(0, 1, rule="sobol")


def test_mixed_quadrature_and_random_weights_are_exact_in_the_grid_dimension():
    e = Ensemble(Gaussian(1e6, 1e5, rule="quadrature", points=5), Gaussian(0, 1e6),
                 n_samples=23, chunk_size=7)
    grains = [e.chunk(i) for i in range(e.n_chunks)]
    d0 = np.concatenate([g.delta for g in grains]) / (2 * TWO_PI)
    w = np.concatenate([g.weight for g in grains])
    vals, wq = Gaussian(1e6, 1e5, rule="quadrature", points=5).nodes()
    # the weighted mean of any f(Δ0) is the quadrature sum, whatever the node counts
    for f in (lambda x: x, lambda x: x ** 2, lambda x: np.cos(x / 1e5)):
        assert np.sum(w * f(d0)) / w.sum() == pytest.approx(np.sum(wq * f(vals)), rel=1e-12)


def test_qmc_is_chunking_invariant_and_beats_random():
    kw = dict(n_samples=1024, batches=4)
    a = Ensemble(Gaussian(0, 1.0, rule="qmc"), Gaussian(0, 1.0, rule="qmc"), **kw)
    b = Ensemble(Gaussian(0, 1.0, rule="qmc"), Gaussian(0, 1.0, rule="qmc"), chunk_size=100,
                 **kw)
    ca = a.chunk(0)
    cb = np.concatenate([b.chunk(i).bias for i in range(b.n_chunks)])
    np.testing.assert_array_equal(ca.bias, cb)
    # E[cos ε] = e^{−1/2} over each 256-point scrambled replica: error far below the
    # Monte-Carlo one (std(cos ε)/√256 ≈ 0.03)
    eps = ca.bias / TWO_PI
    for r in range(4):
        m = np.mean(np.cos(eps[256 * r:256 * (r + 1)]))
        assert abs(m - math.exp(-0.5)) < 0.01
    # replicas are independent scramblings, not copies
    assert not np.allclose(eps[:256], eps[256:512])


def test_grain_tables_csv_inline_netcdf(tmp_path):
    import xarray as xr

    (tmp_path / "g.csv").write_text("# paired grains\ndelta0,bias,weight\n1e6,0,1\n"
                                    "1.2e6,1e5,3\n")
    model = tmp_path / "m.toml"
    model.write_text('[ensemble]\ngrains = "g.csv"\n')
    e = load_model(model).ensemble
    assert e.rule == "table" and e.n_samples == 2
    c = e.chunk(0)
    np.testing.assert_allclose(c.bias / TWO_PI, [0.0, 1e5])
    np.testing.assert_allclose(c.weight / c.weight.sum(), [0.25, 0.75])
    inline = parse_model("[ensemble]\ngrains = { delta0 = [1e6, 1.2e6], bias = [0, 1e5], "
                         "weight = [1, 3] }\n").ensemble
    np.testing.assert_allclose(inline.chunk(0).weight, c.weight)
    xr.Dataset({"delta0": ("grain", [1e6, 1.2e6]), "bias": ("grain", [0.0, 1e5])}) \
        .to_netcdf(tmp_path / "g.nc", engine="h5netcdf")
    t = load_grain_table(tmp_path / "g.nc")
    assert isinstance(t, GrainTable) and len(t) == 2
    (tmp_path / "bad.csv").write_text("delta0,bias\n1e6,0\n1e6,zero\n")
    with pytest.raises(ModelError, match=r"bad.csv:3: not a number"):
        load_grain_table(tmp_path / "bad.csv")
    with pytest.raises(ModelError, match="weight\\[1\\]: must be >= 0"):
        GrainTable((1.0, 2.0), (0.0, 0.0), (1.0, -1.0))
    with pytest.raises(ModelError, match="grain table replaces delta0 and bias"):
        parse_model('[ensemble]\ngrains = "g.csv"\nbias = 0\n', base=tmp_path)


def test_model_file_rules():
    e = parse_model("""
[ensemble]
delta0 = { kind = "gaussian", mean = 1e6, std = 1e5, rule = "quadrature", points = 6 }
bias = { kind = "samples", values = [0, 1e5], weights = [1, 2], rule = "quadrature" }
""").ensemble
    assert e.n_samples == 12 and e.delta0.points == 6
    with pytest.raises(ModelError, match="ensemble.bias.rule"):
        parse_model('[ensemble]\ndelta0 = 1e6\nbias = { kind = "gaussian", mean = 0, '
                    'std = 1, rule = "grid" }\n')
    with pytest.raises(ModelError, match="ensemble.bias.points"):
        parse_model('[ensemble]\ndelta0 = 1e6\nbias = { kind = "gaussian", mean = 0, '
                    'std = 1, points = 3 }\n')
    r = refined(e)
    assert r.delta0.points == 12 and r.n_samples == 24  # samples stay weighted points


# ------------------------------------------------------- through the engine
CHANNELS = (Channel("coil", "field"), Channel("squid", "detector"))


def _free(duration, times):
    return Schedule(channels=CHANNELS, windows=(DetectionWindow("squid", 0.0, duration),),
                    duration=duration)


def _closed_free(t, delta, eps_mean, eps_std):
    """Gaussian-ε average of (ε² + Δ² cos 2Et)/E² (adaptive quadrature)."""
    def f(e):
        en2 = delta ** 2 + e ** 2
        return (e ** 2 + delta ** 2 * math.cos(2 * math.sqrt(en2) * t)) / en2
    pdf = lambda e: math.exp(-0.5 * ((e - eps_mean) / eps_std) ** 2) / (  # noqa: E731
        math.sqrt(2 * math.pi) * eps_std)
    lo, hi = eps_mean - 12 * eps_std, eps_mean + 12 * eps_std
    return quad(lambda e: f(e) * pdf(e), lo, hi, epsabs=1e-13, epsrel=1e-13, limit=400)[0]


def test_quadrature_weights_flow_through_engine_and_result():
    sch = _free(2e-6, None)
    det = Detection(sample_rate=5e6)
    ens = Ensemble(Fixed(0.5e6), Gaussian(0.3e6, 1e6, rule="quadrature", points=300))
    r = simulate_schedules([sch], ens, Environment(), det, initial="up", keep_tau_z=True,
                           normalise=False)
    tz = r.tau_z[0, 0]
    want = [_closed_free(t, TWO_PI * 1e6, TWO_PI * 0.3e6, TWO_PI * 1e6) for t in r.times]
    np.testing.assert_allclose(tz, want, atol=1e-9)
    # deterministic and noiseless: the standard error is exactly zero
    assert np.all(r.dataset["tau_z_stderr"].values == 0)


def test_random_ensemble_stderr_matches_grain_spread():
    sch = _free(1e-6, None)
    det = Detection(sample_rate=4e6)
    ens = Ensemble(Fixed(0.5e6), Gaussian(0.0, 1e6), n_samples=4096, batches=64)
    r = simulate_schedules([sch], ens, Environment(), det, initial="up", keep_tau_z=True,
                           normalise=False)
    se = r.dataset["tau_z_stderr"].values[0, 0]
    # the spread of the per-grain closed form over the same grains, / √N
    c = ens.chunk(0)
    en = np.hypot(c.delta, c.bias)
    per = (c.bias ** 2 + c.delta ** 2 * np.cos(2 * en * r.times[:, None])) / en ** 2
    want = per.std(axis=1, ddof=1) / math.sqrt(c.delta.size)
    # batch means with 64 batches: the estimate itself scatters by ≈ 1/√126 ≈ 9 %
    np.testing.assert_allclose(se[1:], want[1:], rtol=0.35)
    np.testing.assert_allclose(r.tau_z[0, 0], per.mean(axis=1), atol=1e-9)


def test_detector_noise_enters_the_standard_error():
    sch = _free(1e-6, None)
    det = Detection(sample_rate=4e6, noise_rms=0.01)
    ens = Ensemble(Fixed(0.5e6), Gaussian(0.0, 1e6, rule="quadrature", points=8))
    r = simulate_schedules([sch], ens, Environment(), det, initial="up", normalise=False)
    se = r.dataset["trace_stderr"].values[0, 0]
    np.testing.assert_allclose(se.real, 0.01, rtol=0.3)  # raw trace: σ per sample


def test_summary_and_file_carry_stderr(tmp_path):
    sch = _free(1e-6, None)
    ens = Ensemble(Fixed(0.5e6), Gaussian(0.0, 1e6), n_samples=64)
    r = simulate_schedules([sch], ens, Environment(noise=(OrnsteinUhlenbeck(1e4, 1e-6),)),
                           Detection(sample_rate=4e6), initial="up", normalise=True)
    row = r.summary()[0]
    assert row["echo_amplitude_stderr"] > 0
    assert row["normalised_echo_amplitude_stderr"] > 0
    from echo.result import EchoResult

    back = EchoResult.load(r.save(tmp_path / "r.nc"))
    np.testing.assert_array_equal(back.dataset["amplitude_stderr"].values,
                                  r.dataset["amplitude_stderr"].values)
    r.plot(tmp_path / "r.png")


# ------------------------------------------------------------- coverage
DELTA0, BIAS = 1e6, 4e6  # Δ/2π = 2 MHz, ε/2π = 4 MHz (as in test_closed_forms_dephasing)
SIGMA_HZ, TAU_C, TAU = 0.15e6, 1e-6, 1e-6


def test_ou_hahn_echo_95_percent_interval_coverage(build, closed):
    """Over 500 seeds the 95 % interval (Student t, B − 1 dof) of the OU Hahn echo
    amplitude covers the closed form in 95 ± 3 % of them."""
    energy = math.hypot(2 * DELTA0, BIAS)
    cos_t = BIAS / energy
    sch, t_e = build.echo_train(TAU, 1, pi_phase=0.0)
    sch = Schedule(channels=sch.channels, ideal_pulses=sch.ideal_pulses,
                   windows=(DetectionWindow("squid", t_e, 1e-9, "echo"),),
                   receiver=sch.receiver, duration=sch.duration)
    det = Detection(sample_rate=1e9, flux_per_moment=1.0 / 200.0)  # 1 V per unit ⟨τz⟩
    env = Environment(noise=(OrnsteinUhlenbeck(SIGMA_HZ, TAU_C),))
    want = -cos_t * closed.gaussian_echo_decay([0, TAU, 2 * TAU], [-1, 1],
                                               TWO_PI * SIGMA_HZ, TAU_C, 2 * BIAS / energy)
    n_seeds, n_b = 500, 16
    k = t_quantile(n_b)
    hits = 0
    zs = []
    for seed in range(n_seeds):
        ens = Ensemble(Fixed(DELTA0), Fixed(BIAS), n_samples=512, batches=n_b, seed=seed)
        r = simulate_schedules([sch], ens, env, det, normalise=False)
        a = float(r.amplitude[0].real)
        se = float(r.dataset["amplitude_stderr"].values[0].real)
        zs.append((a - want) / se)
        hits += abs(a - want) <= k * se
    frac = hits / n_seeds
    print(f"\ncoverage {frac:.3f} over {n_seeds} seeds (closed form {want:.4f}, "
          f"median |z| {np.median(np.abs(zs)):.3f})")
    assert 0.92 <= frac <= 0.98


def test_fit_data_take_the_standard_errors_as_sigma():
    from echo.fit.loaders import from_result

    sch = _free(1e-6, None)
    ens = Ensemble(Fixed(0.5e6), Gaussian(0.0, 1e6), n_samples=256)
    r = simulate_schedules([sch, sch], ens, Environment(), Detection(sample_rate=4e6),
                           initial="up", normalise=True)
    d = from_result(r, observable="amplitude", use_stderr=True)
    se = r.dataset["amplitude_stderr"].values
    np.testing.assert_allclose(d.sigma, np.maximum(se.real, se.imag))
    assert from_result(r, observable="amplitude").sigma is None  # opt-in
    dn = from_result(r, observable="normalised", use_stderr=True)
    np.testing.assert_allclose(dn.sigma, r.dataset["normalised_stderr"].values)
    # a noiseless quadrature grid has no statistical error: no σ rather than σ = 0
    q = simulate_schedules([sch, sch], Ensemble(Fixed(0.5e6), Gaussian(0.0, 1e6,
                           rule="quadrature", points=8)), Environment(),
                           Detection(sample_rate=4e6), initial="up")
    assert from_result(q, observable="amplitude", use_stderr=True).sigma is None
