"""spinecho: the command-line face of the toolkit.

This thin package ties the three libraries together (``sequences``, ``echo``,
``instruments``) and is imported by none of them. Each sub-command lives in its own
module under :mod:`spinecho.commands` and exposes ``register(subparsers)``.
"""

__version__ = "0.1.0"

from sequences.errors import SpinechoError  # noqa: E402  (the one error root)

__all__ = ["SpinechoError", "__version__"]
