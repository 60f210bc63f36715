"""Sequence → Schedule: parameter resolution, timing, loops, phase cycles.

:func:`bind` lays the body out on one time axis (edge convention, see
:mod:`sequences.model`), expands ``repeat`` loops and phase cycles, converts amplitudes to
tesla (fraction × channel ``full_scale``, or a field as written), and returns a checked
:class:`~sequences.schedule.Schedule`.

Guards (all raise :class:`~sequences.errors.SequenceError` before allocating anything):
more than ``max_events`` events (pulses, ideal pulses, markers, windows) after loop
expansion; more than :data:`~sequences.cycles.MAX_STEPS` phase-cycle steps. Negative
durations after binding are located at the element that produced them.

With a parameter ``ideal`` ≠ 0 (declared in every library sequence, default 0) every
finite pulse that has a nominal ``angle`` is replaced by an
:class:`~sequences.schedule.IdealPulse` at its centre t_c, rotating by that angle about
the azimuth φ + 2π f t_c (the pulse phase plus its absolute-time carrier phase at the
centre, so that in the frame rotating at f the ideal axis is the pulse's axis φ whatever
t_c; baseband pulses keep φ); the timeline is unchanged (the pulse's duration becomes
free evolution). Pulses without an
``angle`` (a hole-burning or nutation pulse) stay finite. ``ideal`` may be given to any
sequence, whether it declares the parameter or not.
"""

from __future__ import annotations

import math

from sequences.cycles import TWO_PI, phase_list, phase_value, receiver_weights
from sequences.cycles import n_steps as count_steps
from sequences.errors import ScheduleError, SequenceError
from sequences.expr import (
    ANGLE,
    DIMLESS,
    FIELD,
    FREQUENCY,
    TIME,
    UNITS,
    Dim,
    Quantity,
    closest,
    dim_example,
    dim_name,
    error,
    evaluate,
    expect,
    format_expr,
    format_quantity,
    parse_quantity,
    real,
    walk_names,
)
from sequences.model import (
    DEFAULT_CHANNELS,
    DelayEl,
    DetectEl,
    IdealEl,
    MarkerEl,
    Parallel,
    PulseEl,
    Repeat,
    Sequence,
    iter_elements,
)
from sequences.schedule import Channel, DetectionWindow, IdealPulse, Marker, Pulse, Schedule

#: default limit on the number of events one bind may create
DEFAULT_MAX_EVENTS = 1_000_000
#: default cap on the length of one shot (s): an hour, far beyond any T1 or inversion-
#: recovery wait, and short enough that times keep sub-picosecond resolution in a float
MAX_SHOT_DURATION = 3600.0
IDEAL_PARAM = "ideal"

#: shape option → the shapes it applies to
_SHAPE_OPTS = {"sigma": ("gauss",), "lobes": ("sinc",), "span": ("chirp", "wurst", "hs"),
               "order": ("wurst",), "beta": ("hs",), "mu": ("hs",)}
#: upper bounds of dimensionless shape options (beyond them the envelope is all edge)
_SHAPE_MAX = {"beta": 100.0, "order": 1000.0, "lobes": 1e4}


# --------------------------------------------------------------------------- parameters
def _coerce(value, dim: Dim, name: str) -> Quantity:
    if isinstance(value, Quantity):
        q = value
    elif isinstance(value, str):
        q = parse_quantity(value, None, name)
    else:  # int of any size, float, numpy scalars
        q = Quantity(real(value, f"parameter {name}"), dim)
    if not math.isfinite(q.value):
        raise SequenceError(f"parameter {name}: value {value!r} is not finite")
    if q.dim != dim:
        raise SequenceError(f"parameter {name} is a {dim_name(dim)}, but {value!r} is a "
                            f"{dim_name(q.dim)}", hint=f"write {dim_example(dim)}")
    return q


