"""Simulation engines. Both implement the module API of ``docs``/ENGINE.md:

``simulate_chunk(schedule, chunk, environment, times, *, frame="lab", initial="thermal",
seed, moment, max_error=1e-3, **engine_options) -> (tau_z_sum (n_steps, n_t), weight_sum)``

the weighted ensemble SUM of the lab-frame ⟨τz⟩(t) over one :class:`echo.model.GrainChunk`
for every phase-cycle step, so chunks combine by summation in chunk order.

* ``fast``  — :mod:`echo.engines.fast` (numba, vectorised over grains);
* ``qutip`` — :mod:`echo.engines.reference` (QuTiP mesolve/smesolve per grain).

:func:`run` simulates one Schedule and returns an :class:`echo.result.EchoResult`;
:func:`echo.simulate.simulate` does sweeps.
"""

from __future__ import annotations

import importlib

from echo.model import ModelError

ENGINES = {"fast": "echo.engines.fast", "qutip": "echo.engines.reference"}

__all__ = ["ENGINES", "get_engine", "run"]


def get_engine(name: str):
    """The engine module called ``name`` (imported lazily)."""
    if name not in ENGINES:
        raise ModelError(f"engine: unknown engine {name!r} (known: {', '.join(ENGINES)})")
    try:
        return importlib.import_module(ENGINES[name])
    except ModuleNotFoundError as exc:
        if exc.name == ENGINES[name]:
            raise ModelError(f"engine: {name!r} is not available (module {ENGINES[name]} "
                             "is missing)") from None
        raise


def run(schedule, ensemble, environment, detection, *, engine="fast", frame="lab",
        initial="thermal", executor=None, progress=False, keep_tau_z=False, **opts):
    """Simulate one :class:`sequences.Schedule` on the ensemble; returns an EchoResult
    with one sweep point. ``executor``: any ``concurrent.futures.Executor`` (None =
    in-process). ``opts`` go to the engine (``max_error``, ``dt``, ...)."""
    from echo.simulate import simulate_schedules

    return simulate_schedules([schedule], ensemble, environment, detection, engine=engine,
                              frame=frame, initial=initial, executor=executor,
                              progress=progress, keep_tau_z=keep_tau_z, **opts)
