"""``spinecho compare RUN [RUN ...] --sequence SEQ.seq --model MODEL.toml --fit a,b,...
-o REPORT_DIR [--json]``: fit model parameters to measured echoes with the simulator in
the loop, and write a report (parameters.txt, fit_model_fit.png, summary.json).

``--kind echo-decay|t1|chi`` runs the quick empirical fits (stretched-exponential echo
decay, T1 recovery, χ''(f) against the spin-bath theory) on one data file instead.
``--grains N[:σ]`` reports the moment per grain amplitude/N (the paper's proposal) and
``--chi-moment MU:σ`` compares it with a susceptibility moment (μB).

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
    p.add_argument("--sequence", action="append", metavar="SEQ",
                   help="sequence file or library name (once for all runs, or once per run)")
    p.add_argument("--model", type=Path, help="model TOML file")
    p.add_argument("--fit", metavar="NAMES",
                   help="comma-separated parameters to fit, e.g. sigma,tau_c,amplitude,phase "
                        "(--kind chi: of fraction_a,delta0,lam,lam_prime,gain,baseline)")
    p.add_argument("--kind", choices=("model", "echo-decay", "t1", "chi", "hole-series"),
                   default="model",
                   help="model: the simulator in the loop (needs --sequence, --model, --fit); "
                        "echo-decay: A·exp(-(2τ/T_M)^n)+c; t1: exponential recovery; chi: "
                        "χ''(f) against the spin-bath theory (empirical fits need neither "
                        "sequence nor model); hole-series: σ, τc of OU bias noise from "
                        "burned holes (RUNs: the reference without burn first, then one "
                        "run per --waits; --model, --set f_burn=, burn=, burn_amp=)")
    p.add_argument("--waits", metavar="T1,T2,...",
                   help="--kind hole-series: the burn→probe wait of each burned run")
    p.add_argument("--grains", metavar="N[:SIGMA]",
                   help="number of grains (and its 1σ): report the moment per grain "
                        "amplitude/N (needs amplitude in --fit)")
    p.add_argument("--chi-moment", metavar="MU:SIGMA",
                   help="moment per grain from susceptibility (μB, 1σ) to compare with")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="REPORT_DIR",
                   help="report folder")
    p.add_argument("--json", action="store_true", help="print the JSON summary on stdout")
    p.add_argument("--parameter", help="the swept sequence parameter (default: the run's)")
    from spinecho.params_option import add_set_option

    add_set_option(p, help="sequence parameter values (added to the run's own --set values)")
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


def _pair(text: str, what: str) -> tuple[float, float]:
    from spinecho.cli import UserError

    a, _, b = str(text).partition(":")
    try:
        return float(a), float(b) if b else 0.0
    except ValueError:
        raise UserError(f"{what}: expected VALUE or VALUE:SIGMA, got {text!r}") from None


def run(args) -> int:
    """Model fits: a thin wrapper over :func:`spinecho.fit` (the same rules)."""
    from sequences.bind import parse_assignments
    from spinecho.api import fit as fit_runs
    from spinecho.cli import UserError

    if Path(args.output).exists() and not Path(args.output).is_dir():  # before fitting
        raise UserError(f"-o {args.output}: exists and is not a directory (the report is a "
                        "folder)")
    if args.kind == "hole-series":
        return _run_hole_series(args)
    if args.kind != "model":
        return _run_empirical(args)
    missing = [o for o, v in (("--sequence", args.sequence), ("--model", args.model),
                               ("--fit", args.fit)) if not v]
    if missing:
        raise UserError(f"compare: {', '.join(missing)} required for a model fit "
                        "(or choose an empirical --kind)")

    progress = not args.no_progress and not args.json
    fit = fit_runs(args.runs, args.sequence, args.model, args.fit, out_dir=args.output,
                   values=parse_assignments(args.sets), parameter=args.parameter,
                   observable=args.observable, engine=args.engine, n_samples=args.samples,
                   per_run=[s.strip() for s in args.per_run.split(",") if s.strip()],
                   progress=progress)
    files = fit.meta["files"]
    if progress:
        print(file=sys.stderr)
    moment_text = _moment(args, fit, files)
    if args.json:
        print(files["json"].read_text(encoding="utf-8"), end="")
    else:
        print(fit.table())
        for note in fit.meta.get("notes", []):
            print(f"note: {note}")
        if moment_text:
            print(moment_text)
        print(f"report: {args.output}")
    return 0 if fit.success else 1


def _moment(args, fit, files) -> str:
    """The paper's proposal: moment per grain = amplitude / N, against susceptibility."""
    if not args.grains:
        if args.chi_moment:
            from spinecho.cli import UserError

            raise UserError("--chi-moment needs --grains (the number of grains)")
        return ""
    import json

    from echo.fit.moment import compare_moments, moment_from_fit

    n, sn = _pair(args.grains, "--grains")
    mu = moment_from_fit(fit, n, n_grains_stderr=sn)
    text = f"moment per grain from the echo: {mu.value:.4g} ± {mu.stderr:.2g} μB"
    entry = {"echo": mu.to_dict()}
    if args.chi_moment:
        v, sv = _pair(args.chi_moment, "--chi-moment")
        cmp = compare_moments(mu, v, sv)
        text = cmp.text()
        entry = cmp.to_dict()
    summary = json.loads(files["json"].read_text(encoding="utf-8"))
    summary["moment"] = entry
    files["json"].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    with open(files["table"], "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return text


def _run_empirical(args) -> int:
    from echo.fit import fit_chi, fit_echo_decay, fit_t1_recovery, write_report
    from spinecho.cli import UserError

    if len(args.runs) != 1:
        raise UserError(f"--kind {args.kind}: one data file, got {len(args.runs)}")
    from echo.fit.compare import load_run

    data, _ = load_run(args.runs[0], observable=args.observable)
    want = {"chi": ("Hz", "a frequency"), "echo-decay": ("s", "a time"),
            "t1": ("s", "a time")}[args.kind]
    if data.x_unit and data.x_unit != want[0]:  # e.g. a tau sweep fitted as chi''(f)
        raise UserError(f"--kind {args.kind} needs {want[1]} sweep ({want[0]}), but "
                        f"{args.runs[0]} is a sweep of {data.x_name} ({data.x_unit})")
    if args.kind == "echo-decay":
        fit = fit_echo_decay(data)
    elif args.kind == "t1":
        fit = fit_t1_recovery(data)
    else:
        from echo.fit.compare import parse_free

        kw = {}
        if args.fit:
            spec = parse_free(args.fit)
            kw["free"] = tuple(spec)
            kw["initial"] = {k: v for k, v in spec.items() if v is not None} or None
        fit = fit_chi(data, **kw)
    files = write_report({fit.name: fit}, args.output)
    if args.json:
        print(files["json"].read_text(encoding="utf-8"), end="")
    else:
        print(fit.table())
        print(f"report: {args.output}")
    return 0 if fit.success else 1


def _run_hole_series(args) -> int:
    """Spectral diffusion from measured holes: the analysis of ``spinecho hole analyse``."""
    from sequences.bind import parse_assignments
    from spinecho.cli import UserError
    from spinecho.commands.hole import analyse_files

    if not args.model or not args.waits or len(args.runs) < 5:
        raise UserError("--kind hole-series: needs --model, --waits and the reference run "
                        "followed by >= 4 burned runs")
    sets = parse_assignments(args.sets)
    missing = [k for k in ("f_burn", "burn", "burn_amp") if k not in sets]
    if missing:
        raise UserError("--kind hole-series: give the burn with --set " +
                        ", ".join(f"{k}=..." for k in missing))
    fit = analyse_files(args.runs[1:], args.runs[0], args.model, f_burn=sets["f_burn"],
                        burn_time=sets["burn"], burn_amp=sets["burn_amp"],
                        waits=args.waits, out=Path(args.output), as_json=args.json)
    return 0 if fit is None or fit.success else 1
