"""Binding: the timing convention, amplitudes, carriers, channels, and the Python API."""

from __future__ import annotations

import math

import pytest

from sequences import (
    Schedule,
    Sequence,
    SequenceError,
    delay,
    detect,
    ideal,
    load,
    marker,
    parallel,
    param,
    parse,
    pulse,
    repeat,
)

CH = "channel rf : field(full_scale = 2 uT, freq = 4 MHz)\n"


def test_elements_are_sequential_edge_to_edge():
    s = parse(CH + "pulse(100 ns, amp = 0.5)\ndelay(1 us)\npulse(200 ns, amp = 0.5)\n"
              "ideal(90 deg, y)\ndetect(2 us)").bind()
    a, b = s.pulses
    assert a.start == 0 and math.isclose(a.duration, 100e-9)
    assert math.isclose(b.start, 1.1e-6, abs_tol=1e-18)  # trailing edge + delay
    assert math.isclose(s.ideal_pulses[0].time, 1.3e-6, abs_tol=1e-18)  # takes no time
    assert math.isclose(s.windows[0].start, 1.3e-6, abs_tol=1e-18)
    assert math.isclose(s.duration, 3.3e-6, abs_tol=1e-18)


def test_parallel_starts_together_and_lasts_the_longest():
    s = parse(CH + "channel trig : marker\nparallel { pulse(300 ns, amp = 1)\n"
              "marker(50 ns, label = \"trig\") }\ndetect(1 us)").bind()
    assert s.pulses[0].start == 0 and s.markers[0].start == 0
    assert math.isclose(s.windows[0].start, 300e-9)


def test_amplitude_fraction_or_field_and_carrier_offset():
    s = parse(CH + "pulse(1 us, amp = 0.25)\npulse(1 us, amp = 0.3 uT, offset = -500 kHz)\n"
              "pulse(1 us, freq = 10 MHz, phase = -y)\npulse(1 us, amp = 1 G)").bind()
    p = s.pulses
    assert math.isclose(p[0].amplitude, 0.5e-6)
    assert math.isclose(p[1].amplitude, 0.3e-6) and math.isclose(p[1].frequency, 3.5e6)
    assert math.isclose(p[2].amplitude, 2e-6) and p[2].frequency == 10e6
    assert p[2].phases == (1.5 * math.pi,)
    assert math.isclose(p[3].amplitude, 1e-4)


def test_implicit_channels():
    s = parse("pulse(1 us, amp = 1 uT)\ndetect(1 us)\nmarker(10 ns)").bind()
    kinds = {c.name: c.kind for c in s.channels}
    assert kinds == {"rf": "field", "adc": "detector", "trig": "marker"}
    with pytest.raises(SequenceError, match="several field channels"):
        parse("channel a : field\nchannel b : field\npulse(1 us, amp = 1 uT)").bind()


def test_shape_options_reach_the_schedule():
    s = parse(CH + "pulse(1 us, shape = gauss, sigma = 0.2)\n"
              "pulse(1 us, shape = chirp, span = 2 MHz)\npulse(1 us, shape = sinc, lobes = 2)"
              ).bind()
    assert s.pulses[0].shape_params == (("sigma", 0.2),)
    assert s.pulses[1].shape_params == (("span", 2e6),)
    assert s.pulses[2].shape_params == (("lobes", 2.0),)


def test_expressions_functions_and_units():
    s = parse("param T = 10 us\nparam n = 4\nparam f = 2 MHz\n"
              "delay(T / n)\ndelay(1 / f)\ndelay(sqrt(T * T))\ndelay(max(1 us, 2000 ns))\n"
              "delay(floor(T / 3 us) * 1 us)\ndelay(pi / 2 * rad / (90 deg) * 1 us)\n"
              "delay(2 ^ 3 * 1 ns)").bind()
    assert math.isclose(s.duration, 2.5e-6 + 0.5e-6 + 10e-6 + 2e-6 + 3e-6 + 1e-6 + 8e-9)


