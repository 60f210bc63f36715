"""Bruker BES3T files: the reader on files written by Bruker's own software (copied from
DeerLab and cwepr, see tests/data/bruker/README.md), round trips through the writer, and
bad files.

The expectations on the independent files come from outside the reader: the physics of
the sample (the BDPA standard's g factor from the descriptor's microwave frequency), the
PulseSPEL program stored in the same descriptor (its time increment and trace
dimension), and the descriptor's own Y range against the separate .YGF file."""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.constants
from hypothesis import given, settings
from hypothesis import strategies as st

from echo.bes3t import read_bes3t, write_bes3t
from echo.fit.errors import DataFileError
from echo.fit.loaders import load

DATA = Path(__file__).resolve().parents[1] / "data" / "bruker"
H = scipy.constants.h  # J s
MU_B = scipy.constants.physical_constants["Bohr magneton"][0]  # J/T
G_BDPA = 2.0026          # BDPA radical, g = 2.0026 ± 0.0002 (Bruker's standard sample)


def _g_at_zero_crossing(field_gauss, deriv, mw_hz) -> float:
    """g of a first-derivative line: the zero crossing between its extrema."""
    i0, i1 = sorted((int(np.argmax(deriv)), int(np.argmin(deriv))))
    seg, xs = deriv[i0:i1 + 1], field_gauss[i0:i1 + 1]
    k = int(np.flatnonzero(np.diff(np.sign(seg)))[0])
    b0 = xs[k] - seg[k] * (xs[k + 1] - xs[k]) / (seg[k + 1] - seg[k])
    return H * mw_hz / (MU_B * b0 * 1e-4)


def test_bdpa_field_sweep_from_xenon_gives_the_bdpa_g_factor():
    b = read_bes3t(DATA / "cwepr_BDPA-1DFieldSweep.DSC")
    assert b.data.shape == (3000,) and not b.is_complex
    x = b.axes[0]
    assert (x.name, x.unit, x.kind) == ("Field", "G", "IDX")
    assert x.values[0] == 3501.0 and math.isclose(x.values[-1], 3531.0, rel_tol=1e-12)
    mw = float(b.param("MWFQ"))
    assert math.isclose(mw, 9.852145e9)
    # Hall-probe calibration of an EMX is good to a few G at 3.5 kG: |Δg| < 0.002
    # (a wrong byte order or item format gives no line at all)
    assert abs(_g_at_zero_crossing(x.values, b.data, mw) - G_BDPA) < 0.002
    # one derivative line in the 30 G window: a single positive and negative lobe
    assert b.data.max() > 10 * np.median(np.abs(b.data)) and b.data.min() < 0


def test_bdpa_2d_with_ygf_axis_file():
    b = read_bes3t(DATA / "cwepr_BDPA-2DFieldDelay.DTA")  # the .DTA names the set too
    assert b.data.shape == (10, 2999)
    y = b.axes[1]
    assert (y.name, y.unit, y.kind) == ("Time", "s", "IGD")
    # the .YGF values (a separate file) against the descriptor's YMIN/YWID
    assert y.values[0] == float(b.param("YMIN"))
    assert math.isclose(y.values[-1], float(b.param("YMIN")) + float(b.param("YWID")))
    assert np.all(np.diff(y.values) > 0)
    mw = float(b.param("MWFQ"))
    gs = [_g_at_zero_crossing(b.axes[0].values, row, mw) for row in b.data]
    assert all(abs(g - G_BDPA) < 0.002 for g in gs)
    assert np.ptp(gs) < 1e-4  # the same line in every slice (a stable standard)


