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
