"""echo.noise: exact trajectory statistics (seeded; bounds ≤ 4 standard errors)."""

import math

import numpy as np

from echo.model import Environment, OrnsteinUhlenbeck, Telegraph
from echo.noise import (
    bias_noise,
    ou_step,
    ou_trajectories,
    telegraph_integrals,
    telegraph_trajectories,
)

TWO_PI = 2 * math.pi


def test_ou_covariance():
    n, sigma, tc = 20000, 1e5, 1e-6
    t = np.array([0.0, 0.3e-6, 2e-6])
    x = ou_trajectories(np.random.default_rng(0), sigma, tc, t, n) / (TWO_PI * sigma)
    # Var = 1 and Cov(0, t) = e^{−t/τc}; se of a sample moment of unit Gaussians ≤ sqrt(2/n)
    se = math.sqrt(2 / n)
    assert abs(x[:, 0].var() - 1) < 4 * se
    for i in (1, 2):
        assert abs(np.mean(x[:, 0] * x[:, i]) - math.exp(-t[i] / tc)) < 4 * se


def test_ou_integral_coefficients_small_step_limit():
    c = ou_step([1e-12, 1e-3], 2.0, 1e-6)
    # h ≪ τc: ρ → 1, ib → h, s2 → σ sqrt(h³/(6 τc)) (Brownian-bridge area)
    assert abs(c["ib"][0] / 1e-12 - 1) < 1e-6  # ib = τc(1 − ρ) = h − h²/2τc
    assert abs(c["s2"][0] / (2.0 * math.sqrt(1e-36 / 6e-6)) - 1) < 1e-6
    # h ≫ τc: the integral decorrelates, Var I → 2σ²τc h
    var_i = c["c"][1] ** 2 + c["s2"][1] ** 2 + (c["ib"][1] * 2.0) ** 2
    assert abs(var_i / (2 * 4.0 * 1e-6 * 1e-3) - 1) < 2e-3


def test_telegraph_correlation_and_integral():
    n, b, rate = 20000, 1e4, 2e5
    t = np.array([0.0, 2e-6])
    x = telegraph_trajectories(np.random.default_rng(1), b, rate, t, n) / (TWO_PI * b)
    assert set(np.unique(x)) <= {-1.0, 1.0}
    se = 1 / math.sqrt(n)
    assert abs(np.mean(x[:, 0] * x[:, 1]) - math.exp(-2 * rate * 2e-6)) < 4 * se
    i = telegraph_integrals(np.random.default_rng(2), b, rate, [0.0, 3e-6], n)[:, 0]
    # Var ∫ = 2 b² ∫∫ e^{−2γ|t−t'|} = b² (2T/(2γ) − (1 − e^{−2γT})/(2γ²)) ... exact form:
    g, tt, bb = 2 * rate, 3e-6, TWO_PI * b
    var = 2 * bb**2 * (tt / g - (1 - math.exp(-g * tt)) / g**2)
    assert abs(i.var() / var - 1) < 4 * math.sqrt(2 / n) * 1.5


def test_bias_noise_sums_processes():
    env = Environment(noise=(OrnsteinUhlenbeck(1e4, 1e-6), Telegraph(1e4, 1e5)))
    x = bias_noise(env, np.random.default_rng(3), [0.0], 40000)[:, 0] / (TWO_PI * 1e4)
    assert abs(x.var() - 2) < 4 * math.sqrt(2 * 4 / 40000) * 2


def test_ou_step_joint_moments_match_closed_forms_at_every_step_size():
    """The joint update (δε', I) over a step h from a stationary δε ~ N(0, σ²) must give the
    stationary OU moments, closed forms with x = h/τc, ρ = e^{−x}:
    Var δε' = σ², Var I = 2σ²τc²(x − 1 + ρ), Cov(δε', I) = σ²τc(1 − ρ).
    Steps on both sides of the series/closed-form switch of f(x) (x = 0.1) and far from
    it; the limits test above sees only the leading series term. Deterministic: rtol 1e-9
    (float rounding of the closed forms; cancellation in x − 1 + ρ is ~1e-12 at x = 1e-3)."""
    sigma, tc = 3.0, 2e-6
    x = np.array([1e-3, 0.05, 0.0999, 0.1001, 0.5, 1.0, 3.0, 20.0])
    c = ou_step(x * tc, sigma, tc)
    rho = np.exp(-x)
    # δε' = ρ δε + s1 ξ1 ; I = ib δε + c ξ1 + s2 ξ2 ; δε ~ N(0, σ²)
    var_eps = rho**2 * sigma**2 + c["s1"] ** 2
    var_i = c["ib"] ** 2 * sigma**2 + c["c"] ** 2 + c["s2"] ** 2
    cov = rho * c["ib"] * sigma**2 + c["s1"] * c["c"]
    np.testing.assert_allclose(c["rho"], rho, rtol=1e-12)
    np.testing.assert_allclose(var_eps, sigma**2, rtol=1e-12)
    np.testing.assert_allclose(var_i, 2 * sigma**2 * tc**2 * (x - 1 + rho), rtol=1e-9)
    np.testing.assert_allclose(cov, sigma**2 * tc * (1 - rho), rtol=1e-9)