def test_deer_trace_from_xepr_matches_its_own_pulsespel_program():
    b = read_bes3t(DATA / "deerlab_data_1d.DSC")
    assert b.data.shape == (355,) and b.is_complex
    t = b.axes[0].values
    prog = b.devices["ftEpr"]["PlsSPELGlbTxt"]
    # the stored PulseSPEL definitions: d30 = 8 ns is the dipolar time increment, and the
    # experiment's DEER trace dimension is "dim4 s[355]"
    assert "d30  = 8" in prog
    np.testing.assert_allclose(np.diff(t), 8.0)
    assert "dim4 s[355]" in b.devices["ftEpr"]["PlsSPELPrgTxt"]
    # a DEER trace: finite, smooth (lag-1 autocorrelation near 1), largest near t = 0
    # and decaying to the background
    v = b.data * np.exp(-1j * np.angle(b.data[np.argmax(np.abs(b.data))]))
    assert np.all(np.isfinite(v))
    r = v.real - v.real.mean()
    assert np.dot(r[1:], r[:-1]) / np.dot(r, r) > 0.95
    assert np.argmax(v.real) < 40 and v.real[-1] < 0.7 * v.real.max()


def test_loader_converts_bes3t_axes_to_si():
    d = load(DATA / "deerlab_data_1d.DSC")
    assert (d.x_name, d.x_unit) == ("time", "s")  # XNAM 'unknown', XUNI 'ns'
    assert d.x[1] == pytest.approx(8e-9) and d.is_complex and d.meta["format"] == "bes3t"
    d = load(DATA / "cwepr_BDPA-2DFieldDelay.DSC", point=9)
    assert (d.x_name, d.x_unit) == ("field", "T") and d.x[0] == pytest.approx(0.3501)
    assert d.meta["y_value"] == pytest.approx(295.49)
    with pytest.raises(DataFileError, match="point 10 out of range 0..9"):
        load(DATA / "cwepr_BDPA-2DFieldDelay.DSC", point=10)


# ------------------------------------------------------------------- hand-built bytes
def _descriptor(**items) -> str:
    lines = ["#DESC\t1.2 * DESCRIPTOR INFORMATION ****", "*"]
    lines += [f"{k}\t{v}" for k, v in items.items()]
    return "\n".join(lines) + "\n#SPL\t1.2 * STANDARD PARAMETER LAYER\nMWFQ    9.5e9\n"


@pytest.mark.parametrize("order, prefix", [("BIG", ">"), ("LIT", "<")])
@pytest.mark.parametrize("code, dtype", [("D", "f8"), ("F", "f4"), ("I", "i4"), ("S", "i2"),
                                         ("C", "i1")])
def test_every_item_format_and_byte_order_read_from_numpy_bytes(tmp_path, order, prefix,
                                                                 code, dtype):
    re_, im_ = np.arange(6) - 2, 3 * np.arange(6) - 7  # fit every format, negatives too
    raw = np.empty(12)
    raw[0::2], raw[1::2] = re_, im_
    (tmp_path / "x.DTA").write_bytes(raw.astype(prefix + dtype).tobytes())
    (tmp_path / "x.DSC").write_text(_descriptor(
        BSEQ=order, IKKF="CPLX", XTYP="IDX", YTYP="IDX", IRFMT=code, IIFMT=code, XPTS=3,
        XMIN=10, XWID=20, YPTS=2, YMIN=0, YWID=1, XUNI="'ns'"))
    b = read_bes3t(tmp_path / "x.DSC")
    np.testing.assert_array_equal(b.data, (re_ + 1j * im_).reshape(2, 3))
    np.testing.assert_array_equal(b.axes[0].values, [10, 20, 30])


def test_xgf_axis_and_lowercase_suffixes(tmp_path):
    t = np.array([0.0, 1.0, 3.0, 7.0])
    (tmp_path / "s.dta").write_bytes(np.arange(4.0).astype("<f8").tobytes())
    (tmp_path / "s.xgf").write_bytes(t.astype("<f8").tobytes())
    (tmp_path / "s.dsc").write_text(_descriptor(BSEQ="LIT", IKKF="REAL", XTYP="IGD",
                                                XFMT="D", XPTS=4, XMIN=0, XWID=7))
    b = read_bes3t(tmp_path / "s.dta")
    np.testing.assert_array_equal(b.axes[0].values, t)
    assert b.axes[0].kind == "IGD"
    (tmp_path / "s.xgf").unlink()  # Xepr's fallback: the linear axis, with a warning
    with pytest.warns(UserWarning, match="no s.XGF"):
        b = read_bes3t(tmp_path / "s.dsc")
    np.testing.assert_allclose(b.axes[0].values, np.linspace(0, 7, 4))


