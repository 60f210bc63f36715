"""Link to the paper's theory: free evolution from τz = +1 over a flat bias window gives
P(t) = 1 − 2A Σ_k J_{2k+1}(4Δ0 t).

Derivation of A for the window used here. One grain: P_ε(t) = 1 − 2(Δ/E)² sin²(E t),
Δ = 2Δ0 (integer S). For a bias density w flat on the scale of Δ,
∫dε w 2(Δ/E)² sin²(E t) = 2π w Δ Σ_k J_{2k+1}(2Δ t)  (substitute ε = Δ sinh u; the
identity Σ_k J_{2k+1}(x) = ½∫_0^x J0 is the one echo.theory uses). A uniform window
[−W, W] has w = 1/(2W), hence

    A = π Δ / (2W) = π Δ0 / W,     P(∞) = 1 − A.

A finite window misses the tails |ε| > W of the integral; that correction,
T(t) = (1/W)∫_W^∞ 2(Δ/E)² sin²(E t) dε ≤ 2Δ²/W², is added explicitly (computed by
quadrature; it is ~6e-4 here, small against the 0.06 signal but above the 1e-5 bound).

The ensemble is a deterministic midpoint grid over the window (spacing W/640 = Δ/16;
the integrand oscillates in ε at most at rate 2t ≤ 6/Δ0, so the grid resolves it with
room to spare and the midpoint error is < 1e-6), simulated with the QuTiP reference engine
(initial="up", lab frame). Bound 1e-5 (measured 1.6e-6): quadrature error of the grid +
solver tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

from echo.model import Environment

TWO_PI = 2 * math.pi
DELTA0 = TWO_PI * 1e6
DELTA = 2 * DELTA0
W = 40 * DELTA
N_GRID = 1280


def _bessel_pt(t, fraction_a, closed):
    try:
        from echo.theory.dynamics import bessel_series_pt
    except ImportError:
        return 1.0 - 2.0 * fraction_a * closed.odd_bessel_sum(4 * DELTA0 * t)
    return bessel_series_pt(t, fraction_a, DELTA0)


def _tail(t):
    """(1/W)∫_W^∞ 2(Δ/E)² sin²(E t) dε = (1/W)[Δ(π/2 − atan(W/Δ))
    − ∫_{E_W}^∞ Δ²/(E (E² − Δ²)^{1/2}) cos(2 E t) dE]  (ε → E; QUADPACK's Fourier
    integral QAWF for the oscillating part)."""
    smooth = DELTA * (math.pi / 2 - math.atan(W / DELTA))
    if t == 0:
        return 0.0
    e_w = math.hypot(W, DELTA)
    osc, _ = quad(lambda e: DELTA**2 / (e * math.sqrt(e * e - DELTA**2)), e_w, np.inf,
                  weight="cos", wvar=2 * t)
    return (smooth - osc) / W


def _free(duration):
    from sequences.schedule import Channel, Schedule
    return Schedule(channels=(Channel("coil", "field"),), duration=float(duration) * 1.0001)


def test_bessel_identity_of_the_closed_form(closed):
    # the helper sum equals ½∫_0^x J0 (independent check of the series)
    from scipy.special import j0
    for x in (0.5, 3.0, 11.0):
        want = 0.5 * quad(j0, 0.0, x)[0]
        assert closed.odd_bessel_sum(np.array([x]))[0] == pytest.approx(want, abs=1e-12)


def test_flat_bias_free_evolution_reproduces_bessel_series(reference, build, closed):
    h = 2 * W / N_GRID
    eps = -W + h * (np.arange(N_GRID) + 0.5)
    ch = build.chunk(np.full(N_GRID, DELTA), eps)
    t = np.linspace(0.0, 3.0 / DELTA0, 25)
    sch = build.schedule(t[-1] * 1.0001)
    s, w = reference.simulate_chunk(sch, ch, Environment(), t, initial="up", seed=0)
    p = s[0] / w
    a = math.pi * DELTA0 / W
    want = _bessel_pt(t, a, closed) + np.array([_tail(x) for x in t])
    assert np.max(np.abs(p - want)) < 1e-5, np.max(np.abs(p - want))
    # the signal is real: P dips by 2A·max S ≈ 0.07
    assert 1 - np.min(p) > 0.05
    # and the tail correction is needed at this precision (it is not a no-op)
    assert np.max(np.abs(p - _bessel_pt(t, a, closed))) > 2e-4


def test_sampled_uniform_ensemble_with_fast_engine(fast, closed):
    # the same law through the model's own sampling path: Ensemble with a Uniform bias
    # distribution (Hz), Monte Carlo over 16 chunks of 20 000 grains, fast engine;
    # standard error from the chunk spread, bound 4 SE
    from echo.model import Ensemble, Fixed, Uniform
    w_hz = W / TWO_PI
    ens = Ensemble(delta0=Fixed(DELTA0 / TWO_PI), bias=Uniform(-w_hz, w_hz), spin=10,
                   n_samples=16 * 20000, chunk_size=20000, seed=5)
    t = np.linspace(0.0, 3.0 / DELTA0, 13)
    sch = _free(t[-1])
    vals = []
    for i in range(ens.n_chunks):
        s, w = fast.simulate_chunk(sch, ens.chunk(i), Environment(), t, initial="up",
                                   seed=i, moment=ens.moment_rad_per_tesla)
        vals.append(s[0] / w)
    vals = np.array(vals)
    mean = vals.mean(axis=0)
    se = vals.std(axis=0, ddof=1) / math.sqrt(len(vals))
    want = _bessel_pt(t, math.pi * DELTA0 / W, closed) + np.array([_tail(x) for x in t])
    assert np.all(np.abs(mean - want) <= 4 * se + 1e-12)
    assert np.max(se) < 0.003  # precise enough to see the 0.06 dip
