"""The spin-bath theory's grains as an ensemble of two-level systems, for the simulator.

:func:`echo.theory.dynamics.polarisation` (Eqs. 4–6, flat bias density w in every channel)
is

    1 − P(t) = Σ_M ∫dε w ⟨2 (Δ_M/E_M)² sin²(E_M t)⟩_{y,φ},   Δ_M = 2Δ0 |cos φ J_M(x)|,
    x = 2 ((λ − λ') y)^{1/2},  y ~ e^{−y},  φ − Φ ~ wrapped N(0, 2λ'),

a *sum* over the co-flip channels M, each with the bias density w. As a weighted mean over
two-level grains (what the engines compute) it is a mixture: a grain is in channel M with
probability p_M = e^{−2λ̃} I_M(2λ̃) = ⟨J_M²⟩_y (λ̃ = λ − λ'; Σ_M p_M = 1), has Δ0_eff =
Δ0 |cos(φ − Φ)| |J_M(x)| (the engine applies Δ = 2Δ0_eff cos πS, i.e. Φ = πS) and a bias ε
uniform on [−W_M, W_M] with W_M = p_M / (2w): every channel then has the bias density
p_M/(2W_M) = w, and the mixture reproduces the sum. The flat-band result needs W_M ≫ Δ_M
and ≫ 1/t; the finite band misses ≈ 2wΔ_M²/W_M per channel, i.e. ≈ 4A²/π² per channel
on average with this p_M (A = 2πΔ0 w, Δ0 in Hz and w in 1/Hz): keep A small (1e-4:
5e-7 over the ~110 channels of λ̃ = 10). Channels with p_M < ``p_min`` (default 1e-12)
are dropped (their share of the sum is p_M-small).

The model file reads this as ``ensemble.grains = { kind = "spinbath_channels", delta0 =
…, lam = …, lam_prime = …, fraction_a = … }`` (Δ0 in Hz); ``spinecho theory pt-sim``
compares the engine's ⟨τz(t)τz(0)⟩ over it with :func:`~echo.theory.dynamics.polarisation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ive, jv

from echo.model import ModelError
from sequences.config import setting, validate

__all__ = ["SpinBathChannels"]


@dataclass(frozen=True)
class SpinBathChannels:
    """Joint (Δ0, ε) sampler of the channel mixture (module docstring). ``delta0`` (Hz),
    ``lam`` λ, ``lam_prime`` λ' (≤ λ), ``fraction_a`` A = 2πΔ0 w (the flat bias density
    as a fraction), ``p_min``: smallest channel probability kept."""

    delta0: float = setting(gt=0, unit="Hz", doc="bare tunnelling Δ0")
    lam: float = setting(ge=0, le=200, doc="λ (co-flip / orthogonality parameter)")
    lam_prime: float = setting(0.0, ge=0, doc="λ' (topological phase average)")
    fraction_a: float = setting(1e-4, gt=0, le=0.1, doc="A = 2πΔ0 w")
    p_min: float = setting(1e-12, gt=0, lt=1e-3, doc="smallest channel probability kept")
    kind = "spinbath_channels"
    deterministic = False

    def __post_init__(self):
        validate(self, "spinbath_channels", error=ModelError)
        if self.lam_prime > self.lam:
            raise ModelError(f"lam_prime: must be <= lam ({self.lam!r}), got "
                             f"{self.lam_prime!r}")

    @property
    def lam_tilde(self) -> float:
        return self.lam - self.lam_prime

    @property
    def density(self) -> float:
        """Flat bias density w (1/Hz) of every channel."""
        return self.fraction_a / (2.0 * math.pi * self.delta0)

    def channels(self) -> tuple[np.ndarray, np.ndarray]:
        """Channels M and their probabilities p_M (renormalised over those kept)."""
        lt = self.lam_tilde
        top = int(2 * lt) + 1
        while ive(top, 2.0 * lt) >= self.p_min:
            top += 1
        m = np.arange(-top, top + 1)
        p = ive(np.abs(m), 2.0 * lt)
        keep = p >= self.p_min
        return m[keep], p[keep] / p[keep].sum()

    def from_uniform(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grains from uniform variates u (n, 4): (Δ0_eff Hz, ε Hz, weight)."""
        u = np.clip(np.asarray(u, float), 1e-16, 1.0 - 1e-16)
        m, p = self.channels()
        k = np.minimum(np.searchsorted(np.cumsum(p), u[:, 0] * 1.0), m.size - 1)
        y = -np.log(u[:, 1])
        x = 2.0 * np.sqrt(self.lam_tilde * y)
        d0 = self.delta0 * np.abs(jv(m[k], x))
        if self.lam_prime > 0:
            from scipy.special import ndtri

            d0 = d0 * np.abs(np.cos(math.sqrt(2.0 * self.lam_prime) * ndtri(u[:, 3])))
        half = p[k] / (2.0 * self.density)
        eps = half * (2.0 * u[:, 2] - 1.0)
        return d0, eps, np.ones(u.shape[0])

    def draw(self, rng: np.random.Generator, n: int):
        return self.from_uniform(rng.random((n, 4)))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "delta0": self.delta0, "lam": self.lam,
                "lam_prime": self.lam_prime, "fraction_a": self.fraction_a,
                "p_min": self.p_min}
