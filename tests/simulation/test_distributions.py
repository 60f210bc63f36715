"""Grain distributions of echo.model against their exact laws (seeded; ≤ 4 SE)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.model import Tabulated


def test_tabulated_samples_the_piecewise_linear_density():
    """x = [0, 1, 2], pdf = [0, 1, 0] is the triangle on [0, 2]: mean 1, variance 1/6,
    CDF F(x) = x²/2 (x ≤ 1), 1 − (2 − x)²/2. A sampler that treats each cell as uniform
    (linear interpolation of the CDF) gives variance 1/3 — twice the true one."""
    n = 100_000
    vals, w = Tabulated((0.0, 1.0, 2.0), (0.0, 1.0, 0.0)).draw(np.random.default_rng(5), n)
    assert np.all(w == 1) and vals.min() >= 0 and vals.max() <= 2
    # SE of the mean: sqrt(1/6 / n) = 1.3e-3; of the variance: sqrt((μ4 − σ⁴)/n),
    # μ4 = 1/15, σ⁴ = 1/36 → 6.2e-4
    assert abs(vals.mean() - 1.0) < 4 * math.sqrt(1 / 6 / n)
    assert abs(vals.var() - 1 / 6) < 4 * math.sqrt((1 / 15 - 1 / 36) / n)
    # empirical CDF vs the exact one (DKW: P(sup > 2/√n) ≤ 2e^{-8})
    xs = np.sort(vals)
    exact = np.where(xs <= 1, xs**2 / 2, 1 - (2 - xs) ** 2 / 2)
    emp = np.arange(1, n + 1) / n
    assert np.max(np.abs(emp - exact)) < 2 / math.sqrt(n)


def test_tabulated_with_flat_and_empty_cells():
    """A flat cell, an empty cell and a ramp: pdf = [1, 1, 0, 0, 2] on x = 0..4. Masses
    1, 0.5, 0, 1 (total 2.5): nothing may land in the empty cell (2, 3), and the ramp
    cell (3, 4) has density ∝ (x − 3): its conditional mean is 3 + 2/3."""
    n = 50_000
    x = (0.0, 1.0, 2.0, 3.0, 4.0)
    vals, _ = Tabulated(x, (1.0, 1.0, 0.0, 0.0, 2.0)).draw(np.random.default_rng(6), n)
    assert not np.any((vals > 2.0) & (vals < 3.0))
    frac = [np.mean((vals >= a) & (vals < b)) for a, b in ((0, 1), (1, 2), (3, 4.0001))]
    for f, want in zip(frac, (0.4, 0.2, 0.4), strict=True):
        assert abs(f - want) < 4 * math.sqrt(want * (1 - want) / n)
    ramp = vals[vals >= 3.0]
    # density 2(x − 3) on [3, 4]: mean 3 + 2/3, variance 1/18
    assert abs(ramp.mean() - (3 + 2 / 3)) < 4 * math.sqrt(1 / 18 / ramp.size)


def test_spin_diffusion_width_is_one_polarisation_group_of_the_theory():
    """echo.model.spin_diffusion and echo.theory.BiasDensity use one ε convention (the τz
    coefficient): the OU width for μ, ω0 is the width of one polarisation group,
    N^{1/2}δω/2 = μω0/2 (no extra broadening) — not μω0 (the paper's ε = ω0ΔN)."""
    from echo.model import spin_diffusion
    from echo.modelfile import parse_model
    from echo.theory import BiasDensity

    bd = BiasDensity(n_nuclei=100, omega0=5e7, delta_omega=5e5)
    ou = spin_diffusion(bd.mu, bd.omega0, 3e-5)
    assert ou.sigma == pytest.approx(bd.group_width, rel=1e-12)
    assert ou.tau_c == 3e-5
    text = ("[ensemble]\ndelta0 = 1e6\nbias = 0.0\n"
            "[[environment.noise]]\nkind = \"spin_diffusion\"\n"
            f"mu = {bd.mu!r}\nomega0 = 5e7\nt2 = 3e-5\n")
    (noise,) = parse_model(text).environment.noise
    assert noise == ou  # the model file builds the same process
