"""The absorption spectrum χ''(ω) (paper Eq. 7 and Fig. 1).

**Definition.** χ''(ω) is the cosine transform of the decaying part of P(t):

    χ''(ω) = 2 ∫_0^∞ dt [P(t) − P(∞)] cos(ω t),   P(t) − P(∞) = ∫_0^∞ (dω/π) χ''(ω) cos(ωt),

so the sum rule is ∫_0^∞ χ''(ω) dω/π = P(0) − P(∞) = 1 − P(∞). With the λ ≪ 1 form
P(t) = 1 − 2A Σ_k J_{2k+1}(4Δ0 t) this gives exactly the paper's Eq. 7 with the same A:

    χ''(ω) = 8 Δ0 A / (ω (ω² − 16 Δ0²)^{1/2}) θ(ω − 4Δ0),   → 8 Δ0 A / ω² for ω ≫ Δ0.

**General λ, λ'.** One channel of coupling c = Δ_M/(2Δ0) over a flat bias contributes the
same shape with 4Δ0 → 4Δ0 c and A → A c (:mod:`echo.theory.dynamics`), so, with ω in units
of Δ0,

    χ''(ω)/A = ⟨ h_c(ω) ⟩,   h_c(ω) = 8 c² / (ω (ω² − 16c²)^{1/2}) θ(ω − 4c),

averaged over the distribution of c (channels M, y, φ). The square-root singularity is
integrated analytically: inside a bin [c₁, c₂] of uniform density ρ,
∫ρ h_c dc = ρ (ω/8) [Q(θ₂) − Q(θ₁)], θ = arcsin(min(4c/ω, 1)), Q(θ) = (2θ − sin 2θ)/4.
Point masses (λ − λ' = 0, λ' = 0) are evaluated exactly. The result is finite everywhere
except exactly at the threshold of a point mass (Eq. 7's ω = 4Δ0), where Eq. 7 itself
diverges; there this module returns +inf only if asked at exactly that frequency.
The high-frequency tail is 8⟨c²⟩/ω² = 8⟨cos²φ⟩/ω² for flat weights (Σ_M J_M² = 1).
"""

from __future__ import annotations

import numpy as np

from echo.theory._checks import check_number
from echo.theory.dynamics import CouplingDistribution, coupling_distribution, flip_over_a

__all__ = ["eq7_chi", "chi_over_a", "chi_flat", "pt_flat", "chi_from_pt"]


def eq7_chi(omega, fraction_a: float = 1.0, delta0: float = 1.0) -> np.ndarray:
    """Eq. 7: χ''(ω) = 8Δ0 A / (ω (ω² − 16Δ0²)^{1/2}) θ(ω − 4Δ0) (0 below threshold,
    +inf exactly at it). ω and Δ0 in one unit; χ'' in its inverse."""
    w = np.asarray(omega, dtype=float)
    a = 4.0 * delta0
    out = np.zeros(w.shape)
    above = w > a
    out[above] = 8.0 * delta0 * fraction_a / (w[above] * np.sqrt(w[above] ** 2 - a * a))
    out[w == a] = np.inf
    return out


def _q(theta):
    """Q(θ) = (2θ − sin 2θ)/4, with its series for small θ (no cancellation)."""
    x = 2.0 * theta
    small = x < 2e-2
    xs = x * small
    series = (xs**3 / 6.0 - xs**5 / 120.0 + xs**7 / 5040.0) / 4.0
    return np.where(small, series, (x - np.sin(x)) / 4.0)


def chi_over_a(omega, dist: CouplingDistribution, *, chunk: int = 256) -> np.ndarray:
    """χ''(ω)/A (ω in units of Δ0; result in units of 1/Δ0) for a coupling distribution."""
    w = np.atleast_1d(np.asarray(omega, dtype=float))
    out = np.zeros(w.size)
    edges = dist.edges
    width = np.diff(edges)
    wb = dist.bin_weights
    pos = width > 0
    dens = np.where(pos, wb / np.where(pos, width, 1.0), 0.0)
    # zero-width bins (all weight at one c) are treated as atoms
    zero = (~pos) & (wb > 0)
    atom_c = np.concatenate([dist.atom_c, edges[:-1][zero]])
    atom_w = np.concatenate([dist.atom_w, wb[zero]])
    # only edges up to the last occupied bin matter
    occupied = np.nonzero(dens > 0)[0]
    if occupied.size:
        last = occupied[-1] + 1
        e, dens = edges[: last + 1], dens[:last]
        for i in range(0, w.size, chunk):
            ww = w[i:i + chunk][:, None]
            ok = ww > 0
            safe = np.where(ok, ww, 1.0)
            q = _q(np.arcsin(np.clip(4.0 * e[None, :] / safe, 0.0, 1.0)))
            val = (safe[:, 0] / 8.0) * (np.diff(q, axis=1) @ dens)
            out[i:i + chunk] = np.where(ok[:, 0], val, 0.0)
    if atom_c.size:
        for c, m in zip(atom_c, atom_w, strict=True):
            if c > 0:
                out += m * eq7_chi(w, fraction_a=c, delta0=c)
    return out


def chi_flat(omega, lam: float, lam_prime: float = 0.0, phase: float = 0.0) -> np.ndarray:
    """χ''(ω)/A for a flat bias density in every channel M (ω in units of Δ0).
    Reduces to Eq. 7, 8/(ω(ω² − 16)^{1/2}), as λ → 0 (Φ = 0)."""
    check_number("lambda", lam, nonneg=True)
    return chi_over_a(omega, coupling_distribution(lam, lam_prime, phase))


def pt_flat(t, lam: float, lam_prime: float = 0.0, phase: float = 0.0) -> np.ndarray:
    """[1 − P(t)]/A for a flat bias density in every channel (t in units of 1/Δ0)."""
    check_number("lambda", lam, nonneg=True)
    return flip_over_a(t, coupling_distribution(lam, lam_prime, phase))


def chi_from_pt(t, p, p_inf: float, omega, *, damping: float = 0.0) -> np.ndarray:
    """The defining transform, numerically: χ''(ω) = 2 ∫ dt [P(t) − P(∞)] e^{−η t} cos ωt
    on the given (uniform or not) t grid by the trapezoid rule, η = ``damping``. With η > 0
    the result is χ'' convolved with a Lorentzian of half width η."""
    t = np.asarray(t, dtype=float)
    f = (np.asarray(p, dtype=float) - p_inf) * np.exp(-damping * t)
    w = np.atleast_1d(np.asarray(omega, dtype=float))
    return np.array([2.0 * np.trapezoid(f * np.cos(wi * t), t) for wi in w])

