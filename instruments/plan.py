"""Averaging plan (``spinecho plan``): how many averages, and how much time, a measurement
needs for a target signal-to-noise ratio of its echo amplitude.

Noise model (the digitizer's white noise, the floor of a SQUID read-out with the
flux-locked loop's noise referred to its output): σ_v volts rms per sample per shot. The
measurement procedure demodulates z = 2V·e^(−iωt), averages the window's N samples, sums
the phase cycle's n steps with unit receiver weights, and co-adds A software × H on-scope
averages; each quadrature of the echo amplitude then has the standard error

    σ_q = σ_v · √(2 / (N · n · A · H))      (ω ≠ 0; a window of many carrier periods)

(for baseband detection, ω = 0, the in-phase quadrature gets 4σ_v²/(N n A H) and the
other none: the factor 2 becomes 4). With the simulated echo amplitude |a| (the fast
engine on the model), SNR = |a| / σ_q, so the averages for a target SNR are

    A = ⌈ 2 σ_v² SNR² / (N n H |a|²) ⌉  (at least 1),

and the time per point A · H · n · T_rep (T_rep the shot period: the repetition time, or
the played length of one shot). A measurement at A averages reaches SNR ≥ target on
average; the measured SNR scatters with the noise estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from instruments.errors import InstrumentError

__all__ = ["PointPlan", "Plan", "plan_averages", "plan_measurement", "quadrature_stderr"]


class PlanError(InstrumentError):
    """A plan that cannot be made (no echo, bad inputs): the message says why."""


@dataclass
class PointPlan:
    """One sweep point: ``params``, simulated ``amplitude`` (V, complex), window samples
    ``n_window``, ``averages`` A, reached ``snr``, ``time`` (s of shots)."""

    params: dict
    amplitude: complex
    n_window: int
    averages: int
    snr: float
    time: float

    def to_dict(self) -> dict:
        return {"params": self.params, "echo_amplitude": abs(self.amplitude),
                "n_window": self.n_window, "averages": self.averages, "snr": self.snr,
                "time_s": self.time}


@dataclass
class Plan:
    target_snr: float
    noise_rms: float
    n_steps: int
    hw_averages: int
    repetition_time: float
    points: list[PointPlan] = field(default_factory=list)

    @property
    def total_time(self) -> float:
        return float(sum(p.time for p in self.points))

    def to_dict(self) -> dict:
        return {"target_snr": self.target_snr, "noise_rms_v": self.noise_rms,
                "n_steps": self.n_steps, "hw_averages": self.hw_averages,
                "repetition_time_s": self.repetition_time, "total_time_s": self.total_time,
                "points": [p.to_dict() for p in self.points]}


def quadrature_stderr(noise_rms: float, n_window: int, n_steps: int, averages: int,
                      hw_averages: int = 1, baseband: bool = False) -> float:
    """σ_q (V) of each quadrature of the echo amplitude (see the module docstring)."""
    factor = 4.0 if baseband else 2.0
    return noise_rms * math.sqrt(factor / (n_window * n_steps * averages * hw_averages))


def plan_averages(amplitude: float, *, noise_rms: float, target_snr: float, n_window: int,
                  n_steps: int, hw_averages: int = 1, baseband: bool = False,
                  max_averages: int = 1_000_000) -> int:
    """Software averages A for ``target_snr`` (see the module docstring)."""
    for name, v in (("noise_rms", noise_rms), ("target_snr", target_snr)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise PlanError(f"{name} = {v!r}: expected a finite number > 0")
    a = abs(amplitude)
    if not math.isfinite(a) or a == 0:
        raise PlanError(f"the simulated echo amplitude is {a!r} V: no echo to average for")
    factor = 4.0 if baseband else 2.0
    ratio = noise_rms * target_snr / a  # products, not powers: a huge ratio is inf, no error
    need = factor * ratio * ratio / (n_window * n_steps * hw_averages)
    if not need <= max_averages:
        raise PlanError(f"SNR {target_snr:g} needs {need:.3g} averages of a {a:.3g} V echo "
                        f"under {noise_rms:.3g} V noise (limit {max_averages}): lower the "
                        "target, widen the window or improve the read-out")
    return max(1, math.ceil(need * (1 - 1e-12)))


def plan_measurement(sequence, model, lab, *, target_snr: float, noise_rms: float,
                     sets=None, repetition_time: float = 0.0, engine: str = "fast") -> Plan:
    """Plan ``sequence`` (a Sequence with its sweeps) measured on ``lab`` (a
    :class:`instruments.lab.LabConfig`; each point is compiled for it, so the limits are
    checked and the window samples are those of the record the procedure reads) for
    a sample described by ``model``: the echo of every point is simulated (demodulated at
    the reference the measurement procedure uses, without read-out noise), then
    :func:`plan_averages`."""
    from echo.simulate import simulate
    from instruments.compiler import compile as compile_schedule

    dig = lab.require("digitizer", "a plan")
    if not (isinstance(repetition_time, (int, float)) and math.isfinite(repetition_time)
            and repetition_time >= 0):
        raise PlanError(f"repetition_time = {repetition_time!r}: expected a time >= 0 s")
    from dataclasses import replace

    pairs = list(sequence.sweep(**dict(sets or {}))) if sequence.sweeps else \
        [({}, sequence.bind_values(dict(sets or {})))]
    hw = int(getattr(dig, "averages", 1) or 1)
    plan = Plan(target_snr, noise_rms, pairs[0][1].n_steps, hw, repetition_time)
    for point, sched in pairs:
        k = sched.echo_window()
        if k < 0:
            raise PlanError("the sequence has no detection window")
        # the record the procedure will read: the compiled acquisition's sampling
        acq = compile_schedule(sched, lab, repetition_time=repetition_time or None).acquisition
        rate = (acq.n_points / acq.record_length if acq.n_points and acq.record_length > 0
                else acq.sample_rate or dig.sample_rate)
        n_w = max(1, int(round(sched.windows[k].duration * rate)))
        # demodulated at the reference the measurement procedure uses for this point
        f_ref = sched.reference_frequency()
        m = replace(model, detection=replace(model.detection, reference_frequency=f_ref,
                                             noise_rms=0.0))
        amp = complex(simulate(sched, m, engine=engine, normalise=False).amplitude[0])
        base = f_ref == 0
        a = plan_averages(amp, noise_rms=noise_rms, target_snr=target_snr, n_window=n_w,
                          n_steps=sched.n_steps, hw_averages=hw, baseband=base)
        t_rep = repetition_time or sched.duration
        sq = quadrature_stderr(noise_rms, n_w, sched.n_steps, a, hw, base)
        plan.points.append(PointPlan(dict(point), amp, n_w, a, abs(amp) / sq,
                                     a * hw * sched.n_steps * t_rep))
    return plan


def measured_snr(amplitudes) -> tuple[float, float]:
    """(SNR, its relative standard error) from repeated complex amplitudes of one point:
    |mean| / σ_q with σ_q² the pooled variance of the two quadratures (2(K−1) degrees of
    freedom); relative standard error ≈ 1/√(4(K−1))."""
    z = np.asarray(amplitudes, complex)
    if z.size < 3:
        raise PlanError("measured SNR: at least 3 repeated amplitudes are needed")
    var = 0.5 * (np.var(z.real, ddof=1) + np.var(z.imag, ddof=1))
    return float(abs(z.mean()) / math.sqrt(var)), 1.0 / math.sqrt(4 * (z.size - 1))
