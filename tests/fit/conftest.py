"""Fixtures for the fit tests (the closed-form engine double lives in fit_doubles.py)."""

from __future__ import annotations

import pytest

from echo.model import Detection, Ensemble, Environment, Fixed, Gaussian, Model, OrnsteinUhlenbeck


@pytest.fixture
def small_model() -> Model:
    return Model(
        Ensemble(delta0=Fixed(1e6), bias=Gaussian(0.0, 5e6), spin=100, n_grains=1e3,
                 n_samples=16, seed=3),
        Environment(noise=(OrnsteinUhlenbeck(sigma=20e3, tau_c=2e-6),)),
        Detection(flux_per_moment=1e-6, volts_per_flux=1.0),
    )
