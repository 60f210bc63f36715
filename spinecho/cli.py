"""Entry point of the ``spinecho`` console command."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from spinecho import __version__


class UserError(Exception):
    """An error caused by user input; printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spinecho",
        description="Spin-echo sequences, simulation and lab control for giant spins.",
    )
    parser.add_argument("--version", action="version", version=f"spinecho {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import spinecho.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"spinecho.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # user-facing errors of the libraries print cleanly
        if _is_user_error(exc):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


def _is_user_error(exc: Exception) -> bool:
    """Errors that carry a complete message for the user (no traceback needed)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {"UserError", "SequenceError", "ModelError", "InstrumentError", "FitError",
           "DataFileError", "FileNotFoundError", "IsADirectoryError", "PermissionError"}
    )


if __name__ == "__main__":
    raise SystemExit(main())
