"""The spin-bath channel ensemble (echo.theory.channels) through the fast engine against
echo.theory.polarisation: 1 − P(t) at Δ0t = 0.125 … 20 for λ = 1e-3 and λ − λ' = 10,
within 4 standard errors (batch means over 32 batches of 500 000 grains). The channel
mixture's finite bands cost ≈ 4A²/π² per channel (A = 1e-4: < 1e-6 in all, far below the
standard errors of 1e-6 … 2e-5; see the module docstring)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.correlation import tau_z_correlation
from echo.model import Ensemble, ModelError
from echo.modelfile import load_model
from echo.theory import polarisation
from echo.theory.channels import SpinBathChannels

TIMES = np.array([0.125, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0])
DELTA0 = 1e6


@pytest.mark.parametrize("lam", [1e-3, 10.0])
def test_engine_pt_over_the_channel_ensemble_matches_the_theory(lam):
    g = SpinBathChannels(delta0=DELTA0, lam=lam, fraction_a=1e-4)
    ens = Ensemble(grains=g, n_samples=500_000, batches=32, seed=11)
    w0 = 2 * math.pi * DELTA0
    p, se = tau_z_correlation(ens, TIMES / w0)
    want = polarisation(TIMES / w0, delta0=w0, lam=lam, flat_density=g.density / (2 * math.pi))
    z = (want - p) / se
    print(f"\nlambda-lambda' = {lam}: 1-P engine {np.round(1 - p, 7)}, theory "
          f"{np.round(1 - want, 7)}, z {np.round(z, 2)}")
    assert np.all(se > 0)
    assert np.all(np.abs(z) <= 4.0)
    assert np.all(1 - want > 5 * se[0] / 2)  # the signal is resolved, not noise


def test_channel_probabilities_and_grains():
    g = SpinBathChannels(delta0=DELTA0, lam=10.0, fraction_a=1e-4)
    m, p = g.channels()
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(p[m == 0], np.exp(-20.0) * 4.355828e7, rtol=1e-6)  # I_0(20)
    d0, eps, w = g.draw(np.random.default_rng(0), 10_000)
    assert np.all(d0 <= DELTA0) and np.all(w == 1)
    # every channel's grains spread with density w: |ε| < p_M / (2w)
    assert np.max(np.abs(eps)) <= p.max() / (2 * g.density)
    with pytest.raises(ModelError, match="lam_prime: must be <= lam"):
        SpinBathChannels(delta0=DELTA0, lam=1.0, lam_prime=2.0)


def test_example_model_file_reads_the_preset():
    from pathlib import Path

    ens = load_model(Path(__file__).resolve().parents[2] / "examples"
                     / "spinbath_channels.toml").ensemble
    assert ens.rule == "spinbath_channels" and not ens.deterministic
    c = ens.chunk(0)
    assert len(c) == min(ens.chunk_size, ens.n_samples)
