"""echo.theory against closed forms: the Bessel series, Eq. 7, the sum rule, the channel
weights, the 8/ω² tail and the topological phase average."""

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ive, jv

from echo.theory import (
    bessel_series_pt,
    bias_averaged_flip,
    chi_flat,
    chi_from_pt,
    chi_over_a,
    coupling_distribution,
    eq7_chi,
    flip_over_a,
    odd_bessel_sum,
    polarisation,
    pt_flat,
    single_grain_pt,
    y_average,
)


def test_single_grain_zero_bias_is_bare_oscillation():
    # P0(t) = cos(4 Δ0 t cos πS) for integer S, constant 1 for half-integer S (Δ = 0).
    t = np.linspace(0, 7, 50)
    delta0 = 1.3
    assert np.allclose(single_grain_pt(t, 2 * delta0, 0.0), np.cos(4 * delta0 * t), atol=1e-13)
    assert np.allclose(single_grain_pt(t, 0.0, 0.5), 1.0)


def test_odd_bessel_sum_matches_the_series():
    # S(x) = Σ_k J_{2k+1}(x); 60 terms converge to 1e-15 for x <= 30.
    x = np.array([0.1, 1.0, 4.0, 11.3, 30.0])
    series = sum(jv(2 * k + 1, x) for k in range(60))
    assert np.allclose(odd_bessel_sum(x), series, atol=1e-12)
    assert abs(odd_bessel_sum(1e4) - 0.5) < 1e-2  # S(∞) = ½, approached as x^{-1/2}


@pytest.mark.parametrize("t", [0.1, 0.7, 2.0])
def test_bessel_series_from_numerical_average_of_eq6_over_flat_bias(t):
    # Average 2(Δ/E)² sin²(Et) numerically over a flat W = 1/(2L) on [−L, L]; closed form:
    # 1 − P = 2A S(4Δ0 t), A = 2πΔ0 W. The window misses the tails |ε| > L, which carry
    # W·2Δ²/L (sin² averages to ½ there), corrected here; the rest is O(Δ²/(L² t)) ~ 1e-6.
    delta0, half = 1.0, 400.0
    w = 1.0 / (2 * half)
    numeric = bias_averaged_flip(t, 2 * delta0, lambda e: np.full_like(e, w),
                                 half_width=half, panels=6000)[0]
    numeric += w * 2 * (2 * delta0) ** 2 / half
    a = 2 * math.pi * delta0 * w
    closed = 1.0 - bessel_series_pt(t, a, delta0)
    assert numeric == pytest.approx(closed, rel=2e-4)


def test_general_polarisation_reduces_to_bessel_series():
    # polarisation() with λ = 0 and a flat density is P(t) = 1 − 2A S(4Δ0 t) exactly.
    delta0, w = 2 * math.pi * 1e6, 1e-9
    t = np.array([1e-8, 1e-7, 1e-6])
    p = polarisation(t, delta0=delta0, lam=0.0, flat_density=w)
    a = 2 * math.pi * delta0 * w
    assert np.allclose(p, bessel_series_pt(t, a, delta0), rtol=0, atol=1e-14)


def test_eq7_is_recovered_by_transforming_pt():
    # χ'' = 2∫[P − P(∞)] cos ωt dt with a weak damping e^{−ηt}: Eq. 7 convolved with a
    # Lorentzian of half width η = 0.01; at ω ≥ 5 (away from the threshold at 4) the
    # convolution changes Eq. 7 by < 0.5 % (curvature × η² plus the tail of the Lorentzian
    # over the singular region, η/π·O(1)/(ω−4)² relative to χ'' ~ 0.5).
    t = np.linspace(0.0, 1500.0, 150001)
    p_minus_inf = 1.0 - pt_flat(t, 0.0)  # (P − P∞)/A
    omega = np.array([5.0, 6.0, 8.0, 12.0])
    chi = chi_from_pt(t, p_minus_inf, 0.0, omega, damping=0.01)
    assert np.allclose(chi, eq7_chi(omega), rtol=5e-3)


