"""echo.duckarrays: building and saving a result of numpy arrays imports neither
dask.array nor pint (seconds of start-up), and xarray still recognises a dask array once
dask.array has been imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_result_of_numpy_arrays_imports_no_dask_array_nor_pint(tmp_path):
    _run(f"""
import sys
import numpy as np
from echo.result import EchoResult
import xarray as xr
ds = xr.Dataset({{"a": (("x",), np.arange(3.0) + 1j)}}, coords={{"x": np.arange(3)}})
EchoResult(ds).save({str(tmp_path / "r.nc")!r})
bad = [m for m in ("dask.array", "pint") if m in sys.modules]
assert not bad, bad
""")


def test_dask_array_still_recognised_after_import():
    _run("""
import numpy as np
import echo.result  # installs the stand-ins
import xarray as xr
xr.Dataset({"a": (("x",), np.arange(3.0))})  # probe while dask.array is unimported
import dask.array as da
ds = xr.Dataset({"a": (("x",), da.ones(4, chunks=2))})
assert ds["a"].chunks == ((2, 2),), ds["a"].chunks
assert isinstance(ds["a"].data, da.Array)
""")


def test_install_is_idempotent_and_keeps_a_real_probe():
    from xarray.namedarray import pycompat

    from echo import duckarrays

    assert duckarrays.install()
    first = pycompat._cached_duck_array_modules["dask"]
    assert duckarrays.install()
    assert pycompat._cached_duck_array_modules["dask"] is first
