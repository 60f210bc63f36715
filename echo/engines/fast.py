"""The fast engine: exact piecewise propagators, vectorised over grains (numba).

Physics: exactly that of ``notes/ENGINE.md`` (H = Δ τx + (ε + δε(t)) τz + γ h(t) τ_d, ħ = 1,
rad/s), integrated on the Bloch vector r of each grain (ρ = (1 + r·τ)/2), which holds mixed
(thermal) states and Lindblad dissipation alike.

Time stepping. The Schedule's piecewise-constant view (:meth:`Schedule.segments`) is cut
into an op table shared by all grains of a chunk (kernels in :mod:`echo.engines._kernels`):

* A segment without drive and without noise is ONE step, whatever its length: the exact
  propagator is a rotation about 2a = 2(Δ, 0, ε) by 2E·dt (or the exact exponential of the
  affine Bloch generator when T1/Tφ/back-action are on) — a quiet delay costs O(1).
* Drive segments with a carrier (lab frame), or whose carrier differs from the frame
  frequency (RWA), are split into substeps over which the *fastest angular frequency*
  ω_fast = max(ω_carrier, 2E_max, 2γh0) advances by at most ``carrier_phase`` rad
  (default min(0.5, 1.5·max_error^(1/4)): 0.27 rad for max_error = 1e-3, 0.047 for 1e-6).
  On each substep the propagator is the fourth-order Magnus (two-point Gauss–Legendre)
  exponential: its error per substep is O((ω_fast dt)^5), globally O((ω_fast dt)^4) ∝
  max_error. Measured against an adaptive ODE solver (rtol 1e-13) on a strongly driven,
  detuned grain (Rabi/carrier ≈ 0.4): max |Δ⟨τz⟩| = 2.1e-5 at max_error 1e-3, 2.4e-8 at
  1e-6, i.e. ≈ max_error/45. Forcing ``dt`` larger than carrier_phase/ω_fast in
  the lab frame is an error that names the required step.
* Bias noise. OU (σ, τc; Hz → rad/s): per step h the exact joint Gaussian update of δε and
  of its integral I = ∫δε dt conditioned on δε(t) (ρ = e^{−h/τc}; Var δε' = σ²(1−ρ²);
  Cov(δε', I) = σ²τc(1−ρ)²; Var I = σ²τc²(2x − 3 + 4ρ − ρ²), x = h/τc, by series for
  small x). Telegraph (±b, each state left at rate γ): exact exponential switching times
  per grain, so its integral over every step is exact. The grain then sees the constant
  bias noise I/h over the step: the accumulated phase is exact in the pure-dephasing limit
  (noise commuting with H); the residual error comes from the non-commutation with the
  transverse part Δ_⊥ (Δ, or the RWA drive) and is a random-signed second-order Magnus
  term, ≈ (1/6) Δ_⊥ σ h² (T/τc)^{1/2} accumulated over a shot T. The noise step is
      h_noise = min(τc, sqrt(6·max_error/(Δ_⊥ σ)) · (T/τc)^{−1/4})
  (σ the total rms noise, τc the shortest correlation time, 1/(2γ) for telegraph), or the
  user's ``dt`` if smaller. Noise trajectories start stationary at t = 0, independent per
  grain, phase-cycle step, chunk and sweep point (seeded by ``seed``).
* Ideal pulses are exact instantaneous rotations about each grain's eigen-axes. At equal
  times an ideal pulse is applied before an output sample is taken.

Frames. ``frame="lab"``: exact (up to the substep error above). ``frame="rwa"``: each grain
in its eigenbasis rotating at the drive carrier ω (the first carrier pulse of the Schedule,
or engine option ``frame_frequency`` in Hz): H = (E − ω/2) σz' + (γ h0 d⊥/2)(cos φ σx' +
sin φ σy') + cos θ δε σz'; counter-rotating and longitudinal drive terms and the transverse
(secular-averaged) part of the bias noise are dropped; measurement back-action becomes the
secular dephasing 2κcos²θ + κsin²θ (transverse) and 2κ sin²θ (longitudinal). ⟨τz⟩ is
rotated back analytically: ⟨τz⟩ = cos θ ⟨σz'⟩ − sin θ (x cos ωt − y sin ωt). A
RuntimeWarning gives the numbers when max γh0|Δ/E| or max|2E − ω| exceeds 0.1·ω.

Output: Σ_grains weight·⟨τz⟩(t) per phase step at the requested times (memory O(grains +
times): the kernel keeps partial sums of fixed blocks of grains for one wave of blocks at a
time, summed in order, so results are deterministic whatever the thread count).
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace

import numpy as np

from echo.engines.frontend import RunSettings, check_rwa, engine_settings
from echo.model import (
    Environment,
    GrainChunk,
    ModelError,
    OrnsteinUhlenbeck,
    Telegraph,
)
from sequences.errors import ScheduleError
from sequences.units import K_B_OVER_HBAR, angular

__all__ = ["simulate_chunk", "simulate_chunk_batches", "noise_step", "option_noise_step",
           "default_carrier_phase",
           "warm_up", "BLOCH_COMPONENTS"]

_SQ3 = math.sqrt(3.0)
_PARALLEL_MIN_WORK = 2_000_000  # grain-ops below which the serial kernel is used
_SUB_CHUNK = 1 << 17  # grains simulated at once (memory bound within a big chunk)
_WAVE_BYTES = 64 << 20  # partial-sum buffer of the kernel (bytes)


def default_carrier_phase(max_error: float) -> float:
    """Carrier phase per substep (rad) used for a requested ``max_error``."""
    return min(0.5, 1.5 * max_error ** 0.25)


def noise_step(environment: Environment, delta_perp: float, duration: float,
               max_error: float) -> float:
    """The noise step rule of the module docstring (s); inf without noise."""
    sig2 = 0.0
    tau_min = math.inf
    for p in environment.noise:
        if isinstance(p, OrnsteinUhlenbeck):
            if p.sigma > 0:
                sig2 += angular(p.sigma) ** 2
                tau_min = min(tau_min, p.tau_c)
        elif isinstance(p, Telegraph):
            if p.amplitude > 0:
                sig2 += angular(p.amplitude) ** 2
                if p.rate > 0:
                    tau_min = min(tau_min, 0.5 / p.rate)
    if sig2 == 0:
        return math.inf
    sigma = math.sqrt(sig2)
    if delta_perp <= 0:
        return tau_min
    tau_ref = min(tau_min, max(duration, 1e-300))
    h = math.sqrt(6.0 * max_error / (delta_perp * sigma)) * (max(duration, tau_ref)
                                                            / tau_ref) ** -0.25
    return min(tau_min, h)


def option_noise_step(environment: Environment, delta_max: float, drive_max: float,
                      duration: float, max_error: float, frame: str = "lab") -> float:
    """The value of the ``noise_step`` option (s) that reproduces this engine's own noise
    step for a shot of ``duration`` whose grains have max|Δ| = ``delta_max`` (rad/s) and
    whose strongest drive term is γ·max|amp| = ``drive_max`` (rad/s) — what a fit freezes
    (``echo.fit.model_fit.frozen_steps``). Here the option is the step of every segment,
    so it is the rule at Δ_⊥ = Δ (lab frame; none in the RWA) + the drive. inf without
    noise."""
    d_perp = (delta_max if frame == "lab" else 0.0) + drive_max
    return noise_step(environment, d_perp, duration, max_error)


def _ou_coefficients(h: np.ndarray, sigma: float, tau: float) -> np.ndarray:
    """(n, 6): ρ, s1, ib, c, s2, σ for the exact OU update over steps h (see doc)."""
    x = h / tau
    rho = np.exp(-x)
    one_m_rho = -np.expm1(-x)
    var1 = -np.expm1(-2.0 * x)  # (1 − ρ²), per σ²
    # f(x) = 2x − 3 + 4e^{−x} − e^{−2x}: series Σ_{n≥3} (−1)^n (4 − 2^n) x^n / n! for small x
    f = np.empty_like(x)
    small = x < 0.1
    xs = x[small]
    acc = np.zeros_like(xs)
    fact = 6.0
    for n in range(3, 16):
        if n > 3:
            fact *= n
        acc += (-1) ** n * (4.0 - 2.0 ** n) * xs ** n / fact
    f[small] = acc
    xl = x[~small]
    f[~small] = 2 * xl - 3 + 4 * np.exp(-xl) - np.exp(-2 * xl)
    g = one_m_rho ** 3 / (1.0 + rho)  # Cov²/Var1 per σ²τc²
    s1 = sigma * np.sqrt(var1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(var1 > 0, sigma * tau * one_m_rho ** 2 / np.sqrt(var1), 0.0)
    s2 = sigma * tau * np.sqrt(np.maximum(f - g, 0.0))
    out = np.empty((h.size, 6))
    out[:, 0] = rho
    out[:, 1] = s1
    out[:, 2] = tau * one_m_rho
    out[:, 3] = c
    out[:, 4] = s2
    out[:, 5] = sigma
    return out


class _Grains:
    """Per-grain vectors of the chosen frame (see the module docstring)."""

    def __init__(self, chunk, env: Environment, frame: str, initial: str, moment: float,
                 omega_f: float):
        delta = np.asarray(chunk.delta, float)
        eps = np.asarray(chunk.bias, float)
        n = delta.size
        energy = np.hypot(delta, eps)
        safe = energy > 0
        s = np.where(safe, delta / np.where(safe, energy, 1.0), 0.0)
        c = np.where(safe, eps / np.where(safe, energy, 1.0), 1.0)
        zero, one = np.zeros(n), np.ones(n)
        xp = np.stack([c, zero, -s], axis=1)
        yp = np.stack([zero, one, zero], axis=1)
        zp = np.stack([s, zero, c], axis=1)
        d = np.array([0.0, 0.0, 1.0]) if env.drive_coupling == "z" else np.array([1.0, 0, 0])
        temp = env.temperature
        # thermal polarisation of the static eigenbasis: None = T → 0 (ground state),
        # math.inf = unpolarised; relaxation drives towards the same z_eq (detailed balance)
        zeq = -np.tanh(energy / (K_B_OVER_HBAR * temp)) if temp is not None else -one
        # initial eigenbasis polarisation: thermal, or the prepared ground state
        pz = -one if initial == "ground" else zeq
        g1 = 1.0 / env.t1 if env.t1 is not None else 0.0
        g2 = 0.5 * g1 + (1.0 / env.t_phi if env.t_phi is not None else 0.0)
        kap = float(env.measurement_rate)
        self.diss = bool(g1 > 0 or g2 > 0 or kap > 0)
        self.energy, self.sin, self.cos = energy, s, c
        d_perp = xp @ d
        self.d_perp = d_perp
        if frame == "lab":
            self.A0 = np.stack([delta, zero, eps], axis=1)
            self.P = np.tile(moment * d, (n, 1))
            self.Q = np.zeros((n, 3))
            self.N = np.tile([0.0, 0.0, 1.0], (n, 1))
            self.Xp, self.Yp = xp, yp
            self.Oz, self.Ox = one.copy(), zero.copy()
            self.r0 = pz[:, None] * zp if initial != "up" else np.tile([0, 0, 1.0], (n, 1))
            if self.diss:
                M = (-g2 * (xp[:, :, None] * xp[:, None, :] + yp[:, :, None] * yp[:, None, :])
                     - g1 * zp[:, :, None] * zp[:, None, :])
                M[:, 0, 0] -= 2 * kap
                M[:, 1, 1] -= 2 * kap
                self.M = M
                self.b = (g1 * zeq)[:, None] * zp
            else:  # not read by the kernel: zeros (pages allocated lazily), no outer products
                self.M = np.zeros((n, 3, 3))
                self.b = np.zeros((n, 3))
        else:
            self.A0 = np.stack([zero, zero, energy - 0.5 * omega_f], axis=1)
            half = 0.5 * moment * d_perp
            self.P = np.stack([half, zero, zero], axis=1)
            self.Q = np.stack([zero, half, zero], axis=1)
            self.N = np.stack([zero, zero, c], axis=1)
            self.Xp = np.tile([1.0, 0, 0], (n, 1))
            self.Yp = np.tile([0.0, 1.0, 0], (n, 1))
            self.Oz, self.Ox = c.copy(), -s
            self.r0 = (np.stack([zero, zero, pz], axis=1) if initial != "up"
                       else np.stack([-s, zero, c], axis=1))
            kt = 2 * kap * c * c + kap * s * s
            M = np.zeros((n, 3, 3))
            M[:, 0, 0] = -g2 - kt
            M[:, 1, 1] = -g2 - kt
            M[:, 2, 2] = -g1 - 2 * kap * s * s
            self.M = M
            self.b = np.stack([zero, zero, g1 * zeq], axis=1)
        for name in ("A0", "P", "Q", "N", "Xp", "Yp", "r0", "M", "b", "Oz", "Ox"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=float))


def _segments(schedule, step, channel, max_error):
    try:
        return schedule.segments(step=step, channel=channel, max_error=max_error)
    except ScheduleError:
        if channel is None and not schedule.channels_of("field"):
            return None  # no field channel: free evolution only
        raise


def _frame_frequency(schedule, opts) -> float:
    """The RWA frame (rad/s): option ``frame_frequency`` (Hz), else the schedule's carrier."""
    f = opts.get("frame_frequency")
    if f is not None:
        return angular(float(f))
    return angular(abs(schedule.carrier(opts.get("channel"))))