def resolve_params(seq: Sequence, values: dict, *, partial: bool = False
                   ) -> dict[str, Quantity]:
    """Parameter values (SI quantities): ``values`` override defaults. Floats are taken
    in the parameter's SI unit, strings are parsed with units. With ``partial``, params
    that have no value (no default, not given) are left out instead of raising."""
    decls = {p.name: p for p in seq.params}
    for k in values:
        if k not in decls:
            raise SequenceError(f"unknown parameter {k!r}" + (f" in {seq.name}" if seq.name
                                                                else ""),
                                hint=closest(k, decls) or "parameters: "
                                + (", ".join(decls) or "none"))
    env: dict[str, Quantity] = {}
    missing: set[str] = set()
    visiting: set[str] = set()

    def get(name: str) -> bool:
        if name in env:
            return True
        if name in missing:
            return False
        p = decls[name]
        if name in visiting:
            raise error(f"parameter {name!r} depends on itself", p.pos)
        visiting.add(name)
        default = None
        if p.default is not None:
            ok = True
            for n in walk_names(p.default):
                if n.id in decls and not get(n.id):
                    ok = False
            if ok:
                default = evaluate(p.default, env)
                dim = default.dim
            elif name not in values:
                visiting.discard(name)
                missing.add(name)
                return False
            else:
                dim = None
        else:
            dim = UNITS[p.unit][1]
        if name in values:
            if dim is None:  # default unusable: take the value's own dimension
                q = values[name]
                q = q if isinstance(q, Quantity) else (
                    parse_quantity(q, None, name) if isinstance(q, str) else Quantity(q))
            else:
                q = _coerce(values[name], dim, name)
        elif default is not None:
            q = default
        else:
            visiting.discard(name)
            if partial:
                missing.add(name)
                return False
            raise error(f"parameter {name!r} has no default: give a value", p.pos,
                        hint=f"e.g. --set {name}=... or bind({name}=...)")
        visiting.discard(name)
        env[name] = q
        return True

    for p in seq.params:
        get(p.name)
    if not partial:
        for name in missing:
            raise error(f"parameter {name!r} has no value (it depends on a parameter "
                        "without default)", decls[name].pos)
    return {p.name: env[p.name] for p in seq.params if p.name in env}


def param_dim(seq: Sequence, name: str) -> Dim:
    """Dimension of parameter ``name`` (from its default or declared unit)."""
    p = next((p for p in seq.params if p.name == name), None)
    if p is None:
        raise SequenceError(f"unknown parameter {name!r}",
                            hint=closest(name, [p.name for p in seq.params]))
    if p.default is None:
        return UNITS[p.unit][1]
    env = resolve_params(seq, {}, partial=True)
    if name in env:
        return env[name].dim
    raise SequenceError(f"parameter {name!r}: dimension unknown (depends on unset params)")


def value_text(seq: Sequence, name: str, value) -> str:
    """The text of a value of parameter ``name``: a string as given, a number (SI) with
    the SI unit of the parameter's dimension (``5e-06 s``), so that a value round-trips
    exactly through text (``--set``, ``--sweep``, a run's record)."""
    if isinstance(value, str):
        return value
    from sequences.expr import SI_UNIT

    unit = SI_UNIT.get(param_dim(seq, name), "")
    return f"{float(value)!r}" + (f" {unit}" if unit else "")


def assignment_text(seq: Sequence, name: str, value) -> str:
    """``"name=value"`` (the ``--set`` form) with :func:`value_text`."""
    return f"{name}={value_text(seq, name, value)}"


def parse_assignments(items) -> dict[str, str]:
    """``["tau=2 us", "n=10"]`` → ``{"tau": "2 us", "n": "10"}`` (for ``--set``)."""
    out: dict[str, str] = {}
    for it in items or ():
        if "=" not in it:
            raise SequenceError(f"--set {it!r}: expected name=value, e.g. tau=2us")
        k, v = it.split("=", 1)
        k = k.strip()
        if not k.isidentifier():
            raise SequenceError(f"--set {it!r}: {k!r} is not a parameter name")
        out[k] = v.strip()
    return out


