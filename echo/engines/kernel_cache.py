"""Where the fast engine's numba kernels are cached, and the cache shipped with the package.

numba compiles the kernels of :mod:`echo.engines._kernels` on first use (~7 s on a 2-core
machine) and caches the machine code on disk, but in a directory named after the source
file's *path* (``NUMBA_CACHE_DIR`` or ``__pycache__`` of that checkout): every fresh clone
or install starts empty. This module gives the kernels a cache keyed by *content* and
fills an empty one from a copy shipped with the package (``kernel_seed/``), so the first
run of a fresh install loads machine code instead of compiling it.

* :class:`KernelCacheLocator` (a numba cache locator, registered by :func:`register`
  before the kernels are decorated) serves only the files in :data:`KERNEL_SOURCES`. Its
  directory is ``<root>/spinecho-kernels-<key>`` where ``<root>`` is where numba itself
  would cache (``NUMBA_CACHE_DIR`` if set, else this package's ``__pycache__`` if
  writable, else numba's user-wide cache directory), and ``<key>`` (:func:`source_key`)
  is a SHA-256 of the text of every kernel source and of the numba, llvmlite, numpy and
  Python versions. The same key is numba's source stamp, which numba stores in each
  index file and compares on load: an index written for other source text is ignored.
* An empty cache directory is filled from ``kernel_seed/`` when the seed's
  ``manifest.json`` names the same key (else nothing is copied). numba's own lookup is
  unchanged: an entry is loaded only for the same function bytecode, signature and
  *target machine* (the host CPU's name and feature string). On another CPU the seed's
  entries are never loaded; numba compiles, exactly as without a seed, and adds its
  entries beside them.
* Nothing is ever loaded that numba would not load from its own cache: the seed is
  numba's cache files, written by numba (``python -m echo.engines.kernel_cache build``)
  and shipped with the code, so the same trust as the code (numba's cache files are
  pickles). ``SPINECHO_KERNEL_SEED=0`` turns the seeding off (to measure compile time).
* If numba's cache internals are not the ones expected, :func:`register` does nothing:
  numba then caches as usual, and only the first run's time differs.

A change to a kernel source makes the seed stale (its key no longer matches): rebuild it
with ``python -m echo.engines.kernel_cache build`` on the target machine and commit
``echo/engines/kernel_seed/``; ``tests/simulation/test_kernel_cache.py`` fails until then.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the modules (in this directory) whose ``@njit(cache=True)`` functions use this cache;
#: every module of the package that imports numba must be listed (a test checks), so a
#: helper split out of ``_kernels.py`` is part of the key of the functions that inline it.
KERNEL_SOURCES = ("_kernels.py", "_rng.py", "_vmath.py")
SEED_DIR = HERE / "kernel_seed"
MANIFEST = "manifest.json"
SEED_ENV = "SPINECHO_KERNEL_SEED"
PREFIX = "spinecho-kernels-"

_key_memo: dict[tuple, str] = {}


def source_key() -> str:
    """SHA-256 (hex) of every kernel source's text and of the numba, llvmlite, numpy and
    Python versions: what the compiled kernels depend on besides the target CPU (which
    numba keys every entry by)."""
    import llvmlite
    import numba
    import numpy

    stats = tuple((name, os.stat(HERE / name).st_mtime_ns, os.stat(HERE / name).st_size)
                  for name in KERNEL_SOURCES)
    if stats not in _key_memo:
        h = hashlib.sha256()
        for name in KERNEL_SOURCES:
            h.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
        h.update(f"numba {numba.__version__} llvmlite {llvmlite.__version__} "
                 f"numpy {numpy.__version__} python {sys.version_info[:2]}".encode())
        _key_memo[stats] = h.hexdigest()
    return _key_memo[stats]


def is_kernel_source(py_file) -> bool:
    """Whether ``py_file`` is one of :data:`KERNEL_SOURCES` of this package."""
    try:
        path = Path(py_file).resolve()
    except (OSError, TypeError, ValueError):
        return False
    return path.parent == HERE and path.name in KERNEL_SOURCES


def cache_root() -> str | None:
    """Where numba itself would cache a function of this package (its locator order):
    ``NUMBA_CACHE_DIR`` if set, else this package's ``__pycache__`` if writable, else
    numba's user-wide cache directory; None if none is writable."""
    from numba.core import config

    if config.CACHE_DIR:  # the user's choice: there or nowhere
        candidates = [config.CACHE_DIR]
    else:
        candidates = [str(HERE / "__pycache__")]
        with contextlib.suppress(ImportError):
            from numba.misc.appdirs import AppDirs

            candidates.append(AppDirs(appname="numba", appauthor=False).user_cache_dir)
    for root in candidates:
        try:
            os.makedirs(root, exist_ok=True)
            tempfile.TemporaryFile(dir=root).close()
        except OSError:
            continue
        return root
    return None


