"""``spinecho lab``: serve the virtual lab, check a lab file against its instruments.

* ``spinecho lab serve [--config VIRTUAL.toml] [--host 127.0.0.1] [--duration S]`` starts
  the SCPI servers of the virtual lab (AWG, digitizer, lock-in) and runs until Ctrl-C
  (or for ``--duration`` seconds). Without ``--config`` it serves the built-in example.
  The ports are bound first (a clash is reported at once), then the engine is warmed
  up, then it prints ``ready ...``; a bind address other than loopback (``0.0.0.0``,
  ``::``, a LAN address) is served with a loud warning.
* ``spinecho lab check LAB.toml`` connects to every instrument of a lab file, reads
  ``*IDN?``, verifies the safety limits and prints the report
  (:func:`instruments.lab.check_lab`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from spinecho.cli import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("lab", help="virtual lab server and lab-file checks")
    sub = p.add_subparsers(dest="lab_command", metavar="ACTION")
    s = sub.add_parser("serve", help="serve the virtual lab (SCPI on loopback TCP)")
    s.add_argument("--config", type=Path, default=None,
                   help="virtual lab TOML (default: examples/virtual_lab.toml settings)")
    s.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    s.add_argument("--duration", type=float, default=None,
                   help="stop after this many seconds (default: until Ctrl-C)")
    s.set_defaults(func=_serve)
    c = sub.add_parser("check", help="connect to a lab's instruments and verify limits")
    c.add_argument("lab_file", type=Path, help="lab TOML file")
    c.set_defaults(func=_check)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _serve(args) -> int:
    from instruments.virtual.lab import VirtualLab, config_from_dict, default_config, load_config

    cfg = load_config(args.config) if args.config else config_from_dict(default_config(),
                                                                       "<built-in>")
    if args.duration is not None and not args.duration > 0:
        raise UserError(f"--duration must be > 0, got {args.duration}")
    lab = VirtualLab(cfg, host=args.host)
    try:
        lab.bind()  # a port clash is reported now, not after the engine warm-up
    except OSError as exc:
        raise UserError(f"cannot bind the virtual lab on {lab.host!r}: {exc} "
                        "(ports in use? set other ports in the config, or check --host)"
                        ) from None
    if not lab.loopback_only:
        print(f"WARNING: serving on {lab.host!r}, not loopback: anyone who can reach this "
              "machine can drive the virtual lab's instruments (SCPI has no "
              "authentication). Use --host 127.0.0.1 unless you mean it.",
              file=sys.stderr, flush=True)
    try:
        for role, res in lab.resources.items():
            inst = lab.instruments[role]
            print(f"{role:10s} {res}   ({' '.join(inst.idn[:2])})")
        print("warming up the simulation engine (compiling on a first run) ...", flush=True)
        t0 = time.monotonic()
        lab.start()
        print(f"ready after {time.monotonic() - t0:.1f} s: serving; Ctrl-C to stop",
              flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        lab.stop()
    return 0


def _check(args) -> int:
    from instruments.lab import check_lab, load_lab

    report = check_lab(load_lab(args.lab_file))
    print(report.format())
    return 0 if report.ok else 1