# --------------------------------------------------------------------------- binding
class _Ctx:
    __slots__ = ("env", "channels", "kinds", "defaults", "freqs", "full_scale", "n",
                 "ideal", "used", "max_duration")

    def __init__(self, seq: Sequence, env: dict[str, Quantity], n: int, ideal: bool,
                 max_duration: float = MAX_SHOT_DURATION):
        self.max_duration = max_duration
        self.env = env
        self.n = n
        self.ideal = ideal
        self.channels: list[Channel] = []
        self.kinds: dict[str, str] = {}
        self.freqs: dict[str, float] = {}
        self.full_scale: dict[str, float | None] = {}
        for c in seq.channels:
            fs = None
            if c.full_scale is not None:
                fs = expect(evaluate(c.full_scale, env), FIELD, f"channel {c.name} full_scale",
                            c.full_scale)
                if fs <= 0:
                    raise error(f"channel {c.name}: full_scale must be > 0", c.full_scale.pos)
            if c.freq is not None:
                f = expect(evaluate(c.freq, env), FREQUENCY, f"channel {c.name} freq", c.freq)
                self.freqs[c.name] = f
            self.channels.append(Channel(c.name, c.kind, fs))
            self.kinds[c.name] = c.kind
            self.full_scale[c.name] = fs
        self.defaults: dict[str, str] = {}
        for kind in DEFAULT_CHANNELS:
            of_kind = [c.name for c in seq.channels if c.kind == kind]
            if len(of_kind) == 1:
                self.defaults[kind] = of_kind[0]
        self.used: set[str] = set()

    def channel(self, el, kind: str) -> str:
        name = el.channel
        if not name:
            name = self.defaults.get(kind)
            if name is None:
                declared = [c.name for c in self.channels if c.kind == kind]
                if declared:
                    raise error(f"{type(el).__name__[:-2].lower()}: several {kind} channels "
                                f"({', '.join(declared)}); say which", el.pos,
                                hint=f"add channel={declared[0]}")
                name = DEFAULT_CHANNELS[kind]
                if name in self.kinds and self.kinds[name] != kind:
                    raise error(f"the implicit {kind} channel {name!r} clashes with a "
                                f"{self.kinds[name]} channel", el.pos)
                if name not in self.kinds:
                    self.channels.append(Channel(name, kind, None))
                    self.kinds[name] = kind
                    self.full_scale[name] = None
                self.defaults[kind] = name
        elif self.kinds.get(name) != kind:
            raise error(f"channel {name!r} is a {self.kinds.get(name)} channel, not a {kind} "
                        "channel", el.pos)
        return name


def _time(el, e, env, what: str) -> float:
    v = expect(evaluate(e, env), TIME, what, e)
    if v < 0:
        raise error(f"{what} {format_expr(e)!r} = {format_quantity(v, TIME)} is negative",
                    e.pos or el.pos, hint="a parameter is too small for the pulses around it "
                    "(delays are between pulse edges)")
    return v


def _count(el: Repeat, env) -> int:
    q = evaluate(el.count, env)
    c = expect(q, DIMLESS, "repeat count", el.count)
    if c < 0 or abs(c - round(c)) > 1e-9:
        raise error(f"repeat count {format_expr(el.count)!r} = {c:g} is not an integer >= 0",
                    el.count.pos or el.pos)
    return int(round(c))


def count_events(body, env, limit: int | None = None) -> int:
    """Number of events (not delays) the body creates once loops are expanded. With
    ``limit``, raise at the first ``repeat`` that takes the count above it."""
    total = 0
    for el in body:
        t = type(el)
        if t is DelayEl:
            continue
        if t is Repeat:
            inner = count_events(el.body, env, limit)
            if inner:
                n = _count(el, env)
                total += n * inner
                if limit is not None and total > limit:
                    raise error(f"repeat {format_expr(el.count)} × {inner} events would "
                                f"create {n * inner} events, more than the limit of {limit}",
                                el.count.pos or el.pos,
                                hint="reduce the count, or raise max_events")
        elif t is Parallel:
            total += count_events(el.body, env, limit)
        else:
            total += 1
    return total


