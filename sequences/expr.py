"""Expressions of the sequence language: quantities with units and dimensions.

An expression is a small immutable tree (:class:`Num`, :class:`Name`, :class:`Neg`,
:class:`Bin`, :class:`Call`, :class:`Axis`) built by the parser or by Python operators,
evaluated to a :class:`Quantity` (an SI value with a dimension) against an environment of
parameter values. Nothing here ever calls Python ``eval``.

Dimensions are exponents of three base quantities: time (s), magnetic field (T) and
plane angle (rad). A frequency is time⁻¹ (Hz = 1/s, cyclic). Angles are a dimension of
their own so that a phase written without a unit (``phase = 90``) is an error rather than
90 rad; ``deg`` and ``rad`` convert. A bare number is dimensionless.

Units (case-sensitive): ``s ms us µs μs ns ps``; ``Hz kHz MHz GHz``; ``T mT uT µT μT nT G
mG``; ``rad mrad deg``. A number may be followed by a unit (``2 us``, ``4MHz``); a unit
name may also be used as a factor (``pi / 2 * rad``).

Functions: ``sqrt abs min max floor ceil round sin cos exp log``; constant ``pi``.
"""

from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sequences.errors import SequenceError

Dim = tuple[int, int, int]  # (time, tesla, angle) exponents

DIMLESS: Dim = (0, 0, 0)
TIME: Dim = (1, 0, 0)
FREQUENCY: Dim = (-1, 0, 0)
FIELD: Dim = (0, 1, 0)
ANGLE: Dim = (0, 0, 1)

UNITS: dict[str, tuple[float, Dim]] = {
    "s": (1.0, TIME), "ms": (1e-3, TIME), "us": (1e-6, TIME), "µs": (1e-6, TIME),
    "μs": (1e-6, TIME), "ns": (1e-9, TIME), "ps": (1e-12, TIME),
    "Hz": (1.0, FREQUENCY), "kHz": (1e3, FREQUENCY), "MHz": (1e6, FREQUENCY),
    "GHz": (1e9, FREQUENCY),
    "T": (1.0, FIELD), "mT": (1e-3, FIELD), "uT": (1e-6, FIELD), "µT": (1e-6, FIELD),
    "μT": (1e-6, FIELD), "nT": (1e-9, FIELD), "G": (1e-4, FIELD), "mG": (1e-7, FIELD),
    "rad": (1.0, ANGLE), "mrad": (1e-3, ANGLE), "deg": (math.pi / 180.0, ANGLE),
}

#: sub-units applied by dividing by an exact integer (100 ns = 100 / 1e9 s, correctly
#: rounded, where 100 * 1e-9 would not be)
_DIVISORS = {u: round(1.0 / sc) for u, (sc, _) in UNITS.items()
             if sc < 1 and abs(1.0 / sc - round(1.0 / sc)) < 1e-6}


def unit_value(number: float, unit: str) -> float:
    """``number`` in ``unit`` → SI value (correctly rounded for decimal prefixes)."""
    div = _DIVISORS.get(unit)
    if div is not None:
        return number / div
    return number * UNITS[unit][0]


#: unit used when printing a value of a given dimension (SI)
SI_UNIT: dict[Dim, str] = {TIME: "s", FREQUENCY: "Hz", FIELD: "T", ANGLE: "rad", DIMLESS: ""}

_DIM_NAMES = {DIMLESS: "dimensionless", TIME: "time", FREQUENCY: "frequency",
              FIELD: "field", ANGLE: "angle"}
_DIM_EXAMPLES = {TIME: "e.g. 200 ns", FREQUENCY: "e.g. 4 MHz", FIELD: "e.g. 0.5 mT",
                 ANGLE: "e.g. 90 deg", DIMLESS: "a plain number"}

FUNCTIONS = ("sqrt", "abs", "min", "max", "floor", "ceil", "round", "sin", "cos", "exp",
             "log")
CONSTANTS = {"pi": math.pi}
AXES = {"x": 0.0, "y": 0.5 * math.pi, "-x": math.pi, "-y": 1.5 * math.pi}


def dim_name(dim: Dim) -> str:
    """Human name of a dimension, e.g. ``"time"`` or ``"s^-2 T"``."""
    if dim in _DIM_NAMES:
        return _DIM_NAMES[dim]
    parts = []
    for sym, e in zip(("s", "T", "rad"), dim, strict=True):
        if e:
            parts.append(sym if e == 1 else f"{sym}^{e}")
    return " ".join(parts)


