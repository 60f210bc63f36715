"""``spinecho simulate SEQ --model MODEL.toml [--engine fast|qutip] [--set name=value ...]
[--sweep name=start:stop:step|list] [--workers N | --scheduler ADDRESS] -o RESULT
[--plot PNG] [--json]``: simulate the echo of a pulse sequence on a sample model.

SEQ is a ``.seq`` file or a library sequence name (``hahn``). ``--set`` overrides a
sequence parameter (``--set tau=5us``) or a model field named as ``compare --fit`` names
it: a short name (``--set sigma=2e4``, ``tau_c``, ``t1``, ``t_phi``, ``temperature``) or a
dotted path (``--set environment.t1=1e-3``, ``--set environment.noise[0].sigma=2e4``;
SI/Hz numbers); a sequence parameter of the same name wins over a short name.
``--sweep`` sweeps sequence parameters (the Cartesian product of all sweeps). The result
(netCDF/HDF5, see ``echo.result``) holds the demodulated trace per sweep point and phase
step, the echo amplitude and the normalised echo amplitude (the echo divided by the same
with bias noise, T1, Tφ and back-action off). ``--json`` prints, per sweep point, the
parameter values, the echo amplitude (V), the normalised echo amplitude and ``windows``:
the mean signal of every detection window in time order (a CPMG's whole echo train).

A sequence that binds ``f_ref`` (holeburn.seq) is demodulated at each point's ``f_ref``,
as ``measure`` and ``compare`` do. A detection window shorter than 1/demod_bandwidth or
three reference periods is warned about. This command is a thin wrapper over
:func:`spinecho.simulate`: the same rules for ``--set`` (a swept parameter given a value
is fixed) and ``--sweep``.
The echo amplitudes come with their standard errors (batch means over the ensemble's
batches, ``echo.stats``); ``--observables`` also stores the Bloch vector in three frames
(``echo.observables``) and prints the rotating-frame echo.
"""

from __future__ import annotations

import json
import sys


class _InitialStates:
    """``echo.model.INITIAL_STATES``, imported when argparse first looks (registering the
    command must not import numpy: ``spinecho --help`` stays fast)."""

    def _states(self):
        from echo.model import INITIAL_STATES

        return INITIAL_STATES

    def __contains__(self, item) -> bool:
        return item in self._states()

    def __iter__(self):
        return iter(self._states())

    def __len__(self) -> int:
        return len(self._states())


