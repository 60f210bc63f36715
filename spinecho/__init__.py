"""spinecho: spin-echo sequences, ensemble simulation and lab control for giant spins.

``import spinecho`` gives the Python face of the command line, with the same rules
(:mod:`spinecho.api`): :func:`load_sequence`, :func:`load_model`, :func:`simulate`,
:func:`measure`, :func:`measure_chi`, :func:`fit`, and :class:`SpinechoError`, the root of
every error a user can cause. The three libraries stay importable on their own
(``sequences``, ``echo``, ``instruments``); this thin package ties them together and is
imported by none of them.
Each sub-command of the ``spinecho`` console command lives in :mod:`spinecho.commands`
and exposes ``register(subparsers)``. The API is imported lazily (``spinecho --version``
stays fast).
"""

__version__ = "0.1.0"

from sequences.errors import SpinechoError  # noqa: E402  (the one error root)

_API = ("load_sequence", "load_model", "simulate", "measure", "measure_chi", "fit")

__all__ = ["SpinechoError", "__version__", *_API]


def __getattr__(name):
    if name in _API:
        from spinecho import api

        return getattr(api, name)
    raise AttributeError(f"module 'spinecho' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
