"""``spinecho bruker ...``: Bruker interoperability.

* ``bruker show FILE.DSC [--json]`` — what a BES3T data set holds (axes, units, format,
  microwave frequency, first values);
* ``bruker export RESULT -o OUT.DSC [--observable amplitude|signal] [--byte-order BIG|LIT]``
  — write a simulated or measured result (``result.nc``, or a run directory of
  ``spinecho measure``) as BES3T for Xepr, Matlab's eprload, EasySpin...;
* ``bruker pulsespel SEQ [--set ...] [--sweep ...] [-o BASE]`` — the sequence as a
  PulseSPEL program (``BASE.exp``) and variable definitions (``BASE.def``); printed when
  ``-o`` is not given.

A BES3T file is compared with a simulation like any data file:
``spinecho compare FILE.DSC --sequence hahn --model MODEL.toml --fit ...``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("bruker", help="Bruker BES3T files and PulseSPEL export",
                              description=__doc__)
    sub = p.add_subparsers(dest="bruker_command", metavar="ACTION")
    s = sub.add_parser("show", help="summarise a BES3T data set (.DSC/.DTA)")
    s.add_argument("file", type=Path, help="the .DSC or .DTA file")
    s.add_argument("--json", action="store_true", help="JSON on stdout")
    s.set_defaults(func=run_show)

    e = sub.add_parser("export", help="write a result as BES3T (.DSC + .DTA)")
    e.add_argument("result", type=Path, help="result.nc or a run directory")
    e.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.DSC",
                   help="the .DSC (or base) name; .DTA (and .XGF/.YGF) go next to it")
    e.add_argument("--observable", choices=("amplitude", "signal"), default="amplitude",
                   help="echo amplitude per sweep point (default) or the signal traces")
    e.add_argument("--byte-order", choices=("BIG", "LIT"), default="BIG",
                   help="BIG (Xepr's default) or LIT")
    e.add_argument("--force", action="store_true", help="overwrite existing files")
    e.set_defaults(func=run_export)

    q = sub.add_parser("pulsespel", help="export a sequence as PulseSPEL (.exp + .def)")
    from spinecho.params_option import add_sequence_argument, add_set_option, add_sweep_option

    add_sequence_argument(q)
    add_set_option(q)
    add_sweep_option(q)
    from spinecho.params_option import add_params_option

    add_params_option(q)
    q.add_argument("--shots", type=int, default=1, help="shots per point, h (default 1)")
    q.add_argument("--scans", type=int, default=1, help="scans, n (default 1)")
    q.add_argument("--repetition-time", type=float, default=None, metavar="S",
                   help="shot repetition time in s (default: the shot length in whole µs)")
    q.add_argument("--mode", choices=("INTG", "TRANS"), default="INTG",
                   help="integrator (acq, default) or transient (dig) detection")
    q.add_argument("--resolution", type=float, default=2e-9, metavar="S",
                   help="the pulse programmer's time grid in s (default 2e-9)")
    q.add_argument("-o", "--output", type=Path, metavar="BASE",
                   help="write BASE.exp and BASE.def (default: print both)")
    q.add_argument("--force", action="store_true", help="overwrite existing files")
    q.set_defaults(func=run_pulsespel)
    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser) -> int:
    parser.print_help()
    return 2


def _finite(flag: str, value) -> None:
    from spinecho.cli import UserError

    if value is not None and not math.isfinite(value):
        raise UserError(f"{flag} {value}: not a finite number")


def run_show(args) -> int:
    from echo.bes3t import read_bes3t

    b = read_bes3t(args.file)
    info = {
        "source": b.source, "title": b.title,
        "kind": "complex" if b.is_complex else "real",
        "byte_order": b.param("BSEQ", "BIG"), "format": b.param("IRFMT", "D"),
        "shape": list(b.data.shape),
        "axes": [{"axis": "xyz"[i], "name": a.name, "unit": a.unit, "type": a.kind,
                  "points": len(a), "first": float(a.values[0]), "last": float(a.values[-1])}
                 for i, a in enumerate(b.axes)],
        "value": {"name": b.value_name, "unit": b.value_unit},
        "microwave_frequency_Hz": _float(b.param("MWFQ")),
        "devices": sorted(b.devices),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{b.source}: {info['title']!r}, {info['kind']} {info['format']} "
          f"({info['byte_order']}), shape {tuple(info['shape'])}")
    for a in info["axes"]:
        print(f"  {a['axis']}: {a['name'] or '(no name)'} [{a['unit'] or '-'}] {a['type']}, "
              f"{a['points']} points, {a['first']:.6g} .. {a['last']:.6g}")
    print(f"  values: {b.value_name or '(no name)'} [{b.value_unit or '-'}]")
    if info["microwave_frequency_Hz"]:
        print(f"  microwave frequency {info['microwave_frequency_Hz']:.9g} Hz")
    if info["devices"]:
        print(f"  device layer: {', '.join(info['devices'])}")
    return 0


def _float(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def run_export(args) -> int:
    from echo.bes3t import bes3t_paths, write_result
    from echo.result import EchoResult
    from spinecho.cli import UserError

    src = Path(args.result)
    if src.is_dir():
        src = src / "result.nc"
    if not src.is_file():
        raise UserError(f"{args.result}: no result file (a result.nc or a finished run "
                        "directory of spinecho measure)")
    dsc, dta = bes3t_paths(args.output)
    if not args.force:
        for p in (dsc, dta):
            if p.exists():
                raise UserError(f"-o {args.output}: {p} exists (use --force to overwrite)")
    if not dsc.parent.is_dir():
        raise UserError(f"-o {args.output}: directory {str(dsc.parent)!r} does not exist")
    try:
        res = EchoResult.load(src)
    except Exception as exc:  # noqa: BLE001 - a bad file is a user error here
        raise UserError(f"{src}: not a readable result file ({type(exc).__name__}: {exc})") \
            from None
    written = write_result(res, dsc, observable=args.observable, byte_order=args.byte_order)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def run_pulsespel(args) -> int:
    from dataclasses import replace

    from sequences.bind import parse_assignments
    from sequences.parser import load
    from sequences.pulsespel import to_pulsespel
    from sequences.sweep import with_sweep_options
    from spinecho.cli import UserError

    _finite("--repetition-time", args.repetition_time)
    _finite("--resolution", args.resolution)
    from spinecho.params_option import merged_sets

    seq = with_sweep_options(load(args.sequence), args.sweeps)
    values = parse_assignments(merged_sets(args, seq))
    swept = {s.name for s in seq.sweeps}
    if swept & set(values):  # --set of a swept parameter: fix it, drop its sweep
        seq = replace(seq, sweeps=tuple(s for s in seq.sweeps if s.name not in values))
    if args.output is not None:
        base = args.output.with_suffix("") if args.output.suffix.lower() in (".exp", ".def") \
            else args.output
        outs = [base.with_name(base.name + ext) for ext in (".exp", ".def")]
        if not base.parent.is_dir():
            raise UserError(f"-o {args.output}: directory {str(base.parent)!r} does not exist")
        if not args.force:
            for p in outs:
                if p.exists():
                    raise UserError(f"-o {args.output}: {p} exists (use --force to overwrite)")
    prog = to_pulsespel(seq, fixed=values, shots=args.shots, scans=args.scans,
                        repetition_time=args.repetition_time, mode=args.mode,
                        resolution=args.resolution)
    for w in prog.warnings:
        print(f"warning: {w}")
    if args.output is None:
        print(prog.definitions)
        print(prog.experiment)
        return 0
    exp, dfn = prog.write(base)
    axes = "; ".join(f"{'xy'[i]} = {a} ({n} points)" for i, (a, n) in enumerate(prog.axes))
    print(f"wrote {exp} and {dfn}" + (f"; sweep {axes}" if axes else ""))
    return 0
