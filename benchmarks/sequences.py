"""Benchmark: parse + bind + validate a 1000-echo CPMG, then sample it at 1 GS/s.

Run: ``python benchmarks/sequences.py [--repeats N] [--echoes N]``. Prints medians (ms)
of each stage measured side by side in one run, and the sampling throughput compared
with a plain numpy memory pass (np.copyto) over an array of the same size, which bounds
what any sampler can do (memory bandwidth). Target: parse + bind + validate < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# this script is named like the package: drop its own folder from the import path
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import numpy as np  # noqa: E402

from sequences.hardware import HardwareProfile  # noqa: E402
from sequences.parser import LIBRARY, parse  # noqa: E402


def _median_ms(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up (grammar compile, page faults of the first allocation)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--echoes", type=int, default=1000)
    args = ap.parse_args(argv)

    text = (LIBRARY / "cpmg.seq").read_text()
    values = {"n": args.echoes, "tau": "2 us", "t90": "100 ns", "window": "1 us"}
    profile = HardwareProfile.from_dict({
        "raster": "1 ns", "min_pulse": "8 ns", "min_delay": "20 ns", "max_length": "10 ms",
        "max_amplitude": "2 uT", "max_duty_cycle": 0.2, "max_frequency": "100 MHz"})

    parse_ms, seq = _median_ms(lambda: parse(text, "cpmg.seq"), args.repeats)
    bind_ms, sched = _median_ms(lambda: seq.bind(**values), args.repeats)
    val_ms, bad = _median_ms(lambda: profile.validate(sched), args.repeats)
    total_ms, _ = _median_ms(lambda: profile.validate(parse(text, "cpmg.seq").bind(**values)),
                             args.repeats)
    assert not bad, bad
    rate = 1e9
    n_samples = int(sched.duration * rate)
    sample_ms, arr = _median_ms(lambda: sched.sample(rate, "rf"), args.repeats)
    ref = np.empty(n_samples)
    src = np.zeros(n_samples)
    copy_ms, _ = _median_ms(lambda: np.copyto(ref, src), args.repeats)
    gate_ms, _ = _median_ms(lambda: sched.sample(rate, "adc"), args.repeats)

    print(f"CPMG with {args.echoes} echoes: {len(sched.pulses)} pulses, "
          f"{len(sched.windows)} windows, duration {sched.duration * 1e6:.1f} us, "
          f"{sched.n_steps} phase-cycle steps")
    print(f"  parse                      {parse_ms:8.2f} ms (median of {args.repeats})")
    print(f"  bind (incl. Schedule.check) {bind_ms:7.2f} ms")
    print(f"  validate (hardware)        {val_ms:8.2f} ms")
    print(f"  parse + bind + validate    {total_ms:8.2f} ms   (target < 50 ms: "
          f"{'met' if total_ms < 50 else 'NOT met'})")
    print(f"  sample rf at 1 GS/s        {sample_ms:8.2f} ms  ({n_samples / 1e6:.1f} M samples, "
          f"{n_samples / sample_ms / 1e3:.0f} MS/s)")
    print(f"  sample adc gate at 1 GS/s  {gate_ms:8.2f} ms")
    print(f"  numpy copy of same size    {copy_ms:8.2f} ms  (memory-bandwidth reference; "
          f"sampling / copy = {sample_ms / copy_ms:.1f})")
    assert arr.shape == (n_samples,)


if __name__ == "__main__":
    main()
