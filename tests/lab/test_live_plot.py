"""``measure --live`` headless (Agg backend, no display): the live plot gets one update per
measured point, holds exactly the measured |echo amplitudes| against the swept values, and
is saved as a PNG after every point."""

from __future__ import annotations

import csv

import matplotlib
import numpy as np
import pytest
from virtual_support import lab_file, small_config, start_lab

import instruments.live as live_mod
from instruments.live import LivePlot
from spinecho.cli import main


@pytest.fixture(autouse=True)
def agg():
    old = matplotlib.get_backend()
    matplotlib.use("Agg", force=True)
    yield
    matplotlib.use(old, force=True)


def test_live_plot_saves_a_png_per_point(tmp_path):
    import matplotlib.image as mpimg

    png = tmp_path / "live.png"
    plot = LivePlot(png, log_x=True)
    assert not plot.interactive
    sizes = []
    for k, (x, y) in enumerate([(1.0, 2.0), (10.0, 3.0), (100.0, 1.0)]):
        plot.add(x, y, sigma=0.1 if k else None)
        assert png.exists()
        sizes.append(png.stat().st_size)
        assert list(plot.line.get_xdata()) == [1.0, 10.0, 100.0][:k + 1]
    assert plot.updates == 3 and plot.ax.get_xscale() == "log"
    img = mpimg.imread(png)
    assert img.shape[:2] == (420, 640)  # 6.4 × 4.2 in at 100 dpi
    plot.close()


def test_measure_live_updates_with_each_point(tmp_path, monkeypatch):
    seen, plots = [], []
    add = LivePlot.add

    def spy(self, x, y, sigma=None, **kw):
        add(self, x, y, sigma, **kw)
        seen.append((self.updates, len(self.line.get_xdata()), self.png.stat().st_mtime_ns))
        plots.append(self)

    monkeypatch.setattr(live_mod.LivePlot, "add", spy)
    lab = start_lab(small_config(n_samples=16, noise_rms=0.0))
    try:
        labfile = lab_file(lab, tmp_path / "lab.toml")
        run = tmp_path / "run"
        assert main(["measure", "hahn", "--lab", str(labfile), "--set", "window=1us",
                     "--sweep", "tau=lin(2us, 4us, 3)", "--live", "-o", str(run),
                     "--no-progress"]) == 0
    finally:
        lab.stop()
    assert [s[:2] for s in seen] == [(1, 1), (2, 2), (3, 3)]
    assert (run / "live.png").exists()
    with open(run / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    taus = [float(r["sweep value"]) for r in rows]
    amps = [float(r["amplitude abs (V)"]) for r in rows]
    np.testing.assert_allclose(taus, [2e-6, 3e-6, 4e-6])
    assert all(a > 0 for a in amps)
    # what the plot shows is what was measured
    np.testing.assert_allclose(plots[-1].line.get_xdata(), taus)
    np.testing.assert_allclose(plots[-1].line.get_ydata(), amps, rtol=1e-9)
    assert plots[-1].ax.get_xlabel() == "tau (SI units)"
