"""Quiet delays cost O(1) memory (issue 9 item 3): the fast engine's op table does not
grow with a delay's length, the repeated-row form is bitwise the explicit one, and a
simulation that would not fit the memory budget is refused before it allocates."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import sequences
from echo.engines import fast
from echo.memory import check_memory, estimate_bytes, parse_bytes
from echo.model import (
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Gaussian,
    Model,
    ModelError,
    OrnsteinUhlenbeck,
)
from echo.simulate import simulate


def _waited_hahn_text() -> str:
    """The library Hahn echo with ``delay(wait)`` before its first pulse."""
    from pathlib import Path

    src = (Path(sequences.__file__).parent / "library" / "hahn.seq").read_text()
    body = src[src.index("sequence hahn"):]
    return (body.replace("sequence hahn", "sequence waited_hahn\nparam wait = 1 us")
            .replace("\npulse(t90", "\ndelay(wait)\npulse(t90", 1))


WAITED = _waited_hahn_text()

ENS = Ensemble(Fixed(1e6), Gaussian(0.0, 0.2e6), spin=100, n_samples=64, seed=3)
NOISY = Environment(noise=(OrnsteinUhlenbeck(2e4, 2e-6),))
DET = Detection(sample_rate=100e6, reference_frequency=4e6)


def _table(schedule, env=NOISY, det=DET):
    from echo.detect import output_times

    times, _ = output_times(schedule, det)
    segs = schedule.segments()
    chunk = ENS.chunk(0)
    ou = [(2 * math.pi * p.sigma, p.tau_c) for p in env.noise]
    e_max = float(np.max(np.hypot(chunk.delta, chunk.bias)))
    h_cap = fast.noise_step(env, float(np.max(np.abs(chunk.delta))), schedule.duration, 1e-3)
    return fast._build_ops(segs, times, schedule.duration, "lab", 0.0, 0.27, h_cap, ou,
                           e_max, ENS.moment_rad_per_tesla), times


def test_op_table_does_not_grow_with_a_noisy_wait():
    seq = sequences.parse(WAITED)
    short, _ = _table(seq.bind(wait=1e-6, ideal=1))
    long_, _ = _table(seq.bind(wait=1.0, ideal=1))
    assert long_["ops"].size <= short["ops"].size + 2
    steps = np.where(long_["ops"] == 0, np.maximum(long_["ridx"], 1), 0).sum()
    assert steps > 1e6  # the noise is still integrated in small steps (many repeats)


def test_repeated_rows_equal_explicit_rows_bitwise():
    """A row repeated k times is exactly k explicit rows (same random stream order)."""
    from echo.engines._kernels import run_ops_serial

    sch = sequences.parse(WAITED).bind(wait=30e-6, ideal=1)
    ops, times = _table(sch)
    rep = np.where(ops["ops"] == 0, np.maximum(ops["ridx"], 1), 1)
    assert rep.max() > 1
    idx = np.repeat(np.arange(rep.size), rep)
    within = np.arange(idx.size) - np.repeat(np.cumsum(rep) - rep, rep)
    exp = {k: np.ascontiguousarray(v[idx]) for k, v in ops.items()}
    exp["t0"] = np.ascontiguousarray(ops["t0"][idx] + within * ops["dt"][idx])
    exp["ridx"] = np.where(exp["ops"] == 0, 0, exp["ridx"]).astype(np.int64)
    chunk = ENS.chunk(0)
    grains = fast._Grains(chunk, NOISY, "lab", "thermal", ENS.moment_rad_per_tesla, 0.0)
    w = np.ascontiguousarray(chunk.weight, float)

    def run(t):
        return run_ops_serial(t["ops"], t["t0"], t["dt"], t["u1"], t["v1"], t["u2"],
                              t["v2"], t["dflag"], t["ang"], t["cph"], t["sph"], t["ridx"],
                              t["ou_coef"], np.zeros(0), np.zeros(0), grains.A0, grains.P,
                              grains.Q, grains.N, grains.Xp, grains.Yp, grains.Oz,
                              grains.Ox, w, grains.r0, grains.diss, grains.M, grains.b, 12345,
                              0, 128, times.size, 1)

    np.testing.assert_array_equal(run(ops), run(exp))


@pytest.mark.parametrize("ideal, rtol", [(1, 1e-9), (0, 1e-4)])
def test_one_second_wait_runs_and_leaves_the_echo_unchanged(ideal, rtol):
    """Without relaxation the initial (ground) state is stationary: the echo after a 1 s
    wait is the echo after a 1 µs wait. Ideal pulses act in each grain's eigenbasis
    (same to rounding); real pulses see the carrier at another absolute time (4 MHz ×
    1 s is a whole number of cycles, so only the substep grid differs: 1e-4)."""
    seq = sequences.parse(WAITED)
    model = Model(ENS, Environment(), DET)
    a = simulate(seq, model, values={"wait": 1e-6, "ideal": ideal}, normalise=False)
    b = simulate(seq, model, values={"wait": 1.0, "ideal": ideal}, normalise=False)
    assert abs(a.amplitude[0]) > 0.05
    np.testing.assert_allclose(np.abs(b.amplitude), np.abs(a.amplitude), rtol=rtol)


def test_whole_shot_sampling_over_budget_is_refused_with_a_hint():
    # no window: the whole shot is sampled
    text = WAITED.replace('detect(window, label = "echo")', "delay(window)")
    sch = sequences.parse(text).bind(wait=1.0, ideal=1)
    with pytest.raises(ModelError, match="no detect.*window.*SPINECHO_MEMORY_BUDGET"):
        check_memory([sch], ENS, DET, budget=2**30)
    model = Model(ENS, Environment(), DET)
    with pytest.raises(ModelError, match="memory budget"):
        simulate(sch, model, memory_budget=2**30)


def test_budget_from_the_environment(monkeypatch):
    sch = sequences.parse(WAITED).bind(wait=1e-6, ideal=1)
    est = estimate_bytes([sch], ENS, DET)
    assert est["total"] < 200 * 2**20
    monkeypatch.setenv("SPINECHO_MEMORY_BUDGET", "1 KiB")
    with pytest.raises(ModelError, match="over the memory budget of 1 KiB"):
        simulate(sch, Model(ENS, Environment(), DET))
    monkeypatch.setenv("SPINECHO_MEMORY_BUDGET", "lots")
    with pytest.raises(ModelError, match="not a memory size"):
        simulate(sch, Model(ENS, Environment(), DET))
    assert parse_bytes("512MiB") == 2**29
    assert parse_bytes("8 GB") == 8e9


def test_noisy_wait_keeps_the_echo_statistics():
    """With OU noise a 30 µs wait must still give a finite echo (the repeated noise steps
    are integrated), and the same seed gives the same result (deterministic)."""
    seq = sequences.parse(WAITED)
    model = Model(replace(ENS, n_samples=32), NOISY, DET)
    v = {"wait": 30e-6, "ideal": 1}
    r1 = simulate(seq, model, values=v, normalise=False).amplitude
    r2 = simulate(seq, model, values=v, normalise=False).amplitude
    assert np.all(np.isfinite(r1)) and np.array_equal(r1, r2)


@pytest.mark.parametrize("values", [{"amp": 1e30}, {"f": 1e300}, {"amp": 1e308}])
def test_absurd_drive_is_refused_before_it_runs(values):
    """A field amplitude or carrier far too large for the pulse length: the estimate
    names the pulses; the engine itself refuses the substep count too."""
    seq = sequences.load("hahn")
    model = Model(ENS, Environment(), DET)
    with pytest.raises(ModelError, match="engine substeps"):
        simulate(seq, model, values=values)
    sch = seq.bind(**values)
    with pytest.raises(ModelError, match="engine substeps"):
        fast.simulate_chunk(sch, ENS.chunk(0), Environment(), np.array([0.0]), seed=1,
                            moment=ENS.moment_rad_per_tesla)


@pytest.mark.filterwarnings("ignore:detection window")  # 50 ns window: ⟨τz⟩ is compared
def test_output_samples_stay_distinct_after_a_long_wait():
    """After a 3000 s wait (near the 1 h shot cap) a 1 GSa/s echo record is the record
    after a 1 µs wait: edges are merged only within rounding noise of the shot length,
    never across neighbouring samples."""
    det = Detection(sample_rate=1e9, reference_frequency=4e6)
    model = Model(replace(ENS, n_samples=16), Environment(), det)
    seq = sequences.parse(WAITED)

    def record(wait):
        r = simulate(seq, model, values={"wait": wait, "ideal": 1, "window": 50e-9},
                     normalise=False, keep_tau_z=True)
        return r.dataset["tau_z"].values.ravel()

    short, long_ = record(1e-6), record(3000.0)
    # 2 phase steps × 50 samples; the echo oscillates in the window
    assert short.size == 100 and np.ptp(short) > 1e-3
    # times at 3000 s are resolved to 4.5e-13 s (one ulp): a phase error 2E·δt ~ 1e-5
    np.testing.assert_allclose(long_, short, atol=1e-4)


def test_a_hand_built_endless_noisy_schedule_is_refused():
    """A Schedule built by hand (no bind cap) with a 1e300 s quiet stretch and bias noise:
    a clear ModelError, not an int64 overflow or a run that never ends."""
    from sequences.schedule import Channel, DetectionWindow, Schedule

    sch = Schedule(channels=(Channel("rf", "field"), Channel("adc", "detector")),
                   windows=(DetectionWindow("adc", 1e300, 1e-6),), duration=1e300 + 1e-6)
    with pytest.raises(ModelError, match="bias-noise steps"):
        fast.simulate_chunk(sch, ENS.chunk(0), NOISY, np.array([0.0]), seed=1,
                            moment=ENS.moment_rad_per_tesla)
