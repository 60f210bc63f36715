"""Signal processing of one measured point: which recorded samples fall in the
schedule's detection windows (:func:`window_samples`), the demodulation reference of a
point (:func:`reference_frequency`, the Schedule's convention) and the reduction of the
records of a phase cycle to demodulated traces and the echo amplitude
(:func:`reduce_records`, through :mod:`echo.detect`, the one home of demodulation and
the phase-cycle sum, so measured and simulated echoes compare without conversion).
Times in s, frequencies in Hz, voltages in V."""

from __future__ import annotations

import numpy as np

from echo.detect import demodulate, echo_amplitude, phase_cycle
from instruments.errors import InstrumentError
from sequences.errors import ScheduleError


def window_samples(schedule, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean mask of recorded ``times`` inside a detection window (half-open
    [start, stop)) and the window index of each kept sample (−1 without windows)."""
    if not schedule.windows:
        return np.ones(times.size, bool), np.full(times.size, -1, dtype=np.int64)
    idx = np.full(times.size, -1, dtype=np.int64)
    eps = 1e-12
    for k, w in enumerate(schedule.windows):
        sel = (times >= w.start - eps) & (times < w.stop - eps) & (idx < 0)
        idx[sel] = k
    keep = idx >= 0
    return keep, idx[keep]


def reference_frequency(schedule, explicit: float = -1.0, parameter: str = "f_ref") -> float:
    """Demodulation reference (Hz) of one bound point: ``explicit`` if ≥ 0; else
    :meth:`sequences.Schedule.reference_frequency` (the bound ``parameter``, e.g. the probe
    carrier of a swept hole-burning probe, else the schedule's carrier)."""
    if explicit >= 0:
        return float(explicit)
    try:
        return schedule.reference_frequency(parameter or None)
    except ScheduleError as exc:
        raise InstrumentError(str(exc), "procedure") from None


def reduce_records(schedule, times: np.ndarray, volts: np.ndarray, f_ref: float):
    """The records of one point's phase cycle, reduced: ``(times, window_index, trace,
    amplitude)`` — the samples inside detection windows (s) and their window index, the
    demodulated trace per phase-cycle step (n_steps, n_t) complex V
    (:func:`echo.detect.demodulate` at ``f_ref`` Hz) and the echo amplitude of their
    receiver-weighted sum (:func:`echo.detect.phase_cycle`,
    :func:`echo.detect.echo_amplitude`). ``volts`` is (n_steps, n_samples) V."""
    keep, widx = window_samples(schedule, times)
    trace = np.stack([demodulate(v[keep], times[keep], f_ref) for v in volts])
    amp = echo_amplitude(phase_cycle(trace, schedule.receiver), widx, schedule)
    return times[keep], widx, trace, amp
