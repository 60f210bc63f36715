"""``spinecho measure-chi --lab LAB.toml --model SAMPLE.toml --f-start HZ --f-stop HZ
--points N --amplitude V -o RUN``: χ''(ω) of the sample by lock-in — a small AC field
swept in frequency, X/Y read, converted to χ with the calibration of
:mod:`instruments.chi`; ``spinecho compare --kind chi RUN --fit fraction_a,delta0`` fits
Eq. 7 to it."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("measure-chi", help="χ''(ω) by lock-in (frequency sweep)",
                              description=__doc__)
    p.add_argument("--lab", required=True, type=Path, help="lab TOML file ([lockin], [squid])")
    p.add_argument("--model", required=True, type=Path,
                   help="the sample's model file (n_grains, g, spin enter the calibration)")
    p.add_argument("--f-start", type=float, default=1e3, metavar="HZ", help="first frequency")
    p.add_argument("--f-stop", type=float, default=1e5, metavar="HZ", help="last frequency")
    p.add_argument("--points", type=int, default=21, help="number of frequencies")
    p.add_argument("--spacing", choices=("log", "lin"), default="log")
    p.add_argument("--amplitude", type=float, default=0.01, metavar="V_RMS",
                   help="sine amplitude, V rms (peak √2× must stay below [limits] "
                        "max_amplitude_v)")
    p.add_argument("--time-constant", type=float, default=0.1, metavar="S",
                   help="output filter time constant, s (one of the lock-in's)")
    p.add_argument("--settle", type=float, default=5.0, metavar="N_TAU",
                   help="time constants waited after each frequency step")
    p.add_argument("--reads", type=int, default=4, help="snapshots averaged per frequency")
    p.add_argument("--read-interval", type=float, default=3.0, metavar="N_TAU",
                   help="time constants between snapshots")
    p.add_argument("--phase", type=float, default=0.0, metavar="DEG",
                   help="reference phase (180 for an inverted coil or FLL polarity)")
    p.add_argument("--sensitivity", type=float, default=None, metavar="V",
                   help="full-scale sensitivity, V (default: auto gain at the start)")
    p.add_argument("--live", action="store_true",
                   help="plot χ''(f) as the points arrive (PNG in RUN/live.png)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="RUN",
                   help="run directory (run.json, results.csv)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from instruments.chi import check_options, measure_chi

    opts = check_options(f_start=args.f_start, f_stop=args.f_stop, points=args.points,
                         spacing=args.spacing, amplitude_v=args.amplitude,
                         time_constant=args.time_constant, settle=args.settle,
                         reads=args.reads, read_interval=args.read_interval,
                         phase_deg=args.phase, sensitivity_v=args.sensitivity)
    live = None
    if args.live:
        from instruments.live import LivePlot

        live = LivePlot(args.output / "live.png", x_label="frequency (Hz)",
                        y_label="χ'' (s)", title="χ''(f) by lock-in", log_x=True)
    try:
        res = measure_chi(args.lab, args.model, args.output, opts,
                          progress=not args.no_progress,
                          on_point=None if live is None else
                          (lambda i, f, chi: live.add(f, chi.imag)))
    except BaseException as exc:
        stop = getattr(exc, "spinecho_stop", "")
        if not stop:
            raise
        print(stop, file=sys.stderr)
        raise
    finally:
        if live is not None:
            live.close()
    g = res.calibration.gain(opts.amplitude_v)
    print(f"{res.frequency.size} frequencies in {args.output / 'results.csv'}; calibration "
          f"G = {g:.6g} V per s of χ (drive γ·h_peak = {res.drive_rad_s:.4g} rad/s); "
          + "; ".join(res.safe_report))
    return 0
