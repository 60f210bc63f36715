"""Detection: output sample times of a Schedule and the read-out chain ⟨τz⟩ → volts.

Output times (:func:`output_times`)
    For each detection window of the Schedule, in order of start time,
    t_i = start + i / sample_rate, i = 0 .. floor(duration · sample_rate) − 1 (a relative
    tolerance of 1e-9 on the product absorbs rounding of durations that are exact multiples
    of the sample period). ``window_index[i]`` is the index of that window in
    ``schedule.windows``. A Schedule without windows is sampled over the whole shot
    [0, duration) with window index −1.

Read-out chain (:func:`to_signal`), per phase-cycle step, in volts:

1. SQUID: V(t) = volts_per_tau_z · ⟨τz⟩(t), where volts_per_tau_z = N_grains · g · S ·
   flux_per_moment · volts_per_flux (:meth:`echo.model.Detection.volts_per_tau_z`).
   Coil: V(t) = volts_per_tau_z · d⟨τz⟩/dt, the derivative taken on the output samples
   of each window separately with second-order central differences inside the window
   and second-order one-sided differences at its two ends (``numpy.gradient``,
   ``edge_order=2``; a window of one sample gives 0). Its error is O((ω/rate)²) relative
   for a component at angular frequency ω, so the sample rate must resolve the signal.
2. Additive white noise: ``noise_rms`` volts (Gaussian, independent per sample and
   step), drawn from ``rng`` (default ``numpy.random.default_rng(detection.seed)``).
3. Demodulation at ``reference_frequency`` f (Hz): z(t) = 2 V(t) exp(−i 2π f t), t the
   absolute time in the shot (a phase-coherent reference), then low-passed when
   ``demod_bandwidth`` B is set: a centred moving average over
   n = max(1, round(sample_rate / B)) samples, inside each window separately, with the
   average taken over the samples that exist near the window edges: output i averages
   samples i − ⌊n/2⌋ … i − ⌊n/2⌋ + n − 1 (zero delay for odd n; for even n the span is
   centred half a sample early, a 0.5-sample envelope delay).
   f = 0 means a baseband read-out: z = V (no factor 2). ``reference_frequency=None``
   returns the raw real trace V(t) as complex with zero imaginary part.
4. Phase cycle (:func:`phase_cycle`): S(t) = (1/n) Σ_k receiver[k] · z_k(t).
5. Echo amplitude (:func:`echo_amplitude`): the mean of S over the samples of the
   schedule's :meth:`~sequences.Schedule.echo_window` (the window labelled ``"echo"``,
   else window 0; every sample when the schedule has no window). With a low-pass
   (``demod_bandwidth`` B) the mean is over the filtered signal, so a window shorter than
   1/B, or than a few carrier periods when unfiltered, averages in the filter's edge
   response or an unrejected 2f component: :func:`window_warnings` says so.
   :func:`window_means` gives the same mean for every window (CPMG trains).

Steps 3–5 are the one implementation shared by the engines' results
(:func:`echo.result.build_result`), the measurement procedure
(:mod:`instruments.readout`) and the fits: a measured and a simulated echo are reduced
the same way.
"""

from __future__ import annotations

import math

import numpy as np

from echo.model import Detection, Ensemble, ModelError

__all__ = ["output_times", "to_signal", "window_slices", "demodulate", "phase_cycle",
           "echo_amplitude", "window_mean", "window_means", "window_warnings", "iq_signal",
           "low_pass"]


def output_times(schedule, detection: Detection) -> tuple[np.ndarray, np.ndarray]:
    """Output sample times (s, absolute in the shot) and their window indices (int)."""
    rate = float(detection.sample_rate)
    if not (rate > 0 and math.isfinite(rate)):
        raise ModelError(f"detection.sample_rate: must be > 0, got {detection.sample_rate!r}")
    windows = list(enumerate(schedule.windows))
    if not windows:
        n = int(math.floor(schedule.duration * rate * (1 + 1e-9) + 1e-9))
        return np.arange(n) / rate, np.full(n, -1, dtype=np.int64)
    windows.sort(key=lambda iw: (iw[1].start, iw[0]))
    ts, idx = [], []
    for k, w in windows:
        n = int(math.floor(w.duration * rate * (1 + 1e-9) + 1e-9))
        ts.append(w.start + np.arange(n) / rate)
        idx.append(np.full(n, k, dtype=np.int64))
    return np.concatenate(ts), np.concatenate(idx)


