"""Pure-dephasing regime: Hahn and CPMG echoes under OU and telegraph bias noise against
the exact Gaussian (Klauder–Anderson / filter-function) and exact telegraph results.

Set-up (all grains identical, Δ/2π = 2 MHz, ε/2π = 4 MHz, E/2π = 4.47 MHz): ideal π/2_x,
π pulses, then an ideal π/2_x read-out at the echo time t_e, which maps the echo's y'
component onto σz'. The lab-frame ⟨τz⟩ right after it is cos θ·y' − sin θ·x'; x' has
zero mean (the noise is symmetric), so  ⟨τz⟩(t_e)/cos θ = ∓⟨cos φ⟩  (− for Hahn with
π_x, + for CPMG with π_y), where φ = (2ε/E)∫ y(t) δε(t) dt is the noise phase of the
transition frequency 2E + 2(ε/E)δε. The regime E ≫ σ, 1/τc makes the transverse noise
part (∝ Δ/E) negligible: it shifts 2E by ~ (Δ/E)²σ²/E ≈ 2 kHz·2π and causes no
measurable extra decay at these times (≪ the Monte-Carlo error).

Statistics: each grain is one independent noise trajectory; the standard error is the
sample standard deviation of the per-grain values over √N. Bound: 4 standard errors
plus a stated systematic allowance (OU: the spline interpolation of the exactly sampled
path with τc/dt = 50 changes ⟨φ²⟩ by O((dt/τc)²) ~ 1e-3 relative; allowance 0.005).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.model import Environment, OrnsteinUhlenbeck, Telegraph

TWO_PI = 2 * math.pi
DELTA = TWO_PI * 2e6
BIAS = TWO_PI * 4e6
ENERGY = math.hypot(DELTA, BIAS)
COS = BIAS / ENERGY
COUPLING = 2 * BIAS / ENERGY          # d(2E)/dε
SIGMA_HZ, TAU_C = 0.15e6, 1e-6        # OU: σ/2π = 150 kHz, τc = 1 µs  (σ τc ≈ 0.94)
TEL_HZ, TEL_RATE = 0.3e6, 0.5e6       # telegraph: b/2π = 300 kHz, γ = 5e5 /s
SYSTEMATIC = 0.005
# Integrator tolerances for these Monte-Carlo tests: the error they allow on ⟨τz⟩ is
# ≲ 1e-4 (measured against atol 1e-12), far below the standard errors (≈ 0.03).
LOOSE = {"atol": 1e-8, "rtol": 1e-6}


def _filter(tau, n_pi):
    """Edges and signs of the filter y(t) of a Hahn (n=1) / CPMG-n echo at 2nτ."""
    edges = [0.0] + [(2 * k + 1) * tau for k in range(n_pi)] + [2 * n_pi * tau]
    signs = [(-1) ** (n_pi - i) for i in range(n_pi + 1)]
    return edges, signs


def _echo_values(reference, build, env, tau, n_pi, n, seed, frame):
    pi_phase = 0.0 if n_pi == 1 else math.pi / 2
    sch, t_e = build.echo_train(tau, n_pi, pi_phase=pi_phase)
    ch = build.chunk([DELTA] * n, [BIAS] * n)
    g = reference.simulate_grains(sch, ch, env, np.array([t_e]), frame=frame, seed=seed,
                                  **LOOSE)
    sign = -1.0 if n_pi == 1 else 1.0
    return sign * g[:, 0, 0] / COS


def _check(values, expected, label):
    mean = values.mean()
    se = values.std(ddof=1) / math.sqrt(values.size)
    assert abs(mean - expected) <= 4 * se + SYSTEMATIC, (
        f"{label}: simulated {mean:.4f} ± {se:.4f}, closed form {expected:.4f}")
    return mean, se


def test_filter_helper_reproduces_textbook_hahn(closed):
    # the textbook OU Hahn result: ⟨φ²⟩ = 2σ²τc²(2x − 3 + 4e^{−x} − e^{−2x}), x = τ/τc
    sigma, tc = 1.3, 0.7
    for tau in (0.1, 0.5, 2.0):
        x = tau / tc
        want = 2 * sigma**2 * tc**2 * (2 * x - 3 + 4 * math.exp(-x) - math.exp(-2 * x))
        edges, signs = _filter(tau, 1)
        assert closed.ou_phase_variance(edges, signs, sigma, tc) == pytest.approx(want, 1e-12)
    # quasi-static limit: a CPMG filter integrates to zero, so ⟨φ²⟩ → 0 as τc → ∞
    edges, signs = _filter(0.3, 4)
    assert closed.ou_phase_variance(edges, signs, 1.0, 1e6) < 1e-9


def test_telegraph_helper_reproduces_textbook_fid(closed):
    for v, g in ((1.0, 3.0), (3.0, 1.0), (2.0, 2.0 + 1e-9)):
        for t in (0.2, 1.0, 3.0):
            got = closed.telegraph_echo_decay([0.0, t], [1], v, g)
            assert got.imag == pytest.approx(0.0, abs=1e-12)
            assert got.real == pytest.approx(closed.telegraph_fid(t, v, g), rel=1e-9, abs=1e-12)


def test_hahn_ou_rwa_matches_gaussian_closed_form(reference, build, closed):
    env = Environment(noise=(OrnsteinUhlenbeck(SIGMA_HZ, TAU_C),))
    tau = 0.75e-6
    edges, signs = _filter(tau, 1)
    want = closed.gaussian_echo_decay(edges, signs, TWO_PI * SIGMA_HZ, TAU_C, COUPLING)
    vals = _echo_values(reference, build, env, tau, 1, 400, seed=11, frame="rwa")
    _check(vals, want, "Hahn/OU rwa")
    # and the decay is really there: the noiseless echo would be 1
    assert want < 0.7


def test_hahn_ou_lab_frame_matches_gaussian_closed_form(reference, build, closed):
    env = Environment(noise=(OrnsteinUhlenbeck(SIGMA_HZ, TAU_C),))
    tau = 0.75e-6
    edges, signs = _filter(tau, 1)
    want = closed.gaussian_echo_decay(edges, signs, TWO_PI * SIGMA_HZ, TAU_C, COUPLING)
    vals = _echo_values(reference, build, env, tau, 1, 60, seed=12, frame="lab")
    _check(vals, want, "Hahn/OU lab")


def test_cpmg2_ou_matches_filter_function(reference, build, closed):
    env = Environment(noise=(OrnsteinUhlenbeck(SIGMA_HZ, TAU_C),))
    tau = 0.5e-6
    edges, signs = _filter(tau, 2)
    want = closed.gaussian_echo_decay(edges, signs, TWO_PI * SIGMA_HZ, TAU_C, COUPLING)
    hahn_edges, hahn_signs = _filter(2 * tau, 1)
    hahn = closed.gaussian_echo_decay(hahn_edges, hahn_signs, TWO_PI * SIGMA_HZ, TAU_C,
                                      COUPLING)
    assert want - hahn > 0.2  # CPMG-2 at the same total time decays visibly less
    vals = _echo_values(reference, build, env, tau, 2, 300, seed=13, frame="rwa")
    _check(vals, want, "CPMG-2/OU rwa")


def test_hahn_telegraph_matches_exact_telegraph_result(reference, build, closed):
    env = Environment(noise=(Telegraph(TEL_HZ, TEL_RATE),))
    tau = 1.0e-6
    edges, signs = _filter(tau, 1)
    want = closed.telegraph_echo_decay(edges, signs, COUPLING * TWO_PI * TEL_HZ,
                                       TEL_RATE).real
    # not Gaussian: the Gaussian formula with the same correlation b² e^{−2γ|t|} differs
    gauss = closed.gaussian_echo_decay(edges, signs, TWO_PI * TEL_HZ, 1 / (2 * TEL_RATE),
                                       COUPLING)
    assert abs(gauss - want) > 0.3
    vals = _echo_values(reference, build, env, tau, 1, 300, seed=14, frame="rwa")
    _check(vals, want, "Hahn/telegraph rwa")


# --------------------------------------------------------------- high statistics (fast)
HIGH_STAT_CASES = [
    # (noise, n_pi, tau)
    ("ou", 1, 0.5e-6), ("ou", 1, 1.0e-6), ("ou", 2, 0.5e-6), ("ou", 4, 0.25e-6),
    ("telegraph", 1, 1.0e-6), ("telegraph", 2, 0.6e-6), ("telegraph", 4, 0.4e-6),
]


@pytest.mark.parametrize("noise,n_pi,tau", HIGH_STAT_CASES)
@pytest.mark.parametrize("frame", ["lab", "rwa"])
def test_high_statistics_echoes_with_fast_engine(noise, n_pi, tau, frame, fast, build, closed):
    # 16 chunks × 2500 grains: standard error ≈ 0.003; the bound is 4 SE + 0.005.
    if noise == "ou":
        env = Environment(noise=(OrnsteinUhlenbeck(SIGMA_HZ, TAU_C),))
    else:
        env = Environment(noise=(Telegraph(TEL_HZ, TEL_RATE),))
    edges, signs = _filter(tau, n_pi)
    if noise == "ou":
        want = closed.gaussian_echo_decay(edges, signs, TWO_PI * SIGMA_HZ, TAU_C, COUPLING)
    else:
        want = closed.telegraph_echo_decay(edges, signs, COUPLING * TWO_PI * TEL_HZ,
                                           TEL_RATE).real
    pi_phase = 0.0 if n_pi == 1 else math.pi / 2
    sign = -1.0 if n_pi == 1 else 1.0
    sch, t_e = build.echo_train(tau, n_pi, pi_phase=pi_phase)
    vals = []
    for i in range(16):
        ch = build.chunk([DELTA] * 2500, [BIAS] * 2500, index=i)
        s, w = fast.simulate_chunk(sch, ch, env, np.array([t_e]), frame=frame,
                                   seed=100 * i + 7, moment=1.0)
        vals.append(sign * s[0, 0] / w / COS)
    mean, se = _check(np.array(vals), want, f"{noise} n={n_pi} τ={tau} {frame} (fast)")
    print(f"\nHIGHSTAT {noise} n={n_pi} tau={tau} {frame}: {mean:.4f} vs {want:.4f} "
          f"({(mean - want) / se:+.2f} SE)")


@pytest.mark.slow
@pytest.mark.parametrize("noise,n_pi,tau", [("ou", 1, 1.0e-6), ("telegraph", 4, 0.4e-6)])
def test_reference_lab_frame_high_statistics(noise, n_pi, tau, reference, build, closed):
    # the reference engine alone, lab frame (exact Hamiltonian), 800 trajectories:
    # standard error ≈ 0.02
    if noise == "ou":
        env = Environment(noise=(OrnsteinUhlenbeck(SIGMA_HZ, TAU_C),))
        want = closed.gaussian_echo_decay(*_filter(tau, n_pi), TWO_PI * SIGMA_HZ, TAU_C,
                                          COUPLING)
    else:
        env = Environment(noise=(Telegraph(TEL_HZ, TEL_RATE),))
        want = closed.telegraph_echo_decay(*_filter(tau, n_pi), COUPLING * TWO_PI * TEL_HZ,
                                           TEL_RATE).real
    vals = _echo_values(reference, build, env, tau, n_pi, 800, seed=21, frame="lab")
    _check(vals, want, f"{noise} n={n_pi} lab (reference, slow)")
