"""Pulse envelopes, peak-normalised, as functions of the reduced time u ∈ [0, 1].

===========  ===========================================  ================================
shape        envelope s(u)                                 parameters (defaults)
===========  ===========================================  ================================
``rect``     1                                             —
``gauss``    exp(−(u − ½)² / (2σ²)), truncated at the ends  ``sigma`` = 1/6 (fraction of duration)
``sinc``     sinc(L (2u − 1)),  sinc x = sin(πx)/(πx)       ``lobes`` L = 3 (zeros per side)
``hann``     sin²(πu)                                      —
``chirp``    1 (carrier swept linearly, see schedule)      ``span`` (Hz), required
===========  ===========================================  ================================

Outside [0, 1) every envelope is 0. The carrier, phases and chirp law are in
:mod:`sequences.schedule`.
"""

from __future__ import annotations

import math

import numpy as np

SHAPES = ("rect", "gauss", "sinc", "hann", "chirp")
SHAPE_PARAMS: dict[str, dict[str, float | None]] = {
    "rect": {},
    "gauss": {"sigma": 1.0 / 6.0},
    "sinc": {"lobes": 3.0},
    "hann": {},
    "chirp": {"span": None},
}


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
