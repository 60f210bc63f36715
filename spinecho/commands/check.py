"""``spinecho check SEQ [--set name=value ...] [--sweep ...] [--hardware FILE.toml]``:
resolve a sequence, print its events and every hardware violation. Exit 0 only when the
sequence binds at every sweep point and breaks no constraint (1: violations, 2: errors).

SEQ is a ``.seq`` file or the name of a library sequence (``hahn``, ``cpmg``, ...)."""

from __future__ import annotations

import math


def register(subparsers) -> None:
    p = subparsers.add_parser("check", help="resolve a pulse sequence and validate it",
                              description=__doc__)
    from spinecho.params_option import add_sequence_argument, add_set_option, add_sweep_option

    add_sequence_argument(p)
    add_set_option(p)
    add_sweep_option(p)
    p.add_argument("--hardware", metavar="FILE.toml", help="hardware profile to validate "
                   "against")
    from spinecho.params_option import add_params_option

    add_params_option(p)
    p.add_argument("--max-events", type=int, default=None, metavar="N",
                   help="refuse to create more than N events (default 10^6)")
    p.add_argument("--model", metavar="MODEL.toml",
                   help="sample model: report the angle of pulses labelled 'burn' for the "
                        "grains resonant at their carrier, warn near a multiple of 2π")
    p.add_argument("--quiet", action="store_true", help="do not print the event list")
    p.set_defaults(func=run)


def _phases(ph) -> str:
    from sequences.plot import phases_text

    return phases_text(ph, None)


def format_events(schedule) -> list[str]:
    """One line per event, in time order."""
    from sequences.expr import FIELD, FREQUENCY, TIME, format_quantity

    def t(x):
        return format_quantity(x, TIME)

    rows = []
    for p in schedule.pulses:
        extra = f"{p.shape}"
        if p.shape_params:
            extra += "(" + ", ".join(f"{k}={v:g}" for k, v in p.shape_params) + ")"
        rows.append((p.start, f"{t(p.start):>12}  {p.channel:<6} pulse   {p.label:<12} "
                     f"{t(p.duration):>10}  {format_quantity(p.amplitude, FIELD):>10}  "
                     f"{format_quantity(p.frequency, FREQUENCY):>9}  {extra:<10} "
                     f"phase {_phases(p.phases)}"))
    for ip in schedule.ideal_pulses:
        rows.append((ip.time, f"{t(ip.time):>12}  {ip.channel:<6} ideal   {ip.label:<12} "
                     f"{'0 s':>10}  {math.degrees(ip.angle):>8.4g}°  {'':>9}  {'':<10} "
                     f"phase {_phases(ip.phases)}"))
    for m in schedule.markers:
        rows.append((m.start, f"{t(m.start):>12}  {m.channel:<6} marker  {m.label:<12} "
                     f"{t(m.duration):>10}"))
    for w in schedule.windows:
        rows.append((w.start, f"{t(w.start):>12}  {w.channel:<6} detect  {w.label:<12} "
                     f"{t(w.duration):>10}  (centre {t(w.start + w.duration / 2)})"))
    rows.sort(key=lambda r: r[0])
    return [r[1] for r in rows]


def _burn_report(schedule, model_path) -> None:
    """The burn angle of every pulse labelled 'burn' for the model's resonant grains; a
    WARNING line when it is near a non-zero multiple of 2π (no hole at f_burn)."""
    from echo.hole import burn_angles
    from echo.modelfile import load_model

    model = load_model(model_path)
    for b in burn_angles(schedule, model.ensemble, coupling=model.environment.drive_coupling):
        print(f"burn '{b['label']}' at {b['f'] / 1e6:.6g} MHz: angle {b['angle']:.4g} rad "
              f"= {b['angle'] / math.pi:.4g}π for the grains resonant there (10–90 %: "
              f"{b['angle_lo']:.4g}–{b['angle_hi']:.4g} rad)")
        if b["warning"]:
            print(f"WARNING {b['warning']}")


def run(args) -> int:
    from sequences.bind import resolve_params
    from sequences.expr import format_quantity
    from sequences.hardware import HardwareProfile
    from sequences.parser import load
    from sequences.plot import phase_name
    from sequences.sweep import apply_options, sweep_axes, with_sweep_options
    from spinecho.params_option import merged_sets

    seq = load(args.sequence)  # --params values of parameters no --sweep sweeps
    seq, fixed = apply_options(seq, merged_sets(args, with_sweep_options(seq, args.sweeps)),
                               args.sweeps)
    profile = HardwareProfile.load(args.hardware) if args.hardware else None
    schedule = seq.bind_values(fixed, max_events=args.max_events)
    env = resolve_params(seq, fixed)
    print(f"sequence {seq.name or '(unnamed)'}  ({seq.filename})")
    print("parameters: " + ", ".join(f"{k} = {format_quantity(q.value, q.dim)}"
                                      for k, q in env.items()))
    print(f"duration {format_quantity(schedule.duration, (1, 0, 0))}, "
          f"{len(schedule.pulses)} pulses, {len(schedule.ideal_pulses)} ideal pulses, "
          f"{len(schedule.markers)} markers, {len(schedule.windows)} windows, "
          f"{schedule.n_steps} phase-cycle step(s), receiver ["
          + ", ".join(phase_name(-math.atan2(w.imag, w.real)) for w in schedule.receiver)
          + "]")
    if not args.quiet:
        print(f"{'time':>12}  {'chan':<6} {'kind':<7} {'label':<12} {'duration':>10}  "
              f"{'amplitude':>10}  {'carrier':>9}")
        for line in format_events(schedule):
            print(line)
    if args.model:
        _burn_report(schedule, args.model)
    n_bad = 0
    if profile is not None and not seq.sweeps:
        bad = profile.validate(schedule)
        n_bad += len(bad)
        for v in bad:
            print(f"VIOLATION {v}")
    if seq.sweeps:
        axes = sweep_axes(seq, fixed)
        npts = math.prod(len(v) for _, v in axes)
        print("sweeps (outer to inner): " + "; ".join(
            f"{name}: {len(vals)} points" for name, vals in axes) + f"; {npts} points"
            + (" (events above: swept parameters at their defaults)" if not args.quiet
               else ""))
        grouped: dict[str, list[str]] = {}
        for point, sched in seq.sweep(**fixed):
            if profile is None:
                continue
            where = ", ".join(f"{k}={v:.6g}" for k, v in point.items())
            for v in profile.validate(sched):
                grouped.setdefault(str(v), []).append(where)
                n_bad += 1
        for msg, points in grouped.items():
            shown = "; ".join(points[:3]) + (" ..." if len(points) > 3 else "")
            print(f"VIOLATION {msg} — at {len(points)} of {npts} sweep points ({shown})")
    if profile is not None:
        print(f"hardware profile {profile.name}: "
              + ("OK" if not n_bad else f"{n_bad} violation(s)"))
    return 1 if n_bad else 0
