"""The noise level of measured echoes, estimated from the data themselves.

A fit needs the standard error of each data point to scale its residuals (so that its
stopping criteria and χ² mean the same thing for a µV and a V echo) and to state honest
uncertainties. When the file gives none, the **phase cycle** carries the noise without
the echo: the receiver weights r_k make the echo add up in the phase-cycled signal
(1/n)·Σ r_k·trace_k; the *null* combination (1/n)·Σ c_k·r_k·trace_k with alternating signs
c_k = ±1 (Σ c_k = 0, even n) cancels the echo and keeps the noise with the same variance
(independent noise of equal variance in each step). What the cycle is meant to remove (a
receiver offset, the FID of an imperfect π pulse) survives in the null combination, but
varies slowly from sweep point to sweep point, so the noise is taken from the differences
of neighbouring points.

The estimate is the standard error per quadrature (V) of one echo amplitude (the window
mean of the phase-cycled signal), which is what the fit compares. (An off-echo baseline
would be the other source, but the demodulation low-pass makes neighbouring samples
correlated, so it is not used.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["phase_cycle_noise"]


def phase_cycle_noise(trace, receiver, echo_mask) -> float | None:
    """Standard error per quadrature (V) of the echo amplitude of each sweep point, from the
    echo-free null combination of the phase-cycle steps.

    ``trace`` (points, steps, time) complex; ``receiver`` (points, steps) or (steps,);
    ``echo_mask`` (points, time) or (time,) bool: the samples averaged into the amplitude.
    None when the cycle has an odd number of steps (< 2), fewer than 3 points, or the null
    combination carries no noise above 1e-9 of the echo (noise-free simulated data).

    An *upper bound* in general: what the cycle cancels in the echo but varies fast from
    point to point (the FID of an imperfect π pulse at short delays, Monte-Carlo noise of
    a simulated ensemble) adds to it. :func:`echo.fit.model_fit.fit_model` therefore uses
    it to scale the residuals, and takes the uncertainties from the residual scatter."""
    tr = np.asarray(trace, complex)
    if tr.ndim != 3:
        return None
    n_pts, n_steps, n_t = tr.shape
    if n_steps < 2 or n_steps % 2 or n_pts < 3:
        return None
    rec = np.broadcast_to(np.asarray(receiver, complex), (n_pts, n_steps))
    mask = np.broadcast_to(np.asarray(echo_mask, bool), (n_pts, n_t))
    c = np.where(np.arange(n_steps) % 2 == 0, 1.0, -1.0)
    null = np.einsum("k,pk,pkt->pt", c, rec, tr) / n_steps
    echo = np.einsum("pk,pkt->pt", rec, tr) / n_steps

    def window_mean(z):
        return np.array([z[p][mask[p] & np.isfinite(z[p])].mean()
                         if (mask[p] & np.isfinite(z[p])).any() else np.nan
                         for p in range(n_pts)])

    amp = window_mean(null)
    amp = amp[np.isfinite(amp)]
    if amp.size < 3:
        return None
    d = np.diff(amp)  # slowly varying artefacts cancel; var(d) = 2·var(amplitude)
    var_q = float(np.mean(np.abs(d) ** 2)) / 4.0  # |d|² = 2 quadratures × 2 var
    scale = float(np.nanmax(np.abs(window_mean(echo)), initial=0.0))
    if not np.isfinite(var_q) or var_q <= (1e-9 * scale) ** 2:
        return None  # rounding noise of noise-free (simulated) data
    return float(np.sqrt(var_q))

