"""Export a resolved sequence to Bruker PulseSPEL (Elexsys/Xepr): program text (``.exp``)
plus variable definitions (``.def``).

What PulseSPEL can express, and so what is exported:

* rectangular pulses on the bridge's phase channels ``+x``, ``-x``, ``+y``, ``-y`` (the
  MPFU): pulse phases must be multiples of π/2 (0 → ``+x``, π/2 → ``+y``, π → ``-x``,
  3π/2 → ``-y``; the same azimuth convention as :mod:`sequences.schedule`). Shaped,
  chirped and ideal pulses, and several carrier frequencies, need an AWG and are refused
  with the pulse named;
* one detection window, played as ``acq [sg1]`` (integrator, ``[INTG QUAD]``, gate
  ``pg`` = the window length) or ``dig [sg1]`` (transient, ``[TRANS QUAD]``) after the
  detection trigger offset ``d0`` (bridge-specific: calibrate it; written as 0);
* timing: PulseSPEL places a pulse at the current time and advances the time only by
  delays, so every delay here is **start to start** (from the start of one event to the
  start of the next). Times are written as integers in ns and must be multiples of the
  pulse programmer's ``resolution`` (default 2 ns);
* the phase cycle as a ``begin lists`` block: one ``phN`` list per pulse (a constant
  phase is a one-entry list) and the receiver as ``asg1``/``bsg1``: with the schedule's
  receiver weight w_k = exp(−iψ_k) the two quadrature channels accumulate Re(w·s) and
  Im(w·s) of s = a + ib, so w = 1 → (+a, +b), −1 → (−a, −b), −i → (+b, −a), +i → (−b, +a)
  (receiver phases must be multiples of π/2);
* sweep axes: up to two swept parameters (the last declared is x, the inner loop; the
  one before it y). Every swept time must be a *linear* function of the point index with
  one increment per axis (``d30``, ``d31``, ...): this is checked at every point (up to
  :data:`MAX_CHECKED_POINTS`; beyond, on a grid of points), so a ``log`` sweep, or one
  that reorders events, is refused. A sweep that changes amplitudes, phases or
  frequencies is refused too (PulseSPEL sweeps times; a field sweep is ``bsweep``,
  outside the pulse program).

Amplitudes are not part of PulseSPEL (each MPFU channel's power is set on the bridge):
the definitions list each pulse's amplitude, and a warning is given when two pulses on one
channel need different amplitudes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sequences.errors import SequenceError

__all__ = ["PulseSpelError", "PulseSpelProgram", "to_pulsespel", "MAX_CHECKED_POINTS"]

#: sweep points checked one by one for linear timing (beyond: a grid of points per axis)
MAX_CHECKED_POINTS = 4096
_GRID = 64
_PHASE_NAMES = {0: "+x", 1: "+y", 2: "-x", 3: "-y"}
_RECEIVER = {0: ("+a", "+b"), 1: ("+b", "-a"), 2: ("-a", "-b"), 3: ("-b", "+a")}
# free PulseSPEL variable names (d0: trigger offset, d9: DAF, pg: gate are reserved)
_PULSE_VARS = [f"p{i}" for i in range(32)]
_DELAY_VARS = [f"d{i}" for i in (*range(1, 9), *range(10, 30))]
_INC_VARS = ["d30", "d31", "d29", "d28", "d27", "d26"]


class PulseSpelError(SequenceError):
    """A sequence (or one of its sweep points) that PulseSPEL cannot express."""


@dataclass
class PulseSpelProgram:
    """An exported program: ``experiment`` (the ``.exp`` text), ``definitions`` (the
    ``.def`` text), ``variables`` (name → value written, ns for times), ``axes``
    ([(parameter, n points)], x first) and ``warnings``."""

    name: str
    experiment: str
    definitions: str
    variables: dict[str, float] = field(default_factory=dict)
    axes: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def write(self, base) -> tuple[Path, Path]:
        """Write ``BASE.exp`` and ``BASE.def`` (``base`` without suffix, or with one of
        those suffixes); returns both paths."""
        b = Path(base)
        if b.suffix.lower() in (".exp", ".def"):
            b = b.with_suffix("")
        if not b.parent.is_dir():
            raise PulseSpelError(f"{base}: directory {str(b.parent)!r} does not exist")
        exp, dfn = b.with_name(b.name + ".exp"), b.with_name(b.name + ".def")
        exp.write_text(self.experiment, encoding="latin-1")
        dfn.write_text(self.definitions, encoding="latin-1")
        return exp, dfn


@dataclass(frozen=True)
class _Event:
    kind: str          # "pulse" or "acq"
    label: str
    start: float       # s
    length: float      # s
    phases: tuple[int, ...] = ()   # quarter turns per phase-cycle step (pulses)
    amplitude: float = 0.0
    frequency: float = 0.0


def _timeline(schedule, where: str) -> tuple[list[_Event], tuple[int, ...], list[str]]:
    """Events of one schedule (time order), receiver quarter turns, marker notes."""
    if schedule.ideal_pulses:
        p = schedule.ideal_pulses[0]
        raise PulseSpelError(f"{where}: ideal pulse {p.label or '(unlabelled)'!r} at "
                             f"{p.time:.6g} s cannot be played (drop --set ideal=1)")
    events: list[_Event] = []
    for i, p in enumerate(schedule.pulses):
        name = p.label or f"pulse {i + 1}"
        if p.shape != "rect":
            raise PulseSpelError(f"{where}: pulse {name!r} has shape {p.shape!r}; PulseSPEL's "
                                 "MPFU channels play rectangular pulses only (shaped pulses "
                                 "need the AWG)")
        if p.duration <= 0:
            continue
        quarters = tuple(_quarter(ph, f"{where}: pulse {name!r} phase") for ph in p.phases)
        events.append(_Event("pulse", name, p.start, p.duration, quarters, p.amplitude,
                             p.frequency))
    freqs = sorted({e.frequency for e in events})
    if len(freqs) > 1:
        raise PulseSpelError(f"{where}: pulses at {len(freqs)} carrier frequencies "
                             f"({', '.join(f'{f:.6g} Hz' for f in freqs)}); a PulseSPEL "
                             "program drives one microwave frequency")
    if len(schedule.windows) != 1:
        raise PulseSpelError(f"{where}: {len(schedule.windows)} detection windows; a "
                             "PulseSPEL shot has one acquisition (export an echo train as a "
                             "sweep of its echo index instead)")
    w = schedule.windows[0]
    events.append(_Event("acq", w.label or "detection", w.start, w.duration))
    events.sort(key=lambda e: (e.start, e.kind != "pulse"))
    for a, b in zip(events, events[1:], strict=False):
        if b.start - a.start < 1e-13:
            raise PulseSpelError(f"{where}: {a.label!r} and {b.label!r} start together "
                                 f"({a.start:.6g} s); PulseSPEL needs a delay between events")
        if a.kind == "pulse" and b.kind == "pulse" and b.start < a.start + a.length - 1e-13:
            raise PulseSpelError(f"{where}: pulses {a.label!r} and {b.label!r} overlap")
    receiver = []
    for k, wk in enumerate(schedule.receiver):
        wk = complex(wk)
        if abs(abs(wk) - 1.0) > 1e-9:
            raise PulseSpelError(f"{where}: receiver weight {wk:.4g} of step {k + 1} is not a "
                                 "pure phase")
        receiver.append(_quarter(-math.atan2(wk.imag, wk.real),
                                 f"{where}: receiver phase of step {k + 1}"))
    notes = [f"marker {m.label or m.channel!r} {m.start * 1e9:.6g} ns + "
             f"{m.duration * 1e9:.6g} ns (not in the program)" for m in schedule.markers]
    return events, tuple(receiver), notes


def _quarter(phase: float, what: str) -> int:
    q = phase / (math.pi / 2)
    k = round(q)
    if not math.isfinite(q) or abs(q - k) > 1e-6:
        raise PulseSpelError(f"{what} is {math.degrees(phase):.6g}°; PulseSPEL's channels "
                             "give multiples of 90° only")
    return k % 4


def _timing(events: list[_Event]) -> np.ndarray:
    """[delay before event 0 (from t = 0), start-to-start delays..., lengths...] in s."""
    starts = np.array([e.start for e in events])
    return np.concatenate([[starts[0]], np.diff(starts), [e.length for e in events]])


def to_pulsespel(seq, *, fixed: dict | None = None, name: str | None = None, shots: int = 1,
                 scans: int = 1, repetition_time: float | None = None, mode: str = "INTG",
                 resolution: float = 2e-9) -> PulseSpelProgram:
    """Export ``seq`` (a :class:`~sequences.model.Sequence` with its sweeps, or a resolved
    :class:`~sequences.schedule.Schedule`) as a :class:`PulseSpelProgram`.

    ``fixed``: parameter values (as for ``bind``); ``shots``: shots per point (``h``);
    ``scans``: scans accumulated (``n``); ``repetition_time`` (s): the shot repetition time
    (``srt``, in units of ``srtu`` ≈ 1 µs; default: the shot length rounded up to whole µs —
    set it to a few T1); ``mode``: ``"INTG"`` (integrator) or ``"TRANS"`` (transient);
    ``resolution`` (s): the pulse programmer's time grid. Raises :class:`PulseSpelError`.
    """
    from sequences.schedule import Schedule

    mode = str(mode).upper()
    if mode not in ("INTG", "TRANS"):
        raise PulseSpelError(f"mode {mode!r}: expected INTG or TRANS")
    for what, v in (("shots", shots), ("scans", scans)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 2**31 - 1:
            raise PulseSpelError(f"{what} must be a whole number in 1..2^31-1, got {v!r}")
    if not (isinstance(resolution, (int, float)) and math.isfinite(resolution)
            and 1e-9 <= resolution <= 1e-6
            and abs(resolution * 1e9 - round(resolution * 1e9)) < 1e-6):
        raise PulseSpelError(f"resolution {resolution!r} s: expected a whole number of ns "
                             "(PulseSPEL times are integers in ns), 1 ns..1 µs")
    if isinstance(seq, Schedule):
        axes: list[tuple[str, list[float]]] = []
        title = name or seq.name or "spinecho"

        def bind_at(_idx):
            return seq
    else:
        from sequences.sweep import sweep_axes

        fixed = dict(fixed or {})
        all_axes = sweep_axes(seq, fixed)
        if len(all_axes) > 2:
            raise PulseSpelError(f"{len(all_axes)} swept parameters "
                                 f"({', '.join(a for a, _ in all_axes)}); PulseSPEL has two "
                                 "sweep axes (x, y)")
        axes = list(reversed(all_axes))  # x (innermost) first
        title = name or seq.name or "spinecho"

        def bind_at(idx):
            point = {axes[j][0]: axes[j][1][i] for j, i in enumerate(idx)}
            return seq.bind_values({**fixed, **point})
    ndim = len(axes)
    sizes = [len(v) for _, v in axes]
    axis_is_time = [False] * ndim
    if ndim:
        from sequences.bind import param_dim
        from sequences.expr import TIME

        axis_is_time = [param_dim(seq, a) == TIME for a, _ in axes]
    zero = (0,) * ndim

    def point_name(idx) -> str:
        if not ndim:
            return "the sequence"
        return "point " + ", ".join(f"{axes[j][0]}={axes[j][1][i]:.6g}"
                                    for j, i in enumerate(idx))

    base_sched = bind_at(zero)
    events, receiver, notes = _timeline(base_sched, point_name(zero))
    base = _timing(events)
    incs = []
    for j in range(ndim):
        if sizes[j] < 2:
            incs.append(np.zeros_like(base))
            continue
        idx = tuple(1 if k == j else 0 for k in range(ndim))
        ev1, _, _ = _timeline(bind_at(idx), point_name(idx))
        _same_structure(events, ev1, point_name(idx))
        incs.append(_timing(ev1) - base)
    # every point (or a grid of points) must follow base + Σ index·increment
    total = math.prod(sizes) if ndim else 1
    if ndim:
        ranges = [range(n) if total <= MAX_CHECKED_POINTS else
                  sorted(set(np.linspace(0, n - 1, min(n, _GRID)).round().astype(int).tolist()))
                  for n in sizes]
        for idx in itertools.product(*ranges):
            if all(i == 0 for i in idx) or sum(i != 0 for i in idx) == 1 and max(idx) == 1:
                continue
            ev, rec, _ = _timeline(bind_at(idx), point_name(idx))
            _same_structure(events, ev, point_name(idx))
            if rec != receiver:
                raise PulseSpelError(f"{point_name(idx)}: the receiver phases change along "
                                     "the sweep")
            want = base + sum(i * inc for i, inc in zip(idx, incs, strict=True))
            got = _timing(ev)
            bad = np.flatnonzero(np.abs(got - want) > 1e-3 * resolution + 1e-15)
            if bad.size:
                raise PulseSpelError(
                    f"{point_name(idx)}: {_what(events, int(bad[0]))} is "
                    f"{got[bad[0]] * 1e9:.6g} ns, not {want[bad[0]] * 1e9:.6g} ns as a "
                    "constant increment per sweep step would give; PulseSPEL sweeps change "
                    "times linearly (use a lin sweep)")

    def ns(v: float, what: str) -> int:
        q = v / resolution
        if abs(q - round(q)) > 1e-6:
            raise PulseSpelError(f"{what} is {v * 1e9:.6g} ns, not a multiple of the "
                                 f"{resolution * 1e9:.6g} ns time grid")
        return int(round(round(q) * resolution * 1e9))

    n_ev = len(events)
    for i, v in enumerate(base):
        if v < -1e-15:
            raise PulseSpelError(f"{_what(events, i)} is negative ({v * 1e9:.6g} ns)")
    # ---- variables
    variables: dict[str, float] = {}
    def_lines: list[tuple[str, str, str]] = []   # (name, value text, comment)
    exp_pre: list[str] = []        # before the x loop (y-resets / x-resets)
    exp_x_inc: list[str] = []      # after the shots
    exp_y_inc: list[str] = []      # after next x
    exp_y_reset: list[str] = []    # before the y loop
    warnings: list[str] = []
    pulse_vars = iter(_PULSE_VARS)
    delay_vars = iter(_DELAY_VARS)
    inc_vars = iter(_INC_VARS)
    inc_names: dict[int, str] = {}
    shared: dict[tuple, str] = {}

    def take(it, what):
        try:
            return next(it)
        except StopIteration:
            raise PulseSpelError(f"too many {what} for PulseSPEL's variables") from None

    def inc_var(value_ns: int, axis: str) -> str:
        """``+dN`` or ``-dN``: increments are stored as positive delays."""
        size = abs(value_ns)
        if size not in inc_names:
            v = take(inc_vars, "different increments")
            inc_names[size] = v
            variables[v] = size
            def_lines.append((v, str(size), f"increment per {axis} step (ns)"))
        return ("+" if value_ns > 0 else "-") + inc_names[size]

    def variable(i: int, kind: str) -> str:
        what = _what(events, i)
        b = ns(base[i], what)
        steps = tuple(ns(inc[i], f"the sweep increment of {what}") for inc in incs)
        key = (kind, b, steps)
        if key in shared:
            return shared[key]
        var = take(pulse_vars if kind == "p" else delay_vars,
                   "pulse lengths" if kind == "p" else "delays")
        variables[var] = b
        def_lines.append((var, str(b), what + (" (first point)" if any(steps) else "") +
                          " (ns)"))
        if not any(steps):
            shared[key] = var
            return var
        work = take(pulse_vars if kind == "p" else delay_vars, "working copies")
        if ndim == 2 and steps[1]:
            ywork = take(delay_vars if kind == "d" else pulse_vars, "working copies")
            exp_y_reset.append(f"{ywork}={var}")
            exp_pre.append(f"{work}={ywork}")
            exp_y_inc.append(f"{ywork}={ywork}{inc_var(steps[1], axes[1][0])}")
        else:
            exp_pre.append(f"{work}={var}")
        if steps[0]:
            exp_x_inc.append(f"{work}={work}{inc_var(steps[0], axes[0][0])}")
        shared[key] = work
        return work

    body: list[str] = []
    lead = variable(0, "d") if base[0] > 0 or any(inc[0] for inc in incs) else None
    if lead:
        body.append(f"{lead:<20}; start of the shot -> {events[0].label!r}")
    lists: list[tuple[str, tuple[int, ...]]] = []
    gate = None
    for j, ev in enumerate(events):
        if j > 0:
            dv = variable(j, "d")
            body.append(f"{dv:<20}; {events[j - 1].label!r} -> {ev.label!r} (start to start)")
        if ev.kind == "pulse":
            pv = variable(n_ev + j, "p")
            ph = next((n for n, cyc in lists if cyc == ev.phases), None)
            if ph is None:
                ph = f"ph{len(lists) + 1}"
                lists.append((ph, ev.phases))
            body.append(f"{pv + ' [' + ph + ']':<20}; {ev.label!r}, amplitude "
                        f"{ev.amplitude:.6g} T")
        else:
            if any(inc[n_ev + j] for inc in incs):
                raise PulseSpelError(f"the detection window {ev.label!r} changes length along "
                                     "the sweep; the integrator gate pg is fixed")
            gate = ns(base[n_ev + j], f"detection window {ev.label!r}")
            body.append(f"{'d0':<20}; detection trigger offset (calibrate on your bridge)")
            body.append(f"{('acq' if mode == 'INTG' else 'dig') + ' [sg1]':<20}; "
                        f"{ev.label!r}: {'integrate over pg' if mode == 'INTG' else 'transient'}")
    # amplitudes per MPFU channel
    per_channel: dict[str, set] = {}
    for ev in events:
        if ev.kind == "pulse":
            for q in set(ev.phases):
                per_channel.setdefault(_PHASE_NAMES[q], set()).add(round(ev.amplitude, 15))
    for ch, amps in sorted(per_channel.items()):
        if len(amps) > 1:
            warnings.append(f"channel {ch} plays pulses of {len(amps)} amplitudes "
                            f"({', '.join(f'{a:.4g} T' for a in sorted(amps))}); an MPFU "
                            "channel has one power setting")
    # ---- text
    dur = base_sched.duration
    srt_us = math.ceil(max(dur, 1e-6) / 1e-6 - 1e-9) if repetition_time is None else None
    if repetition_time is not None:
        if not (isinstance(repetition_time, (int, float)) and math.isfinite(repetition_time)
                and 0 < repetition_time <= 100.0):
            raise PulseSpelError(f"repetition_time {repetition_time!r} s: expected 0 < t <= 100 s")
        srt_us = max(1, round(repetition_time / 1e-6))
        if repetition_time < dur:
            raise PulseSpelError(f"repetition_time {repetition_time:.6g} s is shorter than the "
                                 f"shot ({dur:.6g} s)")
    def_lines += [("pg", str(gate), "integrator gate = detection window (ns)"),
                  ("d0", "0", "detection trigger offset: calibrate on your bridge (ns)"),
                  ("h", str(int(shots)), "shots per point"),
                  ("n", str(int(scans)), "scans"),
                  ("srt", f"{srt_us} * srtu", "shot repetition time (srtu ~ 1 us)")]
    variables.update({"pg": gate, "d0": 0, "h": int(shots), "n": int(scans), "srt_us": srt_us})
    for j, (pname, vals) in enumerate(axes):
        dvar = ("dx", "dy")[j]
        first, step = vals[0], (vals[1] - vals[0]) if len(vals) > 1 else 0.0
        unit = "SI"
        if axis_is_time[j]:  # a time axis in ns, like every PulseSPEL time
            first, step, unit = round(first * 1e9, 6), round(step * 1e9, 6), "ns"
        def_lines.append((dvar, f"{first:.10g}", f"{'xy'[j]} axis: {pname}, first value "
                                                  f"({unit})"))
        variables[dvar] = first
        if step:  # reset at the start of its loop, incremented after each step
            (exp_pre if j == 0 else exp_y_reset).append(f"{dvar}={first:.10g}")
            (exp_x_inc if j == 0 else exp_y_inc).append(
                f"{dvar}={dvar}{'+' if step > 0 else '-'}{abs(step):.10g}")
    head = [f"; PulseSPEL export of sequence {title!r} by spinecho",
            "; times in ns, start to start; amplitudes are set on the bridge (see comments)"]
    head += [f"; note: {n}" for n in notes] + [f"; warning: {w}" for w in warnings]
    definitions = "\n".join(head + ["", "begin defs"] +
                            [f"{n:<5}= {v:<14}; {c}" for n, v, c in def_lines] +
                            ["end defs", ""])
    dims = ",".join(str(n) for n in sizes) if ndim else "1"
    out = head + ["", "begin defs", f" dim s[{dims}]", "end defs", "",
                  f'begin lists "{title[:30]}"']
    out += [f" {n} " + " ".join(_PHASE_NAMES[q] for q in (cyc[:1] if len(set(cyc)) == 1
                                                         else cyc)) for n, cyc in lists]
    out += [" asg1 " + " ".join(_RECEIVER[q][0] for q in receiver),
            " bsg1 " + " ".join(_RECEIVER[q][1] for q in receiver),
            "end lists", "", f'begin exp "{title[:30]}" [{mode} QUAD]', "",
            " totscans(n)", " for k=1 to n"]
    ind = "  "
    if ndim == 2:
        out += [ind + s for s in exp_y_reset] + [ind + "sweep y=1 to sy"]
        ind += "  "
    out += [ind + s for s in exp_pre]
    if ndim >= 1:
        out.append(ind + "sweep x=1 to sx")
        ind += "  "
    out.append(ind + "shot i=1 to h")
    out += [ind + "  " + s for s in body]
    out.append(ind + "next i")
    if ndim >= 1:
        out += [ind + s for s in exp_x_inc]
        ind = ind[:-2]
        out.append(ind + "next x")
    if ndim == 2:
        out += [ind + s for s in exp_y_inc]
        ind = ind[:-2]
        out.append(ind + "next y")
    out += ["  scansdone(k)", " next k", "", "end exp", ""]
    return PulseSpelProgram(name=title, experiment="\n".join(out), definitions=definitions,
                            variables=variables,
                            axes=[(a, len(v)) for a, v in axes], warnings=warnings)


def _same_structure(a: list[_Event], b: list[_Event], where: str) -> None:
    sig_a = [(e.kind, e.label, e.phases, e.amplitude, e.frequency) for e in a]
    sig_b = [(e.kind, e.label, e.phases, e.amplitude, e.frequency) for e in b]
    if [s[:2] for s in sig_a] != [s[:2] for s in sig_b]:
        raise PulseSpelError(f"{where}: the events come in another order or number than at "
                             "the first point; PulseSPEL sweeps keep the event order")
    for sa, sb in zip(sig_a, sig_b, strict=True):
        if sa != sb:
            raise PulseSpelError(f"{where}: pulse {sa[1]!r} changes phase, amplitude or "
                                 "frequency along the sweep; PulseSPEL sweeps change times "
                                 "only")


def _what(events: list[_Event], i: int) -> str:
    n = len(events)
    if i == 0:
        return f"the delay before {events[0].label!r}"
    if i < n:
        return f"the delay {events[i - 1].label!r} -> {events[i].label!r}"
    e = events[i - n]
    return f"the length of {e.label!r}"
