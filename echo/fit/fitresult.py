"""The outcome of every fit in :mod:`echo.fit`: :class:`FitResult`.

A fit that runs but does not converge, or whose covariance cannot be estimated, is still
returned: ``success`` is False and ``message`` says why. Nothing is hidden.

Uncertainties are 1σ standard errors from the covariance matrix at the optimum,
cov = (JᵀWJ)⁻¹ with W from the data's noise (given, or estimated: ``covar_scaled`` True),
plus, for a Monte-Carlo model, the model's own Monte-Carlo covariance (see
:func:`echo.fit.model_fit.fit_model`). Strongly correlated pairs are reported with the
combination the data do constrain (``combinations``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ParamValue", "FitCurve", "FitResult", "constrained_combinations"]


@dataclass
class ParamValue:
    """One fit parameter: best ``value``, 1σ ``stderr`` (None when not estimated or fixed),
    whether it was varied, its initial value, bounds, unit and (for synthetic data or a
    demo) the ``truth``."""

    name: str
    value: float
    stderr: float | None = None
    vary: bool = True
    init: float | None = None
    min: float | None = None
    max: float | None = None
    unit: str = ""
    truth: float | None = None

    def interval(self, k: float = 1.0) -> tuple[float, float] | None:
        """(value − kσ, value + kσ), or None without an uncertainty."""
        if self.stderr is None or not math.isfinite(self.stderr):
            return None
        return self.value - k * self.stderr, self.value + k * self.stderr

    def to_dict(self) -> dict:
        d = {"value": _f(self.value), "stderr": _f(self.stderr), "vary": self.vary,
             "init": _f(self.init), "min": _f(self.min), "max": _f(self.max),
             "unit": self.unit}
        if self.truth is not None:
            d["truth"] = _f(self.truth)
            if self.stderr:
                d["deviation_sigma"] = _f((self.value - self.truth) / self.stderr)
        return d


@dataclass
class FitCurve:
    """Data and model of one data set, for the overlay plot. ``y`` and ``model`` are what
    was fitted (complex for complex data); ``fine_x``/``fine_model`` a smooth model curve
    when the model can be evaluated between the data points."""

    label: str
    x: np.ndarray
    y: np.ndarray
    model: np.ndarray
    sigma: np.ndarray | None = None
    x_name: str = "x"
    x_unit: str = ""
    y_unit: str = ""
    fine_x: np.ndarray | None = None
    fine_model: np.ndarray | None = None

    @property
    def residuals(self) -> np.ndarray:
        return self.y - self.model


@dataclass
class FitResult:
    """Parameters with uncertainties and correlations, goodness of fit, and the curves."""

    name: str
    params: dict[str, ParamValue]
    success: bool
    message: str
    chi2: float
    redchi: float
    ndata: int
    nvary: int
    nfev: int
    correlations: np.ndarray | None = None  # (nvary, nvary), order of ``varied``
    varied: list[str] = field(default_factory=list)
    covar_scaled: bool = True
    uncertainties: bool = True
    curves: list[FitCurve] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    #: what strongly correlated pairs do constrain (:func:`constrained_combinations`)
    combinations: list[dict] = field(default_factory=list)

    # -------------------------------------------------------------- access
    def __getitem__(self, name: str) -> ParamValue:
        return self.params[name]

    def value(self, name: str) -> float:
        return self.params[name].value

    def stderr(self, name: str) -> float | None:
        return self.params[name].stderr

    def correlation(self, a: str, b: str) -> float | None:
        if self.correlations is None or a not in self.varied or b not in self.varied:
            return None
        return float(self.correlations[self.varied.index(a), self.varied.index(b)])

    @property
    def values(self) -> dict[str, float]:
        return {k: p.value for k, p in self.params.items()}

    # ------------------------------------------------------------- output
    def table(self) -> str:
        """A plain-text parameter table (value ± 1σ, and the truth when known)."""
        has_truth = any(p.truth is not None for p in self.params.values())
        w = max([len(k) for k in self.params] + [9])
        head = f"{'parameter':<{w}}  {'value':>12}  {'± 1σ':>10}  {'unit':<6}"
        if has_truth:
            head += f"  {'truth':>12}  {'dev/σ':>6}"
        lines = [f"{self.name}: " + ("converged" if self.success else "NOT CONVERGED")
                 + f" — {self.message}",
                 f"χ² = {self.chi2:.4g}, reduced χ² = {self.redchi:.4g}, "
                 f"{self.ndata} points, {self.nvary} free parameters, {self.nfev} evaluations",
                 head, "-" * len(head)]
        for k, p in self.params.items():
            err = ("fixed" if not p.vary else
                   ("n/a" if p.stderr is None or not math.isfinite(p.stderr)
                    else f"{p.stderr:.3g}"))
            row = f"{k:<{w}}  {p.value:>12.5g}  {err:>10}  {p.unit:<6}"
            if has_truth:
                if p.truth is None:
                    row += f"  {'':>12}  {'':>6}"
                else:
                    dev = ((p.value - p.truth) / p.stderr) if (p.vary and p.stderr) else None
                    row += f"  {p.truth:>12.5g}  " + (f"{dev:>6.2f}" if dev is not None
                                                      else f"{'':>6}")
            lines.append(row)
        if self.correlations is not None and len(self.varied) > 1:
            strong = []
            for i in range(len(self.varied)):
                for j in range(i + 1, len(self.varied)):
                    c = self.correlations[i, j]
                    if math.isfinite(c) and abs(c) >= 0.5:
                        strong.append(f"  corr({self.varied[i]}, {self.varied[j]}) = {c:+.3f}")
            if strong:
                lines.append("strong correlations (|c| ≥ 0.5):")
                lines.extend(strong)
        for c in self.combinations:
            lines.append(combination_text(c))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        corr = None
        if self.correlations is not None:
            corr = {"names": list(self.varied),
                    "matrix": [[_f(c) for c in row] for row in np.asarray(self.correlations)]}
        return {"name": self.name, "success": bool(self.success), "message": self.message,
                "uncertainties": bool(self.uncertainties), "covar_scaled": self.covar_scaled,
                "chi2": _f(self.chi2), "redchi": _f(self.redchi), "ndata": self.ndata,
                "nvary": self.nvary, "nfev": self.nfev,
                "params": {k: p.to_dict() for k, p in self.params.items()},
                "correlations": corr,
                "combinations": _jsonable(self.combinations),
                "meta": _jsonable({k: v for k, v in self.meta.items()
                                   if k != "fitted_model"})}


def _f(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return _f(o)
    if isinstance(o, (str, int, bool)) or o is None:
        return o
    if isinstance(o, complex):
        return [o.real, o.imag]
    if hasattr(o, "to_dict"):
        return _jsonable(o.to_dict())
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    return str(o)


def covariance_to_correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrix of a covariance matrix (NaN where a variance is ≤ 0)."""
    cov = np.asarray(cov, float)
    d = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    return cov / np.outer(d, d)


