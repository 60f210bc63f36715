"""``spinecho tune --lab LAB.toml -o OUT [--amp A] [--tp-max S] [--points N] [--tau S]
[--window S]``: automatic calibration on the lab's instruments — nutation → π/2 and π
lengths at amplitude A, echo position and receiver phase — written to ``OUT/tuned.toml``,
a parameter file the library sequences read with ``--params OUT/tuned.toml``
(:mod:`instruments.tune`)."""

from __future__ import annotations

import math
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("tune", help="calibrate pi/2 and pi pulses, echo position and "
                                           "receiver phase on the lab", description=__doc__)
    p.add_argument("--lab", required=True, type=Path, help="lab TOML file")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                   help="a new folder: one run per step and tuned.toml")
    p.add_argument("--amp", type=float, default=0.3,
                   help="pulse amplitude (fraction of full scale) to calibrate at "
                        "(default 0.3; keep the Rabi frequency well below the carrier)")
    p.add_argument("--tp-max", type=float, default=1e-6, metavar="S",
                   help="longest nutation pulse in s (default 1e-6; cover >= 1 period)")
    p.add_argument("--points", type=int, default=26, help="nutation points (default 26)")
    p.add_argument("--tau", type=float, default=2e-6, metavar="S",
                   help="Hahn-echo tau in s (default 2e-6)")
    p.add_argument("--window", type=float, default=2e-6, metavar="S",
                   help="wide window to find the echo in, s (default 2e-6)")
    p.add_argument("--averages", type=int, default=1, help="software averages per point")
    p.add_argument("--repetition-time", type=float, default=1e-4, metavar="S",
                   help="shot period in s (default 1e-4; make it several T1): the duty-cycle "
                        "limit is checked against it and triggers are paced by it")
    from spinecho.params_option import add_set_option

    add_set_option(p, help="extra parameter for every step, e.g. --set f=4.1MHz")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from spinecho.cli import UserError

    for flag in ("amp", "tp_max", "tau", "window", "repetition_time"):
        v = getattr(args, flag)
        if not math.isfinite(v):
            raise UserError(f"--{flag.replace('_', '-')} {v}: not a finite number")
    if args.averages < 1:
        raise UserError(f"--averages must be >= 1, got {args.averages}")
    from instruments.tune import tune

    r = tune(args.lab, args.output, amp=args.amp, tp_max=args.tp_max, n_points=args.points,
             tau=args.tau, window=args.window, averages=args.averages,
             repetition_time=args.repetition_time, sets=args.sets,
             progress=not args.no_progress)
    se = r.t90_stderr
    print(f"Rabi frequency at amp {r.amp:g}: {r.rabi_frequency / 1e6:.6g} MHz"
          + (f" ± {r.rabi_frequency_stderr / 1e6:.2g} MHz" if r.rabi_frequency_stderr else ""))
    print(f"t90 = {r.t90 * 1e9:.2f} ns" + (f" ± {se * 1e9:.2g} ns" if se else "")
          + f", t180 = {r.t180 * 1e9:.2f} ns")
    print(f"echo centre: 2 tau + {r.echo_shift * 1e9:.1f} ns; receiver phase "
          f"{math.degrees(r.receiver_phase):.2f} deg")
    print(f"check: echo phase {math.degrees(r.check_phase):.2f} deg, |echo| "
          f"{r.check_amplitude:.4g} V")
    print(f"parameters: {r.params_file} (use --params {r.params_file})")
    return 0
