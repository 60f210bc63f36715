"""Averaging until a target on the virtual lab (``measure --target-snr`` /
``--time-budget``, :mod:`instruments.averaging`).

Independent expectations: the virtual digitizer adds white noise σ_v per sample per shot
to a deterministic echo, so a point of A blocks (n phase-cycle steps, N window samples)
has the closed-form quadrature error σ_q = σ_v √(2/(N n A)) (:func:`instruments.plan.
quadrature_stderr`, tested against the lab in test_plan_virtual.py): each point's saved
SNR estimate (from its blocks' scatter) must agree with |a|/σ_q within 4 of its stated
standard errors, and be ≥ the target; across M repeated points the measured SNR
(|mean|/σ of the M amplitudes, :func:`instruments.plan.measured_snr`) must reach the target
within 4 of its standard errors. The budget: a run with an unreachable target stops when
its time budget is spent, and ``--resume`` completes it.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from virtual_support import lab_file, small_config, start_lab

from instruments.averaging import SnrTracker, block_snr
from instruments.measure import run_measurement
from instruments.plan import measured_snr, quadrature_stderr
from instruments.procedure import OptionError, check_options
from spinecho.cli import main

NOISE = 0.02  # V per sample per shot: 0.04 Φ0
SETS = ["window=1us"]


def test_block_snr_closed_form():
    z = np.array([1 + 1j, 3 + 1j, 1 - 1j, 3 - 1j])  # mean 2, Σ|z − z̄|² = 8
    snr, se = block_snr(z)
    s2 = 8 / (2 * 3)
    assert snr == pytest.approx(2 / math.sqrt(s2 / 4))
    assert se == pytest.approx(snr * math.sqrt(1 / 12 + 1 / snr**2))
    assert math.isnan(block_snr([1j])[0])
    t = SnrTracker(target_snr=2.0, min_averages=3, max_averages=100)
    assert [t.add(a) for a in (1.0, 1.1, 0.9)] == [False, False, True]
    assert t.reason == "target"
    clock = iter([0.0, 5.0]).__next__
    t = SnrTracker(target_snr=1e9, min_averages=2, deadline=1.0, clock=clock)
    assert [t.add(a) for a in (1.0, 2.0, 1.5)] == [False, False, True]
    assert t.reason == "time"


def test_options_refused_before_anything_runs():
    with pytest.raises(OptionError, match="--averages.*exclude"):
        check_options(averages=4, target_snr=10)
    with pytest.raises(OptionError, match="--min-averages"):
        check_options(target_snr=10, min_averages=20, max_averages=10)
    with pytest.raises(OptionError, match="--target-snr"):
        check_options(target_snr=-1)
    assert main(["measure", "hahn", "--lab", "x.toml", "--time-budget", "nan", "-o",
                 "r"]) == 2


@pytest.fixture(scope="module")
def lab():
    cfg = small_config(n_samples=64, noise_rms=NOISE)
    lab = start_lab(cfg, lifetime=900)
    yield lab
    lab.stop()


def test_target_snr_is_reached(lab, tmp_path):
    target, m = 6000.0, 12
    labfile = lab_file(lab, tmp_path / "lab.toml")
    proc = run_measurement("hahn", labfile, tmp_path / "run", sets=SETS,
                           sweeps=["tau=" + ",".join(["2us"] * m)], target_snr=target,
                           progress=False)
    pts = [proc.data[i] for i in range(m)]
    n_steps = proc.programs[0].n_steps
    for pd in pts:
        blocks = pd.averages  # hw averages = 1 in this lab file
        n_win = int(np.sum(pd.window_index == pd.window_index.max()))
        predicted = abs(pd.amplitude) / quadrature_stderr(NOISE, n_win, n_steps, blocks)
        assert pd.snr >= target and blocks > 8  # the target, not the minimum, stopped it
        assert abs(pd.snr - predicted) < 4 * pd.snr_stderr, (pd.snr, predicted, blocks)
    amps = np.array([pd.amplitude for pd in pts])
    snr, rel = measured_snr(amps)
    print(f"blocks per point {[pd.averages for pd in pts]}; saved SNR "
          f"{np.mean([pd.snr for pd in pts]):.0f}; measured over {m} points {snr:.0f} ± "
          f"{rel * snr:.0f} (target {target:g})")
    assert snr > target * (1 - 4 * rel)
    # the SNR estimate is in the Results CSV and in the result file
    header, *rows = [r for r in (tmp_path / "run" / "results.csv").read_text().splitlines()
                     if not r.startswith("#")]
    assert header.endswith("snr,snr stderr") and len(rows) == m
    assert all(float(r.split(",")[-2]) >= target for r in rows)
    res = proc.echo_result()
    assert res.attrs["target_snr"] == target


def test_time_budget_stops_the_run_and_resume_completes_it(lab, tmp_path, capsys):
    labfile = lab_file(lab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    m, budget = 20, 1.0  # well short of 20 points at the engine speed of issue 14 (20 in < 3 s)
    args = ["measure", "hahn", "--lab", str(labfile), "--set", "window=1us", "--sweep",
            "tau=lin(2us, 3us, 20)", "--target-snr", "1e8", "--min-averages", "2",
            "--max-averages", "10", "-o", str(run), "--no-progress"]
    t0 = time.monotonic()
    assert main([*args, "--time-budget", str(budget)]) == 0
    elapsed = time.monotonic() - t0
    out = capsys.readouterr().out
    assert f"time budget of {budget:g} s spent" in out and "--resume" in out
    rows = [r for r in (run / "results.csv").read_text().splitlines()
            if r and not r.startswith("#")][1:]
    done = len(rows)
    assert 0 < done < m
    assert all(2 <= int(r.split(",")[6]) < 10 for r in rows)  # the budget, not the cap
    assert all(float(r.split(",")[-2]) < 1e8 for r in rows)
    assert not (run / "result.nc").exists()
    print(f"budget {budget} s: {done} of {m} points, command took {elapsed:.1f} s")
    # resumed with a new budget large enough: the rest is measured, none twice
    assert main([*args, "--time-budget", "600", "--resume"]) == 0
    rows = [r for r in (run / "results.csv").read_text().splitlines()
            if r and not r.startswith("#")][1:]
    assert sorted(int(r.split(",")[0]) for r in rows) == list(range(m))
    assert (run / "result.nc").exists()
    # a resume with another target is refused (the points would not compare)
    assert main(["measure", "hahn", "--lab", str(labfile), "--set", "window=1us",
                 "--sweep", "tau=lin(2us, 3us, 20)", "--target-snr", "50", "--resume",
                 "-o", str(run), "--no-progress"]) == 2