def undetermined(params: dict, corr: np.ndarray | None, varied: list[str], *,
                 max_rel: float = 100.0, max_corr: float = 0.9999,
                 scale: dict | None = None) -> str:
    """A description of the parameters the data do not determine (1σ error above
    ``max_rel`` × |value| — or × ``scale[name]`` where given: an additive parameter such
    as an offset or a phase may well be fitted as 0 ± a little, which is determined — or
    |correlation| above ``max_corr``), '' if none."""
    bad = []
    scale = scale or {}
    for k in varied:
        p = params[k]
        ref = max(abs(scale.get(k, p.value)), 1e-300)
        if p.stderr is not None and (not math.isfinite(p.stderr)
                                     or p.stderr > max_rel * ref):
            what = "σ/|value|" if k not in scale else f"σ/{ref:.3g}"
            bad.append(f"{k} ({what} = {p.stderr / ref:.3g})")
    if corr is not None:
        for i in range(len(varied)):
            for j in range(i + 1, len(varied)):
                c = corr[i, j]
                if not math.isfinite(c) or abs(c) > max_corr:
                    bad.append(f"corr({varied[i]}, {varied[j]}) = {c:+.5f}")
    return ", ".join(bad)


def poor_fit(chi2: float, dof: int, *, known_sigma: bool, p_min: float = 1e-6) -> str:
    """With known per-point uncertainties, a χ² whose p-value is below ``p_min`` means the
    model does not describe the data (or the uncertainties are wrong): a message, else ''."""
    if not known_sigma or dof <= 0 or not math.isfinite(chi2):
        return ""
    from scipy.stats import chi2 as chi2_dist

    p = float(chi2_dist.sf(chi2, dof))
    if p < p_min:
        return (f"poor fit: χ² = {chi2:.4g} for {dof} degrees of freedom (p = {p:.2g}); the "
                "model does not describe the data within the given uncertainties (a local "
                "minimum? try other initial values)")
    return ""


