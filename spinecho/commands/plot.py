"""``spinecho plot SEQ [--set name=value ...] -o timing.png``: timing diagram of a
resolved sequence (one row per channel; pulse labels and phases; detection windows).

SEQ is a ``.seq`` file or the name of a library sequence (``hahn``, ``cpmg``, ...)."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("plot", help="timing diagram of a pulse sequence",
                              description=__doc__)
    from spinecho.params_option import add_sequence_argument, add_set_option

    add_sequence_argument(p)
    add_set_option(p)
    p.add_argument("--step", type=int, default=None, metavar="K",
                   help="show the phases of phase-cycle step K (1-based); default: all")
    p.add_argument("-o", "--output", default="timing.png", metavar="PNG",
                   help="output image (default timing.png)")
    p.set_defaults(func=run)


def run(args) -> int:
    from sequences.bind import parse_assignments
    from sequences.errors import SequenceError
    from sequences.parser import load
    from sequences.plot import plot_schedule
    from spinecho.outputs import check_output

    check_output("-o", args.output, image=True)
    seq = load(args.sequence)
    schedule = seq.bind_values(parse_assignments(args.sets))
    step = None
    if args.step is not None:
        if not 1 <= args.step <= schedule.n_steps:
            raise SequenceError(f"--step {args.step}: the cycle has {schedule.n_steps} steps")
        step = args.step - 1
    plot_schedule(schedule, args.output, step=step)
    print(f"wrote {args.output}")
    return 0