@pytest.mark.parametrize("items, size, message", [
    ({"XPTS": 4}, 24, "holds 24 bytes, but the descriptor describes 4 REAL values of "
                      "format D = 32 bytes"),
    ({"XPTS": 10**15}, 8, "holds 8 bytes"),   # no huge allocation: the size check is first
    ({"XPTS": 0}, 8, "XPTS '0' must be a whole number >= 1"),
    ({"XPTS": "abc"}, 8, "XPTS 'abc' is not a number"),
    ({"XPTS": 1, "BSEQ": "MID"}, 8, "BSEQ 'MID': expected BIG or LIT"),
    ({"XPTS": 1, "IRFMT": "A"}, 8, "IRFMT 'A' (ASCII)"),
    ({"XPTS": 1, "IKKF": "REAL,REAL"}, 8, "2 components"),
    ({"XPTS": 1, "XTYP": "NTUP"}, 8, "NTUP axes are not supported"),
    ({"XPTS": 1, "XMIN": "nan"}, 8, "XMIN 'nan' is not finite"),
])
def test_bad_descriptors_name_the_item(tmp_path, items, size, message):
    (tmp_path / "b.DTA").write_bytes(b"\0" * size)
    (tmp_path / "b.DSC").write_text(_descriptor(**{"XTYP": "IDX", "IRFMT": "D", **items}))
    with pytest.raises(DataFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_bes3t(tmp_path / "b.DSC")


def test_missing_partner_and_non_descriptor(tmp_path):
    (tmp_path / "a.DTA").write_bytes(b"\0" * 8)
    with pytest.raises(DataFileError, match=r"a\.DSC: no such file"):
        load(tmp_path / "a.DTA")
    (tmp_path / "a.DSC").write_text("hello\n")
    with pytest.raises(DataFileError, match="does not start with #DESC"):
        load(tmp_path / "a.DSC")


# ----------------------------------------------------------------------- the writer
@settings(max_examples=40, deadline=None)
@given(nx=st.integers(1, 7), ny=st.integers(1, 3), cplx=st.booleans(),
       order=st.sampled_from(["BIG", "LIT"]), linear=st.booleans(),
       values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64),
                       min_size=42, max_size=42))
def test_round_trip_is_exact(tmp_path_factory, nx, ny, cplx, order, linear, values):
    d = tmp_path_factory.mktemp("rt")
    v = np.array(values[:2 * nx * ny])
    data = (v[0::2] + 1j * v[1::2]) if cplx else v[: nx * ny]
    data = data.reshape(ny, nx) if ny > 1 else data.reshape(nx)
    x = np.linspace(-1e-6, 3e-6, nx) if linear else np.cumsum(np.arange(1, nx + 1) ** 2.0)
    axes = [("tau", "s", x)] + ([("f", "Hz", np.geomspace(1e6, 1e7, ny))] if ny > 1 else [])
    written = write_bes3t(d / "r.DSC", data, axes, title="round trip", byte_order=order)
    b = read_bes3t(d / "r")
    np.testing.assert_array_equal(b.data, data)
    assert b.is_complex == cplx and b.param("BSEQ") == order
    np.testing.assert_allclose(b.axes[0].values, x, rtol=1e-15, atol=1e-9 * np.ptp(x))
    has_xgf = any(p.suffix == ".XGF" for p in written)
    assert has_xgf == (not linear and nx > 2)


