"""The ensemble's free-evolution correlation ⟨τz(t)τz(0)⟩ computed with an engine.

Every grain starts in τz = +1 (the paper's P(t) set-up: for that pure state
⟨τz(t)τz(0)⟩ = ⟨τz(t)⟩) and evolves freely (no pulses) under its H = Δτx + ετz, the
environment's T1/Tφ/noise included. :func:`tau_z_correlation` returns the weighted
ensemble mean and its batch-means standard error (:mod:`echo.stats`) at the given times;
it is what ``spinecho theory pt-sim`` compares with :func:`echo.theory.polarisation`.
"""

from __future__ import annotations

import numpy as np

from echo.model import Ensemble, Environment, ModelError
from echo.parallel import ChunkTask, chunk_seed, map_tasks, reduce_batches
from echo.stats import frame_errors

__all__ = ["tau_z_correlation"]


def tau_z_correlation(ensemble: Ensemble, times, environment: Environment | None = None, *,
                      engine: str = "fast", executor=None, progress=None,
                      **opts) -> tuple[np.ndarray, np.ndarray]:
    """(P(t), standard error) at ``times`` (s, >= 0, increasing) over ``ensemble``."""
    from sequences.schedule import Schedule

    t = np.asarray(times, float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0) \
            or np.any(np.diff(t) < 0):
        raise ModelError("times: need a non-empty increasing list of finite times >= 0 s")
    env = environment or Environment()
    sch = Schedule(channels=(), duration=float(t[-1]) if t[-1] > 0 else 1e-12)
    tasks = [ChunkTask(0, c, 0, sch, ensemble, env, t, engine, "lab", "up",
                       chunk_seed(ensemble.seed, 0, c, 0), dict(opts))
             for c in range(ensemble.n_chunks)]
    mean, dev = reduce_batches(map_tasks(tasks, executor, progress), 1, 0)[0]
    random = not ensemble.deterministic or bool(env.noise)
    return mean[0], frame_errors(dev[:, 0], ensemble.batches, random)
