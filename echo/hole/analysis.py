"""Hole analysis: depth, FWHM and area with uncertainties (:func:`hole_figures`), the
Monte-Carlo standard error of a simulated hole (:func:`sampling_error`), and the
spectral-diffusion fit of a refilling series (:func:`fit_spectral_diffusion`).

Figures (from a :class:`echo.hole.readout.HoleSpectrum`, hole = 1 − S_b/S_r, 2 for a
fully inverted resonant grain):

* depth: the maximum near f_burn, refined by a parabola through the points above 90 % of it;
* FWHM (Hz): between the half-maximum crossings outward from the maximum (linear
  interpolation);
* area (Hz): ∫ hole df over the valid points of the spectrum (trapezoid; sidelobes
  included, so spectral diffusion conserves it as long as the span covers the hole).

Uncertainties (1σ) are propagated by a parametric bootstrap: the per-point 1σ ``u`` of the
spectrum, drawn as noise correlated over one resolution element (independent values one
resolution apart, linearly interpolated), 200 draws with a fixed seed.

Spectral diffusion under Ornstein–Uhlenbeck bias noise (σ, τc): a grain resonant at f
during the burn has, after a wait t_w, moved by δf = c δε with c = d(2E/2π)/dε = 2ε/E
(both in Hz) and δε(t_w) − δε(0) Gaussian of variance 2σ²(1 − exp(−t_w/τc)). The hole at
wait t_w is the zero-wait hole convolved with a Gaussian of variance

    s²(t_w) = s0² + 2 c² σ² (1 − exp(−t_w/τc))

(s0: the diffusion during the burn and the read-out window, common to every wait): the
hole fills and broadens while its area stays. :func:`fit_spectral_diffusion` fits all holes
of a series at once with this (× a common depth scale a), the zero-wait hole being the
closed form of :func:`echo.hole.readout.expected_hole` (the burn's Rabi profile through
the read-out kernel); parameter uncertainties from the Jacobian, scaled by the residual
variance (the scatter of the spectra sets the error bars).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from echo.hole.burn import rabi_profile, resonant_grains
from echo.hole.readout import HoleSpectrum, expected_hole
from echo.model import ModelError

__all__ = ["HoleFigures", "DiffusionFit", "fit_spectral_diffusion", "hole_figures",
           "profile_figures", "sampling_error", "spectrum_hole"]


@dataclass(frozen=True)
class HoleFigures:
    """Depth (hole units), FWHM (Hz), area (Hz), centre (Hz), each with a 1σ ``*_err``
    (NaN when the spectrum carries no uncertainty)."""

    depth: float
    depth_err: float
    fwhm: float
    fwhm_err: float
    area: float
    area_err: float
    centre: float
    centre_err: float

    def to_dict(self) -> dict:
        return {k: (None if not math.isfinite(v) else v) for k, v in asdict(self).items()}


def profile_figures(f, hole, f_burn: float) -> tuple[float, float, float, float]:
    """(depth, FWHM, area, centre) of a hole profile sampled at ``f`` (no uncertainties)."""
    f = np.asarray(f, float)
    h = np.asarray(hole, float)
    ok = np.isfinite(h)
    f, h = f[ok], h[ok]
    if f.size < 3:
        raise ModelError("hole analysis: fewer than 3 valid points")
    width = (f.max() - f.min()) / 4
    near = np.abs(f - f_burn) <= width
    i = int(np.flatnonzero(near)[np.argmax(h[near])]) if near.any() else int(np.argmax(h))
    peak = h[i]
    top = np.flatnonzero(h >= 0.9 * peak) if peak > 0 else np.array([i])
    top = top[(top >= i - 3) & (top <= i + 3)]
    depth, centre = peak, f[i]
    if top.size >= 3 and peak > 0:
        c2, c1, c0 = np.polyfit(f[top] - f[i], h[top], 2)
        if c2 < 0:
            x0 = -c1 / (2 * c2)
            if abs(x0) <= (f[top].max() - f[top].min()):
                depth, centre = c0 - c1 * c1 / (4 * c2), f[i] + x0
    half = 0.5 * depth

    def crossing(rng):
        for j in rng:
            k = j - np.sign(rng.step)
            if h[j] < half:
                return f[k] + (half - h[k]) * (f[j] - f[k]) / (h[j] - h[k])
        return np.nan

    lo = crossing(range(i, -1, -1))
    hi = crossing(range(i, f.size))
    fwhm = float(hi - lo) if peak > 0 else np.nan
    area = float(np.trapezoid(h, f))
    return float(depth), fwhm, area, float(centre)


def spectrum_hole(f, burn, reference, f_burn: float) -> dict:
    """The hole of a measured or simulated echo spectrum pair, in volts: ``hole`` =
    |reference| − |burn| against probe frequency ``f`` (Hz). Returns its ``depth`` (a
    fraction of the reference) at the point nearest ``f_burn`` (Hz), ``peak_hz`` (the
    sampled frequency of its maximum), ``fwhm_hz`` (:func:`profile_figures`; nan when
    the half maximum is not crossed on both sides) and ``line_peak_hz`` (the maximum of
    the reference line)."""
    f = np.asarray(f, float)
    b, r = np.abs(np.asarray(burn)), np.abs(np.asarray(reference))
    hole = r - b
    k0 = int(np.argmin(np.abs(f - f_burn)))
    _, fwhm, _, _ = profile_figures(f, hole, f_burn)
    return {"depth": float(hole[k0] / r[k0]) if r[k0] > 0 else float("nan"),
            "peak_hz": float(f[int(np.argmax(hole))]), "fwhm_hz": float(fwhm),
            "line_peak_hz": float(f[int(np.argmax(r))])}


def hole_figures(spec: HoleSpectrum, *, u=None, draws: int = 200, seed: int = 0) -> HoleFigures:
    """Depth, FWHM, area and centre of ``spec`` with bootstrap 1σ (module docstring);
    ``u`` overrides ``spec.u`` (scalar or per point)."""
    f, h = spec.f, np.where(spec.valid, spec.hole, np.nan)
    depth, fwhm, area, centre = profile_figures(f, h, spec.f_burn)
    u = spec.u if u is None else u
    if u is None:
        nan = float("nan")
        return HoleFigures(depth, nan, fwhm, nan, area, nan, centre, nan)
    u = np.broadcast_to(np.asarray(u, float), f.shape)
    rng = np.random.default_rng(seed)
    step = spec.resolution if math.isfinite(spec.resolution) and spec.resolution > 0 else \
        float(np.median(np.diff(f)))
    grid = np.arange(f.min() - step, f.max() + 2 * step, step)
    samples = []
    for _ in range(draws):
        noise = np.interp(f, grid, rng.standard_normal(grid.size))
        samples.append(profile_figures(f, h + u * noise, spec.f_burn))
    s = np.array(samples)
    err = np.nanstd(s, axis=0, ddof=1)
    return HoleFigures(depth, float(err[0]), fwhm, float(err[1]), area, float(err[2]),
                       centre, float(err[3]))


def sampling_error(ensemble, spec: HoleSpectrum, *, duration: float, rabi_hz: float,
                   coupling: str = "z") -> np.ndarray:
    """Monte-Carlo standard error of a SIMULATED hole per point of ``spec``: the hole is a
    ratio Σ K_i y_i / Σ K_i over the sampled grains (K_i the read-out kernel at the grain's
    frequency, y_i = 2P_i its Rabi profile), whose standard error is
    sqrt(Σ K_i² (y_i − ŷ)²) / |Σ K_i|. Uses the ensemble's first chunk (the grains that
    were simulated when n_samples ≤ chunk_size)."""
    del coupling
    chunk = ensemble.chunk(0)
    fg = 2.0 * np.hypot(chunk.delta, chunk.bias) / (2 * math.pi)
    y = rabi_profile(fg - spec.f_burn, rabi_hz, duration)
    koff, kval = spec.kernel
    out = np.empty_like(spec.f)
    for j, fj in enumerate(spec.f):
        k = chunk.weight * np.interp(fg - fj, koff, kval, left=0.0, right=0.0)
        sk = k.sum()
        if abs(sk) <= 0:
            out[j] = np.nan
            continue
        yhat = np.sum(k * y) / sk
        out[j] = math.sqrt(np.sum(k * k * (y - yhat) ** 2)) / abs(sk)
    return out


def _base_profile(spec: HoleSpectrum, duration: float, rabi_hz: float):
    """The zero-wait closed form (Rabi profile through the read-out kernel) on a uniform
    grid wide enough for any broadening: (x, values)."""
    width = (spec.f.max() - spec.f.min())
    step = min(rabi_hz, 1 / duration, spec.resolution if math.isfinite(spec.resolution)
               else rabi_hz) / 10
    x = np.arange(spec.f.min() - width, spec.f.max() + width + step, step)
    return x, expected_hole(x, f_burn=spec.f_burn, duration=duration, rabi_hz=rabi_hz,
                            kernel=spec.kernel)


def _broadened(base, f, s: float):
    """The base profile convolved with a Gaussian of rms ``s`` (Hz), at ``f``: exact
    multiplication in Fourier space (smooth in s, as a least-squares fit needs)."""
    x, v = base
    if s <= 0:
        return np.interp(f, x, v)
    n = x.size
    k = np.fft.rfftfreq(2 * n, d=x[1] - x[0])
    conv = np.fft.irfft(np.fft.rfft(v, 2 * n) * np.exp(-2 * (math.pi * s * k) ** 2), 2 * n)[:n]
    return np.interp(f, x, conv)


def diffusion_coefficient(ensemble, f_burn: float) -> float:
    """c = d(2E/2π)/dε = 2|ε|/E of the grains resonant at ``f_burn`` (rms over them)."""
    res = resonant_grains(ensemble, f_burn)
    e = np.hypot(res.delta, res.bias)
    c = 2.0 * np.abs(res.bias) / e
    return float(np.sqrt(np.average(c * c, weights=res.weight)))


@dataclass(frozen=True)
class DiffusionFit:
    """σ (Hz) and τc (s) of OU bias noise from a refilling series, with 1σ errors; s0 (Hz)
    the common broadening, ``scale`` the common depth factor, ``c`` the coupling used,
    ``rms_residual`` the rms residual (hole units), ``success`` False (with ``message``)
    when σ or τc ran to a bound (their error is then inf), ``model`` the fitted holes."""

    sigma: float
    sigma_err: float
    tau_c: float
    tau_c_err: float
    s0: float
    s0_err: float
    scale: float
    scale_err: float
    c: float
    waits: list
    rms_residual: float
    success: bool
    message: str
    model: list

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = [np.asarray(m).tolist() for m in self.model]
        return d


def fit_spectral_diffusion(waits, spectra: list[HoleSpectrum], *, duration: float,
                           rabi_hz: float, c: float, sigma0: float | None = None,
                           tau_c0: float | None = None) -> DiffusionFit:
    """Fit σ and τc (and s0, a common depth scale) to the holes ``spectra`` measured after
    the ``waits`` (s) (module docstring). ``duration`` and ``rabi_hz``: the burn;
    ``c``: :func:`diffusion_coefficient`. Points are taken one resolution apart (nearly
    independent); at least 4 waits are needed."""
    from scipy.optimize import least_squares

    waits = np.asarray(waits, float)
    if waits.size != len(spectra) or waits.size < 4:
        raise ModelError(f"spectral diffusion fit: need >= 4 waits with one spectrum each "
                         f"(got {waits.size} waits, {len(spectra)} spectra)")
    if not (c > 0):
        raise ModelError(f"spectral diffusion fit: coupling c = {c!r} must be > 0 "
                         "(grains at ε = 0 do not move with the bias)")
    pts = []
    for s in spectra:
        step = max(1, int(round(s.resolution / np.median(np.diff(s.f))))) \
            if math.isfinite(s.resolution) else 1
        idx = np.arange(0, s.f.size, step)
        idx = idx[s.valid[idx] & np.isfinite(s.hole[idx])]
        pts.append(idx)
    figs0 = [profile_figures(s.f, np.where(s.valid, s.hole, np.nan), s.f_burn)
             for s in spectra]
    widths = np.array([fg[1] for fg in figs0], float)
    if not np.any(np.isfinite(widths)):
        raise ModelError("spectral diffusion fit: no hole of the series has a FWHM (is "
                         "there a hole at f_burn in any of them?)")
    fin = np.isfinite(widths)
    w_first = float(widths[fin][np.argmin(waits[fin])])
    w_last = float(widths[fin][np.argmax(waits[fin])])
    extra = math.sqrt(max(w_last ** 2 - w_first ** 2, (0.1 * w_first) ** 2)) / 2.355
    sigma0 = extra / (c * math.sqrt(2)) if sigma0 is None else sigma0
    tau_c0 = float(np.median(waits[waits > 0])) if tau_c0 is None else tau_c0

    bases = [_base_profile(s, duration, rabi_hz) for s in spectra]

    def model(p, s, t, base):
        sig, ltau, q0, a = p
        var = q0 * w_first ** 2 + 2 * (c * sig) ** 2 * (-math.expm1(-t / math.exp(ltau)))
        return a * _broadened(base, s.f, math.sqrt(max(var, 0.0)))

    def resid(p):
        return np.concatenate([(model(p, s, t, b)[i] - s.hole[i])
                               for s, t, i, b in zip(spectra, waits, pts, bases, strict=True)])

    p0 = np.array([sigma0, math.log(tau_c0), 0.01, 1.0])  # q0 = s0²/w_first²
    lo = [0.0, math.log(waits[waits > 0].min() / 20), 0.0, 0.2]
    hi = [np.inf, math.log(waits.max() * 20), np.inf, 5.0]
    sol = least_squares(resid, p0, bounds=(lo, hi), x_scale=[sigma0, 1.0, 0.01, 1.0],
                        diff_step=1e-4)
    n, k = sol.fun.size, sol.x.size
    s2 = float(np.sum(sol.fun ** 2)) / max(n - k, 1)
    free = sol.active_mask == 0  # a parameter held at a bound (s0 = 0) is not fitted
    err = np.zeros(k)
    try:
        j = sol.jac[:, free]
        cov = np.linalg.inv(j.T @ j) * s2
        err[free] = np.sqrt(np.clip(np.diag(cov), 0, np.inf))
    except np.linalg.LinAlgError:
        err[:] = np.nan
    err[~free] = np.inf  # held at a bound: not determined by these holes
    success = bool(sol.success)
    message = str(sol.message)
    if not free[0] or not free[1]:
        success = False
        message = ("σ/τc not determined: the fit ran to a bound (the waits do not span τc, "
                   "or the broadening is below the scatter)")
    tau = math.exp(sol.x[1])
    s0 = math.sqrt(sol.x[2]) * w_first
    s0_err = (0.5 * err[2] / math.sqrt(sol.x[2]) * w_first) if sol.x[2] > 0 else float("nan")
    return DiffusionFit(sigma=float(sol.x[0]), sigma_err=float(err[0]), tau_c=tau,
                        tau_c_err=float(tau * err[1]), s0=float(s0),
                        s0_err=float(s0_err), scale=float(sol.x[3]), scale_err=float(err[3]),
                        c=float(c), waits=waits.tolist(), rms_residual=math.sqrt(s2),
                        success=success, message=message,
                        model=[model(sol.x, s, t, b) for s, t, b in zip(spectra, waits, bases,
                                                                         strict=True)])