def window_slices(window_index: np.ndarray) -> list[slice]:
    """Contiguous runs of equal window index, as slices (in order)."""
    window_index = np.asarray(window_index)
    if window_index.size == 0:
        return []
    cut = np.flatnonzero(np.diff(window_index) != 0) + 1
    edges = np.concatenate([[0], cut, [window_index.size]])
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over ``n`` samples along the last axis, normalised by the
    number of samples that exist (no zero padding bias at the edges)."""
    if n <= 1 or x.shape[-1] == 0:
        return x
    kernel = np.ones(n)
    lo = (n - 1) // 2
    m = x.shape[-1]
    count = np.convolve(np.ones(m), kernel, mode="full")[lo:lo + m]
    flat = x.reshape(-1, m)
    out = np.empty_like(flat)
    for r in range(flat.shape[0]):
        out[r] = np.convolve(flat[r], kernel, mode="full")[lo:lo + m] / count
    return out.reshape(x.shape)


def to_signal(tau_z, times, window_index, schedule, ensemble: Ensemble, detection: Detection,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """Detected, demodulated complex signal (V), shape (n_steps, n_t), of the ensemble-mean
    ⟨τz⟩ ``tau_z`` (n_steps, n_t) at ``times`` (see the module docstring)."""
    tau_z = np.atleast_2d(np.asarray(tau_z, dtype=float))
    times = np.asarray(times, dtype=float)
    if tau_z.shape[-1] != times.size:
        raise ValueError(f"tau_z has {tau_z.shape[-1]} samples for {times.size} times")
    if detection.kind == "quadrature":
        raise ModelError("detection.kind = 'quadrature' reads the Bloch vector, not ⟨τz⟩ "
                         "(echo.detect.iq_signal; echo.simulate does it)")
    scale = detection.volts_per_tau_z(ensemble)
    slices = window_slices(window_index)
    if detection.kind == "squid":
        v = scale * tau_z
    else:
        v = np.zeros_like(tau_z)
        dt = 1.0 / detection.sample_rate
        for sl in slices:
            seg = tau_z[:, sl]
            if seg.shape[-1] >= 3:
                v[:, sl] = scale * np.gradient(seg, dt, axis=-1, edge_order=2)
            elif seg.shape[-1] == 2:
                v[:, sl] = scale * np.gradient(seg, dt, axis=-1)
    if detection.noise_rms > 0:
        if rng is None:
            rng = np.random.default_rng(detection.seed)
        v = v + rng.normal(0.0, detection.noise_rms, v.shape)
    return low_pass(demodulate(v, times, detection.reference_frequency), window_index,
                    detection)


def low_pass(z, window_index, detection: Detection) -> np.ndarray:
    """The demodulation low-pass of step 3: a centred moving average over
    round(sample_rate / demod_bandwidth) samples inside each window (no-op without a
    ``demod_bandwidth``). ``z`` (n_steps, n_t) complex, modified in place and returned."""
    z = np.atleast_2d(z)
    if detection.demod_bandwidth is not None:
        n = max(1, int(round(detection.sample_rate / detection.demod_bandwidth)))
        for sl in window_slices(window_index):
            z[:, sl] = _moving_average(z[:, sl], n)
    return z


def iq_signal(iq, times, window_index, ensemble: Ensemble, detection: Detection,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """The quadrature detector (``detection.kind = "quadrature"``): I + iQ (V) =
    volts_per_tau_z · (⟨σ̃x⟩ + i⟨σ̃y⟩), the ensemble's transverse eigenbasis Bloch vector in
    the frame rotating at the carrier (:mod:`echo.observables`; ``iq`` (n_steps, n_t)
    complex), plus white noise of ``noise_rms`` on each of I and Q, low-passed like the
    demodulated SQUID trace (:func:`low_pass`). The pulse-EPR spectrometer's view (already
    at baseband). Linear in ``iq``."""
    z = detection.volts_per_tau_z(ensemble) * np.atleast_2d(np.asarray(iq, complex))
    if detection.noise_rms > 0:
        if rng is None:
            rng = np.random.default_rng(detection.seed)
        z = z + rng.normal(0.0, detection.noise_rms, z.shape) \
            + 1j * rng.normal(0.0, detection.noise_rms, z.shape)
    return low_pass(z, window_index, detection)


def demodulate(volts, times, f_ref: float | None) -> np.ndarray:
    """z(t) = 2 V(t) exp(−i 2π f t) for f = ``f_ref`` > 0 (Hz; ``times`` absolute in the
    shot, s: a phase-coherent reference); z = V for f = 0 (baseband); ``None``: the raw
    real trace as complex. ``volts`` (..., n_t) in V."""
    v = np.asarray(volts, dtype=float)
    if f_ref is None or float(f_ref) == 0.0:
        return v.astype(complex)
    return 2.0 * v * np.exp(-2j * np.pi * float(f_ref) * np.asarray(times, dtype=float))


def redemodulate(z, times, f_from: float, f_to: float) -> np.ndarray:
    """A trace demodulated at ``f_from`` moved to the reference ``f_to`` (Hz):
    z·exp(−i 2π (f_to − f_from) t), ``times`` absolute in the shot (s). Exact for
    :func:`demodulate` (no low-pass filter in between)."""
    t = np.asarray(times, dtype=float)
    return np.asarray(z, complex) * np.exp(-2j * np.pi * (float(f_to) - float(f_from)) * t)


def phase_cycle(trace, receiver) -> np.ndarray:
    """The phase-cycled signal (1/n) Σ_k receiver[k] · trace[k] of a (n_steps, n_t) trace
    (the receiver convention of :class:`sequences.Schedule`)."""
    rec = np.asarray(receiver, dtype=complex)
    trace = np.asarray(trace)
    if trace.shape[0] != rec.size:
        raise ValueError(f"trace has {trace.shape[0]} phase steps for {rec.size} receiver "
                         "weights")
    return (rec[:, None] * trace).sum(axis=0) / rec.size


def window_mean(signal, window_index, k: int) -> complex:
    """Mean of ``signal`` over the samples of window ``k`` (every finite sample for
    k < 0, i.e. a schedule without windows); NaN when the window has no sample."""
    signal = np.asarray(signal)
    window_index = np.asarray(window_index)
    sel = np.ones(signal.shape[-1], bool) if k < 0 else window_index == k
    sel &= np.isfinite(signal)
    return complex(signal[sel].mean()) if sel.any() else complex("nan")


def echo_amplitude(signal, window_index, schedule) -> complex:
    """The echo amplitude (V): mean of the phase-cycled ``signal`` over the samples of
    ``schedule.echo_window()`` (every sample when the schedule has no window)."""
    return window_mean(signal, window_index, schedule.echo_window())


def window_means(signal, window_index, schedule) -> np.ndarray:
    """Mean of the phase-cycled ``signal`` over each detection window of ``schedule``, in
    time order (complex, V; NaN for a window without samples)."""
    order = sorted(range(len(schedule.windows)), key=lambda k: schedule.windows[k].start)
    return np.array([window_mean(signal, window_index, k) for k in order], dtype=complex)


def window_warnings(schedule, f_ref: float | None, bandwidth: float | None = None,
                    min_periods: float = 3.0) -> list[str]:
    """Warnings for detection windows too short to give a clean echo amplitude: shorter
    than 1/``bandwidth`` (the demodulation low-pass, Hz: its moving average then spans
    more than the window), or, demodulating at ``f_ref`` (Hz), shorter than
    ``min_periods`` reference periods (the 2f image is not averaged away: its residue is
    up to 1/(2π f T) of the amplitude for a window of length T). One message per window
    (1-based in time order, with its label)."""
    out = []
    order = sorted(range(len(schedule.windows)), key=lambda k: schedule.windows[k].start)
    for n, k in enumerate(order, 1):
        w = schedule.windows[k]
        name = f"detection window {n}" + (f" ({w.label!r})" if w.label else "")
        if bandwidth and w.duration < 1.0 / bandwidth:
            out.append(f"{name}: {w.duration:.3g} s is shorter than 1/demod_bandwidth = "
                       f"{1.0 / bandwidth:.3g} s; its amplitude averages the low-pass "
                       "filter's edge response")
        if f_ref and w.duration * f_ref < min_periods:
            out.append(f"{name}: {w.duration:.3g} s holds {w.duration * f_ref:.3g} periods of "
                       f"the {f_ref:.6g} Hz reference (fewer than {min_periods:g}); the 2f "
                       "image is not averaged away")
    return out
