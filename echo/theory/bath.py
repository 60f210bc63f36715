"""Couplings of the giant spin to its spin bath (paper Eq. 2 and the text below it).

For spin-½ nuclei coupled through Eq. 1 and small ω_k/Ω0 the paper quotes

    ξ_k = α_k/√2 = π ω_k / (2 Ω0),      i.e.   α_k = π ω_k / (√2 Ω0),

with α_k the amplitude for nucleus k to co-flip with S. The co-flipping parameters are

    λ  = ½ Σ_k α_k²                  (≈ number of nuclei flipping with S),
    λ' = ½ Σ_k α_k² (n_k^z)²        (0 ≤ λ' ≤ λ; λ' = 0 for Eq. 1, where n_k^z = 0),

and the polarisation-group parameter μ = N^{1/2} δω_k / ω0 (δω_k the spread of the
hyperfine couplings around the dominant one, ω0).

Frequencies ω_k, Ω0, δω_k, ω0 must be in one common unit (Hz or rad/s): every quantity
here is a ratio. Note for checks against the paper: λ for N identical nuclei is
N π² ω0² / (4 Ω0²); the paper's ferritin "λ ~ 4×10⁻⁵" is π² smaller (docs/theory.md).
"""

from __future__ import annotations

import math

import numpy as np

from echo.model import ModelError
from echo.theory._checks import check_count, check_number

__all__ = [
    "alpha_k",
    "xi_k",
    "coflip_lambda",
    "coflip_lambda_prime",
    "lambda_uniform",
    "mu_parameter",
]


def _frequencies(name, values) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.size and (not np.all(np.isfinite(arr)) or np.any(arr < 0)):
        raise ModelError(f"{name}: must be finite and >= 0, got {values!r}")
    return arr


def alpha_k(omega_k, omega_0_bare):
    """α_k = π ω_k / (√2 Ω0) (small ω_k/Ω0 form). ``omega_0_bare`` is Ω0."""
    om = check_number("Omega0", omega_0_bare, positive=True)
    w = _frequencies("omega_k", omega_k)
    out = math.pi * w / (math.sqrt(2.0) * om)
    return out if np.ndim(omega_k) else float(out[0])


def xi_k(omega_k, omega_0_bare):
    """ξ_k = π ω_k / (2 Ω0) = α_k/√2 (small ω_k/Ω0 form)."""
    om = check_number("Omega0", omega_0_bare, positive=True)
    w = _frequencies("omega_k", omega_k)
    out = math.pi * w / (2.0 * om)
    return out if np.ndim(omega_k) else float(out[0])


def coflip_lambda(alphas) -> float:
    """λ = ½ Σ_k α_k²."""
    a = np.atleast_1d(np.asarray(alphas, dtype=float))
    if not np.all(np.isfinite(a)):
        raise ModelError(f"alpha_k: must be finite, got {alphas!r}")
    return 0.5 * float(np.sum(a * a))


def coflip_lambda_prime(alphas, n_z) -> float:
    """λ' = ½ Σ_k α_k² (n_k^z)², with n_k^z the z component of the unit vector n_k."""
    a = np.atleast_1d(np.asarray(alphas, dtype=float))
    nz = np.broadcast_to(np.asarray(n_z, dtype=float), a.shape)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(nz))):
        raise ModelError("alpha_k / n_z: must be finite")
    if np.any(np.abs(nz) > 1.0 + 1e-12):
        raise ModelError(f"n_z: components of a unit vector must satisfy |n_z| <= 1, got {n_z!r}")
    return 0.5 * float(np.sum(a * a * nz * nz))


def lambda_uniform(n_nuclei, omega0, omega_0_bare) -> float:
    """λ for N nuclei all with coupling ω0: N α² / 2 = N π² ω0² / (4 Ω0²)."""
    n = check_count("n_nuclei", n_nuclei)
    w = check_number("omega0", omega0, nonneg=True)
    om = check_number("Omega0", omega_0_bare, positive=True)
    return n * math.pi**2 * w**2 / (4.0 * om**2)


def mu_parameter(n_nuclei, delta_omega, omega0) -> float:
    """μ = N^{1/2} δω_k / ω0: < 1 separated polarisation groups, > 1 overlapping."""
    n = check_count("n_nuclei", n_nuclei)
    d = check_number("delta_omega", delta_omega, nonneg=True)
    w = check_number("omega0", omega0, positive=True)
    return math.sqrt(n) * d / w
