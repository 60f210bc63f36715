"""Results do not depend on how the work is split: in-process, thread pool, process pool,
a dask.distributed LocalCluster, and the number of numba threads all give bitwise
identical traces (chunk sums are reduced in chunk order; seeds derive from (ensemble
seed, point, chunk))."""

import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numba
import numpy as np
import pytest
from fixtures_fast import schedule

from echo.model import Detection, Ensemble, Environment, Fixed, Gaussian, OrnsteinUhlenbeck
from echo.parallel import chunk_seed, make_executor
from echo.simulate import simulate_schedules

ENS = Ensemble(Gaussian(1e6, 1e5), Gaussian(0.0, 3e5), n_samples=900, chunk_size=300, seed=9)
ENV = Environment(noise=(OrnsteinUhlenbeck(5e4, 1e-6),), t_phi=20e-6)
DET = Detection(sample_rate=50e6)


def _points():
    out = []
    for tau in (0.6e-6, 1.0e-6):
        out.append(schedule(2 * tau + 0.2e-6,
                            ideal=[(0.0, math.pi / 2, 0.0), (tau, math.pi, 0.0)],
                            windows=[(2 * tau - 0.1e-6, 0.2e-6, "echo")]))
    return out


def _run(executor=None):
    return simulate_schedules(_points(), ENS, ENV, DET, executor=executor, keep_tau_z=True,
                              params=[{"tau": 0.6e-6}, {"tau": 1.0e-6}], normalise=True)


@pytest.fixture(scope="module")
def reference():
    return _run()


def _same(a, b):
    assert np.array_equal(a.dataset["tau_z"].values, b.dataset["tau_z"].values)
    assert np.array_equal(a.dataset["trace"].values, b.dataset["trace"].values)
    assert np.array_equal(a.amplitude, b.amplitude)
    assert np.array_equal(a.normalised, b.normalised)


def test_reference_is_noisy_and_normalised(reference):
    # a real check that the run is not trivial: the echo decays (normalised < 1)
    assert np.all(reference.normalised < 1) and np.all(reference.normalised > 0.3)


def test_thread_pool(reference):
    with ThreadPoolExecutor(3) as ex:
        _same(_run(ex), reference)


def test_numba_thread_count(reference):
    n = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        _same(_run(), reference)
    finally:
        numba.set_num_threads(n)


def test_process_pool(reference):
    import multiprocessing

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        _same(_run(ex), reference)


def test_dask_local_cluster(reference):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        _same(_run(client), reference)


def test_make_executor_default_is_in_process():
    with make_executor() as ex:
        assert ex is None


def test_chunk_seeds_distinct_and_stable():
    seeds = {chunk_seed(1, p, c) for p in range(5) for c in range(5)}
    assert len(seeds) == 25
    assert chunk_seed(1, 2, 3) == chunk_seed(1, 2, 3)
    assert 0 <= chunk_seed(1, 2, 3) < 2**63


def test_fixed_ensemble_chunks_are_lazy():
    ens = Ensemble(Fixed(1e6), Fixed(0.0), n_samples=10**12, chunk_size=1000)
    assert ens.n_chunks == 10**9 and len(ens.chunk(12345)) == 1000


def test_progress_bar_does_not_change_results(reference, capsys):
    res = simulate_schedules(_points(), ENS, ENV, DET, keep_tau_z=True, progress=True,
                             params=[{"tau": 0.6e-6}, {"tau": 1.0e-6}], normalise=True)
    _same(res, reference)
    assert "simulate" in capsys.readouterr().err  # tqdm wrote its bar to stderr
