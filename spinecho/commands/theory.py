"""``spinecho theory …``: the spin-bath theory of Prokof'ev & Stamp (``echo.theory``).

* ``budget --preset ferritin|tb-grain | --model FILE.toml [--json]``: the decoherence
  budget — every mechanism, its coupling or rate, the condition for coherence, pass/fail —
  and a verdict with the paper's remedies.
* ``chi --lam L [--lam-prime LP] --omega W1,W2,… [--json]``: χ''(ω)/A, ω in units of Δ0
  (flat bias for every channel M, Φ = 0).
* ``pt --lam L [--lam-prime LP] --t T1,T2,… [--json]``: [1 − P(t)]/A, t in units of 1/Δ0.
* ``pt-sim --lam L [--lam-prime LP] --t T1,T2,… [--delta0 HZ] [--fraction-a A]
  [--grains N] [--seed S] [--json]``: the engine's ⟨τz(t)τz(0)⟩ over the spin-bath
  channel ensemble (``echo.theory.channels``, ``echo.correlation``), beside
  :func:`echo.theory.polarisation`, with the standard error.
* ``figure1 -o fig1.png``: both panels of the paper's Fig. 1.
"""

from __future__ import annotations

import json
import math
import sys

_DESCRIPTION = """The spin-bath theory of Prokof'ev & Stamp (echo.theory):

  budget  --preset ferritin|tb-grain | --model FILE.toml [--json]
          decoherence budget: mechanisms, couplings, conditions, pass/fail, verdict
  chi     --lam L [--lam-prime LP] --omega W1,W2,... [--json]
          chi''(omega)/A, omega in units of Delta0 (flat bias, Phi = 0)
  pt      --lam L [--lam-prime LP] --t T1,T2,... [--json]
          [1 - P(t)]/A, t in units of 1/Delta0
  pt-sim  --lam L [--lam-prime LP] --t T1,T2,... [--delta0 HZ] [--fraction-a A]
          [--grains N] [--seed S] [--json]
          1 - P(t) from the fast engine over the channel ensemble vs the theory
  figure1 -o fig1.png
          both panels of the paper's Fig. 1
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("theory", help="the paper's spin-bath theory: budget, chi, P(t), "
                              "Fig. 1", description=_DESCRIPTION,
                              formatter_class=_raw_formatter())
    sub = p.add_subparsers(dest="theory_command", metavar="THEORY_COMMAND")
    p.set_defaults(func=lambda args: _missing(p))

    b = sub.add_parser("budget", help="decoherence budget of a grain (Eqs. 8-12, fn 19)",
                       description="Decoherence budget: every mechanism of the paper, its "
                       "coupling or rate, the condition for coherence, pass/fail, and a "
                       "verdict with the paper's remedies.")
    src = b.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", metavar="NAME", help="ferritin | tb-grain")
    src.add_argument("--model", metavar="FILE.toml", help="a grain model file "
                     "(format in docs/theory.md)")
    b.add_argument("--json", action="store_true", help="print the budget as JSON")
    b.set_defaults(func=run_budget)

    c = sub.add_parser("chi", help="chi''(omega)/A for general lambda, lambda'",
                       description="χ''(ω)/A (units 1/Δ0) at ω given in units of Δ0; flat "
                       "bias for every channel M, Φ = 0. Reduces to Eq. 7 as λ → 0.")
    _coupling_args(c)
    c.add_argument("--omega", required=True, metavar="W1,W2,...",
                   help="frequencies in units of Δ0, comma separated")
    c.add_argument("--json", action="store_true",
                   help='print [{"omega": ..., "chi_over_A": ...}, ...]')
    c.set_defaults(func=run_chi)

    t = sub.add_parser("pt", help="[1 - P(t)]/A for general lambda, lambda'",
                       description="[1 − P(t)]/A at t given in units of 1/Δ0; flat bias for "
                       "every channel M, Φ = 0. λ → 0: 2 Σ_k J_{2k+1}(4t).")
    _coupling_args(t)
    t.add_argument("--t", dest="times", required=True, metavar="T1,T2,...",
                   help="times in units of 1/Δ0, comma separated")
    t.add_argument("--json", action="store_true",
                   help='print [{"t": ..., "one_minus_p_over_A": ...}, ...]')
    t.set_defaults(func=run_pt)

    s = sub.add_parser("pt-sim", help="1 - P(t) of the engine over the channel ensemble vs "
                       "the theory", description="Draws grains from the spin-bath channel "
                       "mixture (echo.theory.channels: channel M with probability "
                       "e^{-2λ̃}I_M(2λ̃), Δ_M = 2Δ0|J_M(2(λ̃y)^{1/2})|, flat bias density in "
                       "every channel), evolves each from τz = +1 with the fast engine and "
                       "prints 1 − P(t), its standard error (batch means) and the theory's "
                       "1 − P(t) (echo.theory.polarisation), t in units of 1/Δ0.")
    _coupling_args(s)
    s.add_argument("--t", dest="times", required=True, metavar="T1,T2,...",
                   help="times in units of 1/Δ0, comma separated")
    s.add_argument("--delta0", type=float, default=1e6, metavar="HZ",
                   help="Δ0 in Hz (default 1e6)")
    s.add_argument("--fraction-a", type=float, default=1e-4, metavar="A",
                   help="A = 2πΔ0 w, the flat bias density (default 1e-4; the finite band "
                        "of each channel costs ~4A²/π² per channel)")
    s.add_argument("--grains", type=int, default=1_000_000, metavar="N",
                   help="grains simulated (default 1e6)")
    s.add_argument("--batches", type=int, default=32, metavar="B",
                   help="batches for the standard error (default 32)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="ensemble seed")
    s.add_argument("--json", action="store_true",
                   help='print [{"t": ..., "one_minus_p": ..., "stderr": ..., '
                        '"theory": ..., "z": ...}, ...]')
    s.set_defaults(func=run_pt_sim)

    f = sub.add_parser("figure1", help="draw both panels of the paper's Fig. 1",
                       description="Fig. 1: χ''(ω)/A for (a) λ = 1e-3 and (b) λ − λ' = 10.")
    f.add_argument("-o", "--output", default="fig1.png", metavar="FILE",
                   help="output image (.png, .pdf, .svg); default fig1.png")
    f.set_defaults(func=run_figure1)


def _raw_formatter():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def _missing(parser) -> int:
    parser.print_help()
    return 2


def _coupling_args(p) -> None:
    p.add_argument("--lam", type=float, required=True, metavar="L",
                   help="λ = ½ Σ α_k² (co-flipping)")
    p.add_argument("--lam-prime", type=float, default=0.0, metavar="LP",
                   help="λ' (topological phase average; 0 ≤ λ' ≤ λ; default 0)")


def _floats(text: str, option: str) -> list[float]:
    from spinecho.cli import UserError

    values = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            v = float(item)
        except ValueError:
            raise UserError(f"{option}: not a number: {item!r}") from None
        if not math.isfinite(v):
            raise UserError(f"{option}: must be finite, got {item!r}")
        values.append(v)
    if not values:
        raise UserError(f"{option}: give at least one value")
    return values


def _json_number(x: float):
    x = float(x)
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return _json_number(obj)
    return obj


def _check_couplings(args) -> None:
    from echo.model import ModelError

    for name, v in (("--lam", args.lam), ("--lam-prime", args.lam_prime)):
        if not math.isfinite(v) or v < 0:
            raise ModelError(f"{name}: must be finite and >= 0, got {v!r}")
    if args.lam_prime > args.lam:
        raise ModelError(f"--lam-prime: must be <= --lam ({args.lam!r}), got {args.lam_prime!r}")


def run_budget(args) -> int:
    from echo.theory.budget import decoherence_budget, load_grain_model, load_preset

    model = load_preset(args.preset) if args.preset else load_grain_model(args.model)
    budget = decoherence_budget(model)
    if args.json:
        print(json.dumps(_clean(budget.to_dict()), indent=2, ensure_ascii=False))
    else:
        print(budget.format_table())
    return 0


def run_chi(args) -> int:
    from echo.theory.spectrum import chi_flat

    return _curve(args, chi_flat, args.omega, "--omega", "frequencies", "omega", "chi_over_A",
                  "chi''(omega)/A  [1/Delta0]", ("omega/Delta0", "chi_over_A"))


def run_pt(args) -> int:
    from echo.theory.spectrum import pt_flat

    return _curve(args, pt_flat, args.times, "--t", "times", "t", "one_minus_p_over_A",
                  "[1 - P(t)]/A", ("t*Delta0", "1-P(t) over A"))


def _curve(args, fn, text, option, what, x_key, y_key, title, headers) -> int:
    """Evaluate ``fn(xs, λ, λ')`` at the comma-separated ``text`` (values >= 0) and print a
    table, or JSON records {x_key: x, y_key: y} with ``--json``."""
    _check_couplings(args)
    xs = _floats(text, option)
    if any(x < 0 for x in xs):
        from spinecho.cli import UserError

        raise UserError(f"{option}: {what} must be >= 0")
    ys = fn(xs, args.lam, args.lam_prime)
    if args.json:
        print(json.dumps([{x_key: x, y_key: _json_number(y)}
                          for x, y in zip(xs, ys, strict=True)]))
        return 0
    print(f"# {title}, lambda = {args.lam:g}, lambda' = {args.lam_prime:g}, "
          "flat bias in every channel, Phi = 0")
    print(f"{headers[0]:>14}  {headers[1]:>14}")
    for x, y in zip(xs, ys, strict=True):
        print(f"{x:>14.6g}  {y:>14.6g}")
    return 0


def run_pt_sim(args) -> int:
    from echo.correlation import tau_z_correlation
    from echo.model import Ensemble, ModelError
    from echo.theory import polarisation
    from echo.theory.channels import SpinBathChannels
    from spinecho.cli import UserError

    _check_couplings(args)
    xs = _floats(args.times, "--t")
    if any(x < 0 for x in xs) or any(b < a for a, b in zip(xs, xs[1:], strict=False)):
        raise UserError("--t: times must be >= 0 and increasing")
    if args.grains < 2 or args.batches < 2:
        raise UserError("--grains and --batches: need at least 2")
    if not (math.isfinite(args.delta0) and args.delta0 > 0):
        raise ModelError(f"--delta0: must be a frequency > 0 Hz, got {args.delta0!r}")
    g = SpinBathChannels(delta0=args.delta0, lam=args.lam, lam_prime=args.lam_prime,
                         fraction_a=args.fraction_a)
    ens = Ensemble(grains=g, n_samples=args.grains, batches=args.batches, seed=args.seed)
    w0 = 2 * math.pi * args.delta0
    t = [x / w0 for x in xs]
    p, se = tau_z_correlation(ens, t)
    th = polarisation(t, delta0=w0, lam=args.lam, lam_prime=args.lam_prime,
                      flat_density=g.density / (2 * math.pi))
    rows = [{"t": x, "one_minus_p": 1 - float(a), "stderr": float(e), "theory": 1 - float(b),
             "z": float((b - a) / e) if e > 0 else None}
            for x, a, e, b in zip(xs, p, se, th, strict=True)]
    if args.json:
        print(json.dumps(_clean(rows)))
        return 0
    print(f"# 1 - P(t): fast engine over {args.grains} channel grains (A = {args.fraction_a:g},"
          f" lambda = {args.lam:g}, lambda' = {args.lam_prime:g}) vs echo.theory")
    print(f"{'t*Delta0':>10}  {'engine':>12}  {'stderr':>9}  {'theory':>12}  {'z':>6}")
    for r in rows:
        print(f"{r['t']:>10.6g}  {r['one_minus_p']:>12.6g}  {r['stderr']:>9.2g}  "
              f"{r['theory']:>12.6g}  {r['z']:>+6.2f}")
    return 0


def run_figure1(args) -> int:
    from echo.theory.figure import figure1
    from spinecho.outputs import check_output

    check_output("-o", args.output, image=True)
    path = figure1(args.output)
    print(f"wrote {path}", file=sys.stdout)
    return 0
