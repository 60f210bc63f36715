"""spinecho.measure: the Python face of `spinecho measure`, with the same --set/--sweep
rules (a number keeps its SI unit through the run's text record)."""

from __future__ import annotations

import numpy as np
from virtual_support import lab_file, small_config, start_lab

import spinecho


def test_api_measure_with_si_numbers_and_a_sweep_dict(tmp_path):
    vlab = start_lab(small_config(n_samples=16, noise_rms=0.01))
    try:
        labfile = lab_file(vlab, tmp_path / "lab.toml")
        res = spinecho.measure("hahn", labfile, tmp_path / "run",
                               values={"window": 0.5e-6}, sweep={"tau": [2e-6, "3 us"]})
        assert res.dataset.attrs["kind"] == "measured"
        np.testing.assert_allclose(res.dataset["tau"].values, [2e-6, 3e-6])
        assert np.all(np.abs(res.amplitude) > 0.1)
        # the CLI's rule: a set swept parameter is fixed (one point)
        one = spinecho.measure("hahn", labfile, tmp_path / "run1",
                               values={"window": "0.5 us", "tau": 2.5e-6})
        assert one.dataset.sizes["point"] == 1
    finally:
        vlab.stop()
