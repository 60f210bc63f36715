"""Benchmark of a model fit with the fast engine in the loop (issue 14).

Run: ``python benchmarks/fit.py [--grains N] [--quick] [--compare]``.

The issue's joint fit: a ground-state copy of ``examples/simple.toml`` (initial state
"ground", so the echo is large), data simulated at σ = 60 kHz, τc = 2 µs with ensemble
seed 99 — a 20-point Hahn τ sweep (1–10 µs) and a CPMG-20 echo train (τ = 2 µs, one
point per echo) — and the model fitted with seed 1, 6 free parameters: σ, τc, amplitude,
phase and one baseline per data set, from σ = 40 kHz, τc = 3 µs. 10^4 grains per point
(``--grains``). Target: < 30 s wall on 2 cores.

Printed: wall time, evaluations and simulations, the fitted values against the truth
with their stated errors (the Monte-Carlo part apart), and the machine's load
(``os.getloadavg``) before and after — the figures depend on it. ``--compare`` also runs
the same fit the old way (one thread, all grains from the start, no batching) side by
side, for the ratio.
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


def run_fit(m, datasets, *, threads: int | None, early: bool, label: str):
    from echo.fit.model_fit import engine_simulator, fit_model

    if threads is not None:
        os.environ["SPINECHO_THREADS"] = str(threads)
    sim = engine_simulator("fast", initial="ground")
    if not early:  # the old loop: no batch (columns one after another)
        single = sim

        def sim(model, ds):  # noqa: F811 - a plain simulator without .batch
            return single(model, ds)

        sim.stochastic = True
        sim.freeze = single.freeze
        sim.carrier_margin = None
        sim.engine = "fast"
    print(f"[{label}] {load()}", flush=True)
    t = time.perf_counter()
    r = fit_model(datasets, m, {"sigma": 4e4, "tau_c": 3e-6, "amplitude": None,
                                "phase": None, "baseline": None},
                  simulator=sim, per_dataset=("baseline",), truth=TRUTH, early=early)
    wall = time.perf_counter() - t
    os.environ.pop("SPINECHO_THREADS", None)
    print(f"[{label}] wall {wall:.1f} s, {r.nfev} evaluations, {r.meta['simulations']} "
          f"simulations (samples {r.meta['samples']}), success {r.success}", flush=True)
    for k in ("sigma", "tau_c"):
        p = r[k]
        mc = r.meta["mc_stderr"].get(k, float("nan"))
        print(f"[{label}]   {k} = {p.value:.5g} ± {p.stderr:.3g} (MC part {mc:.3g}); truth "
              f"{p.truth:.5g}: {(p.value - p.truth) / p.stderr:+.2f}σ")
    for c in r.combinations:
        from echo.fit.fitresult import combination_text

        print(f"[{label}]   {combination_text(c)}")
    print(f"[{label}]   {r.message}")
    print(f"[{label}] {load()}", flush=True)
    return wall, r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grains", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="2000 grains, 10 + 10 points")
    ap.add_argument("--compare", action="store_true",
                    help="also the old loop (one thread, no early stage, no batching)")
    a = ap.parse_args(argv)
    grains = 2000 if a.quick else a.grains
    npts = 10 if a.quick else 20
    print(f"cores available: {len(os.sched_getaffinity(0))}; {load()}")
    m, datasets, t_data = problem(grains, npts, npts)
    print(f"data: Hahn {npts} points + CPMG-{npts}, {grains} grains per point, simulated "
          f"in {t_data:.1f} s (includes loading the numba cache)")
    wall, _ = run_fit(m, datasets, threads=None, early=True, label="new loop")
    if a.compare:
        wall_old, _ = run_fit(m, datasets, threads=1, early=False, label="old loop")
        print(f"ratio old/new wall: {wall_old / wall:.2f}")
    print(f"target: < 30 s wall on 2 cores -> {'met' if wall < 30 else 'NOT met'} "
          f"({wall:.1f} s)")


if __name__ == "__main__":
    main()
