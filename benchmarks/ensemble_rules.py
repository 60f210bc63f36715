"""Accuracy per grain of the ensemble rules (issue 15). Run:
``python benchmarks/ensemble_rules.py [--quick]``.

Hahn echo (library ``hahn``, τ = 1 µs, rectangular τz-driven 4 MHz pulses, lab frame, no
RWA), Δ0 ~ N(1 MHz, 0.05 MHz) and ε ~ N(0, 0.5 MHz), no noise, T = 0. The "trace" is the
ensemble ⟨τz⟩(t) of both phase-cycle steps over the 1 µs echo window (100 samples). The
converged answer is a 24 × 128 Gauss–Hermite grid (3072 grains; its own change against
20 × 100 is printed). Every run uses the same engine settings (max_error 1e-3), so the
deviations measure the ensemble rule alone, not the time stepping. Printed per rule and
number of grains: the max |Δ⟨τz⟩| over samples and steps, and the wall time.

* random: plain Monte Carlo (seed 1);  qmc: one scrambled Sobol set (batches = 1, seed 1);
  plus the batch-means standard error the simulation reports for them (16 batches);
* quadrature: n_Δ × n_ε tensor Gauss–Hermite grids.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# benchmarks/sequences.py (another benchmark) would shadow the `sequences` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

from echo.model import Detection, Ensemble, Environment, Gaussian  # noqa: E402
from echo.simulate import simulate  # noqa: E402
from sequences import load  # noqa: E402

D0, SD0, SEPS = 1e6, 0.05e6, 0.5e6


def run(delta0, bias, **kw):
    ens = Ensemble(delta0, bias, **kw)
    seq = load("hahn")
    t = time.perf_counter()
    r = simulate(seq, _model(ens), values={"tau": 1e-6}, keep_tau_z=True, normalise=False)
    dt = time.perf_counter() - t
    return r.tau_z[0], r.dataset["tau_z_stderr"].values[0], dt, ens.n_samples


def _model(ens):
    from echo.model import Model

    return Model(ens, Environment(), Detection())


def quad(n_d, n_e):
    return run(Gaussian(D0, SD0, rule="quadrature", points=n_d),
               Gaussian(0.0, SEPS, rule="quadrature", points=n_e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average; 2 cores shared)")
    quad(2, 2)  # JIT warm-up
    ref, _, t_ref, n_ref = quad(24, 128)
    ref2, _, _, _ = quad(20, 100)
    print(f"reference: 24x128 Gauss-Hermite = {n_ref} grains ({t_ref:.1f} s); "
          f"max |24x128 - 20x100| = {np.max(np.abs(ref - ref2)):.2e}")
    rows = []
    sizes = [64, 256, 1024] if args.quick else [64, 256, 1024, 4096, 16384]
    for n in sizes:
        tz, se, dt, g = run(Gaussian(D0, SD0), Gaussian(0.0, SEPS), n_samples=n, seed=1)
        rows.append(("random", g, np.max(np.abs(tz - ref)), np.max(se), dt))
    for n in sizes:
        tz, _, dt, g = run(Gaussian(D0, SD0, rule="qmc"), Gaussian(0.0, SEPS, rule="qmc"),
                           n_samples=n, batches=1, seed=1)
        _, se, _, _ = run(Gaussian(D0, SD0, rule="qmc"), Gaussian(0.0, SEPS, rule="qmc"),
                          n_samples=n, batches=16, seed=1)
        rows.append(("qmc", g, np.max(np.abs(tz - ref)), np.max(se), dt))
    grids = [(2, 8), (4, 16), (6, 24), (8, 32), (10, 40), (12, 48), (14, 64), (16, 64)]
    for n_d, n_e in grids[:5] if args.quick else grids:
        tz, _, dt, g = quad(n_d, n_e)
        rows.append((f"quadrature {n_d}x{n_e}", g, np.max(np.abs(tz - ref)), 0.0, dt))
    print("\n| rule | grains | max deviation | reported s.e. (max) | time (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, g, dev, se, dt in rows:
        se_s = f"{se:.1e}" if se > 0 else "–"
        print(f"| {name} | {g} | {dev:.1e} | {se_s} | {dt:.2f} |")


if __name__ == "__main__":
    main()
