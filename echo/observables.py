"""The full Bloch vector of the ensemble in three frames, from the engine's components.

The fast engine records, per output sample and phase step, the weighted ensemble sums of
five components (:data:`echo.engines.fast.BLOCH_COMPONENTS`): the lab-frame ⟨τx⟩, ⟨τy⟩,
⟨τz⟩ and the static-eigenbasis ⟨σx'⟩, ⟨σz'⟩ of each grain (σz' = (Δτx + ετz)/E,
σx' = (ετx − Δτz)/E, σy' = τy; per grain, since the eigenbasis depends on Δ and ε).
From their means this module builds

* ``lab``: (⟨τx⟩, ⟨τy⟩, ⟨τz⟩);
* ``eigen``: (⟨σx'⟩, ⟨σy'⟩, ⟨σz'⟩), the static eigenbasis of each grain (no drive, no
  noise), averaged over the grains;
* ``rotating``: the eigenbasis rotating at the carrier ω = 2πf about z':
  σ̃x + iσ̃y = (σx' + iσy') e^{−iωt}, σ̃z = σz'. A grain at resonance (2E = ω) is
  stationary there between pulses; the transverse part is what a pulse-EPR quadrature
  detector records as I + iQ (:mod:`echo.detect`, detection kind ``"quadrature"``).

Free precession turns σx' + iσy' as e^{+2iEt} (H = E σz', d⟨σ⟩/dt = 2a × ⟨σ⟩). The
carrier f is the Schedule's first carrier pulse (the engine's RWA frame frequency), or
``frame_frequency`` (Hz) when given. Every operation is linear per time sample, so the
batch deviations of :mod:`echo.stats` pass through the same functions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FRAMES", "AXES", "bloch_frames"]

FRAMES = ("lab", "eigen", "rotating")
AXES = ("x", "y", "z")


def bloch_frames(comp, times, omega) -> dict[str, np.ndarray]:
    """``comp`` (..., 5, n_steps, n_t): ensemble means (or deviations) of the five
    components; ``times`` (n_t,) s; ``omega`` the carrier (rad/s). Returns frame name →
    array (..., n_steps, 3, n_t) of the (x, y, z) components."""
    comp = np.asarray(comp, float)
    tx, ty, tz, sx, sz = (comp[..., i, :, :] for i in range(5))
    c = np.cos(omega * np.asarray(times, float))
    s = np.sin(omega * np.asarray(times, float))
    rx = c * sx + s * ty
    ry = c * ty - s * sx
    return {"lab": np.stack([tx, ty, tz], axis=-2),
            "eigen": np.stack([sx, ty, sz], axis=-2),
            "rotating": np.stack([rx, ry, sz], axis=-2)}
