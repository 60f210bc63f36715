"""``spinecho hole design|simulate|analyse``: spectral hole burning designed from the sample.

* ``hole design --model M.toml --f-burn 4.5MHz [--burn pi|saturate|ANGLE]
  [--burn-time T | --hole-width W] [--tuned TUNE/tuned.toml [--tuned-f F]]``: the burn
  length and amplitude for the grains resonant at f_burn (their Rabi frequency
  γh0 (Δ/E) 2J1(z)/z, scaled to a measured nutation with ``--tuned``), as ``--set``
  options for ``spinecho simulate holeburn`` or ``spinecho measure holeburn``.
* ``hole simulate --model M.toml --f-burn F [burn options] [--readout spectrum|swept]
  [--resolution R] [--span S] [--wait T | --waits T1,T2,...] -o DIR [--json]``: burn,
  reference (no burn), read-out, analysis: depth, FWHM and area ± 1σ beside the closed form
  (the burn's Rabi profile at the read-out's resolution). ``--waits`` (≥ 4 values) runs a
  refilling series and fits σ and τc of OU bias noise (spectral diffusion).
* ``hole analyse BURN [BURN ...] --reference REF --model M.toml --f-burn F --burn-time T
  --burn-amp A [--waits ...] -o DIR``: the same analysis of result files or run
  directories of ``spinecho simulate`` / ``spinecho measure`` (one-shot spectrum when the
  runs have one long echo window, swept when they sweep f_probe).

Outputs in DIR: hole.json (or series.json), hole.png (series.png), and for ``simulate``
the result files burn.nc / reference.nc. See docs/holeburning.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _quantity(text, dim, what):
    from sequences.expr import parse_quantity

    return float(parse_quantity(str(text), dim, what).value)


def _freq(text, what):
    from sequences.expr import FREQUENCY

    return _quantity(text, FREQUENCY, what)


def _time(text, what):
    from sequences.expr import TIME

    return _quantity(text, TIME, what)


def _times(text, what):
    return [_time(t, what) for t in str(text).split(",") if t.strip()]


def add_burn_options(p, *, f_burn_required: bool = True) -> None:
    """The burn-design options shared by ``hole`` and ``simulate``."""
    p.add_argument("--burn", default=None if not f_burn_required else "pi",
                   metavar="pi|saturate|ANGLE",
                   help="designed burn: pi, saturate, or an angle (rad, 90deg, 0.5pi)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--burn-time", metavar="T", help="burn length (default 20 us)")
    g.add_argument("--hole-width", metavar="W", help="wanted hole FWHM (sets the burn length)")


def design_from_args(args, ensemble, f_burn: float, full_scale: float, coupling: str,
                     calibration=None):
    from echo.hole import design_burn

    return design_burn(ensemble, f_burn, args.burn or "pi",
                       duration=_time(args.burn_time, "--burn-time") if args.burn_time
                       else None,
                       width=_freq(args.hole_width, "--hole-width") if args.hole_width
                       else None, full_scale=full_scale, coupling=coupling,
                       calibration=calibration)


def register(subparsers) -> None:
    p = subparsers.add_parser("hole", help="hole burning: design a burn, simulate or analyse "
                              "a hole", description=__doc__)
    sub = p.add_subparsers(dest="hole_command", metavar="ACTION")

    d = sub.add_parser("design", help="burn length and amplitude for the sample")
    d.add_argument("--model", metavar="MODEL.toml",
                   help="sample model (the resonant grains' Rabi frequency)")
    d.add_argument("--tuned", metavar="TUNED.toml",
                   help="a measured nutation (spinecho tune's tuned.toml): scales the "
                        "model's coupling to the lab's, or alone (linear in amplitude, "
                        "f_burn = the tune carrier)")
    d.add_argument("--tuned-f", metavar="F",
                   help="the carrier the tune was measured on (default: f_burn)")
    d.add_argument("--f-burn", required=True, metavar="F", help="burn frequency (4.5MHz)")
    d.add_argument("--full-scale", default="1uT", metavar="B",
                   help="field at amplitude 1 of the sequence's field channel (default 1uT)")
    d.add_argument("--json", action="store_true")
    add_burn_options(d)
    d.set_defaults(func=run_design)

    s = sub.add_parser("simulate", help="simulate a designed hole and analyse it")
    s.add_argument("--model", required=True, metavar="MODEL.toml")
    s.add_argument("--f-burn", required=True, metavar="F")
    add_burn_options(s)
    s.add_argument("--readout", choices=("spectrum", "swept"), default="spectrum",
                   help="spectrum: FT of one long echo window (default); swept: a "
                        "selective probe swept over f_probe")
    s.add_argument("--resolution", metavar="R",
                   help="read-out FWHM (default: hole FWHM/10 for spectrum, FWHM for swept)")
    s.add_argument("--span", metavar="S", help="frequency span around f_burn (default 6 FWHM)")
    s.add_argument("--points", type=int, default=21, help="probe frequencies (swept)")
    s.add_argument("--apodisation", choices=("hann", "rect"), default="hann")
    s.add_argument("--probe", choices=("ideal", "finite"), default="ideal",
                   help="spectrum read-out: ideal rotations, or a hard π/2 of --t90 and "
                        "its π with EXORCYCLE (holeburn_exorcycle; needs wait > window/2)")
    s.add_argument("--t90", default="200ns", metavar="T",
                   help="finite probe: π/2 length (amplitude designed; default 200 ns)")
    s.add_argument("--sample-rate", metavar="HZ", help="output sampling (spectrum)")
    w = s.add_mutually_exclusive_group()
    w.add_argument("--wait", metavar="T",
                   help="burn → probe (default 1 us; with finite probe pulses 0.6 window: "
                        "they need wait > window/2)")
    w.add_argument("--waits", metavar="T1,T2,...",
                   help="a refilling series (>= 4 waits): fit σ, τc of OU bias noise")
    from spinecho.params_option import add_set_option

    add_set_option(s, help="model field (environment.noise[0].sigma=2e4)")
    s.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    s.add_argument("--json", action="store_true", help="print the analysis as JSON")
    s.set_defaults(func=run_simulate)

    a = sub.add_parser("analyse", help="analyse burned/reference result files")
    a.add_argument("runs", nargs="+", metavar="BURN", help="result .nc or run directory")
    a.add_argument("--reference", required=True, metavar="REF")
    a.add_argument("--model", required=True, metavar="MODEL.toml")
    a.add_argument("--f-burn", required=True, metavar="F")
    a.add_argument("--burn-time", required=True, metavar="T")
    a.add_argument("--burn-amp", required=True, type=float, metavar="A",
                   help="burn amplitude, fraction of full scale")
    a.add_argument("--full-scale", default="1uT", metavar="B")
    a.add_argument("--f-ref", metavar="F", help="demodulation reference (default f_burn)")
    a.add_argument("--waits", metavar="T1,T2,...", help="waits of the BURN runs: fit σ, τc")
    a.add_argument("--probe", metavar="T90,TAU,WINDOW",
                   help="swept read-out: the probe's π/2 length, τ and window (a π/2 in "
                        "T90), for its kernel and resolution")
    a.add_argument("--apodisation", choices=("hann", "rect"), default="hann")
    a.add_argument("--span", metavar="S")
    a.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_analyse)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _model(path, sets=()):
    """The model file with ``--set`` model fields (the dialect of echo.modelpath)."""
    from spinecho.api import apply_model_values, load_model, split_sets

    model_values, rest = split_sets(list(sets), None)
    if rest:
        from spinecho.cli import UserError

        raise UserError(f"--set {rest[0]!r}: not a model field (a short name such as sigma, "
                        "or a dotted path such as environment.noise[0].sigma)")
    return apply_model_values(load_model(path), model_values)


def _outdir(path: Path) -> Path:
    from spinecho.cli import UserError

    if path.exists() and not path.is_dir():
        raise UserError(f"-o {path}: exists and is not a directory")
    if not path.parent.is_dir():
        raise UserError(f"-o {path}: directory {str(path.parent)!r} does not exist")
    path.mkdir(exist_ok=True)
    return path


def _emit(args, payload: dict, lines: list[str], out: Path, name: str) -> None:
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2, default=float))
    if args.json:
        json.dump(payload, sys.stdout, indent=2, default=float)
        sys.stdout.write("\n")
    else:
        for line in lines:
            print(line)
        print(f"wrote {out / (name + '.json')} and {out / (name + '.png')}")


def run_design(args) -> int:
    from echo.hole import RabiCalibration
    from sequences.expr import FIELD
    from spinecho.cli import UserError

    if not args.model and not args.tuned:
        raise UserError("hole design: give --model, --tuned or both")
    model = _model(args.model) if args.model else None
    f_burn = _freq(args.f_burn, "--f-burn")
    full_scale = _quantity(args.full_scale, FIELD, "--full-scale")
    cal = RabiCalibration.from_tune(
        args.tuned, f=_freq(args.tuned_f, "--tuned-f") if args.tuned_f else f_burn,
        full_scale=full_scale) if args.tuned else None
    d = design_from_args(args, model.ensemble if model else None, f_burn, full_scale,
                         model.environment.drive_coupling if model else "z", cal)
    if args.json:
        json.dump(d.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(d.describe())
        print("  " + " ".join(f"--set {k}={v:.6g}" for k, v in d.sets().items()))
    return 0


def _summary(report) -> dict:
    d = report.to_dict()
    d.pop("spectrum", None)
    d["expected"].pop("hole", None)
    return d


def run_simulate(args) -> int:
    from echo.hole.experiment import plot_hole, plot_series, simulate_hole, simulate_series

    out = _outdir(args.output)
    model = _model(args.model, args.sets)
    kw = dict(readout=args.readout, apodisation=args.apodisation, points=args.points,
              probe=args.probe, t90=_time(args.t90, "--t90"),
              resolution=_freq(args.resolution, "--resolution") if args.resolution else None,
              span=_freq(args.span, "--span") if args.span else None,
              sample_rate=_freq(args.sample_rate, "--sample-rate") if args.sample_rate
              else None,
              duration=_time(args.burn_time, "--burn-time") if args.burn_time else None,
              width=_freq(args.hole_width, "--hole-width") if args.hole_width else None)
    f_burn = _freq(args.f_burn, "--f-burn")
    if args.waits:
        if args.readout != "spectrum":
            from spinecho.cli import UserError

            raise UserError("--waits: the refilling series uses --readout spectrum")
        kw.pop("readout")
        series = simulate_series(model, f_burn, _times(args.waits, "--waits"), args.burn,
                                 **kw)
        plot_series(series, out / "series.png")
        series.holes[0].results["reference"].save(out / "reference.nc")
        for k, h in enumerate(series.holes):
            h.results["burn"].save(out / f"burn_{k}.nc")
        _emit(args, series.to_dict(), series.holes[0].lines()[:2] + series.lines(), out,
              "series")
        return 0
    report = simulate_hole(model, f_burn, args.burn,
                           wait=_time(args.wait, "--wait") if args.wait else None, **kw)
    report.results["burn"].save(out / "burn.nc")
    report.results["reference"].save(out / "reference.nc")
    plot_hole(report, out / "hole.png")
    _emit(args, {**_summary(report), "spectrum": report.spectrum.to_dict()}, report.lines(),
          out, "hole")
    return 0


def _load(path):
    from echo.result import EchoResult
    from spinecho.cli import UserError

    p = Path(path)
    if p.is_dir():
        p = p / "result.nc"
    if p.suffix != ".nc" or not p.is_file():
        raise UserError(f"{path}: not a result file (.nc) or a run directory with result.nc")
    return EchoResult.load(p)


def analyse_files(runs, reference, model_path, *, f_burn, burn_time, burn_amp,
                  full_scale="1uT", f_ref=None, waits=None, apodisation="hann", span=None,
                  probe=None, out: Path, as_json=False):
    """Analyse burned runs against a reference run (``hole analyse`` and ``compare --kind
    hole-series``): one hole, or with ``waits`` a refilling series fitted for σ, τc.
    Returns the DiffusionFit of a series, else None."""
    from echo.hole.experiment import _series, analyse_hole, plot_hole, plot_series
    from sequences.expr import DIMLESS, FIELD
    from spinecho.cli import UserError

    out = _outdir(out)
    model = _model(model_path)
    ref = _load(reference)
    kw = dict(f_burn=_freq(f_burn, "f_burn"), duration=_time(burn_time, "burn time"),
              amp=_quantity(burn_amp, DIMLESS, "burn amplitude"),
              full_scale=_quantity(full_scale, FIELD, "full scale"),
              f_ref=_freq(f_ref, "f_ref") if f_ref else None, apodisation=apodisation,
              span=_freq(span, "span") if span else None)
    if probe:
        parts = _times(probe, "--probe")
        if len(parts) != 3 or min(parts) <= 0:
            raise UserError(f"--probe {probe!r}: expected T90,TAU,WINDOW (three times > 0)")
        kw["probe"] = {"rabi_hz": 1 / (4 * parts[0]), "t90": parts[0], "tau": parts[1],
                       "window": parts[2]}
    reports = [analyse_hole(_load(r), ref, model, **kw) for r in runs]

    class _Args:
        json = as_json

    if waits:
        ws = _times(waits, "--waits")
        if len(ws) != len(reports):
            raise UserError(f"--waits: {len(ws)} waits for {len(reports)} burned runs")
        series = _series(model, ws, reports, truth=False)
        plot_series(series, out / "series.png")
        _emit(_Args, series.to_dict(), series.lines(), out, "series")
        return series.fit
    if len(reports) != 1:
        raise UserError("several burned runs need --waits (a refilling series)")
    plot_hole(reports[0], out / "hole.png")
    _emit(_Args, {**_summary(reports[0]), "spectrum": reports[0].spectrum.to_dict()},
          reports[0].lines(), out, "hole")
    return None


def run_analyse(args) -> int:
    fit = analyse_files(args.runs, args.reference, args.model, f_burn=args.f_burn,
                        burn_time=args.burn_time, burn_amp=str(args.burn_amp),
                        full_scale=args.full_scale, f_ref=args.f_ref, waits=args.waits,
                        apodisation=args.apodisation, span=args.span, probe=args.probe,
                        out=args.output,
                        as_json=args.json)
    return 0 if fit is None or fit.success else 1
