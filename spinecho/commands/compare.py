"""``spinecho compare RUN [RUN ...] --sequence SEQ.seq --model MODEL.toml --fit a,b,...
-o REPORT_DIR [--json]``: fit model parameters to measured echoes with the simulator in
the loop, and write a report (parameters.txt, fit_model_fit.png, summary.json).

RUN: a run directory of ``spinecho measure`` or a data file (result .nc, pymeasure CSV,
plain CSV/TXT). Several runs are fitted jointly (they share every fitted parameter except
those given to ``--per-run``). ``--fit`` names dotted paths into the model
(``environment.noise[0].sigma``, ``ensemble.bias.std``, ...), the aliases ``sigma``,
``tau_c``/``t2``, ``t1``, ``t_phi``, and ``amplitude`` (N·g·S, μB), ``phase`` (rad),
``baseline`` (V); ``name=value`` gives a starting value (SI).

Exit status: 0 converged, 1 the fit did not converge or does not describe the data (the
report is written all the same and says why), 2 a user error (bad file, unknown
parameter...).
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("compare", help="fit a model to measured echoes; write a report")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directory or data file")
    p.add_argument("--sequence", action="append", required=True, metavar="SEQ",
                   help="sequence file or library name (once for all runs, or once per run)")
    p.add_argument("--model", required=True, type=Path, help="model TOML file")
    p.add_argument("--fit", required=True, metavar="NAMES",
                   help="comma-separated parameters to fit, e.g. sigma,tau_c,amplitude,phase")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="REPORT_DIR",
                   help="report folder")
    p.add_argument("--json", action="store_true", help="print the JSON summary on stdout")
    p.add_argument("--parameter", help="the swept sequence parameter (default: the run's)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="sequence parameter values (added to the run's own --set values)")
    p.add_argument("--per-run", default="", metavar="NAMES",
                   help="read-out parameters with one copy per run, e.g. baseline,phase")
    p.add_argument("--observable", choices=("auto", "amplitude", "signal", "windows"),
                   default="auto",
                   help="echo amplitude per sweep point, the signal trace of one point, or "
                        "the mean of each detection window (a CPMG echo train)")
    p.add_argument("--engine", default="fast", help="simulation engine (default fast)")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="grains simulated in the fit (default: the model file's n_samples)")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args) -> int:
    from echo.fit.compare import compare
    from sequences.bind import parse_assignments

    sets = parse_assignments(args.sets)
    per = [s.strip() for s in args.per_run.split(",") if s.strip()]
    progress = None
    if not args.no_progress and not args.json:
        def progress(n_sims, cost):
            print(f"\rsimulations: {n_sims}, cost {cost:.4g}", end="", file=sys.stderr,
                  flush=True)
    fit, files = compare(args.runs, args.sequence, args.model, args.fit, args.output,
                         parameter=args.parameter, observable=args.observable,
                         engine=args.engine, n_samples=args.samples, per_dataset=per,
                         sets=sets, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        print(files["json"].read_text(encoding="utf-8"), end="")
    else:
        print(fit.table())
        for note in fit.meta.get("notes", []):
            print(f"note: {note}")
        print(f"report: {args.output}")
    return 0 if fit.success else 1