def constrained_combinations(params: dict, cov: np.ndarray | None, varied: list[str], *,
                             min_corr: float = 0.9, positive=None) -> list[dict]:
    """For each pair of positive parameters whose |correlation| ≥ ``min_corr``: the power-law
    combination a·b^p the data determine best (the short axis of the error ellipse in
    log a, log b), with its value and relative 1σ error, and the exponent q of the
    direction the data cannot resolve (a·b^q free along the valley).

    In log space, δ(log a + p·log b) has the smallest variance for
    p = −Cov(la, lb)/Var(lb) (the regression of log a on log b); its relative error is
    √(Var(la)(1 − ρ²)). E.g. an echo decay in the motional-narrowing limit depends on
    σ²τc only: p ≈ 0.5 for (σ, τc). ``positive``: the names that are positive by nature
    (default: all); a power of a phase or an offset means nothing."""
    if cov is None:
        return []
    out = []
    for i in range(len(varied)):
        for j in range(i + 1, len(varied)):
            a, b = params[varied[i]], params[varied[j]]
            if positive is not None and not (a.name in positive and b.name in positive):
                continue
            if not (a.value > 0 and b.value > 0):
                continue
            vi, vj, cij = cov[i, i], cov[j, j], cov[i, j]
            if not (vi > 0 and vj > 0 and math.isfinite(cij)):
                continue
            rho = cij / math.sqrt(vi * vj)
            if abs(rho) < min_corr:
                continue
            la, lb = vi / a.value**2, vj / b.value**2
            lab = cij / (a.value * b.value)
            p = -lab / lb
            rel = math.sqrt(max(la * (1 - rho**2), 0.0))
            log_value = math.log(a.value) + p * math.log(b.value)
            if not (math.isfinite(log_value) and abs(log_value) < 700):
                continue  # a power beyond floating point: nothing useful to report
            out.append({"params": [a.name, b.name], "correlation": rho, "exponent": p,
                        "value": math.exp(log_value), "rel_stderr": rel,
                        "units": [a.unit, b.unit],
                        "rel_stderr_alone": [math.sqrt(la), math.sqrt(lb)]})
    return out


def combination_text(c: dict) -> str:
    """One report line for an entry of :func:`constrained_combinations`."""
    a, b = c["params"]
    return (f"{a} and {b} are not separately determined (corr = {c['correlation']:+.3f}): "
            f"the data constrain {a}·{b}^{c['exponent']:.3g} = {c['value']:.5g} "
            f"± {100 * c['rel_stderr']:.2g} % (alone: ± {100 * c['rel_stderr_alone'][0]:.2g} % "
            f"and ± {100 * c['rel_stderr_alone'][1]:.2g} %)")