#: most substeps one pulse segment may take (each is a row of ~200 bytes)
MAX_PULSE_SUBSTEPS = 50_000_000
#: most noise steps the quiet stretches of one shot may take (repeated rows: no memory,
#: but ~1e8 grain-steps per second)
MAX_NOISE_STEPS = 1e11


def _substeps(x: float, start: float, dur: float) -> int:
    """ceil(x) substeps for a pulse segment, refused (ModelError) when not finite or more
    than MAX_PULSE_SUBSTEPS (a carrier or drive far too fast for the pulse's length)."""
    if not x <= MAX_PULSE_SUBSTEPS:
        raise ModelError(f"the pulse segment at {start:.6g} s ({dur:.6g} s long) would need "
                         f"{x:.3g} engine substeps (more than {MAX_PULSE_SUBSTEPS:.0e}): its "
                         "carrier frequency or field amplitude is far too large for its "
                         "length")
    return max(1, math.ceil(x))


def _frame_segments(schedule, step, channel, max_error, frame):
    """The schedule's segments as the frame sees them: in the RWA, baseband pulses are
    dropped (the RWA policy of :mod:`echo.engines.frontend`, warned about once)."""
    segs = _segments(schedule, step, channel, max_error)
    if frame != "rwa" or segs is None:
        return segs
    base = (segs.amplitude != 0) & (segs.frequency == 0)
    if not base.any():
        return segs
    return replace(segs, amplitude=np.where(base, 0.0, segs.amplitude))


