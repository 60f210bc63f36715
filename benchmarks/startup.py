"""Start-up of the command line (issue 14, item 4). Run: ``python benchmarks/startup.py
[--repeat N] [--cold-repeat N]``.

Each figure is the median wall time of N runs, each in a fresh process, side by side:

1. ``spinecho --help``;
2. warm ``spinecho simulate hahn --model examples/simple.toml -o R.nc`` (the kernels'
   numba cache filled by an earlier run); target < 1 s;
3. the same as the first run of a fresh install: a fresh copy of the code (new paths and
   mtimes, no ``__pycache__``: Python compiles the project's bytecode too) and an empty
   ``NUMBA_CACHE_DIR``, so the kernels come from the cache shipped with the package
   (``echo.engines.kernel_cache``); target < 3 s;
4. the same with the shipped cache turned off (``SPINECHO_KERNEL_SEED=0``): numba
   compiles the kernel this command needs; the compile fraction is (4 − 2) / 4.

The machine's load average is printed before and after: wall times on a shared machine
grow with it. The numba target (CPU) is printed too: the shipped cache only serves the CPU
it was built for (elsewhere row 3 compiles, like row 4).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/sequences.py (another benchmark) would shadow the `sequences` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
PACKAGES = ("echo", "sequences", "instruments", "spinecho")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SPINECHO_KERNEL_SEED"}
    env.update(extra)
    return env


def _timed(cmd, env, cwd) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return wall


def _fresh_tree(where: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, where / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.nc"))
    return where


def _simulate_args(out: Path) -> list[str]:
    return ["simulate", "hahn", "--model", str(ROOT / "examples" / "simple.toml"),
            "-o", str(out)]


def _fmt(ts) -> str:
    return (f"{statistics.median(ts):6.2f} s  (min {min(ts):.2f}, max {max(ts):.2f}, "
            f"n={len(ts)})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs of rows 1-2 (default 7)")
    ap.add_argument("--cold-repeat", type=int, default=5,
                    help="runs of rows 3-4, each from scratch (default 5)")
    a = ap.parse_args(argv)

    from echo.engines import kernel_cache

    target = kernel_cache.target_description()
    seed = kernel_cache.read_manifest() or {}
    seed_cpu = (seed.get("target") or {}).get("cpu", "none")
    seed_ok = seed.get("key") == kernel_cache.source_key()
    print(f"startup benchmark; python {sys.version.split()[0]}, numba {target['numba']}, "
          f"target {target['cpu']}; shipped kernel cache built for {seed_cpu}, "
          f"{'current' if seed_ok else 'STALE (rebuild it)'}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cli = [sys.executable, "-m", "spinecho"]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "warm_cache"
        warm_env = _env(NUMBA_CACHE_DIR=str(cache))
        out = tmp / "r.nc"
        rows["help"] = [_timed(cli + ["--help"], warm_env, tmp) for _ in range(a.repeat)]
        _timed(cli + _simulate_args(out), warm_env, tmp)  # fills the warm cache
        rows["warm"] = [_timed(cli + _simulate_args(out), warm_env, tmp)
                        for _ in range(a.repeat)]
        for label, extra in (("fresh", {}), ("jit", {"SPINECHO_KERNEL_SEED": "0"})):
            ts = []
            for i in range(a.cold_repeat):
                run = tmp / f"{label}{i}"
                tree = _fresh_tree(run / "tree")
                env = _env(NUMBA_CACHE_DIR=str(run / "cache"), PYTHONPATH=str(tree), **extra)
                ts.append(_timed(cli + _simulate_args(out),
                                 env, run))
            rows[label] = ts
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"[1] spinecho --help                          {_fmt(rows['help'])}")
    print(f"[2] warm spinecho simulate (target < 1 s)    {_fmt(rows['warm'])}")
    print(f"[3] fresh install, empty numba cache (< 3 s) {_fmt(rows['fresh'])}")
    print(f"[4] same, shipped cache off (numba compiles) {_fmt(rows['jit'])}")
    print(f"compile time {med['jit'] - med['warm']:.2f} s = "
          f"{(med['jit'] - med['warm']) / med['jit']:.0%} of [4]; "
          f"[3] - [2] = {med['fresh'] - med['warm']:.2f} s (bytecode, cache copy and load)")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
