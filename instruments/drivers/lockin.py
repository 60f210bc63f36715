"""Lock-in amplifiers (SR830, SR860 via pymeasure) and the χ''(ω) frequency sweep.

The continuous-wave counterpart of the echo experiment: drive the coil with the
lock-in's sine output at frequency f, read the in-phase (X) and quadrature (Y)
components of the SQUID signal. With the reference phase set so that X follows the
in-phase susceptibility, Y ∝ χ''(ω = 2πf) (up to the read-out gain and sign of the
phase convention — calibrate the phase on a known sample).

Commands (SR830 manual, ch. 5; SR860 manual, ch. 4; sent by pymeasure's properties):
``FREQ``, ``SLVL``, ``OFLT`` (time constant), ``SENS``, ``SNAP? 1,2`` (SR830) /
``SNAP? X, Y`` (SR860), ``OUTP?``. These are not SCPI instruments (no ``SYST:ERR?``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from pymeasure.instruments import Instrument
from pymeasure.instruments.srs.sr830 import SR830 as _SR830
from pymeasure.instruments.srs.sr860 import SR860 as _SR860


def sine_range(value, values):
    """Validator of ``sine_voltage``: V rms within ``values``, else a
    :class:`~instruments.errors.LimitViolation` (never silently truncated)."""
    from instruments.errors import LimitViolation

    v = float(value)
    lo, hi = values
    if not (math.isfinite(v) and lo <= v <= hi):
        raise LimitViolation("max_amplitude_v", "lockin",
                             f"sine amplitude {value!r} V rms ({v * math.sqrt(2):.4g} V peak) "
                             f"outside {lo:g} ... {hi:.4g} V rms (the instrument's range, "
                             "narrowed to the lab's peak-voltage limit / sqrt 2)",
                             value=v, limit=hi)
    return v


class _SineSafety:
    """What the lab adds to both pymeasure lock-ins: :meth:`shutdown` (the sine output to
    ``MIN_SINE_V``: neither model has an output switch), :meth:`verify_safe` and
    :meth:`snap_xy`."""

    MIN_SINE_V = 0.0

    def shutdown(self) -> None:
        """Sine output amplitude to ``MIN_SINE_V`` (V rms), then pymeasure's shutdown."""
        self.sine_voltage = self.MIN_SINE_V
        super().shutdown()

    def verify_safe(self) -> list[str]:
        """Read the sine amplitude back (``SLVL?``): at most the minimum?"""
        return _sine_problems(self)

    def snap_xy(self) -> tuple[float, float]:
        """X and Y (V) sampled at one instant (``SNAP?``: ``1,2`` on the SR830,
        ``X, Y`` on the SR860)."""
        x, y = self.snap("X", "Y")
        return float(x), float(y)


class SR830(_SineSafety, _SR830):
    """SR830 (pymeasure) with :meth:`shutdown`: the sine output cannot be switched
    off, so it is set to its minimum, 4 mV rms."""

    MIN_SINE_V = 0.004
    IDN_PATTERN = r",\s*SR830\s*,"
    #: internal reference frequency range, Hz (SR830 manual, ``FREQ``: 0.001 ... 102000)
    FREQUENCY_RANGE = (1e-3, 102e3)
    #: ``reference_source`` value of the internal oscillator (``FMOD 1``)
    INTERNAL_REFERENCE = "Internal"

    sine_voltage = Instrument.control(
        "SLVL?", "SLVL%0.3f",
        """Control the sine output amplitude in V rms (float, 0.004 ... 5). Refused, not
        truncated, beyond ``sine_voltage_values`` (the lab narrows it to its peak-voltage
        limit / sqrt 2: the sine drives the same coil as the AWG).""",
        validator=sine_range, values=[0.004, 5.0], dynamic=True,
    )

    def overload(self) -> str | None:
        """What overloads now, from the LIA status byte (``LIAS?``: bit 0 input or
        amplifier, bit 1 time-constant filter, bit 2 output), or None."""
        bits = int(float(self.ask("LIAS?")))
        names = [n for b, n in enumerate(("input/amplifier", "time-constant filter",
                                          "output")) if bits >> b & 1]
        return ", ".join(names) + " overload" if names else None


class SR860(_SineSafety, _SR860):
    """SR860 (pymeasure) with :meth:`shutdown` (sine output to 0 V)."""

    MIN_SINE_V = 0.0
    IDN_PATTERN = r",\s*SR86[05]\s*,"
    #: internal reference frequency range, Hz (SR860 manual, ``FREQ``: 1 mHz ... 500 kHz)
    FREQUENCY_RANGE = (1e-3, 500e3)
    #: ``reference_source`` value of the internal oscillator (``RSRC 0``)
    INTERNAL_REFERENCE = "INT"

    sine_voltage = Instrument.control(
        "SLVL?", "SLVL %0.9e",
        """Control the sine output amplitude in V rms (float, 0 ... 2). Refused, not
        truncated, beyond ``sine_voltage_values`` (the lab narrows it to its peak-voltage
        limit / sqrt 2).""",
        validator=sine_range, values=[0.0, 2.0], dynamic=True,
    )


def _sine_problems(lockin) -> list[str]:
    v = float(lockin.ask("SLVL?"))
    if v > lockin.MIN_SINE_V + 1e-3:
        return [f"SLVL? answers {v:g} V rms (sine output not at its minimum "
                f"{lockin.MIN_SINE_V:g} V)"]
    return []


@dataclass(frozen=True)
class FrequencySweep:
    """Result of :func:`sweep_frequency`: ``frequency`` (Hz), in-phase ``x`` and
    quadrature ``y`` (V). ``y`` is proportional to χ''(2πf)."""

    frequency: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def r(self) -> np.ndarray:
        return np.hypot(self.x, self.y)

    @property
    def theta(self) -> np.ndarray:
        """Phase in rad."""
        return np.arctan2(self.y, self.x)


def sweep_frequency(lockin, frequencies: Iterable[float], settle: float | None = None,
                    n_tau: float = 5.0,
                    sleep: Callable[[float], None] = time.sleep) -> FrequencySweep:
    """Step the lock-in reference through ``frequencies`` (Hz), wait ``settle`` s at
    each (default ``n_tau`` time constants, read once with ``OFLT?``) and snap X, Y.

    Works with :class:`SR830` and :class:`SR860` (anything with ``frequency``,
    ``time_constant`` and ``snap_xy``).
    """
    freqs = np.asarray(list(frequencies), dtype=float)
    if freqs.ndim != 1 or freqs.size == 0 or not np.all(freqs > 0):
        raise ValueError("frequencies must be a non-empty list of positive Hz")
    if settle is None:
        settle = n_tau * float(lockin.time_constant)
    xs = np.empty(freqs.size)
    ys = np.empty(freqs.size)
    for i, f in enumerate(freqs):
        lockin.frequency = float(f)
        sleep(settle)
        xs[i], ys[i] = lockin.snap_xy()
    return FrequencySweep(freqs, xs, ys)