def _build_ops(segs, times, duration, frame, omega_f, phase_max, h_cap, ou, e_max, gamma_amp):
    """The op table (numpy arrays) for one phase step."""
    n_t = times.size
    if segs is None:
        s_start = np.array([0.0])
        s_dur = np.array([duration])
        s_amp = s_freq = s_phase = s_ia = s_ip = np.zeros(1)
    else:
        s_start, s_dur, s_amp = segs.start, segs.duration, segs.amplitude
        s_freq, s_phase = segs.frequency, segs.phase
        s_ia, s_ip = segs.ideal_angle, segs.ideal_phase
    w = angular(np.asarray(s_freq, float))
    pos = s_dur > 0
    # ---- elementary interval edges (a quiet segment adds only its two ends: its noise
    # substeps become a repeat count below, so no array grows with a delay's length)
    edge_parts = [np.array([0.0, duration])]
    for j in np.flatnonzero(pos):
        dur = s_dur[j]
        n = 1
        if s_amp[j] == 0:
            edge_parts.append(np.array([s_start[j], s_start[j] + dur]))
            continue
        if s_amp[j] != 0:
            if frame == "lab":
                rate = max(abs(float(w[j])), 2 * e_max, 2 * gamma_amp * abs(float(s_amp[j]))) \
                    if w[j] != 0 else 0.0
            else:
                rate = abs(w[j] - omega_f)
            if rate > 0:
                n = max(n, _substeps(rate * dur / phase_max, s_start[j], dur))
        if math.isfinite(h_cap):
            n = max(n, _substeps(dur / h_cap, s_start[j], dur))
        edge_parts.append(s_start[j] + dur * np.arange(n + 1) / n)
    edge_parts.append(times)
    ideal = np.flatnonzero((s_dur == 0) & (s_ia != 0))
    edge_parts.append(s_start[ideal])
    edges = np.unique(np.concatenate(edge_parts))
    # edges closer than rounding noise of the shot length are one edge (64 ulps: 50 ps at
    # the 1 h shot cap, so distinct output samples at any sample rate stay distinct)
    tol = 64 * sys.float_info.epsilon * max(duration, 1e-15)
    keep = np.concatenate([[True], np.diff(edges) > tol])
    edges = edges[keep]
    edges = edges[(edges >= -tol) & (edges <= duration + tol)]
    t0 = edges[:-1]
    dt = np.diff(edges)

    def snap(t):
        k = np.clip(np.searchsorted(edges, t), 1, edges.size - 1)
        lo = edges[k - 1]
        hi = edges[k]
        return np.where(np.abs(t - lo) <= np.abs(hi - t), lo, hi)

    # ---- evolve ops: drive values at the Gauss nodes
    mid = t0 + 0.5 * dt
    if pos.any():
        pstart = s_start[pos]
        jj = np.flatnonzero(pos)[np.clip(np.searchsorted(pstart, mid, side="right") - 1,
                                         0, pstart.size - 1)]
    else:
        jj = np.zeros(t0.size, dtype=int)
    off = dt / (2.0 * _SQ3)
    amp = s_amp[jj] if pos.any() else np.zeros(t0.size)
    wj = w[jj] if pos.any() else np.zeros(t0.size)
    phj = s_phase[jj] if pos.any() else np.zeros(t0.size)
    ta, tb = mid - off, mid + off
    if frame == "lab":
        u1 = amp * np.cos(wj * ta + phj)
        u2 = amp * np.cos(wj * tb + phj)
        v1 = np.zeros_like(u1)
        v2 = np.zeros_like(u1)
    else:
        pa = (wj - omega_f) * ta + phj
        pb = (wj - omega_f) * tb + phj
        u1, v1 = amp * np.cos(pa), amp * np.sin(pa)
        u2, v2 = amp * np.cos(pb), amp * np.sin(pb)
    # a quiet interval longer than the noise step is cut into equal substeps, taken by
    # the kernel as one row repeated ``rep`` times
    rep = np.ones(t0.size, dtype=np.int64)
    if math.isfinite(h_cap):
        quiet = (amp == 0) & (dt > h_cap)
        with np.errstate(over="ignore"):
            steps = np.ceil(dt[quiet] / h_cap)
        if steps.sum() > MAX_NOISE_STEPS:
            raise ModelError(
                f"the quiet stretches of this {duration:.6g} s shot would take "
                f"{steps.sum():.3g} bias-noise steps of {h_cap:.3g} s (more than "
                f"{MAX_NOISE_STEPS:.0e}: days of computing); shorten the waits or simulate "
                "them without bias noise")
        rep[quiet] = steps.astype(np.int64)
        dt = dt / rep
    n_ev = t0.size
    # ---- assemble: sort key (time, priority): ideal 0, record 1, evolve 2
    ideal_t = s_start[ideal]
    keys_t = np.concatenate([snap(ideal_t), snap(times), t0])
    pri = np.concatenate([np.zeros(ideal.size), np.ones(n_t), np.full(n_ev, 2.0)])
    order = np.lexsort((pri, keys_t))
    n_ops = order.size
    kind = np.concatenate([np.ones(ideal.size, np.int8), np.full(n_t, 2, np.int8),
                           np.zeros(n_ev, np.int8)])[order]
    z = np.zeros

    def col(a_ideal, a_rec, a_ev):
        return np.ascontiguousarray(np.concatenate([a_ideal, a_rec, a_ev])[order])

    ni = ideal.size
    t0c = col(ideal_t, times, t0)
    dtc = col(z(ni), z(n_t), dt)
    if frame == "lab":
        ph_ideal = s_ip[ideal]
        c_rec, s_rec = np.ones(n_t), np.zeros(n_t)
    else:
        ph_ideal = s_ip[ideal] - omega_f * ideal_t
        c_rec, s_rec = np.cos(omega_f * times), np.sin(omega_f * times)
    ops = {
        "ops": kind, "t0": t0c, "dt": dtc,
        "u1": col(z(ni), z(n_t), u1), "v1": col(z(ni), z(n_t), v1),
        "u2": col(z(ni), z(n_t), u2), "v2": col(z(ni), z(n_t), v2),
        "dflag": col(z(ni, np.int8), z(n_t, np.int8),
                     ((u1 != u2) | (v1 != v2)).astype(np.int8)),
        "ang": col(s_ia[ideal], z(n_t), z(n_ev)),
        "cph": col(np.cos(ph_ideal), c_rec, z(n_ev)),
        "sph": col(np.sin(ph_ideal), s_rec, z(n_ev)),
        "ridx": col(z(ni, np.int64), np.arange(n_t, dtype=np.int64), rep),
    }
    coef = np.zeros((n_ops, len(ou), 6))
    inv = np.divide(1.0, dtc, out=np.zeros_like(dtc), where=dtc > 0)
    for q, (sig, tau) in enumerate(ou):
        coef[:, q, :] = _ou_coefficients(np.maximum(dtc, 0.0), sig, tau)
        coef[:, q, 2:5] *= inv[:, None]  # the kernel wants the mean over the step
    ops["ou_coef"] = coef
    return ops


