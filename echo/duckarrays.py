"""Keep xarray from importing dask, dask.array and pint just to learn that an array is not
one of theirs.

xarray asks, for every array it wraps, whether it is a dask, pint, cupy, sparse or cubed
array, and to answer it imports each of those packages once per process
(``xarray.namedarray.pycompat.DuckArrayModule``). With dask and pint installed (dask is a
dependency of ``echo.parallel``), that is ~0.6 s of a warm ``spinecho simulate`` on an
idle 2-core machine (1.8 s under load), to build a Dataset of numpy arrays.

An array of a package's type can only exist once that package has been imported, so
"not a dask array" is the right answer while ``dask.array`` is not in ``sys.modules``,
with nothing imported. :func:`install` puts a stand-in into xarray's per-process cache
that gives exactly that answer, and hands over to xarray's own probe (the real import)
as soon as the package has been imported by anyone. The same holds for xarray's
``is_dask_collection`` (dask's own test starts with "has a callable ``__dask_graph__``";
without one the answer is False and dask need not be imported: 0.1-0.2 s) and, in
:func:`dask_hidden`, for the scheduler ``to_netcdf`` asks dask about. When xarray's
internals are not the ones expected (another version), nothing is changed: only the
start-up time differs.
"""

from __future__ import annotations

import contextlib
import sys

#: xarray's name of a duck-array package → the module whose presence in ``sys.modules``
#: is necessary for an array of that package's type to exist.
_MARKERS = {"dask": "dask.array", "pint": "pint", "cupy": "cupy", "sparse": "sparse",
            "cubed": "cubed"}


class _Unimported:
    """xarray's ``DuckArrayModule`` for a package nobody has imported yet: no array types
    while that holds, xarray's real probe (cached) from the moment it does not."""

    def __init__(self, mod: str, probe):
        self._mod = mod
        self._probe = probe  # xarray's DuckArrayModule class
        self._real = None

    def _resolved(self):
        if self._real is None:
            self._real = self._probe(self._mod)
        return self._real

    @property
    def type(self):
        if self._real is None and _MARKERS[self._mod] not in sys.modules:
            return ()
        return self._resolved().type

    # anything else xarray may ask (version, module, available) needs the real answer
    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._resolved(), name)


def install() -> bool:
    """Put the stand-ins into xarray's duck-array cache (idempotent). Returns whether the
    cache was found in the expected form (False: left untouched)."""
    try:
        from xarray.namedarray import pycompat
    except ImportError:
        return False
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    probe = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cache, dict) or not isinstance(probe, type) \
            or not callable(getattr(pycompat, "array_type", None)):
        return False
    for mod in _MARKERS:
        cache.setdefault(mod, _Unimported(mod, probe))
    _short_cut_is_dask_collection()
    return True


def _short_cut_is_dask_collection() -> None:
    try:
        from xarray.namedarray import utils
    except ImportError:
        return
    original = getattr(utils, "is_dask_collection", None)
    if not callable(original) or getattr(original, "_no_dask_import", False):
        return

    def is_dask_collection(x) -> bool:
        # the first test of dask.base.is_dask_collection, answered without importing dask
        if isinstance(x, type) or not callable(getattr(x, "__dask_graph__", None)):
            return False
        return original(x)

    is_dask_collection._no_dask_import = True
    is_dask_collection.__doc__ = original.__doc__
    utils.is_dask_collection = is_dask_collection


@contextlib.contextmanager
def dask_hidden():
    """Hide installed but unimported dask and dask.distributed while xarray writes a
    result: ``to_netcdf`` asks dask for its scheduler (importing dask, and dask looks for
    a distributed client by importing dask.distributed: seconds of start-up). Without
    those modules imported there can be no dask array in the data and no client, so the
    answer ("no dask scheduler", the one xarray gives without dask) is the same."""
    hidden = [m for m in ("dask", "distributed") if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # `import m` raises ImportError
    try:
        yield
    finally:
        for m in hidden:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]
