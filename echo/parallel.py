"""Split simulations into seeded tasks and map them over any executor.

A simulation of S sweep points on an ensemble of C chunks is S × C independent tasks
(:class:`ChunkTask`). Task (p, c) simulates chunk c of the ensemble (its grains are drawn
from ``SeedSequence(ensemble.seed).spawn`` child c, see :meth:`echo.model.Ensemble.chunk`)
at sweep point p with the engine seed :func:`chunk_seed` (ensemble.seed, p, c), so its
result does not depend on where or when it runs. :func:`map_tasks` runs the tasks

* in-process (``executor=None``, the default): on a pool of threads, one per core
  (``SPINECHO_THREADS`` to choose; the fast engine's kernel releases the GIL, and a task
  run on a pool thread uses the single-threaded kernel, so the tasks — sweep points,
  chunks, the models of a fit's Jacobian — share the cores instead of each task's
  grains; one task alone still gets the engine's own threads),
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
import os
import sys
import threading
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ChunkTask", "chunk_seed", "in_worker_thread", "make_executor", "map_tasks",
           "reduce_batches", "reduce_tasks", "run_task", "thread_count"]

_LOCAL = threading.local()
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def in_worker_thread() -> bool:
    """True on a thread of the in-process pool (its tasks use single-threaded kernels)."""
    return getattr(_LOCAL, "worker", False)


def thread_count() -> int:
    """Threads of the in-process pool: ``SPINECHO_THREADS`` or the usable cores."""
    env = os.environ.get("SPINECHO_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _mark_worker():
    _LOCAL.worker = True


def _thread_pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(thread_count(), thread_name_prefix="spinecho",
                                       initializer=_mark_worker)
        return _POOL


def _cost(task) -> float:
    """A rough cost of a task (grains × shot duration) to start the longest first."""
    try:
        n = min(task.ensemble.chunk_size,
                task.ensemble.n_samples - task.chunk * task.ensemble.chunk_size)
        return float(n) * float(getattr(task.schedule, "duration", 1.0))
    except (AttributeError, TypeError):
        return 0.0


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
    bloch: bool = False


def _local_batches(ensemble, chunk: int, n: int) -> tuple[np.ndarray, int]:
    """Edges (local grain indices) of the ensemble's batches inside chunk ``chunk`` of
    ``n`` grains, and the global index of its first batch."""
    ge = ensemble.batch_edges()
    lo = chunk * ensemble.chunk_size
    cut = ge[(ge > lo) & (ge < lo + n)] - lo
    first = int(np.searchsorted(ge, lo, side="right") - 1)
    return np.concatenate([[0], cut, [n]]).astype(np.int64), first


def run_task(task: ChunkTask):
    """Run one task; returns (point, chunk, variant, sums, weights, first_batch): the
    weighted sums of ⟨τz⟩ (or of the Bloch components, ``task.bloch``) and the weight
    sums of every batch of the ensemble inside this chunk (leading axis), and the global
    index of the first of these batches."""
    from echo.engines import get_engine
    from echo.model import GrainChunk, ModelError

    mod = get_engine(task.engine)
    grains = task.ensemble.chunk(task.chunk)
    edges, first = _local_batches(task.ensemble, task.chunk, len(grains))
    kw = dict(frame=task.frame, initial=task.initial,
              moment=task.ensemble.moment_rad_per_tesla, **task.opts)
    if hasattr(mod, "simulate_chunk_batches"):
        tz, w = mod.simulate_chunk_batches(task.schedule, grains, task.environment, task.times,
                                           seed=task.seed, edges=edges, bloch=task.bloch, **kw)
    else:
        if task.bloch:
            raise ModelError(f"engine {task.engine!r}: no Bloch-vector observables "
                             "(use the fast engine)")
        parts = []
        for b in range(edges.size - 1):  # batch b > 0 of a chunk: its own noise seed
            a, z = int(edges[b]), int(edges[b + 1])
            sub = GrainChunk(grains.index, grains.delta[a:z], grains.bias[a:z],
                             grains.weight[a:z])
            seed = task.seed if b == 0 else int(np.random.SeedSequence(
                task.seed, spawn_key=(b,)).generate_state(1, np.uint64)[0] >> np.uint64(1))
            parts.append(mod.simulate_chunk(task.schedule, sub, task.environment,
                                            task.times, seed=seed, **kw))
        tz = np.stack([np.asarray(p[0], float) for p in parts])
        w = np.array([float(p[1]) for p in parts])
    return (task.point, task.chunk, task.variant, np.asarray(tz, dtype=float),
            np.asarray(w, float), first)


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
        pooled = (ex is None and len(tasks) > 1 and not in_worker_thread()
                  and thread_count() > 1)
        if ex is None and not pooled:
            for i, t in enumerate(tasks):
                results[i] = run_task(t)
                if bar is not None:
                    bar.update(1)
        elif pooled:
            pool = _thread_pool()
            order = sorted(range(len(tasks)), key=lambda i: -_cost(tasks[i]))
            futures = {pool.submit(run_task, tasks[i]): i for i in order}
            try:
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    if bar is not None:
                        bar.update(1)
            finally:
                for fut in futures:
                    fut.cancel()
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
    return [m for m, _ in reduce_batches(results, n_points, variant)]


def reduce_batches(results: list, n_points: int, variant: int = 0):
    """Per point: (mean, deviations). ``mean`` = Σ_b S_b / Σ_b W_b, the weighted
    ensemble mean (batch sums S_b added in batch order: deterministic); ``deviations``
    (n_batches, ...) = (S_b − mean·W_b)/Σ W, whose squares sum to the batch-means variance
    of the ratio estimator: Var(mean) ≈ B/(B − 1) Σ_b deviation_b² (see :mod:`echo.stats`).
    A batch split over two chunks is merged first."""
    by_point: dict[int, dict] = {}
    for p, _c, v, tz, w, first in results:
        if v != variant:
            continue
        acc = by_point.setdefault(p, {})
        for i in range(tz.shape[0]):
            b = first + i
            if b in acc:
                acc[b] = (acc[b][0] + tz[i], acc[b][1] + w[i])
            else:
                acc[b] = (tz[i], w[i])
    out = []
    for p in range(n_points):
        acc = by_point[p]
        keys = sorted(acc)
        sums = np.stack([acc[b][0] for b in keys])
        ws = np.array([acc[b][1] for b in keys])
        total = np.zeros_like(sums[0])
        for s_b in sums:
            total = total + s_b
        wsum = float(ws.sum())
        mean = total / wsum
        dev = (sums - mean[None] * ws.reshape((-1,) + (1,) * mean.ndim)) / wsum
        out.append((mean, dev))
    return out
