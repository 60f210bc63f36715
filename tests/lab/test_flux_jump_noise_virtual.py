"""The echo on the virtual lab with 0.1 Φ0 of read-out noise per sample: the flux-jump
correction must not fire on noise. Before it learnt the noise (a step > 0.5 Φ0 was a
reset) the echo amplitude scattered 10–20× more than white noise gives (the note in
test_plan_virtual.py). Independent expectation: the closed-form quadrature error
σ_q = σ_v √(2/(N n A)) of white noise (instruments.plan); the SNR measured over K repeated
points (|mean| over their scatter) must agree with |a|/σ_q within 4 of its standard
errors, with no flux jump removed; the same run with real resets injected by the
digitizer (flux_jump_rate = 1: one ±1 Φ0 reset per shot) removes exactly those."""

from __future__ import annotations

import numpy as np
from virtual_support import lab_file, small_config, start_lab

from instruments.measure import run_measurement
from instruments.plan import measured_snr, quadrature_stderr

NOISE = 0.05  # V per sample per shot: 0.1 Φ0 at the 0.5 V/Φ0 of the example lab
K = 12


def _repeat(tmp_path, name, rate):
    cfg = small_config(n_samples=64, noise_rms=NOISE)
    cfg.flux_jump_rate = rate
    lab = start_lab(cfg, lifetime=600)
    try:
        labfile = lab_file(lab, tmp_path / f"{name}.toml")
        proc = run_measurement("hahn", labfile, tmp_path / name, sets=["window=1us"],
                               sweeps=["tau=" + ",".join(["2us"] * K)], progress=False)
        injected = lab.digitizer.flux_jumps
    finally:
        lab.stop()
    return proc, injected


def test_echo_scatter_at_a_tenth_of_a_flux_quantum_is_white_noise(tmp_path):
    proc, injected = _repeat(tmp_path, "clean", 0.0)
    pts = [proc.data[i] for i in range(K)]
    amps = np.array([p.amplitude for p in pts])
    n_win = int(np.sum(pts[0].window_index == pts[0].window_index.max()))
    sq = quadrature_stderr(NOISE, n_win, proc.programs[0].n_steps, 1)
    predicted = abs(amps.mean()) / sq
    snr, rel = measured_snr(amps)
    print(f"σ_v = {NOISE} V (0.1 Φ0): measured SNR {snr:.0f} ± {rel * snr:.0f}, white-noise "
          f"prediction {predicted:.0f}; flux jumps removed {proc.flux_jumps}")
    assert injected == 0 and proc.flux_jumps == 0
    assert abs(snr / predicted - 1) < 4 * rel


def test_real_resets_in_the_same_noise_are_all_removed(tmp_path):
    proc, injected = _repeat(tmp_path, "jumps", 1.0)
    assert injected > 0 and proc.flux_jumps == injected
    amps = np.array([proc.data[i].amplitude for i in range(K)])
    n_win = int(np.sum(proc.data[0].window_index == proc.data[0].window_index.max()))
    predicted = abs(amps.mean()) / quadrature_stderr(NOISE, n_win, proc.programs[0].n_steps, 1)
    snr, rel = measured_snr(amps)
    print(f"with {injected} injected resets: measured SNR {snr:.0f} ± {rel * snr:.0f}, "
          f"prediction {predicted:.0f}")
    assert abs(snr / predicted - 1) < 4 * rel
