"""Unit conventions shared by every package.

Inside the code ħ = 1: energies are angular frequencies in rad/s and times are seconds.
User-facing frequencies (sequence text, model files, command line) are cyclic, in Hz.
:func:`angular` is the one place where Hz become rad/s; :func:`cyclic` is its inverse.
"""

from __future__ import annotations

import math

import numpy as np

TWO_PI = 2.0 * math.pi

#: Physical constants (SI), all from :mod:`scipy.constants` (CODATA), loaded on first
#: use so that the sequence language alone never imports scipy:
#: ``MU_B`` Bohr magneton (J/T), ``HBAR`` (J s), ``K_B`` Boltzmann (J/K), ``PHI_0``
#: magnetic flux quantum h/2e (Wb), ``MU_B_OVER_HBAR`` (rad s^-1 T^-1) and
#: ``K_B_OVER_HBAR`` (rad s^-1 K^-1).
_CONSTANTS = ("MU_B", "HBAR", "K_B", "PHI_0", "MU_B_OVER_HBAR", "K_B_OVER_HBAR")


def _constants() -> dict[str, float]:
    from scipy import constants as c

    mu_b = c.physical_constants["Bohr magneton"][0]
    return {"MU_B": mu_b, "HBAR": c.hbar, "K_B": c.k,
            "PHI_0": c.physical_constants["mag. flux quantum"][0],
            "MU_B_OVER_HBAR": mu_b / c.hbar, "K_B_OVER_HBAR": c.k / c.hbar}


def __getattr__(name: str):
    if name in _CONSTANTS:
        values = _constants()
        globals().update(values)  # later look-ups are plain module attributes
        return values[name]
    raise AttributeError(f"module 'sequences.units' has no attribute {name!r}")


def angular(f_hz):
    """Cyclic frequency in Hz → angular frequency in rad/s (ħ = 1 energy)."""
    return np.multiply(TWO_PI, f_hz) if isinstance(f_hz, np.ndarray) else TWO_PI * f_hz


def cyclic(omega):
    """Angular frequency in rad/s → cyclic frequency in Hz."""
    return np.divide(omega, TWO_PI) if isinstance(omega, np.ndarray) else omega / TWO_PI
