"""Continuous homodyne monitoring of one grain by a SQUID (QuTiP ``SMESolver``):
:func:`monitor` and its :class:`MonitorResult`. The grain geometry, drive coefficient
and Lindblad operators are those of the reference engine (:mod:`echo.engines.reference`);
units: ħ = 1, rad/s and s."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from echo.engines.reference import (
    SolverSettings,
    _carrier,
    _check_times,
    _collapse_ops,
    _couplings,
    _expect,
    _Grain,
    _ideal_unitary,
    _initial_state,
    _LabField,
    _ops,
    _required_step,
)
from echo.model import Environment, ModelError

__all__ = ["monitor", "MonitorResult"]


@dataclass(frozen=True)
class MonitorResult:
    """Continuous homodyne monitoring of τz of one grain (QuTiP ``smesolve`` convention).

    * ``times`` (n_t,): s, uniform, record grid.
    * ``tau_z`` (n_t,): trajectory-averaged ⟨τz⟩ (= the unconditional master equation).
    * ``tau_z_traj`` (ntraj, n_t): conditional ⟨τz⟩ of each trajectory.
    * ``record`` (ntraj, n_t − 1): homodyne record of each interval [t_i, t_{i+1}],
      record_i = ⟨c + c†⟩(t_i) + ΔW_i/Δt, c = √κ τz, so ⟨c + c†⟩ = 2√κ⟨τz⟩ and ΔW_i the
      Wiener increment over the interval (mean 0, variance Δt): the record's noise has
      variance 1/Δt (units 1/s, since c has units s^-1/2).
    * ``kappa`` (1/s), ``dt`` (record interval, s), ``substeps`` (SDE steps per interval).
    """

    times: np.ndarray
    tau_z: np.ndarray
    tau_z_traj: np.ndarray
    record: np.ndarray
    kappa: float
    dt: float
    substeps: int

    @property
    def signal(self) -> np.ndarray:
        """The noise-free part of the record, 2√κ⟨τz⟩ at each interval start."""
        return 2.0 * math.sqrt(self.kappa) * self.tau_z_traj[:, :-1]


def monitor(schedule, delta: float, bias: float, environment: Environment, times, *,
            kappa: float | None = None, ntraj: int = 100, seed: int = 0,
            moment: float = 1.0, max_error: float = 1e-3, initial: str = "thermal",
            step: int = 0, substeps: int = 20, method: str = "platen") -> MonitorResult:
    """Homodyne monitoring of τz of one grain (Δ, ε in rad/s) with strength ``kappa``
    (1/s; default ``environment.measurement_rate``), lab frame, QuTiP ``SMESolver``
    with ``sc_ops = [√κ τz]``; T1/Tφ of ``environment`` as ordinary Lindblad terms.

    ``times`` must be a uniform grid starting at 0 (the record intervals); ideal pulses
    must sit on it. The SDE step is Δt/``substeps`` and must also be below
    (π/E)/20. Trajectory j uses ``SeedSequence(seed, spawn_key=(j, segment))``.
    Bias noise is not included (use :func:`simulate_chunk`).
    """
    import qutip as qt
    if environment.noise:
        raise ModelError("monitor: bias noise is not supported here; use simulate_chunk")
    kappa = environment.measurement_rate if kappa is None else float(kappa)
    if not (math.isfinite(kappa) and kappa > 0):
        raise ModelError(f"kappa: must be > 0 (1/s), got {kappa!r}")
    times = _check_times(times)
    if times.size < 2 or times[0] != 0:
        raise ModelError("times: monitor needs a uniform grid starting at t = 0")
    dt_rec = float(times[1] - times[0])
    if not np.allclose(np.diff(times), dt_rec, rtol=1e-9, atol=0):
        raise ModelError("times: monitor needs a uniform grid (equal record intervals)")
    if int(ntraj) < 1:
        raise ModelError(f"ntraj: must be >= 1, got {ntraj!r}")
    schedule.check()
    grain = _Grain(float(delta), float(bias))
    ops = _ops()
    dt = dt_rec / int(substeps)
    channel = schedule.field_channel(None)
    hmax = max((abs(p.amplitude) for p in schedule.pulses if p.channel == channel),
               default=0.0)
    omega_c = _carrier(schedule, channel) if channel else None
    need = _required_step(grain, "lab", omega_c, hmax, moment, 0.0,
                          SolverSettings(), float(times[-1]))
    if dt > need * (1 + 1e-12):
        raise ModelError(f"monitor: SDE step {dt:.6g} s too coarse; need <= {need:.6g} s "
                         f"(raise substeps or refine times)")
    tau_z = grain.cos * ops["sz"] - grain.sin * ops["sx"]
    kl, kt = _couplings(grain, environment.drive_coupling)
    terms = [grain.energy * ops["sz"]]
    if channel:
        f = _LabField(schedule.segments(step=step, channel=channel, max_error=max_error),
                      moment)
        if f:
            terms.append([kl * ops["sz"] + kt * ops["sx"], f.__call__])
    h = qt.QobjEvo(terms) if len(terms) > 1 else terms[0]
    env_no_meas = replace(environment, measurement_rate=0.0)
    c_ops = _collapse_ops(grain, env_no_meas, "lab")
    solver = qt.SMESolver(h, sc_ops=[math.sqrt(kappa) * tau_z], c_ops=c_ops, heterodyne=False,
                          options={"dt": dt, "method": method, "progress_bar": ""})
    rho0 = _initial_state(grain, environment, initial)
    # ideal pulses snapped to the record grid
    kicks: dict[int, list] = {}
    for p in schedule.ideal_pulses:
        if p.channel != channel:
            continue
        i = int(round(p.time / dt_rec))
        if abs(i * dt_rec - p.time) > 1e-6 * dt_rec:
            raise ModelError(f"monitor: ideal pulse at {p.time:.6g} s is not on the record "
                             f"grid (step {dt_rec:.6g} s)")
        kicks.setdefault(i, []).append(_ideal_unitary(p.angle, p.phases[step]))
    n_t = times.size
    ntraj = int(ntraj)
    traj = np.zeros((ntraj, n_t))
    dws = np.zeros((ntraj, n_t - 1))
    for j in range(ntraj):
        rho = rho0
        segment = 0
        restart = True
        for i in range(n_t):
            if i in kicks:
                for u in kicks[i]:
                    rho = u * rho * u.dag()
                restart = True
            if restart:
                solver.start(rho, float(times[i]),
                             seed=np.random.SeedSequence(seed, spawn_key=(j, segment)))
                segment += 1
                restart = False
            traj[j, i] = _expect(tau_z, rho)
            if i + 1 < n_t:
                rho, dw = solver.step(float(times[i + 1]), wiener_increment=True)
                dws[j, i] = float(np.asarray(dw).ravel()[0])
    record = 2.0 * math.sqrt(kappa) * traj[:, :-1] + dws / dt_rec
    return MonitorResult(times=times, tau_z=traj.mean(axis=0), tau_z_traj=traj, record=record,
                         kappa=kappa, dt=dt_rec, substeps=int(substeps))
