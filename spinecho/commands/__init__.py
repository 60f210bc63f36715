"""Sub-commands of ``spinecho``.

Every module in this package defines ``register(subparsers)`` which adds one or more
sub-parsers and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and
returning an exit code) via ``parser.set_defaults(func=...)``.  Modules are discovered
automatically, so adding a command never touches another command's file.
"""
