"""Safety limits, checked on a compiled program before anything is sent.

Three limits from the lab file's ``[limits]`` table, all on the voltage at the AWG
output that drives the coil (what the DAC will actually produce, i.e. after
quantisation):

* ``max_amplitude_v`` — peak |V| over every sample of every phase-cycle step;
* ``max_duty_cycle`` — (time the drive is on) / (repetition period). "On" is the union
  of the schedule's pulse intervals with non-zero amplitude on the driven channel; the
  period is the repetition time of the shots (default: the played waveform's length,
  the shortest possible repetition);
* ``max_pulse_energy`` — for each pulse, E = ∫ V(t)² dt over the pulse (V² s), the
  largest over pulses and steps. Into a resistive load R the dissipated energy is E/R
  joules, so the limit is a heating budget per pulse independent of the coil.

A violation raises :class:`~instruments.errors.LimitViolation` naming the constraint,
the instrument (lab role), the value and the limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from instruments.errors import LimitViolation


@dataclass(frozen=True)
class SafetyReport:
    """Measured quantities of a program (same units as the limits) and the limits."""

    peak_v: float
    duty_cycle: float
    max_pulse_energy: float
    period: float
    max_amplitude_v: float | None = None
    max_duty_cycle: float | None = None
    max_pulse_energy_limit: float | None = None


def union_length(intervals) -> float:
    """Total length (s) of the union of (start, stop) intervals."""
    total = 0.0
    end = -math.inf
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def sample_range(start: float, stop: float, rate: float, n: int) -> tuple[int, int]:
    """Sample indices [lo, hi) with t_i = i / rate in [start, stop) (the convention of
    :meth:`sequences.schedule.Schedule.sample`)."""
    lo = max(0, math.ceil(start * rate - 1e-9))
    hi = min(n, math.ceil(stop * rate - 1e-9))
    return lo, max(lo, hi)


def pulse_energies(volts: np.ndarray, rate: float, intervals) -> np.ndarray:
    """∫ V² dt (V² s) over each (start, stop) interval, from samples held for 1/rate."""
    out = np.zeros(len(intervals))
    for j, (start, stop) in enumerate(intervals):
        lo, hi = sample_range(start, stop, rate, volts.size)
        seg = volts[lo:hi]
        out[j] = float(np.dot(seg, seg)) / rate
    return out


def measure(volts_by_step, rate: float, intervals, period: float) -> tuple[float, float, float]:
    """(peak |V|, duty cycle, largest pulse energy) of a program."""
    peak = max((float(np.max(np.abs(v))) if v.size else 0.0) for v in volts_by_step)
    duty = union_length(intervals) / period if period > 0 else 0.0
    energy = max((float(np.max(pulse_energies(v, rate, intervals))) if intervals else 0.0)
                 for v in volts_by_step)
    return peak, duty, energy


def check_limits(volts_by_step, rate: float, intervals, period: float, limits,
                 instrument: str = "awg") -> SafetyReport:
    """Measure a program and raise :class:`LimitViolation` if it breaks ``limits``
    (a :class:`instruments.lab.Limits`); return the :class:`SafetyReport`."""
    peak, duty, energy = measure(volts_by_step, rate, intervals, period)
    if limits.max_amplitude_v is not None and peak > limits.max_amplitude_v:
        raise LimitViolation(
            "max_amplitude_v", instrument,
            f"peak output {peak:.6g} V exceeds the limit {limits.max_amplitude_v:.6g} V",
            value=peak, limit=limits.max_amplitude_v)
    if limits.max_duty_cycle is not None and duty > limits.max_duty_cycle:
        raise LimitViolation(
            "max_duty_cycle", instrument,
            f"drive on {duty:.4g} of the {period:.6g} s repetition period exceeds the "
            f"limit {limits.max_duty_cycle:.4g} (the period is the played length of one "
            "shot unless a repetition time is given: end the sequence with a longer delay, "
            "or raise [limits] max_duty_cycle if the coil allows it)",
            value=duty, limit=limits.max_duty_cycle)
    if limits.max_pulse_energy is not None and energy > limits.max_pulse_energy:
        raise LimitViolation(
            "max_pulse_energy", instrument,
            f"a pulse carries ∫V²dt = {energy:.6g} V² s, above the limit "
            f"{limits.max_pulse_energy:.6g} V² s", value=energy,
            limit=limits.max_pulse_energy)
    return SafetyReport(peak, duty, energy, period, limits.max_amplitude_v,
                        limits.max_duty_cycle, limits.max_pulse_energy)
