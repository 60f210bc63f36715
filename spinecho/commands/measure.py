"""``spinecho measure SEQ.seq --lab LAB.toml [--set name=value] [--sweep SPEC] [--resume]
-o RUN``: run a spin-echo measurement on the instruments of a lab file (or the virtual
lab) with a progress bar; see :mod:`instruments.measure` for the run directory."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("measure", help="measure a sequence on the lab's instruments")
    from spinecho.params_option import add_sequence_argument, add_set_option, add_sweep_option

    add_sequence_argument(p)
    p.add_argument("--lab", required=True, type=Path, help="lab TOML file")
    from spinecho.params_option import add_params_option

    add_params_option(p)
    add_set_option(p)
    add_sweep_option(p)
    p.add_argument("--averages", type=int, default=1,
                   help="software repetitions of the phase cycle per point (default 1)")
    p.add_argument("--retries", type=int, default=2,
                   help="retries of a timed-out acquisition before aborting (default 2)")
    p.add_argument("--reference-frequency", type=float, default=-1.0, metavar="HZ",
                   help="demodulation frequency in Hz (default: the sequence's f_ref, "
                        "else the carrier of the first pulse that plays)")
    p.add_argument("--repetition-time", type=float, default=0.0, metavar="S",
                   help="shot period in s: the duty-cycle limit is checked against it and "
                        "averaging triggers are paced by it (default: the waveform length)")
    p.add_argument("--target-snr", type=float, default=0.0, metavar="SNR",
                   help="average each point until its echo SNR (estimated from the scatter "
                        "of whole-cycle blocks) reaches SNR; saved per point (0: off)")
    p.add_argument("--time-budget", type=float, default=0.0, metavar="S",
                   help="averaging time of the run in s: each point gets its share; the "
                        "run stops when it is spent (--resume continues) (0: off)")
    p.add_argument("--min-averages", type=int, default=8, metavar="N",
                   help="with a target: blocks before the SNR may stop a point (default 8)")
    p.add_argument("--max-averages", type=int, default=10_000, metavar="N",
                   help="with a target: most blocks per point (default 10000)")
    p.add_argument("--live", action="store_true",
                   help="plot |echo amplitude| against the swept parameter as points arrive "
                        "(a window if there is a display; always RUN/live.png)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in RUN (no point repeated or lost)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="RUN",
                   help="run directory (results.csv, points/, result.nc)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """A thin wrapper over :func:`spinecho.api.measure_run` (:func:`spinecho.measure`)."""
    from instruments.procedure import check_options

    check_options(averages=args.averages, retries=args.retries,  # before anything runs
                  reference_frequency=args.reference_frequency,
                  repetition_time=args.repetition_time, target_snr=args.target_snr,
                  time_budget=args.time_budget, min_averages=args.min_averages,
                  max_averages=args.max_averages)
    import sys

    from instruments.measure import RunTerminated
    from spinecho.api import measure_run

    sets = args.sets
    if args.params is not None:
        from sequences.parser import load
        from sequences.sweep import with_sweep_options
        from spinecho.params_option import merged_sets

        sets = merged_sets(args, with_sweep_options(load(args.sequence), args.sweeps))
    try:
        proc = measure_run(args.sequence, args.lab, args.output, values=sets,
                           sweep=args.sweeps, averages=args.averages, retries=args.retries,
                           reference_frequency=args.reference_frequency,
                           repetition_time=args.repetition_time, target_snr=args.target_snr,
                           time_budget=args.time_budget, min_averages=args.min_averages,
                           max_averages=args.max_averages, resume=args.resume,
                           progress=not args.no_progress,
                           live=args.output / "live.png" if args.live else None)
    except BaseException as exc:
        stop = getattr(exc, "spinecho_stop", "")
        if not stop:
            raise
        from sequences.errors import SpinechoError

        if isinstance(exc, RunTerminated):
            print(f"{exc}", file=sys.stderr)
            code = 128 + exc.signum
        elif isinstance(exc, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            code = 130
        elif isinstance(exc, SpinechoError | FileNotFoundError | PermissionError):
            print(f"error: {exc}", file=sys.stderr)
            code = 2
        else:
            print(stop, file=sys.stderr)  # then the CLI reports the unexpected error
            raise
        print(stop, file=sys.stderr)  # the safe state, the points on disk, --resume
        return code
    if getattr(proc, "budget_spent", False):
        from instruments.measure import stop_message

        print(f"time budget of {args.time_budget:g} s spent; "
              + stop_message(proc, Path(args.output)))
        return 0
    print(f"{len(proc.data)} of {len(proc.schedules)} points in {args.output} "
          f"({proc.n_measured} measured now); result: {proc.store.result}")
    return 0
