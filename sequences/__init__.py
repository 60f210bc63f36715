"""sequences: the pulse-sequence language and the resolved :class:`Schedule`.

``Sequence`` (parametrised template) --bind/sweep--> ``Schedule`` (resolved). This package
imports neither ``echo`` nor ``instruments``.

Quick start::

    import sequences
    hahn = sequences.load("hahn")              # library name or a .seq path
    sched = hahn.bind(tau="5 us")              # -> Schedule
    for point, sched in sequences.load("holeburn").sweep():
        ...

The language is documented in ``docs/sequences.md``.
"""

from sequences.bind import parse_assignments
from sequences.errors import HardwareViolation, ScheduleError, SequenceError
from sequences.hardware import HardwareProfile, Violation, validate
from sequences.model import (
    Sequence,
    channel,
    delay,
    detect,
    ideal,
    marker,
    parallel,
    param,
    pulse,
    repeat,
)
from sequences.parser import library_names, load, parse, parse_expr
from sequences.schedule import (
    Channel,
    DetectionWindow,
    IdealPulse,
    Marker,
    Pulse,
    Schedule,
    Segments,
)
from sequences.sweep import parse_sweep_option, with_sweep_options

__all__ = [
    "Channel", "DetectionWindow", "HardwareViolation", "IdealPulse", "Marker", "Pulse",
    "Schedule", "ScheduleError", "Segments", "SequenceError",
    "HardwareProfile", "Sequence", "Violation", "channel", "delay", "detect", "ideal",
    "library_names", "load", "marker", "parallel", "param", "parse", "parse_assignments",
    "parse_expr", "parse_sweep_option", "pulse", "repeat", "validate", "with_sweep_options",
]
