"""The QuTiP reference engine ("qutip"): slow, general, trusted.

Every grain is solved on its own with QuTiP 5: :class:`qutip.MESolver` (Lindblad master
equation) for the ensemble engine :func:`simulate_chunk`, and :class:`qutip.SMESolver`
(homodyne stochastic master equation) for a continuously monitored SQUID,
:func:`echo.engines.monitor.monitor` (its own module; it shares this module's grain
geometry, drive and Lindblad operators). Nothing here shares code with the fast engine;
the two are compared in ``tests/simulation/test_fast_vs_qutip*.py``.

Physics of one grain (ħ = 1, rad/s and s; see ``notes/ENGINE.md`` and ``docs/engines.md``)::

    H(t) = Δ τx + (ε + δε(t)) τz + γ h(t) τ_d

with τ_d = τz (``Environment.drive_coupling == "z"``) or τx, γ = ``moment`` (rad s⁻¹ T⁻¹)
and h(t) the lab-frame field of the Schedule's field channel.

Coordinates
    All operators are written in the grain's *static eigenbasis* |+E⟩, |−E⟩ (QuTiP basis
    states 0 and 1, so ``qutip.sigmaz()`` is σz' = H0/E and ``qutip.sigmam()`` is
    σ−' = |−E⟩⟨+E|). With θ = atan2(Δ, ε) (so sin θ = Δ/E, cos θ = ε/E; θ ∈ [0, π] for
    Δ ≥ 0 as in ENGINE.md)::

        τz = cos θ σz' − sin θ σx',      τx = sin θ σz' + cos θ σx',
        |↑⟩ = cos(θ/2) |+E⟩ − sin(θ/2) |−E⟩.

Frames
    ``frame="lab"``: the exact Hamiltonian above, integrated in the static eigenbasis.
    ``frame="rwa"``: the frame rotating at the carrier ω_c about σz'
    (U0 = exp(−i ω_c t σz'/2)); kept terms: (E − ω_c/2 + cos θ δε(t)) σz' and the
    co-rotating part of the transverse drive, g(t) σ+' + g*(t) σ−' with
    g(t) = γ k⊥ A_j/2 · exp(−i((ω_j − ω_c) t + φ_j)) in drive segment j
    (h = A_j cos(ω_j t + φ_j)); k⊥ = −sin θ for a τz drive, cos θ for τx. Dropped:
    counter-rotating terms, the longitudinal drive (k∥ = cos θ resp. sin θ, baseband
    pulses included) and the transverse part of the bias noise. The carrier ω_c is
    :meth:`sequences.Schedule.carrier` (the first pulse in time that plays a carrier); a
    schedule without one uses ω_c = 2E per grain (the resonant frame). Ideal pulses at
    time t_p become rotations about azimuth φ − ω_c t_p in the rotating frame. The output
    is rotated back analytically: ⟨σx'⟩_lab = cos(ω_c t)⟨σx'⟩ − sin(ω_c t)⟨σy'⟩.
    The measurement Lindblad √κ τz becomes, in the secular approximation,
    √κ cos θ σz', √κ sin θ σ+', √κ sin θ σ−'.

Drive coefficient
    The field is taken from ``Schedule.segments(step, max_error=max_error)`` — the same
    piecewise-constant-envelope, exact-carrier representation that the fast engine uses,
    h(t) = A_j cos(2π f_j t + φ_j) in segment j — and evaluated exactly at every
    right-hand-side call by a Python function coefficient (a binary search for j plus one
    cosine). No interpolation: the ODE solver sees the exact piecewise field. The
    integration is restarted at every pulse edge and ideal pulse, so the large
    discontinuities never sit inside a solver step; the small envelope steps inside a
    shaped pulse (≤ ``max_error`` × peak) are handled by the adaptive step control.

Bias noise coefficients (array coefficients, ``QobjEvo`` with ``tlist``)
    Ornstein–Uhlenbeck: sampled *exactly* on a uniform grid of step
    dt = min(τc / ``noise_points_per_tau_c``, max_step) (x_{n+1} = a x_n +
    σ √(1 − a²) ξ_n, a = e^{−dt/τc}, x_0 ~ N(0, σ²)) and interpolated by QuTiP's cubic
    spline (``order=3``); the interpolation changes the noise only at frequencies
    ≳ 1/dt, i.e. far above 1/τc. Telegraph: the exact switching times (Poisson, rate γ
    out of each state) are the ``tlist`` of a step-function coefficient (``order=0``), so
    the trajectory is exact. Each grain, phase-cycle step and trajectory gets its own
    stream ``SeedSequence(seed, spawn_key=(grain, step, trajectory))``; every trajectory
    starts in the stationary distribution at t = 0. With ``n_trajectories`` > 1 the
    grain's result is the mean over its trajectories.

Lindblad operators (eigenbasis)
    T1: √Γ↓ σ−', √Γ↑ σ+', Γ↓ + Γ↑ = 1/T1, Γ↑/Γ↓ = exp(−2E/k_B T) (T = None: Γ↑ = Γ↓).
    Tφ: √(1/2Tφ) σz' (coherence decays as e^{−t/Tφ}).
    Measurement back-action κ: √κ τz (coherences between τz eigenstates decay at 2κ;
    for a grain the eigenbasis coherence decays at κ(1 + cos²θ) in the secular limit).

Solver settings (engine options, all documented in :class:`SolverSettings`)
    ``method`` ("adams"), ``atol`` (1e-12), ``rtol`` (1e-11), ``steps_per_period`` (20):
    ``max_step`` = (2π / ω_fast) / steps_per_period, where ω_fast is the fastest angular
    frequency of the problem (lab: max(2E, ω carrier, γ·max|h|, noise amplitude, …);
    RWA: max(|2E − ω_c|, Rabi, …)). A user ``max_step`` larger than that is an error
    naming the required step. Intervals with a constant generator (no drive, no noise)
    use QuTiP's exact ``"diag"`` integrator (eigen-decomposition of the Liouvillian)
    unless ``constant_method`` says otherwise.

Initial state (``initial``)
    "thermal": diagonal in the eigenbasis at ``Environment.temperature`` (None → T = 0,
    the ground state |−E⟩); "ground": the ground state |−E⟩ whatever the temperature (a
    prepared state); "up": |↑⟩ (τz = +1), the paper's P(t) set-up.

Output convention
    The state at an output time t is the state after every ideal pulse at times ≤ t
    (right-continuous).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace

import numpy as np

from echo.engines.frontend import (  # noqa: F401  (re-exported: the engine's settings)
    RWA_WARN_RATIO,
    RunSettings,
    SolverSettings,
    check_rwa,
    rwa_validity,
)
from echo.model import (
    INITIAL_STATES,
    Environment,
    GrainChunk,
    ModelError,
    OrnsteinUhlenbeck,
    Telegraph,
)
from sequences.units import K_B_OVER_HBAR, TWO_PI, angular

__all__ = ["SolverSettings", "simulate_chunk", "simulate_grains", "rwa_validity",
           "ENGINE_NAME"]

ENGINE_NAME = "qutip"

# ----------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class _Grain:
    delta: float
    bias: float

    @property
    def energy(self) -> float:
        return math.hypot(self.delta, self.bias)

    @property
    def cos(self) -> float:
        e = self.energy
        return 1.0 if e == 0 else self.bias / e

    @property
    def sin(self) -> float:
        e = self.energy
        return 0.0 if e == 0 else self.delta / e


def _ops():
    import qutip as qt
    return {"sz": qt.sigmaz(), "sx": qt.sigmax(), "sy": qt.sigmay(), "sm": qt.sigmam(),
            "sp": qt.sigmap(), "id": qt.qeye(2)}


def _couplings(grain: _Grain, drive_coupling: str) -> tuple[float, float]:
    """(longitudinal k∥, transverse k⊥) of the drive operator in the eigenbasis."""
    if drive_coupling == "x":
        return grain.sin, grain.cos
    return grain.cos, -grain.sin


def _kT(temperature: float | None) -> float | None:
    return None if temperature is None else K_B_OVER_HBAR * temperature


def _initial_state(grain: _Grain, environment: Environment, initial: str):
    import qutip as qt
    if initial == "up":
        half = 0.5 * math.atan2(grain.delta, grain.bias)
        psi = math.cos(half) * qt.basis(2, 0) - math.sin(half) * qt.basis(2, 1)
        return qt.ket2dm(psi)
    if initial not in INITIAL_STATES:
        raise ModelError(f"initial: must be one of {', '.join(INITIAL_STATES)}, got {initial!r}")
    kt = _kT(environment.temperature)
    if kt is None or initial == "ground":
        return qt.ket2dm(qt.basis(2, 1))
    x = grain.energy / kt
    p_up = 0.5 * (1.0 - math.tanh(x))  # e^{-E/kT} / (e^{E/kT} + e^{-E/kT})
    return qt.Qobj(np.diag([p_up, 1.0 - p_up]).astype(complex))


def _relaxation_rates(grain: _Grain, environment: Environment) -> tuple[float, float]:
    """(Γ↓, Γ↑) in 1/s with Γ↓ + Γ↑ = 1/T1 and detailed balance at the temperature."""
    if environment.t1 is None:
        return 0.0, 0.0
    total = 1.0 / environment.t1
    kt = _kT(environment.temperature)
    if kt is None:  # T → 0: relaxation only downwards
        return total, 0.0
    boltz = math.exp(-2.0 * grain.energy / kt)
    down = total / (1.0 + boltz)
    return down, total - down


def _collapse_ops(grain: _Grain, environment: Environment, frame: str, with_measurement=True):
    ops = _ops()
    c_ops = []
    down, up = _relaxation_rates(grain, environment)
    if down > 0:
        c_ops.append(math.sqrt(down) * ops["sm"])
    if up > 0:
        c_ops.append(math.sqrt(up) * ops["sp"])
    if environment.t_phi is not None:
        c_ops.append(math.sqrt(0.5 / environment.t_phi) * ops["sz"])
    kappa = environment.measurement_rate
    if with_measurement and kappa > 0:
        if frame == "lab":
            c_ops.append(math.sqrt(kappa) * (grain.cos * ops["sz"] - grain.sin * ops["sx"]))
        else:
            if grain.cos != 0:
                c_ops.append(math.sqrt(kappa) * grain.cos * ops["sz"])
            if grain.sin != 0:
                c_ops.append(math.sqrt(kappa) * abs(grain.sin) * ops["sp"])
                c_ops.append(math.sqrt(kappa) * abs(grain.sin) * ops["sm"])
    return c_ops


# -------------------------------------------------------------------------- the drive
class _LabField:
    """h(t) (T) of piecewise segments: A_j cos(2π f_j t + φ_j) for t in segment j."""

    def __init__(self, seg, scale: float):
        keep = (seg.duration > 0) & (seg.amplitude != 0)
        self.start = [float(x) for x in seg.start[keep]]
        self.stop = [float(x) for x in seg.stop[keep]]
        self.amp = [float(x) * scale for x in seg.amplitude[keep]]
        self.omega = [angular(float(x)) for x in seg.frequency[keep]]
        self.phase = [float(x) for x in seg.phase[keep]]

    def __bool__(self) -> bool:
        return bool(self.start)

    def __call__(self, t):
        j = bisect.bisect_right(self.start, t) - 1
        if j < 0 or t >= self.stop[j]:
            return 0.0
        return self.amp[j] * math.cos(self.omega[j] * t + self.phase[j])


class _RwaField:
    """Co-rotating complex amplitude g(t) of σ+' in the frame rotating at ω_c."""

    def __init__(self, seg, scale: float, omega_c: float, conj: bool = False):
        keep = (seg.duration > 0) & (seg.amplitude != 0) & (seg.frequency != 0)
        self.start = [float(x) for x in seg.start[keep]]
        self.stop = [float(x) for x in seg.stop[keep]]
        self.amp = [0.5 * float(x) * scale for x in seg.amplitude[keep]]
        self.domega = [angular(float(x)) - omega_c for x in seg.frequency[keep]]
        self.phase = [float(x) for x in seg.phase[keep]]
        self.sign = 1.0 if conj else -1.0

    def __bool__(self) -> bool:
        return bool(self.start)

    def __call__(self, t):
        j = bisect.bisect_right(self.start, t) - 1
        if j < 0 or t >= self.stop[j]:
            return 0j
        arg = self.domega[j] * t + self.phase[j]
        return self.amp[j] * complex(math.cos(arg), self.sign * math.sin(arg))


