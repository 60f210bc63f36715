"""The SQUID read-out chain as a pure-Python converter.

A flux-locked loop (FLL) keeps the SQUID at its working point and outputs a voltage
proportional to the flux through it: Φ/Φ0 = V / (V/Φ0), with ``volts_per_phi0`` the FLL
transfer coefficient (V per flux quantum, from the read-out electronics' calibration).
The sample's moment couples flux into the input coil: Φ/Φ0 = m · ``phi0_per_mu_b``,
with m in Bohr magnetons (the coupling, calibrated with a known moment). So

    moment [μB] = V / (volts_per_phi0 · phi0_per_mu_b).

Flux jumps: when the loop loses lock (a fast flux change, a spike) it re-locks on a
neighbouring minimum of the SQUID's periodic V–Φ curve; the output then jumps by a
whole number k of flux quanta, k·volts_per_phi0, between two consecutive samples.
:meth:`SquidReadout.detect_flux_jumps` finds steps between consecutive samples larger
than ``threshold`` Φ0 (after subtracting the local signal slope, the median of the
neighbouring steps) and rounds them to integers k; :meth:`correct_flux_jumps` removes
them (subtracts k·volts_per_phi0 from every later sample). It assumes the genuine
signal changes by less than ``threshold`` Φ0 between samples (sample fast enough).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from instruments.errors import InstrumentError


@dataclass(frozen=True)
class FluxJumps:
    """Detected FLL resets: sample ``index[j]`` is ``size[j]`` flux quanta above where
    the signal would be without the reset (jump between samples index−1 and index).
    ``residual`` is the non-integer remainder (Φ0) of each step after removing k and
    the local slope; a large one (> 0.25) marks a doubtful detection."""

    index: np.ndarray
    size: np.ndarray
    residual: np.ndarray

    def __len__(self) -> int:
        return int(self.index.size)


@dataclass(frozen=True)
class SquidReadout:
    """FLL volts → flux (Φ0) → moment (μB); see the module docstring."""

    volts_per_phi0: float
    phi0_per_mu_b: float = 1.0
    name: str = "squid"

    def __post_init__(self):
        for field_name in ("volts_per_phi0", "phi0_per_mu_b"):
            value = getattr(self, field_name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value != 0):
                raise InstrumentError(f"{field_name} must be a finite non-zero number, "
                                      f"got {value!r}", self.name)

    def flux(self, volts) -> np.ndarray:
        """FLL output (V) → flux through the SQUID in units of Φ0."""
        return np.asarray(volts, dtype=float) / self.volts_per_phi0

    def moment(self, volts) -> np.ndarray:
        """FLL output (V) → sample moment in μB."""
        return self.flux(volts) / self.phi0_per_mu_b

    def volts(self, moment_mu_b) -> np.ndarray:
        """Sample moment (μB) → FLL output (V); the inverse of :meth:`moment`."""
        return np.asarray(moment_mu_b, dtype=float) * self.phi0_per_mu_b * self.volts_per_phi0

    def detect_flux_jumps(self, volts, threshold: float = 0.5, window: int = 4) -> FluxJumps:
        """Steps between consecutive samples larger than ``threshold`` Φ0 (0.5 ≤
        threshold < 1) after subtracting the local slope (median of up to ``window``
        ordinary steps on each side)."""
        if not 0.5 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0.5, 1) Φ0, got {threshold!r}")
        phi = self.flux(volts)
        if phi.ndim != 1:
            raise ValueError("flux-jump detection needs a 1-d trace")
        d = np.diff(phi)
        big = np.abs(d) > threshold
        cand = np.flatnonzero(big)
        ordinary = np.flatnonzero(~big)
        idx, size, resid = [], [], []
        for j in cand:
            pos = np.searchsorted(ordinary, j)
            neigh = ordinary[max(0, pos - window):pos + window]
            slope = float(np.median(d[neigh])) if neigh.size else 0.0
            step = d[j] - slope
            k = int(np.rint(step))
            if k != 0:
                idx.append(j + 1)
                size.append(k)
                resid.append(step - k)
        return FluxJumps(np.asarray(idx, dtype=int), np.asarray(size, dtype=int),
                         np.asarray(resid, dtype=float))

    def correct_flux_jumps(self, volts, threshold: float = 0.5,
                           window: int = 4) -> tuple[np.ndarray, FluxJumps]:
        """Remove FLL resets: returns (corrected volts, the jumps removed)."""
        v = np.asarray(volts, dtype=float)
        jumps = self.detect_flux_jumps(v, threshold, window)
        offset = np.zeros(v.size)
        if len(jumps):
            np.add.at(offset, jumps.index, jumps.size)
            offset = np.cumsum(offset)
        return v - offset * self.volts_per_phi0, jumps
