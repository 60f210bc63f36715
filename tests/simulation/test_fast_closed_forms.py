"""Fast engine vs exact single-grain closed forms (no randomness).

Tolerances: the propagators are exact for piecewise-constant Hamiltonians, so these
agree to round-off (1e-12 absolute on ⟨τz⟩ ∈ [−1, 1], allowing ~1e4 rotations × 1e-16);
the lab-frame carrier test is limited by the Magnus substep error (max_error 1e-7 →
carrier_phase 0.011 rad, global error ~ (0.011)^4 · ω T ≈ 1e-6)."""

import math

import numpy as np
import pytest
import scipy.constants
from fixtures_fast import GAMMA, TWO_PI, grains, run, schedule
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from echo.model import Environment

SX = np.array([[0, 1], [1, 0]], complex)
SZ = np.array([[1, 0], [0, -1]], complex)


def p_flip_formula(delta, eps, t):
    e = math.hypot(delta, eps)
    return 1 - 2 * (delta / e) ** 2 * np.sin(e * t) ** 2


@pytest.mark.parametrize("frame", ["lab", "rwa"])
def test_free_precession_from_up(frame):
    delta, eps = TWO_PI * 2e6, TWO_PI * 1.3e6
    sch = schedule(3e-6)
    t = np.linspace(0, 3e-6, 257)
    tz = run(sch, grains([delta], [eps]), t, initial="up", frame=frame)[0]
    np.testing.assert_allclose(tz, p_flip_formula(delta, eps, t), atol=1e-12)


def test_baseband_pulse_exact_2x2():
    """A baseband rect field pulse shifts ε by γh: ⟨τz⟩ from the exact 2×2 propagators
    U = exp(−iHt) of the three constant pieces (before, during, after the pulse)."""
    delta, eps, h = TWO_PI * 1e6, TWO_PI * 0.4e6, 2e-8
    p = {"start": 0.4e-6, "duration": 0.5e-6, "amplitude": h, "frequency": 0.0}
    sch = schedule(1.5e-6, pulses=[p])
    t = np.linspace(0, 1.5e-6, 151)
    tz = run(sch, grains([delta], [eps]), t, initial="up")[0]
    h0 = delta * SX + eps * SZ
    h1 = h0 + GAMMA * h * SZ
    psi0 = np.array([1, 0], complex)
    want = []
    for ti in t:
        if ti <= 0.4e-6:
            u = expm(-1j * h0 * ti)
        elif ti <= 0.9e-6:
            u = expm(-1j * h1 * (ti - 0.4e-6)) @ expm(-1j * h0 * 0.4e-6)
        else:
            u = expm(-1j * h0 * (ti - 0.9e-6)) @ expm(-1j * h1 * 0.5e-6) @ expm(-1j * h0 * 0.4e-6)
        psi = u @ psi0
        want.append(abs(psi[0]) ** 2 - abs(psi[1]) ** 2)
    np.testing.assert_allclose(tz, want, atol=1e-11)


@pytest.mark.parametrize("t_pulse", [50e-9, 125e-9, 333e-9])
def test_rwa_resonant_rabi(t_pulse):
    """ε = 0, resonant carrier ω = 2Δ, RWA: in the eigenbasis (x' = −τz at ε = 0) the τz
    drive is −(γh0/2)σx', a rotation by −ΩT about x' (Ω = γh0, Δ/E = 1): from the ground
    state y_rot = −sin(ΩT), so ⟨τz⟩(t) = −sin θ·(x cos ωt − y sin ωt) = −sin(ΩT) sin(ωt)."""
    delta = TWO_PI * 2e6
    omega = 2 * delta
    rabi = TWO_PI * 2e6
    h0 = rabi / GAMMA
    p = {"start": 0.0, "duration": t_pulse, "amplitude": h0, "frequency": omega / TWO_PI}
    sch = schedule(1e-6, pulses=[p])
    t = np.linspace(t_pulse, 1e-6, 50)
    with pytest.warns(RuntimeWarning, match="RWA invalid"):  # Ω = ω/2 here
        tz = run(sch, grains([delta], [0.0]), t, frame="rwa")[0]
    np.testing.assert_allclose(tz, -np.sin(rabi * t_pulse) * np.sin(omega * t), atol=1e-12)