def _carrier(schedule, channel) -> float | None:
    """Angular carrier (rad/s) of :meth:`sequences.Schedule.carrier`, or None (no carrier)."""
    f = schedule.carrier(channel)
    return angular(f) if f else None


def _warn_rwa(schedule, chunk_delta, chunk_bias, moment, drive_coupling, channel):
    """The RWA policy of :mod:`echo.engines.frontend`: one warning per chunk."""
    if len(chunk_delta):
        check_rwa(schedule, chunk_delta, chunk_bias, moment, drive_coupling, channel,
                  stacklevel=4)


# -------------------------------------------------------------------------- bias noise
def _noise_terms(environment: Environment, t_end: float, rng, dt_max: float,
                 points_per_tau_c: float):
    """Sampled bias-noise trajectories as QuTiP array coefficients (rad/s) on [0, t_end],
    plus the largest |δε| (rad/s) reached, for step-size control."""
    import qutip as qt
    coeffs = []
    peak = 0.0
    for proc in environment.noise:
        if isinstance(proc, OrnsteinUhlenbeck):
            sigma = float(angular(proc.sigma))
            if sigma == 0:
                continue
            dt = min(proc.tau_c / points_per_tau_c, dt_max)
            n = max(4, math.ceil(t_end / dt) + 1)
            grid = np.linspace(0.0, t_end, n)
            step = grid[1] - grid[0]
            a = math.exp(-step / proc.tau_c)
            b = sigma * math.sqrt(-math.expm1(-2.0 * step / proc.tau_c))
            xi = rng.standard_normal(n)
            x = np.empty(n)
            x[0] = sigma * xi[0]
            for i in range(1, n):
                x[i] = a * x[i - 1] + b * xi[i]
            coeffs.append(qt.coefficient(x, tlist=grid, order=3))
            peak = max(peak, float(np.max(np.abs(x))))
        elif isinstance(proc, Telegraph):
            amp = float(angular(proc.amplitude))
            if amp == 0:
                continue
            sign = 1.0 if rng.random() < 0.5 else -1.0
            n_flip = rng.poisson(proc.rate * t_end) if proc.rate > 0 else 0
            flips = np.sort(rng.uniform(0.0, t_end, n_flip))
            grid = np.concatenate([[0.0], flips, [t_end * (1 + 1e-12) + 1e-300]])
            vals = sign * amp * (-1.0) ** np.arange(grid.size)
            vals[-1] = vals[-2]
            coeffs.append(qt.coefficient(vals, tlist=grid, order=0))
            peak = max(peak, amp)
        else:  # pragma: no cover - Environment validates
            raise ModelError(f"environment.noise: unknown process {proc!r}")
    return coeffs, peak


