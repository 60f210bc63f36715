"""fit_nutation on synthetic curves of known Rabi frequency (seeded noise): the estimate
lies within 4 standard errors of the truth, echo- (φ = 0) and FID-detected (φ = −π/2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.fit.errors import FitError
from echo.fit.nutation import fit_nutation, nutation_curve


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("phase", [0.0, -math.pi / 2])
def test_rabi_frequency_within_four_standard_errors(seed, phase):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.5e6, 3e6)
    tp = np.linspace(20e-9, 2e-6, 40)
    y = nutation_curve(tp, 0.8, f, 3e-6, phase, 0.05) + rng.normal(0, 0.02, tp.size)
    fit = fit_nutation(tp, y)
    p = fit.params["rabi_frequency"]
    assert abs(p.value - f) < 4 * p.stderr, (p.value, f, p.stderr)
    assert p.stderr < 0.02 * f


def test_too_few_or_repeated_points_are_refused():
    with pytest.raises(FitError, match="at least 7"):
        fit_nutation(np.arange(5) * 1e-7, np.ones(5))
    with pytest.raises(FitError, match="distinct"):
        fit_nutation(np.array([1, 1, 2, 3, 4, 5, 6, 7]) * 1e-7, np.ones(8))
