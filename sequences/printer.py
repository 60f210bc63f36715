"""Sequence → canonical text that parses back to an equal :class:`Sequence`.

Includes are written expanded (the model holds the expanded form), arguments in a fixed
order, and only options that differ from their defaults.
"""

from __future__ import annotations

import json

from sequences.expr import Axis, Expr, format_expr
from sequences.model import (
    DelayEl,
    DetectEl,
    IdealEl,
    MarkerEl,
    Parallel,
    PulseEl,
    Repeat,
    Sequence,
)

INDENT = "    "


def _phases(ph: tuple[Expr, ...]) -> str:
    if len(ph) == 1:
        return format_expr(ph[0])
    return "[" + ", ".join(format_expr(p) for p in ph) + "]"


def _is_x(ph) -> bool:
    return len(ph) == 1 and ph[0] == Axis("x")


def _common(el, parts: list[str]) -> None:
    if getattr(el, "channel", ""):
        parts.append(f"channel = {el.channel}")
    if getattr(el, "label", ""):
        parts.append(f"label = {json.dumps(el.label, ensure_ascii=False)}")


def element_text(el) -> str:
    if isinstance(el, PulseEl):
        parts = [format_expr(el.duration)]
        if el.shape != "rect":
            parts.append(f"shape = {el.shape}")
        for key in ("amp", "freq", "offset"):
            v = getattr(el, key)
            if v is not None:
                parts.append(f"{key} = {format_expr(v)}")
        if not _is_x(el.phase):
            parts.append(f"phase = {_phases(el.phase)}")
        if el.loop_phase:
            parts.append(f"loop_phase = {_phases(el.loop_phase)}")
        if el.angle is not None:
            parts.append(f"angle = {format_expr(el.angle)}")
        for k, v in el.shape_params:
            parts.append(f"{k} = {format_expr(v)}")
        _common(el, parts)
        return "pulse(" + ", ".join(parts) + ")"
    if isinstance(el, IdealEl):
        parts = [format_expr(el.angle), _phases(el.phase)]
        if el.loop_phase:
            parts.append(f"loop_phase = {_phases(el.loop_phase)}")
        _common(el, parts)
        return "ideal(" + ", ".join(parts) + ")"
    if isinstance(el, DelayEl):
        return f"delay({format_expr(el.duration)})"
    if isinstance(el, DetectEl | MarkerEl):
        parts = [format_expr(el.duration)]
        _common(el, parts)
        kw = "detect" if isinstance(el, DetectEl) else "marker"
        return f"{kw}(" + ", ".join(parts) + ")"
    raise TypeError(f"not an element: {el!r}")


def _body(body, depth: int, out: list[str]) -> None:
    pad = INDENT * depth
    for el in body:
        if isinstance(el, Repeat):
            out.append(f"{pad}repeat {format_expr(el.count)} {{")
            _body(el.body, depth + 1, out)
            out.append(f"{pad}}}")
        elif isinstance(el, Parallel):
            out.append(f"{pad}parallel {{")
            _body(el.body, depth + 1, out)
            out.append(f"{pad}}}")
        else:
            out.append(pad + element_text(el))


def to_text(seq: Sequence) -> str:
    out: list[str] = []
    if seq.name:
        out.append(f"sequence {seq.name}")
    for p in seq.params:
        if p.default is not None:
            out.append(f"param {p.name} = {format_expr(p.default)}")
        else:
            out.append(f"param {p.name} : {p.unit}")
    for c in seq.channels:
        opts = []
        if c.full_scale is not None:
            opts.append(f"full_scale = {format_expr(c.full_scale)}")
        if c.freq is not None:
            opts.append(f"freq = {format_expr(c.freq)}")
        out.append(f"channel {c.name} : {c.kind}" + (f"({', '.join(opts)})" if opts else ""))
    if seq.receiver:
        out.append("receiver " + ("[" + ", ".join(format_expr(p) for p in seq.receiver) + "]"))
    for s in seq.sweeps:
        if s.kind == "list":
            out.append(f"sweep {s.name} = [" + ", ".join(format_expr(a) for a in s.args) + "]")
        else:
            out.append(f"sweep {s.name} = {s.kind}(" + ", ".join(format_expr(a) for a in s.args)
                       + ")")
    if out:
        out.append("")
    _body(seq.body, 0, out)
    return "\n".join(out) + "\n"
