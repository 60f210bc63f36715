"""``spinecho plan`` against the virtual lab: the averages the planner predicts for a
target SNR give that SNR when measured.

The planner's σ_q = σ_v √(2/(N n A H)) is checked twice: against a closed form on
synthetic numbers, and on the virtual lab, whose digitizer adds white noise σ_v per
sample per shot to a deterministic echo. There the same Hahn point is measured K = 16
times at the planned A averages; the measured SNR (|mean| over the pooled quadrature
standard deviation, 2(K−1) = 30 degrees of freedom, relative standard error 13 %) must
agree with the planned SNR within 4 standard errors. The ratio (planned SNR / measured
SNR)² is the time the lab needed over the time predicted (measured: 1.06).

The read-out noise is 0.04 Φ0 per sample (0.1 Φ0, where the former flux-jump rule fired on
noise, is tested in test_flux_jump_noise_virtual.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from virtual_support import lab_file, small_config, start_lab

import sequences
from instruments.lab import load_lab
from instruments.measure import run_measurement
from instruments.plan import (
    PlanError,
    measured_snr,
    plan_averages,
    plan_measurement,
    quadrature_stderr,
)
from spinecho.cli import main

NOISE = 0.02  # V rms per sample per shot: 0.04 Φ0 at 0.5 V/Φ0
K = 16


def test_quadrature_stderr_closed_form():
    # 250 samples, 2 steps, 10 averages, 1 on-scope: σ √(2/5000)
    assert quadrature_stderr(0.5, 250, 2, 10) == pytest.approx(0.5 * math.sqrt(2 / 5000))
    assert quadrature_stderr(0.5, 250, 2, 10, baseband=True) == pytest.approx(
        0.5 * math.sqrt(4 / 5000))
    # A = ⌈2 σ² SNR² / (N n |a|²)⌉ = ⌈2·1·400/(100·2·0.01)⌉ = 400
    assert plan_averages(0.1, noise_rms=1.0, target_snr=20, n_window=100, n_steps=2) == 400
    assert plan_averages(10.0, noise_rms=1.0, target_snr=2, n_window=100, n_steps=2) == 1
    with pytest.raises(PlanError, match="no echo"):
        plan_averages(0.0, noise_rms=1.0, target_snr=2, n_window=100, n_steps=2)
    with pytest.raises(PlanError, match="noise_rms"):
        plan_averages(1.0, noise_rms=float("nan"), target_snr=2, n_window=100, n_steps=2)
    with pytest.raises(PlanError, match="lower the target"):
        plan_averages(1e-9, noise_rms=1.0, target_snr=100, n_window=10, n_steps=1)
    with pytest.raises(PlanError, match="lower the target"):  # huge values: no overflow
        plan_averages(1e-300, noise_rms=1e300, target_snr=1e300, n_window=10, n_steps=1)


def test_planned_averages_reach_the_target_snr_on_the_virtual_lab(tmp_path):
    cfg = small_config(n_samples=64, noise_rms=NOISE)
    lab = start_lab(cfg, lifetime=600)
    try:
        labfile = lab_file(lab, tmp_path / "lab.toml")
        hahn = sequences.load("hahn")
        sets = {"window": "1 us", "tau": "2 us"}
        plan = plan_measurement(hahn, cfg.model, load_lab(labfile), target_snr=5000.0,
                                noise_rms=NOISE, sets=sets)
        (pt,) = plan.points
        assert pt.averages > 3  # the test exercises averaging, not a single shot
        run = run_measurement("hahn", labfile, tmp_path / "run",
                              sets=[f"{k}={v}" for k, v in sets.items() if k != "tau"],
                              sweeps=["tau=" + ",".join(["2us"] * K)],
                              averages=pt.averages, progress=False)
        amps = np.asarray(run.echo_result().amplitude)
    finally:
        lab.stop()
    snr, rel_se = measured_snr(amps)
    print(f"planned A={pt.averages} SNR={pt.snr:.3f}; measured SNR={snr:.3f} ± "
          f"{rel_se * snr:.2f}; time needed / predicted = {(pt.snr / snr) ** 2:.3f}")
    # the simulated echo is what the lab measures (the seam tests): compare the SNRs
    assert abs(snr / pt.snr - 1) < 4 * rel_se, (snr, pt.snr, pt.averages)
    assert abs(abs(amps.mean()) / abs(pt.amplitude) - 1) < 0.05


def test_plan_cli(tmp_path, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    model = tmp_path / "model.toml"
    model.write_text((root / "examples" / "simple.toml").read_text()
                     .replace("n_samples = 2000", "n_samples = 100"))
    base = ["plan", "hahn", "--model", str(model), "--lab",
            str(root / "examples" / "lab_virtual.toml"), "--snr", "20"]
    assert main([*base, "--noise-rms", "0.01", "--sweep", "tau=2us,4us", "--json"]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    assert [p["params"]["tau"] for p in d["points"]] == [2e-6, 4e-6]
    assert all(p["averages"] >= 1 and p["snr"] >= 20 for p in d["points"])
    assert main([*base, "--noise-rms", "nan"]) == 2
    assert "not a finite number" in capsys.readouterr().err
    # the plan compiles for the lab: what the lab cannot play is refused up front
    assert main([*base, "--noise-rms", "0.01", "--set", "ideal=1"]) == 2
    assert "ideal" in capsys.readouterr().err
