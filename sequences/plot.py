"""Timing diagram of a Schedule: one row per channel, pulses drawn with their envelopes,
labels and phases, ideal rotations as arrows, markers as TTL levels and detection windows
as shaded spans. matplotlib with the Agg backend."""

from __future__ import annotations

import math

import numpy as np

from sequences import shapes
from sequences.schedule import Schedule

_KIND_ORDER = {"field": 0, "marker": 1, "detector": 2}
_COLOURS = {"field": "#1f77b4", "marker": "#2ca02c", "detector": "#d62728", "ideal": "#9467bd"}
MAX_LABELS = 40


def phase_name(phi: float) -> str:
    """``x``, ``y``, ``-x``, ``-y`` for multiples of 90°, else degrees."""
    deg = math.degrees(phi) % 360.0
    for name, ref in (("x", 0.0), ("y", 90.0), ("-x", 180.0), ("-y", 270.0), ("x", 360.0)):
        if abs(deg - ref) < 1e-6:
            return name
    return f"{deg:.4g}°"


def phases_text(phases, step: int | None) -> str:
    if step is not None:
        return phase_name(phases[step])
    names = [phase_name(p) for p in phases]
    if len(set(names)) == 1:
        return names[0]
    return "[" + ",".join(names) + "]"


def _time_unit(duration: float) -> tuple[float, str]:
    for scale, name in ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms")):
        if duration < 2000 * scale:
            return scale, name
    return 1.0, "s"


def plot_schedule(schedule: Schedule, path=None, *, step: int | None = None, ax=None,
                  title: str | None = None):
    """Draw ``schedule``; save to ``path`` if given. ``step``: show the phases of one
    phase-cycle step (default: the whole phase list of each pulse). Returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    chans = sorted(schedule.channels, key=lambda c: _KIND_ORDER.get(c.kind, 9))
    n = max(len(chans), 1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 1.0 + 1.25 * n))
    else:
        fig = ax.figure
    scale, unit = _time_unit(max(schedule.duration, 1e-12))
    row = {c.name: n - 1 - i for i, c in enumerate(chans)}
    amps = [abs(p.amplitude) for p in schedule.pulses] or [1.0]
    peak = max(amps) or 1.0
    n_labels = 0
    min_gap = schedule.duration / scale / 15.0  # labels closer than this on a row are skipped
    last_x: dict[tuple, float] = {}

    def room(key, x) -> bool:
        """True (and remember x) when a label at x does not crowd the previous one."""
        prev = last_x.get(key)
        if prev is not None and abs(x - prev) < min_gap:
            return False
        last_x[key] = x
        return True

    polys, colours = [], []
    for p in schedule.pulses:
        y0 = row[p.channel]
        h = max(0.75 * abs(p.amplitude) / peak, 0.04)
        u = np.linspace(0.0, 1.0, 64, endpoint=False)
        env = shapes.envelope(p.shape, u, dict(p.shape_params))
        env = np.abs(env)
        t = (p.start + u * p.duration) / scale
        xs = np.concatenate([[t[0]], t, [p.stop / scale]])
        ys = np.concatenate([[0.0], env, [env[-1] if p.shape in ("rect", "chirp") else 0.0]])
        verts = np.column_stack([np.concatenate([xs, [p.stop / scale, t[0]]]),
                                 y0 + np.concatenate([ys * h, [0.0, 0.0]])])
        polys.append(verts)
        colours.append(_COLOURS["field"])
        if n_labels < MAX_LABELS and room(("p", p.channel), p.centre / scale):
            text = (p.label + " " if p.label else "") + phases_text(p.phases, step)
            ax.text(p.centre / scale, y0 + h + 0.04, text, ha="center", va="bottom",
                    fontsize=8)
            n_labels += 1
    if polys:
        dense = len(polys) > 200
        # dense trains: outline in the fill colour so sub-pixel pulses stay visible
        ax.add_collection(PolyCollection(polys, facecolors=colours,
                                         edgecolors=colours if dense else "k",
                                         linewidths=0.4 if dense else 0.5, alpha=0.8))
    for ip in schedule.ideal_pulses:
        y0 = row[ip.channel]
        x = ip.time / scale
        ax.annotate("", xy=(x, y0 + 0.8), xytext=(x, y0),
                    arrowprops={"arrowstyle": "-|>", "color": _COLOURS["ideal"], "lw": 1.5})
        if n_labels < MAX_LABELS and room(("p", ip.channel), x):
            ang = f"{math.degrees(ip.angle):.4g}°"
            text = (ip.label + " " if ip.label else "") + f"{ang} {phases_text(ip.phases, step)}"
            ax.text(x, y0 + 0.84, text, ha="center", va="bottom", fontsize=8,
                    color=_COLOURS["ideal"])
            n_labels += 1
    for kind, events, height, style in (
            ("marker", schedule.markers, 0.5,
             {"facecolors": _COLOURS["marker"], "edgecolors": "k", "linewidths": 0.5}),
            ("detector", schedule.windows, 0.8,
             {"facecolors": _COLOURS["detector"], "alpha": 0.25,
              "edgecolors": _COLOURS["detector"], "linewidths": 1.0})):
        by_channel: dict[str, list] = {}
        for ev in events:
            by_channel.setdefault(ev.channel, []).append((ev.start / scale,
                                                          ev.duration / scale))
        for ch, ranges in by_channel.items():  # one collection per channel (fast)
            ax.broken_barh(ranges, (row[ch], height), **style)
        for ev in events:
            x = (ev.start + ev.duration / 2) / scale
            if ev.label and n_labels < MAX_LABELS and room((kind, ev.channel), x):
                if kind == "marker":
                    ax.text(x, row[ev.channel] + 0.55, ev.label, ha="center", fontsize=8)
                else:
                    ax.text(x, row[ev.channel] + 0.4, ev.label, ha="center", va="center",
                            fontsize=8, color=_COLOURS["detector"])
                n_labels += 1
    for c in chans:
        ax.axhline(row[c.name], color="0.6", lw=0.6, zorder=0)
    ax.set_yticks([row[c.name] + 0.4 for c in chans])
    ax.set_yticklabels([f"{c.name}\n({c.kind})" for c in chans])
    ax.set_ylim(-0.15, n + 0.1)
    ax.set_xlim(-0.02 * schedule.duration / scale, 1.02 * schedule.duration / scale)
    ax.set_xlabel(f"time ({unit})")
    steps = f"{schedule.n_steps} phase-cycle step(s)"
    if step is not None:
        steps = f"step {step + 1} of {schedule.n_steps}"
    rx = ", ".join(phase_name(-math.atan2(w.imag, w.real)) for w in schedule.receiver)
    ax.set_title(title or f"{schedule.name or 'sequence'} — {steps}; receiver [{rx}]",
                 fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
