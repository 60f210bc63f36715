"""Spectral diffusion from a refilling series (echo.hole.analysis.fit_spectral_diffusion).

* Synthetic holes (the fit's own closed form + noise correlated over one resolution
  element, known σ and τc): the fit covers the truth at 1σ in about 68 % of draws for each
  parameter — tests the fit and its error bars, no engine.
* Engine, one seed (default suite): a series of 6 waits on the fast engine gives σ and τc
  within 3σ of the truth, holes that broaden with the wait and an area that stays.
* Engine, 20 seeds (slow): σ and τc BOTH covered at 1σ in ≥ 60 % of the seeds (issue 16).
  Measured: 21 of 24 seeds (200–223) on this configuration.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.hole.analysis import _base_profile, _broadened, fit_spectral_diffusion
from echo.hole.experiment import simulate_series
from echo.hole.readout import HoleSpectrum
from echo.model import (
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Gaussian,
    Model,
    ModelError,
    OrnsteinUhlenbeck,
)

SIGMA, TAU_C = 6e4, 150e-6
WAITS = [3e-6, 20e-6, 50e-6, 100e-6, 200e-6, 400e-6]


def _model(seed: int, n: int = 2000) -> Model:
    ens = Ensemble(Fixed(1e6), Gaussian(0, 1e6), spin=100, g=2, n_grains=1e10, n_samples=n,
                   seed=seed)
    return Model(ens, Environment(noise=(OrnsteinUhlenbeck(SIGMA, TAU_C),)),
                 Detection(flux_per_moment=1e-13))


def _series(seed: int):
    # π burn of 200 kHz FWHM at 4.5 MHz (c = 2ε/E = 0.915 there), one-shot spectra at
    # 100 kHz resolution (a 20 µs Hann window ≪ τc), ±600 kHz
    return simulate_series(_model(seed), 4.5e6, WAITS, "pi", width=200e3, resolution=100e3,
                           span=1.2e6)


def _covered(fit) -> bool:
    return (abs(fit.sigma - SIGMA) <= fit.sigma_err
            and abs(fit.tau_c - TAU_C) <= fit.tau_c_err)


def test_fit_covers_synthetic_truth():
    rng = np.random.default_rng(11)
    res, c, duration, rabi = 100e3, 0.915, 4e-6, 125e3
    f = 4.5e6 + np.arange(-600e3, 600e3 + 1, res / 4)
    off = np.linspace(-4 * res, 4 * res, 321)
    kern = np.sinc(off / res * 0.6) ** 2
    spec0 = HoleSpectrum(f, np.zeros_like(f), np.zeros_like(f), 4.5e6, res, (off, kern),
                         "spectrum", np.ones(f.size, bool))
    base = _base_profile(spec0, duration, rabi)
    cov_s = cov_t = 0
    n = 40
    for _ in range(n):
        specs = []
        for w in WAITS:
            s = math.sqrt(2 * (c * SIGMA) ** 2 * -math.expm1(-w / TAU_C))
            grid = np.arange(f.min() - res, f.max() + 2 * res, res)
            noise = np.interp(f, grid, rng.standard_normal(grid.size))
            specs.append(HoleSpectrum(f, _broadened(base, f, s) + 0.03 * noise,
                                      np.zeros_like(f), 4.5e6, res, (off, kern), "spectrum",
                                      np.ones(f.size, bool)))
        fit = fit_spectral_diffusion(WAITS, specs, duration=duration, rabi_hz=rabi, c=c)
        cov_s += abs(fit.sigma - SIGMA) <= fit.sigma_err
        cov_t += abs(fit.tau_c - TAU_C) <= fit.tau_c_err
    # 68 % nominal; 40 draws: binomial sd 7 %, bound at ~3 sd below
    assert cov_s >= 0.45 * n and cov_t >= 0.45 * n, (cov_s, cov_t)
    # and the error bars are not absurdly wide: at most 95 % coverage... (3 sd above)
    assert cov_s <= 0.95 * n or cov_t <= 0.95 * n


def test_fit_refuses_too_few_waits():
    with pytest.raises(ModelError, match=">= 4 waits"):
        fit_spectral_diffusion([1e-6, 2e-6], [], duration=1e-6, rabi_hz=1e5, c=1.0)


def test_refilling_series_one_seed():
    sr = _series(200)
    fit = sr.fit
    assert fit.success, fit.message
    assert abs(fit.sigma - SIGMA) <= 3 * fit.sigma_err
    assert abs(fit.tau_c - TAU_C) <= 3 * fit.tau_c_err
    widths = [h.figures.fwhm for h in sr.holes]
    areas = [h.figures.area for h in sr.holes]
    depths = [h.figures.depth for h in sr.holes]
    # the hole broadens and fills with the wait: the fitted diffusion is significant
    # (σ > 2 of its errors: measured 2.96 on this seed); the last hole is wider and
    # shallower than the first (depth beyond 2 combined errors: measured 1.80 ± 0.14 →
    # 1.36 ± 0.09; single FWHMs scatter by ~10 % on 2000 grains) ...
    assert fit.sigma > 2 * fit.sigma_err
    assert widths[-1] > widths[0]
    assert depths[0] - depths[-1] > 2 * math.hypot(sr.holes[0].figures.depth_err,
                                                   sr.holes[-1].figures.depth_err)
    # ... and its area stays (within 4 stated errors of the first)
    for h in sr.holes[1:]:
        assert abs(h.figures.area - areas[0]) <= 4 * math.hypot(h.figures.area_err,
                                                                 sr.holes[0].figures.area_err)


@pytest.mark.slow
def test_refilling_series_coverage_over_seeds():
    fits = [_series(seed).fit for seed in range(200, 220)]
    covered = sum(_covered(f) for f in fits)
    assert covered >= 12, [(f.sigma, f.sigma_err, f.tau_c, f.tau_c_err) for f in fits]
