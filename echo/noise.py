"""Bias-noise trajectories δε(t) (rad/s) sampled exactly on a time grid.

* Ornstein–Uhlenbeck (σ, τc; σ in Hz): stationary start δε(0) ~ N(0, σ²), then the exact
  update δε(t + h) = ρ δε(t) + σ sqrt(1 − ρ²) ξ, ρ = e^{−h/τc}, for any step h.
  :func:`ou_step` also gives the exact joint update of the integral ∫δε dt over the step
  (used by the fast engine; see :mod:`echo.engines.fast`).
* Random telegraph (±b, each state left at rate γ; b in Hz): stationary random start
  sign, exponential waiting times; :func:`telegraph_trajectories` returns the value at
  each grid time, :func:`telegraph_integrals` the exact integral over each grid interval.
* :func:`bias_noise` sums all processes of an :class:`echo.model.Environment`.

Arrays are (n_trajectories, n_times). Generators are numpy ``Generator`` objects, so the
streams are reproducible from a seed.
"""

from __future__ import annotations

import math

import numpy as np

from echo.model import Environment, ModelError, OrnsteinUhlenbeck, Telegraph
from sequences.units import angular

__all__ = ["ou_step", "ou_trajectories", "telegraph_trajectories", "telegraph_integrals",
           "bias_noise"]


def _grid(times) -> np.ndarray:
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ModelError("times: need a non-empty 1-D array of finite times (s)")
    if t[0] < 0 or np.any(np.diff(t) < 0):
        raise ModelError("times: must be >= 0 and non-decreasing")
    return t


def ou_step(h, sigma: float, tau_c: float) -> dict[str, np.ndarray]:
    """Exact OU update coefficients over steps ``h`` (s) for σ in rad/s:
    δε' = rho·δε + s1·ξ1 and I = ∫δε = ib·δε + c·ξ1 + s2·ξ2 (ξ independent N(0, 1))."""
    from echo.engines.fast import _ou_coefficients

    coef = _ou_coefficients(np.atleast_1d(np.asarray(h, float)), float(sigma), float(tau_c))
    return {k: coef[:, i] for i, k in enumerate(("rho", "s1", "ib", "c", "s2"))}


def ou_trajectories(rng: np.random.Generator, sigma_hz: float, tau_c: float, times,
                    n: int) -> np.ndarray:
    """``n`` stationary OU trajectories (rad/s) at ``times`` (exact, any spacing)."""
    OrnsteinUhlenbeck(sigma_hz, tau_c)  # validates
    t = _grid(times)
    sigma = angular(float(sigma_hz))
    out = np.empty((n, t.size))
    out[:, 0] = sigma * rng.standard_normal(n)
    rho = np.exp(-np.diff(t) / tau_c)
    amp = sigma * np.sqrt(-np.expm1(-2.0 * np.diff(t) / tau_c))
    for i in range(1, t.size):
        out[:, i] = rho[i - 1] * out[:, i - 1] + amp[i - 1] * rng.standard_normal(n)
    return out


def _telegraph_switches(rng, rate, t_end, n):
    """Per trajectory: initial sign and sorted switching times in [0, t_end]."""
    signs = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    switches = []
    for _ in range(n):
        if rate <= 0:
            switches.append(np.zeros(0))
            continue
        k = rng.poisson(rate * t_end) if t_end > 0 else 0
        switches.append(np.sort(rng.uniform(0.0, t_end, k)))
    return signs, switches


def telegraph_trajectories(rng: np.random.Generator, amplitude_hz: float, rate: float,
                           times, n: int) -> np.ndarray:
    """``n`` telegraph trajectories ±b (rad/s) at ``times``. Switching events form a
    Poisson process of rate γ (each state left at rate γ), drawn exactly on [0, t_max]."""
    Telegraph(amplitude_hz, rate)
    t = _grid(times)
    b = angular(float(amplitude_hz))
    signs, sw = _telegraph_switches(rng, rate, float(t[-1]), n)
    out = np.empty((n, t.size))
    for j in range(n):
        flips = np.searchsorted(sw[j], t, side="right")
        out[j] = b * signs[j] * np.where(flips % 2 == 0, 1.0, -1.0)
    return out


def telegraph_integrals(rng: np.random.Generator, amplitude_hz: float, rate: float, times,
                        n: int) -> np.ndarray:
    """Exact ∫δε dt (rad) of ``n`` telegraph trajectories over each interval of ``times``
    (shape (n, len(times) − 1))."""
    Telegraph(amplitude_hz, rate)
    t = _grid(times)
    b = angular(float(amplitude_hz))
    signs, sw = _telegraph_switches(rng, rate, float(t[-1]), n)
    out = np.empty((n, t.size - 1))
    for j in range(n):
        # cumulative integral F(t) of the sign function at the grid times
        edges = np.concatenate([[0.0], sw[j], [math.inf]])
        seg_sign = signs[j] * np.where(np.arange(edges.size - 1) % 2 == 0, 1.0, -1.0)
        cum = np.concatenate([[0.0], np.cumsum(seg_sign[:-1] * np.diff(edges[:-1]))])
        k = np.searchsorted(edges, t, side="right") - 1
        f = cum[k] + seg_sign[k] * (t - edges[k])
        out[j] = b * np.diff(f)
    return out


def bias_noise(environment: Environment, rng: np.random.Generator, times,
               n: int) -> np.ndarray:
    """Sum of all bias-noise processes of ``environment`` at ``times`` (rad/s)."""
    t = _grid(times)
    out = np.zeros((n, t.size))
    for p in environment.noise:
        if isinstance(p, OrnsteinUhlenbeck):
            out += ou_trajectories(rng, p.sigma, p.tau_c, t, n)
        elif isinstance(p, Telegraph):
            out += telegraph_trajectories(rng, p.amplitude, p.rate, t, n)
    return out
