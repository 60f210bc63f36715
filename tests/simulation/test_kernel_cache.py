"""echo.engines.kernel_cache: the fast engine's kernels are cached under a key of their
source text, and an empty cache is filled from the seed shipped with the package, so a
fresh install loads machine code instead of compiling it. Slow tests: a fresh copy of
the tree (new paths and mtimes) with an empty NUMBA_CACHE_DIR loads both kernels without
compiling; on another CPU target, or with other kernel source, numba compiles (the seed
is never used there) and the seed is left untouched."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from echo.engines import kernel_cache as kc

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("echo", "sequences", "instruments", "spinecho")


def test_seed_is_current():
    """The shipped seed was built from the kernels as they are now (else a fresh install
    compiles for seconds). Fix: `python -m echo.engines.kernel_cache build`, commit
    echo/engines/kernel_seed/."""
    m = kc.read_manifest()
    assert m is not None, "echo/engines/kernel_seed/manifest.json missing"
    assert m["key"] == kc.source_key(), (
        "the kernel seed is stale (kernel source or numba/numpy version changed): run "
        "`python -m echo.engines.kernel_cache build` and commit echo/engines/kernel_seed/")
    assert m["files"] and all((kc.SEED_DIR / f).is_file() for f in m["files"])
    assert any(f.startswith("_kernels.run_ops-") for f in m["files"])
    assert any(f.startswith("_kernels.run_ops_serial-") for f in m["files"])
    assert m["targets"] and all({"cpu", "features", "triple", "numba"} <= set(t)
                                for t in m["targets"])


def test_seed_ships_with_the_package():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "engines/kernel_seed/*" in data["tool"]["setuptools"]["package-data"]["echo"]


def test_every_jitted_module_is_a_kernel_source():
    """A jitted helper outside KERNEL_SOURCES would change compiled code without changing
    the key (a stale load)."""
    jit = re.compile(r"^\s*@(numba\.)?(njit|jit|vectorize|guvectorize|stencil)\b", re.M)
    found = {p.relative_to(ROOT).as_posix() for pkg in PACKAGES
             for p in (ROOT / pkg).rglob("*.py") if jit.search(p.read_text())}
    assert found == {f"echo/engines/{name}" for name in kc.KERNEL_SOURCES}


def test_kernel_sources_import_only_kernel_sources():
    """Globals a kernel reads are frozen into its machine code: a constant imported from
    a module outside the key could change without changing the key (a stale load)."""
    import ast

    allowed = {"echo.engines.kernel_cache"} | {
        "echo.engines." + name.removesuffix(".py") for name in kc.KERNEL_SOURCES}
    for name in kc.KERNEL_SOURCES:
        tree = ast.parse((kc.HERE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                # `from echo.engines import kernel_cache` imports echo.engines.kernel_cache
                found = [node.module if node.module in allowed else f"{node.module}.{a.name}"
                         for a in node.names]
            elif isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            else:
                continue
            for mod in found:
                if mod.split(".")[0] in PACKAGES:
                    assert mod in allowed, f"{name} imports {mod}"


def test_kernels_use_the_content_keyed_cache():
    from echo.engines import _kernels

    for kernel in (_kernels.run_ops, _kernels.run_ops_serial):
        cache = kernel._cache
        assert cache.cache_path == kc.cache_dir()
        assert Path(cache.cache_path).name == kc.PREFIX + kc.source_key()[:24]
        assert cache._cache_file._source_stamp == kc.source_key()


def _fake_seed(tmp_path, key, files=("f-1.py311.1.nbc", "f-1.py311.nbi")):
    seed = tmp_path / "seed"
    seed.mkdir()
    for f in files:
        (seed / f).write_bytes(f.encode())
    (seed / kc.MANIFEST).write_text(json.dumps({"key": key, "files": list(files)}))
    target = tmp_path / "cache"
    target.mkdir()
    return seed, target


def test_seed_copies_into_an_empty_cache_only_for_the_same_key(tmp_path, monkeypatch):
    monkeypatch.delenv(kc.SEED_ENV, raising=False)
    seed, target = _fake_seed(tmp_path, "k1")
    assert not kc.seed(target, "k2", seed)  # other source: nothing copied
    assert not any(target.iterdir())
    assert kc.seed(target, "k1", seed)
    assert sorted(p.name for p in target.iterdir()) == ["f-1.py311.1.nbc", "f-1.py311.nbi"]
    (target / "f-1.py311.1.nbc").write_bytes(b"numba's own")
    assert not kc.seed(target, "k1", seed)  # a cache with an index is never overwritten
    assert (target / "f-1.py311.1.nbc").read_bytes() == b"numba's own"


def test_seed_can_be_turned_off(tmp_path, monkeypatch):
    seed, target = _fake_seed(tmp_path, "k1")
    monkeypatch.setenv(kc.SEED_ENV, "0")
    assert not kc.seed(target, "k1", seed)
    assert not any(target.iterdir())


@pytest.mark.parametrize("bad", ["../x.nbi", "/tmp/x.nbi", "x.py", "sub/x.nbc"])
def test_seed_refuses_a_manifest_naming_other_files(tmp_path, monkeypatch, bad):
    monkeypatch.delenv(kc.SEED_ENV, raising=False)
    seed, target = _fake_seed(tmp_path, "k1")
    (seed / kc.MANIFEST).write_text(json.dumps({"key": "k1", "files": ["f-1.py311.nbi", bad]}))
    assert not kc.seed(target, "k1", seed)
    assert not any(target.iterdir())


def test_an_unreadable_manifest_copies_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv(kc.SEED_ENV, raising=False)
    seed, target = _fake_seed(tmp_path, "k1")
    (seed / kc.MANIFEST).write_text("{not json")
    assert kc.read_manifest(seed) is None
    assert not kc.seed(target, "k1", seed)


# ------------------------------------------------------------------ fresh installs (slow)
PROBE = """
import json, sys
from echo.engines import fast, _kernels, kernel_cache
from spinecho.api import simulate
fast.warm_up()
r = simulate("hahn", "examples/simple.toml")
amp = complex(r.dataset["amplitude"].values[0])
stats = {k.__name__: [sum(k.stats.cache_hits.values()), sum(k.stats.cache_misses.values())]
         for k in (_kernels.run_ops, _kernels.run_ops_serial)}
