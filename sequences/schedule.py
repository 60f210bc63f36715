"""The resolved Schedule: the waist between the sequence language, the simulators and
the instrument compilers.

A :class:`Schedule` has no free parameters. It holds, on one time axis (seconds, t = 0
at the start of the shot):

* ``channels`` — named channels of kind ``"field"`` (the drive coil / RF line),
  ``"marker"`` (TTL triggers and gates) or ``"detector"`` (the read-out);
* ``pulses`` — finite pulses on field channels. The lab-frame field of a pulse is

      h(t) = amplitude · s((t − start)/duration) · cos(Θ(t) + φ_k)

  with ``s`` the peak-normalised envelope of :mod:`sequences.shapes`, ``amplitude``
  the peak field in tesla, and the carrier phase referenced to *absolute* time
  (a phase-coherent carrier, as produced by an AWG or a phase-locked RF source):
  Θ(t) = 2π f t for a fixed carrier ``frequency`` f (Hz); for a frequency-swept shape
  (``chirp``, ``wurst``, ``hs``) Θ(t) = 2π f t + φ(u), φ = 2π ∫ Δf dt from the pulse
  centre with the sweep law Δf(u) of :mod:`sequences.shapes` — for a linear chirp of
  ``span`` Δf, φ = π (Δf/duration) (t − t_c)², t_c the pulse centre, so the
  instantaneous frequency sweeps f − Δf/2 → f + Δf/2. ``frequency == 0`` is a baseband
  (video) field pulse, h(t) = amplitude · s · cos φ_k. φ_k = ``phases[k]`` is the phase
  (rad) in phase-cycle step k;
* ``ideal_pulses`` — instantaneous rotations by ``angle`` (rad) about an axis at azimuth
  φ_k in the xy-plane of *each grain's own eigenbasis* (for simulation and design; the
  hardware compilers reject them);
* ``markers`` and detection ``windows`` — (start, duration) intervals with labels;
* ``receiver`` — one complex receiver weight per phase-cycle step. The phase-cycled
  signal is  S = (1/n_steps) Σ_k receiver[k] · s_k, with s_k the (demodulated) signal
  of step k. For a receiver phase ψ_k the weight is exp(−i ψ_k).

Engines read :meth:`Schedule.segments` (a piecewise-constant view, see
:class:`Segments`); instrument compilers read :meth:`Schedule.sample`. Neither needs
the sequence language.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sequences import shapes
from sequences.errors import ScheduleError
from sequences.units import TWO_PI

CHANNEL_KINDS = ("field", "marker", "detector")


@dataclass(frozen=True)
class Channel:
    """A named channel. ``full_scale`` (tesla) is the field at amplitude fraction 1.0 of a
    field channel (None if pulses on it give fields directly)."""

    name: str
    kind: str
    full_scale: float | None = None


@dataclass(frozen=True)
class Pulse:
    """A finite pulse on a field channel (times in s, amplitude in T, frequencies in Hz,
    phases in rad). ``shape_params`` holds shape options as (name, value) pairs, e.g.
    ``(("sigma", 0.1667),)`` for a Gaussian (σ as a fraction of the duration) or
    ``(("span", 5e6),)`` for a chirp (Hz)."""

    channel: str
    start: float
    duration: float
    amplitude: float
    shape: str = "rect"
    frequency: float = 0.0
    phases: tuple[float, ...] = (0.0,)
    shape_params: tuple[tuple[str, float], ...] = ()
    label: str = ""

    @property
    def stop(self) -> float:
        return self.start + self.duration

    @property
    def centre(self) -> float:
        return self.start + 0.5 * self.duration

    def param(self, name: str, default: float | None = None) -> float | None:
        for key, value in self.shape_params:
            if key == name:
                return value
        return default


@dataclass(frozen=True)
class IdealPulse:
    """An instantaneous rotation by ``angle`` (rad) about the axis at azimuth
    ``phases[k]`` (rad; 0 = x, π/2 = y) in each grain's eigenbasis, at ``time`` (s)."""

    channel: str
    time: float
    angle: float
    phases: tuple[float, ...] = (0.0,)
    label: str = ""


