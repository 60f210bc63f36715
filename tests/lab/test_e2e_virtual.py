"""End to end over real sockets: a Hahn-echo τ sweep measured on the virtual lab
(``spinecho measure`` path: compile → pyvisa-py → emulated AWG/digitizer → echo engine)
agrees with a direct simulation of the same sample within the injected noise."""

from __future__ import annotations

import math
import time

import numpy as np
from virtual_support import lab_file, small_config, start_lab

from echo.model import Detection
from echo.result import EchoResult
from echo.simulate import simulate_schedules
from instruments.measure import run_measurement

NOISE_RMS = 0.05    # V per digitizer sample per shot (≪ Φ0 = 0.5 V: no false flux jumps)
SCOPE_AVERAGES = 4  # on-scope averages per step (lab file)
F_CARRIER = 4e6     # hahn.seq default carrier (Hz)
AWG_RATE = 250e6    # lab_virtual.toml


def test_hahn_tau_sweep_agrees_with_direct_simulation(tmp_path):
    lab = start_lab(small_config(noise_rms=NOISE_RMS))
    try:
        labfile = lab_file(lab, tmp_path / "lab.toml", averages=SCOPE_AVERAGES)
        proc = run_measurement("hahn", labfile, tmp_path / "run",
                               sweeps=["tau=lin(1.5us, 3us, 4)"], progress=False)
        deadline = time.monotonic() + 2.0  # shutdown's last writes may be in flight
        while lab.awg.output_on() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not lab.awg.output_on()
    finally:
        lab.stop()
    measured = EchoResult.load(tmp_path / "run" / "result.nc")
    assert measured.attrs["kind"] == "measured"
    assert "33522B" in measured.attrs["instruments"] and "DSOX" in measured.attrs["instruments"]
    np.testing.assert_allclose(measured.dataset["tau"].values, [1.5e-6, 2e-6, 2.5e-6, 3e-6])

    model = lab.config.model
    det = Detection(**{**model.detection.to_dict(), "noise_rms": 0.0, "sample_rate": 1e9,
                       "reference_frequency": F_CARRIER})
    sim = simulate_schedules(proc.schedules, model.ensemble, model.environment, det,
                             engine="fast")
    # The AWG holds each sample for 1/fs (zero-order hold): the played pulses are the
    # schedule's delayed by half a sample, which turns the demodulated echo by
    # −2π f_ref · 1/(2 fs) (= −0.050 rad here).
    expected = sim.amplitude * np.exp(-1j * math.pi * F_CARRIER / AWG_RATE)
    got = measured.amplitude
    # Noise of the amplitude: z = 2V e^{-iωt} has variance 2σ² per quadrature per sample;
    # mean over N window samples and (1/n)Σ over n independent steps; σ = noise/√averages.
    win = np.asarray(measured.dataset["window"].values)
    n_win = int(np.sum((win[0] if win.ndim == 2 else win) == 0))
    sigma = NOISE_RMS / math.sqrt(SCOPE_AVERAGES)
    sd = math.sqrt(2 * sigma ** 2 / (n_win * 2))
    # Systematic allowance 1.5 % of |A|: the residual of the sample-and-hold beyond the
    # delay (sinc droop 4e-4, DAC/scope quantisation < 1e-3) and the bias-noise
    # realisation (the virtual lab draws the OU trajectories of sweep point 0 for every
    # shot, the direct simulation those of each point: ~1 % at 64 grains).
    tol = 4 * sd + 0.015 * np.abs(expected)
    assert n_win == 1000
    assert np.all(np.abs(got.real - expected.real) <= tol), (got, expected, tol)
    assert np.all(np.abs(got.imag - expected.imag) <= tol), (got, expected, tol)
    assert np.all(np.abs(expected) > 10 * tol)  # the echo is far above the tolerance


def test_flux_jumps_in_every_shot_are_removed(tmp_path):
    """The FLL resets by ±1 Φ0 once per shot; with the lab file's [squid] calibration the
    procedure removes every jump and the echo equals a jump-free measurement."""
    amps = {}
    for rate in (0.0, 1.0):
        cfg = small_config(noise_rms=0.01)
        cfg.flux_jump_rate = rate
        lab = start_lab(cfg)
        try:
            labfile = lab_file(lab, tmp_path / f"lab{rate}.toml")
            proc = run_measurement("hahn", labfile, tmp_path / f"run{rate}",
                                   sweeps=["tau=2us,3us"], progress=False)
            amps[rate] = EchoResult.load(tmp_path / f"run{rate}" / "result.nc").amplitude
            assert proc.flux_jumps == lab.digitizer.flux_jumps
            assert lab.digitizer.flux_jumps == (4 if rate else 0)  # 2 points × 2 steps
        finally:
            lab.stop()
    # different noise draws only: σ_A = sqrt(2·0.01²/(1000·2)) = 3e-4 per quadrature
    np.testing.assert_allclose(amps[1.0], amps[0.0], atol=6 * 3e-4 * 2 ** 0.5)
