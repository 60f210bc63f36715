"""Simulation engines: the registry (name → module). Both engines implement the protocol
:class:`echo.engines.frontend.Engine`:

``simulate_chunk(schedule, chunk, environment, times, *, frame="lab", initial="thermal",
seed, moment, max_error=1e-3, **engine_options) -> (tau_z_sum (n_steps, n_t), weight_sum)``

the weighted ensemble SUM of the lab-frame ⟨τz⟩(t) over one :class:`echo.model.GrainChunk`
for every phase-cycle step, so chunks combine by summation in chunk order. Their options
are settings dataclasses, validated once (:func:`echo.engines.frontend.engine_settings`).

* ``fast``  — :mod:`echo.engines.fast` (numba, vectorised over grains);
* ``qutip`` — :mod:`echo.engines.reference` (QuTiP mesolve/smesolve per grain).

The registry does not orchestrate: :func:`echo.simulate.run` simulates one Schedule and
:func:`echo.simulate.simulate` does sweeps (this package never imports them).
"""

from __future__ import annotations

import importlib

from echo.model import ModelError

ENGINES = {"fast": "echo.engines.fast", "qutip": "echo.engines.reference"}

__all__ = ["ENGINES", "get_engine"]


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
