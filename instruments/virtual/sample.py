"""The virtual lab's sample: AWG volts → field → simulated ensemble → SQUID volts.

Chain (units in brackets):

1. The AWG plays a waveform: one voltage per sample at the arb sample rate [V], held
   for one sample period (zero-order hold — the 33500B with ``FUNC:ARB:FILT OFF/STEP``;
   the NORMal interpolation filter is not modelled). After the last sample the field is 0.
2. Coil calibration: h(t) = V(t) / ``volts_per_tesla`` [T].
3. The held samples become a :class:`sequences.schedule.Schedule` with one
   frequency-0 rectangular pulse per run of equal consecutive samples on the field channel
   ``"coil"`` (runs of zeros are free evolution): the exact piecewise-constant field the
   coil produces, so no approximation is made beyond the hold.
4. The ``echo`` engine (:func:`echo.engines.get_engine`, ``simulate_chunk`` over the
   ensemble's chunks, reduced in chunk order with :mod:`echo.parallel`) gives the
   ensemble-mean ⟨τz⟩ at the digitizer's sample times (t ≥ 0 from the start of the
   waveform; pre-trigger times get the t = 0 value).
5. SQUID read-out: flux Φ = n_grains · g · S · ``flux_per_moment`` · ⟨τz⟩ [Φ0] and
   flux-locked-loop output V = ``volts_per_flux`` · Φ [V]
   (:meth:`echo.model.Detection.volts_per_tau_z`). White noise is added by the digitizer
   per shot (``noise_rms`` V), so averaging N shots divides it by √N.

Each distinct waveform is simulated once (cache keyed by the waveform bytes, the rate
and the record times) with chunk seeds from :func:`echo.parallel.chunk_seed` at sweep
point 0: the ensemble and its bias-noise trajectories are the same in every shot (the
shot-to-shot spread of the ensemble mean, ~1/√n_samples, is not re-drawn).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from echo.model import Model, ModelError
from sequences.schedule import Channel, Pulse, Schedule

FIELD_CHANNEL = "coil"


def schedule_from_field(field: np.ndarray, sample_rate: float, duration: float | None = None,
                        name: str = "awg") -> Schedule:
    """Piecewise-constant Schedule of a held, sampled field ``field`` [T] at
    ``sample_rate`` [Sa/s]: one rect pulse (frequency 0) per run of equal non-zero
    samples. ``duration`` [s] extends the shot after the waveform (field 0)."""
    field = np.asarray(field, dtype=float)
    n = field.size
    dt = 1.0 / float(sample_rate)
    total = n * dt if duration is None else max(n * dt, float(duration))
    pulses = []
    if n:
        cut = np.flatnonzero(np.diff(field) != 0) + 1
        starts = np.concatenate([[0], cut])
        stops = np.concatenate([cut, [n]])
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            h = float(field[a])
            if h != 0.0:
                pulses.append(Pulse(channel=FIELD_CHANNEL, start=a * dt, duration=(b - a) * dt,
                                    amplitude=h))
    return Schedule(channels=(Channel(FIELD_CHANNEL, "field"),), pulses=tuple(pulses),
                    duration=total, name=name)


class VirtualSample:
    """The simulated sample behind the virtual lab (see the module docstring).

    ``model``: :class:`echo.model.Model`; ``volts_per_tesla``: coil calibration [V/T];
    ``engine``/``frame``/``initial``: passed to the echo engine; ``engine_options`` go to
    ``simulate_chunk`` (e.g. ``max_error``).
    """

    def __init__(self, model: Model, volts_per_tesla: float, *, engine: str = "fast",
                 frame: str = "lab", initial: str = "thermal", cache_size: int = 8,
                 engine_options: dict | None = None):
        if not (volts_per_tesla > 0 and np.isfinite(volts_per_tesla)):
            raise ModelError(f"volts_per_tesla: must be > 0, got {volts_per_tesla!r}")
        self.model = model
        self.volts_per_tesla = float(volts_per_tesla)
        self.engine = engine
        self.frame = frame
        self.initial = initial
        self.engine_options = dict(engine_options or {})
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        #: seconds spent in the engine (for the benchmark)
        self.sim_seconds = 0.0
        self.sim_calls = 0

    def warm_up(self) -> None:
        """Run the engine once on a tiny shot (JIT compilation happens here, not in
        the first triggered shot)."""
        from dataclasses import replace

        model, self.model = self.model, replace(
            self.model, ensemble=replace(self.model.ensemble, n_samples=2))
        try:
            self._run_engine(schedule_from_field(np.ones(4) * 1e-9, 1e8, duration=1e-7),
                             np.linspace(0.0, 5e-8, 3))
        finally:
            self.model = model

    @property
    def volts_per_tau_z(self) -> float:
        return self.model.detection.volts_per_tau_z(self.model.ensemble)

    def tau_z(self, volts: np.ndarray, sample_rate: float, times: np.ndarray) -> np.ndarray:
        """Ensemble-mean ⟨τz⟩ at ``times`` [s from the waveform start] for the AWG
        output ``volts`` [V] at ``sample_rate`` [Sa/s]."""
        volts = np.ascontiguousarray(volts, dtype=float)
        times = np.asarray(times, dtype=float)
        key = hashlib.sha1(volts.tobytes() + np.float64(sample_rate).tobytes()
                           + times.tobytes()).digest()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        out = self._simulate(volts / self.volts_per_tesla, sample_rate, times)
        with self._lock:
            self._cache[key] = out
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def record(self, shot, times: np.ndarray) -> np.ndarray:
        """Noise-free FLL output [V] at ``times`` for an AWG :class:`Shot`."""
        return self.volts_per_tau_z * self.tau_z(shot.volts, shot.sample_rate, times)

    # ------------------------------------------------------------------ engine
    def _simulate(self, field: np.ndarray, rate: float, times: np.ndarray) -> np.ndarray:
        import time as _time

        t0 = _time.perf_counter()
        pos = times >= 0
        t_eval = times[pos]
        prepend = not np.all(pos) and (t_eval.size == 0 or t_eval[0] > 0)
        if prepend:
            t_eval = np.concatenate([[0.0], t_eval])
        end = (t_eval[-1] if t_eval.size else 0.0) + 1.0 / rate
        schedule = schedule_from_field(field, rate, duration=end)
        tz = self._run_engine(schedule, t_eval)
        out = np.empty(times.size)
        out[pos] = tz[1:] if prepend else tz
        if not np.all(pos):
            out[~pos] = tz[0]
        self.sim_seconds += _time.perf_counter() - t0
        self.sim_calls += 1
        return out

    def _run_engine(self, schedule: Schedule, times: np.ndarray) -> np.ndarray:
        from echo.engines import get_engine
        from echo.parallel import chunk_seed

        ens = self.model.ensemble
        engine = get_engine(self.engine)
        total = np.zeros(times.size)
        weight = 0.0
        for chunk in ens.chunks():
            tz, w = engine.simulate_chunk(
                schedule, chunk, self.model.environment, times, frame=self.frame,
                initial=self.initial, seed=chunk_seed(ens.seed, 0, chunk.index, 0),
                moment=ens.moment_rad_per_tesla, **self.engine_options)
            total += np.asarray(tz, float)[0]
            weight += float(w)
        return total / weight


def flux_jump(v: np.ndarray, rng: np.random.Generator, rate: float,
              volts_per_phi0: float) -> tuple[np.ndarray, bool]:
    """With probability ``rate``, an FLL reset by ±1 Φ0 at a random sample of the record
    ``v`` [V]: every later sample is offset by ±``volts_per_phi0``. Returns (v, jumped)."""
    if rate > 0 and v.size > 2 and rng.random() < rate:
        i = int(rng.integers(1, v.size))
        v = v.copy()
        v[i:] += volts_per_phi0 * (1 if rng.random() < 0.5 else -1)
        return v, True
    return v, False


class FluxJumps:
    """Mixin for emulated digitizers on the SQUID output: ``flux_jump(v)`` applies
    :func:`flux_jump` with the instrument's ``rng``, ``flux_jump_rate`` and
    ``volts_per_phi0`` and counts the jumps in ``flux_jumps``."""

    flux_jump_rate = 0.0
    volts_per_phi0 = 1.0

    def flux_jump(self, v: np.ndarray) -> np.ndarray:
        v, jumped = flux_jump(v, self.rng, self.flux_jump_rate, self.volts_per_phi0)
        self.flux_jumps += int(jumped)
        return v
