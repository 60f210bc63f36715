"""``spinecho measure SEQ.seq --lab LAB.toml [--set name=value] [--sweep SPEC] [--resume]
-o RUN``: run a spin-echo measurement on the instruments of a lab file (or the virtual
lab) with a progress bar; see :mod:`instruments.measure` for the run directory."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("measure", help="measure a sequence on the lab's instruments")
    p.add_argument("sequence", help="sequence file (.seq) or library name (e.g. hahn)")
    p.add_argument("--lab", required=True, type=Path, help="lab TOML file")
    from spinecho.params_option import add_params_option

    add_params_option(p)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter, e.g. --set tau=5us (repeatable)")
    p.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="SPEC",
                   help="sweep a parameter: 'tau=lin(1us, 10us, 10)', 'tau=1us:5us:1us' "
                        "or 'tau=1us,2us' (repeatable; the last is innermost)")
    p.add_argument("--averages", type=int, default=1,
                   help="software repetitions of the phase cycle per point (default 1)")
    p.add_argument("--retries", type=int, default=2,
                   help="retries of a timed-out acquisition before aborting (default 2)")
    p.add_argument("--reference-frequency", type=float, default=-1.0, metavar="HZ",
                   help="demodulation frequency in Hz (default: the pulses' carrier)")
    p.add_argument("--repetition-time", type=float, default=0.0, metavar="S",
                   help="shot period in s: the duty-cycle limit is checked against it and "
                        "averaging triggers are paced by it (default: the waveform length)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in RUN (no point repeated or lost)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="RUN",
                   help="run directory (results.csv, points/, result.nc)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:

    from instruments.procedure import check_options

    check_options(averages=args.averages, retries=args.retries,  # before anything runs
                  reference_frequency=args.reference_frequency,
                  repetition_time=args.repetition_time)
    import sys

    from instruments.measure import RunTerminated, run_measurement

    sets = args.sets
    if args.params is not None:
        from sequences.parser import load
        from sequences.sweep import with_sweep_options
        from spinecho.params_option import merged_sets

        sets = merged_sets(args, with_sweep_options(load(args.sequence), args.sweeps))
    try:
        proc = run_measurement(args.sequence, args.lab, args.output, sets=sets,
                               sweeps=args.sweeps, averages=args.averages,
                               retries=args.retries,
                               reference_frequency=args.reference_frequency,
                               repetition_time=args.repetition_time, resume=args.resume,
                               progress=not args.no_progress)
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
    print(f"{len(proc.data)} of {len(proc.schedules)} points in {args.output} "
          f"({proc.n_measured} measured now); result: {proc.store.result}")
    return 0