def test_general_chi_matches_transform_of_general_pt():
    # λ = 0.3 (no closed form): the damped cosine transform of [P(t) − P(∞)]/A must equal
    # χ''/A convolved with L(x) = η/(η² + x²):  (1/π)∫_0^∞ χ''(ω')[L(ω−ω') + L(ω+ω')]dω'.
    # Both sides from the same coupling distribution; tolerance 1 % covers the t grid
    # (dt = 0.05, aliasing of the 8/ω² tail) and the ω' grid of the convolution.
    lam, eta = 0.3, 0.05
    dist = coupling_distribution(lam, n_bins=512)
    t = np.linspace(0.0, 320.0, 6401)  # e^{−ηt} < 1e−6 at the end
    flip = flip_over_a(t, dist)
    p_inf = dist.moment(1)  # [1 − P(∞)]/A = Σ weight · c
    omega = np.array([2.0, 3.5, 6.0])
    chi_t = chi_from_pt(t, p_inf - flip, 0.0, omega, damping=eta)
    wp = np.linspace(0.0, 100.0, 25001)[1:]  # beyond: ∫ 8/ω'² · η/ω² ~ 1e−7, dropped
    chi = chi_over_a(wp, dist)

    def lor(x):
        return eta / (eta**2 + x**2)

    conv = np.array([np.trapezoid(chi * (lor(w - wp) + lor(w + wp)), wp) for w in omega])
    conv /= math.pi
    assert np.allclose(chi_t, conv, rtol=1e-2)


def _independent_long_time_limit(lam):
    """[1 − P(∞)]/A = Σ_M ∫dy e^{−y} |J_M(2(λy)^{1/2})| by scipy quad, channel by channel."""
    total = 0.0
    for m in range(0, 25):
        val, _ = integrate.quad(lambda y, m=m: math.exp(-y) * abs(jv(m, 2 * math.sqrt(lam * y))),
                                0, 60, limit=400)
        total += val if m == 0 else 2 * val
    return total


def test_sum_rule_chi_integrates_to_one_minus_p_infinity():
    # ∫_0^∞ χ'' dω/π = 1 − P(∞). χ'' on a dense grid (trapezoid; χ'' is bounded and
    # continuous for λ > 0) up to Ω = 60, plus the tail 8⟨c²⟩/(πΩ), ⟨c²⟩ = 1.
    lam = 1.0
    dist = coupling_distribution(lam, n_bins=2048)
    w = np.concatenate([np.linspace(0.0, 4.5, 4501)[1:], np.linspace(4.5, 60.0, 1001)[1:]])
    chi = chi_over_a(w, dist)
    area = (np.trapezoid(chi, w) + 8.0 / 60.0) / math.pi
    expected = _independent_long_time_limit(lam)
    assert area == pytest.approx(expected, rel=2e-3)
    assert float(pt_flat([1e7], lam)[0]) == pytest.approx(expected, rel=2e-3)


def test_sum_rule_of_eq7_is_a():
    # ∫_{4}^∞ 8/(ω(ω²−16)^{1/2}) dω/π = 1 (the peak has weight A); ω = 4 cosh u.
    val, _ = integrate.quad(lambda u: eq7_chi(4 * math.cosh(u) + 0.0) * 4 * math.sinh(u)
                            if u > 0 else 0.5, 0, 40)
    assert val / math.pi == pytest.approx(1.0, rel=1e-8)


