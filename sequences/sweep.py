"""Parameter sweeps: ``lin``, ``log`` and explicit lists, several at once.

Order: sweeps nest in declaration order — the **first** declared sweep is the outermost
(slowest-varying) loop and the **last** the innermost (fastest), exactly like nested
``for`` loops written in that order (``itertools.product`` order). With

    sweep T   = [1 us, 2 us]
    sweep tau = lin(1 us, 3 us, 3)

the points are (T, tau) = (1,1) (1,2) (1,3) (2,1) (2,2) (2,3) µs.

``lin(start, stop, n)``: n points, both ends included (``numpy.linspace``).
``log(start, stop, n)``: n points in geometric progression, both ends included
(``numpy.geomspace``; start and stop > 0). The number of points of every sweep and of
their product is checked against :data:`MAX_SWEEP_POINTS` before anything is allocated.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from sequences.errors import SequenceError
from sequences.expr import (
    DIMLESS,
    Num,
    closest,
    dim_name,
    error,
    evaluate,
    expect,
    format_expr,
    parse_quantity,
)
from sequences.model import Sequence, Sweep

MAX_SWEEP_POINTS = 1_000_000


def sweep_values(sw: Sweep, env, dim) -> list[float]:
    """The SI values of one sweep (``dim``: the swept parameter's dimension)."""
    what = f"sweep {sw.name}"
    if sw.kind == "list":
        if len(sw.args) > MAX_SWEEP_POINTS:
            raise error(f"{what}: more than {MAX_SWEEP_POINTS} values", sw.pos)
        return [_val(e, env, dim, what) for e in sw.args]
    start_e, stop_e, n_e = sw.args
    start = _val(start_e, env, dim, what + " start")
    stop = _val(stop_e, env, dim, what + " stop")
    n = expect(evaluate(n_e, env), DIMLESS, what + " number of points", n_e)
    if n < 1 or abs(n - round(n)) > 1e-9:
        raise error(f"{what}: the number of points {format_expr(n_e)!r} must be an integer "
                    ">= 1", n_e.pos or sw.pos)
    n = int(round(n))
    if n > MAX_SWEEP_POINTS:
        raise error(f"{what}: {n} points, more than the limit of {MAX_SWEEP_POINTS}",
                    n_e.pos or sw.pos)
    if sw.kind == "lin":
        return [float(v) for v in np.linspace(start, stop, n)]
    if start <= 0 or stop <= 0:
        raise error(f"{what}: log sweeps need start and stop > 0", sw.pos)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        vals = np.geomspace(start, stop, n)
    vals[0], vals[-1] = start, stop
    if not np.all(np.isfinite(vals)):
        raise error(f"{what}: a log sweep from {start:g} to {stop:g} overflows", sw.pos)
    return [float(v) for v in vals]


def _val(e, env, dim, what) -> float:
    q = evaluate(e, env)
    if q.dim != dim:
        expect(q, dim, what, e)
    return q.value


def sweep_axes(seq: Sequence, fixed: dict | None = None) -> list[tuple[str, list[float]]]:
    """``[(name, values), ...]`` in declaration order (outermost first). A parameter given
    a value in ``fixed`` is not swept (its sweep is dropped: the one rule of
    :func:`apply_options`)."""
    from sequences.bind import param_dim, resolve_params

    fixed = dict(fixed or {})
    env = resolve_params(seq, fixed, partial=True)
    axes = []
    total = 1
    for sw in seq.sweeps:
        if sw.name in fixed:
            continue
        vals = sweep_values(sw, env, param_dim(seq, sw.name))
        total *= len(vals)
        if total > MAX_SWEEP_POINTS:
            raise error(f"the sweeps would have more than {MAX_SWEEP_POINTS} points", sw.pos)
        axes.append((sw.name, vals))
    return axes


def sweep_points(seq: Sequence, fixed: dict | None = None) -> list[dict[str, float]]:
    axes = sweep_axes(seq, fixed)
    names = [a for a, _ in axes]
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(v for _, v in axes))]


def iter_sweep(seq: Sequence, fixed: dict | None = None,
               max_events: int | None = None) -> Iterator[tuple[dict, object]]:
    """Yield ``(point, schedule)``; a sequence without sweeps yields one ({}, schedule)."""
    from sequences.bind import bind

    fixed = dict(fixed or {})
    axes = sweep_axes(seq, fixed)
    names = [a for a, _ in axes]
    for combo in itertools.product(*(v for _, v in axes)):
        point = dict(zip(names, combo, strict=True))
        yield point, bind(seq, {**fixed, **point}, max_events=max_events)


