"""Hyperbolic-secant and WURST pulses in the language, the Schedule (sampling and
segments), hardware checks and the Python API.

The expected fields are written out here from the textbook definitions: HS (Silver,
Joseph & Hoult) A(t) = sech(β x), Δf = (span/2) tanh(β x)/tanh β; WURST (Kupče & Freeman)
A = 1 − |sin(π x/2)|^n, Δf = span·x/2; x = 2(t − t_c)/T. The carrier phase is integrated
numerically here (cumulative trapezoid of 2πΔf), not taken from the closed form in
sequences.shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sequences import HardwareProfile, SequenceError, parse, pulse
from sequences.schedule import Pulse, Schedule
from sequences.shapes import hs_span_from_mu, sweep_offset, sweep_phase

HEAD = "channel rf : field(full_scale = 1 uT, freq = 4 MHz)\nchannel adc : detector\n"
T0, D, A, F = 1e-6, 4e-6, 0.8e-6, 4e6


def _textbook(shape, t, **kw):
    x = 2 * (t - (T0 + D / 2)) / D
    span = kw["span"]
    if shape == "hs":
        beta = kw.get("beta", 5.3)
        env = 1 / np.cosh(beta * x)
        df = 0.5 * span * np.tanh(beta * x) / np.tanh(beta)
    else:
        env = 1 - np.abs(np.sin(np.pi * x / 2)) ** kw.get("order", 20)
        df = span * x / 2
    # ∫ 2π Δf dt from the centre, numerically on a fine grid
    fine = np.linspace(T0, T0 + D, 400001)
    xf = 2 * (fine - (T0 + D / 2)) / D
    dff = (0.5 * span * np.tanh(kw.get("beta", 5.3) * xf) / np.tanh(kw.get("beta", 5.3))
           if shape == "hs" else span * xf / 2)
    cum = np.concatenate([[0.0], np.cumsum(np.diff(fine) * 0.5 * (dff[1:] + dff[:-1]))])
    cum -= np.interp(T0 + D / 2, fine, cum)
    phase = 2 * np.pi * np.interp(t, fine, cum)
    return A * env * np.cos(2 * np.pi * F * t + phase), df


@pytest.mark.parametrize("shape, options, kw", [
    ("hs", "span = 3 MHz, beta = 4", {"span": 3e6, "beta": 4.0}),
    ("hs", "span = -2 MHz", {"span": -2e6}),
    ("wurst", "span = 3 MHz, order = 8", {"span": 3e6, "order": 8.0}),
    ("wurst", "span = 2 MHz", {"span": 2e6}),
])
def test_sampled_field_is_the_textbook_pulse(shape, options, kw):
    s = parse(HEAD + f"delay(1 us)\npulse(4 us, shape = {shape}, amp = 0.8, {options})\n"
                     "detect(1 us)\n").bind()
    rate = 500e6
    t = np.arange(int(math.floor(s.duration * rate + 1e-9))) / rate  # Schedule.sample's grid
    want, _ = _textbook(shape, t, **kw)
    inside = (t >= T0) & (t < T0 + D)
    want = np.where(inside, want, 0.0)
    # the numerical phase integral is good to ~1e-7 rad
    np.testing.assert_allclose(s.sample(rate, "rf"), want, atol=1e-6 * A)
    np.testing.assert_allclose(s.field(t), want, atol=1e-6 * A)


@pytest.mark.parametrize("shape, params", [("hs", {"span": 5e6, "beta": 5.3}),
                                           ("hs", {"span": 1e6, "beta": 0.5}),
                                           ("wurst", {"span": 5e6, "order": 4}),
                                           ("chirp", {"span": 5e6})])
def test_sweep_phase_derivative_is_the_instantaneous_offset(shape, params):
    u = np.linspace(0.01, 0.99, 999)
    du = 1e-6
    dphi = (sweep_phase(shape, u + du, params, D) - sweep_phase(shape, u - du, params, D))
    np.testing.assert_allclose(dphi / (2 * du) / D, 2 * np.pi * sweep_offset(shape, u, params),
                               rtol=1e-6, atol=1e-3)
    assert sweep_phase(shape, 0.5, params, D) == 0.0
    ends = sweep_offset(shape, np.array([0.0, 1.0]), params)
    np.testing.assert_allclose(ends, [-params["span"] / 2, params["span"] / 2], rtol=1e-12)


@pytest.mark.parametrize("options", ["span = 3 MHz, beta = 5.3", "span = 3 MHz, order = 6"])
def test_segments_stay_within_the_error_bound(options):
    shape = "hs" if "beta" in options else "wurst"
    s = parse(HEAD + f"pulse(4 us, shape = {shape}, amp = 0.8, {options})\n"
                     "detect(1 us)\n").bind()
    eps = 1e-3
    seg = s.segments(max_error=eps)
    # in each segment h = a·cos(2π f t + φ): compare with the exact field across it
    for k in np.flatnonzero(seg.amplitude != 0):
        t = seg.start[k] + seg.duration[k] * np.linspace(0, 1, 7)[:-1]
        approx = seg.amplitude[k] * np.cos(2 * np.pi * seg.frequency[k] * t + seg.phase[k])
        # envelope within eps·peak, phase within eps rad → |Δh| ≤ 2 eps·peak
        assert np.max(np.abs(approx - s.field(t))) <= 2.05 * eps * 0.8e-6


def test_mu_is_converted_to_span_and_options_are_checked():
    s = parse(HEAD + "pulse(4 us, shape = hs, amp = 0.5, mu = 5, beta = 4)\ndetect(1 us)\n").bind()
    (p,) = s.pulses
    assert dict(p.shape_params)["span"] == pytest.approx(2 * 5 * 4 * math.tanh(4) /
                                                         (math.pi * 4e-6))
    assert "mu" not in dict(p.shape_params)
    assert hs_span_from_mu(5, 4, 4e-6) == dict(p.shape_params)["span"]
    for body, message in [
        ("pulse(4 us, shape = hs, amp = 0.5)", "an hs pulse needs span"),
        ("pulse(4 us, shape = wurst, amp = 0.5)", "a wurst pulse needs span"),
        ("pulse(4 us, shape = hs, mu = 5, span = 1 MHz)", "span or mu"),
        ("pulse(4 us, shape = hs, span = 1 MHz, order = 4)", "order applies to shape wurst"),
        ("pulse(4 us, shape = wurst, span = 1 MHz, beta = 4)", "beta applies to shape hs"),
        ("pulse(4 us, shape = hs, span = 1 MHz, beta = 0)", "beta must be > 0"),
        ("pulse(4 us, shape = hs, span = 1 MHz, beta = 1e5)", "at most 100"),
        ("pulse(4 us, shape = wurst, span = 1 us)", "span"),
        ("pulse(4 us, shape = gauss, span = 1 MHz)", "span applies to shape chirp or wurst "
                                                     "or hs"),
    ]:
        with pytest.raises(SequenceError, match=message) as info:
            parse(HEAD + body + "\ndetect(1 us)\n", filename="t.seq").bind()
        assert "t.seq:3:" in str(info.value)  # the offending line is named


def test_python_api_and_text_round_trip():
    seq = (pulse("4 us", shape="hs", amp=0.5, beta=4.0, mu=5.0, channel="rf")
           .with_channel("rf", "field", full_scale="1 uT", freq="4 MHz"))
    sched = seq.bind()
    again = parse(seq.to_text()).bind()
    assert sched.pulses == again.pulses
    w = (pulse("2 us", shape="wurst", order=10, span="2 MHz", channel="rf")
         .with_channel("rf", "field", full_scale="1 uT", freq="4 MHz")).bind()
    assert dict(w.pulses[0].shape_params) == {"order": 10.0, "span": 2e6}


def test_hardware_max_frequency_counts_the_sweep(tmp_path):
    prof = tmp_path / "p.toml"
    prof.write_text('name = "awg"\nmax_frequency = "5 MHz"\n')
    s = parse(HEAD + "pulse(4 us, shape = hs, amp = 0.5, span = 3 MHz)\ndetect(1 us)\n").bind()
    bad = HardwareProfile.load(prof).validate(s)
    assert [v.rule for v in bad] == ["max_frequency"] and "5.5 MHz" in bad[0].message


def test_schedule_json_round_trip_keeps_sweep_parameters():
    p = Pulse("rf", 0.0, 1e-6, 1e-6, shape="wurst", frequency=4e6,
              shape_params=(("order", 12.0), ("span", 1e6)))
    from sequences.schedule import Channel

    s = Schedule(channels=(Channel("rf", "field"),), pulses=(p,), duration=2e-6)
    assert Schedule.from_json(s.to_json()).pulses == (p,)


def test_compiler_plays_hs_and_wurst_as_sampled_and_checks_their_sweep():
    from instruments.compiler import compile
    from instruments.errors import LimitViolation
    from instruments.lab import parse_lab

    lab = parse_lab({"limits": {"max_amplitude_v": 2.0},
                     "awg": {"driver": "instruments.drivers.awg:Keysight33500B",
                             "resource": "TCPIP::127.0.0.1::5025::SOCKET",
                             "sample_rate": 100e6, "volts_per_tesla": 1e6,
                             "full_scale_v": 2.0}}, "t.toml")
    for shape, opts, kw in [("hs", "span = 3 MHz, beta = 4", {"span": 3e6, "beta": 4.0}),
                            ("wurst", "span = 3 MHz, order = 8", {"span": 3e6, "order": 8})]:
        s = parse(HEAD + f"delay(1 us)\npulse(4 us, shape = {shape}, amp = 0.8, {opts})\n"
                         "detect(1 us)\n").bind()
        prog = compile(s, lab)
        t = np.arange(prog.n_points) / 100e6
        want, _ = _textbook(shape, t, **kw)
        want = np.where((t >= T0) & (t < T0 + D), want, 0.0)
        # one DAC step: 2 V / 32767 at 1e6 V/T
        np.testing.assert_allclose(prog.field_tesla(0), want, atol=2.0 / 32767 / 1e6)
    # the sweep counts against the AWG bandwidth: 4 MHz + 100 MHz / 2 is out of reach
    s = parse(HEAD + "pulse(4 us, shape = hs, amp = 0.8, span = 100 MHz)\ndetect(1 us)\n"
              ).bind()
    with pytest.raises(LimitViolation, match="reaches 5.4e\\+07 Hz"):
        compile(s, lab)
