"""Loaders: plain CSV/TXT, pymeasure Results CSV, result files; bad files → DataFileError
naming file, line and column; NaNs masked with a warning; never a traceback from the CLI."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from echo.fit import DataFileError, load


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_plain_csv_real_imag_with_units(tmp_path):
    p = write(tmp_path, "echo.csv", "tau (us), real (mV), imag (mV)\n1, 2, 0.5\n2, 1, -0.5\n")
    d = load(p)
    assert d.x_name == "tau" and d.x_unit == "s" and d.y_unit == "V"
    np.testing.assert_allclose(d.x, [1e-6, 2e-6])
    np.testing.assert_allclose(d.y, [2e-3 + 0.5e-3j, 1e-3 - 0.5e-3j])
    assert d.is_complex and d.mask.all()


def test_whitespace_txt_magnitude_phase_degrees(tmp_path):
    p = write(tmp_path, "echo.txt",
              "# a comment\ntime[ns]  magnitude[V]  phase[deg]\n10 2 90\n20 1 180\n")
    d = load(p)
    np.testing.assert_allclose(d.x, [10e-9, 20e-9])
    np.testing.assert_allclose(d.y, [2j, -1], atol=1e-12)


def test_phase_without_unit_large_values_read_as_degrees(tmp_path):
    p = write(tmp_path, "e.csv", "tau,mag,phase\n1,1,0\n2,1,180\n")
    np.testing.assert_allclose(load(p).y, [1, -1], atol=1e-12)


def test_single_signal_column_and_sigma(tmp_path):
    p = write(tmp_path, "e.csv", "tau_us;signal;sigma\n1;0.5;0.1\n2;0.25;0.1\n")
    d = load(p)
    np.testing.assert_allclose(d.x, [1e-6, 2e-6])
    np.testing.assert_allclose(d.y.real, [0.5, 0.25])
    np.testing.assert_allclose(d.sigma, [0.1, 0.1])
    assert not d.is_complex


def test_explicit_x_column(tmp_path):
    p = write(tmp_path, "e.csv", "index,frequency (MHz),x,y\n0,1,1,0\n1,2,2,0\n")
    d = load(p, x="frequency")
    np.testing.assert_allclose(d.x, [1e6, 2e6])
    with pytest.raises(DataFileError, match="no column 'bogus'"):
        load(p, x="bogus")


def test_pymeasure_results_csv(tmp_path):
    text = ("#Procedure: <instruments.procedure.EchoProcedure>\n#Parameters:\n"
            "#\tAverages: 16\n#\tSequence: hahn.seq\n#Data:\n"
            "tau (s),Real (V),Imag (V)\n1e-06,0.1,0.01\n2e-06,0.05,0.0\n")
    d = load(write(tmp_path, "run.csv", text))
    assert d.meta["format"] == "pymeasure"
    assert d.meta["Averages"] == "16"
    assert "procedure" in d.meta
    np.testing.assert_allclose(d.y, [0.1 + 0.01j, 0.05])


def test_nan_rows_masked_with_warning_naming_lines(tmp_path):
    p = write(tmp_path, "e.csv", "tau,real,imag\n1,1,0\n2,nan,0\n3,,0\n4,1,0\n")
    with pytest.warns(UserWarning, match=r"2 of 4 rows .*lines 3, 4"):
        d = load(p)
    assert d.mask.tolist() == [True, False, False, True]
    assert d.valid().x.tolist() == [1.0, 4.0]


@pytest.mark.parametrize("text, pattern", [
    ("tau,real,imag\n1,1,0\n2,abc,0\n", r"e\.csv:3: column 2 \('real'\): cannot read 'abc'"),
    ("tau,real,imag\n1,1,0\n2,1\n", r"e\.csv:3: expected 3 columns"),
    ("", r"empty file"),
    ("# only comments\n\n", r"empty file"),
    ("tau,real,imag\n", r"no data rows"),
    ("1,2,3\n4,5,6\n", r"e\.csv:1: the first line is numeric"),
    ("tau,foo,bar\n1,2,3\n", r"cannot tell the signal columns"),
    ("tau (parsec),real\n1,2\n", r"e\.csv:1: column 1 \('tau \(parsec\)'\): unknown unit"),
    ("tau,real,real\n1,2,3\n", r"duplicate column name"),
    ("tau,real,imag\nnan,1,0\n2,nan,0\n", r"all 2 data rows"),
    ("tau,signal,sigma\n1,2,0\n", r"e\.csv:2: column 3 \('sigma'\): uncertainty must be > 0"),
])
def test_malformed_files_name_file_line_column(tmp_path, text, pattern):
    p = write(tmp_path, "e.csv", text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataFileError, match=pattern):
            load(p)


def test_missing_binary_and_directory(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        load(tmp_path / "nope.csv")
    with pytest.raises(DataFileError, match="is a directory"):
        load(tmp_path)
    b = tmp_path / "b.dat"
    b.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(DataFileError, match="not a text file"):
        load(b)
    h = tmp_path / "fake.nc"
    h.write_bytes(b"\x89HDF\r\n\x1a\nnot really")
    with pytest.raises(DataFileError, match="not a readable result file"):
        load(h)


def test_result_file_round_trip(tmp_path):
    pytest.importorskip("h5py")  # the result format needs h5netcdf's h5py backend
    result = pytest.importorskip("echo.result")
    from sequences.schedule import Channel, DetectionWindow, Schedule

    sch = [Schedule(channels=(Channel("coil", "field"), Channel("det", "detector")),
                    windows=(DetectionWindow("det", 0.0, 1e-6, "echo"),), duration=1e-6,
                    params=(("tau", tau),)) for tau in (1e-6, 2e-6, 3e-6)]
    times = [np.arange(4) * 0.25e-6] * 3
    trace = [np.full((1, 4), a) for a in (1.0 + 1j, 0.5, math.nan)]
    res = result.build_result(schedules=sch, times=times, window_index=[np.zeros(4, int)] * 3,
                              trace=trace, params=[{"tau": s.params[0][1]} for s in sch],
                              attrs={"kind": "measured"})
    path = res.save(tmp_path / "run.nc")
    with pytest.warns(UserWarning, match="1 of 3 points"):
        d = load(path)
    assert d.x_name == "tau"
    np.testing.assert_allclose(d.x, [1e-6, 2e-6, 3e-6])
    np.testing.assert_allclose(d.y[:2], [1 + 1j, 0.5])
    assert d.mask.tolist() == [True, True, False]
    s = load(path, observable="signal", point=1)
    assert s.x_name == "time" and len(s) == 4


def test_measurement_procedure_csv_with_text_column(tmp_path):
    # the columns of instruments.procedure.EchoProcedure: an unused text column is fine
    text = ("#Procedure: <instruments.procedure.EchoProcedure>\n#Parameters:\n"
            "#\tSequence: hahn\n#Data:\n"
            "point,sweep value,amplitude re (V),amplitude im (V),amplitude abs (V),"
            "phase (rad),averages,params\n"
            "0,1.5e-06,0.5,0.1,0.51,0.197,4,tau=1.5e-06\n"
            "1,2e-06,0.4,0.1,0.41,0.245,4,tau=2e-06\n")
    d = load(write(tmp_path, "results.csv", text))
    assert d.x_name == "tau"
    np.testing.assert_allclose(d.x, [1.5e-6, 2e-6])
    np.testing.assert_allclose(d.y, [0.5 + 0.1j, 0.4 + 0.1j])
    bad = write(tmp_path, "bad.csv", text.replace("0.4,0.1,0.41", "0.4,oops,0.41"))
    with pytest.raises(DataFileError, match=r"bad\.csv:7: column 4 \('amplitude im \(V\)'\)"):
        load(bad)


def test_result_windows_observable(tmp_path):
    pytest.importorskip("h5py")
    from echo.result import build_result
    from sequences.schedule import Channel, DetectionWindow, Schedule

    sch = Schedule(channels=(Channel("coil", "field"), Channel("det", "detector")),
                   windows=(DetectionWindow("det", 1e-6, 1e-6, "echo"),
                            DetectionWindow("det", 3e-6, 1e-6, "echo")), duration=5e-6)
    times = np.array([1.0, 1.5, 3.0, 3.5]) * 1e-6
    trace = np.array([[1.0, 3.0, 0.5 + 1j, 0.5 - 1j]])
    res = build_result(schedules=[sch], times=[times], window_index=[np.array([0, 0, 1, 1])],
                       trace=[trace], attrs={"kind": "measured"})
    d = load(res.save(tmp_path / "cpmg.nc"), observable="windows")
    np.testing.assert_allclose(d.x, [1.25e-6, 3.25e-6])  # window centres of the samples
    np.testing.assert_allclose(d.y, [2.0, 0.5])
    with pytest.raises(DataFileError, match="unknown observable"):
        load(tmp_path / "cpmg.nc", observable="bogus")
