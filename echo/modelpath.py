"""One dialect for naming a model field: dotted paths and short names.

A path walks the dataclasses of :class:`echo.model.Model`: ``environment.t1``,
``ensemble.bias.std``, ``environment.noise[0].sigma``, ``detection.noise_rms``. A short
name (:data:`ALIASES`) stands for a common path: ``sigma`` = ``environment.noise[0].sigma``,
``tau_c`` / ``t2`` = ``environment.noise[0].tau_c``, ``t1``, ``t_phi``, ``temperature``.

The same names are accepted everywhere a model field is named: ``spinecho simulate --set
sigma=1e5``, ``spinecho compare --fit sigma``, :func:`spinecho.simulate` (``model_set=``)
and :func:`echo.fit.fit_model`. :func:`set_path` returns a new model built with
:func:`dataclasses.replace`, so the fields' declared constraints run on the new value.
"""

from __future__ import annotations

import dataclasses
import difflib
import re

import numpy as np

from echo.model import ModelError

__all__ = ["ALIASES", "resolve_name", "get_path", "set_path", "is_model_path"]

ALIASES = {
    "sigma": "environment.noise[0].sigma",
    "tau_c": "environment.noise[0].tau_c",
    "t2": "environment.noise[0].tau_c",
    "t1": "environment.t1",
    "t_phi": "environment.t_phi",
    "temperature": "environment.temperature",
}

_TOKEN = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?$")
_TOP = ("ensemble", "environment", "detection")


def resolve_name(name: str) -> str:
    """Short name → full dotted path (anything else unchanged)."""
    return ALIASES.get(name, name)


def is_model_path(name: str) -> bool:
    """True if ``name`` names a model field: a short name or a path into
    ``ensemble``/``environment``/``detection``."""
    if name in ALIASES:
        return True
    head = re.split(r"[.\[]", name, maxsplit=1)[0]
    return head in _TOP and ("." in name or "[" in name)


def _tokens(path: str, error):
    toks = []
    for part in path.split("."):
        m = _TOKEN.match(part.strip())
        if not m:
            raise error(f"parameter {path!r}: cannot read {part!r} (expected a dotted "
                        "path like environment.noise[0].sigma)")
        toks.append((m.group("name"), None if m.group("index") is None
                     else int(m.group("index"))))
    return toks


def _fields(obj) -> list[str]:
    if dataclasses.is_dataclass(obj):
        return [f.name for f in dataclasses.fields(obj)]
    return []


def _unknown_short(path: str, error, extra=()):
    short = [*ALIASES, *extra]
    close = difflib.get_close_matches(path, short, n=1)
    return error(f"unknown fit parameter {path!r}"
                 + (f" (did you mean {close[0]!r}?)" if close else "")
                 + f"; short names: {', '.join(short)}; or a dotted path "
                 "into the model such as environment.noise[0].sigma")


def get_path(model, path: str, *, error=ModelError, short_extra=()) -> float:
    """The number at dotted ``path`` (a short name is resolved) in ``model``."""
    path = resolve_name(path)
    obj = model
    for name, idx in _tokens(path, error):
        if not dataclasses.is_dataclass(obj) or name not in _fields(obj):
            if "." not in path and obj is model:  # a mistyped short name, e.g. 'sigmaa'
                raise _unknown_short(path, error, short_extra)
            raise error(f"parameter {path!r}: {type(obj).__name__} has no field {name!r} "
                        f"(fields: {', '.join(_fields(obj)) or 'none'})")
        obj = getattr(obj, name)
        if idx is not None:
            if not isinstance(obj, (tuple, list)) or idx >= len(obj):
                n = len(obj) if isinstance(obj, (tuple, list)) else 0
                raise error(f"parameter {path!r}: {name} has {n} entries, no [{idx}]")
            obj = obj[idx]
    if obj is None:
        raise error(f"parameter {path!r} is not set in the model (None); give it a value "
                    "in the model file to fit it")
    if isinstance(obj, bool) or not isinstance(obj, (int, float, np.integer, np.floating)):
        raise error(f"parameter {path!r} is not a number ({type(obj).__name__})")
    return float(obj)


def set_path(model, path: str, value, *, error=ModelError, discrete=()):
    """A copy of ``model`` with the field at dotted ``path`` (a short name is resolved)
    replaced by ``value`` (frozen dataclasses rebuilt with :func:`dataclasses.replace`, so
    their checks run; a :class:`~echo.model.ModelError` from them names the path).
    Field names in ``discrete`` are refused (a fit cannot move them)."""
    full = resolve_name(path)
    toks = _tokens(full, error)

    def rec(obj, k):
        name, idx = toks[k]
        if not dataclasses.is_dataclass(obj) or name not in _fields(obj):
            if k == 0 and "." not in full:
                raise _unknown_short(full, error)
            raise error(f"parameter {path!r}: {type(obj).__name__} has no field {name!r} "
                        f"(fields: {', '.join(_fields(obj)) or 'none'})")
        child = getattr(obj, name)
        if idx is None:
            new = value if k == len(toks) - 1 else rec(child, k + 1)
        else:
            if not isinstance(child, (tuple, list)) or idx >= len(child):
                n = len(child) if isinstance(child, (tuple, list)) else 0
                raise error(f"parameter {path!r}: {name} has {n} entries, no [{idx}]")
            items = list(child)
            items[idx] = value if k == len(toks) - 1 else rec(items[idx], k + 1)
            new = tuple(items)
        if k == len(toks) - 1 and idx is None and name in discrete:
            raise error(f"parameter {path!r} is a discrete setting, it cannot be fitted")
        try:
            return dataclasses.replace(obj, **{name: new})
        except ModelError as exc:  # the field's own check: say it with the full path
            head, sep, rest = str(exc).partition(": ")
            if sep and k == len(toks) - 1 and head.split(".")[-1] == name:
                msg = f"{full}: {rest}"
            else:
                msg = f"{full}: {exc}"
            raise (ModelError(msg) if error is ModelError
                   else error(f"parameter {path!r}: {msg}")) from None

    return rec(model, 0)
