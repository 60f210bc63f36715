"""Fit lock-in χ''(ω) sweeps against the spin-bath theory (:mod:`echo.theory`).

Model (frequencies f cyclic, in Hz; the project's convention Δ0_rad = 2π·Δ0_Hz, so the
threshold ω = 4Δ0 of Eq. 7 sits at f = 4·Δ0_Hz and ω/Δ0 = f/Δ0_Hz):

    y(f) = gain · A · χ̂(f/Δ0; λ, λ') / (2π Δ0) + baseline,

with χ̂ = χ''/A in units of 1/Δ0 from :func:`echo.theory.spectrum.chi_flat` (flat bias
density in every channel; Eq. 7 when λ → 0), so gain = 1 gives χ'' in seconds as defined
there (χ''(ω) = 2∫dt [P(t) − P(∞)] cos ωt). Parameters: ``fraction_a`` (A), ``delta0``
(Δ0, Hz), ``lam`` (λ), ``lam_prime`` (λ', evaluated as min(λ', λ) since λ' ≤ λ),
``gain`` (data unit per second of χ''; A and gain are degenerate — fit one of them) and
``baseline``. Default: A, Δ0 and λ free; λ' = 0, gain = 1 and baseline = 0 fixed (λ
fixed without a value is 0: Eq. 7).

Complex lock-in data (X + iY) are fitted through ``part``: ``"imag"`` (Y, the
out-of-phase, dissipative component — the default for complex data), ``"real"``, ``"abs"``.
The theory has a square-root edge at f = 4Δ0·c_max; finite differences use a relative step
``diff_step`` (trust-region least squares) so the numerical binning of the theory does not
make the Jacobian noisy.
"""

from __future__ import annotations

import math

import lmfit
import numpy as np

from echo.fit.empirical import run_lmfit
from echo.fit.errors import FitError
from echo.fit.fitresult import FitResult
from echo.fit.loaders import EchoData

__all__ = ["fit_chi", "chi_model", "CHI_PARAMS"]

CHI_PARAMS = ("fraction_a", "delta0", "lam", "lam_prime", "gain", "baseline")


def _chi_flat():
    try:
        from echo.theory import chi_flat  # the theory package's public API
    except ImportError:
        from echo.theory.spectrum import chi_flat
    return chi_flat


def chi_model(f, fraction_a, delta0, lam, lam_prime=0.0, gain=1.0, baseline=0.0):
    """y(f) of the module docstring (f, Δ0 in Hz; χ'' in s × gain)."""
    f = np.asarray(f, float)
    if not (delta0 > 0 and lam >= 0):
        return np.full(f.shape, np.nan)
    chi_hat = _chi_flat()(f / delta0, float(lam), float(min(max(lam_prime, 0.0), lam)))
    return gain * fraction_a * chi_hat / (2.0 * math.pi * delta0) + baseline


def fit_chi(data, y=None, *, sigma=None, free=("fraction_a", "delta0", "lam"),
            initial: dict | None = None, part: str = "auto", truth: dict | None = None,
            diff_step: float = 1e-3) -> FitResult:
    """Fit :func:`chi_model` to a χ''(f) sweep (``data``: :class:`EchoData` with x = f in
    Hz, or arrays f, y). ``free``: the parameters to vary (the others stay at ``initial``
    or their defaults: λ' = 0, gain = 1, baseline = 0, and λ = 0 — Eq. 7 — when λ is
    not free). ``initial``: starting values
    (default: the best points of a coarse (λ, Δ0) grid around the spectrum's edge, with A
    solved linearly; the fit is restarted from the next grid point, up to 3, while it does
    not converge or does not describe the data). Given starting values are used as they
    are: the threshold edge makes the landscape rough, so start Δ0 at or just below the
    edge (4Δ0 below the first strong point of the spectrum)."""
    if isinstance(data, EchoData):
        d = data.valid()
        x, yy, sg = d.x, d.y, d.sigma if sigma is None else sigma
        label, yu = d.source, d.y_unit
        if part == "auto" and d.is_complex and np.any(np.imag(yy)):
            part = "imag"
    else:
        if y is None:
            raise FitError("give an EchoData, or f and y arrays")
        x, yy, sg = np.asarray(data, float), np.asarray(y), sigma
        ok = np.isfinite(x) & np.isfinite(yy)
        x, yy = x[ok], yy[ok]
        if sg is not None:
            sg = np.broadcast_to(np.asarray(sg, float), ok.shape)[ok]
        label, yu = "arrays", ""
        if part == "auto" and np.iscomplexobj(yy) and np.any(np.imag(yy)):
            part = "imag"
    if part in ("auto", "real"):
        yr = np.real(yy).astype(float)
    elif part == "imag":
        yr = np.imag(yy).astype(float)
    elif part == "abs":
        yr = np.abs(yy).astype(float)
    else:
        raise FitError(f"part must be auto, real, imag or abs, got {part!r}")
    if sg is not None:
        sg = np.broadcast_to(np.asarray(sg, float), x.shape)
    if x.size and np.any(x <= 0):
        raise FitError("χ'' fit: frequencies must be > 0 Hz")
    unknown = [k for k in list(free) + list(initial or {}) if k not in CHI_PARAMS]
    if unknown:
        raise FitError(f"χ'' fit: unknown parameter(s) {', '.join(map(repr, unknown))} "
                       f"(known: {', '.join(CHI_PARAMS)})")
    guess = _guess(x, yr)
    if "lam" not in free and "lam" not in (initial or {}):
        guess["lam"] = 0.0  # λ held fixed and not given: Eq. 7 itself
    starts = [guess]
    if not initial and {"fraction_a", "delta0", "lam"} <= set(free):
        starts = _grid_starts(x, yr, sg, guess)
    best = None
    for start in starts:
        r = _fit_from({**start, **(initial or {})}, free, x, yr, sg, label, yu, part, truth,
                      diff_step)
        if best is None or r.chi2 < best.chi2:
            best = r
        if r.success:  # a converged fit that describes the data: no need to look further
            break
    best.meta["starts_tried"] = starts.index(start) + 1
    return best


