"""Standard errors of simulated echoes: batch means over the ensemble's batches.

The grains of an :class:`echo.model.Ensemble` are split into B batches
(:meth:`echo.model.Ensemble.batch_edges`; independent random draws, independent scrambled
Sobol replicas, or replicas of a quadrature grid with independent noise). With batch sums
S_b = Σ w⟨τz⟩ and weights W_b, the ensemble mean is the ratio m = Σ S_b / Σ W_b and its
variance (delta method for a ratio of batch sums, the batch-means estimator)

    Var m ≈ B/(B − 1) Σ_b d_b²,      d_b = (S_b − m W_b) / Σ W,

which for equal weights is the textbook s²/B of the batch means. The read-out chain
(detector scale, derivative of a coil, demodulation, low-pass, phase cycling, window mean)
is linear, so each d_b is pushed through it and the variances add up per real and per
imaginary part. A quantity is stored as a complex standard error whose real (imaginary)
part is the standard error of the real (imaginary) part.

The additive detector noise (``noise_rms``) is one more random source, independent of the
grains: its variance after the chain is estimated from ``DETECTOR_REPLICAS`` independent
noise records pushed through the same chain (relative accuracy of that part ≈
1/√(2·64) ≈ 9 %). Nonlinear outputs use the delta method: |A| with Re(Ā dA)/|A|, the
normalised echo Re(A/A_q) with Re(dA/A_q − A dA_q/A_q²) per batch (A_q the quiet reference,
same batches).

With a single batch (a quadrature grid without replicas) there is nothing to compare: the
standard error is 0 when nothing is random (no bias noise, no detector noise), else NaN;
use ``batches`` >= 2 replicas, or compare rules of order n and 2n (:func:`echo.rules.refined`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DETECTOR_REPLICAS", "PointErrors", "batch_factor", "frame_errors",
           "normalised_error", "point_errors", "t_quantile"]

DETECTOR_REPLICAS = 64


def batch_factor(n_batches: int) -> float:
    """B/(B − 1), the batch-means factor (NaN for B < 2)."""
    return n_batches / (n_batches - 1.0) if n_batches >= 2 else float("nan")


@dataclass
class PointErrors:
    """Standard errors of one sweep point (see the module docstring)."""

    tau_z: np.ndarray  # (n_steps, n_t) float
    trace: np.ndarray  # (n_steps, n_t) complex
    signal: np.ndarray  # (n_t,) complex
    amplitude: complex
    abs_amplitude: float
    normalised: float = float("nan")
    amp_dev: np.ndarray | None = None  # (B,) complex, for the normalised echo
    amp_noise: np.ndarray | None = None  # (K,) complex detector-noise amplitudes


def _cplx(re2, im2):
    return np.sqrt(re2) + 1j * np.sqrt(im2)


def point_errors(dev, chain, noise_chain=None, noise_rms: float = 0.0, rng=None,
                 random: bool = True, amplitude: complex = 0j, tz_dev=None) -> PointErrors:
    """Errors of one point from the batch deviations ``dev`` (B, ...) of the engine output.

    ``chain(d)`` → (trace, signal, amplitude) is the linear read-out of one deviation
    without detector noise; ``noise_chain(rng)`` the same read-out of one record of the
    detector noise alone (None: no detector noise); ``random``: whether anything in the
    simulation is random (for B = 1); ``amplitude``: the point's echo amplitude (for
    |A|); ``tz_dev`` (B, n_steps, n_t): the ⟨τz⟩ deviations (default ``dev``)."""
    dev = np.asarray(dev, float)
    tz_dev = dev if tz_dev is None else np.asarray(tz_dev, float)
    n_b = dev.shape[0]
    f = batch_factor(n_b)
    tz2 = np.sum(tz_dev ** 2, axis=0)
    acc = None
    amps = np.zeros(n_b, complex)
    for b in range(n_b):
        tr, sg, a = chain(dev[b])
        parts = (tr.real ** 2, tr.imag ** 2, sg.real ** 2, sg.imag ** 2)
        acc = list(parts) if acc is None else [x + y for x, y in zip(acc, parts, strict=True)]
        amps[b] = a
    if n_b < 2:
        f = np.nan if random else 0.0
        amps_scaled = np.zeros(0, complex)
    else:
        amps_scaled = amps * np.sqrt(f)
    tz2 = f * tz2
    acc = [f * x for x in acc]
    noise_amps = None
    if noise_rms > 0 and noise_chain is not None:
        k = DETECTOR_REPLICAS
        rng = np.random.default_rng(0) if rng is None else rng
        noise_amps = np.zeros(k, complex)
        nacc = None
        for i in range(k):
            tr, sg, a = noise_chain(rng)
            parts = (tr.real ** 2, tr.imag ** 2, sg.real ** 2, sg.imag ** 2)
            nacc = list(parts) if nacc is None else [x + y for x, y in
                                                     zip(nacc, parts, strict=True)]
            noise_amps[i] = a
        acc = [x + y / k for x, y in zip(acc, nacc, strict=True)]
        noise_amps = noise_amps / np.sqrt(k)
    all_amps = amps_scaled if noise_amps is None else np.concatenate([amps_scaled, noise_amps])
    if n_b < 2 and random:
        a_se = complex(np.nan, np.nan)
        abs_se = np.nan
    else:
        a_se = complex(np.sqrt(np.sum(all_amps.real ** 2)), np.sqrt(np.sum(all_amps.imag ** 2)))
        mag = abs(amplitude)
        proj = np.real(np.conj(amplitude) * all_amps) / mag if mag > 0 else np.abs(all_amps)
        abs_se = float(np.sqrt(np.sum(proj ** 2)))
    return PointErrors(np.sqrt(tz2), _cplx(acc[0], acc[1]), _cplx(acc[2], acc[3]), a_se,
                       abs_se, amp_dev=amps_scaled, amp_noise=noise_amps)


def frame_errors(dev, n_batches: int, random: bool = True) -> np.ndarray:
    """Standard error from batch deviations ``dev`` (B, ...) of a real quantity."""
    dev = np.asarray(dev, float)
    if n_batches < 2:
        return np.full(dev.shape[1:], np.nan if random else 0.0)
    return np.sqrt(batch_factor(n_batches) * np.sum(dev ** 2, axis=0))


def normalised_error(err: PointErrors, quiet: PointErrors, amp: complex,
                     amp_quiet: complex) -> float:
    """Standard error of Re(A/A_q) from the batch deviations of both runs (same batches)."""
    if err.amp_dev is None or quiet.amp_dev is None or err.amp_dev.size == 0:
        if np.isnan(err.abs_amplitude):
            return float("nan")
        return 0.0 if err.abs_amplitude == 0 else float("nan")
    d = np.real(err.amp_dev / amp_quiet - amp * quiet.amp_dev / amp_quiet ** 2)
    var = float(np.sum(d ** 2))
    if err.amp_noise is not None:
        var += float(np.sum(np.real(err.amp_noise / amp_quiet) ** 2))
    return float(np.sqrt(var))


def t_quantile(n_batches: int, level: float = 0.95) -> float:
    """Two-sided Student-t quantile for ``level`` with B − 1 degrees of freedom: the
    half-width of a ``level`` confidence interval is this × the batch-means standard
    error (1.96 only for many batches; 2.13 for 16)."""
    from scipy.stats import t

    if n_batches < 2:
        return float("nan")
    return float(t.ppf(0.5 + 0.5 * level, n_batches - 1))
