"""Benchmarks of the fast engine (issue 4). Run: ``python benchmarks/engine.py [--quick]``.

1. Hahn echo with OU bias noise in the lab frame (library ``hahn``, real 4 MHz pulses):
   the QuTiP reference engine (per-grain ``mesolve`` loop, its default tolerances
   atol 1e-12 / rtol 1e-11) vs ``fast`` at max_error = 1e-6 (carrier_phase 0.047 rad,
   trace error ~2e-8 vs an ODE solver), per grain, both on one process. Target ≥ 1000×.
   [1b] the same at equal accuracy (noise-free): for each target error 1e-4, 1e-6, 1e-8
   of the ensemble ⟨τz⟩ against a max_error-1e-13 reference, the cheapest setting of each
   engine that meets it, and the time ratio per grain (``--only-accuracy``).
2. Throughput of ``fast`` on the same problem (OU noise), 10^5 grains, grain-steps/s on
   the fine grid (~2000 forced steps) and at the engine's own step choice (max_error
   1e-3), wall and per CPU-second, the pre-issue-14 kernel (compiled from git, commit
   :data:`OLD_KERNEL_COMMIT`) side by side in interleaved runs, and the fraction of the
   DGEMM peak measured in the same run. Targets (issue 14): ≥ 3e8 on the fine grid,
   ≥ 2e8 at the own step choice, on 2 threads.
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

import numpy as np

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


def bench_equal_accuracy(n_q, quick, targets=(1e-4, 1e-6, 1e-8)):
    """[1b] Equal-accuracy time ratio QuTiP / fast: noise-free Hahn in the lab frame, the
    same ``n_q`` grains in both engines; error = max over the output times of |⟨τz⟩ of
    the ensemble − reference|, the reference the fast engine at max_error 1e-13 (its own
    error estimated by the difference to max_error 1e-12). For each target the cheapest
    setting of each engine that meets it (fast: max_error on a grid; QuTiP: rtol on a grid,
    atol = rtol/10), both timed per grain (fast on 1000 grains, median of 3)."""
    from echo.engines import reference

    sch = hahn(1e-6)
    times, _ = output_times(sch, DET)
    env = Environment()
    ens_q = ensemble(n_q, seed=5)
    ch = ens_q.chunk(0)
    mom = ens_q.moment_rad_per_tesla
    w = float(np.sum(ch.weight))

    def fast_tz(ens, me):
        return fast.simulate_chunk(sch, ens.chunk(0), env, times, seed=3, moment=mom,
                                   max_error=me)[0][0] / float(np.sum(ens.chunk(0).weight))

    ref = fast_tz(ens_q, 1e-13)
    ref_err = float(np.max(np.abs(fast_tz(ens_q, 1e-12) - ref)))
    fast_rows = []
    for me in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11):
        fast_rows.append((me, float(np.max(np.abs(fast_tz(ens_q, me) - ref)))))
    ens_f = ensemble(200 if quick else 1000, seed=5)
    q_rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rtol in (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12):
            t0 = time.perf_counter()
            try:
                tz = reference.simulate_chunk(sch, ch, env, times, frame="lab", seed=3,
                                              moment=mom, rtol=rtol, atol=rtol / 10,
                                              nsteps=10 ** 7)[0][0] / w
            except Exception as exc:  # noqa: BLE001 — a failing tolerance is a result here
                print(f"    qutip rtol {rtol:g}: failed ({type(exc).__name__})")
                continue
            q_rows.append((rtol, float(np.max(np.abs(tz - ref))),
                           (time.perf_counter() - t0) / n_q))
    print(f"[1b] equal accuracy, noise-free Hahn, lab frame, {n_q} grains in both engines; "
          f"reference fast max_error 1e-13 (its own error ~{ref_err:.1e})")
    ratios = {}
    for target in targets:
        ok_f = [me for me, err in fast_rows if err <= target]
        ok_q = [(t, rtol, err) for rtol, err, t in q_rows if err <= target]
        if not ok_f:
            print(f"    {target:g}: fast does not reach it")
            continue
        me = max(ok_f)
        fast_chunk(hahn(1e-6), ens_f, env, max_error=me)
        t_f = timed(lambda me=me: fast.simulate_chunk(
            sch, ens_f.chunk(0), env, times, seed=3, moment=mom, max_error=me), 3) / len(
            ens_f.chunk(0).weight)
        err_f = dict(fast_rows)[me]
        if ok_q:
            t_q, rtol, err_q = min(ok_q)
            ratios[target] = t_q / t_f
            print(f"    {target:g}: qutip rtol {rtol:g} (error {err_q:.1e}) {t_q * 1e3:.1f} "
                  f"ms/grain; fast max_error {me:g} (error {err_f:.1e}) {t_f * 1e6:.2f} "
                  f"µs/grain; ratio {t_q / t_f:.0f}×")
        else:
            best = min(q_rows, key=lambda r: r[1]) if q_rows else None
            if best is None:
                print(f"    {target:g}: qutip failed at every tolerance")
                continue
            ratios[target] = best[2] / t_f
            print(f"    {target:g}: qutip does not reach it (best error {best[1]:.1e} at rtol "
                  f"{best[0]:g}, {best[2] * 1e3:.1f} ms/grain); fast max_error {me:g} "
                  f"(error {err_f:.1e}) {t_f * 1e6:.2f} µs/grain; ratio ≥ "
                  f"{best[2] / t_f:.0f}×")
    return ratios


#: the kernel before issue 14 (scalar noise pass, scalar redo of large rotation angles,
#: scalar record sum): compiled from git for the side-by-side columns of [2]
OLD_KERNEL_COMMIT = "d3f83f3"
#: floating-point operations per grain-step of the current kernel, counted in its source
#: for an undriven step with one OU process (a fused multiply-add counts 2; the integer
#: work of the random generator is not counted): two normals (Box–Muller: log, sqrt,
#: sin/cos polynomials) and the OU update ≈ 81, the rotation vector 21, the rotation
#: (half-angle sinc/cos polynomials and Rodrigues' formula) ≈ 71
FLOPS_PER_GRAIN_STEP = 173


def old_kernel():
    """The kernel of :data:`OLD_KERNEL_COMMIT` as a module (its run_ops/run_ops_serial
    take the same op table), or None when git or the commit is not at hand."""
    import importlib
    import tempfile

    root = Path(__file__).resolve().parent.parent
    try:
        src = subprocess.run(["git", "show", f"{OLD_KERNEL_COMMIT}:echo/engines/_kernels.py"],
                             cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    d = Path(tempfile.gettempdir()) / f"spinecho-old-kernel-{OLD_KERNEL_COMMIT}"
    d.mkdir(exist_ok=True)
    name = f"spinecho_old_kernels_{OLD_KERNEL_COMMIT}"
    path = d / f"{name}.py"
    if not path.exists() or path.read_text() != src:
        path.write_text(src)  # numba caches it beside the file (same path: cached next run)
    # an importable module (numba's cache re-imports a cached function's module by name)
    sys.path.insert(0, str(d))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(d))


def dgemm_peak(n=2000, repeat=5):
    """Measured DGEMM rate (flop/s) of numpy's BLAS on this machine now: the best of
    ``repeat`` n×n products (the peak the kernel is compared with)."""
    import numpy as np

    a = np.random.default_rng(0).random((n, n))
    b = np.random.default_rng(1).random((n, n))
    a @ b
    best = min(timed(lambda: a @ b, 1) for _ in range(repeat))
    return 2.0 * n ** 3 / best


def bench_throughput(quick, compare_old=True):
    """[2] grain-steps/s with OU noise, 10^5 grains, at the benchmark's fine grid (~2000
    forced steps) and at the engine's own step choice (max_error 1e-3), the current kernel
    and (side by side, interleaved) the pre-issue-14 one; and the fraction of the DGEMM
    peak measured in the same run."""
    from echo.engines import _kernels

    n = 20000 if quick else 100000
    sch = hahn(1.2e-6)
    ens = ensemble(n)
    times, _ = output_times(sch, DET)
    kernels = {"new": (_kernels.run_ops, _kernels.run_ops_serial)}
    old = old_kernel() if compare_old else None
    if old is not None:
        kernels["old"] = (old.run_ops, old.run_ops_serial)

    def run(name, **kw):
        _kernels.run_ops, _kernels.run_ops_serial = kernels[name]
        try:
            fast_chunk(sch, ens, ENV_NOISY, **kw)
        finally:
            _kernels.run_ops, _kernels.run_ops_serial = kernels["new"]

    peak = dgemm_peak()
    rates = {}
    for label, kw in (("fine grid (dt = T/2000)", {"dt": sch.duration / 2000}),
                      ("own step choice", {})):
        steps = fast.count_steps(sch, ens.chunk(0), ENV_NOISY, times,
                                 moment=ens.moment_rad_per_tesla, **kw)
        work = n * steps * sch.n_steps
        for name in kernels:  # warm-up (JIT or cache load)
            _kernels.run_ops, _kernels.run_ops_serial = kernels[name]
            fast_chunk(sch, ensemble(64), ENV_NOISY, **kw)
        _kernels.run_ops, _kernels.run_ops_serial = kernels["new"]
        walls = {k: [] for k in kernels}
        cpus = {k: [] for k in kernels}
        for _ in range(3):
            for name in kernels:
                t0, c0 = time.perf_counter(), time.process_time()
                run(name, **kw)
                walls[name].append(time.perf_counter() - t0)
                cpus[name].append(time.process_time() - c0)
        for name in kernels:
            w, c = statistics.median(walls[name]), statistics.median(cpus[name])
            rates[(label, name)] = work / w
            frac = (f"; {work / w * FLOPS_PER_GRAIN_STEP / peak:.1%} of the DGEMM peak"
                    if name == "new" else "")
            print(f"[2] {label}, {name} kernel: {n} grains × {steps} steps × {sch.n_steps} "
                  f"phase steps in {w:.2f} s wall (median of 3) = {work / w:.3g} "
                  f"grain-steps/s; {work / c:.3g} per CPU-second{frac}")
        if "old" in kernels:
            print(f"    new/old = {rates[(label, 'new')] / rates[(label, 'old')]:.2f}× "
                  f"(wall medians, interleaved runs)")
    print(f"    targets: >= 3e8 grain-steps/s on the fine grid, >= 2e8 at the own step "
          f"choice; DGEMM peak measured now: {peak / 1e9:.1f} GFLOP/s (numpy, "
          f"{FLOPS_PER_GRAIN_STEP} flop per grain-step counted in the kernel source)")
    return rates


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
    ap.add_argument("--only-throughput", action="store_true", help="only benchmark [2]")
    ap.add_argument("--only-accuracy", action="store_true", help="only benchmark [1b]")
    ap.add_argument("--accuracy-grains", type=int, default=5,
                    help="[1b] grains simulated by both engines (default 5)")
    ap.add_argument("--no-old", action="store_true",
                    help="[2] without the pre-issue-14 kernel beside the current one")
    args = ap.parse_args(argv)
    import numba

    print(f"fast engine benchmarks; numba threads {numba.get_num_threads()}, "
          f"load average {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    if args.only_wait:
        bench_quiet_wait()
        return 0
    if args.only_accuracy:
        bench_equal_accuracy(args.accuracy_grains, args.quick)
        return 0
    if args.only_throughput:
        bench_throughput(args.quick, compare_old=not args.no_old)
        return 0
    bench_compile()
    if not args.skip_qutip:
        bench_vs_qutip(args.qutip_grains, args.quick)
        bench_equal_accuracy(args.accuracy_grains, args.quick)
    bench_throughput(args.quick, compare_old=not args.no_old)
    bench_memory(args.quick)
    bench_delay()
    bench_quiet_wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
