"""Start-up of the command line (issue 14, item 4). Run: ``python benchmarks/startup.py
[--repeat N] [--cold-repeat N]``.

Each figure is the median wall time of N runs, each in a fresh process, side by side, with
the median CPU time (user + system) of the same runs, which depends less on the load:

1. ``spinecho --help``;
2. warm ``spinecho simulate hahn --model examples/simple.toml -o R.nc`` (the kernels'
   numba cache filled by an earlier run); target < 1 s;
3. the same as the first run of a fresh install: a fresh copy of the code (new paths and
   mtimes, no ``__pycache__``: Python compiles the project's bytecode too) and an empty
   ``NUMBA_CACHE_DIR``, so the kernels come from the cache shipped with the package
   (``echo.engines.kernel_cache``); target < 3 s;
4. the same with the shipped cache turned off (``SPINECHO_KERNEL_SEED=0``): numba
   compiles the kernel this command needs; the compile fraction is (4 − 2) / 4.

``--before REV`` adds a column for the code of an earlier commit, run the same way in the
same environment, its runs alternating with the others'. The machine's load average is
printed before and after: wall times on a shared machine grow with it. The numba target
(CPU) is printed too: the shipped cache only serves the CPU it was built for (elsewhere
row 3 compiles, like row 4).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd, env, cwd) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU = user + system of the child."""
    c0, t0 = _cpu(), time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return wall, cpu


def _fresh_tree(where: Path, rev: str | None = None) -> Path:
    """The code as a fresh install has it: a copy of the working tree (or of commit
    ``rev``) without any ``__pycache__``."""
    where.mkdir(parents=True)
    if rev is None:
        for name in PACKAGES:
            shutil.copytree(ROOT / name, where / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.nc"))
    else:
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *PACKAGES],
                             check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(where)], input=tar, check=True)
    return where


def _rows(tmp: Path, columns: dict, repeat: int, cold_repeat: int) -> dict:
    """Every row for every column; the columns' runs alternate (run i of each column, then
    run i + 1), so a change of the machine's load hits them alike."""
    cli = [sys.executable, "-m", "spinecho"]
    out = tmp / "r.nc"
    rows = {name: {"help": [], "warm": [], "fresh": [], "jit": []} for name in columns}
    warm_env = {}
    for c, (name, rev) in enumerate(columns.items()):
        tree = _fresh_tree(tmp / f"warm{c}" / "tree", rev)
        warm_env[name] = _env(NUMBA_CACHE_DIR=str(tmp / f"warm{c}" / "cache"),
                              PYTHONPATH=str(tree))
        _timed(cli + _simulate_args(out), warm_env[name], tmp)  # fills the warm caches
    for _ in range(repeat):
        for name in columns:
            rows[name]["help"].append(_timed(cli + ["--help"], warm_env[name], tmp))
            rows[name]["warm"].append(_timed(cli + _simulate_args(out), warm_env[name], tmp))
    for i in range(cold_repeat):
        for label, extra in (("fresh", {}), ("jit", {"SPINECHO_KERNEL_SEED": "0"})):
            for c, (name, rev) in enumerate(columns.items()):
                run = tmp / f"{label}{i}_{c}"
                tree = _fresh_tree(run / "tree", rev)
                env = _env(NUMBA_CACHE_DIR=str(run / "cache"), PYTHONPATH=str(tree), **extra)
                rows[name][label].append(_timed(cli + _simulate_args(out), env, run))
    return rows


def _simulate_args(out: Path) -> list[str]:
    return ["simulate", "hahn", "--model", str(ROOT / "examples" / "simple.toml"),
            "-o", str(out)]


def _fmt(runs) -> str:
    ts = [w for w, _ in runs]
    cpu = statistics.median(c for _, c in runs)
    return (f"{statistics.median(ts):.2f} s ({min(ts):.2f}-{max(ts):.2f}, {len(ts)}) "
            f"cpu {cpu:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs of rows 1-2 (default 7)")
    ap.add_argument("--cold-repeat", type=int, default=5,
                    help="runs of rows 3-4, each from scratch (default 5)")
    ap.add_argument("--before", metavar="REV",
                    help="also measure the code of git commit REV (same environment), "
                         "side by side")
    a = ap.parse_args(argv)

    from echo.engines import kernel_cache

    target = kernel_cache.target_description()
    seed = kernel_cache.read_manifest() or {}
    seed_cpus = ", ".join(t.get("cpu", "?") for t in seed.get("targets", [])) or "none"
    seed_ok = seed.get("key") == kernel_cache.source_key()
    print(f"startup benchmark; python {sys.version.split()[0]}, numba {target['numba']}, "
          f"target {target['cpu']}; shipped kernel cache built for {seed_cpus}, "
          f"{'current' if seed_ok else 'STALE (rebuild it)'}, "
          f"{'serves' if kernel_cache.serves_host(seed) else 'does NOT serve'} this CPU")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    columns = {"now": None, **({a.before: a.before} if a.before else {})}
    with tempfile.TemporaryDirectory() as tmp:
        rows = _rows(Path(tmp), columns, a.repeat, a.cold_repeat)
    labels = {"help": "[1] spinecho --help",
              "warm": "[2] warm spinecho simulate (target < 1 s)",
              "fresh": "[3] fresh install, empty numba cache (< 3 s)",
              "jit": "[4] same, shipped cache off (numba compiles)"}
    print(f"{'median wall (min-max, n), median CPU':45s}" + "".join(f"{n:>35s}" for n in columns))
    for key, label in labels.items():
        print(f"{label:45s}" + "".join(f"{_fmt(rows[n][key]):>35s}" for n in columns))
    for name in columns:
        med = {k: statistics.median(w for w, _ in v) for k, v in rows[name].items()}
        print(f"{name}: compile time [4] - [2] = {med['jit'] - med['warm']:.2f} s = "
              f"{(med['jit'] - med['warm']) / med['jit']:.0%} of [4]; [3] - [2] = "
              f"{med['fresh'] - med['warm']:.2f} s (bytecode, cache copy and load)")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
