"""Pulse envelopes, peak-normalised, as functions of the reduced time u ∈ [0, 1], and the
frequency laws of frequency-swept (adiabatic) pulses.

===========  =============================================  ==============================
shape        envelope s(u), x = 2u − 1                        parameters (defaults)
===========  =============================================  ==============================
``rect``     1                                               —
``gauss``    exp(−(u − ½)² / (2σ²)), truncated at the ends    ``sigma`` = 1/6 (of duration)
``sinc``     sinc(L (2u − 1)),  sinc x = sin(πx)/(πx)         ``lobes`` L = 3 (zeros/side)
``hann``     sin²(πu)                                        —
``chirp``    1; linear sweep over ``span``                   ``span`` (Hz), required
``wurst``    1 − |sin(πx/2)|^n; linear sweep over ``span``   ``order`` n = 20; ``span``
``hs``       sech(β x); tanh sweep over ``span``             ``beta`` β = 5.3 (sech β ≈
                                                             0.01); ``span`` or ``mu``
===========  =============================================  ==============================

Frequency-swept shapes (:data:`SWEPT`): the instantaneous carrier is f + Δf(u) with

* ``chirp``, ``wurst`` (Kupče & Freeman): Δf = span · (u − ½), linear from −span/2 to +span/2;
* ``hs`` (hyperbolic secant, Silver–Joseph–Hoult): Δf = (span/2) · tanh(β x) / tanh β,
  from −span/2 to +span/2. In the usual (β, μ) form, A(t) = sech(β_t t′),
  Δω(t) = μ β_t tanh(β_t t′) with β_t = 2β/T and t′ the time from the pulse centre, so
  span = 2 μ β tanh(β) / (π T) (``sequences.bind`` converts ``mu`` to ``span``).

The carrier phase is Θ = 2π f t + φ(u) + φ_k, with φ = 2π ∫ Δf dt from the pulse centre
(:func:`sweep_phase`). Outside [0, 1) every envelope is 0. The carrier and phases are in
:mod:`sequences.schedule`.
"""

from __future__ import annotations

import math

import numpy as np

SHAPES = ("rect", "gauss", "sinc", "hann", "chirp", "wurst", "hs")
#: shapes whose carrier frequency is swept (they take ``span``)
SWEPT = ("chirp", "wurst", "hs")
SHAPE_PARAMS: dict[str, dict[str, float | None]] = {
    "rect": {},
    "gauss": {"sigma": 1.0 / 6.0},
    "sinc": {"lobes": 3.0},
    "hann": {},
    "chirp": {"span": None},
    "wurst": {"order": 20.0, "span": None},
    "hs": {"beta": 5.3, "span": None},
}


def _p(shape: str, params: dict | None, name: str) -> float:
    v = (params or {}).get(name, SHAPE_PARAMS[shape][name])
    return 0.0 if v is None else float(v)


def envelope(shape: str, u, params: dict | None = None) -> np.ndarray:
    """Peak-normalised envelope of ``shape`` at reduced times ``u`` (array)."""
    params = params or {}
    u = np.asarray(u, dtype=float)
    inside = (u >= 0.0) & (u < 1.0)
    if shape in ("rect", "chirp"):
        s = np.ones_like(u)
    elif shape == "gauss":
        sigma = float(params.get("sigma", SHAPE_PARAMS["gauss"]["sigma"]))
        s = np.exp(-((u - 0.5) ** 2) / (2.0 * sigma * sigma))
    elif shape == "sinc":
        lobes = float(params.get("lobes", SHAPE_PARAMS["sinc"]["lobes"]))
        s = np.sinc(lobes * (2.0 * u - 1.0))
    elif shape == "hann":
        s = np.sin(np.pi * u) ** 2
    elif shape == "wurst":
        s = 1.0 - np.abs(np.sin(0.5 * np.pi * (2.0 * u - 1.0))) ** _p(shape, params, "order")
    elif shape == "hs":
        s = 1.0 / np.cosh(_p(shape, params, "beta") * (2.0 * u - 1.0))
    else:
        raise ValueError(f"unknown pulse shape {shape!r} (known: {', '.join(SHAPES)})")
    return np.where(inside, s, 0.0)


