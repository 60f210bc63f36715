"""Unit conventions shared by every package.

Inside the code ħ = 1: energies are angular frequencies in rad/s and times are seconds.
User-facing frequencies (sequence text, model files, command line) are cyclic, in Hz.
:func:`angular` is the one place where Hz become rad/s; :func:`cyclic` is its inverse.
"""

from __future__ import annotations

import math

import numpy as np

TWO_PI = 2.0 * math.pi

#: Bohr magneton over ħ, rad s^-1 T^-1 (CODATA 2018: μB = 9.2740100783e-24 J/T,
#: ħ = 1.054571817e-34 J s).
MU_B_OVER_HBAR = 9.2740100783e-24 / 1.054571817e-34
#: Bohr magneton, J/T.
MU_B = 9.2740100783e-24
#: Boltzmann constant over ħ, rad s^-1 K^-1.
K_B_OVER_HBAR = 1.380649e-23 / 1.054571817e-34
#: Magnetic flux quantum h/2e, Wb.
PHI_0 = 2.067833848e-15


def angular(f_hz):
    """Cyclic frequency in Hz → angular frequency in rad/s (ħ = 1 energy)."""
    return np.multiply(TWO_PI, f_hz) if isinstance(f_hz, np.ndarray) else TWO_PI * f_hz


def cyclic(omega):
    """Angular frequency in rad/s → cyclic frequency in Hz."""
    return np.divide(omega, TWO_PI) if isinstance(omega, np.ndarray) else omega / TWO_PI