def _emit(body, t0: float, ctx: _Ctx, out: list) -> float:
    """Append events of ``body`` starting at ``t0``; return its duration."""
    env = ctx.env
    t = t0
    for el in body:
        tp = type(el)
        if tp is DelayEl:
            t += _time(el, el.duration, env, "delay")
        elif tp is PulseEl:
            t += _pulse(el, t, ctx, out)
        elif tp is IdealEl:
            ch = ctx.channel(el, "field")
            angle = expect(evaluate(el.angle, env), ANGLE, "ideal angle", el.angle)
            lp = tuple(phase_value(e, env, "loop_phase") for e in el.loop_phase) or None
            out.append(("I", t, ch, angle, 0.0, phase_list(el.phase, env, ctx.n), el.label,
                        lp))
        elif tp is DetectEl or tp is MarkerEl:
            kind = "detector" if tp is DetectEl else "marker"
            ch = ctx.channel(el, kind)
            d = _time(el, el.duration, env, "detect window" if tp is DetectEl else "marker")
            out.append(("W" if tp is DetectEl else "M", t, ch, d, el.label))
            t += d
        elif tp is Repeat:
            n = _count(el, env)
            sub: list = []
            d = _emit(el.body, 0.0, ctx, sub)
            if sub and n:
                _replicate(sub, n, d, t, out)
            t += n * d
        elif tp is Parallel:
            longest = 0.0
            for child in el.body:
                longest = max(longest, _emit((child,), t, ctx, out))
            t += longest
        else:  # pragma: no cover
            raise TypeError(f"unknown element {el!r}")
        if not t <= ctx.max_duration:  # also catches inf and NaN
            raise error(f"the shot reaches {format_quantity(t, TIME)} here, longer than the "
                        f"cap of {format_quantity(ctx.max_duration, TIME)} on one shot",
                        getattr(el, "pos", None),
                        hint="a parameter or repeat count is far too large (the cap is "
                        "bind(max_duration=...))")
    return t - t0


def _replicate(sub: list, n: int, d: float, t0: float, out: list) -> None:
    looped = [i for i, ev in enumerate(sub) if ev[0] in "PI" and ev[-1] is not None]
    if not looped:
        for i in range(n):
            off = t0 + i * d
            out.extend([(ev[0], ev[1] + off) + ev[2:] for ev in sub])
        return
    for i in range(n):
        off = t0 + i * d
        for j, ev in enumerate(sub):
            if j in looped:
                lp = ev[-1]
                extra = lp[i % len(lp)]
                ph = tuple(math.fmod(p + extra, TWO_PI) for p in ev[-3])
                out.append((ev[0], ev[1] + off) + ev[2:-3] + (ph, ev[-2], None))
            else:
                out.append((ev[0], ev[1] + off) + ev[2:])


def _carrier(el: PulseEl, ch: str, ctx: _Ctx) -> float:
    """Carrier frequency (Hz) of a pulse: its ``freq`` or the channel's, plus ``offset``."""
    env = ctx.env
    if el.freq is not None:
        freq = expect(evaluate(el.freq, env), FREQUENCY, "pulse freq", el.freq)
    else:
        freq = ctx.freqs.get(ch, 0.0)
    if el.offset is not None:
        freq += expect(evaluate(el.offset, env), FREQUENCY, "pulse offset", el.offset)
    if freq < 0:
        raise error(f"pulse carrier frequency {format_quantity(freq, FREQUENCY)} is negative",
                    el.pos)
    if not math.isfinite(freq):
        raise error("pulse carrier frequency (freq + offset) is not finite", el.pos)
    return freq


def _ideal_phases(phases: tuple[float, ...], freq: float, time: float) -> tuple[float, ...]:
    """Azimuths of an ideal rotation replacing a pulse of carrier ``freq`` centred at
    ``time``: the pulse phases plus the carrier phase 2π f t there (absolute-time
    carrier, as in :class:`~sequences.schedule.Pulse`), in [0, 2π)."""
    if freq == 0.0:
        return phases
    cycles = freq * time
    if not math.isfinite(cycles):
        raise SequenceError(f"the carrier phase of an ideal pulse at {time:g} s and "
                            f"{freq:g} Hz is not finite")
    carrier = TWO_PI * math.fmod(cycles, 1.0)
    return tuple(math.fmod(p + carrier + TWO_PI, TWO_PI) for p in phases)