def _noise_scale(environment: Environment) -> float:
    """A typical (4σ) bias-noise amplitude in rad/s, for step-size control."""
    s = 0.0
    for proc in environment.noise:
        if isinstance(proc, OrnsteinUhlenbeck):
            s += 4.0 * float(angular(proc.sigma))
        elif isinstance(proc, Telegraph):
            s += float(angular(proc.amplitude))
    return s


# ------------------------------------------------------------------------ one grain
def _required_step(grain: _Grain, frame: str, omega_c: float | None, hmax: float,
                   moment: float, noise: float, settings: SolverSettings,
                   duration: float) -> float:
    """max_step (s) from the fastest angular frequency of the problem."""
    e = grain.energy
    drive = abs(moment) * hmax
    if frame == "lab":
        fast = max(2.0 * (e + noise + drive), omega_c or 0.0, drive)
    else:
        wc = 2.0 * e if omega_c is None else omega_c
        fast = max(abs(2.0 * e - wc) + 2.0 * noise, drive)
    if fast <= 0:
        return duration if duration > 0 else 1.0
    return TWO_PI / fast / settings.steps_per_period


#: relative distance below which an output time counts as sitting on a break point
_SNAP = 1e-12


def _dedupe(points: list[float]) -> list[float]:
    """Sorted points with near-duplicates (relative 1e-12) merged."""
    out: list[float] = []
    for p in sorted(points):
        if out and p - out[-1] <= _SNAP * max(abs(p), abs(out[-1])):
            continue
        out.append(p)
    return out


