"""Benchmark: upload + arm + trigger + read one 100k-sample trace on the virtual lab.

Everything goes through the real path: the project's drivers over pyvisa-py
``TCPIP::127.0.0.1::PORT::SOCKET`` to the emulated 33522B and DSOX, whose shot is
simulated by the echo engine. The AWG plays a compiled Hahn echo of 100 000 samples
(400 µs at 250 MSa/s) and the digitizer returns a 100 000-point WORD record of the whole
shot. The emulated scope is configured deeper than the DSOX1102G (62 500 points) and
the point count is set with ``:WAV:POIN`` directly (the driver caps it at 62 500).

Printed: medians over the repetitions of each phase — upload (binary block + SYST:ERR?),
arm + trigger + completion (of which the engine's simulation of the shot, measured in
the server), trace read (block transfer + scaling) — and the transfer / simulation
split. The sample's cache is cleared before each repetition so that every shot is
simulated. Run: ``python benchmarks/instruments.py [--repeat 5] [--grains 256]``.
Wall-clock numbers depend on the machine's load (say so when quoting them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_SAMPLES = 100_000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--grains", type=int, default=256, help="simulated grains (n_samples)")
    args = ap.parse_args(argv)

    import sequences
    from instruments.compiler import compile as compile_schedule
    from instruments.compiler import upload_program
    from instruments.lab import connect, load_lab
    from instruments.virtual.lab import VirtualLab, config_from_dict, default_config

    cfg = default_config()
    cfg["model"]["ensemble"]["n_samples"] = args.grains
    cfg["awg"]["volts_per_tesla"] = 1.0e6
    cfg["digitizer"]["max_points"] = 4_000_000
    cfg["digitizer"]["digitize_timeout"] = 10.0
    vcfg = config_from_dict(cfg, "<benchmark>")
    rate = 250e6
    duration = N_SAMPLES / rate
    with VirtualLab(vcfg, ephemeral=True, lifetime=3600) as vlab, \
            tempfile.TemporaryDirectory() as tmp:
        text = (ROOT / "examples" / "lab_virtual.toml").read_text()
        for role, port in (("awg", 5025), ("digitizer", 5026), ("lockin", 5027)):
            text = text.replace(f"::{port}::", f"::{vlab.servers[role].port}::")
        text = text.replace("volts_per_tesla = 1000.0", "volts_per_tesla = 1.0e6")
        text = text.replace("timeout_s = 10", "timeout_s = 30")
        text = text.replace("max_points = 62500", "max_points = 4000000")
        text = text.replace("sample_rate = 1e9 ", "sample_rate = 250e6 ")
        lab_path = Path(tmp) / "lab.toml"
        lab_path.write_text(text)
        labcfg = load_lab(lab_path)
        # a Hahn echo whose shot is exactly 100k AWG samples, detection over the whole shot
        tau = (duration - 1.5e-6) / 2
        sched = sequences.load("hahn").bind(tau=tau, window=2 * 0.9e-6)
        from dataclasses import replace

        from sequences.schedule import DetectionWindow

        sched = replace(sched, duration=duration, windows=(DetectionWindow(
            sched.windows[0].channel, 0.0, duration, "echo"),))
        prog = compile_schedule(sched, labcfg)
        assert prog.n_points == N_SAMPLES, prog.n_points
        from instruments.link import resync

        lab = connect(labcfg, ("awg", "digitizer"))
        times = {k: [] for k in ("upload", "trigger", "simulate", "read", "total")}
        misses = 0
        try:
            awg, dig = lab.awg, lab.digitizer
            ch = awg.channels[prog.field.channel]
            for _ in range(args.repeat):
                vlab.sample._cache.clear()
                sim0 = vlab.sample.sim_seconds
                t0 = time.perf_counter()
                upload_program(awg, prog, output=True)
                t1 = time.perf_counter()
                dig.configure(duration, trigger_delay=0.0, averages=1)
                dig.write(f":WAV:POIN {N_SAMPLES}")
                for _attempt in range(3):  # a trigger sent before the scope armed is lost
                    ch.select_arb(prog.steps[0].segment)
                    dig.arm(1)
                    time.sleep(0.03)
                    awg.trigger()
                    try:
                        dig.wait_complete()
                        break
                    except Exception:  # noqa: BLE001 - timeout: re-arm and re-trigger
                        misses += 1
                        resync(dig)  # the late *OPC? reply is not read as the error queue
                        dig.check_errors()
                t2 = time.perf_counter()
                t, v = dig.read_trace(1)
                t3 = time.perf_counter()
                assert v.size == N_SAMPLES, v.size
                times["upload"].append(t1 - t0)
                times["trigger"].append(t2 - t1)
                times["simulate"].append(vlab.sample.sim_seconds - sim0)
                times["read"].append(t3 - t2)
                times["total"].append(t3 - t0)
        finally:
            lab.shutdown()
            lab.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    transfer = med["upload"] + med["read"]
    print(f"virtual lab, {N_SAMPLES} AWG samples + {N_SAMPLES}-point record, "
          f"{args.grains} grains, {args.repeat} repetitions (medians)")
    print(f"  total                       {med['total'] * 1e3:9.1f} ms")
    print(f"  upload (block + SYST:ERR?)  {med['upload'] * 1e3:9.1f} ms")
    print(f"  arm + trigger + complete    {med['trigger'] * 1e3:9.1f} ms")
    print(f"    of which simulation       {med['simulate'] * 1e3:9.1f} ms")
    print(f"  read (WORD block)           {med['read'] * 1e3:9.1f} ms")
    print(f"  transfer (upload + read)    {transfer * 1e3:9.1f} ms "
          f"= {transfer / med['total']:.0%} of total")
    print(f"  simulation                  {med['simulate'] * 1e3:9.1f} ms "
          f"= {med['simulate'] / med['total']:.0%} of total; simulation/transfer = "
          f"{med['simulate'] / transfer:.2f}")
    if misses:
        print(f"  ({misses} missed trigger(s) re-armed; their time is in the total)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
