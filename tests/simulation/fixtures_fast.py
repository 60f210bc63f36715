"""Helpers of the fast-engine tests (owner: E-fast): schedules built directly from the
Schedule dataclasses, grains directly as GrainChunks (Δ, ε in rad/s)."""

from __future__ import annotations

import math

import numpy as np
from scipy.constants import hbar, physical_constants

from echo.engines import fast
from echo.model import Environment, GrainChunk
from sequences.schedule import Channel, DetectionWindow, IdealPulse, Pulse, Schedule

TWO_PI = 2.0 * math.pi
MU_B = physical_constants["Bohr magneton"][0]  # J/T
GAMMA = 2.0 * 100 * MU_B / hbar  # g μB S / ħ for S = 100, g = 2
CH = (Channel("rf", "field"), Channel("adc", "detector"))


def schedule(duration, pulses=(), ideal=(), windows=(), receiver=(1.0,)):
    """``ideal``: [(time, angle, phase)]; ``pulses``: dicts of Pulse fields."""
    n = len(receiver)
    ps = tuple(Pulse(channel="rf", **{**p, "phases": tuple(p.get("phases", (0.0,) * n))})
               for p in pulses)
    ips = tuple(IdealPulse("rf", t, a, (ph,) * n) for t, a, ph in ideal)
    ws = tuple(DetectionWindow("adc", s, d, lab) for s, d, lab in windows)
    s = Schedule(channels=CH, pulses=ps, ideal_pulses=ips, windows=ws,
                 receiver=tuple(complex(r) for r in receiver), duration=float(duration))
    s.check()
    return s


def grains(delta, bias, weight=None):
    delta = np.atleast_1d(np.asarray(delta, float))
    bias = np.broadcast_to(np.asarray(bias, float), delta.shape).copy()
    w = np.ones_like(delta) if weight is None else np.asarray(weight, float)
    return GrainChunk(0, delta, bias, w)


def run(sch, ch, times, env=None, **kw):
    """Ensemble-mean ⟨τz⟩ (n_steps, n_t) from the fast engine."""
    kw.setdefault("seed", 12345)
    kw.setdefault("moment", GAMMA)
    tz, w = fast.simulate_chunk(sch, ch, env or Environment(), np.asarray(times, float), **kw)
    return tz / w
