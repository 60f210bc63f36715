"""``spinecho plan SEQ --model MODEL.toml --lab LAB.toml --noise-rms V --snr S [--set ...]
[--sweep ...] [--repetition-time S] [--json]``: the averages (and time) each sweep point
needs for a target SNR of its echo amplitude, from the digitizer's noise floor (V rms per
sample per shot) and the echo simulated on the model (:mod:`instruments.plan`)."""

from __future__ import annotations

import json
import math
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="averages and time for a target echo SNR",
                              description=__doc__)
    from spinecho.params_option import add_sequence_argument, add_set_option, add_sweep_option

    add_sequence_argument(p)
    p.add_argument("--model", required=True, type=Path, help="model TOML file")
    p.add_argument("--lab", required=True, type=Path,
                   help="lab TOML file (digitizer sample rate and on-scope averages)")
    p.add_argument("--noise-rms", required=True, type=float, metavar="V",
                   help="digitizer noise floor, V rms per sample per shot")
    p.add_argument("--snr", required=True, type=float, help="target SNR of the echo amplitude")
    from spinecho.params_option import add_params_option

    add_params_option(p)
    add_set_option(p)
    add_sweep_option(p)
    p.add_argument("--repetition-time", type=float, default=0.0, metavar="S",
                   help="shot period in s (default: the played length of one shot)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from echo.modelfile import load_model
    from instruments.lab import load_lab
    from instruments.plan import plan_measurement
    from sequences.bind import parse_assignments
    from sequences.parser import load
    from sequences.sweep import with_sweep_options
    from spinecho.cli import UserError
    from spinecho.params_option import merged_sets

    for flag, v in (("--noise-rms", args.noise_rms), ("--snr", args.snr),
                    ("--repetition-time", args.repetition_time)):
        if not math.isfinite(v):
            raise UserError(f"{flag} {v}: not a finite number")
    seq = with_sweep_options(load(args.sequence), args.sweeps)
    sets = parse_assignments(merged_sets(args, seq))
    plan = plan_measurement(seq, load_model(args.model), load_lab(args.lab),
                            target_snr=args.snr, noise_rms=args.noise_rms, sets=sets,
                            repetition_time=args.repetition_time)
    if args.json:
        d = plan.to_dict()
        print(json.dumps(d, indent=2, default=str))
        return 0
    print(f"target SNR {args.snr:g} under {args.noise_rms:g} V rms per sample per shot; "
          f"{plan.n_steps} phase-cycle step(s), {plan.hw_averages} on-scope average(s)")
    for pt in plan.points:
        where = ", ".join(f"{k}={v:.6g}" for k, v in pt.params.items()) or "the point"
        print(f"  {where}: |echo| {abs(pt.amplitude):.4g} V, {pt.n_window} window samples "
              f"-> {pt.averages} averages, SNR {pt.snr:.3g}, {pt.time:.4g} s of shots")
    print(f"total {plan.total_time:.4g} s of shots (add the instruments' overhead per "
          "average)")
    return 0
