"""Split simulations into seeded tasks and map them over any executor.

A simulation of S sweep points on an ensemble of C chunks is S × C independent tasks
(:class:`ChunkTask`). Task (p, c) simulates chunk c of the ensemble (its grains are drawn
from ``SeedSequence(ensemble.seed).spawn`` child c, see :meth:`echo.model.Ensemble.chunk`)
at sweep point p with the engine seed :func:`chunk_seed` (ensemble.seed, p, c), so its
result does not depend on where or when it runs. :func:`map_tasks` runs the tasks

* in-process (``executor=None``, the default),
* on any :class:`concurrent.futures.Executor` (e.g. ``ProcessPoolExecutor`` for
  ``--workers N``), or
* on a Dask cluster: pass a ``dask.distributed.Client`` (its ``get_executor()`` is used),
  see :func:`make_executor` for ``--scheduler ADDRESS``,

and :func:`reduce_tasks` sums the chunk results of each point in chunk order, so the
floating-point sums — and hence the results — are bitwise identical however the work was
distributed. Long runs show a tqdm progress bar (``progress=True``).
"""

from __future__ import annotations

import contextlib
import sys
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ChunkTask", "chunk_seed", "make_executor", "map_tasks", "reduce_tasks",
           "run_task"]


def chunk_seed(ensemble_seed: int, point: int, chunk: int, variant: int = 0) -> int:
    """Engine seed of chunk ``chunk`` at sweep point ``point`` (a 63-bit integer derived
    with ``numpy.random.SeedSequence(ensemble_seed, spawn_key=(point, chunk, variant))``).
    ``variant`` distinguishes runs of the same point (e.g. 1 = the quiet reference)."""
    ss = np.random.SeedSequence(int(ensemble_seed), spawn_key=(int(point), int(chunk),
                                                                int(variant)))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: chunk ``chunk`` of ``ensemble`` at sweep point ``point``."""

    point: int
    chunk: int
    variant: int
    schedule: object
    ensemble: object
    environment: object
    times: np.ndarray
    engine: str
    frame: str
    initial: str
    seed: int
    opts: dict = field(default_factory=dict)


def run_task(task: ChunkTask):
    """Run one task; returns (point, chunk, variant, tau_z_sum, weight_sum)."""
    from echo.engines import get_engine

    mod = get_engine(task.engine)
    grains = task.ensemble.chunk(task.chunk)
    tz, w = mod.simulate_chunk(task.schedule, grains, task.environment, task.times,
                               frame=task.frame, initial=task.initial, seed=task.seed,
                               moment=task.ensemble.moment_rad_per_tesla, **task.opts)
    return task.point, task.chunk, task.variant, np.asarray(tz, dtype=float), float(w)


def make_executor(workers: int | None = None, scheduler: str | None = None):
    """Context manager yielding an executor: None (in-process) when neither is given, a
    ``ProcessPoolExecutor(workers)`` for ``workers`` > 1, or a dask ``Client(scheduler)``
    for a scheduler address (closed on exit)."""
    if workers is not None and scheduler is not None:
        raise ValueError("give either workers or scheduler, not both")
    if scheduler is not None:
        from dask.distributed import Client

        @contextlib.contextmanager
        def _client():
            try:
                client = Client(scheduler)
            except OSError as exc:  # refused or timed out: a user error, not a traceback
                from echo.model import ModelError

                raise ModelError(f"scheduler {scheduler!r}: cannot reach the Dask scheduler "
                                 f"({exc}); is `dask scheduler` running there?") from None
            try:
                yield client
            finally:
                client.close()

        return _client()
    if workers is not None and workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # "spawn": forking a process whose numba/OpenMP threads are running is unsafe
        return ProcessPoolExecutor(max_workers=int(workers),
                                   mp_context=multiprocessing.get_context("spawn"))
    return contextlib.nullcontext(None)


def _as_executor(executor) -> Executor | None:
    if executor is None:
        return None
    if hasattr(executor, "get_executor") and not isinstance(executor, Executor):
        return executor.get_executor()  # dask.distributed.Client
    return executor


def map_tasks(tasks: list[ChunkTask], executor=None, progress: bool | None = None) -> list:
    """Run ``tasks`` (in-process or on ``executor``); results in the order of ``tasks``."""
    ex = _as_executor(executor)
    bar = None
    if progress is None:
        progress = len(tasks) > 8 and sys.stderr.isatty()
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="simulate", unit="chunk", file=sys.stderr)
    results = [None] * len(tasks)
    try:
        if ex is None:
            for i, t in enumerate(tasks):
                results[i] = run_task(t)
                if bar is not None:
                    bar.update(1)
        else:
            futures = {ex.submit(run_task, t): i for i, t in enumerate(tasks)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results


def reduce_tasks(results: list, n_points: int, variant: int = 0) -> list[np.ndarray]:
    """Per point, the weighted ensemble mean ⟨τz⟩ (n_steps, n_t): chunk sums added in
    chunk order (deterministic), divided by the summed weight."""
    by_point: dict[int, list] = {}
    for p, c, v, tz, w in results:
        if v == variant:
            by_point.setdefault(p, []).append((c, tz, w))
    out = []
    for p in range(n_points):
        items = sorted(by_point[p], key=lambda x: x[0])
        total = np.zeros_like(items[0][1])
        wsum = 0.0
        for _, tz, w in items:
            total = total + tz
            wsum = wsum + w
        out.append(total / wsum)
    return out
