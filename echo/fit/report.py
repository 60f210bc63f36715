"""Fit reports: parameter tables, data/model overlays with residuals (PNG), JSON summary.

:func:`write_report` writes into a folder

* ``parameters.txt`` — every fit's table (value ± 1σ, truth when known, correlations);
* ``fit_<name>.png`` — per fit, one column per data set: data and model (real and, for
  complex data, imaginary parts) on top, residuals below (normalised by σ when the data
  carry uncertainties);
* ``summary.json`` — every fit's :meth:`FitResult.to_dict` plus any ``extra`` entries.

Non-converged fits are written like the others, flagged ``"success": false`` with their
message, and their plot title says NOT CONVERGED.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from echo.fit.fitresult import FitResult, _jsonable

__all__ = ["write_report", "plot_fit", "slug"]

_PREFIX = {1e-9: "n", 1e-6: "µ", 1e-3: "m", 1.0: "", 1e3: "k", 1e6: "M", 1e9: "G"}


def slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()
    return s or "fit"


def _scaled(x: np.ndarray, unit: str) -> tuple[float, str]:
    """A display factor and prefixed unit for values x in ``unit`` (SI)."""
    if unit not in ("s", "Hz", "V", "T") or x.size == 0:
        return 1.0, unit
    m = float(np.nanmax(np.abs(x))) if np.any(np.isfinite(x)) else 1.0
    for f in (1e9, 1e6, 1e3, 1.0, 1e-3, 1e-6, 1e-9):
        if m >= f:
            return 1.0 / f, _PREFIX[f] + unit
    return 1e9, "n" + unit


def plot_fit(fit: FitResult, path, *, title: str | None = None) -> Path:
    """Data + model (top) and residuals (bottom) of every data set of ``fit`` (Agg PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = fit.curves or []
    n = max(len(curves), 1)
    fig, axes = plt.subplots(2, n, figsize=(5.2 * n, 5.6), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1.3]}, sharex="col")
    for j, c in enumerate(curves):
        ax, axr = axes[0, j], axes[1, j]
        fx, xu = _scaled(np.asarray(c.x, float), c.x_unit)
        fy, yu = _scaled(np.abs(np.asarray(c.y)), c.y_unit)
        x = np.asarray(c.x) * fx
        y = np.asarray(c.y)
        mod = np.asarray(c.model)
        cplx = np.iscomplexobj(y) and np.any(np.imag(y))
        order = np.argsort(x)
        parts = [("Re", np.real)] + ([("Im", np.imag)] if cplx else [])
        for k, (pn, fn) in enumerate(parts):
            col = f"C{k}"
            lab = pn if cplx else "data"
            if c.sigma is not None:
                ax.errorbar(x, fn(y) * fy, yerr=np.asarray(c.sigma) * fy, fmt="o", ms=3,
                            color=col, label=lab, lw=0.8)
            else:
                ax.plot(x, fn(y) * fy, "o", ms=3, color=col, label=lab)
            if c.fine_x is not None and c.fine_model is not None:
                ax.plot(np.asarray(c.fine_x) * fx, fn(np.asarray(c.fine_model)) * fy, "-",
                        color=col, lw=1.2, label=f"model ({pn})" if cplx else "model")
            else:
                ax.plot(x[order], fn(mod)[order] * fy, "-", color=col, lw=1.2,
                        label=f"model ({pn})" if cplx else "model")
            res = fn(y - mod)
            if c.sigma is not None:
                res = res / np.asarray(c.sigma)
                axr.set_ylabel("residual / σ")
            else:
                res = res * fy
                axr.set_ylabel(f"residual ({yu})" if yu else "residual")
            axr.plot(x, res, "o", ms=3, color=col)
        axr.axhline(0, color="k", lw=0.6)
        ax.set_ylabel(f"signal ({yu})" if yu else "signal")
        axr.set_xlabel(f"{c.x_name} ({xu})" if xu else c.x_name)
        ax.set_title(c.label if len(c.label) < 60 else "…" + c.label[-57:], fontsize=8)
        ax.legend(fontsize=7)
    status = "converged" if fit.success else "NOT CONVERGED"
    fig.suptitle(wrap_title(f"{title or fit.name} — {status}, reduced χ² = {fit.redchi:.3g}",
                            5.2 * n), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(fits, out_dir, *, extra: dict | None = None,
                 text_extra: str = "") -> dict[str, Path]:
    """Write the report folder for ``fits`` (a FitResult, a list, or a dict name →
    FitResult). Returns the written files by role."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(fits, FitResult):
        fits = {fits.name: fits}
    elif not isinstance(fits, dict):
        fits = {f.name: f for f in fits}
    files: dict[str, Path] = {}
    tables = []
    summary = {"fits": {}}
    for key, fit in fits.items():
        tables.append(fit.table())
        png = plot_fit(fit, out / f"fit_{slug(key)}.png", title=key)
        files[f"plot:{key}"] = png
        d = fit.to_dict()
        d["plot"] = png.name
        summary["fits"][key] = d
    if extra:
        summary.update(_jsonable(extra))
    txt = out / "parameters.txt"
    txt.write_text("\n\n".join(tables) + ("\n\n" + text_extra if text_extra else "") + "\n",
                   encoding="utf-8")
    files["table"] = txt
    js = out / "summary.json"
    js.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files["json"] = js
    return files


def wrap_title(text: str, width_in: float) -> str:
    """``text`` broken into lines that fit a figure ``width_in`` inches wide at 9 pt
    (≈ 12 characters per inch), so a long suptitle is not clipped at both edges."""
    import textwrap

    return textwrap.fill(text, width=max(30, int(12 * width_in)))