def _breakpoints(schedule, channel, t_end: float) -> list[float]:
    pts = {0.0, t_end}
    for p in schedule.pulses:
        if p.channel == channel:
            for t in (p.start, p.stop):
                if 0.0 < t < t_end:
                    pts.add(float(t))
    for p in schedule.ideal_pulses:
        if p.channel == channel and 0.0 < p.time <= t_end:
            pts.add(float(p.time))
    pts = _dedupe([p for p in pts if p <= t_end])
    if pts[-1] < t_end:  # keep t_end itself as the last point
        pts[-1] = t_end
    return pts


def _ideal_unitary(angle: float, phi: float):
    import qutip as qt
    ops = _ops()
    axis = math.cos(phi) * ops["sx"] + math.sin(phi) * ops["sy"]
    return (-0.5j * angle * axis).expm() if angle else qt.qeye(2)


def _run_grain(job) -> np.ndarray:
    """⟨τz⟩ (lab frame) of one grain for every phase-cycle step: (n_steps, n_t)."""
    (schedule, delta, bias, environment, times, frame, initial, seed, index, moment,
     max_error, settings) = job
    import qutip as qt
    ops = _ops()
    grain = _Grain(delta, bias)
    times = np.asarray(times, float)
    n_t = times.size
    out = np.zeros((schedule.n_steps, n_t))
    if n_t == 0:
        return out
    t_end = float(times[-1])
    channel = schedule.field_channel(None)
    omega_c = _carrier(schedule, channel) if channel else None
    if frame == "rwa" and omega_c is None:
        omega_c = 2.0 * grain.energy
    hmax = max((abs(p.amplitude) for p in schedule.pulses if p.channel == channel),
               default=0.0)
    noise_amp = _noise_scale(environment)
    required = _required_step(grain, frame, omega_c, hmax, moment, noise_amp, settings, t_end)
    if settings.max_step is not None:
        if settings.max_step > required * (1 + 1e-12):
            fastest_hz = 1.0 / (required * settings.steps_per_period)
            raise ModelError(
                f"max_step {settings.max_step:.6g} s is too coarse for the fastest frequency "
                f"of this problem ({fastest_hz:.6g} Hz, frame {frame!r}, "
                f"{settings.steps_per_period:g} steps per period): the required step is "
                f"<= {required:.6g} s")
        max_step = settings.max_step
    else:
        max_step = required
    kl, kt = _couplings(grain, environment.drive_coupling)
    tau_z = grain.cos * ops["sz"] - grain.sin * ops["sx"]
    if frame == "lab":
        h0 = grain.energy * ops["sz"]
        noise_op = tau_z
        drive_op = kl * ops["sz"] + kt * ops["sx"]
        e_ops = [tau_z]
    else:
        h0 = (grain.energy - 0.5 * omega_c) * ops["sz"]
        noise_op = grain.cos * ops["sz"]
        e_ops = [ops["sz"], ops["sx"], ops["sy"]]
    c_ops = _collapse_ops(grain, environment, frame)
    rho0 = _initial_state(grain, environment, initial)
    breaks = _breakpoints(schedule, channel, t_end) if channel else sorted({0.0, t_end})
    ideal = sorted(((p.time, p.angle, p.phases) for p in schedule.ideal_pulses
                    if p.channel == channel and p.time <= t_end), key=lambda x: x[0])
    n_traj = int(settings.n_trajectories)
    has_noise = noise_amp > 0
    base_opts = {"atol": settings.atol, "rtol": settings.rtol, "nsteps": settings.nsteps,
                 "max_step": max_step, "store_final_state": True, "progress_bar": "",
                 "normalize_output": False}
    for k in range(schedule.n_steps):
        if channel:
            seg = schedule.segments(step=k, channel=channel, max_error=max_error)
        drive_terms = []
        if channel:
            if frame == "lab":
                f = _LabField(seg, moment)
                if f:
                    drive_terms.append([drive_op, f.__call__])
            else:
                g = _RwaField(seg, moment * kt, omega_c)
                if g:
                    drive_terms.append([ops["sp"], g.__call__])
                    drive_terms.append([ops["sm"], _RwaField(seg, moment * kt, omega_c,
                                                             conj=True).__call__])
        acc = np.zeros(n_t)
        for j in range(n_traj if has_noise else 1):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, k, j)))
            noise_coeffs, _ = _noise_terms(environment, max(t_end, 1e-300), rng, max_step,
                                           settings.noise_points_per_tau_c)
            terms = [h0] + drive_terms + [[noise_op, c] for c in noise_coeffs]
            timedep = len(terms) > 1
            h = qt.QobjEvo(terms) if timedep else h0
            solver = qt.MESolver(h, c_ops, options=_options(
                base_opts, settings.method if timedep else settings.constant_method))
            const_solver = None
            if timedep and drive_terms and not noise_coeffs:
                const_solver = qt.MESolver(h0, c_ops, options=_options(
                    base_opts, settings.constant_method))
            expect = _evolve(solver, const_solver, rho0, times, breaks, ideal, k,
                             omega_c if frame == "rwa" else None, e_ops, seg if channel else None)
            if frame == "lab":
                acc += expect[0]
            else:
                wt = omega_c * times
                sx_lab = np.cos(wt) * expect[1] - np.sin(wt) * expect[2]
                acc += grain.cos * expect[0] - grain.sin * sx_lab
        out[k] = acc / (n_traj if has_noise else 1)
    return out


