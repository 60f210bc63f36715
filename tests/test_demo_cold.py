"""`spinecho demo` as a new user's very first run (issue 9): a fresh clone, an empty numba
cache and a loaded 2-core machine (two busy-loop processes beside it). Slow: minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_first_run_cold_cache_under_load(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    cache = tmp_path / "numba_cache"
    cache.mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(clone),
           "PYTHONDONTWRITEBYTECODE": "1"}
    where = subprocess.run([sys.executable, "-c", "import spinecho; print(spinecho.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert str(clone) in where.stdout  # the clone's code runs, not the checkout's
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "spinecho", "demo", "-o",
                            str(tmp_path / "demo")], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=3600)
        wall = time.monotonic() - t0
    finally:
        for b in busy:
            b.kill()
            b.wait()
    load = os.getloadavg()[0]
    print(f"cold-cache demo under two busy loops: {wall:.0f} s wall, exit {p.returncode}, "
          f"load average {load:.2f}")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    assert (tmp_path / "demo" / "summary.json").exists()
    assert any(cache.rglob("*.nbi")), "numba cached nothing: NUMBA_CACHE_DIR not used?"