def test_lab_carrier_pulse_vs_ode():
    """Lab frame, carrier pulse on a detuned grain, vs scipy's DOP853 on the Bloch
    equations (rtol 1e-12): independent integrator."""
    delta, eps = TWO_PI * 1.7e6, TWO_PI * 0.9e6
    f = 4e6
    h0 = TWO_PI * 1.5e6 / GAMMA
    p = {"start": 0.1e-6, "duration": 0.3e-6, "amplitude": h0, "frequency": f,
         "phases": (0.7,)}
    sch = schedule(0.6e-6, pulses=[p])
    t = np.linspace(0, 0.6e-6, 61)
    tz = run(sch, grains([delta], [eps]), t, initial="up", max_error=1e-7)[0]

    def rhs(tt, r):
        h = h0 * math.cos(TWO_PI * f * tt + 0.7) if 0.1e-6 <= tt < 0.4e-6 else 0.0
        a = np.array([delta, 0.0, eps + GAMMA * h])
        return 2 * np.cross(a, r)

    r = np.array([0.0, 0.0, 1.0])
    want = [1.0]
    for t0, t1 in zip(t[:-1], t[1:], strict=True):
        bounds = [t0, t1]
        for edge in (0.1e-6, 0.4e-6):
            if t0 < edge < t1:
                bounds.insert(-1, edge)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            r = solve_ivp(rhs, (a, b), r, method="DOP853", rtol=1e-12, atol=1e-13).y[:, -1]
        want.append(r[2])
    np.testing.assert_allclose(tz, want, atol=2e-6)


@pytest.mark.parametrize("frame", ["lab", "rwa"])
def test_t1_tphi_free_relaxation(frame):
    """T1 at temperature T and Tφ: from |↑⟩, z' → z_eq + (cos θ − z_eq) e^{−t/T1},
    x' = −sin θ e^{−t/T2} cos 2Et, 1/T2 = 1/(2T1) + 1/Tφ; ⟨τz⟩ = cos θ z' − sin θ x'."""
    delta, eps = TWO_PI * 1e6, TWO_PI * 0.6e6
    t1, tphi, temp = 2e-6, 3e-6, 1e-4
    env = Environment(t1=t1, t_phi=tphi, temperature=temp)
    e = math.hypot(delta, eps)
    s, c = delta / e, eps / e
    zeq = -math.tanh(e / (scipy.constants.k / scipy.constants.hbar * temp))
    t = np.linspace(0, 5e-6, 201)
    tz = run(schedule(5e-6), grains([delta], [eps]), t, env, initial="up", frame=frame)[0]
    t2 = 1 / (1 / (2 * t1) + 1 / tphi)
    zp = zeq + (c - zeq) * np.exp(-t / t1)
    xp = -s * np.exp(-t / t2) * np.cos(2 * e * t)
    np.testing.assert_allclose(tz, c * zp - s * xp, atol=1e-11)



@pytest.mark.parametrize("temperature", [None, math.inf])
def test_t1_relaxes_to_the_bath_temperature(temperature):
    """Environment.temperature None means T → 0: from |↑⟩ the eigenbasis polarisation
    relaxes to the ground state, z' = −1 + (cos θ + 1) e^{−t/T1}; math.inf means an
    unpolarised bath, z' = cos θ e^{−t/T1}. Coherences decay at 1/(2T1) either way."""
    delta, eps, t1 = TWO_PI * 1e6, TWO_PI * 0.6e6, 2e-6
    env = Environment(t1=t1, temperature=temperature)
    e = math.hypot(delta, eps)
    s, c = delta / e, eps / e
    zeq = -1.0 if temperature is None else 0.0
    t = np.linspace(0, 8e-6, 161)
    tz = run(schedule(8e-6), grains([delta], [eps]), t, env, initial="up")[0]
    zp = zeq + (c - zeq) * np.exp(-t / t1)
    xp = -s * np.exp(-t / (2 * t1)) * np.cos(2 * e * t)
    np.testing.assert_allclose(tz, c * zp - s * xp, atol=1e-11)

