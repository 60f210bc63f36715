"""The parametrised :class:`Sequence` (template) and its elements, plus the Python API.

A Sequence is an immutable tree: declarations (``params``, ``channels``, ``receiver``
phase list, ``sweeps``) and a ``body`` of elements laid out **one after the other** on a
single time axis (see "Timing" below). The same objects come from text
(:func:`sequences.parser.parse`) and from Python::

    from sequences import param, pulse, delay, detect, Sequence
    tau, t90 = param("tau", "2 us"), param("t90", "100 ns")
    p90 = pulse(t90, amp=0.5, freq="4 MHz", phase=["x", "-x"], angle="90 deg", label="p90")
    p180 = pulse(2 * t90, amp=0.5, freq="4 MHz", angle="180 deg", label="p180")
    hahn = (p90 + delay(tau - t90 / 2 - t90) + p180 + delay(tau - t90 - "0.5 us")
            + detect("1 us", label="echo")).with_receiver(["x", "-x"])

Every element constructor returns a one-element Sequence; ``+`` concatenates (merging
declarations), so Python code composes like the text reads.

Timing (edge convention for the language, centre convention for the library)
----------------------------------------------------------------------------
Elements are sequential: each starts where the previous one ends (its leading edge at the
previous trailing edge). A ``delay(d)`` is the gap between the trailing edge of what comes
before and the leading edge of what follows. ``ideal`` rotations take no time.
``parallel { ... }`` starts every child at the same time and lasts as long as the longest.
The standard library writes its delays so that the *documented* times (τ, T) run from
pulse **centre** to pulse centre, e.g. ``delay(tau - t90/2 - t180/2)``; see
``docs/sequences.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sequences.errors import SequenceError
from sequences.expr import (
    AXES,
    Axis,
    Bin,
    Call,
    Expr,
    Name,
    Neg,
    Num,
    Pos,
    as_expr,
    format_expr,
    walk_names,
)

#: parameter names that cannot be declared (phase axes and keywords)
RESERVED = {"x", "y", "pi", "sequence", "param", "channel", "receiver", "sweep", "include",
            "pulse", "delay", "detect", "marker", "repeat", "parallel"}

CHANNEL_KINDS = ("field", "marker", "detector")
#: the channel an element uses when it names none and the sequence declares none of its kind
DEFAULT_CHANNELS = {"field": "rf", "detector": "adc", "marker": "trig"}
SHAPE_PARAM_NAMES = ("sigma", "lobes", "span", "order", "beta", "mu")

X = Axis("x")


# --------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Param:
    """``param name = default`` or ``param name : unit`` (no default; must be bound).

    The dimension of the parameter is the dimension of its default (or of ``unit``)."""

    name: str
    default: Expr | None = None
    unit: str = ""
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ChannelDecl:
    """``channel name : kind`` with options ``full_scale`` (field at amp = 1, a field
    channel only) and ``freq`` (default carrier of pulses on a field channel)."""

    name: str
    kind: str
    full_scale: Expr | None = None
    freq: Expr | None = None
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Sweep:
    """``sweep name = lin(start, stop, n) | log(start, stop, n) | [v1, v2, ...]``.

    ``lin``: n values evenly spaced, both ends included; ``log``: n values in geometric
    progression, both ends included (start, stop > 0); list: the values as written."""

    name: str
    kind: str  # "lin" | "log" | "list"
    args: tuple[Expr, ...]
    pos: Pos | None = field(default=None, compare=False, repr=False)


# --------------------------------------------------------------------------- elements
@dataclass(frozen=True)
class PulseEl:
    """A finite pulse. ``amp`` is a fraction of the channel's full scale (dimensionless)
    or a field (T); None means 1 (full scale). ``freq`` overrides the channel carrier and
    ``offset`` is added to it. ``phase``: one entry per phase-cycle step (cycled);
    ``loop_phase``: one entry per iteration of the innermost enclosing ``repeat`` (cycled),
    added to the step phase. ``angle`` is the nominal flip angle, used when the sequence is
    bound with ``ideal = 1``. ``shape_params``: (name, expr) for ``sigma``/``lobes``/
    ``order``/``beta``/``mu`` (dimensionless) and ``span`` (frequency)."""

    duration: Expr
    shape: str = "rect"
    amp: Expr | None = None
    freq: Expr | None = None
    offset: Expr | None = None
    phase: tuple[Expr, ...] = (X,)
    loop_phase: tuple[Expr, ...] = ()
    angle: Expr | None = None
    shape_params: tuple[tuple[str, Expr], ...] = ()
    channel: str = ""
    label: str = ""
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class IdealEl:
    """An instantaneous rotation by ``angle`` about the axis ``phase`` (per step)."""

    angle: Expr
    phase: tuple[Expr, ...] = (X,)
    loop_phase: tuple[Expr, ...] = ()
    channel: str = ""
    label: str = ""
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DelayEl:
    duration: Expr
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _SpanEl:
    """An element that occupies ``duration`` on a channel (default: the one of its kind)."""

    duration: Expr
    channel: str = ""
    label: str = ""
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DetectEl(_SpanEl):
    """``detect(duration, ...)``: a detection window."""


@dataclass(frozen=True)
class MarkerEl(_SpanEl):
    """``marker(duration, ...)``: a TTL marker."""


@dataclass(frozen=True)
class Repeat:
    count: Expr
    body: tuple
    pos: Pos | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Parallel:
    body: tuple
    pos: Pos | None = field(default=None, compare=False, repr=False)


Element = PulseEl | IdealEl | DelayEl | DetectEl | MarkerEl | Repeat | Parallel


# --------------------------------------------------------------------------- the sequence
@dataclass(frozen=True)
class Sequence:
    """A parametrised pulse sequence (template). See the module docstring."""

    body: tuple = ()
    params: tuple[Param, ...] = ()
    channels: tuple[ChannelDecl, ...] = ()
    receiver: tuple[Expr, ...] = ()
    sweeps: tuple[Sweep, ...] = ()
    name: str = ""
    source: str = field(default="", compare=False, repr=False)
    filename: str = field(default="", compare=False, repr=False)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_text(cls, text: str, filename: str = "<string>") -> Sequence:
        from sequences.parser import parse

        return parse(text, filename=filename)

    @classmethod
    def load(cls, spec: str) -> Sequence:
        """A ``.seq`` file path or the name of a library sequence (``"hahn"``)."""
        from sequences.parser import load

        return load(spec)

    def __add__(self, other: Sequence) -> Sequence:
        if not isinstance(other, Sequence):
            return NotImplemented
        return concat(self, other)

    def named(self, name: str) -> Sequence:
        return replace(self, name=name)

    def with_receiver(self, phases) -> Sequence:
        return replace(self, receiver=phase_tuple(phases))

    def with_channel(self, name: str, kind: str, full_scale=None, freq=None) -> Sequence:
        decl = channel(name, kind, full_scale=full_scale, freq=freq)
        chans = tuple(c for c in self.channels if c.name != name) + (decl,)
        return replace(self, channels=chans,
                       params=_merge_params(self.params, _params_of([full_scale, freq])))

    def with_params(self, **defaults) -> Sequence:
        """New defaults for declared parameters (values as in :meth:`bind`)."""
        known = {p.name: p for p in self.params}
        out = list(self.params)
        for name, value in defaults.items():
            if name not in known:
                from sequences.expr import closest

                raise SequenceError(f"unknown parameter {name!r}", hint=closest(name, known))
            i = next(j for j, p in enumerate(out) if p.name == name)
            out[i] = replace(out[i], default=_value_expr(value, out[i], self), unit="")
        return replace(self, params=tuple(out))

    def with_sweep(self, name: str, values=None, *, lin=None, log=None) -> Sequence:
        """Add a sweep of parameter ``name`` (innermost, i.e. fastest): explicit ``values``
        (list), or ``lin=(start, stop, n)`` / ``log=(start, stop, n)``. Like :meth:`bind`,
        values are strings with units (``"2 us"``) or floats in the parameter's SI unit
        (``2e-6`` for a time); ``n`` is a plain number."""
        if sum(v is not None for v in (values, lin, log)) != 1:
            raise SequenceError("with_sweep: give exactly one of values, lin, log")
        if values is not None:
            sw = Sweep(name, "list", tuple(self._sweep_value(name, v) for v in values))
        else:
            kind, args = ("lin", lin) if lin is not None else ("log", log)
            if len(args) != 3:
                raise SequenceError(f"with_sweep: {kind}= needs (start, stop, n)")
            start, stop, n = args
            if isinstance(n, int | float) and not isinstance(n, bool):
                from sequences.expr import real

                n = real(n, f"sweep {name}: number of points")
            sw = Sweep(name, kind, (self._sweep_value(name, start),
                                    self._sweep_value(name, stop), as_expr(n)))
        if name in {s.name for s in self.sweeps}:
            raise SequenceError(f"parameter {name!r} is already swept")
        return replace(self, sweeps=self.sweeps + (sw,))

    def _sweep_value(self, name: str, value) -> Expr:
        """A sweep value as an expression: a real number is taken in the SI unit of
        parameter ``name`` (as :meth:`bind` does), anything else as :func:`as_expr`."""
        import numbers

        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            from sequences.bind import param_dim
            from sequences.expr import SI_UNIT, real

            unit = SI_UNIT.get(param_dim(self, name))
            if unit is not None:
                return as_expr(real(value, f"sweep {name}"), unit)
        return as_expr(value)

    def without_sweeps(self) -> Sequence:
        return replace(self, sweeps=())

    # ---------------------------------------------------------------- queries
    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> dict[str, float]:
        """Default parameter values in SI (params without default are left out)."""
        from sequences.bind import resolve_params

        return {k: q.value for k, q in resolve_params(self, {}, partial=True).items()}

    @property
    def n_steps(self) -> int:
        from sequences.cycles import n_steps

        return n_steps(self)

    # ---------------------------------------------------------------- binding
    def bind(self, **values) -> Any:
        """Resolve to a :class:`~sequences.schedule.Schedule`. ``values`` override
        parameter defaults: floats in SI (s, Hz, T, rad, dimensionless) or strings with
        units (``"200 ns"``). See :func:`sequences.bind.bind`."""
        from sequences.bind import bind

        return bind(self, values)

    def bind_values(self, values: dict, *, max_events: int | None = None,
                    check: bool = True, max_duration: float | None = None) -> Any:
        from sequences.bind import bind

        return bind(self, values, max_events=max_events, check=check,
                    max_duration=max_duration)

    def sweep(self, **fixed):
        """Iterate ``(point, schedule)`` over the declared sweeps: the first declared sweep
        is the outermost (slowest) loop, the last the innermost (fastest). ``point`` maps
        swept parameter names to SI values. ``fixed`` overrides non-swept parameters."""
        from sequences.sweep import iter_sweep

        return iter_sweep(self, fixed)

    def sweep_points(self, **fixed) -> list[dict[str, float]]:
        from sequences.sweep import sweep_points

        return sweep_points(self, fixed)

    # ---------------------------------------------------------------- text & JSON
    def to_text(self) -> str:
        from sequences.printer import to_text

        return to_text(self)

    def to_dict(self) -> dict:
        return {"format": "spinecho.sequence/1", "sequence": _encode(self)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict) -> Sequence:
        try:
            if d.get("format") != "spinecho.sequence/1":
                raise SequenceError(f"not a spinecho sequence (format={d.get('format')!r})")
            seq = _decode(d["sequence"])
        except SequenceError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SequenceError(f"malformed sequence JSON: {exc!r}") from exc
        if not isinstance(seq, Sequence):
            raise SequenceError("malformed sequence JSON: top level is not a Sequence")
        return seq

    @classmethod
    def from_json(cls, text: str) -> Sequence:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SequenceError(f"sequence JSON: {exc}") from exc
        if not isinstance(d, dict):
            raise SequenceError("sequence JSON: expected an object")
        return cls.from_dict(d)


# --------------------------------------------------------------------------- JSON codec
_NODES = {c.__name__: c for c in (Sequence, Param, ChannelDecl, Sweep, PulseEl, IdealEl,
                                   DelayEl, DetectEl, MarkerEl, Repeat, Parallel, Num, Name,
                                   Neg, Bin, Call, Axis)}
_SKIP = {"pos", "decl", "source", "filename"}


def _encode(obj):
    if isinstance(obj, tuple):
        return [_encode(x) for x in obj]
    if type(obj).__name__ in _NODES and hasattr(obj, "__dataclass_fields__"):
        d = {"_": type(obj).__name__}
        for f in fields(obj):
            if f.name not in _SKIP:
                d[f.name] = _encode(getattr(obj, f.name))
        return d
    return obj


def _decode(obj):
    if isinstance(obj, list):
        return tuple(_decode(x) for x in obj)
    if isinstance(obj, dict):
        cls = _NODES.get(obj.get("_"))
        if cls is None:
            raise SequenceError(f"malformed sequence JSON: unknown node {obj.get('_')!r}")
        kw = {k: _decode(v) for k, v in obj.items() if k != "_"}
        if cls is Num:
            kw["value"] = float(kw["value"])
        return cls(**kw)
    return obj


# --------------------------------------------------------------------------- Python API
def param(name: str, default=None, unit: str = "") -> Name:
    """Declare a parameter; returns an expression usable in elements (``tau - t90/2``).

    ``default``: a string with units (``"2 us"``), an expression, or a number
    (dimensionless). Without a default give ``unit`` (its dimension), and bind a value."""
    if name in RESERVED or not name.isidentifier():
        raise SequenceError(f"{name!r} cannot be a parameter name")
    if default is None and not unit:
        raise SequenceError(f"param {name!r}: give a default or a unit")
    decl = Param(name, None if default is None else as_expr(default), unit if default is None
                 else "")
    return Name(name, decl=decl)


def channel(name: str, kind: str, full_scale=None, freq=None) -> ChannelDecl:
    """A channel declaration (``kind``: field, marker, detector)."""
    if kind not in CHANNEL_KINDS:
        raise SequenceError(f"unknown channel kind {kind!r} (kinds: {', '.join(CHANNEL_KINDS)})")
    return ChannelDecl(name, kind, None if full_scale is None else as_expr(full_scale, "T"),
                       None if freq is None else as_expr(freq, "Hz"))


def phase_expr(value) -> Expr:
    """One phase: ``"x" "y" "-x" "-y"``, an angle expression string (``"45 deg"``),
    an Expr, or a number in rad."""
    if isinstance(value, str):
        text = value.strip()
        if text in AXES:
            return Axis(text)
        value = as_expr(text)
    if isinstance(value, Expr):
        if isinstance(value, Name) and value.id in ("x", "y"):
            return Axis(value.id)
        if isinstance(value, Neg) and isinstance(value.operand, Name) and \
                value.operand.id in ("x", "y"):
            return Axis("-" + value.operand.id)
        return value
    return as_expr(value, "rad")


def phase_tuple(value) -> tuple[Expr, ...]:
    if isinstance(value, list | tuple):
        if not value:
            raise SequenceError("a phase list cannot be empty")
        return tuple(phase_expr(v) for v in value)
    return (phase_expr(value),)


def _opt(value, unit):
    return None if value is None else as_expr(value, unit)


def _single(el, exprs) -> Sequence:
    return Sequence(body=(el,), params=_params_of(exprs))


def pulse(duration, shape: str = "rect", amp=None, freq=None, offset=None, phase="x",
          loop_phase=None, angle=None, sigma=None, lobes=None, span=None, order=None,
          beta=None, mu=None, channel: str = "", label: str = "") -> Sequence:
    """A finite pulse (see :class:`PulseEl`). Numbers are SI (s, Hz, rad); ``amp`` as a
    number is a fraction of full scale, as a string with a unit a field."""
    from sequences.shapes import SHAPES

    if shape not in SHAPES:
        raise SequenceError(f"unknown pulse shape {shape!r} (shapes: {', '.join(SHAPES)})")
    given = {"sigma": sigma, "lobes": lobes, "span": span, "order": order, "beta": beta,
             "mu": mu}
    sp = tuple((k, as_expr(given[k], "Hz" if k == "span" else ""))
               for k in SHAPE_PARAM_NAMES if given[k] is not None)
    el = PulseEl(as_expr(duration, "s"), shape, _opt(amp, ""), _opt(freq, "Hz"),
                 _opt(offset, "Hz"), phase_tuple(phase),
                 () if loop_phase is None else phase_tuple(loop_phase), _opt(angle, "rad"),
                 sp, channel, label)
    return _single(el, [el.duration, el.amp, el.freq, el.offset, el.angle, *el.phase,
                        *el.loop_phase, *(v for _, v in sp)])


def ideal(angle, phase="x", loop_phase=None, channel: str = "", label: str = "") -> Sequence:
    """An instantaneous rotation by ``angle`` (rad if a number, or ``"90 deg"``)."""
    el = IdealEl(as_expr(angle, "rad"), phase_tuple(phase),
                 () if loop_phase is None else phase_tuple(loop_phase), channel, label)
    return _single(el, [el.angle, *el.phase, *el.loop_phase])


def delay(duration) -> Sequence:
    el = DelayEl(as_expr(duration, "s"))
    return _single(el, [el.duration])


def detect(duration, channel: str = "", label: str = "") -> Sequence:
    el = DetectEl(as_expr(duration, "s"), channel, label)
    return _single(el, [el.duration])


def marker(duration, channel: str = "", label: str = "") -> Sequence:
    el = MarkerEl(as_expr(duration, "s"), channel, label)
    return _single(el, [el.duration])


def repeat(count, body: Sequence) -> Sequence:
    """``repeat count { body }`` (count dimensionless integer, may be a parameter)."""
    c = as_expr(count)
    inner = replace(body, body=(), sweeps=())
    return Sequence(body=(Repeat(c, body.body),), params=_merge_params(
        _params_of([c]), body.params), channels=body.channels, receiver=inner.receiver)


def parallel(*parts: Sequence) -> Sequence:
    """Start every part at the same time; lasts as long as the longest part."""
    out = Sequence()
    for p in parts:
        out = concat(out, p)
    return replace(out, body=(Parallel(out.body),))


def concat(a: Sequence, b: Sequence) -> Sequence:
    """``a`` then ``b``: bodies concatenated, declarations merged (a conflicting
    redeclaration is an error)."""
    chans = list(a.channels)
    for c in b.channels:
        old = next((x for x in chans if x.name == c.name), None)
        if old is None:
            chans.append(c)
        elif old != c:
            raise SequenceError(f"channel {c.name!r} declared twice, differently")
    if a.receiver and b.receiver and a.receiver != b.receiver:
        raise SequenceError("two different receiver phase lists")
    names = {s.name for s in a.sweeps}
    for s in b.sweeps:
        if s.name in names:
            raise SequenceError(f"parameter {s.name!r} swept twice")
    return Sequence(body=a.body + b.body, params=_merge_params(a.params, b.params),
                    channels=tuple(chans), receiver=a.receiver or b.receiver,
                    sweeps=a.sweeps + b.sweeps, name=a.name or b.name)


def _merge_params(a: tuple[Param, ...], b) -> tuple[Param, ...]:
    out = list(a)
    have = {p.name: p for p in a}
    for p in b:
        old = have.get(p.name)
        if old is None:
            out.append(p)
            have[p.name] = p
        elif old != p:
            raise SequenceError(f"parameter {p.name!r} declared twice with different "
                                f"defaults")
    return tuple(out)


def _params_of(exprs) -> tuple[Param, ...]:
    """Declarations carried by Python-API names in ``exprs`` (dependencies first)."""
    out: list[Param] = []
    seen: set[str] = set()

    def visit(e, depth=0):
        if e is None or depth > 100:
            return
        for n in walk_names(e):
            d = n.decl
            if d is None or n.id in seen:
                continue
            seen.add(n.id)
            if d.default is not None:
                visit(d.default, depth + 1)
            out.append(d)

    for e in exprs:
        visit(e)
    return tuple(out)


def _value_expr(value, p: Param, seq: Sequence) -> Expr:
    if isinstance(value, Expr | str):
        return as_expr(value)
    from sequences.bind import param_dim
    from sequences.expr import SI_UNIT

    dim = param_dim(seq, p.name)
    return as_expr(value, SI_UNIT.get(dim, ""))


def iter_elements(body):
    """Depth-first iteration over all elements (loops and parallel blocks included)."""
    stack = list(reversed(body))
    while stack:
        el = stack.pop()
        yield el
        if isinstance(el, Repeat | Parallel):
            stack.extend(reversed(el.body))


def element_exprs(el) -> list[Expr]:
    if isinstance(el, PulseEl):
        return [e for e in (el.duration, el.amp, el.freq, el.offset, el.angle) if e] + \
            list(el.phase) + list(el.loop_phase) + [v for _, v in el.shape_params]
    if isinstance(el, IdealEl):
        return [el.angle, *el.phase, *el.loop_phase]
    if isinstance(el, DelayEl | DetectEl | MarkerEl):
        return [el.duration]
    if isinstance(el, Repeat):
        return [el.count]
    return []


__all__ = [
    "Axis", "Bin", "Call", "ChannelDecl", "DelayEl", "DetectEl", "IdealEl", "MarkerEl",
    "Name", "Neg", "Num", "Parallel", "Param", "PulseEl", "Repeat", "Sequence", "Sweep",
    "channel", "concat", "delay", "detect", "format_expr", "ideal", "iter_elements",
    "marker", "parallel", "param", "phase_tuple", "pulse", "repeat",
]