def simulate_chunk(schedule, chunk, environment: Environment, times, *, frame="lab",
                   initial="thermal", seed: int, moment: float, max_error=1e-3,
                   **engine_options):
    """Σ_grains weight·⟨τz⟩(t) for each phase step, and Σ weight (see ENGINE.md)."""
    sums, w = simulate_chunk_batches(schedule, chunk, environment, times, frame=frame,
                                     initial=initial, seed=seed, moment=moment,
                                     max_error=max_error, **engine_options)
    return sums[0], float(w[0])


#: Bloch components of :func:`simulate_chunk_batches` with ``bloch=True``: the lab-frame
#: ⟨τx⟩, ⟨τy⟩, ⟨τz⟩ and the static-eigenbasis ⟨σx'⟩, ⟨σz'⟩ (⟨σy'⟩ = ⟨τy⟩), where
#: σz' = (Δ τx + ε τz)/E and σx' = (ε τx − Δ τz)/E (σx' × σy' = σz').
BLOCH_COMPONENTS = ("tau_x", "tau_y", "tau_z", "sigma_x_eigen", "sigma_z_eigen")


def _bloch_records(grains, frame, times, omega_f):
    """Per component of :data:`BLOCH_COMPONENTS`: (Oz, Ox, c_rec, s_rec) for the record op
    ``Oz r_z + Ox (r_x c − r_y s)`` of the kernel (see :mod:`echo.engines._kernels`)."""
    n = grains.energy.size
    one, zero = np.ones(n), np.zeros(n)
    s, c = grains.sin, grains.cos
    nt = times.size
    if frame == "lab":  # r is the lab Bloch vector
        c1, s1 = np.ones(nt), np.zeros(nt)
        cy, sy = np.zeros(nt), -np.ones(nt)
        return [(zero, one, c1, s1), (zero, one, cy, sy), (one, zero, c1, s1),
                (-s, c, c1, s1), (c, s, c1, s1)]
    # r = (x̂, ŷ, ẑ) in the eigenframe rotating at ω_f: σx' = x̂ cos ωt − ŷ sin ωt,
    # σy' = x̂ sin ωt + ŷ cos ωt, σz' = ẑ; τx = s σz' + c σx', τz = c σz' − s σx'
    cw, sw = np.cos(omega_f * times), np.sin(omega_f * times)
    return [(s, c, cw, sw), (zero, one, sw, -cw), (c, -s, cw, sw), (zero, one, cw, sw),
            (one, zero, cw, sw)]


