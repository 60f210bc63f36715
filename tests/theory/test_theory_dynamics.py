"""P(t) of Eqs. 4–6 with a real bias density W(ε) (channels at ε = Mω0/2)."""

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import jv

from echo.model import ModelError
from echo.theory import BiasDensity, bessel_series_pt, polarisation


def test_small_lambda_overlapping_bias_is_the_bessel_series():
    # μ ≫ 1, λ = 1e-6: P(t) = 1 − 2A Σ J_{2k+1}(4Δ0t) with A = 2πΔ0 W(0); the M = ±1
    # channels add O(√λ)·A = 1e-3 A, hence the tolerance 2e-3·A.
    delta0 = 1.0
    w = BiasDensity(400, 50.0, 10.0)
    a = w.fraction_a(delta0)
    t = np.array([0.2, 1.0, 5.0])
    p = polarisation(t, delta0=delta0, lam=1e-6, bias=w)
    assert np.allclose(p, bessel_series_pt(t, a, delta0), rtol=0, atol=2e-3 * a)


def _abs_j(m, lam):
    val, _ = integrate.quad(lambda y: math.exp(-y) * abs(jv(m, 2 * math.sqrt(lam * y))),
                            0, 60, limit=400)
    return val


def test_odd_n_blocking_is_lifted_by_coflips():
    # Odd N, μ ≪ 1: no group at ε = 0 (footnote 13), but channels M = ±1 sit at
    # ε = ±ω0/2, on the ΔN = ±1 groups. Long-time limit:
    # 1 − P(∞) = Σ_M 2πΔ0 W(Mω0/2) ⟨|J_M(2√(λy))|⟩_y (quadrature for each M).
    delta0, lam = 1e-3, 0.5
    w = BiasDensity(11, 50.0, 1.0)
    assert w.regime == "separated"
    expected = sum(2 * math.pi * delta0 * float(w.pdf(m * 25.0)) * _abs_j(abs(m), lam)
                   for m in range(-12, 13))
    p_inf = polarisation([1e9], delta0=delta0, lam=lam, bias=w)[0]
    assert 1 - p_inf == pytest.approx(expected, rel=2e-3)
    # and the M = 0 channel alone would be blocked
    assert float(w.pdf(0.0)) < 1e-50


def test_polarisation_needs_exactly_one_bias():
    with pytest.raises(ModelError, match="exactly one"):
        polarisation([1.0], delta0=1.0, lam=0.1)
    with pytest.raises(ModelError, match="lambda_prime"):
        polarisation([1.0], delta0=1.0, lam=0.1, lam_prime=0.2, flat_density=1.0)