def _fit_from(init, free, x, yr, sg, label, yu, part, truth, diff_step) -> FitResult:
    p = lmfit.Parameters()
    p.add("fraction_a", value=init["fraction_a"], min=0.0, vary="fraction_a" in free)
    p.add("delta0", value=init["delta0"], min=init["delta0"] * 1e-3, vary="delta0" in free)
    p.add("lam", value=init["lam"], min=0.0, vary="lam" in free)
    p.add("lam_prime", value=init.get("lam_prime", 0.0), min=0.0, vary="lam_prime" in free)
    p.add("gain", value=init.get("gain", 1.0), vary="gain" in free)
    p.add("baseline", value=init.get("baseline", 0.0), vary="baseline" in free)
    return run_lmfit(chi_model, p, x, yr, sg, name="χ''(ω) spin-bath theory",
                     units={"delta0": "Hz", "baseline": yu}, x_name="frequency",
                     x_unit="Hz", y_unit=yu, label=label, meta={"part": part},
                     truth=truth, method="least_squares",
                     fit_kws={"diff_step": diff_step})


def _grid_starts(f, y, sg, init: dict, n_best: int = 3) -> list[dict]:
    """The best ``n_best`` of a coarse grid of starting points (λ ∈ {0.01, 0.3, 1.5},
    Δ0 ∈ {1, 1.3, 1.8, 2.5} × the edge guess), A solved linearly at each: the
    spectrum's peak sits below 4Δ0 once λ ≳ 0.1, where the edge guess alone lands in a
    wrong minimum."""
    w = 1.0 if sg is None else 1.0 / np.asarray(sg, float)
    cands = [(math.inf, init)]
    for lam in (0.01, 0.3, 1.5):
        for k in (1.0, 1.3, 1.8, 2.5):
            d0 = init["delta0"] * k
            shape = chi_model(f, 1.0, d0, lam)
            if not np.all(np.isfinite(shape)) or not np.any(shape):
                continue
            a = float(np.sum(w * w * shape * y) / np.sum(w * w * shape * shape))
            cost = float(np.sum((w * (y - a * shape)) ** 2))
            if a > 0:
                cands.append((cost, {**init, "fraction_a": a, "delta0": d0, "lam": lam}))
    cands.sort(key=lambda c: c[0])
    return [c[1] for c in cands[:n_best]]


def _guess(f: np.ndarray, y: np.ndarray) -> dict:
    """Δ0 from the peak (the edge at 4Δ0 for small λ), A from the area ∫χ'' dω/π ≈ A
    (the sum rule for flat channels: 1 − P(∞) ≈ A)."""
    if f.size < 2:
        return {"fraction_a": 1e-3, "delta0": float(f[0]) / 4 if f.size else 1e6, "lam": 0.01}
    order = np.argsort(f)
    fs, ys = f[order], y[order]
    k = int(np.argmax(ys))
    # the edge 4Δ0 lies between the sample before the peak and the peak: start just below
    # the peak sample so that it sits above the (integrable) square-root singularity
    f_edge = float(fs[k]) if k == 0 else 0.75 * float(fs[k - 1]) + 0.25 * float(fs[k])
    delta0 = max(f_edge / 4.0, float(fs[0]) / 8.0)
    area = float(np.trapezoid(np.clip(ys, 0, None), 2 * math.pi * fs)) / math.pi
    return {"fraction_a": max(area, 1e-12), "delta0": delta0, "lam": 0.01}