print(json.dumps({"stats": stats, "amp": [amp.real, amp.imag],
                  "dir": kernel_cache.cache_dir(), "key": kernel_cache.source_key()}))
"""


def _fresh_tree(tmp_path) -> Path:
    """A copy of the working tree's code (new paths and mtimes, like a fresh clone)."""
    tree = tmp_path / "tree"
    for name in PACKAGES + ("examples",):
        shutil.copytree(ROOT / name, tree / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.nc"))
    return tree


def _probe(tree, cache, **env):
    full = {k: v for k, v in os.environ.items() if k not in (kc.SEED_ENV, "NUMBA_CACHE_DIR")}
    full.update(PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1", **env)
    if cache is not None:  # None: numba's default place (here the package's __pycache__)
        full["NUMBA_CACHE_DIR"] = str(cache)
    p = subprocess.run([sys.executable, "-c", PROBE], cwd=tree, env=full,
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _digest(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_fresh_tree_and_empty_cache_load_the_seed_without_compiling(tmp_path):
    tree = _fresh_tree(tmp_path)
    cache = tmp_path / "cache"
    out = _probe(tree, cache)
    assert str(cache) in out["dir"]
    for name, (hits, misses) in out["stats"].items():
        assert misses == 0 and hits >= 1, (name, hits, misses)
    out = _probe(tree, None)  # no NUMBA_CACHE_DIR, as after `pip install -e` of a clone
    assert out["dir"].startswith(str(tree / "echo" / "engines" / "__pycache__"))
    for name, (hits, misses) in out["stats"].items():
        assert misses == 0 and hits >= 1, (name, hits, misses)


@pytest.mark.slow
def test_other_cpu_target_compiles_and_leaves_the_seed_alone(tmp_path):
    """NUMBA_CPU_NAME=generic: the host's seed entries do not match the target, numba
    compiles (never loads code for another CPU) and gives the same echo."""
    tree = _fresh_tree(tmp_path)
    seed = tree / "echo" / "engines" / "kernel_seed"
    before = _digest(seed)
    ref = _probe(tree, tmp_path / "c1")
    out = _probe(tree, tmp_path / "c2", NUMBA_CPU_NAME="generic", NUMBA_CPU_FEATURES="")
    for name, (_hits, misses) in out["stats"].items():
        assert misses >= 1, (name, out["stats"])
    assert out["amp"] == pytest.approx(ref["amp"], rel=1e-9, abs=1e-15)
    assert _digest(seed) == before


@pytest.mark.slow
def test_other_kernel_source_never_loads_the_seed(tmp_path):
    """A changed kernel file (here one comment) has another key: the seed is not copied,
    and seed files forced into that key's directory are refused by numba's stamp."""
    tree = _fresh_tree(tmp_path)
    kernels = tree / "echo" / "engines" / "_kernels.py"
    kernels.write_text(kernels.read_text() + "\n# changed\n")
    ref_key = kc.read_manifest(tree / "echo" / "engines" / "kernel_seed")["key"]
    out = _probe(tree, tmp_path / "c1")
    assert out["key"] != ref_key
    for name, (_hits, misses) in out["stats"].items():
        assert misses >= 1, (name, out["stats"])
    forced = tmp_path / "c2" / Path(out["dir"]).name
    forced.mkdir(parents=True)
    seed = tree / "echo" / "engines" / "kernel_seed"
    for f in kc.read_manifest(seed)["files"]:
        shutil.copyfile(seed / f, forced / f)
    out2 = _probe(tree, tmp_path / "c2")
    assert out2["dir"] == str(forced)
    for name, (_hits, misses) in out2["stats"].items():
        assert misses >= 1, (name, out2["stats"])


@pytest.mark.slow
def test_a_seed_built_on_a_second_target_serves_both(tmp_path):
    """`build` on another target (here NUMBA_CPU_NAME=generic) keeps the entries already
    in the seed and adds its own: an empty cache then loads without compiling on both."""
    tree = _fresh_tree(tmp_path)
    generic = {"NUMBA_CPU_NAME": "generic", "NUMBA_CPU_FEATURES": ""}
    code = (f"import json; from echo.engines import kernel_cache as k; "
            f"print(json.dumps(k.build(env={generic!r})))")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    p = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True,
                       env={**env, "PYTHONPATH": str(tree)}, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads(p.stdout.strip().splitlines()[-1])
    assert [t["cpu"] for t in m["targets"]] == [kc.target_description()["cpu"], "generic"]
    for extra in ({}, generic):
        out = _probe(tree, tmp_path / f"c{len(extra)}", **extra)
        for name, (hits, misses) in out["stats"].items():
            assert misses == 0 and hits >= 1, (extra, name, hits, misses)
