"""The emulated instruments through the project's real drivers (pyvisa-py over loopback
TCP): every driver operation is understood (empty SCPI error queue), the AWG plays what
was uploaded, the digitizer returns the SQUID trace of the simulated sample (checked
against a closed form), on-scope averaging divides the noise by √N, and the lock-in
sees the splitting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from virtual_support import VOLTS_PER_TESLA, small_config, start_lab

from instruments.drivers.awg import Keysight33500B, SequenceEntry
from instruments.drivers.digitizer import KeysightDSOX, RedPitaya
from instruments.drivers.lockin import SR830, sweep_frequency
from instruments.virtual.lab import config_from_dict, default_config
from sequences.units import TWO_PI

KW = {"visa_library": "@py", "read_termination": "\n", "write_termination": "\n"}


def single_grain_config(noise_rms=0.0, delta0=1.0e6, **env):
    """One kind of grain: Δ0 fixed, ε = 0, no bias noise; ground-state start."""
    d = default_config()
    d["model"]["ensemble"].update(delta0=delta0, bias=0.0, n_samples=4)
    d["model"]["environment"] = dict(env)
    d["awg"]["volts_per_tesla"] = VOLTS_PER_TESLA
    d["digitizer"].update(noise_rms=noise_rms, digitize_timeout=30.0)  # lab time; see small_config
    return config_from_dict(d, "<test>")


@pytest.fixture
def lab():
    lab = start_lab(small_config())
    yield lab
    lab.stop()


def test_awg_driver_operations_are_all_understood(lab):
    awg = Keysight33500B(lab.resources["awg"], **KW)
    shots = []
    lab.awg.listeners.append(shots.append)
    ch = awg.ch_1
    ch.clear_volatile()
    step0 = (np.sin(np.arange(400) / 7) * 20000).astype(np.int16)
    ch.upload_dac("step0", step0)
    ch.upload_dac("step1", -step0)
    ch.define_sequence("spinecho", [SequenceEntry("step0"), SequenceEntry("step1")])
    ch.configure_arb("spinecho", 250e6, amplitude_vpp=2.0, offset=0.0, filter="OFF")
    ch.configure_marker(100)
    ch.configure_burst(1, "BUS")
    ch.trigger_slope = "POS"
    assert ch.arb_srate == pytest.approx(250e6)
    assert ch.marker_point == 100 and awg.byte_order == "SWAP"
    assert awg.check_errors() == []
    ch.output = True
    for _ in range(3):
        awg.trigger()
    assert awg.wait_complete()
    assert [s.label for s in shots] == ["STEP0", "STEP1", "STEP0"]  # onceWaitTrig steps
    np.testing.assert_allclose(shots[1].volts, -step0 / 32767 * 1.0)  # code ±32767 ↔ ±Vpp/2
    assert shots[0].sample_rate == 250e6 and shots[0].trigger_time == 0.0
    awg.shutdown()
    assert awg.wait_complete()  # the writes before it have been executed
    assert not lab.awg.output_on()
    assert lab.awg.received()[-3:] == ["OUTP1 0", "OUTP2 0", "*OPC?"]


def dc_step_shot(lab, level_v, n_on, n_total, points, record, averages=1):
    """Play a DC step of ``level_v`` V for ``n_on`` AWG samples; return the digitizer
    record (times, volts) read through the drivers."""
    awg = Keysight33500B(lab.resources["awg"], **KW)
    scope = KeysightDSOX(lab.resources["digitizer"], **KW)
    codes = np.zeros(n_total, dtype=np.int16)
    codes[:n_on] = round(level_v / 2.5 * 32767)
    ch = awg.ch_1
    ch.upload_dac("dcstep", codes)
    ch.configure_arb("dcstep", 250e6, amplitude_vpp=5.0)
    ch.configure_burst(1, "BUS")
    ch.output = True
    scope.configure(record, trigger_delay=0.0, averages=averages, points=points)
    assert awg.check_errors() == [] and scope.check_errors() == []
    scope.arm(1)
    import time

    time.sleep(0.01)
    for _ in range(averages):
        awg.trigger()
    assert scope.wait_complete()
    t, v = scope.read_trace(1)
    awg.shutdown()
    return t, v, round(level_v / 2.5 * 32767) / 32767 * 2.5


def test_digitizer_returns_squid_trace_of_a_field_step():
    """Ground state of Δτx, then a field step h: ⟨τz⟩(t) = −(Δε'/E'²)(1 − cos 2E't),
    ε' = γh, E'² = Δ² + ε'² (rotation of the Bloch vector about (Δ, 0, ε'))."""
    lab = start_lab(single_grain_config())
    try:
        cfg = lab.config
        gamma = cfg.model.ensemble.moment_rad_per_tesla
        delta = 2 * TWO_PI * 1.0e6
        level = delta / gamma * VOLTS_PER_TESLA  # ε' = Δ
        t, v, played = dc_step_shot(lab, level, n_on=500, n_total=600, points=1000,
                                    record=2e-6)
        eps = gamma * played / VOLTS_PER_TESLA
        e2 = delta ** 2 + eps ** 2
        on = t < 2e-6 - 1e-12
        expected = -(delta * eps / e2) * (1 - np.cos(2 * math.sqrt(e2) * t[on]))
        vpt = cfg.model.detection.volts_per_tau_z(cfg.model.ensemble)
        assert vpt == pytest.approx(1.0)
        # tolerance: engine max_error 1e-3 + WORD quantisation 8 V / 65536 = 1.2e-4 V
        np.testing.assert_allclose(v[on], vpt * expected, atol=2e-3)
        assert np.ptp(v) > 0.9  # the oscillation is really there (amplitude ~1 V)
    finally:
        lab.stop()


def test_on_scope_averaging_divides_the_noise():
    lab = start_lab(single_grain_config(noise_rms=0.05))
    try:
        res = {}
        for n in (1, 16):
            t, v, _ = dc_step_shot(lab, 0.0, n_on=10, n_total=600, points=1000, record=2e-6,
                                   averages=max(n, 2) if n > 1 else 1)
            res[n] = np.std(v)  # no field: ⟨τz⟩ = 0, pure noise
        # std estimate of 1000 samples: relative SE 1/sqrt(2000) = 2.2 %; 4 SE ≈ 9 %,
        # plus WORD quantisation (1.2e-4 V, negligible); bounds ±15 %
        assert res[1] == pytest.approx(0.05, rel=0.15)
        assert res[16] == pytest.approx(0.05 / 4, rel=0.15)
    finally:
        lab.stop()


def test_lockin_sweep_sees_the_splitting():
    """χ''(ω) of grains with Δ0 = 10 kHz peaks at the zero-bias splitting 4Δ0 = 40 kHz."""
    lab = start_lab(single_grain_config(delta0=10e3, t_phi=1e-4))
    try:
        li = SR830(lab.resources["lockin"], **KW)
        li.sine_voltage = 0.1
        freqs = np.linspace(30e3, 50e3, 41)
        sweep = sweep_frequency(li, freqs, settle=0.0, sleep=lambda s: None)
        peak = freqs[np.argmax(np.abs(sweep.y))]
        assert peak == pytest.approx(40e3, abs=0.5e3)
        assert "SR830" in li.id
        li.shutdown()
        assert float(li.ask("SLVL?")) == pytest.approx(0.004)  # also waits for the write
    finally:
        lab.stop()


def test_lockin_eq7_response_through_the_driver():
    """response = "eq7": Y = V/τz · γ · h_rms · 8Δ0/(ω(ω² − 16Δ0²)^½) above the
    threshold ω = 4Δ0 (paper Eq. 7, A = 1), zero below (plus the lock-in's noise)."""
    d = default_config()
    d["model"]["ensemble"].update(delta0=10e3, bias=0.0, n_samples=4)
    d["model"]["detection"]["noise_rms"] = 0.0
    d["awg"]["volts_per_tesla"] = VOLTS_PER_TESLA
    d["lockin"]["response"] = "eq7"
    lab = start_lab(config_from_dict(d, "<test>"))
    try:
        li = SR830(lab.resources["lockin"], **KW)
        li.sine_voltage = 0.5
        sweep = sweep_frequency(li, [30e3, 50e3, 80e3], settle=0.0, sleep=lambda s: None)
        model = lab.config.model
        scale = (model.detection.volts_per_tau_z(model.ensemble)
                 * model.ensemble.moment_rad_per_tesla * 0.5 / VOLTS_PER_TESLA)
        d0 = TWO_PI * 10e3
        w = TWO_PI * np.array([50e3, 80e3])
        expected = scale * 8 * d0 / (w * np.sqrt(w ** 2 - 16 * d0 ** 2))
        assert sweep.y[0] == 0.0 and np.all(sweep.x == 0.0)
        np.testing.assert_allclose(sweep.y[1:], expected, rtol=1e-5)  # 6-digit replies
    finally:
        lab.stop()


def test_red_pitaya_acquisition_returns_the_field_step_trace():
    """The same closed form through the Red Pitaya driver (float32 block, CR LF)."""
    cfg = single_grain_config()
    cfg.digitizer_model = "redpitaya"
    lab = start_lab(cfg)
    try:
        gamma = cfg.model.ensemble.moment_rad_per_tesla
        delta = 2 * TWO_PI * 1.0e6
        code = round(delta / gamma * VOLTS_PER_TESLA / 2.5 * 32767)
        awg = Keysight33500B(lab.resources["awg"], **KW)
        rp = RedPitaya(lab.resources["digitizer"], visa_library="@py")
        assert rp.id.startswith("REDPITAYA")
        codes = np.zeros(40000, dtype=np.int16)
        codes[:30000] = code  # 120 µs of field, longer than the record
        ch = awg.ch_1
        ch.upload_dac("dcstep", codes)
        ch.configure_arb("dcstep", 250e6, amplitude_vpp=5.0)
        ch.configure_burst(1, "BUS")
        ch.output = True
        rp.configure(100e-6)  # decimation 1: 131 µs buffer at 125 MSa/s
        rp.arm()
        assert rp.check_errors() == [] and awg.check_errors() == []
        awg.trigger()
        assert rp.wait_complete(timeout=5.0, poll=0.01)
        t, v = rp.read_trace(1)
        eps = gamma * code / 32767 * 2.5 / VOLTS_PER_TESLA
        e2 = delta ** 2 + eps ** 2
        on = t < 100e-6
        expected = -(delta * eps / e2) * (1 - np.cos(2 * np.sqrt(e2) * t[on]))
        np.testing.assert_allclose(v[on], expected, atol=2e-3)  # engine max_error 1e-3
        assert t.size == 16384 and t[1] == pytest.approx(8e-9)
        rp.shutdown()
        awg.shutdown()
    finally:
        lab.stop()
