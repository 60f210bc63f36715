"""Hardware profiles: constraints as data, checked against a resolved Schedule.

A profile is a TOML file (values are strings with units or SI numbers)::

    name = "AWG 1 GS/s + SQUID"
    raster = "1 ns"            # every edge (start/stop) on this time grid
    sample_rate = "1 GHz"      # alternative to raster: raster = 1 / sample_rate
    min_pulse = "8 ns"         # shortest finite pulse
    min_delay = "20 ns"        # shortest gap between consecutive pulses on a field channel
    max_length = "1 ms"        # longest schedule (one shot)
    max_amplitude = "2 uT"     # largest |amplitude| on a field channel
    max_duty_cycle = 0.05      # pulse-on time / repetition period, per field channel
    repetition_time = "1 ms"   # shot period (duty-cycle denominator; default: duration)
    max_frequency = "100 MHz"  # highest carrier (chirps: carrier + span/2)
    allow_ideal = false        # ideal (instantaneous) pulses cannot be played

The keys may also sit in a ``[hardware]`` table. Every key is optional. :func:`validate`
returns **every** violation (nothing is rounded or clipped silently: a pulse edge off the
raster is reported with the nearest grid points, never moved); :meth:`HardwareProfile.check`
raises :class:`~sequences.errors.HardwareViolation` listing them all. Pulses above a field
channel's ``full_scale`` are always reported.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import numpy as np

from sequences import shapes
from sequences.config import Spec, check_value, from_table, setting
from sequences.config import validate as validate_fields
from sequences.errors import HardwareViolation, SequenceError
from sequences.expr import DIMLESS, FIELD, FREQUENCY, TIME, format_quantity
from sequences.schedule import Schedule

_FIELDS = {
    "raster": TIME, "min_pulse": TIME, "min_delay": TIME, "max_length": TIME,
    "max_amplitude": FIELD, "max_duty_cycle": DIMLESS, "repetition_time": TIME,
    "max_frequency": FREQUENCY, "sample_rate": FREQUENCY,
}


@dataclass(frozen=True)
class Violation:
    """One broken constraint: ``rule`` (profile key), a readable ``message``, and where."""

    rule: str
    message: str
    channel: str = ""
    label: str = ""
    time: float | None = None

    def __str__(self) -> str:
        return f"[{self.rule}] {self.message}"


def _quantity(dim):
    """A parser (for :func:`sequences.config.from_table`) of a value with units of ``dim``
    (a string such as ``"1 ns"``, or an SI number) → SI float."""

    def parse(value, where):
        from sequences.expr import Quantity, dim_name, parse_quantity

        if isinstance(value, str):
            q = parse_quantity(value, None, where)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            q = Quantity(float(value), dim)
        else:
            raise SequenceError(f"{where}: {value!r} is not a value (a number in SI units "
                                "or a string with units)")
        if q.dim != dim:
            raise SequenceError(f"{where}: must be a {dim_name(dim)}, got {value!r} "
                                f"({dim_name(q.dim)})")
        return check_value(q.value, float, Spec(gt=0), where=where, error=SequenceError)

    return parse


@dataclass(frozen=True)
class HardwareProfile:
    """Hardware constraints (SI units; None = unconstrained). See the module docstring.

    Fields, units and ranges are declared here once (:mod:`sequences.config`); a profile
    file is read by :meth:`from_dict` with :func:`sequences.config.from_table`."""

    name: str = setting("")
    raster: float | None = setting(None, gt=0, unit="s", doc="edge grid")
    min_pulse: float | None = setting(None, gt=0, unit="s", doc="shortest finite pulse")
    min_delay: float | None = setting(None, gt=0, unit="s", doc="shortest gap between pulses")
    max_length: float | None = setting(None, gt=0, unit="s", doc="longest shot")
    max_amplitude: float | None = setting(None, gt=0, unit="T", doc="largest |amplitude|")
    max_duty_cycle: float | None = setting(None, gt=0, le=1, doc="pulse-on / period")
    repetition_time: float | None = setting(None, gt=0, unit="s", doc="shot period")
    max_frequency: float | None = setting(None, gt=0, unit="Hz", doc="highest carrier")
    allow_ideal: bool = setting(False, doc="ideal (instantaneous) pulses can be played")

    def __post_init__(self):
        validate_fields(self, error=SequenceError)

    @classmethod
    def from_dict(cls, d: dict, source: str = "<profile>") -> HardwareProfile:
        if "hardware" in d and isinstance(d["hardware"], dict):
            d = {**{k: v for k, v in d.items() if k != "hardware"}, **d["hardware"]}
        parsers = {k: _quantity(dim) for k, dim in _FIELDS.items() if k != "sample_rate"}
        prof = from_table(cls, d, filename=source, error=SequenceError, parsers=parsers,
                          ignore=("sample_rate",))
        if "sample_rate" in d:
            try:
                rate = _quantity(FREQUENCY)(d["sample_rate"], "sample_rate")
            except SequenceError as exc:
                raise SequenceError(f"{source}: {exc}") from None
            if prof.raster is not None and abs(prof.raster * rate - 1) > 1e-9:
                raise SequenceError(f"{source}: raster and sample_rate disagree")
            prof = replace(prof, raster=1.0 / rate)
        return prof

    @classmethod
    def load(cls, path: str | os.PathLike) -> HardwareProfile:
        p = os.fspath(path)
        from sequences.config import read_toml

        d = read_toml(p, error=SequenceError)
        prof = cls.from_dict(d, source=p)
        return prof if prof.name else replace(prof, name=os.path.basename(p))

    def validate(self, schedule: Schedule) -> list[Violation]:
        return validate(schedule, self)

    def check(self, schedule: Schedule) -> None:
        """Raise :class:`HardwareViolation` listing every violation (if any)."""
        v = validate(schedule, self)
        if v:
            lines = "\n".join(f"  {x}" for x in v)
            raise HardwareViolation(f"{len(v)} hardware violation(s) for profile "
                                    f"{self.name or '(unnamed)'}:\n{lines}")


def _t(x: float) -> str:
    return format_quantity(x, TIME)


def _events(schedule: Schedule):
    """(kind, channel, label, start, stop) of every timed event."""
    for p in schedule.pulses:
        yield "pulse", p.channel, p.label, p.start, p.stop
    for m in schedule.markers:
        yield "marker", m.channel, m.label, m.start, m.stop
    for w in schedule.windows:
        yield "window", w.channel, w.label, w.start, w.stop


def validate(schedule: Schedule, profile: HardwareProfile) -> list[Violation]:
    """Every violation of ``profile`` by ``schedule`` (empty list: playable)."""
    out: list[Violation] = []
    pr = profile
    if pr.max_length is not None and schedule.duration > pr.max_length * (1 + 1e-12):
        out.append(Violation("max_length", f"schedule lasts {_t(schedule.duration)}, longer "
                             f"than max_length {_t(pr.max_length)}"))
    if schedule.ideal_pulses and not pr.allow_ideal:
        for ip in schedule.ideal_pulses:
            out.append(Violation("allow_ideal", f"ideal pulse {ip.label or ''} at "
                                 f"{_t(ip.time)} cannot be played (use finite pulses, "
                                 "ideal = 0)", ip.channel, ip.label, ip.time))
    pulses = schedule.pulses
    if pulses:
        start = np.array([p.start for p in pulses])
        dur = np.array([p.duration for p in pulses])
        amp = np.abs(np.array([p.amplitude for p in pulses]))
        if pr.min_pulse is not None:
            for i in np.flatnonzero(dur < pr.min_pulse * (1 - 1e-9)):
                p = pulses[i]
                out.append(Violation("min_pulse", f"pulse {p.label or i} lasts {_t(p.duration)}"
                                     f", shorter than min_pulse {_t(pr.min_pulse)}",
                                     p.channel, p.label, p.start))
        if pr.max_amplitude is not None:
            for i in np.flatnonzero(amp > pr.max_amplitude * (1 + 1e-12)):
                p = pulses[i]
                out.append(Violation("max_amplitude", f"pulse {p.label or i} at {_t(p.start)}"
                                     f" has amplitude {format_quantity(p.amplitude, FIELD)}, "
                                     f"above max_amplitude "
                                     f"{format_quantity(pr.max_amplitude, FIELD)}",
                                     p.channel, p.label, p.start))
        fs = {c.name: c.full_scale for c in schedule.channels}
        for i, p in enumerate(pulses):
            f = fs.get(p.channel)
            if f is not None and abs(p.amplitude) > f * (1 + 1e-12):
                out.append(Violation("full_scale", f"pulse {p.label or i} at {_t(p.start)} "
                                     f"asks {format_quantity(p.amplitude, FIELD)}, above the "
                                     f"channel's full scale {format_quantity(f, FIELD)}",
                                     p.channel, p.label, p.start))
        if pr.max_frequency is not None:
            for i, p in enumerate(pulses):
                top = p.frequency + shapes.sweep_span(p.shape, dict(p.shape_params)) / 2
                if top > pr.max_frequency * (1 + 1e-12):
                    out.append(Violation("max_frequency", f"pulse {p.label or i} at "
                                         f"{_t(p.start)} reaches "
                                         f"{format_quantity(top, FREQUENCY)}, above "
                                         f"max_frequency "
                                         f"{format_quantity(pr.max_frequency, FREQUENCY)}",
                                         p.channel, p.label, p.start))
        for ch in {p.channel for p in pulses}:
            idx = np.array([i for i, p in enumerate(pulses) if p.channel == ch])
            order = idx[np.argsort(start[idx], kind="stable")]
            s, d = start[order], dur[order]
            if pr.min_delay is not None and order.size > 1:
                gaps = s[1:] - (s[:-1] + d[:-1])
                for j in np.flatnonzero(gaps < pr.min_delay * (1 - 1e-9)):
                    a, b = pulses[order[j]], pulses[order[j + 1]]
                    out.append(Violation("min_delay", f"gap {_t(gaps[j])} between pulse "
                                         f"{a.label or order[j]} and pulse "
                                         f"{b.label or order[j + 1]} on {ch} is shorter than "
                                         f"min_delay {_t(pr.min_delay)}", ch, b.label, b.start))
            if pr.max_duty_cycle is not None:
                period = max(pr.repetition_time or 0.0, schedule.duration)
                on = float(np.sum(d))
                if period > 0 and on / period > pr.max_duty_cycle * (1 + 1e-12):
                    out.append(Violation("max_duty_cycle", f"channel {ch} is on "
                                         f"{on / period:.4g} of the "
                                         f"{'repetition period' if pr.repetition_time else 'shot'}"
                                         f" ({_t(on)} in {_t(period)}), above max_duty_cycle "
                                         f"{pr.max_duty_cycle:g}", ch))
    if pr.raster is not None:
        r = pr.raster
        evs = list(_events(schedule))
        if evs:
            edges = np.array([(e[3], e[4]) for e in evs], dtype=float)
            k = edges / r
            bad = np.abs(k - np.round(k)) > 1e-6
            for i, j in zip(*np.nonzero(bad), strict=True):
                kind, ch, label, _, _ = evs[i]
                t = float(edges[i, j])
                lo, hi = math.floor(k[i, j]) * r, math.ceil(k[i, j]) * r
                out.append(Violation("raster", f"{kind} {label or ''} on {ch} "
                                     f"{('starts', 'ends')[j]} at {t!r} s, off the {_t(r)} "
                                     f"raster (nearest {_t(lo)} or {_t(hi)})", ch, label, t))
        for ip in schedule.ideal_pulses:
            k = ip.time / r
            if pr.allow_ideal and abs(k - round(k)) > 1e-6:
                out.append(Violation("raster", f"ideal pulse {ip.label} at {ip.time!r} s is "
                                     f"off the {_t(r)} raster", ip.channel, ip.label, ip.time))
    return out