def cache_dir() -> str | None:
    """The kernels' cache directory for the current sources (None: nowhere writable)."""
    root = cache_root()
    return None if root is None else os.path.join(root, PREFIX + source_key()[:24])


def read_manifest(seed_dir: Path = SEED_DIR) -> dict | None:
    """The seed's manifest (JSON), or None if absent or unreadable."""
    try:
        data = json.loads((seed_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def seed_enabled() -> bool:
    return os.environ.get(SEED_ENV, "1").strip().lower() not in ("0", "off", "no", "false")


def seed(cache_path, key: str, seed_dir: Path = SEED_DIR) -> bool:
    """Fill an empty cache directory from the shipped seed when the seed was built from the
    same sources (``key``). Data files are copied before index files, each through a
    temporary name, so a concurrent reader never sees an index without its data. Returns
    whether anything was copied."""
    if not seed_enabled():
        return False
    try:
        if any(name.endswith(".nbi") for name in os.listdir(cache_path)):
            return False
    except OSError:
        return False
    manifest = read_manifest(seed_dir)
    if manifest is None or manifest.get("key") != key:
        return False
    files = manifest.get("files")
    if not isinstance(files, list) or not all(
            isinstance(f, str) and f == os.path.basename(f) and f.endswith((".nbi", ".nbc"))
            for f in files):
        return False
    copied = False
    for name in sorted(files, key=lambda f: f.endswith(".nbi")):  # index files last
        src = seed_dir / name
        dst = os.path.join(cache_path, name)
        tmp = f"{dst}.tmp.{os.getpid()}"
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
            copied = True
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return copied


def _locator_class():
    """numba's locator base class and implementation holder, or None if not as expected."""
    try:
        from numba.core import caching
    except ImportError:
        return None, None
    base = getattr(caching, "_CacheLocator", None)
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    if not isinstance(base, type) or not isinstance(getattr(impl, "_locator_classes", None),
                                                    list):
        return None, None
    return base, impl


_Base, _Impl = _locator_class()

if _Base is not None:
    class KernelCacheLocator(_Base):
        """numba cache locator of the kernels: content-keyed directory, seeded (see the
        module docstring)."""

        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._key = source_key()
            self._cache_path = cache_dir()

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return self._key

        def get_disambiguator(self):
            return str(self._lineno)

        def ensure_cache_path(self):
            super().ensure_cache_path()
            seed(self._cache_path, self._key)

        @classmethod
        def from_function(cls, py_func, py_file):
            if not is_kernel_source(py_file):
                return None
            self = cls(py_func, py_file)
            if self._cache_path is None:
                return None
            try:
                self.ensure_cache_path()
            except OSError:
                return None
            return self
else:  # pragma: no cover - another numba
    KernelCacheLocator = None


def register() -> bool:
    """Put :class:`KernelCacheLocator` first in numba's locator list (idempotent); must run
    before the kernels are decorated. Returns whether it is registered."""
    if KernelCacheLocator is None:
        return False
    classes = _Impl._locator_classes
    if KernelCacheLocator not in classes:
        classes.insert(0, KernelCacheLocator)
    return True


register()


# --------------------------------------------------------------------- building the seed
def build(seed_dir: Path = SEED_DIR, *, env: dict | None = None) -> dict:
    """Compile the kernels (a child process with its own ``NUMBA_CACHE_DIR``, no seeding,
    :func:`echo.engines.fast.warm_up`) and make ``seed_dir`` that cache plus a manifest.
    When the seed already holds entries for the same sources, the child starts from them,
    so numba adds this machine's target beside the others' (a seed for several CPUs, built
    on each). ``env``: extra environment of the child (e.g. ``NUMBA_CPU_NAME``). Returns
    the manifest."""
    import subprocess

    key = source_key()
    old = read_manifest(seed_dir)
    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, PREFIX + key[:24])
        if old is not None and old.get("key") == key:
            os.makedirs(cache)
            for f in old.get("files", []):
                shutil.copyfile(seed_dir / f, os.path.join(cache, f))
            targets = list(old.get("targets", []))
        child = {**os.environ, **(env or {}), "NUMBA_CACHE_DIR": tmp, SEED_ENV: "0"}
        code = ("import json; from echo.engines import fast, kernel_cache as k; "
                "fast.warm_up(); print(json.dumps({'key': k.source_key(), "
                "'dir': k.cache_dir(), 'target': k.target_description()}))")
        out = subprocess.run([sys.executable, "-c", code], env=child, check=True,
                             capture_output=True, text=True, cwd=HERE.parents[1]).stdout
        info = json.loads(out.strip().splitlines()[-1])
        if info["key"] != key or os.path.realpath(info["dir"]) != os.path.realpath(cache):
            raise RuntimeError(f"the build compiled other sources ({info['dir']})")
        files = sorted(f for f in os.listdir(cache) if f.endswith((".nbi", ".nbc")))
        if not any(f.endswith(".nbi") for f in files):
            raise RuntimeError(f"numba cached nothing in {cache}")
        seed_dir.mkdir(exist_ok=True)
        for stale in seed_dir.iterdir():
            if stale.name.endswith((".nbi", ".nbc")) or stale.name == MANIFEST:
                stale.unlink()
        for f in files:
            shutil.copyfile(os.path.join(cache, f), seed_dir / f)
    if info["target"] not in targets:
        targets.append(info["target"])
    manifest = {"key": key, "sources": list(KERNEL_SOURCES), "targets": targets,
                "files": files, "built_by": "python -m echo.engines.kernel_cache build"}
    (seed_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def serves_host(manifest: dict | None = None) -> bool:
    """Whether the seed holds entries for the host's numba target (CPU name and features;
    elsewhere numba compiles as without a seed)."""
    m = read_manifest() if manifest is None else manifest
    if not m:
        return False
    host = target_description()
    return any(isinstance(t, dict) and all(t.get(k) == host[k] for k in
                                           ("numba", "triple", "cpu", "features"))
               for t in m.get("targets", []))


def target_description() -> dict:
    """The numba target the host compiles for (what numba keys cache entries by)."""
    import numba
    from numba.core.registry import cpu_target

    triple, cpu, features = cpu_target.target_context.codegen().magic_tuple()
    return {"numba": numba.__version__, "triple": triple, "cpu": cpu, "features": features}


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m echo.engines.kernel_cache",
                                description="build or check the shipped numba kernel cache")
    p.add_argument("action", choices=("build", "check"))
    a = p.parse_args(argv)
    if a.action == "build":
        m = build()
        print(f"seed built for {', '.join(t['cpu'] for t in m['targets'])} "
              f"({len(m['files'])} files), key {m['key'][:16]}")
        return 0
    m = read_manifest()
    if m is None or m.get("key") != source_key():
        print("seed is stale or missing: run `python -m echo.engines.kernel_cache build`")
        return 1
    cpus = ", ".join(t.get("cpu", "?") for t in m.get("targets", []))
    print(f"seed is current (key {m['key'][:16]}, built for {cpus}; "
          f"{'serves' if serves_host(m) else 'does NOT serve'} this CPU, "
          f"{target_description()['cpu']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
