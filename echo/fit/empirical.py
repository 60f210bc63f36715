"""Quick empirical fits (lmfit): stretched-exponential echo decays and T1 recoveries.

* :func:`fit_echo_decay` — Hahn-echo amplitude against the pulse spacing τ (s):

      y(τ) = A · exp(−(2τ / T_M)^n) + c

  ``A`` (amplitude, unit of the data), ``t_m`` (phase-memory time T_M, s), ``stretch`` n
  (1 = exponential, 2 = Gaussian; free or fixed) and ``baseline`` c (optional).
* :func:`fit_t1_recovery` — inversion/saturation recovery against the wait time t (s):

      y(t) = m_inf − (m_inf − m0) · exp(−t / T1)

Complex data are rotated onto the real axis first (the phase of Σ y, i.e. of the strongest
echoes) and the real part is fitted; the rotation angle is recorded in ``meta["phase"]``
(rad). With per-point uncertainties ``sigma`` the covariance is not rescaled (χ²-based
intervals); without, it is scaled by the reduced χ² (noise estimated from the residuals).
"""

from __future__ import annotations

import math

import lmfit
import numpy as np

from echo.fit.errors import FitError
from echo.fit.fitresult import (
    FitCurve,
    FitResult,
    ParamValue,
    covariance_to_correlation,
    poor_fit,
    undetermined,
)
from echo.fit.loaders import EchoData

__all__ = ["fit_echo_decay", "fit_t1_recovery", "stretched_echo", "t1_recovery",
           "run_lmfit", "as_real"]


def stretched_echo(tau, amplitude, t_m, stretch, baseline=0.0):
    """A · exp(−(2τ/T_M)^n) + c (τ in s, T_M in s)."""
    tau = np.asarray(tau, float)
    return amplitude * np.exp(-np.power(np.abs(2.0 * tau / t_m), stretch)) + baseline


def t1_recovery(t, m_inf, m0, t1):
    """m_inf − (m_inf − m0) · exp(−t/T1) (t, T1 in s)."""
    return m_inf - (m_inf - m0) * np.exp(-np.asarray(t, float) / t1)


def as_real(y: np.ndarray, part: str = "auto") -> tuple[np.ndarray, float]:
    """Real values to fit and the rotation angle used (rad).

    ``part``: ``"auto"`` (complex → rotate by −arg Σy and take the real part; real data as
    is), ``"real"``, ``"imag"``, ``"abs"``."""
    y = np.asarray(y)
    if part == "real":
        return np.real(y).astype(float), 0.0
    if part == "imag":
        return np.imag(y).astype(float), 0.0
    if part == "abs":
        return np.abs(y).astype(float), 0.0
    if part != "auto":
        raise FitError(f"part must be auto, real, imag or abs, got {part!r}")
    if not np.iscomplexobj(y) or not np.any(np.imag(y)):
        return np.real(y).astype(float), 0.0
    phi = float(np.angle(np.sum(y)))
    return np.real(y * np.exp(-1j * phi)).astype(float), phi


def _prepare(data, y, sigma, part):
    """(x, y_real, sigma, phase, x_name, x_unit, y_unit, source) from EchoData or arrays."""
    if isinstance(data, EchoData):
        d = data.valid()
        x, yy, sg = d.x, d.y, d.sigma
        names = (d.x_name, d.x_unit, d.y_unit, d.source)
        if sigma is not None:
            sg = np.broadcast_to(np.asarray(sigma, float), x.shape)
    else:
        if y is None:
            raise FitError("give an EchoData, or x and y arrays")
        x = np.asarray(data, float)
        yy = np.asarray(y)
        sg = None if sigma is None else np.broadcast_to(np.asarray(sigma, float), x.shape)
        ok = np.isfinite(x) & np.isfinite(yy)
        if sg is not None:
            ok &= np.isfinite(sg)
        x, yy = x[ok], yy[ok]
        sg = None if sg is None else sg[ok]
        names = ("x", "s", "", "arrays")
    yr, phi = as_real(yy, part)
    if sg is not None and np.any(sg <= 0):
        raise FitError("uncertainties sigma must be > 0")
    return x, yr, sg, phi, names


