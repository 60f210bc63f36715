"""Seam test: engine → detection (echo.detect) → receiver weights (Schedule) → EchoResult.

The sign conventions of three packages must fit together: the ideal pulse of the Schedule
(right-handed rotation about the azimuth φ in the eigenbasis), the demodulation
z = 2 V exp(−i 2π f t) of :mod:`echo.detect` and the receiver weight exp(−iψ) of
:mod:`sequences.schedule`. Then the demodulated phase of a free-induction signal follows
the pulse phase with a PLUS sign, and a receiver list equal to the pulse phase list adds
the steps coherently. The 2-step [x, −x] and EXORCYCLE lists used elsewhere cannot see a
sign error (2φ ≡ −2φ for multiples of π/2, ±π ≡ ∓π); a quadrature list [x, y, −x, −y] can.

Closed form (one grain at zero bias, θ = π/2, ground state |−E⟩, Bloch vector −z'): an
ideal π/2 about azimuth φ at t_p gives r' = (−sin φ, cos φ, 0) in the eigenbasis, the
free precession about +z' at 2E turns it to x'(t) = −sin(2E(t − t_p) + φ), and
⟨τz⟩ = cos θ ⟨σz'⟩ − sin θ ⟨σx'⟩ = sin(2E(t − t_p) + φ). Demodulated at f = 2E/2π,
z(t) = 2V sin(2E(t − t_p) + φ) e^{−i2Et}, whose mean over a window holding whole periods
of 2E and 4E is −i V e^{i(φ − 2E t_p)}; V = volts_per_tau_z.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.model import Detection, Ensemble, Environment, Fixed
from echo.simulate import simulate_schedules
from sequences.schedule import Channel, DetectionWindow, IdealPulse, Schedule

TWO_PI = 2.0 * math.pi
DELTA0 = 1e6  # Hz: Δ = 2Δ0, 2E = 4Δ0 → 4 MHz at ε = 0
F = 4.0 * DELTA0  # Hz, the transition frequency 2E/2π
T_P = 0.1e-6  # s, time of the π/2 pulse (not 0: the carrier phase reference is absolute)
RATE = 400e6  # Sa/s: 100 samples per period of 2E, 50 per period of 4E
PHASES = (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi)  # x, y, −x, −y


def _schedule(receiver):
    return Schedule(
        channels=(Channel("coil", "field"), Channel("squid", "detector")),
        ideal_pulses=(IdealPulse("coil", T_P, 0.5 * math.pi, PHASES),),
        windows=(DetectionWindow("squid", 1e-6, 1e-6, "echo"),),  # 4 periods of 2E
        receiver=tuple(receiver), duration=2.1e-6)


def _run(receiver, engine):
    ens = Ensemble(delta0=Fixed(DELTA0), bias=Fixed(0.0), spin=100, n_samples=1)
    det = Detection(sample_rate=RATE, reference_frequency=F)
    res = simulate_schedules([_schedule(receiver)], ens, Environment(), det, engine=engine)
    return res, det.volts_per_tau_z(ens)


@pytest.mark.parametrize("engine,tol", [
    # fast: a quiet delay is one exact rotation, error = float rounding of 2E·t ≈ 50 rad
    ("fast", 1e-9),
    # qutip: ideal pulses exact, free evolution by the exact "diag" integrator
    ("qutip", 1e-7),
])
def test_quadrature_phase_cycle_adds_coherently(engine, tol):
    res, v = _run([complex(math.cos(p), -math.sin(p)) for p in PHASES], engine)
    ds = res.dataset
    t = np.asarray(ds["time"].values, float)
    two_e = TWO_PI * F
    for k, phi in enumerate(PHASES):
        want = 2 * v * np.sin(two_e * (t - T_P) + phi) * np.exp(-1j * two_e * t)
        got = np.asarray(ds["trace"].values[0, k])
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * v)
    want_amp = -1j * v * np.exp(-1j * two_e * T_P)
    assert abs(complex(ds["amplitude"].values[0]) - want_amp) < tol * v


def test_wrong_receiver_sign_cancels_the_signal():
    """The opposite convention, weight exp(+iψ), sums e^{2iφ_k} over x, y, −x, −y: zero."""
    res, v = _run([complex(math.cos(p), math.sin(p)) for p in PHASES], "fast")
    ds = res.dataset
    assert abs(complex(ds["amplitude"].values[0])) < 1e-9 * v
