"""Shared fixtures of the engine validation suite (owner: E-ref).

Schedules are built directly as :class:`sequences.schedule.Schedule` objects (no DSL), and
grains directly as :class:`echo.model.GrainChunk` (Δ, ε in rad/s), so every test states
exactly what it simulates. The closed forms used by several test modules live here as
plain functions exposed through the ``closed`` fixture.
"""

from __future__ import annotations

import importlib
import math
import types

import numpy as np
import pytest
from scipy.linalg import expm

from echo.model import GrainChunk
from sequences.schedule import Channel, DetectionWindow, IdealPulse, Pulse, Schedule

TWO_PI = 2.0 * math.pi
CHANNELS = (Channel("coil", "field"), Channel("squid", "detector"))


# ----------------------------------------------------------------------- builders
def make_schedule(duration, pulses=(), ideal=(), receiver=(1.0,), windows=()):
    """A schedule on field channel "coil". ``ideal`` = [(time, angle, phases), ...],
    ``pulses`` = [Pulse(...)] or dicts of Pulse keyword arguments."""
    ps = tuple(p if isinstance(p, Pulse) else Pulse(channel="coil", **p) for p in pulses)
    ips = tuple(IdealPulse("coil", float(t), float(a), tuple(ph)) for t, a, ph in ideal)
    wins = tuple(DetectionWindow("squid", s, d, label) for s, d, label in windows)
    sch = Schedule(channels=CHANNELS, pulses=ps, ideal_pulses=ips, windows=wins,
                   receiver=tuple(receiver), duration=float(duration))
    sch.check()
    return sch


def echo_train(tau, n_pi, *, pi_phase, readout=True, n_steps=1):
    """Ideal π/2_x — (τ — π — τ) × n — [π/2_x read-out at the echo].

    Hahn: n_pi = 1 with ``pi_phase`` 0 (π about x'); CPMG-n: π about y' (π/2), pulses
    at τ, 3τ, …, (2n−1)τ, echo at 2nτ. The read-out π/2 about x' maps the y' component
    of the echo onto σz', so that the lab-frame ⟨τz⟩ right after it is
    cos θ · y' − sin θ · x' (x' averages to zero for a symmetric noise)."""
    def ph(p):
        return (p,) * n_steps

    ideal = [(0.0, math.pi / 2, ph(0.0))]
    for k in range(n_pi):
        ideal.append(((2 * k + 1) * tau, math.pi, ph(pi_phase)))
    t_echo = 2 * n_pi * tau
    if readout:
        ideal.append((t_echo, math.pi / 2, ph(0.0)))
    return make_schedule(t_echo * 1.001 + 1e-12, ideal=ideal,
                         receiver=(1.0,) * n_steps), t_echo


def chunk(delta, bias, weight=None, index=0):
    delta = np.atleast_1d(np.asarray(delta, float))
    bias = np.atleast_1d(np.asarray(bias, float))
    delta, bias = np.broadcast_arrays(delta, bias)
    w = np.ones(delta.size) if weight is None else np.asarray(weight, float)
    return GrainChunk(index, delta.copy(), bias.copy(), w)


# ------------------------------------------------------------------- closed forms
def ou_phase_variance(edges, signs, sigma, tau_c):
    """⟨φ²⟩ for φ = Σ_i s_i ∫_{I_i} x(t) dt, x an OU process (σ in rad/s, correlation
    σ² e^{−|t|/τc}), intervals I_i = [edges[i], edges[i+1]] — exact double integrals:
    same interval of length L: 2τc²(L/τc − 1 + e^{−L/τc}); disjoint [a,b] ≤ [c,d]:
    τc²(e^{−(c−b)/τc} − e^{−(d−b)/τc} − e^{−(c−a)/τc} + e^{−(d−a)/τc})."""
    edges = np.asarray(edges, float)
    n = len(signs)
    total = 0.0
    for i in range(n):
        a, b = edges[i], edges[i + 1]
        for j in range(n):
            c, d = edges[j], edges[j + 1]
            if i == j:
                x = (b - a) / tau_c
                k = 2 * tau_c**2 * (x - 1 + math.exp(-x))
            else:
                (a1, b1), (c1, d1) = ((a, b), (c, d)) if b <= c else ((c, d), (a, b))
                k = tau_c**2 * (math.exp(-(c1 - b1) / tau_c) - math.exp(-(d1 - b1) / tau_c)
                                - math.exp(-(c1 - a1) / tau_c) + math.exp(-(d1 - a1) / tau_c))
            total += signs[i] * signs[j] * k
    return sigma**2 * total


