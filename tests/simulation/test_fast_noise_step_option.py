"""The fast engine's ``noise_step`` option (a bias-noise step fixed by the caller, as a fit
freezes it) and per-point engine options of echo.simulate."""

import math

import numpy as np
import pytest

from echo.engines import fast
from echo.model import (
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Gaussian,
    GrainChunk,
    ModelError,
    OrnsteinUhlenbeck,
)
from echo.simulate import simulate_schedules
from sequences.model import Sequence

ENV = Environment(noise=(OrnsteinUhlenbeck(3e4, 2e-6),))
CHUNK = GrainChunk(0, np.full(6, 1e6), np.linspace(-2e5, 2e5, 6), np.ones(6))


def _hahn(tau=3e-6):
    return Sequence.load("hahn").bind(tau=tau, ideal=1)


def _rule(schedule):
    return fast.noise_step(ENV, float(np.max(np.abs(CHUNK.delta))), schedule.duration, 1e-3)


def test_noise_step_equal_to_the_rule_changes_nothing():
    """Given the engine's own noise step, the op table and the random numbers are the
    same: bitwise the same sums."""
    s = _hahn()
    t = np.linspace(0, s.duration, 7)
    kw = dict(seed=5, moment=0.0, initial="ground")
    a, _ = fast.simulate_chunk_batches(s, CHUNK, ENV, t, **kw)
    b, _ = fast.simulate_chunk_batches(s, CHUNK, ENV, t, noise_step=_rule(s), **kw)
    assert np.array_equal(a, b)


def test_noise_step_sets_the_step_count_of_quiet_stretches():
    """A quiet shot of length T is cut into ceil(T/h) noise steps of the given h, whatever
    σ and τc are (a fit's op table must not move with them)."""
    s = _hahn()
    t = np.array([0.0, s.duration])
    h = s.duration / 37.5
    n = fast.count_steps(s, CHUNK, ENV, t, noise_step=h)
    n_rule = fast.count_steps(s, CHUNK, ENV, t)
    segs = s.segments(step=0)
    ideal = segs.start[(segs.duration == 0) & (segs.ideal_angle != 0)]
    edges = np.unique(np.concatenate([[0.0, s.duration], ideal, t]))
    assert n == int(np.sum(np.ceil(np.diff(edges) / h - 1e-9)))  # ceil(stretch / h) each
    assert n != n_rule
    env2 = Environment(noise=(OrnsteinUhlenbeck(9e4, 0.5e-6),))
    assert fast.count_steps(s, CHUNK, env2, t, noise_step=h) == n


def test_noise_step_without_noise_is_ignored_and_bad_values_refused():
    s = _hahn()
    t = np.array([0.0, s.duration])
    assert fast.count_steps(s, CHUNK, Environment(), t, noise_step=1e-9) == \
        fast.count_steps(s, CHUNK, Environment(), t)
    with pytest.raises(ModelError, match="noise_step"):
        fast.simulate_chunk_batches(s, CHUNK, ENV, t, seed=1, moment=0.0, noise_step=-1e-9)


def test_point_options_apply_per_point_and_are_checked():
    """simulate_schedules(point_options=[...]): point p gets its own options; equal to
    the engine's own step they reproduce the plain run bitwise; a wrong length or a bad
    option is an error naming it."""
    ens = Ensemble(delta0=Fixed(1e6), bias=Gaussian(0.0, 2e5), spin=100, n_grains=1e9,
                   n_samples=12, seed=2)
    det = Detection(flux_per_moment=1e-13, sample_rate=1e8, reference_frequency=4e6)
    sch = [_hahn(2e-6), _hahn(4e-6)]
    plain = simulate_schedules(sch, ens, ENV, det, initial="ground")
    d_perp = float(np.max(np.abs(ens.chunk(0).delta)))  # ideal pulses: no drive term
    rules = [fast.noise_step(ENV, d_perp, s.duration, 1e-3) for s in sch]
    same = simulate_schedules(sch, ens, ENV, det, initial="ground",
                              point_options=[{"noise_step": h} for h in rules])
    assert np.array_equal(plain.amplitude, same.amplitude)
    coarse = simulate_schedules(sch, ens, ENV, det, initial="ground",
                                point_options=[{}, {"noise_step": 4 * rules[1]}])
    assert coarse.amplitude[0] == plain.amplitude[0]
    assert coarse.amplitude[1] != plain.amplitude[1]
    with pytest.raises(ModelError, match="point_options"):
        simulate_schedules(sch, ens, ENV, det, point_options=[{}])
    with pytest.raises(ModelError, match="noise_step"):
        simulate_schedules(sch, ens, ENV, det, point_options=[{}, {"noise_step": 0.0}])
    assert math.isfinite(rules[0])


def test_option_noise_step_reproduces_the_engines_own_step_with_drive():
    """fast.option_noise_step (what a fit freezes) given the grains' max|Δ| and the
    strongest drive γ·max|amp| of a shot with real (driven) pulses is the engine's own
    noise step: bitwise the same sums; a larger value is not."""
    ens = Ensemble(delta0=Fixed(1e6), bias=Gaussian(0.0, 2e5), spin=100, n_grains=1e9,
                   n_samples=6, seed=2)
    chunk = ens.chunk(0)
    gamma = ens.moment_rad_per_tesla
    s = Sequence.load("hahn").bind(tau=2e-6)
    amp = max(abs(p.amplitude) for p in s.pulses)
    assert amp > 0
    t = np.linspace(0, s.duration, 5)
    h = fast.option_noise_step(ENV, float(np.max(np.abs(chunk.delta))), abs(gamma) * amp,
                               s.duration, 1e-3)
    kw = dict(seed=3, moment=gamma, initial="ground")
    own, _ = fast.simulate_chunk_batches(s, chunk, ENV, t, **kw)
    given, _ = fast.simulate_chunk_batches(s, chunk, ENV, t, noise_step=h, **kw)
    assert np.array_equal(own, given)
    coarse, _ = fast.simulate_chunk_batches(s, chunk, ENV, t, noise_step=1.5 * h, **kw)
    assert not np.array_equal(own, coarse)
