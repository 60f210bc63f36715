"""Bad input to the fast engine and to simulate: errors name the field and the value."""

import math

import numpy as np
import pytest
from fixtures_fast import GAMMA, grains, run, schedule

from echo.engines import get_engine
from echo.model import Detection, Ensemble, Environment, Fixed, ModelError
from echo.simulate import simulate_schedules
from sequences import ScheduleError
from sequences.schedule import Channel, IdealPulse, Schedule

PULSE = {"start": 0.0, "duration": 0.2e-6, "amplitude": 1e-8, "frequency": 4e6}


def test_step_too_coarse_in_lab_frame_names_required_step():
    sch = schedule(1e-6, pulses=[PULSE])
    with pytest.raises(ModelError, match=r"dt: 5e-08 s is too coarse .* need dt <= "):
        run(sch, grains([1e7], [0.0]), [1e-6], dt=5e-8)


def test_negative_times_and_nan():
    bad = Schedule(channels=(Channel("rf", "field"),),
                   ideal_pulses=(IdealPulse("rf", -1e-7, math.pi),), duration=1e-6)
    ens = Ensemble(Fixed(1e6), Fixed(0.0), n_samples=2)
    with pytest.raises(ScheduleError, match="starts before t=0"):
        simulate_schedules([bad], ens, Environment(), Detection())
    with pytest.raises(ModelError, match="times: must be a 1-D array of finite times"):
        run(schedule(1e-6), grains([1e7], [0.0]), [np.nan])
    with pytest.raises(ModelError, match=r"output time -1e-07 s outside the shot"):
        run(schedule(1e-6), grains([1e7], [0.0]), [-1e-7])
    with pytest.raises(ModelError, match="ensemble.bias: non-finite grain value"):
        run(schedule(1e-6), grains([1e7], [np.nan]), [0.0])


def test_model_values():
    with pytest.raises(ModelError, match="ou.sigma: must be >= 0, got -1"):
        from echo.model import OrnsteinUhlenbeck

        OrnsteinUhlenbeck(-1, 1e-6)
    with pytest.raises(ModelError, match="engine: unknown engine 'warp'"):
        get_engine("warp")
    with pytest.raises(ModelError, match=r"fast engine option nsteps: unknown field \(allowed: "
                       r"block, carrier_phase, channel, dt, frame_frequency, noise_step\)"):
        run(schedule(1e-6), grains([1e7], [0.0]), [0.0], nsteps=3)
    with pytest.raises(ModelError, match="frame: must be 'lab' or 'rwa', got 'rotating'"):
        simulate_schedules([schedule(1e-6)], Ensemble(Fixed(1e6), Fixed(0.0)), Environment(),
                           Detection(), frame="rotating")


def test_rwa_warns_with_numbers_and_drops_baseband():
    """One RWA policy (docs/engines.md): both engines warn with the ratios, and both drop
    a baseband pulse with a warning (the fast engine used to refuse it)."""
    strong = dict(PULSE, amplitude=0.5 * 2 * math.pi * 4e6 / GAMMA)
    with pytest.warns(RuntimeWarning, match=r"RWA invalid .*rabi/carrier = 0\.5"):
        run(schedule(1e-6, pulses=[strong]), grains([2 * math.pi * 2e6], [0.0]), [1e-6],
            frame="rwa")
    base = dict(PULSE, frequency=0.0)
    with pytest.warns(RuntimeWarning, match="RWA drops baseband"):
        with_base = run(schedule(1e-6, pulses=[base]), grains([1e7], [0.0]), [1e-6],
                        frame="rwa")
    free = run(schedule(1e-6), grains([1e7], [0.0]), [1e-6], frame="rwa")
    np.testing.assert_allclose(with_base, free, rtol=0, atol=1e-12)


def test_big_chunk_is_subchunked_with_the_same_trajectories(monkeypatch):
    """A chunk larger than the sub-chunk size is simulated piecewise (bounded memory); each
    grain keeps its own noise stream, so only the summation order changes (≤ 1e-12)."""
    from echo.engines import fast
    from echo.model import OrnsteinUhlenbeck

    rng = np.random.default_rng(0)
    ch = grains(rng.normal(1e7, 1e6, 1000), rng.normal(0, 1e6, 1000))
    env = Environment(noise=(OrnsteinUhlenbeck(1e5, 1e-6),))
    sch = schedule(2e-6, ideal=[(0.0, math.pi / 2, 0.0), (1e-6, math.pi, 0.0)])
    t = np.linspace(1.8e-6, 2e-6, 5)
    whole = run(sch, ch, t, env)
    monkeypatch.setattr(fast, "_SUB_CHUNK", 300)
    parts = run(sch, ch, t, env)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-12)
    assert np.max(np.abs(whole)) > 1e-3  # a non-trivial signal


def test_wave_size_does_not_change_the_result_bitwise(monkeypatch):
    """Partial sums are added in global block order whatever the wave size."""
    from echo.engines import fast
    from echo.model import OrnsteinUhlenbeck

    rng = np.random.default_rng(1)
    ch = grains(rng.normal(1e7, 1e6, 2000), rng.normal(0, 1e6, 2000))
    env = Environment(noise=(OrnsteinUhlenbeck(1e5, 1e-6),))
    sch = schedule(2e-6, ideal=[(0.0, math.pi / 2, 0.0), (1e-6, math.pi, 0.0)])
    t = np.linspace(1.8e-6, 2e-6, 5)
    whole = run(sch, ch, t, env)
    monkeypatch.setattr(fast, "_WAVE_BYTES", 8 * t.size * 3)  # waves of 3 blocks
    assert np.array_equal(run(sch, ch, t, env), whole)