def simulate_chunk_batches(schedule, chunk, environment: Environment, times, *, frame="lab",
                           initial="thermal", seed: int, moment: float, max_error=1e-3,
                           edges=None, bloch=False, **engine_options):
    """Weighted sums per batch of grains: ``edges`` (local grain indices, increasing, from
    0 to len(chunk); default one batch) cut the chunk into batches. Returns
    ``(sums, weights)``: sums (n_batches, n_steps, n_t) of Σ w⟨τz⟩, or with ``bloch``
    (n_batches, 5, n_steps, n_t) of the :data:`BLOCH_COMPONENTS`; weights (n_batches,).
    Every grain keeps its own noise stream (seeded by its index in the chunk), so the
    batches change neither the trajectories nor, up to rounding, the total."""
    from echo.engines._kernels import run_ops, run_ops_serial
    from echo.parallel import in_worker_thread

    RunSettings(frame, initial, max_error)  # the one validation of frame/initial/max_error
    opts = engine_settings("fast", engine_options)
    if not math.isfinite(moment):
        raise ModelError(f"moment: must be finite, got {moment!r}")
    times = np.asarray(times, dtype=float)
    duration = float(schedule.duration)
    if times.ndim != 1 or not np.all(np.isfinite(times)):
        raise ModelError("times: must be a 1-D array of finite times (s)")
    if times.size and (times.min() < 0 or times.max() > duration * (1 + 1e-12) + 1e-18):
        bad = float(times.min() if times.min() < 0 else times.max())
        raise ModelError(f"times: output time {bad!r} s outside the shot [0, {duration!r}] s")
    dt_user = opts.dt
    phase_max = opts.carrier_phase or default_carrier_phase(max_error)
    block = opts.block
    channel = opts.channel
    n = len(chunk)
    n_steps = schedule.n_steps
    edges = np.array([0, n], np.int64) if edges is None else np.asarray(edges, np.int64)
    if edges.ndim != 1 or edges.size < 2 or edges[0] != 0 or edges[-1] != n \
            or np.any(np.diff(edges) < 0):
        raise ModelError(f"edges: batch edges must increase from 0 to {n}, got {edges!r}")
    n_b = edges.size - 1
    n_c = len(BLOCH_COMPONENTS) if bloch else 0
    shape = (n_b, n_c, n_steps, times.size) if bloch else (n_b, n_steps, times.size)
    if n == 0:
        return np.zeros(shape), np.zeros(n_b)
    for name, arr in (("delta", chunk.delta), ("bias", chunk.bias), ("weight", chunk.weight)):
        if not np.all(np.isfinite(arr)):
            raise ModelError(f"ensemble.{name}: non-finite grain value in chunk {chunk.index}")
    omega_f = _frame_frequency(schedule, engine_options) if frame == "rwa" else 0.0
    energy = np.hypot(chunk.delta, chunk.bias)
    e_max = float(energy.max())
    segs0 = _frame_segments(schedule, 0, channel, max_error, frame)
    amp_max = float(np.max(np.abs(segs0.amplitude))) if segs0 is not None else 0.0
    gamma_amp = abs(moment)
    # --- frame checks
    carrier_drive = segs0 is not None and np.any((segs0.amplitude != 0) & (segs0.frequency > 0))
    if frame == "rwa" and chunk.index == 0:
        check_rwa(schedule, chunk.delta, chunk.bias, moment, environment.drive_coupling,
                  channel, opts.frame_frequency)
    elif carrier_drive:
        w_car = float(np.max(angular(segs0.frequency[segs0.amplitude != 0])))
        w_fast = max(w_car, 2 * e_max, 2 * gamma_amp * amp_max)
        h_req = phase_max / w_fast
        if dt_user is not None and dt_user > h_req * (1 + 1e-9):
            raise ModelError(
                f"dt: {dt_user:.6g} s is too coarse for the fastest frequency "
                f"{w_fast / (2 * math.pi):.6g} Hz in the lab frame; need dt <= {h_req:.6g} s "
                f"(carrier_phase {phase_max:.3g} rad per step)")
    # --- noise
    ou = [(angular(p.sigma), p.tau_c) for p in environment.noise
          if isinstance(p, OrnsteinUhlenbeck) and p.sigma > 0]
    tel = [(angular(p.amplitude), p.rate) for p in environment.noise
           if isinstance(p, Telegraph) and p.amplitude > 0]
    delta_perp = (float(np.max(np.abs(chunk.delta))) if frame == "lab" else 0.0) \
        + gamma_amp * amp_max
    h_cap = noise_step(environment, delta_perp, duration, max_error)
    if opts.noise_step is not None and math.isfinite(h_cap):  # fixed by the caller (fits)
        h_cap = opts.noise_step
    if dt_user is not None:
        h_cap = min(h_cap, dt_user)
    tel_amp = np.array([a for a, _ in tel], float)
    tel_rate = np.array([r for _, r in tel], float)
    out = np.zeros(shape)
    weight = np.ascontiguousarray(chunk.weight, dtype=float)
    tables = []
    for k in range(n_steps):
        segs = segs0 if k == 0 else _frame_segments(schedule, k, channel, max_error, frame)
        ops = _build_ops(segs, times, duration, frame, omega_f, phase_max, h_cap, ou, e_max,
                         gamma_amp)
        seed_k = int(np.random.SeedSequence(int(seed), spawn_key=(k,))
                     .generate_state(1, np.uint64)[0] >> np.uint64(1))
        tables.append((ops, seed_k))
    # a big chunk is simulated in sub-chunks of _SUB_CHUNK grains (bounded memory: ~40
    # doubles per grain); each grain keeps its index in the chunk, so the result does not
    # depend on the sub-chunking except for the order of the partial sums, which is fixed
    # blocks per parallel wave: as many as a 64 MiB partial-sum buffer holds (one parallel
    # region per wave; the result does not depend on it, see echo.engines._kernels)
    wave = max(1, min(-(-min(n, _SUB_CHUNK) // block),
                      _WAVE_BYTES // (8 * max(times.size, 1))))
    pieces = [(b, lo, min(int(edges[b + 1]), lo + _SUB_CHUNK)) for b in range(n_b)
              for lo in range(int(edges[b]), int(edges[b + 1]), _SUB_CHUNK)]
    for b, lo, hi in pieces:
        sub = GrainChunk(chunk.index, np.asarray(chunk.delta[lo:hi], float),
                         np.asarray(chunk.bias[lo:hi], float), weight[lo:hi])
        grains = _Grains(sub, environment, frame, initial, moment, omega_f)
        w_sub = np.ascontiguousarray(weight[lo:hi])
        records = (_bloch_records(grains, frame, times, omega_f) if bloch
                   else [(grains.Oz, grains.Ox, None, None)])
        for k, (ops, seed_k) in enumerate(tables):
            # small problems run on one thread: starting the thread team costs more (up to
            # a scheduler time slice on a loaded machine) than it saves; so does every task
            # of an in-process thread pool (echo.parallel: the pool spreads the tasks)
            kernel = run_ops if (hi - lo) * ops["ops"].size >= _PARALLEL_MIN_WORK \
                and hi - lo > block and not in_worker_thread() else run_ops_serial
            rec = np.flatnonzero(ops["ops"] == 2)
            for m, (oz, ox, c_rec, s_rec) in enumerate(records):
                cph, sph = ops["cph"], ops["sph"]
                if c_rec is not None:  # the record coefficients of this component
                    cph, sph = cph.copy(), sph.copy()
                    cph[rec] = c_rec[ops["ridx"][rec]]
                    sph[rec] = s_rec[ops["ridx"][rec]]
                res = kernel(ops["ops"], ops["t0"], ops["dt"], ops["u1"], ops["v1"],
                             ops["u2"], ops["v2"], ops["dflag"], ops["ang"], cph,
                             sph, ops["ridx"], ops["ou_coef"], tel_amp, tel_rate,
                             grains.A0, grains.P, grains.Q, grains.N, grains.Xp, grains.Yp,
                             np.ascontiguousarray(oz), np.ascontiguousarray(ox), w_sub,
                             grains.r0, grains.diss, grains.M, grains.b, seed_k, lo, block,
                             times.size, wave)
                if bloch:
                    out[b, m, k] += res
                else:
                    out[b, k] += res
    wsum = np.array([float(weight[edges[b]:edges[b + 1]].sum()) for b in range(n_b)])
    return out, wsum


def count_steps(schedule, chunk, environment, times, *, frame="lab", max_error=1e-3,
                moment=0.0, **engine_options) -> int:
    """Number of evolve steps per phase step the engine would take (for benchmarks)."""
    omega_f = _frame_frequency(schedule, engine_options) if frame == "rwa" else 0.0
    grains = _Grains(chunk, environment, frame, "thermal", moment, omega_f)
    segs = _segments(schedule, 0, engine_options.get("channel"), max_error)
    phase_max = engine_options.get("carrier_phase") or default_carrier_phase(max_error)
    amp_max = float(np.max(np.abs(segs.amplitude))) if segs is not None else 0.0
    delta_perp = (float(np.max(np.abs(chunk.delta))) if frame == "lab" else 0.0) \
        + abs(moment) * amp_max
    h_cap = noise_step(environment, delta_perp, schedule.duration, max_error)
    if engine_options.get("noise_step") is not None and math.isfinite(h_cap):
        h_cap = engine_options["noise_step"]
    if engine_options.get("dt") is not None:
        h_cap = min(h_cap, engine_options["dt"])
    ou = [(angular(p.sigma), p.tau_c) for p in environment.noise
          if isinstance(p, OrnsteinUhlenbeck) and p.sigma > 0]
    ops = _build_ops(segs, np.asarray(times, float), schedule.duration, frame, omega_f,
                     phase_max, h_cap, ou, float(grains.energy.max()), abs(moment))
    return int(np.sum(np.where(ops["ops"] == 0, np.maximum(ops["ridx"], 1), 0)))


def warm_up() -> None:
    """Compile (or load from numba's cache) both kernels, the threaded and the serial
    one, on a two-grain problem: which one a run uses depends on its size, so a
    server that warms only one still pays the other's JIT (~10 s on a cold cache) in
    its first real shot. Every branch of a kernel is compiled with it (one signature)."""
    from echo.engines._kernels import run_ops, run_ops_serial

    env = Environment(noise=(OrnsteinUhlenbeck(1e3, 1e-6),))
    chunk = GrainChunk(0, np.array([1e6, 2e6]), np.array([0.0, 1e5]), np.ones(2))
    times = np.array([0.0, 1e-7])
    ops = _build_ops(None, times, 2e-7, "lab", 0.0, 0.27, 1e-7,
                     [(angular(1e3), 1e-6)], 3e6, 0.0)
    grains = _Grains(chunk, env, "lab", "thermal", 0.0, 0.0)
    w = np.ascontiguousarray(chunk.weight)
    for kernel in (run_ops_serial, run_ops):
        kernel(ops["ops"], ops["t0"], ops["dt"], ops["u1"], ops["v1"], ops["u2"], ops["v2"],
               ops["dflag"], ops["ang"], ops["cph"], ops["sph"], ops["ridx"], ops["ou_coef"],
               np.zeros(0), np.zeros(0), grains.A0, grains.P, grains.Q, grains.N, grains.Xp,
               grains.Yp, grains.Oz, grains.Ox, w, grains.r0, grains.diss, grains.M, grains.b,
               1, 0, 1, times.size, 1)
