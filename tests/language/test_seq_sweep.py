"""Sweeps expand in the documented order: the first declared sweep is the outermost
(slowest) loop, the last the innermost (fastest)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sequences import SequenceError, parse
from sequences.sweep import MAX_SWEEP_POINTS, parse_sweep_option, with_sweep_options

BASE = "param T = 1 us\nparam tau = 1 us\nparam f = 1 MHz\ndelay(T)\ndelay(tau)\n"


def test_outer_times_inner_order():
    seq = parse(BASE + "sweep T = [1 us, 2 us]\nsweep tau = lin(1 us, 3 us, 3)")
    pts = seq.sweep_points()
    got = [(round(p["T"] * 1e6, 9), round(p["tau"] * 1e6, 9)) for p in pts]
    assert got == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    # the schedules follow the same order
    durs = [s.duration for _, s in seq.sweep()]
    assert np.allclose(durs, [(a + b) * 1e-6 for a, b in got], rtol=0, atol=1e-18)


def test_three_sweeps_order_is_declaration_order():
    seq = parse(BASE + "sweep f = [1 MHz, 2 MHz]\nsweep tau = [1 us, 2 us]\n"
                "sweep T = [5 us, 6 us]")
    pts = seq.sweep_points()
    assert [p["T"] for p in pts[:2]] == [5e-6, 6e-6]  # T innermost
    assert [p["f"] for p in pts] == [1e6] * 4 + [2e6] * 4  # f outermost
    assert list(pts[0]) == ["f", "tau", "T"]


def test_lin_and_log_values():
    seq = parse(BASE + "sweep tau = lin(0 ns, 500 ns, 6)\nsweep T = log(1 us, 1 ms, 4)")
    pts = seq.sweep_points()
    taus = sorted({p["tau"] for p in pts})
    assert np.allclose(taus, [0, 100e-9, 200e-9, 300e-9, 400e-9, 500e-9], rtol=0, atol=1e-21)
    Ts = [p["T"] for p in pts[:4]]
    assert Ts[0] == 1e-6 and Ts[-1] == 1e-3
    assert np.allclose(np.diff(np.log10(Ts)), 1.0, rtol=1e-12)


def test_sweep_dimension_and_count_errors():
    with pytest.raises(SequenceError, match="must be a time"):
        parse(BASE + "sweep tau = lin(1 MHz, 2 MHz, 3)").sweep_points()
    with pytest.raises(SequenceError, match="must be an integer"):
        parse(BASE + "sweep tau = lin(1 us, 2 us, 2.5)").sweep_points()
    with pytest.raises(SequenceError, match="log sweeps need"):
        parse(BASE + "sweep tau = log(0 us, 2 us, 3)").sweep_points()
    with pytest.raises(SequenceError, match="more than the limit"):
        parse(BASE + "sweep tau = lin(1 us, 2 us, 1e12)").sweep_points()
    big = int(math.isqrt(MAX_SWEEP_POINTS)) + 1
    with pytest.raises(SequenceError, match="more than"):
        parse(BASE + f"sweep tau = lin(1 us, 2 us, {big})\nsweep T = lin(1 us, 2 us, {big})"
              ).sweep_points()


def test_fixing_a_swept_parameter_drops_its_sweep_and_others_can_be_set():
    """One rule (sequences.sweep.apply_options): a value for a swept parameter fixes it."""
    seq = parse(BASE + "sweep tau = [1 us, 2 us]")
    (pt,) = list(seq.sweep(tau="3 us"))
    assert pt[0] == {} and pt[1].param_values()["tau"] == pytest.approx(3e-6)
    pts = list(seq.sweep(T="10 us"))
    assert [s.duration for _, s in pts] == pytest.approx([11e-6, 12e-6], abs=1e-18)


def test_no_sweep_gives_one_point():
    pts = list(parse(BASE).sweep())
    assert len(pts) == 1 and pts[0][0] == {}


def test_command_line_sweep_specs():
    sw = parse_sweep_option("tau=1us:3us:1us")
    seq = with_sweep_options(parse(BASE), ["tau=1us:3us:1us", "T=2 us,4 us"])
    pts = seq.sweep_points()
    assert [round(p["tau"] * 1e6, 9) for p in pts[::2]] == [1, 2, 3]  # T is innermost
    assert sw.kind == "lin"
    # a grid that stops short of stop
    s2 = with_sweep_options(parse(BASE), ["tau=0us:1us:0.3us"]).sweep_points()
    assert np.allclose([p["tau"] for p in s2], [0, 0.3e-6, 0.6e-6, 0.9e-6], atol=1e-20)
    # replacing a declared sweep keeps its place
    s3 = with_sweep_options(parse(BASE + "sweep T = [1 us]\nsweep tau = [1 us]"),
                            ["T=lin(1 us, 2 us, 2)"])
    assert [s.name for s in s3.sweeps] == ["T", "tau"]
    with pytest.raises(SequenceError):
        parse_sweep_option("tau=1us:3MHz:1us")
    with pytest.raises(SequenceError, match="unknown parameter"):
        with_sweep_options(parse(BASE), ["tua=1us,2us"])


def test_with_sweep_accepts_si_floats_like_bind():
    # with_sweep takes floats in the parameter's SI unit, as bind does; the points equal
    # those of the same sweep written with units (exact: 2e-6 s is the double nearest 2 µs)
    seq = parse(BASE)
    as_floats = seq.with_sweep("tau", [2e-6, 4e-6]).sweep_points()
    as_text = seq.with_sweep("tau", ["2 us", "4 us"]).sweep_points()
    assert as_floats == as_text == [{"tau": 2e-6}, {"tau": 4e-6}]
    lin = seq.with_sweep("f", lin=(1e6, 3e6, 3))
    assert [p["f"] for p in lin.sweep_points()] == [1e6, 2e6, 3e6]
    assert parse(lin.to_text()) == lin  # the SI floats round-trip through text
    assert [p["f"] for p in seq.with_sweep("f", log=(1e6, 4e6, 3)).sweep_points()][::2] == [
        1e6, 4e6]
    with pytest.raises(SequenceError, match="unknown parameter 'tua'"):
        seq.with_sweep("tua", [1e-6])
    with pytest.raises(SequenceError, match="must be a time"):  # units still checked
        seq.with_sweep("tau", ["4 MHz"]).sweep_points()
