"""``closed_form_simulator`` is a TEST DOUBLE for the engine: deterministic closed forms, so
model fits can be tested for recovery, coverage, sharing and fixing without the Monte-Carlo
engine. It is not used by the library. Physics: Gaussian (OU) bias noise of std σ (Hz) and
correlation time τc shifts the transition angular frequency by 2·2π·δε (a grain with
ε ≫ Δ), so the Hahn echo at 2τ decays as exp(−χ(τ)) with the Klauder–Anderson exponent

    χ(τ) = s² τc² [2τ/τc − 3 + 4 e^{−τ/τc} − e^{−2τ/τc}],   s = 2·2π·σ,

and a CPMG train with half-spacing τ_cp decays, echo k, as exp(−k·χ(τ_cp)) (independent
echo periods, valid for τc ≲ τ_cp; exact enough for a double). The signal scale is
``detection.volts_per_tau_z(ensemble)`` (so ``amplitude`` = N g S is tested) times 1/2.
"""

from __future__ import annotations

import math

import numpy as np

from echo.model import (
    Model,
)


def chi_ou(tau, sigma_hz, tau_c):
    s = 2.0 * 2.0 * math.pi * sigma_hz
    r = np.asarray(tau, float) / tau_c
    return s**2 * tau_c**2 * (2 * r - 3 + 4 * np.exp(-r) - np.exp(-2 * r))


def closed_form_simulator(model: Model, ds) -> np.ndarray:
    env = model.environment
    ou = env.noise[0]
    v0 = 0.5 * model.detection.volts_per_tau_z(model.ensemble)
    x = ds.data.x
    kind = ds.meta["kind"]
    if kind == "hahn":
        chi = chi_ou(x, ou.sigma, ou.tau_c)
        if env.t_phi is not None:
            chi = chi + 2 * x / env.t_phi
    elif kind == "cpmg":
        chi = x * chi_ou(ds.meta["tau_cp"], ou.sigma, ou.tau_c)
    else:  # pragma: no cover
        raise ValueError(kind)
    return v0 * np.exp(-chi) + 0j


closed_form_simulator.engine = "closed-form test double"
