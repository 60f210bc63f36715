"""The one front end of the simulation engines: what a run asks of an engine, validated
once, and the one rotating-wave policy (docs/engines.md).

Every engine module implements the protocol :class:`Engine` (``simulate_chunk``) and
declares its numerical options as a settings dataclass (:data:`SETTINGS`:
:class:`FastSettings`, :class:`SolverSettings`), read by :func:`engine_settings` with the
configuration mechanism of :mod:`sequences.config` — so an unknown or out-of-range option
is the same error whichever engine, and whichever entry point (``echo.simulate``, the
engines called directly, the CLI, the virtual lab).

:class:`RunSettings` holds the engine-independent choices (``frame``, ``initial``,
``max_error``) and is validated the same way.

RWA policy (both engines): ``frame="rwa"`` rotates at :meth:`sequences.Schedule.carrier`
(``fast`` also takes ``frame_frequency``); terms the frame drops are dropped *with a
RuntimeWarning*, never silently and never as an error: baseband (zero-carrier) pulses
vanish (:func:`warn_rwa_baseband`), and a drive, detuning or longitudinal term above
:data:`RWA_WARN_RATIO` of the carrier is named with its numbers.

This module imports no engine and nothing of :mod:`echo.simulate` (the registry in
``echo.engines`` only maps names to modules; orchestration is :mod:`echo.simulate`'s).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np

from echo.model import INITIAL_STATES, ModelError
from sequences.config import from_table, setting, validate
from sequences.units import TWO_PI

__all__ = ["FRAMES", "RWA_WARN_RATIO", "Engine", "RunSettings", "FastSettings",
           "SolverSettings", "SETTINGS", "engine_settings", "rwa_validity", "check_rwa",
           "warn_rwa_baseband", "warn_rwa_invalid"]

#: The frames an engine simulates in (docs/engines.md "Frames").
FRAMES = ("lab", "rwa")

#: A dropped RWA term above this fraction of the carrier is warned about.
RWA_WARN_RATIO = 0.1


class Engine(Protocol):
    """What an engine module provides (``echo.engines.fast``, ``echo.engines.reference``).

    ``simulate_chunk(schedule, chunk, environment, times, *, frame, initial, seed, moment,
    max_error, **options) -> (tau_z_sum (n_steps, n_t), weight_sum)``: the weighted
    ensemble SUM of the lab-frame ⟨τz⟩(t) over one :class:`echo.model.GrainChunk` for
    every phase-cycle step, so chunks combine by summation in chunk order. ``options``
    are the fields of the engine's settings dataclass (:data:`SETTINGS`)."""

    def simulate_chunk(self, schedule, chunk, environment, times, *, frame: str,
                       initial: str, seed: int, moment: float, max_error: float,
                       **options): ...


@dataclass(frozen=True)
class RunSettings:
    """The engine-independent choices of a run."""

    frame: str = setting("lab", choices=FRAMES, doc="lab frame (exact) or rotating wave")
    initial: str = setting("thermal", choices=INITIAL_STATES, doc="initial state")
    max_error: float = setting(1e-3, gt=0, lt=1, doc="shaped-pulse / carrier step bound")

    def __post_init__(self):
        validate(self, error=ModelError)


@dataclass(frozen=True)
class FastSettings:
    """Options of the ``fast`` engine (:mod:`echo.engines.fast`).

    * ``dt`` (s): force a maximum step (an error if too coarse for the lab-frame carrier);
    * ``noise_step`` (s): the bias-noise step, fixed, instead of the rule of
      :func:`echo.engines.fast.noise_step` (a fit fixes it so that the op table, and the
      random numbers each step draws, do not move with σ and τc); ``dt`` still caps it;
    * ``carrier_phase`` (rad): carrier phase per substep (default from ``max_error``);
    * ``frame_frequency`` (Hz): the RWA frame (default: the schedule's carrier);
    * ``channel``: the field channel (default: the schedule's only one);
    * ``block``: grains per partial sum (determinism unit of the parallel kernel).
    """

    dt: float | None = setting(None, gt=0, unit="s")
    noise_step: float | None = setting(None, gt=0, unit="s")
    carrier_phase: float | None = setting(None, gt=0, le=math.pi, unit="rad")
    frame_frequency: float | None = setting(None, ge=0, unit="Hz")
    channel: str | None = setting(None)
    block: int = setting(128, ge=1)

    def __post_init__(self):
        validate(self, "fast engine option", error=ModelError, sep=" ")


@dataclass(frozen=True)
class SolverSettings:
    """Numerical settings of the reference (``qutip``) engine (pass them as options).

    * ``method``: QuTiP ODE method for time-dependent intervals ("adams", "vern9",
      "tsit5", …).
    * ``atol``, ``rtol``: absolute / relative tolerance of the ODE integrator.
    * ``steps_per_period``: ``max_step`` = (shortest period of the problem) / this.
    * ``max_step`` (s): explicit upper bound; an error if coarser than the required step.
    * ``nsteps``: maximum internal steps per output interval (QuTiP's ``nsteps``).
    * ``noise_points_per_tau_c``: OU grid points per correlation time.
    * ``n_trajectories``: noise trajectories averaged per grain (≥ 1).
    * ``constant_method``: method for constant-generator intervals ("diag" is exact).
    * ``executor``: a ``concurrent.futures.Executor`` to map the grains of a chunk over
      (None: in-process). Results do not depend on it.
    """

    method: str = setting("adams")
    atol: float = setting(1e-12, gt=0)
    rtol: float = setting(1e-11, gt=0)
    steps_per_period: float = setting(20.0, gt=0)
    max_step: float | None = setting(None, gt=0, unit="s")
    nsteps: int = setting(10**7, ge=1)
    noise_points_per_tau_c: float = setting(50.0, gt=0)
    n_trajectories: int = setting(1, ge=1)
    constant_method: str = setting("diag")
    executor: object = None

    def __post_init__(self):
        validate(self, "qutip engine option", error=ModelError, sep=" ")

    @classmethod
    def from_options(cls, options: dict) -> SolverSettings:
        return engine_settings("qutip", options)