def run_lmfit(func, params: lmfit.Parameters, x, y, sigma, *, name: str, units=None,
              x_name="x", x_unit="", y_unit="", label="data", meta=None,
              truth=None, fine=True, method: str = "leastsq",
              fit_kws: dict | None = None) -> FitResult:
    """Least-squares fit of ``func(x, **params)`` to real ``y`` with lmfit (Levenberg–
    Marquardt by default; ``method``/``fit_kws`` are passed to lmfit), returned as a
    :class:`FitResult` (non-convergence reported in it)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    nvary = sum(p.vary for p in params.values())
    if x.size == 0:
        raise FitError(f"{name}: no valid data points")
    if x.size < nvary:
        raise FitError(f"{name}: {x.size} data points for {nvary} free parameters")
    # without uncertainties: a constant weight 1/max|y| keeps the residuals O(1) whatever
    # the data's unit (χ'' in seconds is ~1e-10), so the optimiser's absolute tolerances
    # mean something; estimates and the reduced-χ²-scaled covariance do not change
    y_scale = float(np.max(np.abs(y))) if y.size and np.any(y) else 1.0
    w = (np.full(y.shape, 1.0 / y_scale) if sigma is None
         else 1.0 / np.asarray(sigma, float))
    chi2_unit = y_scale**2 if sigma is None else 1.0
    import inspect

    xarg = next(iter(inspect.signature(func).parameters))
    model = lmfit.Model(func, independent_vars=[xarg])
    scale = sigma is None
    try:
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            res = model.fit(y, params, weights=w, **{xarg: x}, scale_covar=scale,
                            nan_policy="raise", max_nfev=4000, method=method,
                            fit_kws=fit_kws)
    except ValueError as exc:  # NaN produced by the model at some trial point
        raise FitError(f"{name}: the model could not be evaluated ({exc})") from None
    varied = [k for k, p in res.params.items() if p.vary]
    errorbars = bool(res.errorbars) and res.covar is not None
    pv = {}
    for k, p in res.params.items():
        se = p.stderr if (p.vary and errorbars and p.stderr is not None) else None
        pv[k] = ParamValue(k, float(p.value), None if se is None else float(se), bool(p.vary),
                           float(p.init_value) if p.init_value is not None else None,
                           None if not math.isfinite(p.min) else float(p.min),
                           None if not math.isfinite(p.max) else float(p.max),
                           (units or {}).get(k, ""),
                           None if truth is None else truth.get(k))
    corr = covariance_to_correlation(res.covar) if errorbars else None
    success = bool(res.success) and errorbars
    msg = str(res.message)
    if res.success and not errorbars:
        msg += "; uncertainties could not be estimated (singular covariance: a parameter " \
               "is not constrained by the data, or sits on a bound)"
    at_bound = [k for k, p in res.params.items() if p.vary and (
        (math.isfinite(p.min) and abs(p.value - p.min) <= 1e-9 * max(1.0, abs(p.min))) or
        (math.isfinite(p.max) and abs(p.value - p.max) <= 1e-9 * max(1.0, abs(p.max))))]
    if at_bound:
        success = False
        msg += f"; parameter(s) at a bound: {', '.join(at_bound)}"
    poor = poor_fit(float(res.chisqr), int(x.size) - len(varied), known_sigma=not scale)
    if poor:
        success = False
        msg += "; " + poor
    if errorbars:
        loose = undetermined(pv, corr, varied)
        if loose:
            success = False
            msg += f"; not determined by the data: {loose}"
    model_y = res.best_fit
    fx = fy = None
    if fine and x.size > 1:
        fx = np.linspace(x.min(), x.max(), 400)
        fy = func(fx, **{k: p.value for k, p in res.params.items()})
    curve = FitCurve(label, x, y, np.asarray(model_y, float), None if sigma is None
                     else np.asarray(sigma, float), x_name, x_unit, y_unit, fx, fy)
    return FitResult(name=name, params=pv, success=success, message=msg,
                     chi2=float(res.chisqr) * chi2_unit,
                     redchi=float(res.redchi) * chi2_unit, ndata=int(x.size),
                     nvary=len(varied), nfev=int(res.nfev), correlations=corr, varied=varied,
                     covar_scaled=scale, uncertainties=errorbars, curves=[curve],
                     meta=dict(meta or {}))


def fit_echo_decay(data, y=None, *, sigma=None, stretch: float | None = None,
                   baseline: bool = True, part: str = "auto", initial: dict | None = None,
                   truth: dict | None = None) -> FitResult:
    """Fit A·exp(−(2τ/T_M)^n) + c to an echo decay.

    ``data``: :class:`EchoData` (x = τ in s) or an array of τ with ``y``. ``stretch``:
    fix n to this value (None = free, bounded to [0.2, 5]). ``baseline``: fit c (else
    c = 0). ``initial``: starting values overriding the automatic guesses. ``truth``:
    true values, recorded in the result (synthetic data, demos).
    Parameters: ``amplitude``, ``t_m`` (s), ``stretch``, ``baseline``.
    """
    x, yr, sg, phi, (xn, xu, yu, src) = _prepare(data, y, sigma, part)
    if x.size and np.any(x < 0):
        raise FitError("echo decay: τ must be >= 0")
    order = np.argsort(x)
    xs, ys = x[order], yr[order]
    c0 = float(np.median(ys[-max(1, xs.size // 6):])) if baseline and xs.size > 4 else 0.0
    a0 = float(ys[0] - c0) if xs.size else 1.0
    if a0 == 0:
        a0 = float(np.max(np.abs(ys))) or 1.0
    target = c0 + a0 / math.e
    below = np.flatnonzero((ys - target) * np.sign(a0) < 0)
    if below.size and xs.size > 1:
        tm0 = 2.0 * float(xs[below[0]])
    else:
        tm0 = 2.0 * float(xs.max()) if xs.size else 1.0
    tm0 = tm0 if tm0 > 0 else 1.0
    p = lmfit.Parameters()
    p.add("amplitude", value=a0)
    p.add("t_m", value=tm0, min=tm0 * 1e-4)
    p.add("stretch", value=stretch if stretch is not None else 1.0, min=0.2, max=5.0,
          vary=stretch is None)
    p.add("baseline", value=c0, vary=baseline)
    for k, v in (initial or {}).items():
        if k not in p:
            raise FitError(f"echo decay: unknown parameter {k!r} (amplitude, t_m, stretch, "
                           "baseline)")
        p[k].value = v
    return run_lmfit(stretched_echo, p, x, yr, sg, name="echo decay A·exp(−(2τ/T_M)^n)+c",
                     units={"amplitude": yu, "t_m": "s", "baseline": yu},
                     x_name=xn if xn != "x" else "tau", x_unit=xu or "s", y_unit=yu,
                     label=src, meta={"phase": phi, "part": part}, truth=truth)


def fit_t1_recovery(data, y=None, *, sigma=None, part: str = "auto",
                    initial: dict | None = None, truth: dict | None = None) -> FitResult:
    """Fit m_inf − (m_inf − m0)·exp(−t/T1) to a recovery curve (t in s).
    Parameters: ``m_inf``, ``m0``, ``t1`` (s)."""
    x, yr, sg, phi, (xn, xu, yu, src) = _prepare(data, y, sigma, part)
    if x.size and np.any(x < 0):
        raise FitError("T1 recovery: t must be >= 0")
    order = np.argsort(x)
    xs, ys = x[order], yr[order]
    m0 = float(ys[0]) if xs.size else 0.0
    minf = float(np.median(ys[-max(1, xs.size // 6):])) if xs.size else 1.0
    target = minf - (minf - m0) / math.e
    cross = np.flatnonzero((ys - target) * np.sign(minf - m0) > 0)
    t10 = float(xs[cross[0]]) if cross.size else (float(xs.max()) if xs.size else 1.0)
    t10 = t10 if t10 > 0 else (float(xs.max()) / 3 if xs.size and xs.max() > 0 else 1.0)
    p = lmfit.Parameters()
    p.add("m_inf", value=minf)
    p.add("m0", value=m0)
    p.add("t1", value=t10, min=t10 * 1e-4)
    for k, v in (initial or {}).items():
        if k not in p:
            raise FitError(f"T1 recovery: unknown parameter {k!r} (m_inf, m0, t1)")
        p[k].value = v
    return run_lmfit(t1_recovery, p, x, yr, sg, name="T1 recovery m∞−(m∞−m0)·exp(−t/T1)",
                     units={"m_inf": yu, "m0": yu, "t1": "s"},
                     x_name=xn if xn != "x" else "t", x_unit=xu or "s", y_unit=yu,
                     label=src, meta={"phase": phi, "part": part}, truth=truth)
