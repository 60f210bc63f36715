"""One home per convention (issue 10): the carrier, the echo window, the field channel,
demodulation and the phase-cycle sum are the Schedule's / echo.detect's, and every layer
(the engines, the measurement procedure, the fits) reads them from there."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from sequences import parse
from sequences.errors import ScheduleError
from sequences.schedule import Channel, DetectionWindow, Pulse, Schedule
from sequences.units import angular

# the reproduction: a silent (amp = 0) 3 MHz pulse before the 4 MHz drive
SILENT_FIRST = """
sequence silent_first
channel rf : field(full_scale = 1 uT)
channel adc : detector
pulse(1 us, amp = 0, freq = 3 MHz)
pulse(100 ns, amp = 0.5, freq = 4 MHz, label = "p90")
delay(1 us)
detect(1 us, label = "echo")
"""


@pytest.fixture(scope="module")
def silent_first():
    return parse(SILENT_FIRST).bind()


def test_carrier_is_the_first_pulse_that_plays(silent_first):
    assert silent_first.pulses[0].frequency == 3e6 and silent_first.pulses[0].amplitude == 0
    assert silent_first.carrier() == 4e6
    assert silent_first.reference_frequency() == 4e6  # no f_ref parameter


def test_measurement_compare_and_engines_use_one_carrier(silent_first):
    """The reproduction: the procedure demodulated at 3 MHz, compare simulated at 4 MHz."""
    from echo.engines import fast, reference
    from echo.fit.compare import _carrier
    from instruments.readout import reference_frequency

    assert reference_frequency(silent_first) == 4e6
    assert _carrier(SimpleNamespace(schedules=[silent_first])) == 4e6
    assert fast._frame_frequency(silent_first, {}) == pytest.approx(angular(4e6))
    assert reference._carrier(silent_first, None) == pytest.approx(angular(4e6))


def test_carrier_in_time_order_and_on_the_field_channel():
    chans = (Channel("a", "field"), Channel("b", "field"), Channel("adc", "detector"))
    late = Pulse("a", 2e-6, 1e-7, 0.5, frequency=5e6)
    early = Pulse("a", 1e-6, 1e-7, 0.5, frequency=4e6)
    other = Pulse("b", 0.0, 1e-7, 0.5, frequency=7e6)
    s = Schedule(chans, pulses=(late, other, early), duration=3e-6)
    assert s.carrier("a") == 4e6  # time order, not list order
    assert s.carrier("b") == 7e6
    with pytest.raises(ScheduleError, match="2 field channels"):
        s.carrier()
    assert Schedule((Channel("adc", "detector"),), duration=1e-6).carrier() == 0.0
    assert Schedule((Channel("adc", "detector"),), duration=1e-6).field_channel() is None


def test_echo_window_rule():
    adc = (Channel("adc", "detector"),)
    w0 = DetectionWindow("adc", 0.0, 1e-7, "ref")
    w1 = DetectionWindow("adc", 2e-7, 1e-7, "echo")
    assert Schedule(adc, windows=(w0, w1), duration=1e-6).echo_window() == 1
    assert Schedule(adc, windows=(w0,), duration=1e-6).echo_window() == 0
    assert Schedule(adc, duration=1e-6).echo_window() == -1


def test_f_ref_parameter_and_bad_value():
    s = parse(SILENT_FIRST.replace("channel rf", "param f_ref = 3.9 MHz\nchannel rf")).bind()
    assert s.reference_frequency() == 3.9e6
    assert s.reference_frequency(None) == 4e6
    from dataclasses import replace

    with pytest.raises(ScheduleError, match="reference parameter 'f_ref'"):
        replace(s, params=(("f_ref", math.nan),)).reference_frequency()


def test_demodulation_and_phase_cycle_closed_form():
    """2cos(ωt+φ)·e^{−iωt} averages to e^{iφ} over whole periods; receiver (1, −1) on
    (z, −z) gives z; f = 0 → V; None → raw trace."""
    from echo.detect import demodulate, echo_amplitude, phase_cycle, window_means

    f = 4e6
    t = np.arange(1000) * 1e-9  # 4 periods per µs, 1000 samples = 4 whole periods
    v = np.cos(2 * np.pi * f * t + 0.3)
    z = demodulate(v, t, f)
    assert z.mean() == pytest.approx(np.exp(0.3j), abs=1e-12)
    np.testing.assert_array_equal(demodulate(v, t, 0.0), v.astype(complex))
    np.testing.assert_array_equal(demodulate(v, t, None), v.astype(complex))
    np.testing.assert_allclose(phase_cycle(np.stack([z, -z]), (1, -1)), z)
    adc = (Channel("adc", "detector"),)
    sched = Schedule(adc, windows=(DetectionWindow("adc", 5e-7, 5e-7, "echo"),
                                   DetectionWindow("adc", 0.0, 5e-7, "a")), duration=1e-6)
    widx = np.where(t < 5e-7, 1, 0)
    assert echo_amplitude(z, widx, sched) == pytest.approx(z[t >= 5e-7].mean())
    np.testing.assert_allclose(window_means(z, widx, sched),
                               [z[t < 5e-7].mean(), z[t >= 5e-7].mean()])


def test_docs_conventions_name_an_owner_that_exists():
    """docs/conventions.md lists every shared convention with its one owner; each owner
    named there is importable (the page cannot drift from the code)."""
    import importlib
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "conventions.md").read_text()
    rows = [r.split("|")[1:-1] for r in doc.splitlines() if r.startswith("| ")][1:]
    names = {r[0].strip() for r in rows}
    for needed in ("carrier", "field channel", "echo window", "reference frequency",
                   "demodulation", "phase-cycle sum", "model dotted paths", "errors",
                   "configuration files", "RWA policy", "engine front end"):
        assert needed in names, needed
    owners = [m for r in rows for m in re.findall(r"`([a-z_]+(?:\.[A-Za-z_]+)+)", r[2])]
    assert len(owners) >= 15
    for dotted in owners:
        parts = dotted.split(".")
        for k in range(len(parts), 0, -1):  # the longest importable module prefix
            try:
                obj = importlib.import_module(".".join(parts[:k]))
            except ImportError:
                continue
            for attr in parts[k:]:
                obj = getattr(obj, attr)
            break
        else:
            raise AssertionError(dotted)