def dim_example(dim: Dim) -> str:
    return _DIM_EXAMPLES.get(dim, f"a {dim_name(dim)}")


class Pos(NamedTuple):
    """Where a piece of text came from (1-based line and column) and the line itself."""

    filename: str
    line: int
    column: int
    text: str


def error(message: str, pos: Pos | None = None, hint: str | None = None,
          cls: type[SequenceError] = SequenceError) -> SequenceError:
    """A :class:`SequenceError` located at ``pos`` (if known)."""
    if pos is None:
        return cls(message, hint=hint)
    return cls(message, filename=pos.filename, line=pos.line, column=pos.column,
               source_line=pos.text, hint=hint)


def closest(name: str, known) -> str | None:
    """A hint naming the closest known name (difflib), or None."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if not match and known:
        lowered = {k.lower(): k for k in known}
        if name.lower() in lowered:
            match = [lowered[name.lower()]]
    return f"did you mean {match[0]!r}?" if match else None


# --------------------------------------------------------------------------- quantities
class Quantity:
    """An SI value with a dimension (see module docstring)."""

    __slots__ = ("value", "dim", "scale")

    def __init__(self, value: float, dim: Dim = DIMLESS, scale: float | None = None):
        self.value = float(value)
        self.dim = dim
        #: the largest magnitude among the terms summed into ``value`` (bounds its
        #: rounding error: see ``_sum``)
        self.scale = abs(self.value) if scale is None else scale

    def __repr__(self) -> str:
        return f"Quantity({self.value!r}, {self.dim!r})"

    def __eq__(self, other) -> bool:
        return (isinstance(other, Quantity) and self.value == other.value
                and self.dim == other.dim)

    __hash__ = None  # type: ignore[assignment]

    def text(self) -> str:
        """Readable form with an engineering prefix (``2 us``, ``4 MHz``)."""
        return format_quantity(self.value, self.dim)


_PREFIXED = {
    TIME: (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9), ("ps", 1e-12)),
    FREQUENCY: (("GHz", 1e9), ("MHz", 1e6), ("kHz", 1e3), ("Hz", 1.0)),
    FIELD: (("T", 1.0), ("mT", 1e-3), ("uT", 1e-6), ("nT", 1e-9)),
}


def format_quantity(value: float, dim: Dim, digits: int = 6) -> str:
    """``value`` (SI) in a readable unit: the largest prefix giving |number| ≥ 1."""
    if dim == ANGLE:
        return f"{math.degrees(value):.{digits}g} deg"
    if dim in _PREFIXED:
        units = _PREFIXED[dim]
        for sym, scale in units:
            if abs(value) >= scale * (1 - 1e-9):  # 9.99999999e-13 s is "1 ps"
                return f"{value / scale:.{digits}g} {sym}"
        if not value:
            return f"0 {units[0][0]}"
        return f"{value:.{digits}g} {units[0][0]}"  # below every prefix: plain SI
    unit = SI_UNIT.get(dim) or dim_name(dim)
    return f"{value:.{digits}g}" + (f" {unit}" if dim != DIMLESS else "")


# --------------------------------------------------------------------------- expression tree
class Expr:
    """Base of expression nodes. Python operators build new nodes, so the Python API can
    write ``tau - t90 / 2``."""

    pos: Pos | None

    def __add__(self, other): return Bin("+", self, as_expr(other))
    def __radd__(self, other): return Bin("+", as_expr(other), self)
    def __sub__(self, other): return Bin("-", self, as_expr(other))
    def __rsub__(self, other): return Bin("-", as_expr(other), self)
    def __mul__(self, other): return Bin("*", self, as_expr(other))
    def __rmul__(self, other): return Bin("*", as_expr(other), self)
    def __truediv__(self, other): return Bin("/", self, as_expr(other))
    def __rtruediv__(self, other): return Bin("/", as_expr(other), self)
    def __pow__(self, other): return Bin("^", self, as_expr(other))
    def __neg__(self): return Neg(self)

    def to_text(self) -> str:
        return format_expr(self)

    def names(self) -> set[str]:
        """Parameter names this expression refers to."""
        out: set[str] = set()
        _collect_names(self, out)
        return out


@dataclass(frozen=True, eq=True)
class Num(Expr):
    value: float
    unit: str = ""
    pos: Pos | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if not math.isfinite(self.value) or self.value < 0:
            raise error(f"number {self.value!r} must be finite and >= 0 (write -x for "
                        "negative values)", self.pos)
        if self.unit and self.unit not in UNITS:
            raise error(f"unknown unit {self.unit!r}", self.pos,
                        hint=closest(self.unit, UNITS) or "known units: "
                        + " ".join(u for u in UNITS if u.isascii()))



@dataclass(frozen=True, eq=True)
class Name(Expr):
    id: str
    pos: Pos | None = field(default=None, compare=False, repr=False)
    #: the declaration (Python API only; ignored by equality)
    decl: Any = field(default=None, compare=False, repr=False)



@dataclass(frozen=True, eq=True)
class Neg(Expr):
    operand: Expr
    pos: Pos | None = field(default=None, compare=False, repr=False)



@dataclass(frozen=True, eq=True)
class Bin(Expr):
    op: str
    left: Expr
    right: Expr
    pos: Pos | None = field(default=None, compare=False, repr=False)



@dataclass(frozen=True, eq=True)
class Call(Expr):
    fn: str
    args: tuple[Expr, ...]
    pos: Pos | None = field(default=None, compare=False, repr=False)



@dataclass(frozen=True, eq=True)
class Axis(Expr):
    """A phase axis: ``x`` (0), ``y`` (90°), ``-x`` (180°), ``-y`` (270°)."""

    axis: str
    pos: Pos | None = field(default=None, compare=False, repr=False)



def as_expr(value, unit: str = "") -> Expr:
    """Coerce a Python value to an expression.

    * an :class:`Expr` is returned as is;
    * a string is parsed as an expression (``"200 ns"``, ``"tau - t90/2"``, ``"-x"``);
    * a real number is taken in the SI unit ``unit`` (``"s"`` for durations, ``"Hz"``,
      ``"T"``, ``"rad"``; ``""`` dimensionless). Negative numbers become ``Neg``.
    """
    if isinstance(value, Expr):
        return value
    if isinstance(value, str):
        from sequences.parser import parse_expr

        return parse_expr(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SequenceError(f"cannot use {value!r} ({type(value).__name__}) as an expression")
    v = real(value, "value")
    if v < 0:
        return Neg(Num(-v, unit))
    return Num(v, unit)


def real(value, what: str) -> float:
    """``float(value)`` for a Python number (int of any size, float, numpy scalar), as a
    :class:`SequenceError` naming ``what`` when it has no finite float value (``10**400``,
    inf, NaN) or is not a number."""
    try:
        v = float(value)
    except OverflowError:
        raise SequenceError(f"{what}: {_short(value)} is too large (beyond ±1.8e308)") from None
    except (TypeError, ValueError):
        raise SequenceError(f"{what}: cannot use {_short(value)} as a number") from None
    if not math.isfinite(v):
        raise SequenceError(f"{what}: {value!r} is not finite")
    return v


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:18]}...{text[-8:]} ({len(text)} digits)"


def _collect_names(e: Expr, out: set[str]) -> None:
    if isinstance(e, Name):
        out.add(e.id)
    elif isinstance(e, Neg):
        _collect_names(e.operand, out)
    elif isinstance(e, Bin):
        _collect_names(e.left, out)
        _collect_names(e.right, out)
    elif isinstance(e, Call):
        for a in e.args:
            _collect_names(a, out)


def walk_names(e: Expr):
    """Yield every :class:`Name` node of ``e``."""
    stack = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, Name):
            yield n
        elif isinstance(n, Neg):
            stack.append(n.operand)
        elif isinstance(n, Bin):
            stack.extend((n.right, n.left))
        elif isinstance(n, Call):
            stack.extend(reversed(n.args))


# --------------------------------------------------------------------------- text form
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}


def format_number(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def format_expr(e: Expr, parent: int = 0) -> str:
    """Text that parses back to an equal expression."""
    if isinstance(e, Num):
        s = format_number(e.value)
        return f"{s} {e.unit}" if e.unit else s
    if isinstance(e, Name):
        return e.id
    if isinstance(e, Axis):
        return e.axis
    if isinstance(e, Call):
        return f"{e.fn}(" + ", ".join(format_expr(a) for a in e.args) + ")"
    if isinstance(e, Neg):
        s = "-" + format_expr(e.operand, 3)
        return f"({s})" if parent > 3 else s
    if isinstance(e, Bin):
        p = _PREC[e.op]
        if e.op == "^":  # right-associative, binds tighter than unary minus on the left
            s = f"{format_expr(e.left, 5)} ^ {format_expr(e.right, 3)}"
        else:
            s = f"{format_expr(e.left, p)} {e.op} {format_expr(e.right, p + 1)}"
        return f"({s})" if p < parent else s
    raise TypeError(f"not an expression: {e!r}")


# --------------------------------------------------------------------------- evaluation
def evaluate(e: Expr, env: dict[str, Quantity]) -> Quantity:
    """Evaluate ``e`` with parameter values ``env``; raises :class:`SequenceError` for
    unknown names, dimension mismatches and non-finite results (located at the node)."""
    try:
        q = _eval(e, env)
    except RecursionError:
        raise error("expression nested too deeply", getattr(e, "pos", None)) from None
    if not math.isfinite(q.value):
        raise error(f"expression {format_expr(e)!r} is not finite ({q.value})", e.pos)
    return q


def _eval(e: Expr, env: dict[str, Quantity]) -> Quantity:
    t = type(e)
    if t is Num:
        if e.unit:
            return Quantity(unit_value(e.value, e.unit), UNITS[e.unit][1])
        return Quantity(e.value)
    if t is Name:
        q = env.get(e.id)
        if q is not None:
            return q
        if e.id in CONSTANTS:
            return Quantity(CONSTANTS[e.id])
        if e.id in UNITS:
            scale, dim = UNITS[e.id]
            return Quantity(scale, dim)
        if e.id in ("x", "y"):
            raise error(f"phase axis {e.id!r} used in an arithmetic expression", e.pos,
                        hint="axes are allowed only as a whole phase value, e.g. "
                        "phase=[x, -x]; in arithmetic write 0 deg or 90 deg")
        known = list(env) + list(CONSTANTS)
        raise error(f"unknown name {e.id!r}", e.pos,
                    hint=closest(e.id, known + list(UNITS)) or "declare it with "
                    f"'param {e.id} = ...'")
    if t is Bin:
        a = _eval(e.left, env)
        b = _eval(e.right, env)
        op = e.op
        if op in "+-":
            if a.dim != b.dim:
                raise error(f"cannot {'add' if op == '+' else 'subtract'} {dim_name(b.dim)} "
                            f"{'to' if op == '+' else 'from'} {dim_name(a.dim)} in "
                            f"{format_expr(e)!r}", e.pos or e.left.pos,
                            hint="check the units of both sides")
            scale = max(a.scale, b.scale)
            return Quantity(_sum(a.value, b.value if op == "+" else -b.value, scale), a.dim,
                            scale)
        if op == "*":
            return Quantity(a.value * b.value, _add(a.dim, b.dim), a.scale * b.scale)
        if op == "/":
            if b.value == 0:
                raise error(f"division by zero in {format_expr(e)!r}", e.pos or e.left.pos)
            return Quantity(a.value / b.value, _sub(a.dim, b.dim), a.scale / abs(b.value))
        if op == "^":
            if b.dim != DIMLESS:
                raise error("an exponent must be dimensionless", e.pos or e.right.pos)
            if a.dim != DIMLESS:
                if b.value != int(b.value):
                    raise error("a quantity with units can only be raised to an integer "
                                "power", e.pos or e.right.pos)
                n = int(b.value)
                if abs(n) > 16:
                    raise error("exponent too large for a quantity with units", e.pos)
                try:
                    v = a.value ** n
                except (OverflowError, ZeroDivisionError):
                    raise error(f"{format_expr(e)!r} overflows", e.pos or e.left.pos) from None
                return Quantity(v, tuple(d * n for d in a.dim))
            try:
                v = a.value ** b.value
            except (OverflowError, ZeroDivisionError):
                raise error(f"{format_expr(e)!r} overflows", e.pos or e.left.pos) from None
            if isinstance(v, complex):
                raise error(f"{format_expr(e)!r} is not real", e.pos or e.left.pos)
            return Quantity(v)
        raise AssertionError(op)
    if t is Neg:
        a = _eval(e.operand, env)
        return Quantity(-a.value, a.dim, a.scale)
    if t is Call:
        return _call(e, [_eval(a, env) for a in e.args])
    if t is Axis:
        return Quantity(AXES[e.axis], ANGLE)
    raise TypeError(f"not an expression: {e!r}")


#: a sum that cancels to within this many units of the operands' last place is exactly 0
CANCEL_ULPS = 64


def _sum(a: float, b: float, scale: float) -> float:
    """``a + b`` with cancellation to rounding noise made exact: ``0.3 us - 0.1 us -
    0.2 us`` is 0, not -2.6e-23 s. ``scale`` is the largest magnitude among all the terms
    that went into ``a`` and ``b`` (their rounding errors are a few ulps of it). A result
    within CANCEL_ULPS · ε · scale of zero (1.4e-14 relative: 14 fs on a 1 s delay, far
    below any sample period) comes only from decimal values that binary floating point
    cannot hold, never from a physical difference."""
    r = a + b
    if r != 0.0 and abs(r) <= CANCEL_ULPS * sys.float_info.epsilon * scale:
        return 0.0
    return r


def _add(a: Dim, b: Dim) -> Dim:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _sub(a: Dim, b: Dim) -> Dim:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _call(e: Call, args: list[Quantity]) -> Quantity:
    fn = e.fn
    pos = e.pos
    if fn not in FUNCTIONS:
        raise error(f"unknown function {fn!r}", pos, hint=closest(fn, FUNCTIONS)
                    or "functions: " + ", ".join(FUNCTIONS))
    if fn in ("min", "max"):
        if not args:
            raise error(f"{fn}() needs at least one argument", pos)
        dims = {a.dim for a in args}
        if len(dims) > 1:
            raise error(f"{fn}() of quantities with different dimensions", pos)
        vals = [a.value for a in args]
        return Quantity(min(vals) if fn == "min" else max(vals), args[0].dim)
    if len(args) != 1:
        raise error(f"{fn}() takes one argument, got {len(args)}", pos)
    a = args[0]
    try:
        if fn == "abs":
            return Quantity(abs(a.value), a.dim)
        if fn == "sqrt":
            if any(d % 2 for d in a.dim):
                raise error(f"sqrt of a {dim_name(a.dim)} has no dimension", pos)
            if a.value < 0:
                raise error("sqrt of a negative number", pos)
            return Quantity(math.sqrt(a.value), tuple(d // 2 for d in a.dim))
        if fn in ("floor", "ceil", "round"):
            if a.dim != DIMLESS:
                raise error(f"{fn}() needs a dimensionless argument, got a {dim_name(a.dim)}",
                            pos, hint="divide by a unit first, e.g. floor(T / tau)")
            f = {"floor": math.floor, "ceil": math.ceil, "round": round}[fn]
            return Quantity(float(f(a.value)))
        if fn in ("sin", "cos"):
            if a.dim not in (ANGLE, DIMLESS):
                raise error(f"{fn}() needs an angle, got a {dim_name(a.dim)}", pos)
            return Quantity(math.sin(a.value) if fn == "sin" else math.cos(a.value))
        if fn in ("exp", "log"):
            if a.dim != DIMLESS:
                raise error(f"{fn}() needs a dimensionless argument, got a "
                            f"{dim_name(a.dim)}", pos)
            if fn == "log" and a.value <= 0:
                raise error("log of a number <= 0", pos)
            return Quantity(math.exp(a.value) if fn == "exp" else math.log(a.value))
    except (OverflowError, ValueError):
        raise error(f"{fn}() out of range", pos) from None
    raise AssertionError(fn)


def expect(q: Quantity, dim: Dim, what: str, e: Expr) -> float:
    """``q.value`` if ``q`` has dimension ``dim``; else a located error naming ``what``."""
    if q.dim == dim:
        return q.value
    if q.dim == DIMLESS and dim != DIMLESS:
        msg = f"{what} needs a unit: {format_expr(e)!r} is a plain number"
    else:
        msg = f"{what} must be a {dim_name(dim)}, but {format_expr(e)!r} is a {dim_name(q.dim)}"
    raise error(msg, e.pos, hint=f"write {dim_example(dim)}")


def parse_quantity(text: str, dim: Dim | None = None, what: str = "value") -> Quantity:
    """Parse a user string such as ``"200 ns"`` or ``"4 MHz"`` (constant expression)."""
    from sequences.parser import parse_expr

    e = parse_expr(text, filename=f"<{what}>")
    q = evaluate(e, {})
    if dim is not None:
        expect(q, dim, what, e)
    return q
