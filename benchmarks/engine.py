"""Benchmarks of the fast engine (issue 4). Run: ``python benchmarks/engine.py [--quick]``.

1. Hahn echo with OU bias noise in the lab frame (library ``hahn``, real 4 MHz pulses):
   the QuTiP reference engine (per-grain ``mesolve`` loop, its default tolerances
   atol 1e-12 / rtol 1e-11) vs ``fast`` at max_error = 1e-6 (carrier_phase 0.047 rad,
   trace error ~2e-8 vs an ODE solver), per grain, both on one process. Target ≥ 1000×.
2. Throughput of ``fast`` on the same problem, 10^5 grains × ~2000 steps (reported: the
   engine's own step count × phase steps). Target ≥ 1e8 grain-steps/s on 2 cores.
3. Peak memory (ru_maxrss of a fresh subprocess, and tracemalloc's Python peak) for 10^6
   grains × 2000 output points. Target ≤ 1 GiB.
4. Noise-free Hahn echo, τ = 1 µs vs τ = 1 ms: time ratio (target ≤ 1.5).
5. A quiet wait before a Hahn echo (issue 9): peak RSS of ``echo.simulate`` (output
   sampling, engine, demodulation) on ``examples/simple.toml`` with 100 grains, each run
   in a fresh subprocess: a 1 s wait vs a 1 µs wait without bias noise (target ≤ 1.5×),
   and with the example's OU bias noise 10 ms vs 1 µs (memory stays flat; the time grows
   with the wait, since the noise has to be integrated step by step).

Timings are medians of repeated runs after a warm-up (numba JIT/cache load reported
separately). Wall-clock numbers depend on the machine's load: run on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

# benchmarks/sequences.py (another benchmark) would shadow the `sequences` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


from echo.detect import output_times  # noqa: E402
from echo.engines import fast  # noqa: E402
from echo.model import (  # noqa: E402
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Gaussian,
    OrnsteinUhlenbeck,
)

DET = Detection(sample_rate=100e6)
ENV_NOISY = Environment(noise=(OrnsteinUhlenbeck(20e3, 2e-6),))


def hahn(tau, ideal=0):
    import sequences

    return sequences.load("hahn").bind(tau=tau, ideal=ideal)


def ensemble(n, seed=1):
    return Ensemble(Fixed(1e6), Gaussian(0.0, 0.2e6), n_samples=n, chunk_size=n, seed=seed)


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def fast_chunk(sch, ens, env, **kw):
    times, _ = output_times(sch, DET)
    return fast.simulate_chunk(sch, ens.chunk(0), env, times, seed=3,
                               moment=ens.moment_rad_per_tesla, **kw)


def bench_compile():
    sch = hahn(1e-6)
    ens = ensemble(8)
    t0 = time.perf_counter()
    fast_chunk(sch, ens, ENV_NOISY)
    first = time.perf_counter() - t0
    t1 = timed(lambda: fast_chunk(sch, ens, ENV_NOISY), 3)
    print(f"[0] numba first call (JIT or cache load) {first:.2f} s; warm call {t1 * 1e3:.1f} ms")


def bench_vs_qutip(n_qutip, quick):
    from echo.engines import reference

    sch = hahn(1e-6)
    times, _ = output_times(sch, DET)
    ens_q = ensemble(n_qutip, seed=5)
    ch = ens_q.chunk(0)
    kw = dict(frame="lab", seed=3, moment=ens_q.moment_rad_per_tesla, max_error=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        reference.simulate_chunk(sch, ch, ENV_NOISY, times, **kw)
        t_q = (time.perf_counter() - t0) / n_qutip
    n_f = 2000 if quick else 20000
    ens_f = ensemble(n_f, seed=5)
    fast_chunk(sch, ens_f, ENV_NOISY, max_error=1e-6)
    t_f = timed(lambda: fast_chunk(sch, ens_f, ENV_NOISY, max_error=1e-6), 3) / n_f
    steps = fast.count_steps(sch, ens_f.chunk(0), ENV_NOISY, times, max_error=1e-6,
                             moment=ens_f.moment_rad_per_tesla)
    print(f"[1] Hahn + OU noise, lab frame, {sch.n_steps} phase steps, {times.size} outputs")
    print(f"    qutip: {t_q * 1e3:.1f} ms/grain ({n_qutip} grains); fast (max_error 1e-6, "
          f"{steps} steps/phase step): {t_f * 1e6:.2f} µs/grain ({n_f} grains)")
    print(f"    ratio qutip/fast = {t_q / t_f:.0f}x   (target >= 1000x)")
    return t_q / t_f


def bench_throughput(quick):
    n = 20000 if quick else 100000
    sch = hahn(1.2e-6)
    dt = sch.duration / 2000  # force ~2000 steps (finer than the carrier substep rule needs)
    ens = ensemble(n)
    times, _ = output_times(sch, DET)
    steps = fast.count_steps(sch, ens.chunk(0), ENV_NOISY, times,
                             moment=ens.moment_rad_per_tesla, dt=dt)
    fast_chunk(sch, ensemble(64), ENV_NOISY, dt=dt)
    walls, cpus = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        fast_chunk(sch, ens, ENV_NOISY, dt=dt)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t, c = statistics.median(walls), statistics.median(cpus)
    work = n * steps * sch.n_steps
    print(f"[2] throughput: {n} grains × {steps} steps × {sch.n_steps} phase steps in "
          f"{t:.2f} s wall (median of 3) = {work / t:.3g} grain-steps/s  (target >= 1e8); "
          f"{c:.2f} CPU-s = {work / c:.3g} grain-steps per CPU-second")
    return work / t


_MEM_CHILD = r"""
import resource, tracemalloc, json, time, sys
import numpy as np
from echo.model import Detection, Ensemble, Environment, Fixed, Gaussian
from echo.simulate import simulate_schedules
from sequences.schedule import Channel, DetectionWindow, IdealPulse, Schedule
n = int(sys.argv[1])
tau = 1e-6
sch = Schedule(channels=(Channel("rf", "field"), Channel("adc", "detector")),
               ideal_pulses=(IdealPulse("rf", 0.0, np.pi / 2), IdealPulse("rf", tau, np.pi)),
               windows=(DetectionWindow("adc", 2 * tau - 1e-6, 2e-6, "echo"),),
               duration=2 * tau + 1e-6)