def register(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="simulate the echo of a sequence on a model",
                              description=__doc__)
    from spinecho.params_option import add_sequence_argument, add_set_option, add_sweep_option

    add_sequence_argument(p)
    p.add_argument("--model", required=True, metavar="MODEL.toml", help="sample model file")
    p.add_argument("--engine", choices=("fast", "qutip"), default="fast")
    p.add_argument("--frame", choices=("lab", "rwa"), default="lab",
                   help="integration frame (default lab: exact)")
    p.add_argument("--initial", choices=_InitialStates(), default="thermal", metavar="STATE",
                   help="initial state: thermal (at the model temperature; none = ground state), "
                        "ground, or up (τz = +1)")
    from spinecho.params_option import add_params_option

    add_params_option(p)
    add_set_option(p, help="sequence parameter (tau=5us) or model field (sigma=2e4, "
                           "environment.t1=1e-3)")
    add_sweep_option(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local process pool with N workers")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask.distributed scheduler address (tcp://host:port)")
    p.add_argument("--max-error", type=float, default=1e-3, metavar="E",
                   help="engine accuracy parameter (default 1e-3)")
    p.add_argument("--no-normalise", action="store_true",
                   help="skip the quiet reference run (no normalised amplitude)")
    p.add_argument("--keep-tau-z", action="store_true", help="store the raw ⟨τz⟩(t)")
    p.add_argument("--observables", action="store_true",
                   help="store the full Bloch vector per sample in the lab frame, the static "
                        "eigenbasis and the frame rotating at the carrier (fast engine)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    from spinecho.commands.hole import add_burn_options

    add_burn_options(p, f_burn_required=False)
    p.add_argument("-o", "--output", required=True, metavar="RESULT", help="result file (.nc)")
    p.add_argument("--plot", metavar="PNG", help="also plot the result")
    p.add_argument("--json", action="store_true", help="print per-point results as JSON")
    p.set_defaults(func=run)


def _designed_burn(args, seq, values: dict, model) -> dict[str, float]:
    """``--burn``: the burn length and amplitude designed for the model's grains resonant at
    the sequence's f_burn (:func:`echo.hole.design_burn`), as parameter values."""
    from sequences.bind import resolve_params
    from spinecho.cli import UserError
    from spinecho.commands.hole import design_from_args

    for name in ("burn", "burn_amp"):
        if name in values:
            raise UserError(f"--burn designs {name}: do not also --set it")
        if name not in seq.param_names:
            raise UserError(f"--burn: sequence {seq.name!r} has no parameter {name!r} "
                            "(use holeburn or a sequence with burn, burn_amp, f_burn)")
    env = resolve_params(seq, values, partial=True)
    if "f_burn" not in env:
        raise UserError(f"--burn: sequence {seq.name!r} has no parameter 'f_burn'")
    sched = seq.bind_values({k: v for k, v in values.items()
                             if k not in {sw.name for sw in seq.sweeps}})
    fs = next((c.full_scale for c in sched.channels if c.kind == "field" and c.full_scale),
              1e-6)
    d = design_from_args(args, model.ensemble, float(env["f_burn"].value), fs,
                         model.environment.drive_coupling)
    if not args.json:
        print(d.describe())
    return {"burn": d.duration, "burn_amp": d.amp}


def run(args) -> int:
    """A thin wrapper over :func:`spinecho.simulate` (the same rules)."""
    from spinecho.api import simulate
    from spinecho.cli import UserError
    from spinecho.outputs import check_output

    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers: must be >= 1, got {args.workers}")
    check_output("-o", args.output)  # before simulating: a long run must not end in a
    check_output("--plot", args.plot, image=True)  # failed write
    sets = list(args.sets)
    if getattr(args, "params", None) is not None:  # --params FILE: values, --set wins
        from sequences.sweep import with_sweep_options
        from spinecho.api import load_sequence
        from spinecho.params_option import merged_sets

        sets = merged_sets(args, with_sweep_options(load_sequence(args.sequence),
                                                    args.sweeps))
    if args.burn or args.burn_time or args.hole_width:  # issue 16: a designed burn
        from sequences.bind import assignment_text, parse_assignments
        from spinecho.api import apply_model_values, load_model, load_sequence, split_sets

        seq = load_sequence(args.sequence)
        model_values, seq_values = split_sets(sets, seq)
        model = apply_model_values(load_model(args.model), model_values)
        designed = _designed_burn(args, seq, parse_assignments(seq_values), model)
        sets += [assignment_text(seq, k, v) for k, v in designed.items()]
    result = simulate(args.sequence, args.model, values=sets, sweep=args.sweeps,
                      engine=args.engine, frame=args.frame, initial=args.initial,
                      max_error=args.max_error, normalise=not args.no_normalise,
                      keep_tau_z=args.keep_tau_z, workers=args.workers,
                      scheduler=args.scheduler, progress=args.progress,
                      observables=args.observables)
    result.save(args.output)
    if args.plot:
        result.plot(args.plot)
    if args.json:
        json.dump(result.summary(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        units = {name: result.param_unit(name) for name in result.swept}
        for row in result.summary():
            where = ", ".join(
                f"{k}={v / units[k][0]:.6g} {units[k][1]}".rstrip() if k in units
                else f"{k}={v:.6g}" for k, v in row["params"].items()) or "point"
            norm = row.get("normalised_echo_amplitude")
            se = row.get("echo_amplitude_stderr")
            nse = row.get("normalised_echo_amplitude_stderr")
            print(f"{where}: echo {row['echo_amplitude']:.6g}"
                  + (f" ± {se:.2g}" if se else "") + " V"
                  + (f", normalised {norm:.6g}" if norm is not None else "")
                  + (f" ± {nse:.2g}" if norm is not None and nse else "")
                  + (f", rotating-frame |⟨σx⟩+i⟨σy⟩| {row['rotating_transverse_echo']['abs']:.6g}"
                     if "rotating_transverse_echo" in row else ""))
        print(f"wrote {args.output}")
    return 0
