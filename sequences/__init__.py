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

import importlib

#: public name -> the submodule that holds it. Imported on first use, so that
#: ``import sequences.units`` (numpy only) does not load the parser and lark.
_HOME = {
    "parse_assignments": "bind",
    "HardwareViolation": "errors", "ScheduleError": "errors", "SequenceError": "errors",
    "HardwareProfile": "hardware", "Violation": "hardware", "validate": "hardware",
    "Sequence": "model", "channel": "model", "delay": "model", "detect": "model",
    "ideal": "model", "marker": "model", "parallel": "model", "param": "model",
    "pulse": "model", "repeat": "model",
    "library_names": "parser", "load": "parser", "parse": "parser", "parse_expr": "parser",
    "Channel": "schedule", "DetectionWindow": "schedule", "IdealPulse": "schedule",
    "Marker": "schedule", "Pulse": "schedule", "Schedule": "schedule",
    "Segments": "schedule",
    "parse_sweep_option": "sweep", "with_sweep_options": "sweep",
}


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'sequences' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sequences.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_HOME])


__all__ = [
    "Channel", "DetectionWindow", "HardwareViolation", "IdealPulse", "Marker", "Pulse",
    "Schedule", "ScheduleError", "Segments", "SequenceError",
    "HardwareProfile", "Sequence", "Violation", "channel", "delay", "detect", "ideal",
    "library_names", "load", "marker", "parallel", "param", "parse", "parse_assignments",
    "parse_expr", "parse_sweep_option", "pulse", "repeat", "validate", "with_sweep_options",
]
