"""sequences: the pulse-sequence language and the resolved :class:`Schedule`.

``Sequence`` (parametrised template) --bind/sweep--> ``Schedule`` (resolved). This package
imports neither ``echo`` nor ``instruments``.
"""

from sequences.errors import HardwareViolation, ScheduleError, SequenceError
from sequences.schedule import (
    Channel,
    DetectionWindow,
    IdealPulse,
    Marker,
    Pulse,
    Schedule,
    Segments,
)

__all__ = [
    "Channel", "DetectionWindow", "HardwareViolation", "IdealPulse", "Marker", "Pulse",
    "Schedule", "ScheduleError", "Segments", "SequenceError",
]
