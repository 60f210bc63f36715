"""``spinecho demo`` end to end at small sizes: virtual lab on loopback, real drivers and
measurement procedure, engine-in-the-loop fit, report folder."""

from __future__ import annotations

import json

from spinecho.cli import main

# Files the report must hold, with a floor on their size (a PNG with axes and points is
# > 10 kB; the texts hold a table).
EXPECTED = {"timing_hahn.png": 5000, "timing_holeburn.png": 5000, "fit_hahn.png": 10000,
            "hole_spectrum.png": 10000, "recovered_vs_true.png": 5000,
            "parameters.txt": 300, "summary.json": 2000, "budget.txt": 300,
            "README.md": 300}


def test_demo_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    # 5 probe frequencies: 3.6, 4.0, 4.4 (the burn), 4.8, 5.2 MHz
    rc = main(["demo", "--quick", "--n-probe", "5", "-o", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert f"report: {out.resolve()}" in printed
    assert "sigma" in printed and "tau_c" in printed and "amplitude" in printed
    for name, floor in EXPECTED.items():
        assert (out / name).stat().st_size > floor, name
    assert "unavailable" not in (out / "budget.txt").read_text()
    for run in ("hahn", "holeburn", "holeburn_reference"):
        assert (out / "runs" / run / "result.nc").exists()
        assert (out / "runs" / run / "results.csv").exists()
    s = json.loads((out / "summary.json").read_text())
    fit = s["fits"]["Hahn τ sweep fit"]
    if not fit["success"]:
        # 200 grains, 6 delays: τc is known to a factor ~2 only (see the tolerances below);
        # a positive parameter whose ±2σ interval reaches zero (linearised or from the
        # nonlinear refits of the replicate ensembles) is refused as not determined
        # (issue 14) — allowed for τc alone, nothing else
        why = fit["message"].split("not determined by the data (refitted with other model "
                                   "ensembles): ", 1)
        assert len(why) == 2 and why[1].startswith("tau_c = "), fit["message"]
        assert "sigma =" not in why[1].split("; data noise")[0], fit["message"]
    rec = s["demo"]["recovered"]
    # Tolerances: the lab's ensemble (400 grains, seed 1) and the fit's (200 grains, seed
    # 101) are different Monte-Carlo draws, which shifts every echo by ~5–10 % beyond the
    # reported statistical errors; σ and the amplitude N·g·S are pinned by the whole decay
    # (±30 %); τc only through the decay's curvature over 6 log-spaced points (seeds 0–4:
    # ratios 0.45–2.0; bound: within a factor 2.5,
    # or 3 reported σ).
    assert abs(rec["sigma"]["ratio"] - 1) < 0.3, rec["sigma"]
    assert abs(rec["amplitude"]["ratio"] - 1) < 0.3, rec["amplitude"]
    tc = rec["tau_c"]
    assert (0.4 < tc["ratio"] < 2.5) or abs(tc["value"] - tc["truth"]) < 3 * tc["stderr"], tc
    assert s["demo"]["moment"]["verdict"] in ("consistent", "tension", "inconsistent")
    hs = s["demo"]["hole_spectrum"]
    assert len(hs["measured_abs_v"]) == len(hs["measured_no_burn_abs_v"]) == 5
    # A hole at the burn frequency, measured and simulated: a π burn designed for the
    # sample (hole FWHM 200 kHz) turns the resonant grains over; seen through the probe's
    # 0.25 MHz band the echo there drops (tests/test_holeburn_physics.py pins the closed
    # form). Bound 25 %: the quick run's 400 lab grains give a Monte-Carlo spread of
    # ~0.1 on the depth. The neighbours 0.4 MHz away are outside the hole, so the hole
    # peaks at 4.4 MHz.
    for kind in ("measured", "simulated"):
        hole = hs["hole"][kind]
        assert hole["peak_hz"] == 4.4e6, (kind, hole)
        assert hole["depth"] > 0.25, (kind, hole)
    # the designed burn's hole (1 − S_b/S_r) beside its closed form through the probe
    d = hs["hole"]["designed"]
    assert "pi burn at 4.4 MHz" in d["burn"]
    assert d["expected_depth"] > 0.5 and d["depth_err"] > 0
    assert abs(d["depth"] - d["expected_depth"]) < 4 * d["depth_err"] + 0.3, d


def test_demo_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    rc = main(["demo", "--quick", "-o", str(tmp_path), "--no-progress"])
    assert rc == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "x").read_text() == "keep me"