def gaussian_echo_decay(edges, signs, sigma, tau_c, coupling):
    """⟨cos φ⟩ = exp(−⟨φ²⟩/2) for Gaussian noise, φ = coupling · ∫ y(t) δε(t) dt."""
    return math.exp(-0.5 * coupling**2 * ou_phase_variance(edges, signs, sigma, tau_c))


def telegraph_echo_decay(edges, signs, amplitude, rate):
    """⟨exp(i v ∫ y(t) ξ(t) dt)⟩ for a symmetric telegraph ξ = ±1 flipping at ``rate`` out
    of each state, started stationary; v = ``amplitude`` (rad/s). Exact: the conditional
    characteristic functions p± obey p' = (M + i v y Z) p, M = γ[[−1, 1], [1, −1]],
    Z = diag(1, −1), p(0) = (½, ½); the answer is p+ + p− at the end (product of 2×2
    matrix exponentials over the piecewise-constant filter y)."""
    m = rate * np.array([[-1.0, 1.0], [1.0, -1.0]])
    z = np.diag([1.0, -1.0])
    p = np.array([0.5, 0.5], complex)
    for i, s in enumerate(signs):
        p = expm((m + 1j * amplitude * s * z) * (edges[i + 1] - edges[i])) @ p
    return complex(p.sum())


def telegraph_fid(t, amplitude, rate):
    """Textbook free-induction decay under telegraph noise:
    e^{−γt}[cosh μt + (γ/μ) sinh μt], μ = (γ² − v²)^{1/2} (complex below γ < v)."""
    mu = np.sqrt(complex(rate**2 - amplitude**2))
    if abs(mu) < 1e-300:
        return math.exp(-rate * t) * (1 + rate * t)
    return (np.exp(-rate * t) * (np.cosh(mu * t) + rate / mu * np.sinh(mu * t))).real


def odd_bessel_sum(x):
    """Σ_{k≥0} J_{2k+1}(x) by direct summation (independent of echo.theory)."""
    from scipy.special import jv
    x = np.asarray(x, float)
    kmax = int(np.max(np.abs(x), initial=0.0)) + 60
    return sum(jv(2 * k + 1, x) for k in range(kmax))


@pytest.fixture(scope="session")
def closed():
    return types.SimpleNamespace(
        ou_phase_variance=ou_phase_variance,
        gaussian_echo_decay=gaussian_echo_decay,
        telegraph_echo_decay=telegraph_echo_decay,
        telegraph_fid=telegraph_fid,
        odd_bessel_sum=odd_bessel_sum,
    )


@pytest.fixture(scope="session")
def build():
    return types.SimpleNamespace(schedule=make_schedule, echo_train=echo_train, chunk=chunk)


@pytest.fixture(scope="session")
def reference():
    return importlib.import_module("echo.engines.reference")


def fast_engine_or_skip():
    """The fast engine module; skip only while it does not exist yet."""
    try:
        return importlib.import_module("echo.engines.fast")
    except ModuleNotFoundError as exc:
        if exc.name == "echo.engines.fast":
            pytest.skip("echo.engines.fast does not exist yet")
        raise


@pytest.fixture(scope="session")
def fast():
    return fast_engine_or_skip()