ens = Ensemble(Fixed(1e6), Gaussian(0.0, 0.2e6), n_samples=n, chunk_size=65536)
det = Detection(sample_rate=1e9)   # 2 µs window -> 2000 output points
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t0 = time.perf_counter()
r = simulate_schedules([sch], ens, Environment(), det, normalise=False)
dt = time.perf_counter() - t0
cur, peak = tracemalloc.get_traced_memory()
print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "base_kib": base, "py_peak": peak, "seconds": dt,
                  "n_out": int(r.dataset.sizes["time"])}))
"""


def bench_memory(quick):
    n = 100000 if quick else 1000000
    out = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(n)], capture_output=True,
                         text=True, check=True)
    d = json.loads(out.stdout.strip().splitlines()[-1])
    gib = d["maxrss_kib"] / 2**20
    print(f"[3] memory: {n} grains × {d['n_out']} output points: peak RSS {gib:.3f} GiB "
          f"(process baseline before the run {d['base_kib'] / 2**20:.3f} GiB), Python "
          f"allocations peak {d['py_peak'] / 2**20:.1f} MiB, run {d['seconds']:.1f} s "
          "(target <= 1 GiB)")
    return gib


def bench_delay():
    ens = ensemble(10000)
    s1, s2 = hahn(1e-6), hahn(1e-3)
    fast_chunk(s1, ens, Environment())
    t1 = timed(lambda: fast_chunk(s1, ens, Environment()), 5)
    t2 = timed(lambda: fast_chunk(s2, ens, Environment()), 5)
    print(f"[4] noise-free Hahn (real pulses, lab frame, 10^4 grains): τ = 1 µs {t1 * 1e3:.1f} "
          f"ms, τ = 1 ms {t2 * 1e3:.1f} ms, ratio {t2 / t1:.2f}  (target <= 1.5)")
    return t2 / t1


_WAIT_CHILD = r'''
import json, resource, sys, time
from dataclasses import replace
from pathlib import Path
import sequences
from echo.modelfile import load_model
from echo.simulate import simulate

wait, noisy = float(sys.argv[1]), sys.argv[2] == "1"
model = load_model(sys.argv[3])
model = replace(model, ensemble=replace(model.ensemble, n_samples=100))
if not noisy:
    model = replace(model, environment=model.environment.quiet())
# the library Hahn echo (real 4 MHz pulses) with delay(wait) before its first pulse
src = (Path(sequences.__file__).parent / "library" / "hahn.seq").read_text()
src = src[src.index("sequence hahn"):]
seq = sequences.parse(src.replace("sequence hahn", "sequence waited_hahn\nparam wait = 1 us")
                      .replace("\npulse(t90", "\ndelay(wait)\npulse(t90", 1))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
r = simulate(seq, model, values={"wait": wait}, normalise=False)
dt = time.perf_counter() - t0
print(json.dumps({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "base_kib": base, "seconds": dt, "n_out": int(r.dataset.sizes["time"])}))
'''


def _wait_run(wait: float, noisy: bool) -> dict:
    model = Path(__file__).resolve().parent.parent / "examples" / "simple.toml"
    out = subprocess.run([sys.executable, "-c", _WAIT_CHILD, repr(wait), str(int(noisy)),
                          str(model)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_quiet_wait():
    """[5] peak RSS of a Hahn echo after a long quiet wait vs a short one."""
    ratios = {}
    for noisy, long_wait in ((False, 1.0), (True, 10e-3)):
        _wait_run(1e-6, noisy)  # numba cache warm
        short, long_ = _wait_run(1e-6, noisy), _wait_run(long_wait, noisy)
        ratio = long_["maxrss_kib"] / short["maxrss_kib"]
        ratios[noisy] = ratio
        label = "OU bias noise" if noisy else "no bias noise"
        print(f"[5] quiet wait before a Hahn echo ({label}, 100 grains, simple.toml): "
              f"peak RSS 1 µs wait {short['maxrss_kib'] / 1024:.0f} MiB "
              f"({short['seconds']:.2f} s), {long_wait:g} s wait "
              f"{long_['maxrss_kib'] / 1024:.0f} MiB ({long_['seconds']:.2f} s), ratio "
              f"{ratio:.2f}  (target <= 1.5)")
    return ratios


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (for a smoke run)")
    ap.add_argument("--qutip-grains", type=int, default=2)
    ap.add_argument("--skip-qutip", action="store_true")
    ap.add_argument("--only-wait", action="store_true", help="only benchmark [5]")
    args = ap.parse_args(argv)
    import numba

    print(f"fast engine benchmarks; numba threads {numba.get_num_threads()}, "
          f"load average {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    if args.only_wait:
        bench_quiet_wait()
        return 0
    bench_compile()
    if not args.skip_qutip:
        bench_vs_qutip(args.qutip_grains, args.quick)
    bench_throughput(args.quick)
    bench_memory(args.quick)
    bench_delay()
    bench_quiet_wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