def parse_sweep_option(spec: str) -> Sweep:
    """A command-line sweep: ``name=start:stop:step`` (stop included when it falls on the
    grid), ``name=lin(a, b, n)``, ``name=log(a, b, n)`` or ``name=v1,v2,...``."""
    from sequences.parser import parse_expr

    if "=" not in spec:
        raise SequenceError(f"--sweep {spec!r}: expected name=start:stop:step or "
                            "name=v1,v2,...")
    name, rhs = (s.strip() for s in spec.split("=", 1))
    if not name.isidentifier():
        raise SequenceError(f"--sweep {spec!r}: {name!r} is not a parameter name")
    if rhs.startswith(("lin(", "log(")):
        e = parse_expr(rhs, filename="<--sweep>")
        if len(e.args) != 3:
            raise SequenceError(f"--sweep {spec!r}: {e.fn}(start, stop, n)")
        return Sweep(name, e.fn, e.args)
    if ":" in rhs:
        parts = rhs.split(":")
        if len(parts) != 3:
            raise SequenceError(f"--sweep {spec!r}: expected start:stop:step")
        a, b, st = (parse_quantity(p, None, f"sweep {name}") for p in parts)
        if not (a.dim == b.dim == st.dim):
            raise SequenceError(f"--sweep {spec!r}: start, stop and step must have the same "
                                f"dimension ({dim_name(a.dim)}, {dim_name(b.dim)}, "
                                f"{dim_name(st.dim)})")
        if st.value == 0 or (b.value - a.value) / st.value < -1e-9:
            raise SequenceError(f"--sweep {spec!r}: the step does not lead from start to stop")
        steps = (b.value - a.value) / st.value
        if steps + 1 > MAX_SWEEP_POINTS:
            raise SequenceError(f"--sweep {spec!r}: more than {MAX_SWEEP_POINTS} points")
        n = int(math.floor(steps + 1e-9)) + 1
        start_e = parse_expr(parts[0], filename="<--sweep>")
        if abs(steps - (n - 1)) <= 1e-9 * max(1.0, steps):
            stop_e = parse_expr(parts[1], filename="<--sweep>")
        else:  # the grid stops short of stop
            stop_e = _si_expr(a.value + (n - 1) * st.value, a.dim)
        return Sweep(name, "lin", (start_e, stop_e, Num(float(n))))
    items = [s for s in rhs.split(",") if s.strip()]
    if not items:
        raise SequenceError(f"--sweep {spec!r}: no values")
    return Sweep(name, "list", tuple(parse_expr(s, filename="<--sweep>") for s in items))


def _si_expr(value: float, dim):
    from sequences.expr import SI_UNIT, as_expr

    return as_expr(value, SI_UNIT.get(dim, ""))


def apply_options(seq: Sequence, sets=(), sweeps=()) -> tuple[Sequence, dict]:
    """The one rule for ``--set`` and ``--sweep`` (check, simulate, measure, the Python
    API): ``sweeps`` (``--sweep`` specs) replace or extend the declared sweeps
    (:func:`with_sweep_options`); ``sets`` (``"name=value"`` texts, or a dict name →
    value: a number in SI units or a text with units such as ``"5 us"``) fix parameters, and a
    parameter fixed by ``--set`` is not swept — its *declared* sweep is dropped. Setting
    and sweeping the same parameter on one command line is an error. Returns the sequence
    (with only the sweeps that remain) and the fixed values."""
    from dataclasses import replace

    from sequences.bind import parse_assignments

    if isinstance(sets, dict):
        fixed = dict(sets)
        for k in fixed:
            if not str(k).isidentifier():
                raise SequenceError(f"set {k!r}: not a parameter name")
    else:
        fixed = parse_assignments(list(sets or ()))
    specs = [sweeps] if isinstance(sweeps, str) else list(sweeps or ())
    both = sorted({parse_sweep_option(sp).name for sp in specs} & set(fixed))
    if both:
        raise SequenceError(f"parameter {both[0]!r} is given both --set and --sweep",
                            hint="keep one of them")
    seq = with_sweep_options(seq, specs)
    if any(sw.name in fixed for sw in seq.sweeps):
        seq = replace(seq, sweeps=tuple(sw for sw in seq.sweeps if sw.name not in fixed))
    return seq, fixed


def with_sweep_options(seq: Sequence, specs) -> Sequence:
    """``seq`` with command-line sweeps: each replaces a declared sweep of the same
    parameter (keeping its place in the order) or is appended (innermost)."""
    from dataclasses import replace

    sweeps = list(seq.sweeps)
    known = {p.name for p in seq.params}
    for spec in specs or ():
        sw = parse_sweep_option(spec)
        if sw.name not in known:
            raise SequenceError(f"--sweep: unknown parameter {sw.name!r}",
                                hint=closest(sw.name, known))
        idx = next((i for i, s in enumerate(sweeps) if s.name == sw.name), None)
        if idx is None:
            sweeps.append(sw)
        else:
            sweeps[idx] = sw
    return replace(seq, sweeps=tuple(sweeps))
