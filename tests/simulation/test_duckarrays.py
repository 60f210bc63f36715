"""echo.duckarrays: building and saving a result of numpy arrays imports neither dask
nor pint (seconds of start-up), and xarray still recognises a dask array once dask.array
has been imported, and writes it."""

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
bad = [m for m in ("dask", "dask.array", "pint", "distributed") if m in sys.modules]
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


def test_dask_backed_result_still_written_and_read(tmp_path):
    """With dask imported nothing is hidden: a dask-backed variable is written as xarray
    writes it and reads back equal."""
    _run(f"""
import numpy as np
import dask.array as da
import xarray as xr
from echo.result import EchoResult
ds = xr.Dataset({{"a": (("x",), da.arange(6.0, chunks=3))}}, coords={{"x": np.arange(6)}})
path = {str(tmp_path / "d.nc")!r}
EchoResult(ds).save(path)
back = EchoResult.load(path).dataset
assert np.array_equal(back["a"].values, np.arange(6.0)), back
""")


def test_is_dask_collection_short_cut_agrees_with_dask():
    import dask.array as da
    import numpy as np
    from dask.base import is_dask_collection as dask_answer
    from xarray.namedarray import utils

    import echo.result  # noqa: F401  (installs the short cut)

    assert getattr(utils.is_dask_collection, "_no_dask_import", False)
    for x in (np.ones(3), 1.0, "a", np.ndarray, da.ones(3), da.ones(3).sum(), da.Array):
        assert utils.is_dask_collection(x) == dask_answer(x), x