def test_bind_values_si_floats_strings_and_defaults():
    seq = load("hahn")
    a = seq.bind(tau=3e-6)
    b = seq.bind(tau="3 us")
    c = seq.bind(tau="3000 ns")
    assert a == b == c
    assert seq.defaults()["tau"] == 2e-6
    assert dict(a.params)["tau"] == 3e-6
    assert dict(a.params)["t180"] == 200e-9  # derived default follows t90


def test_schedule_json_roundtrip_of_bound_library(tmp_path):
    for name in ("hahn", "cpmg", "holeburn"):
        s = load(name).bind()
        assert Schedule.from_json(s.to_json()) == s


def test_python_api_builds_the_same_sequence_as_text():
    tau = param("tau", "2 us")
    t90 = param("t90", "100 ns")
    t180 = param("t180", 2 * t90)
    amp = param("amp", 0.89)
    f = param("f", "4 MHz")
    window = param("window", "1 us")
    ideal_ = param("ideal", 0)
    rx = param("rx", "0 deg")
    echo_shift = param("echo_shift", "0 ns")
    p90 = pulse(t90, amp=amp, phase=["x", "-x"], angle="90 deg", label="p90")
    p180 = pulse(t180, amp=amp, angle="180 deg", label="p180")
    hahn = (p90 + delay(tau - t90 / 2 - t180 / 2) + p180
            + delay(tau - t180 / 2 - window / 2 + echo_shift) + detect(window, label="echo"))
    hahn = (hahn.with_channel("rf", "field", full_scale="1 uT", freq=f)
            .with_channel("adc", "detector").with_receiver([rx, rx + "180 deg"]).named("hahn"))
    # params in the library's order for equality of the declarations
    order = ["tau", "t90", "t180", "amp", "f", "window", "ideal", "rx", "echo_shift"]
    hahn = Sequence(body=hahn.body, params=tuple(sorted(
        (*hahn.params, ideal_.decl, rx.decl), key=lambda p: order.index(p.name))),
        channels=hahn.channels, receiver=hahn.receiver, name="hahn")
    lib = load("hahn")
    assert hahn == lib
    assert hahn.bind() == lib.bind().__class__(**{**lib.bind().__dict__,
                                                   "source": hahn.to_text()})
    assert parse(hahn.to_text()) == hahn


def test_python_api_repeat_parallel_ideal_marker():
    n = param("n", 3)
    seq = (marker("20 ns", label="trig") + ideal("90 deg", "x")
           + repeat(n, delay("1 us") + ideal(math.pi, "y", loop_phase=["x", "-x"])
                    + delay("1 us") + detect("500 ns"))
           + parallel(pulse("1 us", amp="1 uT"), detect("2 us", label="tail")))
    s = seq.bind()
    assert len(s.ideal_pulses) == 4 and len(s.windows) == 4
    assert [p.phases[0] for p in s.ideal_pulses[1:]] == [math.pi / 2, 1.5 * math.pi,
                                                         math.pi / 2]
    assert parse(seq.to_text()) == seq
    assert Sequence.from_json(seq.to_json()) == seq
    assert seq.bind(n=5).ideal_pulses.__len__() == 6


def test_sequence_equality_ignores_layout_and_comments():
    a = parse("param t = 1 us # c\n\ndelay( t )  ;  detect(1 us)")
    b = parse("param t=1 us\ndelay(t)\ndetect(1 us)")
    assert a == b


def test_ideal_mode_for_any_sequence():
    seq = parse("channel rf : field(full_scale = 1 uT)\n"
                "pulse(100 ns, amp = 1, angle = 90 deg)\ndelay(1 us)\n"
                "pulse(200 ns, amp = 1, angle = 180 deg, phase = y)\npulse(1 us, amp = 0.1)")
    s = seq.bind(ideal=1)
    assert [p.time for p in s.ideal_pulses] == pytest.approx([50e-9, 1.2e-6], abs=1e-18)
    assert s.ideal_pulses[1].phases == (math.pi / 2,)
    assert [p.label for p in s.pulses] == [""] and s.pulses[0].start == pytest.approx(1.3e-6)
    assert seq.bind(ideal=0) == seq.bind()
