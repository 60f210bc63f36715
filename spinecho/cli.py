"""Entry point of the ``spinecho`` console command."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from sequences.errors import SpinechoError
from spinecho import __version__


class UserError(SpinechoError):
    """An error in the command line itself (an option's value); printed without a
    traceback, exit status 2, like every :class:`~sequences.errors.SpinechoError`."""


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
    """Run the command line. Never ends in a traceback: a closed pipe (``| head``) ends
    quietly, user errors print ``error: ...`` (exit 2) and an unexpected failure prints
    one line naming it (exit 1; ``SPINECHO_TRACEBACK=1`` shows the traceback)."""
    entry = argv is None  # the process's own command line (console script, python -m)
    if entry and "numpy" not in sys.modules:
        # A command parallelises its own work (the kernels' SPINECHO_THREADS, process
        # pools, dask): the thread pools numpy's and scipy's OpenBLAS start at import
        # would only oversubscribe the cores (its matrices here are a fit's Jacobian, a
        # 2×2 Hamiltonian), and starting them costs ~0.12 s of every command. Set before
        # numpy is imported; a user's own OPENBLAS_NUM_THREADS wins; a caller of main(argv)
        # or of the library keeps its own environment.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        if entry:  # not in a caller's process: frozen objects are never collected
            _freeze_heap()
        return code
    except BrokenPipeError:
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command cut off by `head`
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SpinechoError as exc:  # every library error with a complete user message
        _eprint(f"error: {exc}")
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        _eprint(f"error: {exc}")
        return 2
    except Exception as exc:
        if os.environ.get("SPINECHO_TRACEBACK"):
            raise
        _eprint(f"internal error: {type(exc).__name__}: {exc}\n"
                "(this is a bug in spinecho; please report it with the command line. "
                "SPINECHO_TRACEBACK=1 shows the traceback)")
        return 1


def _freeze_heap() -> None:
    """Move every object alive now (numpy, scipy, numba, xarray, pandas and their module
    state: ~10^6 objects) to the collector's permanent generation. The interpreter's
    shutdown still runs in full (atexit handlers, instrument shutdown, thread joins, file
    closes); only its last collections no longer traverse those objects, which took
    ~0.2 s of a 1 s ``spinecho simulate`` (benchmarks/startup.py)."""
    import gc

    gc.freeze()


def _eprint(msg: str) -> None:
    try:
        print(msg, file=sys.stderr)
    except (BrokenPipeError, OSError):
        pass


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush
    does not raise again (Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
