"""Protocol tests of the AWG drivers: every command pinned byte for byte.

Command syntax from the Keysight 33500B/33600A Series Operating and Service Guide
(SCPI programming reference): FORMat:BORDer, SOURce:DATA:ARBitrary:DAC,
SOURce:DATA:SEQuence, SOURce:FUNCtion[:ARBitrary[:SRATe|:FILTer|:POINts]],
SOURce:VOLTage[:OFFSet], SOURce:MARKer:POINt, OUTPut:SYNC[:MODE], BURSt:*,
TRIGger:SOURce|SLOPe, *TRG, *OPC?, SYSTem:ERRor?. Terminators are not part of the
pairs (pymeasure convention) except for binary-block messages, which the driver
writes as raw bytes including their terminating newline.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from instruments.drivers.awg import (
    Keysight33500B,
    Keysight33600A,
    Keysight81160A,
    SequenceEntry,
    sequence_descriptor,
)
from instruments.errors import InstrumentError, LimitViolation, ScpiError


def test_upload_dac_binary_block_little_endian():
    codes = np.array([0, 1, -1, 32767, -32767, 256, -256, 10], dtype=np.int16)
    payload = codes.astype("<i2").tobytes()
    assert payload[:6] == b"\x00\x00\x01\x00\xff\xff"  # LSB first
    with expected_protocol(Keysight33500B, [
        ("FORM:BORD SWAP", None),
        (b"SOUR1:DATA:ARB:DAC step0,#216" + payload + b"\n", None),
    ]) as awg:
        n = awg.ch_1.upload_dac("step0", codes)
        assert n == len(b"SOUR1:DATA:ARB:DAC step0,#216") + 16 + 1


def test_upload_dac_channel2_long_block_header():
    codes = np.arange(-500, 500, dtype=np.int16)  # 1000 points = 2000 bytes
    payload = codes.astype("<i2").tobytes()
    with expected_protocol(Keysight33500B, [
        ("FORM:BORD SWAP", None),
        (b"SOUR2:DATA:ARB:DAC gate,#42000" + payload + b"\n", None),
    ]) as awg:
        awg.ch_2.upload_dac("gate", codes)


@pytest.mark.parametrize("codes, exc", [
    (np.array([0] * 7), ValueError),               # below the 8-point minimum
    (np.array([0] * 7 + [32768]), LimitViolation),  # outside the DAC range
    (np.array([0.5] * 8), ValueError),              # not integers
])
def test_upload_dac_refuses_before_sending(codes, exc):
    with expected_protocol(Keysight33500B, []) as awg:
        with pytest.raises(exc):
            awg.ch_1.upload_dac("bad", codes)


def test_upload_dac_bad_name_refused():
    with expected_protocol(Keysight33500B, []) as awg:
        with pytest.raises(ValueError):
            awg.ch_1.upload_dac("9lives", np.zeros(8, int))
        with pytest.raises(ValueError):
            awg.ch_1.upload_dac("name;*RST", np.zeros(8, int))


def test_define_sequence_descriptor_block():
    entries = [SequenceEntry("step0", 1, "onceWaitTrig", "highAtStartGoLow", 100),
               SequenceEntry("step1", 1, "onceWaitTrig", "highAtStartGoLow", 100)]
    text = (b'"spinecho","step0",1,onceWaitTrig,highAtStartGoLow,100,'
            b'"step1",1,onceWaitTrig,highAtStartGoLow,100')
    assert sequence_descriptor("spinecho", entries).encode() == text
    header = b"#2" + str(len(text)).encode()
    with expected_protocol(Keysight33500B, [
        (b"SOUR1:DATA:SEQ " + header + text + b"\n", None),
    ]) as awg:
        awg.ch_1.define_sequence("spinecho", entries)


def test_sequence_entry_validation():
    with pytest.raises(ValueError):
        SequenceEntry("a", play="forever").descriptor()
    with pytest.raises(ValueError):
        SequenceEntry("a", marker_mode="blink").descriptor()
    with pytest.raises(ValueError):
        sequence_descriptor("s", [])


def test_configure_arb_marker_burst():
    with expected_protocol(Keysight33500B, [
        ("SOUR1:FUNC ARB", None),
        ("SOUR1:FUNC:ARB spinecho", None),
        ("SOUR1:FUNC:ARB:SRAT 250000000", None),
        ("SOUR1:FUNC:ARB:FILT OFF", None),
        ("SOUR1:VOLT 2", None),
        ("SOUR1:VOLT:OFFS 0", None),
        ("SOUR1:MARK:POIN 1200", None),
        ("OUTP1:SYNC:MODE MARK", None),
        ("OUTP1:SYNC 1", None),
        ("SOUR1:BURS:MODE TRIG", None),
        ("SOUR1:BURS:NCYC 1", None),
        ("TRIG1:SOUR BUS", None),
        ("SOUR1:BURS:STAT 1", None),
        ("OUTP1 1", None),
        ("*TRG", None),
    ]) as awg:
        ch = awg.ch_1
        ch.configure_arb("spinecho", 250e6, amplitude_vpp=2.0, offset=0.0)
        ch.configure_marker(1200)
        ch.configure_burst(1, "BUS")
        ch.output = True
        awg.trigger()


def test_queries_and_misc_settings():
    with expected_protocol(Keysight33500B, [
        ("*IDN?", "Agilent Technologies,33522B,MY00000000,4.00-1.19-2.00-58-00"),
        ("SOUR2:FUNC:ARB:POIN?", "1000"),
        ("SOUR1:MARK:POIN?", "+100"),
        ("FORM:BORD?", "SWAP"),
        ("TRIG2:SOUR EXT", None),
        ("TRIG2:SLOP POS", None),
        ("SOUR2:DATA:VOL:CLE", None),
        ("*OPC?", "1"),
        ("*RST", None),
        ("*CLS", None),
    ]) as awg:
        assert awg.id.startswith("Agilent Technologies,33522B")
        assert awg.ch_2.arb_points == 1000
        assert awg.ch_1.marker_point == 100
        assert awg.byte_order == "SWAP"
        awg.ch_2.trigger_source = "EXT"
        awg.ch_2.trigger_slope = "POS"
        awg.ch_2.clear_volatile()
        assert awg.wait_complete()
        awg.reset()
        awg.clear()


def test_sample_rate_limit_by_model():
    with expected_protocol(Keysight33500B, []) as awg:
        with pytest.raises(ValueError):
            awg.ch_1.arb_srate = 1e9  # above 250 MSa/s: refused, nothing sent
    with expected_protocol(Keysight33600A, [("SOUR1:FUNC:ARB:SRAT 1000000000", None)]) as awg:
        awg.ch_1.arb_srate = 1e9


def test_amplitude_limit_narrowed_by_lab():
    with expected_protocol(Keysight33500B, [("SOUR1:VOLT 0.5", None)]) as awg:
        awg.ch_1.amplitude_values = [1e-3, 1.0]
        with pytest.raises(ValueError):
            awg.ch_1.amplitude = 2.0
        awg.ch_1.amplitude = 0.5


def test_error_queue_read_and_raised():
    with expected_protocol(Keysight33500B, [
        ("SYST:ERR?", '-113,"Undefined header"'),
        ("SYST:ERR?", '-222,"Data out of range; value clipped to upper limit"'),
        ("SYST:ERR?", '+0,"No error"'),
        ("SYST:ERR?", '+0,"No error"'),
        ("SYST:ERR?", '-160,"Block data error"'),
        ("SYST:ERR?", '+0,"No error"'),
    ]) as awg:
        errs = awg.check_errors()
        assert errs == [(-113, "Undefined header"),
                        (-222, "Data out of range; value clipped to upper limit")]
        awg.raise_errors()  # empty queue: no exception
        with pytest.raises(ScpiError) as info:
            awg.raise_errors()
        assert info.value.code == -160 and "Block data error" in str(info.value)


def test_shutdown_switches_both_outputs_off():
    with expected_protocol(Keysight33500B, [("OUTP1 0", None), ("OUTP2 0", None)]) as awg:
        awg.shutdown()
        assert awg.isShutdown


def test_shutdown_tries_every_channel_and_reports():
    # The channel writes go through the parent's adapter; make channel 1 fail.
    with expected_protocol(Keysight33500B, [("OUTP2 0", None)]) as awg:
        original = awg.ch_1.write

        def boom(command, **kwargs):
            raise OSError("connection reset")

        awg.ch_1.write = boom
        with pytest.raises(InstrumentError, match="OUTP1 0"):
            awg.shutdown()
        awg.ch_1.write = original


def test_81160a_upload_and_shutdown():
    codes = np.array([0, 8191, -8191, 1], dtype=np.int16)
    payload = codes.astype(">i2").tobytes()
    with expected_protocol(Keysight81160A, [
        (b":DATA1:DAC VOLATILE,#18" + payload + b"\n", None),
        ("OUTP1 0", None),
        ("OUTP2 0", None),
    ]) as gen:
        gen.upload_dac(1, codes)
        with pytest.raises(LimitViolation):
            gen.upload_dac(1, [8192])
        gen.shutdown()


def test_channel_getters():
    with expected_protocol(Keysight33500B, [
        ("SOUR1:FUNC:ARB:SRAT?", "+2.500000000000000E+08"),
        ("SOUR1:VOLT?", "+4.0000000000000E+00"),
        ("SOUR1:VOLT:OFFS?", "+0.0000000000000E+00"),
        ("OUTP1:SYNC?", "1"),
        ("OUTP1:SYNC:MODE?", "MARK"),
        ("TRIG1:SOUR?", "BUS"),
        ("TRIG1:SLOP?", "POS"),
        ("SOUR1:FUNC:ARB?", '"spinecho"'),
        ("OUTP1?", "0"),
    ]) as awg:
        ch = awg.ch_1
        assert ch.arb_srate == 250e6
        assert ch.amplitude == 4.0
        assert ch.offset == 0.0
        assert ch.sync_enabled is True
        assert ch.sync_mode == "MARK"
        assert ch.trigger_source == "BUS"
        assert ch.trigger_slope == "POS"
        assert ch.arb_file == '"spinecho"'
        assert ch.output is False
