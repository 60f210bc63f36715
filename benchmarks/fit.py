"""Benchmark of a model fit with the fast engine in the loop (issue 14).

Run: ``python benchmarks/fit.py [--grains N] [--points P] [--quick]
[--baseline-src DIR]``.

The issue's joint fit: a ground-state copy of ``examples/simple.toml`` (initial state
"ground", so the echo is large), data simulated at σ = 60 kHz, τc = 2 µs with ensemble
seed 99 — a 20-point Hahn τ sweep (1–10 µs) and a CPMG-20 echo train (τ = 2 µs, one
point per echo) — and the model fitted with seed 1, 6 free parameters: σ, τc, amplitude,
phase and one baseline per data set, from σ = 40 kHz, τc = 3 µs. 10^4 grains per point
(``--grains``). Target: < 30 s wall on 2 cores.

Printed: wall time, evaluations (residual vectors the optimiser asked for) and
simulations (model parameter sets simulated, each all sweep points of both data sets in
one batch; with the grains of each stage), seconds per evaluation and per simulation, the
fitted values against the truth with their stated errors (the Monte-Carlo part apart),
and the machine's load (``os.getloadavg``) before and after — the figures depend on it.
``--baseline-src DIR``: the same fit, right after, with the code of another checkout
(e.g. ``git worktree add /tmp/base <commit>``) in a subprocess, for the ratio side by
side in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

# benchmarks/sequences.py (another benchmark) would shadow the `sequences` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRUTH = {"sigma": 6e4, "tau_c": 2e-6}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def problem(grains: int, n_hahn: int = 20, n_cpmg: int = 20):
    from echo.fit import from_arrays
    from echo.fit.model_fit import Dataset, engine_simulator, set_path
    from echo.modelfile import load_model
    from sequences.model import Sequence

    m = load_model(ROOT / "examples" / "simple.toml")
    m = replace(m, ensemble=replace(m.ensemble, n_samples=int(grains)))
    truth = set_path(set_path(m, "sigma", TRUTH["sigma"]), "tau_c", TRUTH["tau_c"])
    taus = np.linspace(1e-6, 10e-6, n_hahn)
    hahn = [Sequence.load("hahn").bind(tau=t) for t in taus]
    cpmg = [Sequence.load("cpmg").bind(n=n_cpmg, tau=2e-6)]
    k = np.arange(1, n_cpmg + 1, dtype=float)
    data_model = replace(truth, ensemble=replace(truth.ensemble, seed=99))
    sim = engine_simulator("fast", initial="ground")
    probe_h = Dataset(from_arrays(taus, np.zeros(n_hahn) + 0j), hahn)
    probe_c = Dataset(from_arrays(k, np.zeros(n_cpmg) + 0j), cpmg, observable="windows")
    t = time.perf_counter()
    y_h, y_c = sim.batch([(data_model, probe_h), (data_model, probe_c)])
    t_data = time.perf_counter() - t
    meta = {"simulated_samples": int(grains)}  # simulated data: their own ensemble's error
    datasets = [Dataset(from_arrays(taus, y_h, x_name="tau", x_unit="s", meta=meta), hahn,
                        label="hahn"),
                Dataset(from_arrays(k, y_c, x_name="echo", meta=meta), cpmg,
                        observable="windows", label="cpmg")]
    return m, datasets, t_data


def run_fit(m, datasets, *, label: str):
    from echo.fit.fitresult import combination_text
    from echo.fit.model_fit import engine_simulator, fit_model

    sim = engine_simulator("fast", initial="ground")
    print(f"[{label}] {load()}", flush=True)
    t = time.perf_counter()
    r = fit_model(datasets, m, {"sigma": 4e4, "tau_c": 3e-6, "amplitude": None,
                                "phase": None, "baseline": None},
                  simulator=sim, per_dataset=("baseline",), truth=TRUTH)
    wall = time.perf_counter() - t
    n_sim = r.meta["simulations"]
    by = r.meta.get("simulations_by_samples", {})
    full = sum(k * n for n, k in by.items()) / r.meta["samples"]["full"] if by else n_sim
    print(f"[{label}] wall {wall:.1f} s, {r.nfev} evaluations ({wall / r.nfev:.2f} s each), "
          f"{n_sim} simulations ({wall / n_sim:.2f} s each; samples {r.meta['samples']}; "
          f"per ensemble size {by or '?'}: {full:.2f} full-size equivalents, "
          f"{wall / full:.2f} s each), success {r.success}", flush=True)
    for k in ("sigma", "tau_c"):
        p = r[k]
        mc = r.meta["mc_stderr"].get(k, float("nan"))
        print(f"[{label}]   {k} = {p.value:.5g} ± {p.stderr:.3g} (MC part {mc:.3g}); truth "
              f"{p.truth:.5g}: {(p.value - p.truth) / p.stderr:+.2f}σ")
    for c in r.combinations:
        print(f"[{label}]   {combination_text(c)}")
    print(f"[{label}]   {r.message}")
    print(f"[{label}] {load()}", flush=True)
    return wall, r


def run_baseline(src: str, grains: int, points: int) -> float | None:
    """The same benchmark with the code of checkout ``src`` (its own benchmarks/fit.py,
    run in a subprocess); its wall time, parsed from its output."""
    import re
    import subprocess

    src = str(Path(src).resolve())
    script = Path(src) / "benchmarks" / "fit.py"
    args = [sys.executable, str(script), "--grains", str(grains)]
    out = subprocess.run([*args, "--help"], capture_output=True, text=True).stdout
    if "--points" in out:
        args += ["--points", str(points)]
    elif (grains, points) == (2000, 10):
        args = [*args[:2], "--quick"]
    elif points != 20:
        print(f"[baseline] {src} has no --points (always 20 + 20): not comparable")
        return None
    env = {**os.environ, "PYTHONPATH": src}
    print(f"[baseline] {src}: {' '.join(args[1:])}", flush=True)
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=src)
    walls = []
    for line in proc.stdout.splitlines():
        if line.startswith("[new loop]") or line.startswith("[this]"):
            print("[baseline]" + line.split("]", 1)[1], flush=True)
            mm = re.search(r"wall ([0-9.]+) s", line)
            if mm:
                walls.append(float(mm.group(1)))
    if proc.returncode or not walls:
        print(f"[baseline] failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return None
    return walls[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grains", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=20, help="Hahn points = CPMG echoes")
    ap.add_argument("--quick", action="store_true", help="2000 grains, 10 + 10 points")
    ap.add_argument("--baseline-src", metavar="DIR",
                    help="also the same fit with the code of checkout DIR (subprocess)")
    a = ap.parse_args(argv)
    grains = 2000 if a.quick else a.grains
    npts = 10 if a.quick else a.points
    print(f"cores available: {len(os.sched_getaffinity(0))}; {load()}")
    m, datasets, t_data = problem(grains, npts, npts)
    print(f"data: Hahn {npts} points + CPMG-{npts}, {grains} grains per point, simulated "
          f"in {t_data:.1f} s (includes loading the numba cache)")
    wall, _ = run_fit(m, datasets, label="this")
    print(f"target: < 30 s wall on 2 cores -> {'met' if wall < 30 else 'NOT met'} "
          f"({wall:.1f} s)", flush=True)
    if a.baseline_src:
        base = run_baseline(a.baseline_src, grains, npts)
        if base:
            print(f"ratio baseline/this wall: {base / wall:.2f} ({base:.1f} s / {wall:.1f} s)")


if __name__ == "__main__":
    main()