def test_isotropic_damping_during_rect_pulse():
    """T2 = T1 (1/Tφ = 1/(2T1)), T = ∞ (z_eq = 0): the Bloch generator is a rotation
    minus r/T1, so during a constant (baseband) pulse ⟨τz⟩ = e^{−t/T1}·(exact unitary)."""
    delta, eps, h = TWO_PI * 1e6, TWO_PI * 0.3e6, 1e-8
    t1 = 1e-6
    env = Environment(t1=t1, t_phi=2 * t1, temperature=math.inf)
    p = {"start": 0.0, "duration": 2e-6, "amplitude": h, "frequency": 0.0}
    t = np.linspace(0, 2e-6, 101)
    tz = run(schedule(2e-6, pulses=[p]), grains([delta], [eps]), t, env, initial="up")[0]
    want = np.exp(-t / t1) * p_flip_formula(delta, eps + GAMMA * h, t)
    np.testing.assert_allclose(tz, want, atol=1e-11)


def test_rwa_rabi_with_isotropic_damping():
    """Same isotropic damping during a resonant RWA rect pulse: −sin(ΩT) sin(ωT) e^{−T/T1}."""
    delta = TWO_PI * 2e6
    omega, rabi, t_pulse, t1 = 2 * delta, TWO_PI * 0.2e6, 0.8e-6, 1e-6
    env = Environment(t1=t1, t_phi=2 * t1, temperature=math.inf)
    p = {"start": 0.0, "duration": t_pulse, "amplitude": rabi / GAMMA,
         "frequency": omega / TWO_PI}
    t = np.array([t_pulse])
    tz = run(schedule(1e-6, pulses=[p]), grains([delta], [0.0]), t, env, frame="rwa",
             initial="ground")[0]
    want = -np.exp(-t_pulse / t1) * np.sin(rabi * t_pulse) * np.sin(omega * t_pulse)
    np.testing.assert_allclose(tz, want, atol=1e-12)


def test_measurement_backaction_damped_oscillation():
    """ε = 0, Lindblad √κ τz (unconditional): z'' + 2κ z' + 4Δ² z = 0 from |↑⟩, so
    ⟨τz⟩ = e^{−κt}(cos Ωt + (κ/Ω) sin Ωt), Ω = sqrt(4Δ² − κ²)."""
    delta, kappa = TWO_PI * 0.5e6, 1.5e6
    env = Environment(measurement_rate=kappa)
    t = np.linspace(0, 3e-6, 151)
    tz = run(schedule(3e-6), grains([delta], [0.0]), t, env, initial="up")[0]
    om = math.sqrt(4 * delta**2 - kappa**2)
    want = np.exp(-kappa * t) * (np.cos(om * t) + kappa / om * np.sin(om * t))
    np.testing.assert_allclose(tz, want, atol=1e-11)


def test_quiet_delay_cost_is_independent_of_length():
    """A noise-free delay is one step whatever its length (O(1) cost)."""
    from echo.engines.fast import count_steps

    for tau in (1e-6, 1e-3):
        sch = schedule(2 * tau, ideal=[(0.0, math.pi / 2, 0.0), (tau, math.pi, 0.0)])
        n = count_steps(sch, grains([1e7], [1e6]), Environment(), np.array([2 * tau]))
        assert n == 2


def test_fine_output_grid_late_in_a_long_shot():
    """Output samples 1 ns apart after 1 ms: the steps between them differ by rounding of
    the absolute times (cached rotation + second-order correction). The phase E t ≈ 8e4
    rad carries ~1e-11 rad of float rounding, hence the 1e-9 tolerance."""
    delta, eps = TWO_PI * 2e6, TWO_PI * 1.3e6
    t = 1e-3 + np.arange(300) * 1e-9
    tz = run(schedule(1.001e-3), grains([delta], [eps]), t, initial="up")[0]
    np.testing.assert_allclose(tz, p_flip_formula(delta, eps, t), atol=1e-9)
