"""High-level simulation: sweeps of Schedules × a model → :class:`echo.result.EchoResult`.

:func:`simulate_schedules` runs a list of resolved Schedules (one per sweep point) on an
ensemble/environment/detection; :func:`simulate` also accepts a ``sequences`` Sequence
(bound and swept through the sequence language) or a single Schedule, and a
:class:`echo.model.Model`.

Normalised echo amplitude (``normalise=True``): the echo amplitude divided by the same
quantity computed with ``environment.quiet()`` (no bias noise, T1, Tφ or measurement
back-action), same ensemble, same seeds and no additive detector noise, reported as
Re(A / A_quiet) — the in-phase part — so a sample without decoherence gives exactly 1.
"""

from __future__ import annotations

import json

import numpy as np

from echo.detect import output_times, to_signal
from echo.memory import check_memory
from echo.model import INITIAL_STATES, Detection, Ensemble, Environment, Model, ModelError
from echo.parallel import ChunkTask, chunk_seed, map_tasks, reduce_tasks
from echo.result import EchoResult, build_result

__all__ = ["simulate", "simulate_schedules"]

FRAMES = ("lab", "rwa")
INITIALS = INITIAL_STATES


def _is_quiet(env: Environment) -> bool:
    return (env.t1 is None and env.t_phi is None and not env.noise
            and env.measurement_rate == 0)


def simulate_schedules(schedules, ensemble: Ensemble, environment: Environment,
                       detection: Detection, *, engine="fast", frame="lab",
                       initial="thermal", executor=None, progress=None, keep_tau_z=False,
                       params=None, normalise=False, source="", model=None,
                       memory_budget=None, **opts) -> EchoResult:
    """Simulate each Schedule of ``schedules`` (one per sweep point); ``params`` gives
    the swept parameter values per point (dicts, SI floats). Before anything runs, the
    memory is estimated and a simulation over ``memory_budget`` bytes (default
    :func:`echo.memory.memory_budget`) is refused with a hint (:mod:`echo.memory`)."""
    from echo.engines import get_engine

    if frame not in FRAMES:
        raise ModelError(f"frame: must be one of {FRAMES}, got {frame!r}")
    if initial not in INITIALS:
        raise ModelError(f"initial: must be one of {INITIALS}, got {initial!r}")
    get_engine(engine)  # fail early on an unknown engine
    schedules = list(schedules)
    if not schedules:
        raise ModelError("simulate: no sweep points")
    for s in schedules:
        s.check()
    envs = [(0, environment)]
    if normalise:
        envs.append((1, environment.quiet()))
    check_memory(schedules, ensemble, detection, variants=len(envs), budget=memory_budget)
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
                                       initial, chunk_seed(ensemble.seed, p, c, 0), dict(opts)))
    results = map_tasks(tasks, executor, progress)
    tau = reduce_tasks(results, len(schedules), 0)
    traces = []
    for p, sch in enumerate(schedules):
        rng = np.random.default_rng(np.random.SeedSequence(detection.seed, spawn_key=(p,)))
        traces.append(to_signal(tau[p], out_t[p], out_w[p], sch, ensemble, detection, rng))
    amp_quiet = None
    if normalise:
        quiet_det = Detection(**{**detection.to_dict(), "noise_rms": 0.0})
        tau_q = reduce_tasks(results, len(schedules), 1)
        qtr = [to_signal(tau_q[p], out_t[p], out_w[p], sch, ensemble, quiet_det)
               for p, sch in enumerate(schedules)]
        qres = build_result(schedules=schedules, times=out_t, window_index=out_w, trace=qtr)
        amp_quiet = qres.amplitude
    if model is None:
        model = Model(ensemble, environment, detection)
    attrs = {"kind": "simulated", "engine": engine, "frame": frame, "initial": initial,
             "seed": int(ensemble.seed), "sequence": source or schedules[0].source or "",
             "model": json.dumps(model.to_dict()),
             "engine_options": json.dumps(opts, default=str),
             "schedule_names": [s.name for s in schedules]}
    return build_result(schedules=schedules, times=out_t, window_index=out_w, trace=traces,
                        tau_z=tau if keep_tau_z else None, params=params,
                        amplitude_quiet=amp_quiet, attrs=attrs)


def simulate(sequence, model: Model, *, sweep=None, values=None, engine="fast",
             frame="lab", initial="thermal", executor=None, progress=None,
             keep_tau_z=False, normalise=True, **opts) -> EchoResult:
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
                              normalise=normalise, source=source, model=model, **opts)


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
