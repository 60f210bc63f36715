"""Seam test: `ideal = 1` in the sequence language (sequences.bind) vs the engines.

An ideal rotation replaces a finite pulse at its centre t_c. The engines rotate about the
azimuth φ in each grain's static eigenbasis (lab frame); a finite pulse h = A cos(ωt + φ)
acts, in the frame rotating at ω, about an axis fixed by φ alone. The substitution
must therefore use the carrier phase at the centre, φ + ω t_c, or the rotating-frame axes
of successive ideal pulses differ by ω Δt_c and the echo phase turns with τ (e^{−2iωτ}
for a Hahn echo) — a complex τ sweep would be unusable.

Closed form: one grain at zero bias, Δ0 = 1 MHz (2E = 4 MHz = the carrier), ground state
−z', Hahn [π/2]_x – τ – [π]_x with rotating-frame axes both along x: r_rot = (0, −1, 0)
after the π pulse and no further evolution in the resonant frame; in the lab frame
x' = sin ωt, ⟨τz⟩ = −sin ωt, demodulated z = 2V(−sin ωt)e^{−iωt}, window mean = iV
(whole periods of ω and 2ω). The 2-step cycle ([x, −x] on the π/2 and the receiver)
keeps iV. Every τ gives the same number.
"""

from __future__ import annotations

import pytest

import sequences
from echo.model import Detection, Ensemble, Environment, Fixed
from echo.simulate import simulate_schedules


@pytest.mark.parametrize("tau", [2e-6, 2e-6 + 31.25e-9, 2e-6 + 62.5e-9, 2.3e-6 + 7e-9])
def test_ideal_hahn_echo_phase_does_not_turn_with_tau(tau):
    sch = sequences.load("hahn").bind(tau=tau, ideal=1)
    assert len(sch.ideal_pulses) == 2 and not sch.pulses
    ens = Ensemble(delta0=Fixed(1e6), bias=Fixed(0.0), spin=100, n_samples=1)
    det = Detection(sample_rate=1e9, reference_frequency=4e6)
    res = simulate_schedules([sch], ens, Environment(), det, engine="fast")
    v = det.volts_per_tau_z(ens)
    # exact rotations and float rounding of ω t ≈ 1e2 rad: 1e-9 relative
    assert abs(complex(res.amplitude[0]) - 1j * v) < 1e-9 * v
