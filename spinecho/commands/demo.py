"""``spinecho demo [-o REPORT_DIR] [--quick] [...]``: start the virtual lab on loopback,
measure a Hahn-echo τ sweep and an echo-detected hole-burning spectrum of a ferritin-like
sample through the real drivers, fit them with the engine in the loop, and write a report
folder (see :mod:`spinecho.demo`). No hardware, no network."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the whole story on the virtual lab, in one command",
                              description=__doc__)
    p.add_argument("-o", "--output", type=Path, default=None, metavar="REPORT_DIR",
                   help="report folder (default ./spinecho-demo, or -2, -3, ... if that "
                        "one is taken); an explicit folder must be empty or absent")
    p.add_argument("--quick", action="store_true", help="small sizes (a test run)")
    p.add_argument("--n-tau", type=int, help="τ points of the Hahn sweep")
    p.add_argument("--n-probe", type=int, help="probe frequencies of the hole spectrum")
    p.add_argument("--samples", type=int, help="grains simulated (lab and fit)")
    p.add_argument("--averages", type=int, help="digitizer averages per point")
    p.add_argument("--seed", type=int, default=0, help="noise and ensemble seeds")
    p.add_argument("--no-progress", action="store_true", help="quiet")
    p.set_defaults(func=run)


def run(args) -> int:
    from dataclasses import replace

    from spinecho.cli import UserError
    from spinecho.demo import FULL, MC_NOTE, QUICK, recovered_table, run_demo

    sizes = QUICK if args.quick else FULL
    for name, attr in (("n_tau", "n_tau"), ("n_probe", "n_probe"), ("averages", "averages")):
        v = getattr(args, name)
        if v is not None:
            if v < (3 if name == "n_tau" else 1):
                raise UserError(f"--{name.replace('_', '-')} too small: {v}")
            sizes = replace(sizes, **{attr: v})
    if args.samples is not None:
        if args.samples < 1:
            raise UserError(f"--samples must be >= 1, got {args.samples}")
        sizes = replace(sizes, lab_samples=args.samples, fit_samples=args.samples)
    out = args.output
    if out is None:
        out = Path("spinecho-demo")
        n = 2
        while out.exists() and any(out.iterdir()):
            out = Path(f"spinecho-demo-{n}")
            n += 1
    res = run_demo(out, sizes=sizes, progress=not args.no_progress, seed=args.seed)
    print()
    print(f"report: {res.report.resolve()}  ({res.seconds:.0f} s)")
    print(recovered_table(res.fit, res.truth))
    print(f"({MC_NOTE})")
    if res.moment is not None:
        print(res.moment.text())
    if not res.fit.success:
        print(f"note: the fit is not a success (see its message): {res.fit.message}")
    return 0
