"""P(t) = ⟨τz(t) τz(0)⟩ of the giant spin in its nuclear spin bath (paper Eqs. 4–6).

Conventions (docs/theory.md). With H = Δ τx + ε τz and the normalisation fixed by the bare
result P⁽⁰⁾(t) = cos(4 Δ0 t cos πS), Eqs. 4–6 read (T2⁻¹ = 0)

    1 − P(t) = Σ_M ∫dε W_T(ε) ⟨ 2 (Δ_M/E_M)² sin²(E_M t) ⟩_{y,φ},   E_M² = (ε − Mω0/2)² + Δ_M²,
    Δ_M(φ, y) = 2 Δ0 |cos φ J_M(2 ((λ − λ') y)^{1/2})|,

with ⟨…⟩_y = ∫_0^∞ dy e^{−y} (…) and the phase average ⟨…⟩_φ over the kernel
Σ_ν F_λ'(ν) e^{2iν(Φ−φ)}, F_λ'(ν) = exp(−4λ'ν²): a wrapped Gaussian of variance 2λ' in φ
(mod π) around Φ (= πS for Eq. 1); λ' = 0 collapses it to δ(φ − Φ). W_T = W e^{−ε/T}/Z.
The y-average is normalised so that the channel weights are

    ⟨J_M²(2 (λ̃ y)^{1/2})⟩_y = e^{−2λ̃} I_M(2λ̃),   Σ_M = 1,   λ̃ = λ − λ'.

**Flat bias.** Each channel is one biased two-level system with Δ = Δ_M. Averaged over a
bias density that is flat (= w) on the scale of Δ_M, exactly

    ∫dε w 2(Δ/E)² sin²(E t) = 2π w Δ Σ_{k≥0} J_{2k+1}(2Δt),   Σ_k J_{2k+1}(x) = ½ ∫_0^x J0,

so with A ≡ 2π Δ0 w and c_M = Δ_M/(2Δ0) = |cos φ J_M|:

    [1 − P(t)] / A = Σ_M a_M ⟨ 2 c_M S(4 Δ0 c_M t) ⟩_{y,φ},   S(x) = Σ_k J_{2k+1}(x),

where a_M = W_T(Mω0/2)/w is the channel's bias density relative to w (1 for the "flat bias
for every channel" of the CLI). For λ → 0, Φ = 0 this is the paper's
P(t) = 1 − 2A Σ_k J_{2k+1}(4Δ0 t), and P(∞) = 1 − A.

Everything therefore depends on the distribution of the dimensionless coupling c over
channels, y and φ, built once by :func:`coupling_distribution`: for λ̃ > 0 the map
y → |J_M(2(λ̃y)^{1/2})| is sampled finely in x = 2(λ̃y)^{1/2}, each segment is taken linear
(its exact y-measure e^{−y₁} − e^{−y₂} spread uniformly over its c range) and the result
is kept as a cumulative distribution on a fine c grid (plus exact atoms). Averages over c
of smooth functions (P(t)) and of square-root singular kernels (χ''(ω), see
:mod:`echo.theory.spectrum`) are then done bin by bin, the latter analytically.

Units: the dimensionless functions take t in units of 1/Δ0; :func:`polarisation` takes
t in s and Δ0, ω0 in rad/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import itj0y0, ive, jv

from echo.model import ModelError
from echo.theory._checks import check_number
from echo.theory.hamiltonian import single_grain_pt

__all__ = [
    "Y_MAX",
    "channel_weight",
    "y_average",
    "phase_nodes",
    "odd_bessel_sum",
    "bessel_series_pt",
    "bias_averaged_flip",
    "CouplingDistribution",
    "coupling_distribution",
    "flip_over_a",
    "polarisation",
]

#: upper limit of the y integral (e^{−40} ≈ 4e−18 of the weight is dropped)
Y_MAX = 40.0
#: largest λ − λ' accepted by :func:`coupling_distribution`
LAMBDA_TILDE_MAX = 200.0


# ------------------------------------------------------------------ closed forms
def channel_weight(m, lam_tilde):
    """⟨J_M²(2(λ̃y)^{1/2})⟩_y = e^{−2λ̃} I_M(2λ̃) (exact; Σ_M over all integers = 1)."""
    lt = check_number("lambda - lambda_prime", lam_tilde, nonneg=True)
    return ive(np.abs(np.asarray(m)), 2.0 * lt)


def odd_bessel_sum(x):
    """S(x) = Σ_{k≥0} J_{2k+1}(x) = ½ ∫_0^x J0(s) ds (exact, vectorised). S(∞) = ½."""
    x = np.asarray(x, dtype=float)
    sign = np.sign(x)
    ij0, _ = itj0y0(np.abs(x))
    return 0.5 * sign * ij0


def bessel_series_pt(t, fraction_a: float, delta0: float = 1.0):
    """The λ ≪ 1, kT ≫ ω0 closed form P(t) = 1 − 2A Σ_k J_{2k+1}(4Δ0 t)."""
    return 1.0 - 2.0 * fraction_a * odd_bessel_sum(4.0 * delta0 * np.asarray(t, float))


def y_average(func, lam_tilde: float, *, panels: int | None = None, order: int = 12) -> float:
    """∫_0^∞ dy e^{−y} f(2(λ̃y)^{1/2}) by composite Gauss–Legendre in s = y^{1/2}
    (so x = 2(λ̃)^{1/2} s is uniform in s and oscillations of f(x) are resolved).
    ``func`` takes an array of x."""
    lt = check_number("lambda - lambda_prime", lam_tilde, nonneg=True)
    s_max = math.sqrt(Y_MAX)
    x_max = 2.0 * math.sqrt(lt) * s_max
    n = panels or int(32 + 4 * x_max)
    nodes, weights = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(0.0, s_max, n + 1)
    half = 0.5 * np.diff(edges)
    s = (0.5 * (edges[1:] + edges[:-1]))[:, None] + half[:, None] * nodes[None, :]
    w = half[:, None] * weights[None, :] * 2.0 * s * np.exp(-s * s)
    return float(np.sum(w * func(2.0 * math.sqrt(lt) * s)))


def phase_nodes(lam_prime: float, phase: float = 0.0, n: int = 2048):
    """Nodes φ_i and normalised weights g_i of the topological phase average.

    The kernel Σ_ν exp(−4λ'ν²) e^{2iν(Φ−φ)} is, by Poisson summation, a Gaussian of
    variance 2λ' in φ wrapped with period π around Φ. λ' = 0 gives the single node Φ.
    Only |cos φ| enters Δ_M, so the period-π average is complete."""
    lp = check_number("lambda_prime", lam_prime, nonneg=True)
    ph = check_number("phase", phase)
    if lp == 0.0:
        return np.array([ph]), np.array([1.0])
    sigma = math.sqrt(2.0 * lp)
    if sigma < 0.05:  # narrow: Gauss–Hermite around Φ
        x, w = np.polynomial.hermite.hermgauss(64)
        return ph + math.sqrt(2.0) * sigma * x, w / w.sum()
    phi = ph - 0.5 * math.pi + (np.arange(n) + 0.5) * math.pi / n
    d = phi - ph
    if 4.0 * lp < 1.0:
        g = sum(np.exp(-((d - k * math.pi) ** 2) / (4.0 * lp)) for k in range(-4, 5))
    else:
        nu = np.arange(1, 64)
        g = 1.0 + 2.0 * np.sum(np.exp(-4.0 * lp * nu[:, None] ** 2)
                               * np.cos(2.0 * nu[:, None] * d[None, :]), axis=0)
    g = np.clip(g, 0.0, None)
    return phi, g / g.sum()


def bias_averaged_flip(t, delta: float, density, *, half_width: float, centre: float = 0.0,
                       panels: int = 4000, order: int = 8) -> np.ndarray:
    """∫ dε W(ε) 2(Δ/E)² sin²(E t) over ε ∈ centre ± half_width, by composite
    Gauss–Legendre (a direct numerical average of Eq. 6 for one channel).

    ``density`` is a callable W(ε) (e.g. :meth:`BiasDensity.pdf`); Δ, ε in one unit, t
    in its inverse. The result is 1 − P(t) of that channel."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    nodes, weights = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(centre - half_width, centre + half_width, panels + 1)
    half = 0.5 * np.diff(edges)
    eps = ((0.5 * (edges[1:] + edges[:-1]))[:, None] + half[:, None] * nodes[None, :]).ravel()
    w = (half[:, None] * weights[None, :]).ravel() * np.asarray(density(eps), float)
    out = np.empty(t.size)
    for i, ti in enumerate(t):
        out[i] = np.sum(w * (1.0 - single_grain_pt(ti, delta, eps)))
    return out


# ------------------------------------------------------------------ distribution of c
@dataclass(frozen=True)
class CouplingDistribution:
    """Distribution of c = Δ_M/(2Δ0) = |cos φ J_M(2(λ̃y)^{1/2})| over channels M
    (weighted by a_M), y (weight e^{−y}) and φ.

    ``edges`` is the c grid, ``cdf`` the cumulative weight of the continuous part at the
    edges (uniform density inside each bin); ``atom_c``/``atom_w`` are exact point masses.
    ``total`` = Σ_M a_M (each channel carries y-weight 1), up to weight at exactly c = 0
    when λ' > 0 (which contributes to no observable)."""

    edges: np.ndarray
    cdf: np.ndarray
    atom_c: np.ndarray
    atom_w: np.ndarray

    @property
    def bin_weights(self) -> np.ndarray:
        return np.clip(np.diff(self.cdf), 0.0, None)

    @property
    def total(self) -> float:
        return float(self.bin_weights.sum() + self.atom_w.sum())

    def moment(self, k: int) -> float:
        """Σ weight · c^k (exact for the binned representation)."""
        lo, hi = self.edges[:-1], self.edges[1:]
        width = hi - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_ck = np.where(width > 0, (hi ** (k + 1) - lo ** (k + 1))
                               / ((k + 1) * np.where(width > 0, width, 1.0)), lo**k)
        return float(np.sum(self.bin_weights * mean_ck) + np.sum(self.atom_w * self.atom_c**k))

    def nodes(self, order: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature nodes c and weights for Σ weight · f(c): Gauss–Legendre of ``order``
        points in every occupied bin, plus the atoms."""
        wb = self.bin_weights
        used = wb > 0
        lo, hi, wb = self.edges[:-1][used], self.edges[1:][used], wb[used]
        x, w = np.polynomial.legendre.leggauss(order)
        c = (0.5 * (lo + hi))[:, None] + (0.5 * (hi - lo))[:, None] * x[None, :]
        cw = (wb[:, None] * 0.5 * w[None, :]).ravel()
        return np.concatenate([c.ravel(), self.atom_c]), np.concatenate([cw, self.atom_w])


def _default_edges(n_bins: int) -> np.ndarray:
    # uniform bins, refined geometrically near c = 1 (the λ → 0 threshold) and near c = 0
    # (where channels with |J_M| ≪ 1 put much weight: a coarse first bin would bias ⟨c⟩)
    top = 1.0 - np.geomspace(1e-7, 2e-3, 160)
    bottom = np.geomspace(1e-12, 4.0 / n_bins, 240)
    return np.unique(np.concatenate([np.linspace(0.0, 1.0, n_bins + 1), top, bottom]))


def _segment_cdf(a, b, m, edges, thin):
    """Cumulative weight at ``edges`` of uniform densities on [a_i, b_i] with weight m_i
    (a ≤ b); segments narrower than ``thin`` are point masses at their midpoint."""
    out = np.zeros(edges.size)
    width = b - a
    is_thin = width < thin
    if np.any(is_thin):
        mid = 0.5 * (a[is_thin] + b[is_thin])
        order = np.argsort(mid)
        cm = np.cumsum(m[is_thin][order])
        idx = np.searchsorted(mid[order], edges, side="right")
        out += np.where(idx > 0, cm[np.maximum(idx - 1, 0)], 0.0)
    wide = ~is_thin
    if np.any(wide):
        k = m[wide] / width[wide]
        pts = np.concatenate([a[wide], b[wide]])
        coef = np.concatenate([k, -k])
        order = np.argsort(pts, kind="stable")
        p, c = pts[order], coef[order]
        ck, ckp = np.cumsum(c), np.cumsum(c * p)
        idx = np.searchsorted(p, edges, side="right")
        j = np.maximum(idx - 1, 0)
        out += np.where(idx > 0, ck[j] * edges - ckp[j], 0.0)
    return out


def _channel_range(lam_tilde: float, tol: float = 1e-18) -> int:
    """Largest |M| with e^{−2λ̃} I_M(2λ̃) ≥ tol (⟨|J_M|⟩ ≤ tol^{1/2} beyond)."""
    m = int(2.0 * lam_tilde) + 1
    while ive(m, 2.0 * lam_tilde) >= tol:
        m += 1
    return m


def coupling_distribution(lam: float, lam_prime: float = 0.0, phase: float = 0.0, *,
                          channel_weights=None, n_bins: int = 8192,
                          points_per_unit: float = 200.0) -> CouplingDistribution:
    """Build the distribution of c (see the module docstring).

    ``lam`` λ, ``lam_prime`` λ' (0 ≤ λ' ≤ λ), ``phase`` Φ (rad). ``channel_weights`` is a
    callable a(M) for integer arrays M (default: 1 for every channel — flat bias)."""
    lam = check_number("lambda", lam, nonneg=True)
    lam_prime = check_number("lambda_prime", lam_prime, nonneg=True)
    if lam_prime > lam:
        raise ModelError(f"lambda_prime: must be <= lambda ({lam!r}), got {lam_prime!r}")
    lt = lam - lam_prime
    if lt > LAMBDA_TILDE_MAX:
        raise ModelError(f"lambda - lambda_prime: at most {LAMBDA_TILDE_MAX:g} is supported "
                         f"(cost grows as λ^(3/2); the response is then fully incoherent), "
                         f"got {lt!r}")
    edges_u = _default_edges(n_bins)
    thin = 1e-3 * (1.0 / n_bins)

    def weight(ms):
        if channel_weights is None:
            return np.ones(len(ms))
        w = np.asarray(channel_weights(np.asarray(ms)), dtype=float)
        if np.any(~np.isfinite(w)) or np.any(w < 0):
            raise ModelError("channel_weights: must be finite and >= 0")
        return np.broadcast_to(w, (len(ms),))

    # distribution of u = |J_M| (channels and y)
    atom_u: list[float] = []
    atom_m: list[float] = []
    cdf_u = np.zeros(edges_u.size)
    if lt == 0.0:
        atom_u.append(1.0)
        atom_m.append(float(weight([0])[0]))
    else:
        s_max = math.sqrt(Y_MAX)
        x_max = 2.0 * math.sqrt(lt) * s_max
        n_s = max(2000, int(points_per_unit * x_max))
        s = np.linspace(0.0, s_max, n_s + 1)
        x = 2.0 * math.sqrt(lt) * s
        seg_mass = -np.diff(np.exp(-s * s))
        seg_mass[-1] += math.exp(-Y_MAX)  # the dropped tail, put in the last segment
        m_top = _channel_range(lt)
        ms = np.arange(0, m_top + 1)
        wpos, wneg = weight(ms), weight(-ms)
        zero_mass = 0.0
        for m, wp, wn in zip(ms, wpos, wneg, strict=True):
            wm = wp + (wn if m > 0 else 0.0)
            if wm == 0.0:
                continue
            # below x_lo, |J_M(x)| < ~1e-10 (Airy regime): that weight sits at c = 0
            x_lo = max(0.0, m - 8.0 * m ** (1.0 / 3.0) - 5.0)
            i0 = max(0, int(np.searchsorted(x, x_lo)) - 1)
            zero_mass += wm * float(seg_mass[:i0].sum())
            u = np.abs(jv(m, x[i0:]))
            a = np.minimum(u[:-1], u[1:])
            b = np.maximum(u[:-1], u[1:])
            cdf_u += _segment_cdf(a, b, wm * seg_mass[i0:], edges_u, thin)
        if zero_mass > 0.0:
            atom_u.append(0.0)
            atom_m.append(zero_mass)

    atom_u_arr = np.array(atom_u)
    atom_m_arr = np.array(atom_m)
    nodes, gw = phase_nodes(lam_prime, phase)
    kappa = np.abs(np.cos(nodes))
    kappa[kappa < 1e-12] = 0.0
    if nodes.size == 1:
        k = float(kappa[0])
        if k == 0.0:  # no tunnelling at all: all weight at c = 0
            total = float(cdf_u[-1] + atom_m_arr.sum())
            return CouplingDistribution(edges_u.copy(), np.zeros(edges_u.size),
                                        np.array([0.0]), np.array([total]))
        return CouplingDistribution(k * edges_u, cdf_u, k * atom_u_arr, atom_m_arr)
    # λ' > 0: mix the scaled copies c = κ u; atoms become part of the continuous cdf
    full_u = cdf_u.copy()
    for cu, mu in zip(atom_u_arr, atom_m_arr, strict=True):
        full_u += np.where(edges_u >= cu, mu, 0.0)
    edges_c = edges_u
    cdf_c = np.zeros(edges_c.size)
    for kap, g in zip(kappa, gw, strict=True):
        if kap == 0.0:
            cdf_c += g * full_u[-1]
            continue
        cdf_c += g * np.interp(edges_c / kap, edges_u, full_u, right=full_u[-1])
    return CouplingDistribution(edges_c, cdf_c, np.array([]), np.array([]))


def flip_over_a(t, dist: CouplingDistribution) -> np.ndarray:
    """[1 − P(t)]/A = Σ weight · 2c S(4ct), t in units of 1/Δ0."""
    t = np.atleast_1d(np.asarray(t, dtype=float))
    c, w = dist.nodes()
    keep = w > 0
    c, w = c[keep], w[keep]
    out = np.empty(t.size)
    step = max(1, 2_000_000 // max(1, c.size))  # bounded memory: ≤ 2e6 elements at once
    for i in range(0, t.size, step):
        tt = t[i:i + step, None]
        out[i:i + step] = (2.0 * c[None, :] * odd_bessel_sum(4.0 * c[None, :] * tt)) @ w
    return out


def polarisation(t, *, delta0: float, lam: float, lam_prime: float = 0.0,
                 phase: float = 0.0, bias=None, omega0: float | None = None,
                 flat_density: float | None = None) -> np.ndarray:
    """P(t) of Eqs. 4–6 (T2⁻¹ = 0), t in s, Δ0 and ω0 in rad/s.

    Give either ``bias`` (a :class:`~echo.theory.bias.BiasDensity` in rad/s, thermal
    weights included, with ``omega0`` the channel spacing: channel M sits at ε = Mω0/2) or
    ``flat_density`` w (s/rad, the same for every channel). Valid when W varies slowly on
    the scale of Δ0 (each channel's bias average is then the exact flat-bias result)."""
    d0 = check_number("delta0", delta0, positive=True)
    if (bias is None) == (flat_density is None):
        raise ModelError("polarisation: give exactly one of bias= or flat_density=")
    if bias is not None:
        w_spacing = check_number("omega0", bias.omega0 if omega0 is None else omega0,
                                 positive=True)
        w0 = float(bias.pdf(0.0))
        if w0 <= 0.0:
            w0 = 1.0 / (bias.envelope_width + bias.group_width)

        def weights(ms):
            return bias.pdf(0.5 * w_spacing * np.asarray(ms, float)) / w0
    else:
        w0 = check_number("flat_density", flat_density, nonneg=True)
        weights = None
    dist = coupling_distribution(lam, lam_prime, phase, channel_weights=weights)
    a = 2.0 * math.pi * d0 * w0
    return 1.0 - a * flip_over_a(d0 * np.asarray(t, float), dist)
