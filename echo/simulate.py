"""High-level simulation: sweeps of Schedules × a model → :class:`echo.result.EchoResult`.

:func:`simulate_schedules` runs a list of resolved Schedules (one per sweep point) on an
ensemble/environment/detection; :func:`simulate` also accepts a ``sequences`` Sequence
(bound and swept through the sequence language) or a single Schedule, and a
:class:`echo.model.Model`.

Entry points (one orchestration, :func:`simulate_schedules`; the others call it):
:func:`run` (one Schedule), :func:`simulate` (a Sequence bound and swept, or Schedules,
on a Model); ``spinecho.simulate`` and ``spinecho simulate`` add the command line's rules
(``--set``/``--sweep``, model-field names) on top of :func:`simulate_schedules`. The
user-facing ones (:func:`simulate`, ``spinecho.simulate``, the CLI) compute the
normalised amplitude by default (``normalise=True``); :func:`run` and
:func:`simulate_schedules`, the building blocks of fits and tools, do not. Engine, frame,
initial state and engine options are validated once, before anything runs
(:mod:`echo.engines.frontend`).

Demodulation reference: a sequence that binds the parameter ``f_ref`` (e.g. holeburn.seq,
``f_ref = f_probe``) is demodulated at each point's own ``f_ref``, as the measurement
procedure does (:meth:`sequences.Schedule.reference_frequency`); otherwise at the model's
``detection.reference_frequency`` (None: the raw trace). A detection window too short for
the reference or the demodulation bandwidth is warned about
(:func:`echo.detect.window_warnings`, a ``RuntimeWarning`` naming the window).

Normalised echo amplitude (``normalise=True``): the echo amplitude divided by the same
quantity computed with ``environment.quiet()`` (no bias noise, T1, Tφ or measurement
back-action), same ensemble, same seeds and no additive detector noise, reported as
Re(A / A_quiet) — the in-phase part — so a sample without decoherence gives exactly 1.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np

from echo.detect import (
    demodulate,
    echo_amplitude,
    iq_signal,
    low_pass,
    output_times,
    phase_cycle,
    to_signal,
    window_warnings,
)
from echo.memory import check_memory
from echo.model import Detection, Ensemble, Environment, Model, ModelError
from echo.parallel import ChunkTask, chunk_seed, map_tasks, reduce_batches
from echo.result import EchoResult, build_result
from echo.stats import normalised_error, point_errors
from sequences.units import angular, cyclic

__all__ = ["run", "simulate", "simulate_many", "simulate_schedules", "point_detection",
           "REFERENCE_PARAMETER"]

#: The sequence parameter that sets a per-point demodulation reference (Hz).
REFERENCE_PARAMETER = "f_ref"


def point_detection(detection: Detection, schedule) -> Detection:
    """``detection`` as it applies to one sweep point: demodulated at the schedule's bound
    ``f_ref`` when the sequence has one (the measurement's per-point reference)."""
    if REFERENCE_PARAMETER not in schedule.param_values():
        return detection
    return replace(detection,
                   reference_frequency=schedule.reference_frequency(REFERENCE_PARAMETER))


def _is_quiet(env: Environment) -> bool:
    return (env.t1 is None and env.t_phi is None and not env.noise
            and env.measurement_rate == 0)


def simulate_schedules(schedules, ensemble: Ensemble, environment: Environment,
                       detection: Detection, *, engine="fast", frame="lab",
                       initial="thermal", executor=None, progress=None, keep_tau_z=False,
                       params=None, normalise=False, source="", model=None,
                       memory_budget=None, observables=False, **opts) -> EchoResult:
    """Simulate each Schedule of ``schedules`` (one per sweep point); ``params`` gives
    the swept parameter values per point (dicts, SI floats). Before anything runs, the
    memory is estimated and a simulation over ``memory_budget`` bytes (default
    :func:`echo.memory.memory_budget`) is refused with a hint (:mod:`echo.memory`).
    ``observables``: also the full Bloch vector per output sample in the lab frame, the
    static eigenbasis and the frame rotating at the carrier (:mod:`echo.observables`;
    fast engine; 5 × the engine work), with standard errors."""
    return simulate_many([((schedules, ensemble, environment, detection),
                           dict(engine=engine, frame=frame, initial=initial,
                                keep_tau_z=keep_tau_z, params=params, normalise=normalise,
                                source=source, model=model, memory_budget=memory_budget,
                                observables=observables, **opts))],
                         executor=executor, progress=progress)[0]


def simulate_many(calls, *, executor=None, progress=None) -> list[EchoResult]:
    """Several :func:`simulate_schedules` calls — ``calls`` a list of (args, kwargs) — with
    the chunk tasks of all of them mapped at once (so a fit's Jacobian columns, or a
    model at several seeds, share the cores); results in the order of ``calls``, each the
    same as its own call would give."""
    plans = [_plan(*args, **kwargs) for args, kwargs in calls]
    task_lists = [next(g) for g in plans]
    flat = [t for ts in task_lists for t in ts]
    results = map_tasks(flat, executor, progress)
    out, k = [], 0
    for g, ts in zip(plans, task_lists, strict=True):
        try:
            g.send(results[k:k + len(ts)])
        except StopIteration as stop:
            out.append(stop.value)
        else:  # pragma: no cover - _plan yields once
            raise RuntimeError("simulation plan yielded twice")
        k += len(ts)
    return out


def _plan(schedules, ensemble: Ensemble, environment: Environment, detection: Detection, *,
          engine="fast", frame="lab", initial="thermal", keep_tau_z=False, params=None,
          normalise=False, source="", model=None, memory_budget=None, observables=False,
          point_options=None, **opts):
    """Generator: checks, yields the chunk tasks, receives their results and returns the
    :class:`EchoResult` (see :func:`simulate_schedules`). ``point_options``: per sweep
    point, engine options added to ``opts`` for that point only (e.g. a fit's frozen
    ``noise_step`` per point)."""
    from echo.engines import get_engine
    from echo.engines.frontend import RunSettings, engine_settings

    # one validation, before anything runs: frame, initial state, engine and its options
    RunSettings(frame, initial, opts.get("max_error", 1e-3))
    engine_settings(engine, {k: v for k, v in opts.items() if k != "max_error"})
    get_engine(engine)
    schedules = list(schedules)
    if not schedules:
        raise ModelError("simulate: no sweep points")
    if point_options is None:
        point_options = [{}] * len(schedules)
    point_options = [dict(o or {}) for o in point_options]
    if len(point_options) != len(schedules):
        raise ModelError(f"point_options: {len(point_options)} entries for "
                         f"{len(schedules)} sweep points")
    for o in point_options:
        if o:
            engine_settings(engine, {k: v for k, v in {**opts, **o}.items()
                                     if k != "max_error"})
    for s in schedules:
        s.check()
    envs = [(0, environment)]
    if normalise:
        envs.append((1, environment.quiet()))
    quad_det = detection.kind == "quadrature"
    bloch = bool(observables) or quad_det
    check_memory(schedules, ensemble, detection, variants=len(envs), budget=memory_budget,
                 components=5 if bloch else 1)
    out_t, out_w, tasks = [], [], []
    for p, sch in enumerate(schedules):
        t, w = output_times(sch, detection)
        if t.size == 0:
            raise ModelError(f"detection.sample_rate: {detection.sample_rate!r} Hz gives no "
                             f"output sample in the detection windows of point {p}")
        out_t.append(t)
        out_w.append(w)
        for variant, env in envs:
            for c in range(ensemble.n_chunks):
                tasks.append(ChunkTask(p, c, variant, sch, ensemble, env, t, engine, frame,
                                       initial, chunk_seed(ensemble.seed, p, c, 0),
                                       {**opts, **point_options[p]},
                                       bloch=bloch and (variant == 0 or quad_det)))
    results = yield tasks
    reduced = reduce_batches(results, len(schedules), 0)
    dets = [point_detection(detection, sch) for sch in schedules]
    said = set()
    for sch, det in zip(schedules, dets, strict=True):
        for msg in window_warnings(sch, det.reference_frequency, det.demod_bandwidth):
            if msg not in said:
                said.add(msg)
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
    random = not ensemble.deterministic or bool(environment.noise)
    omegas = [_rotating_omega(sch, det, {**opts, **po})
              for sch, det, po in zip(schedules, dets, point_options, strict=True)]
    tau, traces, errors, frames = [], [], [], []
    for p, sch in enumerate(schedules):
        rng = np.random.default_rng(np.random.SeedSequence(detection.seed, spawn_key=(p,)))
        mean, dev = reduced[p]
        read = _Readout(sch, out_t[p], out_w[p], ensemble, dets[p], omegas[p], bloch)
        tau.append(mean[2] if bloch else mean)
        traces.append(read.trace(mean, dets[p], rng))
        errors.append(read.errors(dev, traces[-1], random, p))
        if observables:
            frames.append(_frames(mean, dev, out_t[p], omegas[p], ensemble.batches, random))
    amp_quiet = None
    if normalise:
        reduced_q = reduce_batches(results, len(schedules), 1)
        qtr, qreads = [], []
        for p, sch in enumerate(schedules):
            qdet = replace(dets[p], noise_rms=0.0)
            qreads.append(_Readout(sch, out_t[p], out_w[p], ensemble, qdet, omegas[p],
                                   quad_det))
            qtr.append(qreads[-1].trace(reduced_q[p][0], qdet, None))
        qres = build_result(schedules=schedules, times=out_t, window_index=out_w, trace=qtr)
        amp_quiet = qres.amplitude
        for p, sch in enumerate(schedules):
            qerr = qreads[p].errors(reduced_q[p][1], qtr[p], not ensemble.deterministic, p)
            amp = echo_amplitude(phase_cycle(traces[p], sch.receiver), out_w[p], sch)
            errors[p].normalised = normalised_error(errors[p], qerr, amp, complex(amp_quiet[p]))
    if model is None:
        model = Model(ensemble, environment, detection)
    attrs = {"kind": "simulated", "engine": engine, "frame": frame, "initial": initial,
             "seed": int(ensemble.seed), "sequence": source or schedules[0].source or "",
             "model": json.dumps(model.to_dict()),
             "engine_options": json.dumps(opts if not any(point_options) else
                                          {**opts, "per_point": point_options}, default=str),
             "ensemble_rule": ensemble.rule, "batches": int(ensemble.batches),
             "stderr_method": "batch means over the ensemble's batches (echo.stats)",
             "schedule_names": [s.name for s in schedules]}
    return build_result(schedules=schedules, times=out_t, window_index=out_w, trace=traces,
                        tau_z=tau if keep_tau_z else None, params=params,
                        amplitude_quiet=amp_quiet, attrs=attrs, errors=errors,
                        bloch=frames or None,
                        rotating_frequency=[cyclic(w) for w in omegas] if bloch else None)


def _rotating_omega(schedule, detection: Detection, opts: dict) -> float:
    """Carrier (rad/s) of the rotating frame: the point's demodulation reference
    (``detection.reference_frequency``, or the sequence's ``f_ref``) if > 0, else the
    engine option ``frame_frequency`` (Hz), else :meth:`sequences.Schedule.carrier`."""
    f = detection.reference_frequency
    if f is not None and f > 0:
        return float(angular(f))
    if opts.get("frame_frequency") is not None:
        return float(angular(float(opts["frame_frequency"])))
    return float(angular(schedule.carrier()))


def _frames(mean, dev, times, omega, n_batches, random) -> dict:
    """Frame name → (Bloch vector (n_steps, 3, n_t), standard error) of one point."""
    from echo.observables import bloch_frames
    from echo.stats import frame_errors

    m = bloch_frames(mean, times, omega)
    d = bloch_frames(dev, times, omega)
    return {k: (m[k], frame_errors(d[k], n_batches, random)) for k in m}


class _Readout:
    """The read-out chain of one point: SQUID/coil from ⟨τz⟩ (component 2 of the Bloch
    sums when ``bloch``), or the quadrature detector from the rotating-frame Bloch vector."""

    def __init__(self, sch, times, window, ensemble, detection, omega, bloch):
        self.sch, self.times, self.window = sch, times, window
        self.ensemble, self.detection, self.omega, self.bloch = (ensemble, detection, omega,
                                                                 bloch)
        self.quiet = replace(detection, noise_rms=0.0)

    def _iq(self, comp):
        from echo.observables import bloch_frames

        rot = bloch_frames(comp, self.times, self.omega)["rotating"]
        return rot[..., 0, :] + 1j * rot[..., 1, :]

    def trace(self, mean, detection, rng):
        if detection.kind == "quadrature":
            return iq_signal(self._iq(mean), self.times, self.window, self.ensemble,
                             detection, rng)
        tz = mean[2] if self.bloch else mean
        return to_signal(tz, self.times, self.window, self.sch, self.ensemble, detection, rng)

    def _read(self, trace):
        sg = phase_cycle(trace, self.sch.receiver)
        return trace, sg, echo_amplitude(sg, self.window, self.sch)

    def errors(self, dev, trace, random, point):
        """:class:`echo.stats.PointErrors` from the batch deviations ``dev``."""
        det = self.detection
        quad = det.kind == "quadrature"
        shape = (self.sch.n_steps, np.size(self.times))

        def chain(d):
            return self._read(self.trace(d, self.quiet, None))

        def noise_chain(rng):
            if quad:
                return self._read(iq_signal(np.zeros(shape, complex), self.times, self.window,
                                            self.ensemble, det, rng))
            return self._read(low_pass(demodulate(rng.normal(0.0, det.noise_rms, shape),
                                                  self.times, det.reference_frequency),
                                       self.window, det))

        amp = self._read(trace)[2]
        rng = np.random.default_rng(np.random.SeedSequence(det.seed, spawn_key=(point, 1)))
        return point_errors(dev, chain, noise_chain, det.noise_rms, rng, random, amp,
                            tz_dev=dev[:, 2] if self.bloch else dev)


def run(schedule, ensemble, environment, detection, *, engine="fast", frame="lab",
        initial="thermal", executor=None, progress=None, keep_tau_z=False, **opts):
    """Simulate one :class:`sequences.Schedule` on the ensemble; returns an EchoResult
    with one sweep point. ``executor``: any ``concurrent.futures.Executor`` (None =
    in-process). ``opts`` go to the engine (``max_error``, ``dt``, ...)."""
    return simulate_schedules([schedule], ensemble, environment, detection, engine=engine,
                              frame=frame, initial=initial, executor=executor,
                              progress=progress, keep_tau_z=keep_tau_z, **opts)


def simulate(sequence, model: Model, *, sweep=None, values=None, engine="fast",
             frame="lab", initial="thermal", executor=None, progress=None,
             keep_tau_z=False, normalise=True, observables=False, **opts) -> EchoResult:
    """Simulate ``sequence`` on ``model``.

    ``sequence``: a Schedule, a list of Schedules, or a ``sequences`` Sequence (template)
    bound with ``values`` (dict name → value) and swept over ``sweep`` (dict name →
    list of values; the Cartesian product, first name slowest) or, without ``sweep``,
    over the sweeps the Sequence declares."""
    from sequences import Schedule

    params = None
    if isinstance(sequence, Schedule):
        schedules = [sequence]
        source = sequence.source
    elif isinstance(sequence, (list, tuple)) and all(isinstance(s, Schedule) for s in sequence):
        schedules = list(sequence)
        source = schedules[0].source if schedules else ""
    else:
        schedules, params = _bind_sweep(sequence, values or {}, sweep or {})
        source = getattr(sequence, "source", "") or ""
    return simulate_schedules(schedules, model.ensemble, model.environment, model.detection,
                              engine=engine, frame=frame, initial=initial, executor=executor,
                              progress=progress, keep_tau_z=keep_tau_z, params=params,
                              normalise=normalise, source=source, model=model,
                              observables=observables, **opts)


def _bind_sweep(sequence, values: dict, sweep: dict):
    """Bind a ``sequences`` Sequence at every point of the sweep grid."""
    import itertools

    if not hasattr(sequence, "bind"):
        raise ModelError(f"simulate: cannot simulate {type(sequence).__name__!r} "
                         "(need a Schedule or a sequences Sequence)")
    if not sweep and getattr(sequence, "sweeps", None) and hasattr(sequence, "sweep"):
        schedules, params = [], []
        for point, sched in sequence.sweep(**values):  # the sequence's declared sweeps
            schedules.append(sched)
            params.append({k: float(v) for k, v in point.items()})
        return schedules, params
    names = list(sweep)
    grids = [list(sweep[n]) for n in names]
    schedules, params = [], []
    for combo in itertools.product(*grids) if names else [()]:
        point = dict(zip(names, combo, strict=True))
        schedules.append(sequence.bind(**{**values, **point}))
        params.append({k: float(v) for k, v in point.items()})
    return schedules, params