def _pulse(el: PulseEl, t: float, ctx: _Ctx, out: list) -> float:
    env = ctx.env
    ch = ctx.channel(el, "field")
    dur = _time(el, el.duration, env, "pulse duration")
    phases = phase_list(el.phase, env, ctx.n)
    lp = tuple(phase_value(e, env, "loop_phase") for e in el.loop_phase) or None
    freq = _carrier(el, ch, ctx)
    if ctx.ideal and el.angle is not None:
        angle = expect(evaluate(el.angle, env), ANGLE, "pulse angle", el.angle)
        out.append(("I", t + 0.5 * dur, ch, angle, freq, phases, el.label, lp))
        return dur
    fs = ctx.full_scale[ch]
    if el.amp is None:
        if fs is None:
            raise error(f"pulse without amp on channel {ch!r}, which has no full_scale",
                        el.pos, hint=f"give amp as a field (amp=0.5 uT) or declare channel "
                        f"{ch} : field(full_scale = 1 uT)")
        amp = fs
    else:
        q = evaluate(el.amp, env)
        if q.dim == DIMLESS:
            if fs is None:
                raise error(f"amp {format_expr(el.amp)!r} is a fraction of full scale, but "
                            f"channel {ch!r} has no full_scale", el.amp.pos or el.pos,
                            hint=f"write a field (e.g. 0.5 uT) or declare channel {ch} : "
                            "field(full_scale = 1 uT)")
            amp = q.value * fs
        elif q.dim == FIELD:
            amp = q.value
        else:
            raise error(f"amp must be a fraction of full scale or a field, but "
                        f"{format_expr(el.amp)!r} is a {dim_name(q.dim)}",
                        el.amp.pos or el.pos, hint="e.g. amp=0.5 or amp=0.5 uT")
    sp = []
    for k, e in el.shape_params:
        if el.shape not in _SHAPE_OPTS[k]:
            raise error(f"option {k} applies to shape {' or '.join(_SHAPE_OPTS[k])}, not "
                        f"{el.shape}", e.pos or el.pos)
        if k == "span":
            v = expect(evaluate(e, env), FREQUENCY, f"{el.shape} span", e)
        else:
            v = expect(evaluate(e, env), DIMLESS, k, e)
            if k != "mu" and v <= 0:
                raise error(f"{k} must be > 0", e.pos or el.pos)
        if not math.isfinite(v) or abs(v) > _SHAPE_MAX.get(k, math.inf):
            raise error(f"{k} = {v!r} is out of range"
                        + (f" (at most {_SHAPE_MAX[k]:g})" if k in _SHAPE_MAX else ""),
                        e.pos or el.pos)
        sp.append((k, v))
    if not math.isfinite(amp):
        raise error(f"pulse amplitude {format_expr(el.amp) if el.amp is not None else 'amp'!r}"
                    f" gives a field that is not finite ({amp})", el.pos)
    sp = _swept_params(el, dict(sp), dur, sp)
    out.append(("P", t, ch, dur, amp, el.shape, freq, tuple(sp), phases, el.label, lp))
    return dur


def _swept_params(el, given: dict, dur: float, sp: list) -> tuple:
    """Check and complete the options of a frequency-swept pulse: ``span`` is required
    (an ``hs`` pulse may give ``mu`` instead, converted to ``span`` with its duration)."""
    from sequences.shapes import SHAPE_PARAMS, hs_span_from_mu

    if el.shape not in ("chirp", "wurst", "hs"):
        return tuple(sp)
    if el.shape == "hs" and "mu" in given:
        if "span" in given:
            raise error("an hs pulse takes span or mu (span = 2 mu beta tanh(beta) / "
                        "(pi duration)), not both", el.pos)
        if dur <= 0:
            raise error("an hs pulse given by mu needs a duration > 0", el.pos)
        beta = given.get("beta", SHAPE_PARAMS["hs"]["beta"])
        span = hs_span_from_mu(given["mu"], beta, dur)
        return tuple([(k, v) for k, v in sp if k != "mu"] + [("span", span)])
    if "span" not in given:
        hint = "span=2 MHz" + (" or mu=5" if el.shape == "hs" else "")
        article = "an" if el.shape == "hs" else "a"
        raise error(f"{article} {el.shape} pulse needs span (the frequency sweep), e.g. {hint}",
                    el.pos)
    return tuple(sp)


