"""Fast engine under bias noise vs exact results (pure-dephasing regime, ideal pulses).

One grain species Δ = 2π·1.5 MHz, ε = 2π·3 MHz (E ≫ σ, 1/τc): the bias noise couples to
the eigen-coherence through cos θ = ε/E, so its phase is Φ = 2 cos θ ∫ s(t) δε(t) dt
(s = ±1 the toggling sign of the echo sequence). Ideal π/2 and π pulses about y'
(Hahn) or π/2 about y' and π about x' (CPMG) refocus the static part; at the echo time
⟨τz⟩ = ∓ sin θ ⟨cos Φ⟩. Monte Carlo over N independent trajectories: the bound is 4
standard errors of cos Φ, from its exact variance, plus 2e-3 for the neglected
transverse-noise terms (relative size (σ sin θ/E)² ~ 1e-4) and the noise step rule."""

import math

import numpy as np
import pytest
from fixtures_fast import TWO_PI, grains, run, schedule
from scipy.linalg import expm

from echo.model import Environment, OrnsteinUhlenbeck, Telegraph

DELTA, EPS = TWO_PI * 1.5e6, TWO_PI * 3e6
E = math.hypot(DELTA, EPS)
SIN, COS = DELTA / E, EPS / E
N = 6000


def _ou_block(a, b, c, d, tc):
    """∫_a^b ∫_c^d exp(−|t − t'|/τc) dt dt' for b <= c, or a = c, b = d."""
    if a == c and b == d:
        x = (b - a) / tc
        return 2 * tc * tc * (x - 1 + math.exp(-x))
    return tc * tc * (math.exp(-(c - b) / tc) - math.exp(-(d - b) / tc)
                      - math.exp(-(c - a) / tc) + math.exp(-(d - a) / tc))


def ou_phase_variance(edges, signs, sigma, tc):
    """Var Φ for Φ = 2 cos θ Σ_i s_i ∫_{I_i} δε, δε OU(σ, τc): exact Gaussian result."""
    v = 0.0
    for i in range(len(signs)):
        for j in range(len(signs)):
            a, b = edges[i], edges[i + 1]
            c, d = edges[j], edges[j + 1]
            if j < i:
                a, b, c, d = c, d, a, b
            v += signs[i] * signs[j] * _ou_block(a, b, c, d, tc)
    return 4 * COS**2 * sigma**2 * v


def bound(mean_cos, var_phi):
    """4 standard errors of the mean of cos Φ (Φ Gaussian) + systematic allowance."""
    e2 = 0.5 * (1 + math.exp(-2 * var_phi))
    return 4 * math.sqrt(max(e2 - mean_cos**2, 0.0) / N) + 2e-3


@pytest.mark.parametrize("tau", [0.5e-6, 1.5e-6, 3e-6])
def test_hahn_ou_klauder_anderson(tau):
    sigma, tc = TWO_PI * 60e3, 1e-6
    env = Environment(noise=(OrnsteinUhlenbeck(60e3, tc),))
    sch = schedule(2 * tau, ideal=[(0.0, math.pi / 2, math.pi / 2), (tau, math.pi, math.pi / 2)])
    ch = grains(np.full(N, DELTA), EPS)
    tz = run(sch, ch, [2 * tau], env, seed=7)[0, 0]
    var = ou_phase_variance([0, tau, 2 * tau], [1, -1], sigma, tc)
    want = math.exp(-var / 2)
    assert 0.2 < want < 0.99  # sensitive: a visible, not total, decay
    assert abs(-tz / SIN - want) < bound(want, var)


@pytest.mark.parametrize("n_pi", [2, 4])
def test_cpmg_ou_filter_function(n_pi):
    sigma, tc, tau = TWO_PI * 60e3, 0.3e-6, 0.75e-6
    env = Environment(noise=(OrnsteinUhlenbeck(60e3, tc),))
    ideal = [(0.0, math.pi / 2, math.pi / 2)]
    ideal += [((2 * k + 1) * tau, math.pi, 0.0) for k in range(n_pi)]
    t_echo = 2 * n_pi * tau
    sch = schedule(t_echo, ideal=ideal)
    tz = run(sch, grains(np.full(N, DELTA), EPS), [t_echo], env, seed=11)[0, 0]
    edges = [0.0] + [(2 * k + 1) * tau for k in range(n_pi)] + [t_echo]
    signs = [(-1) ** k for k in range(n_pi + 1)]
    var = ou_phase_variance(edges, signs, sigma, tc)
    want = math.exp(-var / 2)
    assert 0.2 < want < 0.99
    assert abs(tz / SIN - want) < bound(want, var)


def telegraph_echo(b_phase, rate, tau):
    """⟨cos Φ⟩ for the Hahn echo under ±b telegraph noise (each state left at ``rate``),
    exact: transfer matrices exp[(K ± i v Z) τ] on the two noise states."""
    k = np.array([[-rate, rate], [rate, -rate]], complex)
    z = np.diag([1.0, -1.0]).astype(complex)
    m = expm((k - 1j * b_phase * z) * tau) @ expm((k + 1j * b_phase * z) * tau)
    return float(np.real(np.ones(2) @ m @ np.array([0.5, 0.5])))


@pytest.mark.parametrize("tau", [1e-6, 2.5e-6])
def test_hahn_telegraph_exact(tau):
    b, rate = 120e3, 3e5
    env = Environment(noise=(Telegraph(b, rate),))
    sch = schedule(2 * tau, ideal=[(0.0, math.pi / 2, math.pi / 2), (tau, math.pi, math.pi / 2)])
    tz = run(sch, grains(np.full(N, DELTA), EPS), [2 * tau], env, seed=5)[0, 0]
    v = 2 * COS * TWO_PI * b
    want = telegraph_echo(v, rate, tau)
    assert 0.1 < want < 0.95
    # cos Φ ∈ [−1, 1]: variance ≤ (1 − want²)/... bounded by E[cos²] ≤ 1
    se = math.sqrt((1 - want**2) / N)
    assert abs(-tz / SIN - want) < 4 * se + 2e-3


def test_noise_free_echo_is_exactly_refocused():
    sch = schedule(4e-6, ideal=[(0.0, math.pi / 2, math.pi / 2), (2e-6, math.pi, math.pi / 2)])
    tz = run(sch, grains([DELTA], EPS), [4e-6])[0, 0]
    assert abs(-tz / SIN - 1) < 1e-12
