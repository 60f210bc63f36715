"""The SQUID read-out chain as a pure-Python converter.

A flux-locked loop (FLL) keeps the SQUID at its working point and outputs a voltage
proportional to the flux through it: Φ/Φ0 = V / (V/Φ0), with ``volts_per_phi0`` the FLL
transfer coefficient (V per flux quantum, from the read-out electronics' calibration).
The sample's moment couples flux into the input coil: Φ/Φ0 = m · ``phi0_per_mu_b``,
with m in Bohr magnetons (the coupling, calibrated with a known moment). So

    moment [μB] = V / (volts_per_phi0 · phi0_per_mu_b).

Flux jumps: when the loop loses lock (a fast flux change, a spike) it re-locks on a
neighbouring minimum of the SQUID's periodic V–Φ curve; the output then jumps by a
whole number k of flux quanta, k·volts_per_phi0, between two consecutive samples, and
*stays* there. :meth:`SquidReadout.detect_flux_jumps` tells such a reset from noise in
two stages:

1. candidates: sample-to-sample steps larger than max(``threshold``, ``n_sigma``·σ_d)
   Φ0 — σ_d the noise of a step, estimated robustly from the trace itself
   (1.4826 × the median absolute deviation of the steps, which a few jumps and a smooth
   signal do not move) — and the peaks of the level change between the means of
   ``window`` samples on either side (less the local slope) above 0.5 Φ0, whose noise
   σ√(2/w) is small enough to show a reset that one step (noise σ√2) would hide (the
   candidate is the least-squares change point within w of the peak);
2. confirmation: a least-squares fit to the ``window`` samples on each side of the
   candidate of level + slope + curvature (the smooth signal, e.g. an echo oscillating
   across the window) + k·(step at the candidate): k must round to an integer ≠ 0 within
   max(0.25, 4 se) and exceed 5 of its standard errors se (σ = σ_d/√2 per sample); the
   reset is then placed where the same fit leaves the least residual within w/2 of the
   candidate. A noise spike moves one sample, not the level: its k rounds to 0.

:meth:`correct_flux_jumps` removes the confirmed jumps (subtracts k·volts_per_phi0 from
every later sample). Before this rule a single step > 0.5 Φ0 was taken as a jump: with
0.1 Φ0 of noise per sample (σ_d = 0.14 Φ0) that fired about 4 times per 10⁴ samples and
shifted the rest of the record by a whole quantum each time (the echo scattered 10–20×
more than the noise gives). It assumes the genuine signal changes by less than
``threshold`` Φ0 between samples (sample fast enough), and resets at least ``window``
samples apart (a second reset inside the window is measured against a mixed level).
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
    noise: float = math.nan  # σ per sample (Φ0), estimated from the trace
    rejected: int = 0  # candidate steps that were noise, not a reset

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

    def detect_flux_jumps(self, volts, threshold: float = 0.5, window: int = 16,
                          n_sigma: float = 4.0) -> FluxJumps:
        """FLL resets in a trace (module docstring): candidate steps larger than
        max(``threshold`` Φ0 (0.5 ≤ threshold < 1), ``n_sigma`` × the trace's own step
        noise), confirmed by the level change over ``window`` samples on each side."""
        if not 0.5 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0.5, 1) Φ0, got {threshold!r}")
        if int(window) < 1:
            raise ValueError(f"window must be >= 1 sample, got {window!r}")
        w = int(window)
        phi = self.flux(volts)
        if phi.ndim != 1:
            raise ValueError("flux-jump detection needs a 1-d trace")
        d = np.diff(phi)
        if d.size == 0:
            return FluxJumps(np.zeros(0, int), np.zeros(0, int), np.zeros(0))
        sigma_d = 1.4826 * float(np.median(np.abs(d - np.median(d))))
        cut = max(float(threshold), float(n_sigma) * sigma_d)
        big = np.abs(d) > cut
        cand = set(np.flatnonzero(big).tolist()) | set(self._level_candidates(phi, d, big, w))
        # the largest steps first: of two candidates a few samples apart the reset itself
        # is confirmed, the other then sees no change of level (phi is corrected in place)
        cand = sorted(cand, key=lambda j: -abs(d[j]))
        sigma = sigma_d / math.sqrt(2.0)
        phi = phi.copy()  # corrected as jumps are confirmed: later windows see clean levels
        idx, size, resid = [], [], []
        for j0 in cand:
            hit = self._confirm(phi, j0, w, sigma)
            if hit is None:
                continue
            j, k, r = hit
            idx.append(j + 1)
            size.append(k)
            resid.append(r)
            phi[j + 1:] -= k
        order = np.argsort(idx, kind="stable")
        return FluxJumps(np.asarray(idx, dtype=int)[order], np.asarray(size, dtype=int)[order],
                         np.asarray(resid, dtype=float)[order], sigma,
                         int(len(cand) - len(idx)))

    @staticmethod
    def _step(phi, j: int, w: int, sigma: float) -> tuple[float, float, float]:
        """Least-squares step k between samples j and j+1 of a level + slope + curvature
        + k·H fit to the ``w`` samples on each side: (k, its standard error, the residual
        sum of squares), Φ0. The quadratic takes up a smooth signal (an echo oscillating
        over the window), so only a change of level is left in k."""
        lo, hi = max(0, j + 1 - w), min(phi.size, j + 1 + w)
        t = np.arange(lo, hi) - (j + 0.5)
        if (t < 0).sum() < 2 or (t > 0).sum() < 2:
            return 0.0, math.inf, math.inf
        x = np.column_stack([np.ones_like(t), t, t * t, (t > 0).astype(float)])
        coef, *_ = np.linalg.lstsq(x, phi[lo:hi], rcond=None)
        cov = np.linalg.pinv(x.T @ x)
        rss = float(np.sum((phi[lo:hi] - x @ coef) ** 2))
        return float(coef[3]), sigma * math.sqrt(max(float(cov[3, 3]), 0.0)), rss

    def _confirm(self, phi, j0: int, w: int, sigma: float):
        """(step index, k, residual) of a reset confirmed at or near candidate ``j0`` —
        placed where the step fit leaves the least residual, within w/2 — or None."""
        step, se, _ = self._step(phi, j0, w, sigma)
        k = int(np.rint(step))
        if k == 0 or abs(step) <= 5.0 * se or abs(step - k) > max(0.25, 4.0 * se):
            return None
        near = range(max(0, j0 - w // 2), min(phi.size - 1, j0 + w // 2 + 1))
        best = min(near, key=lambda jj: self._step(phi, jj, w, sigma)[2])
        step_b, _, _ = self._step(phi, best, w, sigma)
        if int(np.rint(step_b)) == k:
            j0, step = best, step_b
        return j0, k, step - k

    @staticmethod
    def _level_candidates(phi, d, big, w: int) -> list[int]:
        """Steps j whose level change (mean of the w samples after − mean of the w before,
        less the local slope × w) exceeds 0.5 Φ0: a reset hidden in noise too large for
        a single step to show it (noise σ√(2/w) instead of σ√2). One candidate per run
        of such j: the largest step (in the run's direction) near its peak."""
        n = phi.size
        if n < 2 * w + 1:
            return []
        c = np.concatenate([[0.0], np.cumsum(phi)])
        j = np.arange(w - 1, n - w)
        level = (c[j + 1 + w] - c[j + 1]) / w - (c[j + 1] - c[j + 1 - w]) / w
        dd = np.where(big, 0.0, d)
        cd = np.concatenate([[0.0], np.cumsum(dd)])
        cn = np.concatenate([[0], np.cumsum(~big)])
        lo, hi = np.clip(j - 4 * w, 0, d.size), np.clip(j + 4 * w, 0, d.size)
        count = np.maximum(cn[hi] - cn[lo], 1)
        level -= w * (cd[hi] - cd[lo]) / count
        over = np.concatenate([[0], (np.abs(level) > 0.5).astype(np.int8), [0]])
        edges = np.diff(over)
        out = []
        for k, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1),
                          strict=True):
            jp = int(j[k + int(np.argmax(np.abs(level[k:end])))])
            # the change point near the peak: the split of phi[jp−w+1 : jp+w+1] (slope
            # removed) into two constant levels with the least squared error
            lo, hi = max(0, jp - w + 1), min(n, jp + w + 1)
            slope = (cd[min(jp + 4 * w, d.size)] - cd[max(jp - 4 * w, 0)]) / max(
                cn[min(jp + 4 * w, d.size)] - cn[max(jp - 4 * w, 0)], 1)
            out.append(lo + _change_point(phi[lo:hi] - slope * np.arange(hi - lo)))
        return out


    def correct_flux_jumps(self, volts, threshold: float = 0.5, window: int = 16,
                           n_sigma: float = 4.0) -> tuple[np.ndarray, FluxJumps]:
        """Remove FLL resets: returns (corrected volts, the jumps removed)."""
        v = np.asarray(volts, dtype=float)
        jumps = self.detect_flux_jumps(v, threshold, window, n_sigma)
        offset = np.zeros(v.size)
        if len(jumps):
            np.add.at(offset, jumps.index, jumps.size)
            offset = np.cumsum(offset)
        return v - offset * self.volts_per_phi0, jumps


def _change_point(seg: np.ndarray) -> int:
    """The step m − 1 (between seg[m−1] and seg[m]) that splits ``seg`` into two constant
    levels with the least squared error (the maximum of S₁²/m + (S − S₁)²/(n − m))."""
    m = np.arange(1, seg.size)
    s1 = np.cumsum(seg)[:-1]
    gain = s1 ** 2 / m + (seg.sum() - s1) ** 2 / (seg.size - m)
    return int(np.argmax(gain))
