"""The Schedule → AWG compiler: DAC convention, lengths, phase cycle, markers,
acquisition, constraints and safety limits, and the upload protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from instruments.compiler import DAC_MAX, compile, upload_program
from instruments.drivers.awg import Keysight33500B, sequence_descriptor
from instruments.drivers.scpi import ieee_block
from instruments.errors import CompileError, LimitViolation
from instruments.lab import parse_lab
from sequences.schedule import (
    Channel,
    DetectionWindow,
    IdealPulse,
    Marker,
    Pulse,
    Schedule,
)

CHANNELS = (Channel("coil", "field"), Channel("acq", "marker"), Channel("rf", "marker"),
            Channel("det", "detector"))


def make_lab(limits=None, **awg):
    base = {"driver": "instruments.drivers.awg:Keysight33500B",
            "resource": "TCPIP::127.0.0.1::5025::SOCKET", "sample_rate": 100e6,
            "volts_per_tesla": 1000.0, "full_scale_v": 2.0}
    base.update(awg)
    data = {"limits": limits if limits is not None else {"max_amplitude_v": 2.0},
            "awg": base,
            "digitizer": {"driver": "instruments.drivers.digitizer:KeysightDSOX",
                          "resource": "TCPIP::127.0.0.1::5026::SOCKET",
                          "sample_rate": 1e9, "max_points": 62500}}
    return parse_lab(data, "test_lab.toml")


def sched(pulses=(), duration=2e-6, receiver=(1.0,), markers=(), windows=(), ideal=()):
    return Schedule(channels=CHANNELS, pulses=tuple(pulses), markers=tuple(markers),
                    windows=tuple(windows), ideal_pulses=tuple(ideal),
                    receiver=tuple(receiver), duration=duration, name="t")


def test_dac_convention_rect_baseband():
    # 1 mT × 1000 V/T = 1 V = half of the 2 V full scale → code round(32767/2) = 16384
    s = sched([Pulse("coil", 100e-9, 200e-9, 1e-3)])
    prog = compile(s, make_lab())
    codes = prog.field.codes(0)
    assert prog.n_points == 200  # 2 µs at 100 MSa/s
    # samples t_i = i·10 ns in [100 ns, 300 ns) are i = 10..29
    expected = np.zeros(200, dtype=np.int16)
    expected[10:30] = 16384
    np.testing.assert_array_equal(codes, expected)
    # reconstructed field within one DAC step (2 V / 32767 / 1000 V/T) of 1 mT
    np.testing.assert_allclose(prog.field_tesla(0)[10:30], 1e-3, rtol=0,
                               atol=2.0 / DAC_MAX / 1000.0)
    assert prog.field.amplitude_vpp == 4.0 and prog.field.offset_v == 0.0


def test_carrier_samples_match_closed_form_within_half_lsb():
    f, phi = 7e6, 0.3
    s = sched([Pulse("coil", 0.0, 1e-6, 1.5e-3, "rect", f, (phi,))])
    prog = compile(s, make_lab())
    t = np.arange(100) / 100e6
    exact = 1.5e-3 * 1000.0 / 2.0 * DAC_MAX * np.cos(2 * np.pi * f * t + phi)
    assert np.max(np.abs(prog.field.codes(0)[:100] - exact)) <= 0.5 + 1e-9
    assert not np.any(prog.field.codes(0)[100:])


def test_phase_cycle_steps_become_segments_and_identical_steps_share():
    p = Pulse("coil", 0.0, 500e-9, 1e-3, "rect", 5e6, (0.0, math.pi, 0.0))
    s = sched([p], receiver=(1.0, -1.0, 1.0))
    prog = compile(s, make_lab())
    assert [st.segment for st in prog.steps] == ["step0", "step1", "step0"]
    assert len(prog.field.segments) == 2
    assert [st.receiver for st in prog.steps] == [1, -1, 1]
    # φ = π negates the field: codes opposite within one rounding step
    assert np.max(np.abs(prog.field.codes(1).astype(int) + prog.field.codes(0))) <= 1
    assert prog.field.sequence_name == "spinecho"
    entries = prog.field.sequence_entries()
    assert [e.arb for e in entries] == ["step0", "step1", "step0"]
    assert all(e.play == "onceWaitTrig" for e in entries)


def test_min_length_and_granularity_padding():
    s = sched([Pulse("coil", 0.0, 20e-9, 1e-3)], duration=50e-9)  # 5 samples
    assert compile(s, make_lab()).n_points == 8  # 33500B minimum
    prog = compile(s, make_lab(granularity=64, min_points=32))
    assert prog.n_points == 64
    assert not np.any(prog.field.codes(0)[5:])


def test_dac_resolution_14_bit():
    s = sched([Pulse("coil", 0.0, 1e-6, 1e-3, "hann")])
    codes = compile(s, make_lab(dac_bits=14)).field.codes(0)
    assert np.all(codes % 4 == 0) and codes.max() > 0


def test_ideal_pulses_rejected():
    s = sched(ideal=[IdealPulse("coil", 1e-7, math.pi / 2, label="p90")])
    with pytest.raises(CompileError, match="ideal.*p90") as info:
        compile(s, make_lab())
    assert "drop --set ideal=1" in str(info.value)  # the way out for library sequences


@pytest.mark.parametrize("pulse, lab_kw, constraint", [
    (Pulse("coil", 0, 1e-6, 2.5e-3), {}, "dac_range"),                 # 2.5 V > 2 V FS
    (Pulse("coil", 0, 1e-6, 1e-8), {}, "dac_resolution"),              # 10 µV < 1 LSB
    (Pulse("coil", 0, 5e-9, 1e-3), {}, "sample_rate"),                 # half a sample
    (Pulse("coil", 0, 1e-6, 1e-3, "rect", 60e6), {}, "bandwidth"),     # above 50 MHz
])
def test_hardware_constraints_named(pulse, lab_kw, constraint):
    with pytest.raises(LimitViolation) as info:
        compile(sched([pulse]), make_lab(**lab_kw))
    assert info.value.constraint == constraint
    assert info.value.instrument == "awg"
    assert str(info.value).startswith(f"awg: {constraint}")


def test_memory_limit():
    s = sched([Pulse("coil", 0, 1e-6, 1e-3, "rect", 1e6, (0.0, 1.0))], receiver=(1, 1),
              duration=10e-6)
    with pytest.raises(LimitViolation, match="memory") as info:
        compile(s, make_lab(memory=1500))  # 2 segments × 1000 points
    assert info.value.value == 2000 and info.value.limit == 1500


@pytest.mark.parametrize("limits, constraint", [
    ({"max_amplitude_v": 0.9}, "max_amplitude_v"),     # pulse peak 1 V
    ({"max_duty_cycle": 0.05}, "max_duty_cycle"),      # 200 ns on in 2 µs = 0.1
    ({"max_pulse_energy": 1e-7}, "max_pulse_energy"),  # 1 V² × 200 ns = 2e-7 V² s
])
def test_safety_limits_named(limits, constraint):
    s = sched([Pulse("coil", 100e-9, 200e-9, 1e-3)])
    with pytest.raises(LimitViolation) as info:
        compile(s, make_lab(limits=limits))
    assert info.value.constraint == constraint and info.value.instrument == "awg"


def test_duty_cycle_violation_says_what_to_do():
    # 200 ns on in the 2 µs played length = 0.1 > 0.05: the message gives the numbers and
    # the two ways out (a longer shot, a higher limit)
    s = sched([Pulse("coil", 100e-9, 200e-9, 1e-3)])
    with pytest.raises(LimitViolation, match=r"drive on 0\.1 of the 2e-06 s repetition "
                                             r"period exceeds the limit 0\.05") as info:
        compile(s, make_lab(limits={"max_duty_cycle": 0.05}))
    assert "longer delay" in str(info.value) and "[limits] max_duty_cycle" in str(info.value)


def test_safety_report_values_closed_form():
    s = sched([Pulse("coil", 100e-9, 200e-9, 1e-3)])
    prog = compile(s, make_lab(limits={"max_amplitude_v": 1.5, "max_duty_cycle": 0.5,
                                       "max_pulse_energy": 1e-6}))
    v = 16384 / DAC_MAX * 2.0  # quantised 1 V
    assert prog.safety.peak_v == pytest.approx(v, rel=1e-12)
    assert prog.safety.duty_cycle == pytest.approx(0.1, rel=1e-9)
    assert prog.safety.max_pulse_energy == pytest.approx(v * v * 200e-9, rel=1e-9)
    # a longer repetition period lowers the duty cycle
    prog = compile(s, make_lab(), repetition_time=20e-6)
    assert prog.safety.duty_cycle == pytest.approx(0.01, rel=1e-9)


def test_markers_gate_and_acquisition():
    s = sched([Pulse("coil", 0, 100e-9, 1e-3)],
              markers=[Marker("acq", 500e-9, 1e-6, "gate")],
              windows=[DetectionWindow("det", 600e-9, 300e-9, "echo"),
                       DetectionWindow("det", 1.0e-6, 200e-9, "echo2")])
    prog = compile(s, make_lab())
    assert prog.field.marker_point == 150  # gate falls at 1.5 µs = sample 150
    assert prog.markers["acq"][50:150].all() and not prog.markers["acq"][150:].any()
    acq = prog.acquisition
    assert acq.trigger_delay == pytest.approx(600e-9)
    assert acq.record_length == pytest.approx(600e-9)
    assert acq.n_points == 600  # 600 ns at 1 GSa/s
    assert [w[2] for w in acq.windows] == ["echo", "echo2"]
    assert acq.windows[1][0] == pytest.approx(400e-9)


def test_gate_from_windows_when_no_marker():
    s = sched([Pulse("coil", 0, 100e-9, 1e-3)],
              windows=[DetectionWindow("det", 1e-6, 300e-9)])
    prog = compile(s, make_lab())
    assert prog.field.marker_point == 130
    assert prog.markers["digitizer_gate"][100:130].all()


def test_digitizer_record_too_long():
    s = sched([Pulse("coil", 0, 100e-9, 1e-3)], duration=100e-6,
              windows=[DetectionWindow("det", 1e-6, 90e-6)])
    with pytest.raises(LimitViolation) as info:
        compile(s, make_lab())
    assert info.value.constraint == "max_points" and info.value.instrument == "digitizer"


def test_rf_gate_channel():
    s = sched([Pulse("coil", 0, 100e-9, 1e-3)], markers=[Marker("rf", 0, 100e-9)])
    prog = compile(s, make_lab(gate_channel=2, gate_level_v=2.5))
    gate = prog.gate.codes(0)
    assert prog.gate.channel == 2 and prog.gate.amplitude_vpp == 5.0
    np.testing.assert_array_equal(gate[:10], DAC_MAX)
    assert not gate[10:].any()
    lab = make_lab()
    lab_rf = parse_lab({"limits": {"max_amplitude_v": 2.0},
                        "awg": {"driver": lab.awg.driver, "resource": lab.awg.resource,
                                "sample_rate": 100e6, "volts_per_tesla": 1000.0,
                                "full_scale_v": 2.0},
                        "rf_source": {"driver": "instruments.drivers.rf_source:Agilent8257D",
                                      "resource": "TCPIP::127.0.0.1::5030::SOCKET"}})
    with pytest.raises(CompileError, match="gate_channel"):
        compile(s, lab_rf)


def test_field_channel_selection_errors():
    two = (Channel("x", "field"), Channel("y", "field"))
    s = Schedule(channels=two, pulses=(Pulse("x", 0, 1e-6, 1e-3),), duration=2e-6)
    with pytest.raises(CompileError, match="field_channel"):
        compile(s, make_lab())
    stray = Schedule(channels=two, pulses=(Pulse("y", 0, 1e-6, 1e-3),), duration=2e-6)
    with pytest.raises(CompileError, match="'y'"):
        compile(stray, make_lab(field_channel="x"))  # pulses on a channel nobody plays
    with pytest.raises(CompileError, match="'z'"):
        compile(s, make_lab(field_channel="z"))


def test_program_arrays_are_read_only():
    prog = compile(sched([Pulse("coil", 0, 1e-6, 1e-3)]), make_lab())
    with pytest.raises(ValueError):
        prog.field.codes(0)[0] = 32767


def test_upload_program_protocol():
    """The exact bytes sent for a two-step program (the virtual lab's contract)."""
    p = Pulse("coil", 0.0, 40e-9, 1e-3, "rect", 0.0, (0.0, math.pi))
    s = sched([p], duration=100e-9, receiver=(1.0, -1.0),
              windows=[DetectionWindow("det", 50e-9, 30e-9)])
    prog = compile(s, make_lab())
    c0, c1 = (prog.field.codes(k) for k in range(2))
    assert prog.n_points == 10 and prog.field.marker_point == 8
    seq = sequence_descriptor("spinecho", prog.field.sequence_entries()).encode()
    pairs = [
        ("OUTP1 0", None),
        ("SOUR1:DATA:VOL:CLE", None),
        ("FORM:BORD SWAP", None),
        (b"SOUR1:DATA:ARB:DAC step0," + ieee_block(c0.astype("<i2").tobytes()) + b"\n", None),
        ("FORM:BORD SWAP", None),
        (b"SOUR1:DATA:ARB:DAC step1," + ieee_block(c1.astype("<i2").tobytes()) + b"\n", None),
        (b"SOUR1:DATA:SEQ " + ieee_block(seq) + b"\n", None),
        ("SOUR1:FUNC ARB", None),
        ("SOUR1:FUNC:ARB spinecho", None),
        ("SOUR1:FUNC:ARB:SRAT 100000000", None),
        ("SOUR1:FUNC:ARB:FILT OFF", None),
        ("SOUR1:VOLT 4", None),
        ("SOUR1:VOLT:OFFS 0", None),
        ("SOUR1:MARK:POIN 8", None),
        ("OUTP1:SYNC:MODE MARK", None),
        ("OUTP1:SYNC 1", None),
        ("SOUR1:BURS:MODE TRIG", None),
        ("SOUR1:BURS:NCYC 1", None),
        ("TRIG1:SOUR BUS", None),
        ("SOUR1:BURS:STAT 1", None),
        ("SYST:ERR?", '+0,"No error"'),
        ("OUTP1 1", None),
    ]
    assert seq == (b'"spinecho","step0",1,onceWaitTrig,highAtStartGoLow,8,'
                   b'"step1",1,onceWaitTrig,highAtStartGoLow,8')
    with expected_protocol(Keysight33500B, pairs) as awg:
        upload_program(awg, prog, output=True)


def test_union_length_and_energy_helpers_closed_form():
    from instruments.safety import pulse_energies, union_length

    assert union_length([(0, 1), (0.5, 2), (3, 4), (3.2, 3.5)]) == pytest.approx(3.0)
    assert union_length([]) == 0.0
    v = np.array([1.0, 2.0, 0.0, 3.0])  # held 1 s each at rate 1
    np.testing.assert_allclose(pulse_energies(v, 1.0, [(0, 2), (3, 4)]), [5.0, 9.0])


def test_dac_resolution_reports_the_sampled_peak_not_the_nominal_one():
    """A one-sample Hann pulse is sampled only at u = 0, where sin² = 0: the DAC would
    play nothing although the nominal peak (1 mV) is 8 steps. The refusal reports what
    would be played (found by the hypothesis property test)."""
    s = sched([Pulse("coil", 100e-9, 10e-9, 1e-6, "hann", label="p")])
    with pytest.raises(LimitViolation, match="would play as zero") as info:
        compile(s, make_lab())
    exc = info.value
    assert exc.constraint == "dac_resolution"
    assert exc.value < exc.limit
