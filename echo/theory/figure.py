"""Fig. 1 of the paper: χ''(ω)/A for (a) λ = 10⁻³ and (b) λ − λ' = 10 (flat bias in every
channel, Φ = 0, T2⁻¹ = 0), with Eq. 7 for reference. ω in units of Δ0."""

from __future__ import annotations

import numpy as np

from echo.theory.spectrum import chi_flat, eq7_chi

__all__ = ["figure1_data", "figure1"]


def figure1_data(n_points: int = 481, omega_max: float = 12.0) -> dict:
    """The curves of both panels: {"omega", "a": {...}, "b": {...}} (χ''/A, units 1/Δ0)."""
    w = np.linspace(omega_max / n_points, omega_max, n_points)
    return {
        "omega": w,
        "eq7": eq7_chi(w),
        "a": {"lambda=1e-3": chi_flat(w, 1e-3)},
        "b": {"lambda=10, lambda'=0": chi_flat(w, 10.0),
              "lambda=12, lambda'=2": chi_flat(w, 12.0, 2.0)},
    }


def figure1(path, data: dict | None = None):
    """Write both panels of Fig. 1 to ``path`` (PNG/PDF/SVG by suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = data or figure1_data()
    w = d["omega"]
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    eq7 = np.where(np.isfinite(d["eq7"]), d["eq7"], np.nan)
    for label, y in d["a"].items():
        ax_a.plot(w, y, lw=1.8, label=label.replace("lambda", "λ"))
    ax_a.plot(w, eq7, "k--", lw=1, label="Eq. 7")
    ax_a.set_ylim(0, 3)
    ax_a.set_title("(a) λ = 10⁻³: degeneracy blocking only")
    for label, y in d["b"].items():
        ax_b.plot(w, y, lw=1.8, label=label.replace("lambda", "λ"))
    ax_b.plot(w, eq7, "k--", lw=1, label="Eq. 7 (λ → 0)")
    ax_b.set_ylim(0, 6)
    ax_b.set_title("(b) λ − λ' = 10: topological decoherence")
    for ax in (ax_a, ax_b):
        ax.set_xlabel("ω / Δ0")
        ax.set_ylabel("χ''(ω) / A   [1/Δ0]")
        ax.set_xlim(0, w[-1])
        ax.axvline(4.0, color="0.7", lw=0.8, zorder=0)
        ax.legend(frameon=False)
    fig.suptitle("Giant-spin absorption χ''(ω), flat bias in every channel, Φ = 0, T2⁻¹ = 0")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