def test_writer_refuses_what_it_cannot_store_and_writes_nothing(tmp_path):
    x = [("x", "", np.arange(3.0))]
    for kwargs, message in [
        ({"data": [1.5, 2, 3], "fmt": "I"}, "whole numbers"),
        ({"data": [1, 2, 300], "fmt": "C"}, r"\[-128, 127\]"),
        ({"data": [1, 2, 3], "title": "it's"}, "quotes or line breaks"),
        ({"data": [1, 2, 3], "title": "a\nb"}, "quotes or line breaks"),
        ({"data": [1, 2, 3], "title": "τ sweep"}, "latin-1"),
        ({"data": [1, 2, 3], "byte_order": "MID"}, "byte_order"),
        ({"data": [1, 2], }, "3 values for 2 points"),
        ({"data": [1e300, 2, 3], "fmt": "F"}, "float32"),
        ({"data": [1, 2, 3], "params": {"bad key": 1}}, "letters, digits"),
    ]:
        data = kwargs.pop("data")
        axes = x if len(data) == 3 else [("x", "", np.arange(3.0))]
        with pytest.raises(DataFileError, match=message):
            write_bes3t(tmp_path / "w.DSC", np.asarray(data, float), axes, **kwargs)
        assert not list(tmp_path.iterdir())
    with pytest.raises(DataFileError, match="does not exist"):
        write_bes3t(tmp_path / "nodir" / "w.DSC", np.ones(3), x)


def test_nan_points_are_masked_by_the_loader(tmp_path):
    write_bes3t(tmp_path / "n.DSC", np.array([1.0, np.nan, 3.0]),
                [("tau", "ns", np.array([1.0, 2.0, 3.0]))])
    with pytest.warns(UserWarning, match="1 of 3 points are NaN/inf"):
        d = load(tmp_path / "n.DSC")
    assert d.x_name == "tau" and list(d.mask) == [True, False, True]
    np.testing.assert_allclose(d.x, [1e-9, 2e-9, 3e-9])


def test_an_independent_file_read_through_its_dta_name_warns_nothing(tmp_path):
    shutil.copy(DATA / "deerlab_data_1d.DSC", tmp_path / "trace.DSC")
    shutil.copy(DATA / "deerlab_data_1d.DTA", tmp_path / "trace.DTA")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = load(tmp_path / "trace.DTA")
    assert len(d) == 355


def test_signal_traces_and_two_sweep_grid_round_trip(tmp_path):
    """write_result: a 2-D grid of two swept parameters (x = the inner sweep) and the
    signal traces (x = time) read back through the loader as the result holds them."""
    import sequences
    from echo.bes3t import write_result
    from echo.result import build_result

    seq = sequences.load("hahn")
    taus, t90s = [2e-6, 3e-6, 4e-6], [100e-9, 120e-9]
    pts = [(a, b) for a in t90s for b in taus]  # t90 outer, tau inner
    scheds = [seq.bind(t90=a, tau=b) for a, b in pts]
    t = np.arange(5) * 1e-8
    rng = np.random.default_rng(2)
    trace = [rng.normal(size=(2, 5)) + 1j * rng.normal(size=(2, 5)) for _ in pts]
    res = build_result(schedules=scheds, times=[t] * len(pts),
                       window_index=[np.zeros(5, int)] * len(pts), trace=trace,
                       params=[{"t90": a, "tau": b} for a, b in pts],
                       attrs={"sequence": seq.source})
    write_result(res, tmp_path / "grid.DSC")
    b = read_bes3t(tmp_path / "grid.DSC")
    assert b.data.shape == (2, 3) and [a.name for a in b.axes] == ["tau", "t90"]
    np.testing.assert_array_equal(b.data.ravel(), res.amplitude)
    np.testing.assert_allclose(b.axes[0].values, [2000, 3000, 4000])
    d = load(tmp_path / "grid.DSC", point=1)  # the second t90
    assert d.meta["y_value"] == pytest.approx(120.0) and d.x_name == "tau"
    write_result(res, tmp_path / "sig.DSC", observable="signal")
    s = read_bes3t(tmp_path / "sig.DSC")
    assert s.data.shape == (6, 5) and s.axes[0].unit == "ns"
    np.testing.assert_array_equal(s.data, res.dataset["signal"].values)
    with pytest.raises(DataFileError, match="observable 'x'"):
        write_result(res, tmp_path / "bad.DSC", observable="x")