def max_slope(shape: str, params: dict | None = None) -> float:
    """max |ds/du| of the envelope (per unit reduced time), used to split shaped pulses."""
    params = params or {}
    if shape in ("rect", "chirp"):
        return 0.0
    if shape == "hann":
        return math.pi  # d/du sin²(πu) = π sin(2πu)
    if shape == "hs":
        # d/du sech(βx) = −2β sech tanh; max |sech·tanh| = ½ at βx = asinh 1, else the edge
        beta = _p(shape, params, "beta")
        y = min(math.asinh(1.0), beta)
        return 2.0 * beta * math.tanh(y) / math.cosh(y)
    if shape == "gauss":
        sigma = float(params.get("sigma", SHAPE_PARAMS["gauss"]["sigma"]))
        # maximum of |x| exp(-x²/2σ²)/σ² at x = σ, unless truncated before that
        x = min(sigma, 0.5)
        return x / sigma**2 * math.exp(-(x * x) / (2 * sigma * sigma))
    u = np.linspace(0.0, 1.0, 20001)[:-1]
    s = envelope(shape, u, params)
    return float(np.max(np.abs(np.diff(s))) * (u.size))


def area(shape: str, params: dict | None = None, n: int = 200001) -> float:
    """∫₀¹ s(u) du (the pulse area per unit duration and unit amplitude)."""
    u = (np.arange(n) + 0.5) / n
    return float(np.mean(envelope(shape, u, params)))


def is_swept(shape: str) -> bool:
    """True for frequency-swept shapes (``chirp``, ``wurst``, ``hs``)."""
    return shape in SWEPT


def _sweep_params(shape: str, params: dict | None) -> tuple[float, float | None] | None:
    """(span in Hz, beta for ``hs`` else None) of a swept shape; None when not swept."""
    if not is_swept(shape):
        return None
    return _p(shape, params, "span"), (_p(shape, params, "beta") if shape == "hs" else None)


def sweep_offset(shape: str, u, params: dict | None = None) -> np.ndarray:
    """Instantaneous frequency offset Δf (Hz) from the carrier at reduced time ``u``
    (0 for shapes that are not swept)."""
    u = np.asarray(u, dtype=float)
    sweep = _sweep_params(shape, params)
    if sweep is None:
        return np.zeros_like(u)
    span, beta = sweep
    if beta is not None:  # hs
        return 0.5 * span * np.tanh(beta * (2.0 * u - 1.0)) / math.tanh(beta)
    return span * (u - 0.5)


def sweep_phase(shape: str, u, params: dict | None, duration) -> np.ndarray:
    """φ(u) = 2π ∫ Δf dt from the pulse centre (rad), for a pulse of ``duration`` (s,
    scalar or array like ``u``): the carrier-phase term of a swept pulse."""
    u = np.asarray(u, dtype=float)
    sweep = _sweep_params(shape, params)
    if sweep is None:
        return np.zeros_like(u)
    span, beta = sweep
    if beta is not None:  # hs
        y = np.abs(beta * (2.0 * u - 1.0))
        log_cosh = y + np.log1p(np.exp(-2.0 * y)) - math.log(2.0)  # no overflow
        return math.pi * span * duration * log_cosh / (2.0 * beta * math.tanh(beta))
    return math.pi * span * duration * (u - 0.5) ** 2


def max_sweep_rate(shape: str, params: dict | None, duration: float) -> float:
    """max |dΔf/dt| (Hz/s) of a swept pulse (0 if not swept)."""
    if not is_swept(shape) or duration <= 0:
        return 0.0
    span = abs(_p(shape, params, "span"))
    if shape == "hs":
        beta = _p(shape, params, "beta")
        return span * beta / (duration * math.tanh(beta))
    return span / duration


def sweep_span(shape: str, params: dict | None = None) -> float:
    """The full frequency sweep |span| (Hz) of a swept pulse, 0 otherwise: the carrier
    reaches f ± span/2."""
    return abs(_p(shape, params, "span")) if is_swept(shape) else 0.0


def hs_span_from_mu(mu: float, beta: float, duration: float) -> float:
    """span (Hz) of a hyperbolic-secant pulse given in the (β, μ) form:
    2 μ β tanh(β) / (π T)."""
    return 2.0 * mu * beta * math.tanh(beta) / (math.pi * duration)
