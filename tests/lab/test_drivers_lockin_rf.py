"""Protocol tests of the lock-in (SR830/SR860) and RF source (8257D) drivers.

SR830 syntax: SR830 manual ch. 5 (FREQ, SLVL, OFLT, SENS, SNAP?, OUTP?); SR860: SR860
manual ch. 4 (SNAP? X, Y); 8257D: PSG SCPI command reference (:FREQ, :POW,
:SOUR:PULM:SOUR/STAT, :OUTPUT:MOD, :OUTPUT).
"""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from instruments.drivers.lockin import SR830, SR860, sweep_frequency
from instruments.drivers.rf_source import Agilent8257D


def test_sr830_sweep_frequency_reads_x_y():
    with expected_protocol(SR830, [
        ("OFLT?", "8"),  # index 8 = 100 ms
        ("FREQ1.00000e+02", None),
        ("SNAP? 1,2", "1.0e-3,2.0e-4"),
        ("FREQ1.00000e+03", None),
        ("SNAP? 1,2", "5.0e-4,-1.0e-4"),
    ]) as lockin:
        waits = []
        sweep = sweep_frequency(lockin, [100.0, 1000.0], sleep=waits.append)
    assert waits == [pytest.approx(0.5)] * 2  # 5 time constants of 100 ms
    np.testing.assert_allclose(sweep.frequency, [100, 1000])
    np.testing.assert_allclose(sweep.x, [1e-3, 5e-4])
    np.testing.assert_allclose(sweep.y, [2e-4, -1e-4])
    np.testing.assert_allclose(sweep.r, np.hypot(sweep.x, sweep.y))


def test_sr830_settings_and_shutdown():
    with expected_protocol(SR830, [
        ("SLVL1.000", None),
        ("SENS20", None),  # 10 mV
        ("OFLT10", None),  # 1 s
        ("OUTP?2", "3.5e-6"),
        ("*IDN?", "Stanford_Research_Systems,SR830,s/n00000,ver1.07"),
        ("SLVL0.004", None),
    ]) as lockin:
        lockin.sine_voltage = 1.0
        lockin.sensitivity = 10e-3
        lockin.time_constant = 1.0
        assert lockin.y == pytest.approx(3.5e-6)
        assert "SR830" in lockin.id
        lockin.shutdown()


def test_sr860_sweep_with_given_settle_and_shutdown():
    with expected_protocol(SR860, [
        ("FREQ 2.000000e+03", None),
        ("SNAP? X, Y", "1.0,2.0"),
        ("SLVL 0.000000000e+00", None),
    ]) as lockin:
        sweep = sweep_frequency(lockin, [2000.0], settle=0.0, sleep=lambda s: None)
        assert sweep.y[0] == 2.0
        lockin.shutdown()


def test_sweep_frequency_rejects_bad_frequencies():
    with expected_protocol(SR830, []) as lockin:
        with pytest.raises(ValueError):
            sweep_frequency(lockin, [], settle=0)
        with pytest.raises(ValueError):
            sweep_frequency(lockin, [100, -5], settle=0)


def test_8257d_external_pulse_modulation():
    with expected_protocol(Agilent8257D, [
        (":POW -10 dBm;", None),
        (":FREQ 2.500000e+09 Hz;", None),
        (":SOUR:PULM:SOUR EXT", None),
        (":SOUR:PULM:STAT ON", None),
        (":OUTPUT:MOD ON;", None),
        (":OUTPUT ON;", None),
    ]) as gen:
        gen.configure_pulsed_carrier(2.5e9, -10)
        gen.enable()


def test_8257d_power_guard_refuses_before_sending():
    with expected_protocol(Agilent8257D, []) as gen:
        gen.power_values = [-135.0, 0.0]  # the lab's max_power_dbm
        with pytest.raises(ValueError):
            gen.configure_pulsed_carrier(2.5e9, 5.0)


def test_8257d_shutdown_rf_off_first():
    with expected_protocol(Agilent8257D, [
        (":OUTPUT OFF;", None),
        (":SOUR:PULM:STAT OFF", None),
        (":OUTPUT:MOD OFF;", None),
    ]) as gen:
        gen.shutdown()


def test_8257d_power_query():
    with expected_protocol(Agilent8257D, [(":POW?;", "-1.000000000E+01")]) as gen:
        assert gen.power == -10.0
