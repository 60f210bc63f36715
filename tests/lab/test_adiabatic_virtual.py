"""An adiabatic (HS) inversion pulse played through the AWG of the virtual lab: the
compiled waveform drives the simulated sample, and the measured Hahn echo after the
inversion is turned over (the virtual sample has no T1), as the simulation predicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from virtual_support import lab_file, small_config, start_lab

from echo.fit.loaders import load
from spinecho.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hs_inversion_recovery.seq"


@pytest.fixture(scope="module")
def vlab():
    lab = start_lab(small_config(n_samples=32, noise_rms=0.001))
    yield lab
    lab.stop()


def test_hs_inversion_turns_the_measured_echo_over(vlab, tmp_path):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    assert main(["measure", str(EXAMPLE), "--lab", str(labfile), "--sweep", "amp_hs=0,0.3",
                 "--set", "T=2us", "--repetition-time", "200e-6", "-o", str(run),
                 "--no-progress"]) == 0
    d = load(run / "result.nc")
    off, on = d.y
    assert abs(off) > 0.05  # a clear echo without inversion
    # inverted: ratio near −1 (the virtual sample's spread of 2E lies inside the 3 MHz
    # sweep; a 32-grain ensemble and 1 mV noise leave a few per cent)
    assert abs(on / off + 1) < 0.1, on / off
    assert np.real(on / off) < -0.9
