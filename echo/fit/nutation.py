"""Nutation (Rabi) fits: the nutation curve of a pulse of swept length tp,

    y(tp) = A · cos(2π f_R tp + φ) · exp(−tp / T_n) + c,

with f_R the Rabi frequency (Hz) at the pulse's amplitude, φ the phase (0 for an
echo-detected nutation, which follows the longitudinal polarisation; −π/2 for an
FID-detected one, which follows the transverse part), T_n the nutation decay (a spread of
Rabi frequencies, Δ/E, over the ensemble) and c a baseline. The π/2 and π
lengths at that amplitude are 1/(4 f_R) and 1/(2 f_R); at another length t the amplitude
for a π/2 rotation scales as amp · (1/(4 f_R)) / t (the Rabi frequency is linear in the
drive field as long as the rotating-wave picture holds).
"""

from __future__ import annotations

import math

import lmfit
import numpy as np

from echo.fit.empirical import _prepare, run_lmfit
from echo.fit.errors import FitError
from echo.fit.fitresult import FitResult

__all__ = ["nutation_curve", "fit_nutation"]


def nutation_curve(tp, amplitude, rabi_frequency, t_decay, phase=0.0, baseline=0.0):
    """A · cos(2π f_R tp + φ) · exp(−tp/T_n) + c (tp, T_n in s, f_R in Hz, φ in rad)."""
    tp = np.asarray(tp, float)
    return amplitude * np.cos(2 * math.pi * rabi_frequency * tp + phase) \
        * np.exp(-tp / t_decay) + baseline


def fit_nutation(data, y=None, *, sigma=None, part: str = "auto",
                 initial: dict | None = None) -> FitResult:
    """Fit :func:`nutation_curve` to an echo-detected nutation (x = pulse length in s).

    The starting Rabi frequency is the peak of the zero-padded spectrum of the
    mean-subtracted curve (at least one period should be sampled, and two points per
    period). Parameters: ``amplitude`` (≥ 0), ``rabi_frequency`` (Hz), ``t_decay`` (s),
    ``phase`` (rad), ``baseline``. Raises :class:`FitError` for too few points or
    repeated/negative pulse lengths.
    """
    x, yr, sg, phi, (xn, xu, yu, src) = _prepare(data, y, sigma, part)
    if x.size < 7:
        raise FitError(f"nutation: {x.size} points; at least 7 are needed (5 parameters)")
    if np.any(x < 0):
        raise FitError("nutation: pulse lengths must be >= 0")
    order = np.argsort(x)
    xs, ys = x[order], yr[order]
    steps = np.diff(xs)
    if np.any(steps <= 0):
        raise FitError("nutation: pulse lengths must be distinct")
    dt = float(np.median(steps))
    n_fft = 16 * int(2 ** math.ceil(math.log2(xs.size)))
    grid = np.interp(np.arange(xs[0], xs[-1] + dt / 2, dt), xs, ys)
    spec = np.abs(np.fft.rfft(grid - grid.mean(), n=n_fft))
    freqs = np.fft.rfftfreq(n_fft, dt)
    k = int(np.argmax(spec[1:])) + 1
    f0 = float(freqs[k])
    # amplitude, phase and baseline at f0: linear least squares of a·cos + b·sin + c
    w = 2 * math.pi * f0 * xs
    basis = np.column_stack([np.cos(w), np.sin(w), np.ones_like(w)])
    (ca, cb, c0), *_ = np.linalg.lstsq(basis, ys, rcond=None)
    a0, phi0 = float(math.hypot(ca, cb)), float(math.atan2(-cb, ca))
    span = float(xs[-1] - xs[0]) or 1.0
    p = lmfit.Parameters()
    p.add("amplitude", value=a0 or float(np.ptp(ys) / 2) or 1.0, min=0.0)
    p.add("rabi_frequency", value=f0, min=0.2 * f0, max=min(5 * f0, 0.5 / dt * 1.5))
    p.add("t_decay", value=3 * span, min=0.05 * span, max=1e4 * span)
    p.add("phase", value=phi0, min=phi0 - 2 * math.pi, max=phi0 + 2 * math.pi)
    p.add("baseline", value=float(c0))
    for key, v in (initial or {}).items():
        if key not in p:
            raise FitError(f"nutation: unknown parameter {key!r} (amplitude, rabi_frequency, "
                           "t_decay, phase, baseline)")
        p[key].value = v
    return run_lmfit(nutation_curve, p, x, yr, sg,
                     name="nutation A·cos(2π f_R tp + φ)·e^(−tp/T)+c",
                     units={"amplitude": yu, "rabi_frequency": "Hz", "t_decay": "s",
                            "phase": "rad", "baseline": yu},
                     x_name=xn if xn != "x" else "tp", x_unit=xu or "s", y_unit=yu,
                     label=src, meta={"phase": phi, "part": part})
