"""Property test: whatever the schedule and the limits, a compiled program never
exceeds the DAC range or a safety limit, never clips silently, and every refusal is a
genuine violation (value beyond its limit)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from instruments.compiler import DAC_MAX, compile
from instruments.errors import LimitViolation
from instruments.lab import parse_lab
from sequences.schedule import Channel, DetectionWindow, Pulse, Schedule

CHANNELS = (Channel("coil", "field"), Channel("det", "detector"))


@st.composite
def scenarios(draw):
    n_steps = draw(st.integers(1, 3))
    rate = draw(st.sampled_from([50e6, 100e6, 250e6]))
    pulses = []
    cursor = 0.0
    for _ in range(draw(st.integers(0, 3))):
        start = cursor + draw(st.integers(0, 500)) * 1e-9
        dur = draw(st.integers(5, 1500)) * 1e-9
        shape = draw(st.sampled_from(["rect", "gauss", "hann"]))
        freq = draw(st.sampled_from([0.0, 1e6, 7.5e6, 20e6, 40e6]))
        amp = draw(st.floats(-4e-3, 4e-3, allow_nan=False))
        phases = tuple(draw(st.floats(0, 2 * math.pi)) for _ in range(n_steps))
        pulses.append(Pulse("coil", start, dur, amp, shape, freq, phases))
        cursor = start + dur
    duration = cursor + draw(st.integers(0, 1000)) * 1e-9 + 1e-9
    windows = ()
    if draw(st.booleans()):
        windows = (DetectionWindow("det", duration / 2, duration / 4),)
    schedule = Schedule(channels=CHANNELS, pulses=tuple(pulses), windows=windows,
                        receiver=tuple([1.0] * n_steps), duration=duration)
    limits = {"max_amplitude_v": draw(st.floats(0.2, 5.0)),
              "max_duty_cycle": draw(st.floats(0.01, 1.0)),
              "max_pulse_energy": 10 ** draw(st.floats(-9, -5))}
    awg = {"driver": "instruments.drivers.awg:Keysight33500B",
           "resource": "TCPIP::127.0.0.1::5025::SOCKET", "sample_rate": rate,
           "volts_per_tesla": 1000.0, "full_scale_v": draw(st.floats(0.5, 5.0)),
           "dac_bits": draw(st.sampled_from([14, 16]))}
    return schedule, parse_lab({"limits": limits, "awg": awg})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_compiled_program_within_dac_range_and_limits(scenario):
    schedule, lab = scenario
    awg, lim = lab.awg, lab.limits
    try:
        prog = compile(schedule, lab)
    except LimitViolation as exc:
        event(f"refused: {exc.constraint}")
        assert exc.instrument == "awg"
        assert exc.value is not None and exc.limit is not None
        if exc.constraint == "dac_resolution" or (exc.constraint == "sample_rate"
                                                  and exc.value < exc.limit):
            assert exc.value < exc.limit
        else:
            assert exc.value > exc.limit, str(exc)
        return
    event("compiled")
    rate, n = prog.sample_rate, prog.n_points
    lsb_v = awg.full_scale_v * 2 ** (16 - awg.dac_bits) / DAC_MAX
    i = np.arange(n)
    on = [p for p in schedule.pulses if p.amplitude != 0]
    for k in range(schedule.n_steps):
        codes = prog.field.codes(k)
        assert codes.dtype == np.int16 and codes.size == n
        assert int(np.max(np.abs(codes.astype(np.int32)))) <= DAC_MAX
        volts = codes.astype(float) / DAC_MAX * awg.full_scale_v
        assert np.max(np.abs(volts)) <= lim.max_amplitude_v
        # no silent clipping: the DAC plays the requested voltage within one step
        wanted = np.zeros(n)
        m = int(math.floor(schedule.duration * rate + 1e-9))
        wanted[:m] = schedule.sample(rate, "coil", k) * awg.volts_per_tesla
        assert np.max(np.abs(volts - wanted)) <= lsb_v * (0.5 + 1e-9) + 1e-12
        for p in on:
            mask = (i >= p.start * rate - 1e-9) & (i < p.stop * rate - 1e-9)
            energy = float(np.sum(volts[mask] ** 2)) / rate
            assert energy <= lim.max_pulse_energy
    duty = sum(p.duration for p in on) / (n / rate)  # pulses never overlap here
    assert duty <= lim.max_duty_cycle * (1 + 1e-12)