_ODE_ONLY = ("atol", "rtol", "nsteps", "max_step")


def _options(base: dict, method: str) -> dict:
    """QuTiP solver options for ``method`` ("diag" takes no ODE tolerances)."""
    opts = dict(base, method=method)
    if method == "diag":
        for key in _ODE_ONLY:
            opts.pop(key, None)
    return opts


def _quiet(seg, a: float, b: float) -> bool:
    """True if no drive segment with a non-zero amplitude overlaps (a, b)."""
    if seg is None:
        return True
    on = (seg.duration > 0) & (seg.amplitude != 0)
    return not np.any(on & (seg.start < b) & (seg.stop > a))


def _evolve(solver, const_solver, rho0, times, breaks, ideal, step, omega_c, e_ops, seg):
    """Integrate interval by interval [a, b) between break points; ideal pulses at time
    a are applied before the state at a is recorded (right-continuous output)."""
    n_t = times.size
    out = np.zeros((len(e_ops), n_t))
    rho = rho0
    i_ideal = 0
    for n, a in enumerate(breaks):
        while i_ideal < len(ideal) and ideal[i_ideal][0] <= a + _SNAP * abs(a):
            t_p, angle, phases = ideal[i_ideal]
            phi = phases[step] - (omega_c * t_p if omega_c is not None else 0.0)
            u = _ideal_unitary(angle, phi)
            rho = u * rho * u.dag()
            i_ideal += 1
        if n == len(breaks) - 1:  # the last break point: outputs at exactly t_end
            for i in np.flatnonzero(times >= a - _SNAP * abs(a)):
                out[:, i] = [_expect(op, rho) for op in e_ops]
            break
        b = breaks[n + 1]
        # times within `tol` of a break point belong to the break point (the ODE solver
        # cannot step by 1e-22 s): snap them
        tol = _SNAP * max(abs(b), abs(a))
        sel = np.flatnonzero((times >= a - tol) & (times < b - tol))
        t_sel = np.where(times[sel] < a + tol, a, times[sel])
        tl = np.unique(np.concatenate([[a], t_sel, [b]]))
        where = np.searchsorted(tl, t_sel)
        use = const_solver if (const_solver is not None and _quiet(seg, a, b)) else solver
        res = use.run(rho, tl, e_ops=e_ops)
        for m in range(len(e_ops)):
            out[m, sel] = np.real(np.asarray(res.expect[m]))[where]
        rho = res.final_state
    return out


