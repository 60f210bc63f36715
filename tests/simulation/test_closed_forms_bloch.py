"""Bloch-equation closed forms for T1 and Tφ with finite rectangular pulses (reference
engine, rotating frame, exact within its ODE tolerance: atol 1e-12, rtol 1e-11 give
≲ 1e-8 on ⟨τz⟩, so the bound is 1e-7).

One grain, Δ/2π = 1 MHz, ε/2π = 0.5 MHz, driven through τz on resonance (carrier 2E):
Rabi frequency Ω = γ h0 |Δ/E|. Two phase-cycle steps with the pulse phase 0 and π: in the
rotating frame conjugation by σz' maps one onto the other (g → −g) and leaves σz', the
Lindblad terms and any diagonal initial state unchanged, so the steps have equal
populations z and opposite coherences. Hence (lab-frame ⟨τz⟩ = cos θ z − sin θ x_lab)

    mean of the steps = cos θ · z(t),       difference = −2 sin θ · x_lab(t).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.model import Environment
from sequences.units import K_B_OVER_HBAR

TWO_PI = 2 * math.pi
DELTA, BIAS = TWO_PI * 1e6, TWO_PI * 0.5e6
E = math.hypot(DELTA, BIAS)
COS, SIN = BIAS / E, DELTA / E
GAMMA = TWO_PI * 1e9
H0 = 1e-4
RABI = GAMMA * H0 * SIN
F_C = 2 * E / TWO_PI
TOL = 1e-7


def _driven(build, start, duration, total):
    pulse = dict(start=start, duration=duration, amplitude=H0, frequency=F_C,
                 phases=(0.0, math.pi))
    return build.schedule(total, pulses=[pulse], receiver=(0.5, 0.5))


def _run(reference, build, sch, env, times, initial="thermal"):
    s, w = reference.simulate_chunk(sch, build.chunk([DELTA], [BIAS]), env, times,
                                    frame="rwa", moment=GAMMA, seed=0, initial=initial)
    return s / w


def test_isotropic_decay_during_resonant_drive(reference, build):
    # Γ1 = Γ2 (Tφ = 2 T1) at infinite temperature: rotation and isotropic decay commute,
    # z(t) = −cos(Ω t) e^{−t/T1} exactly (Torrey's isotropic case).
    t1 = 4e-6
    env = Environment(t1=t1, t_phi=2 * t1, temperature=math.inf)
    sch = _driven(build, 0.0, 12e-6, 12e-6)
    t = np.linspace(0.0, 12e-6, 97)
    tz = _run(reference, build, sch, env, t, initial="ground")
    z = 0.5 * (tz[0] + tz[1]) / COS
    want = -np.cos(RABI * t) * np.exp(-t / t1)
    assert np.max(np.abs(z - want)) < TOL
    assert np.ptp(want) > 0.5


def test_driven_decay_with_pure_dephasing_only(reference, build):
    # Γ1 = 0, Γ2 = 1/Tφ: z'' + Γ2 z' + Ω² z = 0, z(0) = −1, z'(0) = 0 →
    # z = −e^{−Γ2 t/2}[cos Ω't + (Γ2/2Ω') sin Ω't], Ω' = (Ω² − Γ2²/4)^{1/2}.
    t_phi = 3e-6
    g2 = 1 / t_phi
    wp = math.sqrt(RABI**2 - g2**2 / 4)
    env = Environment(t_phi=t_phi)
    sch = _driven(build, 0.0, 12e-6, 12e-6)
    t = np.linspace(0.0, 12e-6, 97)
    tz = _run(reference, build, sch, env, t)
    z = 0.5 * (tz[0] + tz[1]) / COS
    want = -np.exp(-g2 * t / 2) * (np.cos(wp * t) + g2 / (2 * wp) * np.sin(wp * t))
    assert np.max(np.abs(z - want)) < TOL
    # the steady state of a dephased drive is z = 0: the oscillation is dying out
    assert abs(want[-1]) < 0.2


def test_free_induction_decays_with_t_phi(reference, build):
    # After a finite π/2 pulse the coherence precesses at 2E (= carrier) and decays as
    # e^{−t/Tφ}: x_lab(t + P) = e^{−P/Tφ} x_lab(t), P = 2π/2E, for every t after the pulse.
    t_phi = 2e-6
    env = Environment(t_phi=t_phi)
    t90 = math.pi / 2 / RABI
    sch = _driven(build, 0.1e-6, t90, 0.1e-6 + t90 + 4e-6)
    period = TWO_PI / (2 * E)
    t = 0.1e-6 + t90 + np.linspace(0.0, 3e-6, 61)
    both = np.concatenate([t, t + period])
    order = np.argsort(both)
    tz = _run(reference, build, sch, env, both[order])
    diff = np.empty_like(both)
    diff[order] = tz[0] - tz[1]
    d0, d1 = diff[:t.size], diff[t.size:]
    assert np.max(np.abs(d1 - math.exp(-period / t_phi) * d0)) < TOL
    assert np.max(np.abs(d0)) > 0.5  # a real coherence (2 sin θ ≈ 1.8 at most)
    # populations stay where the pulse left them (no T1)
    mean = 0.5 * (tz[0] + tz[1])
    assert np.ptp(mean) < TOL


def test_inversion_recovery_with_t1_at_temperature(reference, build):
    # After a finite π pulse: z(t) − z_eq = (z(t0) − z_eq) e^{−(t − t0)/T1},
    # z_eq = −tanh(E / k_B T) (detailed balance Γ↑/Γ↓ = e^{−2E/k_B T}).
    t1, temp = 20e-6, 1.5e-4
    z_eq = -math.tanh(E / (K_B_OVER_HBAR * temp))
    env = Environment(t1=t1, temperature=temp)
    tpi = math.pi / RABI
    sch = _driven(build, 0.0, tpi, tpi + 40e-6)
    t = tpi + np.linspace(0.0, 40e-6, 41)
    tz = _run(reference, build, sch, env, t)
    z = 0.5 * (tz[0] + tz[1]) / COS
    want = z_eq + (z[0] - z_eq) * np.exp(-(t - t[0]) / t1)
    assert np.max(np.abs(z - want)) < TOL
    # the π pulse really inverted the thermal state (|z_eq| ≈ 0.3 here)
    assert z[0] > 0.2 and z_eq < -0.2
    # and the thermal initial state is the Boltzmann one
    tz0 = _run(reference, build, sch, env, np.array([0.0]))
    assert 0.5 * (tz0[0, 0] + tz0[1, 0]) / COS == pytest.approx(z_eq, abs=1e-12)


def test_free_induction_decay_lab_frame(reference, build):
    # Lab frame, finite π/2 pulse (no RWA anywhere). After the pulse, with Tφ only,
    # ⟨τz⟩(t) = cos θ z + R e^{−t/Tφ} cos(2E t + ψ) with z constant, so for samples one
    # period P = π/E apart: d2 − d1 = e^{−P/Tφ} (d1 − d0), whatever z, R, ψ.
    t_phi = 2e-6
    t90 = math.pi / 2 / RABI
    pulse = dict(start=0.1e-6, duration=t90, amplitude=H0, frequency=F_C)
    sch = build.schedule(0.1e-6 + t90 + 4e-6, pulses=[pulse])
    period = math.pi / E
    t0 = 0.1e-6 + t90 + np.linspace(0.0, 3e-6, 41)
    both = np.concatenate([t0, t0 + period, t0 + 2 * period])
    order = np.argsort(both)
    s, w = reference.simulate_chunk(sch, build.chunk([DELTA], [BIAS]),
                                    Environment(t_phi=t_phi), both[order], moment=GAMMA,
                                    seed=0)
    d = np.empty_like(both)
    d[order] = s[0] / w
    d0, d1, d2 = d[:41], d[41:82], d[82:]
    assert np.max(np.abs((d2 - d1) - math.exp(-period / t_phi) * (d1 - d0))) < TOL
    assert np.max(np.abs(d1 - d0)) > 0.01  # the coherence decays visibly per period
