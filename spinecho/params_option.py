"""The options of every command that binds a sequence, declared once: the ``SEQ``
argument, ``--set NAME=VALUE``, ``--sweep SPEC`` and ``--params FILE`` (sequence parameter
values from a file, e.g. ``spinecho tune``'s ``tuned.toml``: a sequence takes the values of
the parameters it declares and does not sweep; explicit ``--set`` values win). Their rules
are those of :mod:`spinecho.api` (:func:`sequences.sweep.apply_options`)."""

from __future__ import annotations

import sys
from pathlib import Path


def add_sequence_argument(parser) -> None:
    parser.add_argument("sequence", metavar="SEQ", help="a .seq file or a library name (hahn)")


def add_set_option(parser, help: str = "override a parameter, e.g. --set tau=5us "
                                       "(repeatable; a swept parameter is then fixed)") -> None:
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        metavar="NAME=VALUE", help=help)


def add_sweep_option(parser) -> None:
    parser.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="SPEC",
                        help="sweep a parameter: 'tau=lin(1us, 10us, 10)', 'tau=log(a, b, n)', "
                             "'tau=1us:5us:1us' or 'tau=1us,2us' (repeatable; the last is "
                             "innermost)")


def add_params_option(parser) -> None:
    parser.add_argument("--params", type=Path, metavar="FILE.toml",
                        help="parameter values from a file ([params] table, e.g. the "
                             "tuned.toml of spinecho tune); --set overrides it")


def merged_sets(args, seq) -> list[str]:
    """``args.sets`` preceded by the ``--params`` file's values for ``seq`` (``name=value``
    strings; later ones override earlier ones). Names the sequence does not declare, or
    sweeps, are reported on stderr and left out."""
    sets = list(getattr(args, "sets", []) or [])
    path = getattr(args, "params", None)
    if path is None:
        return sets
    from sequences.paramfile import params_for

    values, ignored = params_for(seq, path)
    swept = {s.name for s in seq.sweeps}
    skipped = sorted(k for k in values if k in swept)
    if ignored or skipped:
        parts = []
        if ignored:
            parts.append(f"not declared by {seq.name or 'the sequence'}: {', '.join(ignored)}")
        if skipped:
            parts.append(f"swept: {', '.join(skipped)}")
        print(f"--params {path}: left out ({'; '.join(parts)})", file=sys.stderr)
    return [f"{k}={v}" for k, v in values.items() if k not in swept] + sets