@pytest.mark.parametrize("lam_tilde", [0.3, 2.0, 10.0])
@pytest.mark.parametrize("m", [0, 1, 3, 7])
def test_channel_weights_closed_form(lam_tilde, m):
    # ∫dy e^{−y} J_M²(2(λ̃y)^{1/2}) = e^{−2λ̃} I_M(2λ̃): the y-average convention.
    numeric = y_average(lambda x: jv(m, x) ** 2, lam_tilde)
    assert numeric == pytest.approx(ive(m, 2 * lam_tilde), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("lam_tilde,m", [(0.3, 0), (0.3, 1), (2.0, 3), (10.0, 0), (10.0, 7)])
def test_distribution_carries_channel_weights(lam_tilde, m):
    # The binned distribution of c for channel ±M alone: ⟨c²⟩ = e^{−2λ̃} I_M(2λ̃). The
    # piecewise-linear representation is accurate to ~1e-6 here; 1e-4 allows for bins.
    half = 0.5 if m else 1.0
    dist = coupling_distribution(lam_tilde,
                                 channel_weights=lambda M: (np.abs(M) == m) * half)
    assert dist.moment(2) == pytest.approx(ive(m, 2 * lam_tilde), rel=1e-4)
    assert dist.total == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("lam,lam_prime", [(0.0, 0.0), (1.0, 0.0), (3.0, 1.0), (12.0, 2.0)])
def test_phase_average_second_moment(lam, lam_prime):
    # Σ_M ⟨c²⟩ = ⟨cos²φ⟩ = ½(1 + F_λ'(1) cos 2Φ) = ½(1 + e^{−4λ'}) at Φ = 0.
    dist = coupling_distribution(lam, lam_prime, n_bins=2048)
    assert dist.moment(2) == pytest.approx(0.5 * (1 + math.exp(-4 * lam_prime)), rel=1e-4)


def test_half_integer_phase_blocks_everything():
    # Φ = π/2 (half-integer S) and λ' = 0: Δ_M = 0, no absorption and P(t) = 1.
    assert np.all(chi_flat([1.0, 5.0], 0.5, 0.0, phase=math.pi / 2) == 0)
    assert np.all(pt_flat([1.0, 50.0], 0.5, 0.0, phase=math.pi / 2) == 0)


@pytest.mark.parametrize("lam,lam_prime", [(1e-3, 0.0), (10.0, 0.0), (3.0, 1.0)])
def test_high_frequency_tail(lam, lam_prime):
    # χ''/A → 8⟨c²⟩/ω² = 8⟨cos²φ⟩/ω² (Eq. 7: 8Δ0A/ω²); next order 8⟨c⁴⟩/ω⁴·… ~ 2e-4 at
    # ω = 200, hence rel 1e-3.
    omega = np.array([200.0, 400.0])
    tail = 8 * 0.5 * (1 + math.exp(-4 * lam_prime)) / omega**2
    assert np.allclose(chi_flat(omega, lam, lam_prime), tail, rtol=1e-3)
    assert np.allclose(eq7_chi(omega) * omega**2 / 8, 1.0, rtol=1e-3)


def test_chi_reduces_to_eq7_as_lambda_vanishes():
    # λ = 1e-7: channel M = 0 has c ∈ [1 − O(λ), 1]; away from the threshold the
    # difference from Eq. 7 is O(λ) plus the M = ±1 weight (< 1e-6 above ω = 4.1).
    omega = np.array([4.1, 4.5, 6.0, 10.0, 30.0])
    assert np.allclose(chi_flat(omega, 1e-7), eq7_chi(omega), rtol=1e-4)
    assert np.all(chi_flat(np.array([1.0, 3.9]), 1e-7) < 1e-3)


def test_chi_is_finite_and_nonnegative_on_a_grid():
    # Integrable singularities handled: no NaN/inf at any grid point for λ > 0, and no
    # grid-induced spikes: refining the ω grid leaves interpolated values unchanged.
    dist = coupling_distribution(10.0, 2.0)
    w = np.linspace(0.0, 12.0, 601)
    chi = chi_over_a(w, dist)
    assert np.all(np.isfinite(chi)) and np.all(chi >= 0)
    w2 = np.linspace(0.0, 12.0, 1201)
    chi2 = chi_over_a(w2, dist)
    assert np.allclose(chi2[::2], chi, rtol=1e-12)
    # smooth (χ''(0) = 0 but χ''(0+) is finite, so start at ω = 0.1): every midpoint
    # lies within 1 % of the curve's maximum of its neighbours' mean — a grid spike
    # (an isolated node's singularity) would break this.
    mid = chi2[1:-1:2]
    mean = 0.5 * (chi2[0:-2:2] + chi2[2::2])
    sel = w2[1:-1:2] > 0.1
    assert np.max(np.abs(mid - mean)[sel]) < 0.01 * chi2.max()
