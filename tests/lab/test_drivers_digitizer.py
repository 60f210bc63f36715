"""Protocol tests of the digitizer drivers (Keysight DSOX, Red Pitaya).

DSOX syntax: InfiniiVision X-Series Programmer's Guide (:WAVeform:FORMat/BYTeorder/
UNSigned/SOURce/POINts/PREamble?/DATA?, :ACQuire:TYPE/COUNt, :DIGitize, :TIMebase:*,
:TRIGger:EDGE:*). Red Pitaya syntax: Red Pitaya SCPI command list (ACQ:*, SOUR<n>:*,
OUTPUT<n>:STATE, GEN:RST). Binary replies are given with their terminator.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from instruments.drivers.digitizer import KeysightDSOX, RedPitaya
from instruments.drivers.scpi import ieee_block
from instruments.errors import InstrumentError, ProtocolError

PREAMBLE = "1,2,8,1,1.00000E-06,2.00000E-05,0,1.00000E-03,5.00000E-02,32768"


def _dsox_read_pairs(payload: bytes, preamble: str = PREAMBLE):
    return [
        (":waveform:source CHAN1", None),
        (":waveform:format WORD", None),
        (":WAV:BYT LSBF", None),
        (":WAV:UNS 1", None),
        (":waveform:preamble?", preamble),
        (":WAV:DATA?", ieee_block(payload) + b"\n"),
    ]


def test_dsox_read_trace_word_lsb_first_with_preamble_scaling():
    codes = np.array([32768, 32769, 32767, 0, 65535, 33768, 31768, 32768], dtype="<u2")
    with expected_protocol(KeysightDSOX, _dsox_read_pairs(codes.tobytes())) as scope:
        t, v = scope.read_trace(1)
    # volts = (code - 32768) * 1e-3 + 0.05 ; t = i * 1e-6 + 20e-6
    np.testing.assert_allclose(v, (codes.astype(float) - 32768) * 1e-3 + 0.05)
    np.testing.assert_allclose(t, np.arange(8) * 1e-6 + 2e-5)


def test_dsox_read_trace_rejects_truncated_block():
    codes = np.zeros(8, dtype="<u2").tobytes()
    bad = b"#216" + codes[:10] + b"\n"  # announces 16 bytes, sends 10 + terminator
    pairs = _dsox_read_pairs(codes)[:-1] + [(":WAV:DATA?", bad)]
    with expected_protocol(KeysightDSOX, pairs) as scope:
        with pytest.raises(ProtocolError):
            scope.read_trace(1)
        scope.adapter._read_buffer = None  # discard what the bad reply left behind


def test_dsox_read_trace_rejects_point_count_mismatch():
    codes = np.zeros(6, dtype="<u2").tobytes()  # preamble says 8 points
    with expected_protocol(KeysightDSOX, _dsox_read_pairs(codes)) as scope:
        with pytest.raises(ProtocolError, match="8 points"):
            scope.read_trace(1)


def test_dsox_rejects_garbage_instead_of_block():
    pairs = _dsox_read_pairs(b"")[:-1] + [(":WAV:DATA?", b"1.0,2.0,3.0\n")]
    with expected_protocol(KeysightDSOX, pairs) as scope:
        with pytest.raises(ProtocolError):
            scope.read_trace(1)
        scope.adapter._read_buffer = None


def test_dsox_configure_averaging_and_arm():
    with expected_protocol(KeysightDSOX, [
        (":TIM:REF LEFT", None),
        (":TIM:POS 2.000000e-06", None),
        (":TIM:RANG 5.000000e-05", None),
        (":TRIG:EDGE:SOUR EXT", None),
        (":TRIG:EDGE:SLOP POS", None),
        (":TRIG:EDGE:LEV 1", None),
        (":ACQuire:TYPE AVER", None),
        (":ACQ:COUN 64", None),
        (":waveform:points 1000", None),
        (":DIGitize CHAN1", None),
        ("*OPC?", "1"),
    ]) as scope:
        scope.configure(50e-6, trigger_delay=2e-6, averages=64, points=800)
        scope.arm(1)
        assert scope.wait_complete()


def test_dsox_configure_single_shot_and_shutdown():
    with expected_protocol(KeysightDSOX, [
        (":TIM:REF LEFT", None),
        (":TIM:POS 0.000000e+00", None),
        (":TIM:RANG 1.000000e-03", None),
        (":TRIG:EDGE:SOUR EXT", None),
        (":TRIG:EDGE:SLOP POS", None),
        (":TRIG:EDGE:LEV 1", None),
        (":ACQuire:TYPE NORM", None),
        (":stop", None),
    ]) as scope:
        scope.configure(1e-3)
        with pytest.raises(ValueError):
            scope.acquisition_count = 1  # the scope averages 2..65536 triggers
        scope.shutdown()


def test_dsox_error_queue():
    with expected_protocol(KeysightDSOX, [
        ("SYST:ERR?", '-113,"Undefined header"'),
        ("SYST:ERR?", '+0,"No error"'),
    ]) as scope:
        assert scope.check_errors() == [(-113, "Undefined header")]


def test_redpitaya_read_trace_float32_big_endian():
    volts = np.array([0.0, 0.5, -0.25, 1.0], dtype=">f4")
    with expected_protocol(RedPitaya, [
        ("ACQ:DATA:FORMAT BIN", None),
        ("ACQ:DATA:Units VOLTS", None),
        ("ACQ:DEC?", "8"),
        ("ACQ:TRig:DLY?", "8192"),
        ("ACQ:SOUR1:DATA?", ieee_block(volts.tobytes()) + b"\r\n"),
    ]) as rp:
        t, v = rp.read_trace(1)
    np.testing.assert_allclose(v, volts.astype(float))
    np.testing.assert_allclose(t, np.arange(4) * 8 / 125e6)  # trigger at sample 0


def test_redpitaya_configure_arm_wait():
    with expected_protocol(RedPitaya, [
        ("ACQ:RST", None),
        ("ACQ:DEC 4", None),
        ("ACQ:TRig:DLY 8192", None),
        ("ACQ:START", None),
        ("ACQ:TRig EXT_PE", None),
        ("ACQ:TRig:STAT?", "WAIT"),
        ("ACQ:TRig:STAT?", "TD"),
        ("ACQ:TRig:FILL?", "1"),
    ]) as rp:
        rp.configure(record_length=400e-6, trigger_delay=50e-6)  # needs 450 µs: dec 4
        rp.arm()
        assert rp.wait_complete(poll=0.0)
        with pytest.raises(InstrumentError):
            rp.configure(1e-3, averages=16)  # no on-board trigger averaging


def test_redpitaya_generator_arbitrary_burst():
    wave = np.zeros(16384)
    wave[:3] = [0.5, -1.0, 0.25]
    text = ",".join(f"{x:.6f}" for x in wave)
    with expected_protocol(RedPitaya, [
        ("GEN:RST", None),
        ("SOUR1:FUNC ARBITRARY", None),
        ("SOUR1:TRAC:DATA:DATA " + text, None),
        ("SOUR1:FREQ:FIX 7629.394531", None),
        ("SOUR1:VOLT 0.8", None),
        ("SOUR1:BURS:STAT BURST", None),
        ("SOUR1:BURS:NCYC 1", None),
        ("SOUR1:BURS:NOR 1", None),
        ("SOUR1:TRIG:SOUR EXT_PE", None),
        ("OUTPUT1:STATE ON", None),
        ("SOUR1:TRIG:INT", None),
        ("SOUR2:VOLT:OFFS 0.1", None),
        ("SOUR2:BURS:STAT CONTINUOUS", None),
    ]) as rp:
        rp.generator_reset()
        rp.gen_1.configure_arb(wave, sample_rate=125e6, amplitude=0.8)
        rp.gen_1.output = True
        rp.gen_1.trigger()
        rp.gen_2.offset = 0.1
        rp.gen_2.burst_state = False
        with pytest.raises(ValueError):
            rp.gen_1.upload(np.full(8, 1.5))  # outside [-1, 1]: refused, nothing sent


def test_redpitaya_shutdown_outputs_off():
    with expected_protocol(RedPitaya, [
        ("OUTPUT1:STATE OFF", None),
        ("OUTPUT2:STATE OFF", None),
        ("ACQ:STOP", None),
    ]) as rp:
        rp.shutdown()


def test_dsox_getters():
    with expected_protocol(KeysightDSOX, [
        (":WAV:BYT?", "LSBF"),
        (":WAV:UNS?", "1"),
        (":ACQ:COUN?", "64"),
        (":TIM:REF?", "LEFT"),
        (":TIM:POS?", "+2.000000000E-06"),
        (":TIM:RANG?", "+5.000000000E-05"),
        (":TRIG:EDGE:SOUR?", "EXT"),
        (":TRIG:EDGE:SLOP?", "POS"),
        (":TRIG:EDGE:LEV?", "+1.00000E+00"),
        (":ACQuire:TYPE?", "AVER"),
    ]) as scope:
        assert scope.waveform_byteorder == "LSBF"
        assert scope.waveform_unsigned is True
        assert scope.acquisition_count == 64
        assert scope.timebase_reference == "LEFT"
        assert scope.timebase_position == 2e-6
        assert scope.timebase_range == 5e-5
        assert scope.trigger_source == "EXT"
        assert scope.trigger_slope == "POS"
        assert scope.trigger_level == 1.0
        assert scope.acquisition_type == "average"


def test_redpitaya_generator_getters_and_sample_rate():
    with expected_protocol(RedPitaya, [
        ("SOUR2:FUNC?", "ARBITRARY"),
        ("SOUR2:FREQ:FIX?", "7629.39453125"),
        ("SOUR2:VOLT?", "0.8"),
        ("SOUR2:VOLT:OFFS?", "0"),
        ("OUTPUT2:STATE?", "OFF"),
        ("SOUR2:BURS:STAT?", "BURST"),
        ("SOUR2:BURS:NCYC?", "1"),
        ("SOUR2:BURS:NOR?", "1"),
        ("SOUR2:TRIG:SOUR?", "EXT_PE"),
        ("ACQ:DEC?", "64"),
    ]) as rp:
        g = rp.gen_2
        assert g.function == "ARBITRARY"
        assert g.frequency == pytest.approx(125e6 / 16384)
        assert g.amplitude == 0.8 and g.offset == 0
        assert g.output is False and g.burst_state is True
        assert g.burst_ncycles == 1 and g.burst_repetitions == 1
        assert g.trigger_source == "EXT_PE"
        assert rp.sample_rate == pytest.approx(125e6 / 64)