def _expect(op, rho) -> float:
    import qutip as qt
    return float(np.real(qt.expect(op, rho)))


# ------------------------------------------------------------------------ public API
def _check_times(times) -> np.ndarray:
    t = np.asarray(times, dtype=float)
    if t.ndim != 1:
        raise ModelError(f"times: must be one-dimensional, got shape {t.shape}")
    if t.size and (not np.all(np.isfinite(t)) or np.any(t < 0)):
        raise ModelError(f"times: must be finite and >= 0, got min {np.min(t)!r}")
    if np.any(np.diff(t) < 0):
        raise ModelError("times: must be sorted (non-decreasing)")
    return t


def simulate_grains(schedule, chunk: GrainChunk, environment: Environment, times, *,
                    frame: str = "lab", initial: str = "thermal", seed: int = 0,
                    moment: float = 1.0, max_error: float = 1e-3,
                    **engine_options) -> np.ndarray:
    """Lab-frame ⟨τz⟩(t) of every grain of ``chunk``: array (n_grains, n_steps, n_t).

    Same arguments as :func:`simulate_chunk` (which is the weighted sum of this)."""
    RunSettings(frame, initial, max_error)  # the one validation of frame/initial/max_error
    if not (isinstance(moment, (int, float)) and math.isfinite(moment)):
        raise ModelError(f"moment: must be a finite number (rad s^-1 T^-1), got {moment!r}")
    settings = SolverSettings.from_options(engine_options)
    times = _check_times(times)
    schedule.check()
    delta = np.asarray(chunk.delta, float)
    bias = np.asarray(chunk.bias, float)
    if frame == "rwa":
        channel = schedule.field_channel(None)
        _warn_rwa(schedule, delta, bias, moment, environment.drive_coupling, channel)
    jobs = [(schedule, float(d), float(e), environment, times, frame, initial, int(seed), i,
             float(moment), float(max_error), replace(settings, executor=None))
            for i, (d, e) in enumerate(zip(delta, bias, strict=True))]
    if settings.executor is None:
        results = [_run_grain(j) for j in jobs]
    else:
        results = list(settings.executor.map(_run_grain, jobs))
    if not results:
        return np.zeros((0, schedule.n_steps, times.size))
    return np.stack(results)


