"""Per-point demodulation reference of the measurement procedure: ``reference_frequency``
≥ 0 wins; else a bound sequence parameter (``reference_parameter``, default ``f_ref`` —
holeburn.seq sets ``f_ref = f_probe``); else the carrier of the first pulse."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from virtual_support import lab_file, small_config, start_lab

from echo.fit.model_fit import redemodulated_amplitude
from echo.result import EchoResult
from instruments.errors import InstrumentError
from instruments.measure import run_measurement
from instruments.procedure import EchoProcedure
from instruments.readout import reference_frequency
from sequences.parser import load

F_BURN = 4.4e6


def test_reference_frequency_rules():
    hb = load("holeburn")
    s = hb.bind(f_burn=F_BURN, f_probe=4.7e6)
    assert s.pulses[0].frequency == F_BURN  # the first pulse is the burn
    assert reference_frequency(s) == 4.7e6  # f_ref = f_probe (holeburn.seq)
    assert reference_frequency(s, 3e6) == 3e6  # an explicit reference wins
    assert reference_frequency(s, 0.0) == 0.0  # 0: baseband, no demodulation
    assert reference_frequency(s, -1.0, "f_burn") == F_BURN  # any bound parameter
    assert reference_frequency(s, -1.0, "") == F_BURN  # none: the first carrier
    assert reference_frequency(s, -1.0, "no_such_param") == F_BURN
    hahn = load("hahn").bind(f=3.3e6)  # no f_ref: the carrier, as before
    assert reference_frequency(hahn) == 3.3e6
    bad = replace(hahn, params=(*hahn.params, ("f_ref", -1.0)))
    with pytest.raises(InstrumentError, match="reference parameter 'f_ref'"):
        reference_frequency(bad)


def test_config_records_a_changed_reference_parameter_only():
    """Run directories written before the option existed still resume (same config)."""
    base = dict(sequence_file="hahn", lab_file="", run_dir="x")
    assert "reference_parameter" not in EchoProcedure(**base).config_dict()
    cfg = EchoProcedure(**base, reference_parameter="f").config_dict()
    assert cfg["reference_parameter"] == "f"


def test_holeburn_points_are_demodulated_at_their_probe_carrier(tmp_path):
    """On the virtual lab (noise-free digitizer, deterministic sample), a probe sweep
    demodulated per point at f_probe equals the same sweep demodulated at the burn
    carrier and re-demodulated: z_probe(t) = z_burn(t)·exp(−i2π(f_probe − f_burn)t),
    an identity of z = 2V·exp(−i2πft); only float rounding differs (rtol 1e-9)."""
    lab = start_lab(small_config(n_samples=16, noise_rms=0.0))
    sets = [f"f_burn={F_BURN / 1e6:g} MHz", "burn=2 us", "wait=1 us"]
    sweeps = ["f_probe=4.2MHz,4.6MHz"]
    try:
        # the burn is on for a large part of the short shot: a virtual coil does not heat
        labfile = lab_file(lab, tmp_path / "lab.toml", max_duty_cycle=0.95)
        run_measurement("holeburn", labfile, tmp_path / "probe", sets=sets, sweeps=sweeps,
                        progress=False)
        run_measurement("holeburn", labfile, tmp_path / "burn", sets=sets, sweeps=sweeps,
                        reference_frequency=F_BURN, progress=False)
    finally:
        lab.stop()
    probe = EchoResult.load(tmp_path / "probe" / "result.nc")
    burn = EchoResult.load(tmp_path / "burn" / "result.nc")
    f_probe = np.array([4.2e6, 4.6e6])
    np.testing.assert_allclose(probe.dataset["f_probe"].values, f_probe)
    want = redemodulated_amplitude(burn, F_BURN, f_probe)
    got = np.asarray(probe.amplitude, complex)
    assert np.all(np.abs(got) > 0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * float(np.abs(got).max()))
    # and it is not the burn-carrier amplitude (the test can fail)
    assert np.all(np.abs(np.asarray(burn.amplitude) - got) > 1e-3 * np.abs(got))
    assert math.isfinite(float(np.abs(got).sum()))


def test_hardware_averages_are_triggered_one_period_apart():
    """Bus triggers for on-scope averaging are paced by the program's repetition period."""
    import time

    from instruments.playback import _paced_triggers

    class Awg:
        def __init__(self):
            self.t = []

        def trigger(self):
            self.t.append(time.monotonic())

    awg = Awg()
    _paced_triggers(awg, 4, 0.02)
    gaps = [b - a for a, b in zip(awg.t, awg.t[1:], strict=False)]
    assert len(awg.t) == 4 and min(gaps) >= 0.02


def test_repetition_time_sets_the_duty_cycle_period():
    """A 20 µs burn in a ~40 µs shot breaks the example lab's 0.2 duty-cycle limit when shots
    follow back to back; a 1 ms repetition time (duty ≈ 0.02) is accepted and recorded."""
    from pathlib import Path

    import pytest

    from instruments.errors import LimitViolation
    from instruments.procedure import EchoProcedure

    lab = Path(__file__).resolve().parents[2] / "examples" / "lab_virtual.toml"
    proc = EchoProcedure(sequence_file="holeburn", lab_file=str(lab))
    with pytest.raises(LimitViolation, match="duty"):
        proc.prepare()
    proc = EchoProcedure(sequence_file="holeburn", lab_file=str(lab), repetition_time=1e-3)
    proc.prepare()
    assert all(p.safety.period == pytest.approx(1e-3) for p in proc.programs)
    assert proc.config_dict()["repetition_time"] == 1e-3
