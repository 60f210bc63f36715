"""W(ε): normalisation, the two regimes, odd-N blocking, thermal weights and A."""

import math

import numpy as np
import pytest
from scipy.special import comb

from echo.model import ModelError
from echo.theory import (
    BiasDensity,
    fraction_overlapping,
    fraction_separated,
    mu_parameter,
)


def _integral(w: BiasDensity, lo, hi, n=60001):
    e = np.linspace(lo, hi, n)
    return np.trapezoid(w.pdf(e), e), e


@pytest.mark.parametrize("n,dw,temp", [(100, 0.5, None), (101, 0.5, None), (400, 15.0, None),
                                       (100, 0.5, 2000.0)])
def test_normalised(n, dw, temp):
    # ∫W dε = 1 (trapezoid with spacing ≤ 0.1 s of the narrowest Gaussian group: the
    # rule is spectrally accurate for Gaussians, error ≪ 1e-6).
    w = BiasDensity(n, 50.0, dw, temperature=temp)
    half = 8 * math.sqrt(n) * 25.0 + 10 * w.group_width
    val, _ = _integral(w, -half, half)
    assert val == pytest.approx(1.0, abs=1e-6)


def test_separated_groups_sit_at_half_omega0_delta_n():
    # μ ≪ 1: peaks at ε = ω0 ΔN/2 with ΔN ≡ N (mod 2); the weight of the ΔN = 0 group is
    # the binomial C(N, N/2)/2^N (so W(0) = that / ((2π)^{1/2} s)).
    n, w0, dw = 100, 50.0, 0.5
    w = BiasDensity(n, w0, dw)
    assert w.regime == "separated" and w.mu == pytest.approx(mu_parameter(n, dw, w0))
    s = w.group_width
    assert s == pytest.approx(math.sqrt(n) * dw / 2)
    p0 = comb(n, n // 2, exact=True) / 2**n
    assert w.pdf(0.0) == pytest.approx(p0 / (math.sqrt(2 * math.pi) * s), rel=1e-12)
    p2 = comb(n, n // 2 + 1, exact=True) / 2**n  # ΔN = 2: ε = ω0
    assert w.pdf(w0) == pytest.approx(p2 / (math.sqrt(2 * math.pi) * s), rel=1e-12)
    # between groups (ΔN = 1 is impossible for even N): e^{−(ω0/2)²/2s²} = e^{−50}
    assert w.pdf(w0 / 2) < 1e-20


def test_odd_n_blocks_degeneracy():
    # Footnote 13: odd N and μ ≪ 1 → no ΔN = 0 group, W(0) ~ exp(−(ω0/2)²/(2s²)) ≈ 0.
    w_odd = BiasDensity(101, 50.0, 0.5)
    w_even = BiasDensity(100, 50.0, 0.5)
    assert w_odd.fraction_a(1.0) < 1e-20
    assert w_even.fraction_a(1.0) > 1e-2
    assert fraction_separated(1.0, 101, 0.5) == 0.0


def test_overlapping_is_the_gaussian_envelope():
    # μ ≫ 1: the comb's ripple is exp(−2π² s²/ω0²) ~ 1e-39 at μ = 3, so W is smooth —
    # equal on and between group centres — and within ±2σ equals the Gaussian envelope of
    # variance N ω0²/4 + s² up to the binomial's O(x⁴/12N) ≈ 1e-3 correction.
    w = BiasDensity(400, 50.0, 7.5)
    assert w.regime == "overlapping" and w.mu == pytest.approx(3.0)
    e = np.linspace(-1000, 1000, 41)
    ratio = w.pdf(e) / w.envelope_pdf(e)
    ratio_mid = w.pdf(e + 25.0) / w.envelope_pdf(e + 25.0)
    assert np.allclose(ratio, ratio_mid, rtol=1e-3)
    assert np.allclose(ratio, 1.0, rtol=3e-3)


def test_fraction_a_limits():
    # Separated (μ = 0.05, even N): A = 2πΔ0 P(ΔN=0)/((2π)^{1/2} s) exactly, and
    # ≈ 4Δ0/(N δω) up to Stirling's 1/(4N) (0.25 % at N = 100).
    d0 = 0.01
    w = BiasDensity(100, 50.0, 0.25)
    assert w.fraction_a(d0) == pytest.approx(fraction_separated(d0, 100, 0.25), rel=1e-12)
    assert fraction_separated(d0, 100, 0.25) == pytest.approx(4 * d0 / (100 * 0.25), rel=3e-3)
    # Overlapping: A = 2(2π)^{1/2} Δ0/(N^{1/2} ω0) up to the group width, relative
    # correction μ²/(2N) = 4.5e-4 for N = 1e4, μ = 3.
    w = BiasDensity(10000, 50.0, 1.5)
    assert w.fraction_a(d0) == pytest.approx(fraction_overlapping(d0, 10000, 50.0), rel=1e-3)
    assert fraction_overlapping(1.0, 1, 1.0) == pytest.approx(2 * math.sqrt(2 * math.pi))


def test_half_integer_spin_has_no_fraction():
    w = BiasDensity(100, 50.0, 10.0)
    assert w.fraction_a(1.0, spin=2.5) == 0.0
    assert w.fraction_a(1.0, spin=3.0) == pytest.approx(w.fraction_a(1.0))


def test_thermal_weights_shift_the_mean():
    # e^{−ε/T}: each nucleus has ⟨σ⟩ = −tanh(ω0/2T), and each Gaussian group shifts by
    # −s²/T, so ⟨ε⟩ = −(N ω0/2) tanh(ω0/2T) − s²/T.
    n, w0, dw, temp = 100, 50.0, 0.5, 2000.0
    w = BiasDensity(n, w0, dw, temperature=temp)
    val, e = _integral(w, -3000, 3000)
    mean = np.trapezoid(e * w.pdf(e), e)
    expected = -(n * w0 / 2) * math.tanh(w0 / (2 * temp)) - w.group_width**2 / temp
    assert mean == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kwargs,field", [
    ({"n_nuclei": -3, "omega0": 1.0, "delta_omega": 1.0}, "n_nuclei"),
    ({"n_nuclei": 10, "omega0": float("nan"), "delta_omega": 1.0}, "omega0"),
    ({"n_nuclei": 10, "omega0": 1.0, "delta_omega": -1.0}, "delta_omega"),
    ({"n_nuclei": 10, "omega0": 1.0, "delta_omega": 0.0}, "delta_omega"),
    ({"n_nuclei": 10, "omega0": 1.0, "delta_omega": 1.0, "temperature": 0.0}, "temperature"),
])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(ModelError, match=field):
        BiasDensity(**kwargs)


def test_tabulated_for_the_simulator():
    # The sampled table integrates to 1 and its sample mean matches ⟨ε⟩ = 0 (T = ∞)
    # within 4 standard errors (σ = N^{1/2}ω0/2 = 250, n = 20000 → SE = 1.8).
    w = BiasDensity(100, 50.0, 10.0)
    tab = w.tabulated()
    x, p = np.array(tab.x), np.array(tab.pdf)
    assert np.trapezoid(p, x) == pytest.approx(1.0, abs=1e-6)
    vals, _ = tab.draw(np.random.default_rng(3), 20000)
    sigma = math.sqrt(w.envelope_width**2 + w.group_width**2)
    assert abs(vals.mean()) < 4 * sigma / math.sqrt(20000)
