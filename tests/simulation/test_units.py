"""docs/units.md: γ with numbers, the Rabi frequency of a τz drive (weak-drive Ω_R = γh0|Δ|/E
and the Bessel correction 2J1(z)/z, z = 2γh0(ε/E)/ω) measured with the fast engine in the
lab frame, and the spin must be an integer or half-integer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import curve_fit
from scipy.special import j1

from echo.model import Detection, Ensemble, Environment, Fixed, ModelError
from echo.rules import GrainTable
from echo.simulate import simulate_schedules
from sequences.schedule import Channel, DetectionWindow, Pulse, Schedule

TWO_PI = 2 * math.pi
CH = (Channel("coil", "field"), Channel("squid", "detector"))


def test_gamma_number():
    # CODATA 2018, written out here: μB/ħ = 9.2740100783e-24 / 1.054571817e-34
    ens = Ensemble(Fixed(1e6), Fixed(0.0), g=2.0, spin=100)
    assert ens.moment_rad_per_tesla == pytest.approx(1.75882e13, rel=1e-5)
    assert ens.moment_rad_per_tesla / TWO_PI == pytest.approx(2.79925e12, rel=1e-5)


@pytest.mark.parametrize("spin", [100.3, 0.25])
def test_spin_must_be_integer_or_half_integer(spin):
    with pytest.raises(ModelError, match="ensemble.spin: must be an integer or a half"):
        Ensemble(Fixed(1e6), Fixed(0.0), spin=spin)
    Ensemble(Fixed(1e6), Fixed(0.0), spin=100.5)  # half-integer: allowed (Δ = 0)


@pytest.mark.parametrize("z, tol", [(0.1, 1e-4), (0.5, 1e-4), (1.0, 3e-4), (2.0, 2e-3)])
def test_rabi_frequency_bessel_correction(z, tol):
    """One grain, E/2π = 2 MHz, Δ/E = 0.05, resonant drive ω = 2E: the engine's nutation
    of ⟨σz'⟩ has Ω = Ω_R·2J1(z)/z (measured ratios 1.00000, 0.99999, 0.99992, 0.99903;
    the residual grows with Ω_R/ω = 0.0025 … 0.05: Bloch–Siegert and higher orders)."""
    energy, sin_t = TWO_PI * 2e6, 0.05
    delta, eps = energy * sin_t, energy * math.sqrt(1 - sin_t ** 2)
    ens = Ensemble(grains=GrainTable((delta / (2 * TWO_PI),), (eps / TWO_PI,)))
    gam, w = ens.moment_rad_per_tesla, 2 * energy
    h0 = z * w / (2 * gam * eps / energy)
    omega_r = gam * h0 * sin_t
    t_end = 4 * TWO_PI / omega_r
    sch = Schedule(channels=CH, pulses=(Pulse("coil", 0.0, t_end, h0, frequency=w / TWO_PI),),
                   windows=(DetectionWindow("squid", 0.0, t_end),), duration=t_end)
    r = simulate_schedules([sch], ens, Environment(), Detection(sample_rate=400 / t_end),
                           observables=True, max_error=1e-6)
    sz = r.dataset["bloch_eigen"].values[0, 0, 2]
    want = omega_r * 2 * j1(z) / z
    (amp, om), _ = curve_fit(lambda t, a, o: -1 + a * (1 - np.cos(o * t)), r.times, sz,
                             p0=[1.0, want])
    assert abs(abs(om) / want - 1) < tol
    if z <= 1.0:  # the weak-drive formula alone is off by the Bessel factor
        assert abs(abs(om) / omega_r - 2 * j1(z) / z) < tol
