"""Sampling and segments match the analytic pulse shapes (written out here, independently
of sequences.shapes). Tolerance 1e-12 × peak: both sides evaluate the same closed form in
double precision; the difference is rounding in the phase argument 2π f t ~ 1e2 rad, i.e.
~1e-14 relative."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sequences import parse
from sequences.schedule import Channel, DetectionWindow, Marker, Pulse, Schedule

A = 2e-6  # tesla
F = 4e6
T0, D = 1.0e-6, 0.8e-6  # start, duration
RATE = 1e9


def analytic(shape, t, phi=0.3, **kw):
    u = (t - T0) / D
    inside = (u >= 0) & (u < 1)
    if shape == "rect":
        env = np.ones_like(u)
    elif shape == "gauss":
        sigma = kw.get("sigma", 1 / 6)
        env = np.exp(-((u - 0.5) ** 2) / (2 * sigma**2))
    elif shape == "sinc":
        x = kw.get("lobes", 3) * (2 * u - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            env = np.where(x == 0, 1.0, np.sin(np.pi * x) / (np.pi * x))
    elif shape == "hann":
        env = np.sin(np.pi * u) ** 2
    elif shape == "chirp":
        env = np.ones_like(u)
    theta = 2 * np.pi * F * t + phi
    if shape == "chirp":
        theta = theta + np.pi * (kw["span"] / D) * (t - (T0 + D / 2)) ** 2
    return np.where(inside, A * env * np.cos(theta), 0.0)


def schedule_with(shape, **kw):
    sp = tuple(kw.items())
    p = Pulse("rf", T0, D, A, shape, F, (0.3,), sp, "p")
    return Schedule(channels=(Channel("rf", "field"), Channel("trig", "marker"),
                              Channel("adc", "detector")),
                    pulses=(p,), markers=(Marker("trig", 0.0, 100e-9),),
                    windows=(DetectionWindow("adc", 2e-6, 0.5e-6),), duration=3e-6)


CASES = [("rect", {}), ("gauss", {}), ("gauss", {"sigma": 0.1}), ("sinc", {}),
         ("sinc", {"lobes": 2.0}), ("hann", {}), ("chirp", {"span": 3e6})]


@pytest.mark.parametrize(("shape", "kw"), CASES)
def test_sample_matches_analytic(shape, kw):
    s = schedule_with(shape, **kw)
    got = s.sample(RATE, "rf")
    t = np.arange(got.size) / RATE
    want = analytic(shape, t, **kw)
    assert got.shape == (3000,)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * A)
    # the exact-field accessor agrees too
    np.testing.assert_allclose(s.field(t), want, rtol=0, atol=1e-12 * A)


@pytest.mark.parametrize(("shape", "kw"), CASES)
def test_segments_within_stated_error(shape, kw):
    s = schedule_with(shape, **kw)
    max_error = 1e-3
    seg = s.segments(max_error=max_error)
    # segments tile [0, duration] without gaps
    assert seg.start[0] == 0.0
    np.testing.assert_allclose(seg.stop[:-1], seg.start[1:], rtol=0, atol=1e-18)
    assert math.isclose(seg.stop[-1], s.duration)
    # the piecewise-constant envelope is within max_error × peak of the exact envelope
    t = np.linspace(T0, T0 + D, 20001)[:-1]
    j = np.searchsorted(seg.start, t, side="right") - 1
    exact = np.abs(analytic(shape, t, phi=0.0, **kw)) * 0  # placeholder for shape only
    u = (t - T0) / D
    env = {"rect": np.ones_like(u), "chirp": np.ones_like(u),
           "gauss": np.exp(-((u - 0.5) ** 2) / (2 * kw.get("sigma", 1 / 6) ** 2)),
           "sinc": np.sinc(kw.get("lobes", 3) * (2 * u - 1)),
           "hann": np.sin(np.pi * u) ** 2}[shape]
    assert np.all(np.abs(seg.amplitude[j] - A * env) <= max_error * A * (1 + 1e-9))
    assert exact.shape == t.shape


def test_gates_of_markers_and_windows():
    s = schedule_with("rect")
    trig = s.sample(RATE, "trig")
    adc = s.sample(RATE, "adc")
    assert trig.dtype == bool and trig.sum() == 100 and trig[:100].all()
    assert adc.sum() == 500 and adc[2000:2500].all() and not adc[2500]


def test_phase_cycle_step_changes_the_sampled_phase():
    s = parse("channel rf : field(full_scale = 1 uT)\nreceiver [x, -x]\n"
              "pulse(1 us, amp = 1, freq = 4 MHz, phase = [x, -x])").bind()
    a, b = s.sample(RATE, "rf", step=0), s.sample(RATE, "rf", step=1)
    np.testing.assert_allclose(a, -b, atol=1e-12 * 1e-6)


def test_many_pulses_sample_like_one_by_one():
    s = parse("channel rf : field(full_scale = 1 uT, freq = 4 MHz)\n"
              "repeat 200 { pulse(37 ns, shape = gauss, amp = 0.5, phase = 45 deg)"
              " ; delay(113.3 ns) }").bind()
    got = s.sample(RATE, "rf")
    t = np.arange(got.size) / RATE
    want = np.zeros_like(got)
    for p in s.pulses:
        # sample i belongs to the pulse when start <= t_i < stop (edges within 1e-9 of a
        # sample period count as on the grid, the sampler's documented convention)
        lo = math.ceil(p.start * RATE - 1e-9)
        hi = math.ceil(p.stop * RATE - 1e-9)
        tt = t[lo:hi]
        u = (tt - p.start) / p.duration
        env = np.exp(-((u - 0.5) ** 2) / (2 / 36))
        want[lo:hi] += p.amplitude * env * np.cos(2 * np.pi * 4e6 * tt + np.pi / 4)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * 0.5e-6)


def test_ten_million_samples():
    s = parse("channel rf : field(full_scale = 1 uT, freq = 4 MHz)\n"
              "pulse(10 ms, amp = 1)").bind()
    out = s.sample(1e9, "rf")
    assert out.shape == (10_000_000,)
    assert np.max(np.abs(out)) <= 1e-6 + 1e-18