#: The settings dataclass of each engine (by registry name).
SETTINGS = {"fast": FastSettings, "qutip": SolverSettings}


def engine_settings(engine: str, options: dict):
    """The validated settings of ``engine`` from its options (a dict): unknown options and
    bad values are :class:`~echo.model.ModelError` naming the option and what is allowed."""
    if engine not in SETTINGS:
        raise ModelError(f"engine: unknown engine {engine!r} (known: {', '.join(SETTINGS)})")
    cls = SETTINGS[engine]
    return from_table(cls, dict(options), where=f"{engine} engine option", error=ModelError,
                      sep=" ")


def settings_dict(settings) -> dict:
    """The options of a settings object that differ from their defaults (for provenance
    and for passing on)."""
    out = {}
    for f in fields(settings):
        v = getattr(settings, f.name)
        if v != f.default:
            out[f.name] = v
    return out


def warn_rwa_baseband(stacklevel: int = 3) -> None:
    """The RWA policy for baseband pulses: they are dropped, with this warning."""
    warnings.warn("RWA drops baseband (zero-carrier) pulses entirely; use frame='lab'",
                  RuntimeWarning, stacklevel=stacklevel + 1)


def warn_rwa_invalid(ratios: dict[str, float], carrier_hz: float,
                     stacklevel: int = 3) -> None:
    """The RWA policy for dropped terms: warn, with the numbers, when a ratio (drive,
    detuning or longitudinal drive over the carrier) exceeds :data:`RWA_WARN_RATIO`."""
    bad = {k: v for k, v in ratios.items() if v > RWA_WARN_RATIO}
    if not bad:
        return
    msg = ", ".join(f"{k} = {v:.3g}" for k, v in bad.items())
    warnings.warn(
        f"RWA invalid for part of the ensemble: {msg} (carrier {carrier_hz:.6g} Hz; "
        f"each ratio must be << 1, threshold {RWA_WARN_RATIO}); only frame='lab' is "
        f"exact here", RuntimeWarning, stacklevel=stacklevel + 1)


def rwa_validity(schedule, delta, bias, moment: float, drive_coupling: str = "z",
                 channel: str | None = None, frame_frequency: float | None = None) -> dict:
    """Numbers that decide whether the RWA is valid for grains with Δ = ``delta`` and
    ε = ``bias`` (rad/s, scalars or arrays; the worst grain is reported), all rad/s.

    The carrier ω_c is ``frame_frequency`` (Hz) if given, else
    :meth:`sequences.Schedule.carrier`. Returns ``carrier`` (None without one), ``rabi``
    γ·max|h|·|k⊥|, ``longitudinal`` γ·max|h|·|k∥| (k∥ = cos θ, k⊥ = −sin θ for a τz drive;
    sin θ, cos θ for τx; cos θ = ε/E), ``detuning`` max |2E − ω_c|, ``baseband`` (a pulse
    without carrier plays) and the ratios ``rabi/carrier``, ``detuning/carrier``,
    ``longitudinal/carrier`` — each must be ≪ 1 (warning above :data:`RWA_WARN_RATIO`)."""
    d = np.atleast_1d(np.asarray(delta, float))
    b = np.atleast_1d(np.asarray(bias, float))
    e = np.hypot(d, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(e == 0, 1.0, b / np.where(e == 0, 1.0, e))
        sin = np.where(e == 0, 0.0, d / np.where(e == 0, 1.0, e))
    kl, kt = (sin, cos) if drive_coupling == "x" else (cos, -sin)
    name = schedule.field_channel(channel)
    f = frame_frequency if frame_frequency is not None else abs(schedule.carrier(channel))
    wc = TWO_PI * f if f else None
    hmax = max((abs(p.amplitude) for p in schedule.pulses if p.channel == name), default=0.0)
    out = {"carrier": wc,
           "rabi": float(np.max(np.abs(moment * hmax * kt))) if d.size else 0.0,
           "longitudinal": float(np.max(np.abs(moment * hmax * kl))) if d.size else 0.0,
           "detuning": None if wc is None or not d.size else float(np.max(np.abs(2 * e - wc))),
           "baseband": any(p.channel == name and p.frequency == 0 and p.amplitude != 0
                           and p.duration > 0 for p in schedule.pulses)}
    if wc:
        for key in ("rabi", "detuning", "longitudinal"):
            out[f"{key}/carrier"] = out[key] / wc
    return out


def check_rwa(schedule, delta, bias, moment: float, drive_coupling: str = "z",
              channel: str | None = None, frame_frequency: float | None = None,
              stacklevel: int = 3) -> dict:
    """Apply the RWA policy to a set of grains: warn about baseband pulses (dropped) and
    about dropped terms above :data:`RWA_WARN_RATIO`; returns :func:`rwa_validity`."""
    info = rwa_validity(schedule, delta, bias, moment, drive_coupling, channel,
                        frame_frequency)
    if info["carrier"]:
        warn_rwa_invalid({k: info[k] for k in ("rabi/carrier", "detuning/carrier",
                                                "longitudinal/carrier")},
                         info["carrier"] / TWO_PI, stacklevel + 1)
    if info["baseband"]:
        warn_rwa_baseband(stacklevel + 1)
    return info
