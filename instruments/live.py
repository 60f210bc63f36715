"""Live view of a running measurement (``measure --live``, ``measure-chi --live``): a
matplotlib figure of one measured quantity against the swept parameter, updated with
every point as it arrives and saved as a PNG after each update (so a headless run — the
Agg backend, no display — leaves the same picture on disk, and a remote user can watch
the file).

With an interactive backend (a display and e.g. TkAgg/QtAgg) the window is redrawn and
the GUI event loop is given a moment (``plt.pause``) after each point; with a
non-interactive one (Agg, the default without a display) nothing is shown and nothing
blocks. Closing the window does not stop the run. pymeasure's ``ManagedWindow`` is the
other way to watch a run: it opens the same ``RUN/results.csv`` (docs/instruments.md).
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["LivePlot", "echo_point", "echo_x_label"]

_NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template",
                    "module://matplotlib_inline.backend_inline"}


class LivePlot:
    """A live x–y plot saved to ``png`` after every :meth:`add`.

    ``points`` keeps the (x, y, σ) added; ``updates`` counts the redraws (one per point);
    ``interactive`` says whether a window is shown."""

    def __init__(self, png, *, x_label: str = "sweep value", y_label: str = "echo |amplitude|",
                 title: str = "", log_x: bool = False):
        import matplotlib

        self.png = Path(png)
        self.png.parent.mkdir(parents=True, exist_ok=True)
        backend = str(matplotlib.get_backend()).lower()
        self.interactive = backend not in _NON_INTERACTIVE
        if self.interactive:
            import matplotlib.pyplot as plt

            self._plt = plt
            self.fig, self.ax = plt.subplots(figsize=(6.4, 4.2))
            plt.ion()
            self.fig.show()
        else:  # no pyplot state: safe in threads and in tests
            from matplotlib.figure import Figure

            self._plt = None
            self.fig = Figure(figsize=(6.4, 4.2))
            self.ax = self.fig.add_subplot()
        self.log_x = log_x
        self.ax.set_xlabel(x_label)
        self.ax.set_ylabel(y_label)
        if title:
            self.ax.set_title(title)
        self.ax.grid(alpha=0.3)
        (self.line,) = self.ax.plot([], [], "o-", ms=4, lw=1)
        self.points: list[tuple[float, float, float]] = []
        self.updates = 0
        self._bars = None

    def add(self, x: float, y: float, sigma: float | None = None,
            x_label: str | None = None) -> None:
        """Append one point, redraw, save the PNG (``x_label`` renames the axis)."""
        if x_label:
            self.ax.set_xlabel(x_label)
        s = math.nan if sigma is None else float(sigma)
        self.points.append((float(x), float(y), s))
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        self.line.set_data(xs, ys)
        if self._bars is not None:
            self._bars.remove()
            self._bars = None
        sig = [p[2] for p in self.points]
        if any(math.isfinite(v) for v in sig):
            self._bars = self.ax.errorbar(xs, ys, yerr=[v if math.isfinite(v) else 0.0
                                                        for v in sig],
                                          fmt="none", ecolor=self.line.get_color(),
                                          elinewidth=0.8)
        if self.log_x and all(v > 0 for v in xs):
            self.ax.set_xscale("log")
        self.ax.relim()
        self.ax.autoscale_view()
        self.updates += 1
        self.save()
        if self.interactive:
            self.fig.canvas.draw_idle()
            self._plt.pause(0.001)

    def save(self) -> None:
        """Write the PNG atomically (a watcher never reads half a file)."""
        tmp = self.png.with_name(self.png.stem + ".tmp.png")
        self.fig.savefig(tmp, dpi=100)
        tmp.replace(self.png)

    def close(self) -> None:
        """Save once more and release the figure."""
        if self.points:
            self.save()
        if self._plt is not None:
            self._plt.close(self.fig)


def echo_point(pd) -> tuple[float, float, float | None]:
    """(x, |amplitude| in V, σ) of a measured :class:`~instruments.runstore.PointData`: x
    the first swept parameter in SI units (the point index without a sweep), σ =
    |amplitude|/SNR when the point was averaged to a target."""
    x = next(iter(pd.params.values()), float(pd.index))
    amp = abs(pd.amplitude)
    snr = getattr(pd, "snr", math.nan)
    sigma = amp / snr if math.isfinite(snr) and snr > 0 else None
    return float(x), float(amp), sigma


def echo_x_label(pd) -> str:
    """The x-axis label of :func:`echo_point`: the swept parameter's name (SI units)."""
    name = next(iter(pd.params), None)
    return f"{name} (SI units)" if name else "point"