def simulate_chunk(schedule, chunk: GrainChunk, environment: Environment, times, *,
                   frame: str = "lab", initial: str = "thermal", seed: int = 0,
                   moment: float = 1.0, max_error: float = 1e-3, **engine_options):
    """Σ_grains weight·⟨τz⟩(t) over ``chunk`` for every phase-cycle step.

    Parameters (ENGINE.md): ``schedule`` (a resolved Schedule), ``chunk``
    (:class:`echo.model.GrainChunk`, Δ and ε in rad/s), ``environment``, ``times`` (s,
    sorted output times), ``frame`` ("lab" | "rwa"), ``initial`` ("thermal" | "up"),
    ``seed`` (noise streams), ``moment`` γ (rad s⁻¹ T⁻¹), ``max_error`` (segmentation
    of shaped pulses, see ``Schedule.segments``), engine options of
    :class:`SolverSettings`.

    Returns ``(tau_z_sum (n_steps, n_t) float64, weight_sum float)``.
    """
    per_grain = simulate_grains(schedule, chunk, environment, times, frame=frame,
                                initial=initial, seed=seed, moment=moment,
                                max_error=max_error, **engine_options)
    w = np.asarray(chunk.weight, float)
    tau_z_sum = np.einsum("g,gkt->kt", w, per_grain) if len(w) else \
        np.zeros((schedule.n_steps, np.size(times)))
    return tau_z_sum, float(np.sum(w))
