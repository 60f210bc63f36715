"""The bias density W(ε) of the nuclear spin bath and the degeneracy-blocked fraction A.

Convention (DESIGN.md): ε is the τz coefficient of H = Δ τx + ε τz, i.e. *half* the energy
difference of the two grain states. N spin-½ nuclei with couplings ω_k = ω0 + δ_k give
(Eq. 2, longitudinal term τz Σ ω_k σ_k^z / 2)

    ε = Σ_k ω_k σ_k / 2 = ω0 ΔN / 2 + Σ_k δ_k σ_k / 2,   ΔN = N↑ − N↓ ≡ N (mod 2).

So W(ε) is a comb of *polarisation groups* centred at ω0 ΔN / 2 (spacing ω0, since ΔN
moves in steps of 2), each a Gaussian of standard deviation

    s = (N δω² / 4 + w_x²)^{1/2} = μ ω0 / 2    (w_x: extra Gaussian bias, e.g. protons),

weighted by the binomial probability of ΔN, under a Gaussian envelope of standard deviation
N^{1/2} ω0 / 2. (The paper's text, "groups around ε = ω0 ΔN inside an envelope of width
N^{1/2} ω0", measures the full energy difference 2ε: docs/theory.md.) Thermal weights
e^{−ε/T}/Z (Eq. 4) are applied exactly: each Gaussian group times e^{−ε/T} is again a
Gaussian, shifted by −s²/T, with a new weight.

* μ = N^{1/2} δω/ω0 ≪ 1 ("separated"): the groups are resolved; for **odd** N there is no
  ΔN = 0 group and W(0) is exponentially small — degeneracy blocking stops tunnelling
  completely (footnote 13).
* μ ≫ 1 ("overlapping"): W(ε) is the smooth Gaussian envelope.

The fraction of grains that can flip is defined exactly by the λ ≪ 1 long-time limit,
A ≡ 1 − P(∞) = 2π Δ0 |cos πS| W(0) (Δ0 ≪ scale of W). Limits (even N, T = ∞):

    separated:   A ≈ 4 Δ0 / (N δω)               (paper: A ~ Δ0/(N δω))
    overlapping: A ≈ 2 (2π)^{1/2} Δ0 / (N^{1/2} ω0) (paper: A ~ Δ0/(N^{1/2} ω0))

Units: ε, ω0, δω, w_x, T (k_B T) and Δ0 in one common frequency unit; W in its inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

from echo.model import ModelError
from echo.theory._checks import check_count, check_number
from echo.theory.hamiltonian import cos_pi_s

__all__ = [
    "BiasDensity",
    "fraction_separated",
    "fraction_overlapping",
    "paper_fraction_printed",
]

#: groups whose log-weight is this far below the largest are dropped (e^-60 ≈ 1e-26)
_LOG_CUTOFF = 60.0


@dataclass(frozen=True)
class BiasDensity:
    """W(ε) for ``n_nuclei`` spin-½ nuclei with dominant coupling ``omega0``, spread
    ``delta_omega`` (std of ω_k), optional extra Gaussian bias std ``extra_width`` and
    optional temperature ``temperature`` (k_B T in the frequency unit; None = ∞)."""

    n_nuclei: int
    omega0: float
    delta_omega: float = 0.0
    extra_width: float = 0.0
    temperature: float | None = None

    def __post_init__(self):
        check_count("n_nuclei", self.n_nuclei)
        check_number("omega0", self.omega0, positive=True)
        check_number("delta_omega", self.delta_omega, nonneg=True)
        check_number("extra_width", self.extra_width, nonneg=True)
        if self.temperature is not None:
            check_number("temperature", self.temperature, positive=True)
        if self.group_width <= 0:
            raise ModelError("delta_omega: W(ε) needs a nonzero group width (delta_omega > 0 "
                             "or extra_width > 0); with none it is a sum of delta functions")

    # ------------------------------------------------------------------ parameters
    @property
    def mu(self) -> float:
        """μ = N^{1/2} δω/ω0 of the paper (nuclear spread only)."""
        return math.sqrt(self.n_nuclei) * self.delta_omega / self.omega0

    @property
    def group_width(self) -> float:
        """Standard deviation s of one polarisation group (all broadening included)."""
        return math.sqrt(self.n_nuclei * self.delta_omega**2 / 4.0 + self.extra_width**2)

    @property
    def mu_effective(self) -> float:
        """2 s / ω0: μ including the extra broadening (groups overlap when ≳ 1)."""
        return 2.0 * self.group_width / self.omega0

    @property
    def regime(self) -> str:
        """``"separated"`` (μ_eff < 1) or ``"overlapping"`` (μ_eff ≥ 1)."""
        return "separated" if self.mu_effective < 1.0 else "overlapping"

    @property
    def envelope_width(self) -> float:
        """Standard deviation N^{1/2} ω0 / 2 of the Gaussian envelope (T = ∞)."""
        return math.sqrt(self.n_nuclei) * self.omega0 / 2.0

    def groups(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(centres, weights, width): the Gaussian components of W(ε) with thermal
        weights applied; weights sum to 1 (negligible groups dropped)."""
        n = self.n_nuclei
        k = np.arange(n + 1, dtype=float)
        delta_n = 2.0 * k - n
        centres = 0.5 * self.omega0 * delta_n
        logw = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
        s = self.group_width
        if self.temperature is not None:
            tau = float(self.temperature)
            logw = logw - centres / tau
            centres = centres - s * s / tau
        keep = logw > logw.max() - _LOG_CUTOFF
        logw = logw[keep]
        return centres[keep], np.exp(logw - logsumexp(logw)), s

    # ------------------------------------------------------------------ density
    def pdf(self, eps) -> np.ndarray:
        """W(ε), normalised to ∫ W dε = 1 (inverse frequency unit)."""
        eps = np.asarray(eps, dtype=float)
        flat = eps.ravel()
        centres, weights, s = self.groups()
        out = np.empty(flat.size)
        norm = 1.0 / (math.sqrt(2.0 * math.pi) * s)
        step = max(1, 2_000_000 // max(1, centres.size))
        for i in range(0, flat.size, step):
            z = (flat[i:i + step, None] - centres[None, :]) / s
            out[i:i + step] = norm * (np.exp(-0.5 * z * z) @ weights)
        return out.reshape(eps.shape)

    def envelope_pdf(self, eps) -> np.ndarray:
        """The smooth Gaussian envelope (the μ ≫ 1 limit of W at T = ∞)."""
        eps = np.asarray(eps, dtype=float)
        sig = math.sqrt(self.envelope_width**2 + self.group_width**2)
        return np.exp(-0.5 * (eps / sig) ** 2) / (math.sqrt(2.0 * math.pi) * sig)

    def tabulated(self, n_points: int = 4001, half_width: float | None = None):
        """W(ε) sampled on a grid as an :class:`echo.model.Tabulated` distribution (same
        unit as ω0 — Hz for model files), for drawing grain biases in the simulator.
        The default range is the envelope mean ± 6 standard deviations (thermal shift
        included); groups narrower than the grid spacing are smeared by the sampler's
        linear interpolation, so use enough points for μ ≪ 1."""
        from echo.model import Tabulated

        centres, weights, s = self.groups()
        mean = float(centres @ weights)
        spread = math.sqrt(float(((centres - mean) ** 2) @ weights) + s * s)
        hw = 6.0 * spread if half_width is None else check_number("half_width", half_width,
                                                                   positive=True)
        eps = np.linspace(mean - hw, mean + hw, int(n_points))
        return Tabulated(tuple(eps.tolist()), tuple(self.pdf(eps).tolist()))

    def fraction_a(self, delta0: float, spin: float | None = None) -> float:
        """A = 2π Δ0 |cos πS| W(0): the fraction able to flip (λ ≪ 1), = 1 − P(∞).
        ``spin`` None means an integer spin (|cos πS| = 1)."""
        d0 = check_number("delta0", delta0, nonneg=True)
        c = 1.0 if spin is None else abs(cos_pi_s(spin))
        return 2.0 * math.pi * d0 * c * float(self.pdf(0.0))


def fraction_separated(delta0: float, n_nuclei: int, delta_omega: float) -> float:
    """μ ≪ 1, even N, T = ∞: A ≈ 2π Δ0 P(ΔN=0) / ((2π)^{1/2} s) → 4 Δ0 / (N δω).

    Uses the exact binomial P(ΔN = 0); returns 0 for odd N (footnote 13)."""
    n = check_count("n_nuclei", n_nuclei, minimum=1)
    d0 = check_number("delta0", delta0, nonneg=True)
    dw = check_number("delta_omega", delta_omega, positive=True)
    if n % 2:
        return 0.0
    p0 = math.exp(gammaln(n + 1) - 2 * gammaln(n / 2 + 1) - n * math.log(2.0))
    s = math.sqrt(n) * dw / 2.0
    return 2.0 * math.pi * d0 * p0 / (math.sqrt(2.0 * math.pi) * s)


def fraction_overlapping(delta0: float, n_nuclei: int, omega0: float) -> float:
    """μ ≫ 1, T = ∞: A = 2π Δ0 / ((2π)^{1/2} N^{1/2} ω0/2) = 2 (2π)^{1/2} Δ0/(N^{1/2} ω0)."""
    n = check_count("n_nuclei", n_nuclei, minimum=1)
    d0 = check_number("delta0", delta0, nonneg=True)
    w = check_number("omega0", omega0, positive=True)
    return 2.0 * math.sqrt(2.0 * math.pi) * d0 / (math.sqrt(n) * w)


def paper_fraction_printed(delta0: float, n_nuclei: int, omega0: float) -> float:
    """The paper's printed A = π Δ0 / (ω0 (2πN)^{1/2}) — a factor 4 below
    :func:`fraction_overlapping` (factor 2 from Eq. 4's normalisation, factor 2 from the
    ε convention); kept only to reproduce the paper's number (docs/theory.md)."""
    n = check_count("n_nuclei", n_nuclei, minimum=1)
    return math.pi * delta0 / (omega0 * math.sqrt(2.0 * math.pi * n))