def bind(seq: Sequence, values: dict | None = None, *, max_events: int | None = None,
         check: bool = True, max_duration: float | None = None) -> Schedule:
    """Resolve ``seq`` with parameter ``values`` (SI floats or strings with units) into a
    :class:`Schedule`. See the module docstring for guards and the ``ideal`` parameter;
    a shot longer than ``max_duration`` s (default :data:`MAX_SHOT_DURATION`, 1 h) is
    refused at the element that takes it past the cap."""
    cap = MAX_SHOT_DURATION if max_duration is None else real(max_duration, "max_duration")
    values = dict(values or {})
    limit = DEFAULT_MAX_EVENTS if max_events is None else int(max_events)
    ideal_override = None
    if IDEAL_PARAM in values and IDEAL_PARAM not in seq.param_names:
        # any sequence may be bound with ideal=1, declared or not
        ideal_override = _coerce(values.pop(IDEAL_PARAM), DIMLESS, IDEAL_PARAM).value != 0
    try:
        env = resolve_params(seq, values)
        n = count_steps(seq)
        total = count_events(seq.body, env, limit)
        if total > limit:
            raise SequenceError(f"the sequence would create {total} events, more than the "
                                f"limit of {limit}", filename=seq.filename or None,
                                hint="reduce repeat counts, or raise max_events")
        ideal = IDEAL_PARAM in env and env[IDEAL_PARAM].value != 0
        if ideal_override is not None:
            ideal = ideal_override
        ctx = _Ctx(seq, env, n, ideal, cap)
        receiver = receiver_weights(seq, env, n)
        out: list = []
        duration = _emit(seq.body, 0.0, ctx, out)
    except RecursionError:
        raise SequenceError("sequence nested too deeply") from None
    if not math.isfinite(duration):
        raise SequenceError(f"total duration {duration} s is not finite")
    pulses = [Pulse(ev[2], ev[1], ev[3], ev[4], ev[5], ev[6], ev[8], ev[7], ev[9])
              for ev in out if ev[0] == "P"]
    ideals = [IdealPulse(ev[2], ev[1], ev[3], _ideal_phases(ev[5], ev[4], ev[1]), ev[6])
              for ev in out if ev[0] == "I"]
    markers = [Marker(ev[2], ev[1], ev[3], ev[4]) for ev in out if ev[0] == "M"]
    windows = [DetectionWindow(ev[2], ev[1], ev[3], ev[4]) for ev in out if ev[0] == "W"]
    key = _start_key
    sched = Schedule(
        channels=tuple(ctx.channels),
        pulses=tuple(sorted(pulses, key=key)),
        ideal_pulses=tuple(sorted(ideals, key=_time_key)),
        markers=tuple(sorted(markers, key=key)),
        windows=tuple(sorted(windows, key=key)),
        receiver=receiver,
        duration=duration,
        params=tuple((k, q.value) for k, q in env.items()),
        source=seq.to_text(),  # canonical, self-contained (includes expanded)
        name=seq.name,
    )
    if check:
        try:
            sched.check()
        except ScheduleError as exc:
            _locate_overlap(seq, sched)
            raise ScheduleError(exc.message, filename=seq.filename or None,
                                hint="events on one channel may not overlap (look at "
                                "parallel blocks) and all times must be finite") from None
    return sched


def _locate_overlap(seq: Sequence, sched: Schedule) -> None:
    """Raise a located error for the first overlap of two events on one channel (the
    element is found by its label); return quietly if there is none."""
    per: dict[str, list] = {}
    for kind, evs in (("pulse", sched.pulses), ("marker", sched.markers),
                      ("detect window", sched.windows)):
        for e in evs:
            if e.duration > 0:
                per.setdefault(e.channel, []).append((e.start, e.stop, kind, e.label))
    for ch, evs in per.items():
        evs.sort()
        for (s0, e0, k0, l0), (s1, _e1, k1, l1) in zip(evs, evs[1:], strict=False):
            if s1 < e0 - 1e-15 * max(1.0, abs(e0)):
                el = next((x for x in iter_elements(seq.body)
                           if l1 and getattr(x, "label", None) == l1), None)
                raise error(f"{k1} {l1 or ''} at {format_quantity(s1, TIME)} overlaps {k0} "
                            f"{l0 or ''} ({format_quantity(s0, TIME)} to "
                            f"{format_quantity(e0, TIME)}) on channel {ch!r}",
                            el.pos if el is not None else None,
                            hint="events on one channel may not overlap: look at parallel "
                            "blocks", cls=ScheduleError)


def _start_key(ev):
    return ev.start


def _time_key(ev):
    return ev.time


__all__ = ["DEFAULT_MAX_EVENTS", "IDEAL_PARAM", "bind", "count_events", "param_dim",
           "parse_assignments", "resolve_params"]