@dataclass(frozen=True)
class _Interval:
    """An interval on one channel: from ``start`` for ``duration`` (s), ``stop`` its end."""

    channel: str
    start: float
    duration: float
    label: str = ""

    @property
    def stop(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Marker(_Interval):
    """A TTL marker/trigger high from ``start`` for ``duration`` (s)."""


@dataclass(frozen=True)
class DetectionWindow(_Interval):
    """A detection (acquisition/integration) window on a detector channel (s)."""


@dataclass(frozen=True)
class Segments:
    """Piecewise-constant view of one field channel for simulators.

    All arrays have one entry per segment, in time order, covering [0, duration]
    without gaps. Within segment j the lab-frame field is

        h(t) = amplitude[j] · cos(2π frequency[j] · t + phase[j]),   t absolute (s),

    i.e. the envelope is constant and the carrier is exact (a chirp is linearised about
    the segment midpoint). Segments with ``amplitude == 0`` are free evolution.
    Zero-duration segments with ``ideal_angle != 0`` are ideal rotations (angle
    ``ideal_angle`` about azimuth ``ideal_phase`` in each grain's eigenbasis).
    ``max_error`` is the bound used to split shaped pulses: the piecewise-constant
    envelope deviates from the exact envelope by at most ``max_error``·peak, and the
    linearised chirp phase by at most ``max_error`` rad.
    """

    start: np.ndarray
    duration: np.ndarray
    amplitude: np.ndarray
    frequency: np.ndarray
    phase: np.ndarray
    ideal_angle: np.ndarray
    ideal_phase: np.ndarray
    max_error: float

    def __len__(self) -> int:
        return int(self.start.size)

    @property
    def stop(self) -> np.ndarray:
        return self.start + self.duration


@dataclass(frozen=True)
class Schedule:
    """A fully resolved shot (see the module docstring for all conventions)."""

    channels: tuple[Channel, ...]
    pulses: tuple[Pulse, ...] = ()
    ideal_pulses: tuple[IdealPulse, ...] = ()
    markers: tuple[Marker, ...] = ()
    windows: tuple[DetectionWindow, ...] = ()
    receiver: tuple[complex, ...] = (1.0 + 0.0j,)
    duration: float = 0.0
    params: tuple[tuple[str, float], ...] = ()
    source: str = ""
    name: str = ""
    meta: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    # ------------------------------------------------------------------ basics
    @property
    def n_steps(self) -> int:
        """Number of phase-cycle steps."""
        return len(self.receiver)

    def channel(self, name: str) -> Channel:
        for ch in self.channels:
            if ch.name == name:
                return ch
        known = ", ".join(c.name for c in self.channels) or "none"
        raise ScheduleError(f"unknown channel {name!r} (channels: {known})")

    def channels_of(self, kind: str) -> tuple[Channel, ...]:
        return tuple(c for c in self.channels if c.kind == kind)

    def param_values(self) -> dict[str, float]:
        return dict(self.params)

    def step(self, k: int) -> Schedule:
        """The single-step schedule of phase-cycle step ``k`` (receiver weight kept)."""
        if not 0 <= k < self.n_steps:
            raise ScheduleError(f"phase-cycle step {k} out of range 0..{self.n_steps - 1}")
        return replace(
            self,
            pulses=tuple(replace(p, phases=(p.phases[k],)) for p in self.pulses),
            ideal_pulses=tuple(replace(p, phases=(p.phases[k],)) for p in self.ideal_pulses),
            receiver=(self.receiver[k],),
        )

    def check(self) -> None:
        """Raise :class:`ScheduleError` for anything physically impossible: negative or
        non-finite times, overlapping events on one channel, events past the end, phase
        lists of the wrong length, pulses on non-field channels."""
        kinds = {c.name: c.kind for c in self.channels}
        if len(kinds) != len(self.channels):
            raise ScheduleError("duplicate channel names")
        for c in self.channels:
            if c.kind not in CHANNEL_KINDS:
                raise ScheduleError(f"channel {c.name!r}: unknown kind {c.kind!r}")
        if not (math.isfinite(self.duration) and self.duration >= 0):
            raise ScheduleError(f"schedule duration {self.duration!r} s is not a finite time >= 0")
        if self.n_steps < 1:
            raise ScheduleError("a schedule needs at least one phase-cycle step")
        per_channel: dict[str, list[tuple[float, float, str]]] = {}

        def add(ev, start, dur, want):
            name = ev.label or type(ev).__name__
            if ev.channel not in kinds:
                raise ScheduleError(f"{name}: unknown channel {ev.channel!r}")
            if kinds[ev.channel] not in want:
                raise ScheduleError(
                    f"{name}: channel {ev.channel!r} is a {kinds[ev.channel]} channel")
            if not (math.isfinite(start) and math.isfinite(dur)):
                raise ScheduleError(f"{name}: non-finite time (start={start}, duration={dur})")
            if dur < 0:
                raise ScheduleError(f"{name}: negative duration {dur:.6g} s")
            if start < 0:
                raise ScheduleError(f"{name}: starts before t=0 ({start:.6g} s)")
            if start + dur > self.duration * (1 + 1e-12) + 1e-18:
                raise ScheduleError(
                    f"{name}: ends at {start + dur:.6g} s, after the schedule end "
                    f"{self.duration:.6g} s")
            per_channel.setdefault(ev.channel, []).append((start, dur, name))

        for p in self.pulses:
            add(p, p.start, p.duration, ("field",))
            if len(p.phases) != self.n_steps:
                raise ScheduleError(f"{p.label or 'pulse'}: {len(p.phases)} phases for "
                                    f"{self.n_steps} phase-cycle steps")
            if not math.isfinite(p.amplitude):
                raise ScheduleError(f"{p.label or 'pulse'}: amplitude {p.amplitude!r}")
        for p in self.ideal_pulses:
            add(p, p.time, 0.0, ("field",))
            if len(p.phases) != self.n_steps:
                raise ScheduleError(f"{p.label or 'ideal pulse'}: {len(p.phases)} phases for "
                                    f"{self.n_steps} phase-cycle steps")
        for m in self.markers:
            add(m, m.start, m.duration, ("marker",))
        for w in self.windows:
            add(w, w.start, w.duration, ("detector",))
        for ch, evs in per_channel.items():
            evs.sort()
            for (s0, d0, n0), (s1, d1, n1) in zip(evs, evs[1:], strict=False):
                if s1 < s0 + d0 - 1e-15 * max(1.0, abs(s0 + d0)) and (d0 > 0 and d1 > 0):
                    raise ScheduleError(
                        f"{n1} ({s1:.6g} s) overlaps {n0} ({s0:.6g}–{s0 + d0:.6g} s) on "
                        f"channel {ch!r}")

    # ------------------------------------------------------------- conventions
    # One home for each convention that engines, compilers, the measurement procedure
    # and the fits share: call these, never re-derive them.
    def field_channel(self, channel: str | None = None) -> str | None:
        """The field channel the drive is read from: ``channel`` if given (it must be a
        field channel), else the schedule's only field channel; ``None`` when the
        schedule has no field channel at all (free evolution). Several field channels and
        no ``channel``: :class:`ScheduleError`."""
        if channel is not None:
            if self.channel(channel).kind != "field":
                raise ScheduleError(f"channel {channel!r} is not a field channel")
            return channel
        fields = self.channels_of("field")
        if not fields:
            return None
        if len(fields) != 1:
            raise ScheduleError(
                f"schedule has {len(fields)} field channels "
                f"({', '.join(c.name for c in fields)}); name the one to use")
        return fields[0].name

    def carrier(self, channel: str | None = None) -> float:
        """The drive carrier (Hz, cyclic): the ``frequency`` of the first pulse in time
        (ties: the order of ``pulses``) on :meth:`field_channel` ``(channel)`` that plays
        something — non-zero amplitude, duration and frequency. 0.0 when there is none
        (baseband drive or no drive). It is the rotating frame of ``frame="rwa"`` and the
        default demodulation reference (:meth:`reference_frequency`)."""
        name = self.field_channel(channel)
        if name is None:
            return 0.0
        for p in sorted(self.pulses, key=lambda p: p.start):
            if p.channel == name and p.amplitude != 0 and p.duration > 0 and p.frequency:
                return float(p.frequency)
        return 0.0

    def reference_frequency(self, parameter: str | None = "f_ref",
                            channel: str | None = None) -> float:
        """The demodulation reference (Hz) of this shot: the bound parameter
        ``parameter`` if the sequence has one (e.g. ``f_ref = f_probe`` in holeburn.seq,
        a per-point reference), else :meth:`carrier`. A bound value that is not a finite
        frequency >= 0 is a :class:`ScheduleError`."""
        if parameter:
            for name, value in self.params:
                if name == parameter:
                    f = float(value)
                    if not (math.isfinite(f) and f >= 0):
                        raise ScheduleError(f"reference parameter {parameter!r} = {f!r} Hz: "
                                            "must be a finite frequency >= 0")
                    return f
        return self.carrier(channel)

    def echo_window(self) -> int:
        """Index in ``windows`` of the window whose echo amplitude is reported: the one
        labelled ``"echo"``, else window 0; −1 when the schedule has no window (the whole
        shot is recorded)."""
        for k, w in enumerate(self.windows):
            if w.label == "echo":
                return k
        return 0 if self.windows else -1

    # ------------------------------------------------------------- simulators
    def _field_channel(self, channel: str | None) -> str:
        name = self.field_channel(channel)
        if name is None:
            raise ScheduleError("schedule has 0 field channels; name the one to use")
        return name

    def segments(self, step: int = 0, channel: str | None = None,
                 max_error: float = 1e-3) -> Segments:
        """Piecewise-constant view of field ``channel`` in phase-cycle ``step``.

        Shaped pulses are split so that the piecewise-constant (midpoint) envelope is
        within ``max_error`` × peak of the exact one and a chirp's linearised phase is
        within ``max_error`` rad. See :class:`Segments`.
        """
        if not 0 < max_error < 1:
            raise ScheduleError(f"max_error must be in (0, 1), got {max_error!r}")
        name = self._field_channel(channel)
        events: list[tuple[float, int, Any]] = []
        for p in self.pulses:
            if p.channel == name:
                events.append((p.start, 1, p))
        for p in self.ideal_pulses:
            if p.channel == name:
                events.append((p.time, 0, p))
        events.sort(key=lambda e: (e[0], e[1]))
        cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                             ("start", "duration", "amplitude", "frequency",
                                              "phase", "ideal_angle", "ideal_phase")}

        def emit(start, dur, amp, freq, phase, ia=None, ip=None):
            n = np.size(start)
            cols["start"].append(np.atleast_1d(np.asarray(start, float)))
            cols["duration"].append(np.broadcast_to(np.asarray(dur, float), (n,)))
            cols["amplitude"].append(np.broadcast_to(np.asarray(amp, float), (n,)))
            cols["frequency"].append(np.broadcast_to(np.asarray(freq, float), (n,)))
            cols["phase"].append(np.broadcast_to(np.asarray(phase, float), (n,)))
            cols["ideal_angle"].append(np.zeros(n) if ia is None else np.full(n, ia))
            cols["ideal_phase"].append(np.zeros(n) if ip is None else np.full(n, ip))

        t = 0.0
        for t0, _, ev in events:
            if t0 > t:
                emit(t, t0 - t, 0.0, 0.0, 0.0)
            if isinstance(ev, IdealPulse):
                emit(ev.time, 0.0, 0.0, 0.0, 0.0, ev.angle, ev.phases[step])
                t = max(t, ev.time)
                continue
            self._emit_pulse(ev, step, max_error, emit)
            t = max(t, ev.stop)
        if self.duration > t:
            emit(t, self.duration - t, 0.0, 0.0, 0.0)
        if not cols["start"]:
            emit(0.0, 0.0, 0.0, 0.0, 0.0)
        arrays = {k: np.concatenate(v) for k, v in cols.items()}
        return Segments(max_error=max_error, **arrays)

    @staticmethod
    def _emit_pulse(p: Pulse, step: int, max_error: float, emit) -> None:
        phi = p.phases[step]
        if p.duration == 0:
            return
        params = dict(p.shape_params)
        # max |dΔf/dt| (Hz/s): a linearised sweep's phase error is π·rate·(dt/2)²
        rate = shapes.max_sweep_rate(p.shape, params, p.duration)
        if p.shape == "rect":
            n = 1
        else:
            slope = shapes.max_slope(p.shape, params)  # per unit u
            n_env = math.ceil(slope / (2.0 * max_error)) if slope > 0 else 1
            n_chirp = 1
            if rate:
                dt_max = 2.0 * math.sqrt(max_error / (math.pi * rate))
                n_chirp = math.ceil(p.duration / dt_max)
            n = max(1, n_env, n_chirp)
        edges = p.start + p.duration * np.arange(n + 1) / n
        mid = 0.5 * (edges[:-1] + edges[1:])
        u = (mid - p.start) / p.duration
        env = p.amplitude * shapes.envelope(p.shape, u, params)
        if rate:
            theta_mid = (TWO_PI * p.frequency * mid
                         + shapes.sweep_phase(p.shape, u, params, p.duration) + phi)
            f_seg = p.frequency + shapes.sweep_offset(p.shape, u, params)
            phase = theta_mid - TWO_PI * f_seg * mid
        else:
            f_seg = np.full(n, p.frequency)
            phase = np.full(n, phi)
        emit(edges[:-1], np.diff(edges), env, f_seg, phase)

    # ----------------------------------------------------------------- sampling
    def field(self, t: np.ndarray, step: int = 0, channel: str | None = None) -> np.ndarray:
        """Exact lab-frame field (T) of field ``channel`` at absolute times ``t`` (s)."""
        name = self._field_channel(channel)
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        for p in self.pulses:
            if p.channel != name or p.duration <= 0:
                continue
            lo, hi = np.searchsorted(t, [p.start, p.stop], side="left") if t.ndim == 1 and \
                np.all(np.diff(t) >= 0) else (None, None)
            if lo is None:
                mask = (t >= p.start) & (t < p.stop)
                out[mask] += self._pulse_field(p, t[mask], step)
            else:
                out[lo:hi] += self._pulse_field(p, t[lo:hi], step)
        return out

    @staticmethod
    def _pulse_field(p: Pulse, t: np.ndarray, step: int) -> np.ndarray:
        u = (t - p.start) / p.duration
        env = p.amplitude * shapes.envelope(p.shape, u, dict(p.shape_params))
        phi = p.phases[step]
        if p.frequency == 0 and not shapes.is_swept(p.shape):
            return env * math.cos(phi)
        theta = TWO_PI * p.frequency * t + phi
        if shapes.is_swept(p.shape):
            theta = theta + shapes.sweep_phase(p.shape, u, dict(p.shape_params), p.duration)
        return env * np.cos(theta)

    def sample(self, rate: float, channel: str, step: int = 0) -> np.ndarray:
        """Sample ``channel`` at ``rate`` (samples/s) over [0, duration).

        Sample i is at t_i = i / rate. Field channels give the lab-frame field in tesla
        (float64); marker and detector channels give a boolean gate (True while a marker
        or detection window is on, evaluated at t_i, half-open intervals [start, stop)).
        Vectorised: the cost is one numpy evaluation per event, no per-sample Python.
        """
        if not (rate > 0 and math.isfinite(rate)):
            raise ScheduleError(f"sample rate must be a positive number, got {rate!r}")
        n = int(math.floor(self.duration * rate + 1e-9))
        kind = self.channel(channel).kind
        if kind == "field":
            return self._sample_field(rate, channel, step, n)
        out = np.zeros(n, dtype=bool)
        intervals = self.markers if kind == "marker" else self.windows
        for ev in intervals:
            if ev.channel != channel:
                continue
            lo = max(0, math.ceil(ev.start * rate - 1e-9))
            hi = min(n, math.ceil(ev.stop * rate - 1e-9))
            out[lo:hi] = True
        return out

    #: samples evaluated per numpy pass when sampling many pulses at once
    _CHUNK = 1 << 20

    def _sample_field(self, rate: float, channel: str, step: int, n: int) -> np.ndarray:
        """Field samples of ``channel``: pulses are evaluated in batches (all samples of
        up to ~10^6 pulse samples per numpy pass, grouped by shape), so a train of
        thousands of pulses costs no per-pulse Python loop beyond building the batches.
        Same formula and operation order as :meth:`_pulse_field`."""
        out = np.zeros(n)
        ps = [p for p in self.pulses if p.channel == channel and p.duration > 0]
        if not ps or n == 0:
            return out
        start = np.array([p.start for p in ps])
        dur = np.array([p.duration for p in ps])
        lo = np.maximum(0, np.ceil(start * rate - 1e-9)).astype(np.int64)
        hi = np.minimum(n, np.ceil((start + dur) * rate - 1e-9)).astype(np.int64)
        lengths = np.maximum(hi - lo, 0)
        order = np.argsort(lo, kind="stable")
        disjoint = bool(np.all(lo[order][1:] >= hi[order][:-1]))
        amp = np.array([p.amplitude for p in ps])
        freq = np.array([p.frequency for p in ps])
        phi = np.array([p.phases[step] for p in ps])
        groups: dict[tuple, list[int]] = {}
        for i, p in enumerate(ps):
            groups.setdefault((p.shape, p.shape_params), []).append(i)
        for (shape, sparams), members in groups.items():
            members = np.array(members)
            cum = np.cumsum(lengths[members])
            a = 0
            while a < members.size:
                # a batch of pulses with at most _CHUNK samples (at least one pulse)
                base = cum[a - 1] if a else 0
                b = max(a + 1, int(np.searchsorted(cum, base + self._CHUNK, side="right")))
                batch = members[a:b]
                lens = lengths[batch]
                total = int(lens.sum())
                a = b
                if total == 0:
                    continue
                if batch.size == 1:  # one (long) pulse: contiguous slices, no index arrays
                    j = int(batch[0])
                    for c0 in range(int(lo[j]), int(hi[j]), self._CHUNK):
                        c1 = min(c0 + self._CHUNK, int(hi[j]))
                        t = np.arange(c0, c1) / rate
                        out[c0:c1] += self._batch_field(
                            shape, sparams, t, start[j], dur[j], amp[j], freq[j], phi[j])
                    continue
                which = np.repeat(np.arange(batch.size), lens)
                first = np.cumsum(lens) - lens
                idx = np.arange(total) - np.repeat(first, lens) + np.repeat(lo[batch], lens)
                pulse = batch[which]
                vals = self._batch_field(shape, sparams, idx / rate, start[pulse], dur[pulse],
                                         amp[pulse], freq[pulse], phi[pulse])
                if disjoint:  # pulses do not share samples: plain assignment
                    out[idx] = vals
                else:
                    np.add.at(out, idx, vals)
        return out

    @staticmethod
    def _batch_field(shape, sparams, t, start, dur, amp, freq, phi):
        # samples were selected by index (edges within 1e-9 of a sample period count as on
        # the grid), so clip u into [0, 1) instead of letting rounding drop an edge sample
        u = np.clip((t - start) / dur, 0.0, np.nextafter(1.0, 0.0))
        env = amp * shapes.envelope(shape, u, dict(sparams))
        theta = TWO_PI * freq * t + phi
        if shapes.is_swept(shape):
            theta = theta + shapes.sweep_phase(shape, u, dict(sparams), dur)
        return env * np.cos(theta)

    # --------------------------------------------------------------------- JSON
    def to_dict(self) -> dict:
        def enc_phases(ph):
            return [float(x) for x in ph]

        return {
            "format": "spinecho.schedule/1",
            "name": self.name,
            "duration": self.duration,
            "channels": [{"name": c.name, "kind": c.kind, "full_scale": c.full_scale}
                         for c in self.channels],
            "pulses": [{"channel": p.channel, "start": p.start, "duration": p.duration,
                        "amplitude": p.amplitude, "shape": p.shape, "frequency": p.frequency,
                        "phases": enc_phases(p.phases),
                        "shape_params": [[k, v] for k, v in p.shape_params], "label": p.label}
                       for p in self.pulses],
            "ideal_pulses": [{"channel": p.channel, "time": p.time, "angle": p.angle,
                              "phases": enc_phases(p.phases), "label": p.label}
                             for p in self.ideal_pulses],
            "markers": [{"channel": m.channel, "start": m.start, "duration": m.duration,
                         "label": m.label} for m in self.markers],
            "windows": [{"channel": w.channel, "start": w.start, "duration": w.duration,
                         "label": w.label} for w in self.windows],
            "receiver": [[w.real, w.imag] for w in (complex(x) for x in self.receiver)],
            "params": [[k, v] for k, v in self.params],
            "source": self.source,
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict) -> Schedule:
        try:
            if d.get("format") != "spinecho.schedule/1":
                raise ScheduleError(f"not a spinecho schedule (format={d.get('format')!r})")
            return cls(
                name=d.get("name", ""),
                duration=float(d["duration"]),
                channels=tuple(Channel(c["name"], c["kind"], c.get("full_scale"))
                               for c in d["channels"]),
                pulses=tuple(Pulse(channel=p["channel"], start=p["start"],
                                   duration=p["duration"], amplitude=p["amplitude"],
                                   shape=p["shape"], frequency=p["frequency"],
                                   phases=tuple(p["phases"]),
                                   shape_params=tuple((k, v) for k, v in p["shape_params"]),
                                   label=p["label"]) for p in d["pulses"]),
                ideal_pulses=tuple(IdealPulse(channel=p["channel"], time=p["time"],
                                              angle=p["angle"], phases=tuple(p["phases"]),
                                              label=p["label"]) for p in d["ideal_pulses"]),
                markers=tuple(Marker(**m) for m in d["markers"]),
                windows=tuple(DetectionWindow(**w) for w in d["windows"]),
                receiver=tuple(complex(re, im) for re, im in d["receiver"]),
                params=tuple((k, v) for k, v in d["params"]),
                source=d.get("source", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleError(f"malformed schedule JSON: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScheduleError(f"schedule JSON: {exc}") from exc
        return cls.from_dict(d)
