"""The bare giant-spin Hamiltonian (paper Eq. 1) and the isolated two-level system.

Eq. 1 (no nuclear spins) is H = (1/S)(−K∥ Sz² + K⊥ Sy²). Its tunnelling between the two
quasi-classical states Sz = ±S is characterised by

* the small-oscillation (attempt) frequency Ω0 ~ 2 (K∥ K⊥)^{1/2},
* the WKB exponent A0 ~ S (K∥/K⊥)^{1/2},
* the bare tunnelling amplitude Δ0 = Ω0 exp(−A0).

Truncated to the two lowest states the grain is the two-level system (DESIGN.md)

    H = Δ τx + ε τz,     Δ = 2 Δ0 cos(πS),

so the zero-bias splitting is 2|Δ| = 4 Δ0 |cos πS|, and Δ = 0 for half-integer S (Kramers:
no tunnelling). The eigen-energies are ±E, E = (Δ² + ε²)^{1/2}, and for one grain

    P(t) = ⟨τz(t) τz(0)⟩ = 1 − 2 (Δ/E)² sin²(E t),

which at ε = 0 is the paper's P⁽⁰⁾(t) = cos(4 Δ0 t cos πS).

Units: ħ = 1. K∥, K⊥, Ω0, Δ0, Δ, ε, E are angular frequencies (rad/s) — or any one common
frequency unit, since every relation here is homogeneous; t is in the inverse of that unit.
"""

from __future__ import annotations

import math

import numpy as np

from echo.theory._checks import check_number

__all__ = [
    "attempt_frequency",
    "wkb_exponent",
    "bare_delta0",
    "cos_pi_s",
    "tunnelling_amplitude",
    "zero_bias_splitting",
    "single_grain_pt",
]


def attempt_frequency(k_par: float, k_perp: float) -> float:
    """Ω0 ≈ 2 (K∥ K⊥)^{1/2} (paper, below Eq. 1). Same unit as K∥, K⊥."""
    check_number("k_par", k_par, positive=True)
    check_number("k_perp", k_perp, positive=True)
    return 2.0 * math.sqrt(k_par * k_perp)


def wkb_exponent(spin: float, k_par: float, k_perp: float) -> float:
    """A0 ≈ S (K∥/K⊥)^{1/2} (dimensionless)."""
    check_number("spin", spin, positive=True)
    check_number("k_par", k_par, positive=True)
    check_number("k_perp", k_perp, positive=True)
    return spin * math.sqrt(k_par / k_perp)


def bare_delta0(spin: float, k_par: float, k_perp: float) -> float:
    """Δ0 = Ω0 exp(−A0): the bare tunnelling amplitude, same unit as K∥, K⊥."""
    return attempt_frequency(k_par, k_perp) * math.exp(-wkb_exponent(spin, k_par, k_perp))


def cos_pi_s(spin: float) -> float:
    """cos(πS), snapped to exactly 0 for half-integer S and ±1 for integer S."""
    check_number("spin", spin, positive=True)
    c = math.cos(math.pi * spin)
    if abs(c) < 1e-12:
        return 0.0
    if abs(abs(c) - 1.0) < 1e-12:
        return math.copysign(1.0, c)
    return c


def tunnelling_amplitude(delta0: float, spin: float) -> float:
    """Δ = 2 Δ0 cos(πS): the τx coefficient (0 for half-integer S)."""
    check_number("delta0", delta0, nonneg=True)
    return 2.0 * delta0 * cos_pi_s(spin)


def zero_bias_splitting(delta0: float, spin: float) -> float:
    """2|Δ| = 4 Δ0 |cos πS|: the coherent oscillation frequency of P⁽⁰⁾(t) at ε = 0."""
    return 2.0 * abs(tunnelling_amplitude(delta0, spin))


def single_grain_pt(t, delta, bias):
    """P(t) = 1 − 2 (Δ/E)² sin²(E t) for one grain with H = Δ τx + ε τz.

    ``t`` (s), ``delta`` Δ and ``bias`` ε (rad/s) broadcast against each other. (The
    printed Eq. 6 has sin²(E² t) and no factor 2: see docs/theory.md.)
    """
    t = np.asarray(t, float)
    delta = np.asarray(delta, float)
    bias = np.asarray(bias, float)
    e2 = delta**2 + bias**2
    e = np.sqrt(e2)
    ratio = np.divide(delta**2, e2, out=np.zeros(np.broadcast(delta, bias).shape), where=e2 > 0)
    return 1.0 - 2.0 * ratio * np.sin(e * t) ** 2
