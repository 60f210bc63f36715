"""Schedule → hardware program: :func:`compile` and :func:`upload_program`.

Conventions (docs/instruments.md has the long form):

* **Samples.** The AWG plays sample i over [i/fs, (i+1)/fs) (sample-and-hold, arb
  filter OFF), with sample i = the schedule's field at t_i = i/fs
  (:meth:`Schedule.sample`). The played waveform is the schedule's duration, rounded
  down to whole samples, then zero-padded to the length granularity and the minimum
  length of the instrument.
* **DAC.** volts = field [T] × ``volts_per_tesla``; code = round(volts /
  ``full_scale_v`` × 32767), then rounded to the DAC resolution (a multiple of
  2^(16 − dac_bits)); the channel amplitude is 2·full_scale_v Vpp with offset 0, so
  code ±32767 ↔ ±full_scale_v (33500B family, ``FUNC ARB``). A code beyond ±32767 is a
  ``dac_range`` violation (never clipped); a pulse whose peak rounds to code 0 is a
  ``dac_resolution`` violation.
* **Phase cycle.** One arb segment per phase-cycle step (identical steps share one),
  played as a 33500B sequence whose entries are ``onceWaitTrig``: each trigger
  (``*TRG`` or the rear Trig In) plays the next step. A single step is played as a plain
  arb. Memory = sum of the distinct segments' points.
* **Markers.** The AWG's Sync output carries the marker: it rises at the start of every
  step (the digitizer triggers on this edge) and falls at ``marker_point`` (the end of
  the digitizer gate). The digitizer gate is the schedule marker channel named
  ``awg.digitizer_marker`` (default ``acq``) or else the union of the detection
  windows. The RF gate (marker channel ``awg.rf_marker``, default ``rf``) is played as
  a 0 / ``gate_level_v`` arb on ``awg.gate_channel`` when the lab has one.
* **Acquisition.** The record starts ``trigger_delay`` = the first detection window's
  start after the trigger and lasts until the last window's end.
* **Safety** (:mod:`instruments.safety`) is checked on the quantised volts, and all
  hardware constraints before that — a program that exists is within every limit.
  Ideal pulses are refused: hardware cannot play an instantaneous rotation.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from instruments.errors import CompileError, LimitViolation
from instruments.lab import LabConfig
from instruments.safety import SafetyReport, check_limits, sample_range
from sequences import shapes
from sequences.errors import ScheduleError

DAC_MAX = 32767
SEQUENCE_NAME = "spinecho"


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class AwgSegment:
    """One arb in volatile memory: ``name`` and read-only int16 ``codes``."""

    name: str
    codes: np.ndarray


@dataclass(frozen=True)
class ChannelProgram:
    """What one AWG channel plays: its distinct segments, the per-step segment names,
    the sequence (if more than one step) and the amplitude setting."""

    channel: int
    amplitude_vpp: float
    offset_v: float
    segments: tuple[AwgSegment, ...]
    step_segments: tuple[str, ...]
    sequence_name: str | None
    marker_point: int

    @property
    def play_name(self) -> str:
        """The arb or sequence to select (``FUNC:ARB``)."""
        return self.sequence_name or self.step_segments[0]

    def sequence_entries(self):
        from instruments.drivers.awg import SequenceEntry

        return [SequenceEntry(name, 1, "onceWaitTrig", "highAtStartGoLow", self.marker_point)
                for name in self.step_segments]

    def codes(self, step: int) -> np.ndarray:
        name = self.step_segments[step]
        return next(s.codes for s in self.segments if s.name == name)


@dataclass(frozen=True)
class Acquisition:
    """Digitizer settings for the detection windows (times in s after the trigger,
    i.e. after the start of a step). ``windows`` = ((start, stop, label), ...)."""

    trigger_delay: float
    record_length: float
    windows: tuple[tuple[float, float, str], ...]
    sample_rate: float | None = None
    n_points: int | None = None
    averages: int = 1
    channel: int = 1


@dataclass(frozen=True)
class CompiledStep:
    """Phase-cycle step ``index``: the AWG segment it plays and its receiver weight."""

    index: int
    segment: str
    receiver: complex


@dataclass(frozen=True)
class CompiledProgram:
    """A schedule compiled for one lab. Every array is read-only."""

    name: str
    instrument: str
    sample_rate: float
    n_points: int
    full_scale_v: float
    volts_per_tesla: float
    field: ChannelProgram
    gate: ChannelProgram | None
    steps: tuple[CompiledStep, ...]
    markers: dict[str, np.ndarray]
    acquisition: Acquisition
    safety: SafetyReport
    trigger_source: str = "BUS"
    notes: tuple[str, ...] = field(default=())

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def duration(self) -> float:
        """Played length of one step (s), padding included."""
        return self.n_points / self.sample_rate

    def times(self) -> np.ndarray:
        """Sample times t_i = i / fs (s)."""
        return np.arange(self.n_points) / self.sample_rate

    def volts(self, step: int = 0) -> np.ndarray:
        """Output voltage of the field channel in ``step`` (what the DAC plays)."""
        return self.field.codes(step).astype(float) / DAC_MAX * self.full_scale_v

    def field_tesla(self, step: int = 0) -> np.ndarray:
        """Field at the sample (T) reconstructed from the DAC codes of ``step``."""
        return self.volts(step) / self.volts_per_tesla


# ----------------------------------------------------------------------------- helpers
def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _model(awg_cfg):
    cls = awg_cfg.driver_class()
    needed = ("MAX_SAMPLE_RATE", "MEMORY", "MIN_POINTS", "GRANULARITY", "DAC_BITS")
    if not all(hasattr(cls, k) for k in needed):
        raise CompileError(f"the compiler targets the Keysight 33500B/33600A family; "
                           f"{awg_cfg.driver} has no arb/sequence profile", "awg")
    return {
        "max_rate": float(cls.MAX_SAMPLE_RATE),
        "memory": awg_cfg.memory or int(cls.MEMORY),
        "min_points": awg_cfg.min_points or int(cls.MIN_POINTS),
        "granularity": awg_cfg.granularity or int(cls.GRANULARITY),
        "dac_bits": awg_cfg.dac_bits or int(cls.DAC_BITS),
        "n_channels": int(getattr(cls, "N_CHANNELS", 2)),
    }


def _field_channel(schedule, awg_cfg) -> str:
    """The channel the AWG plays: :meth:`sequences.Schedule.field_channel` of the lab's
    ``awg.field_channel`` (the one rule), which must exist; pulses elsewhere are refused."""
    try:
        name = schedule.field_channel(awg_cfg.field_channel)
    except ScheduleError as exc:  # not a field channel, or several and none chosen
        raise CompileError(f"{exc}; set awg.field_channel to one of the schedule's field "
                           "channels", "awg") from None
    if name is None:
        raise CompileError("the schedule has no field channel; set awg.field_channel", "awg")
    stray = sorted({repr(p.channel) for p in schedule.pulses if p.channel != name})
    if stray:
        raise CompileError(f"pulses on field channel(s) {', '.join(stray)} have no AWG "
                           f"channel (only {name!r} is played)", "awg")
    return name


def _gate_from(schedule, name: str | None, kind: str, rate: float, n: int) -> np.ndarray | None:
    """Boolean gate at the AWG rate from marker channel ``name`` (or all windows)."""
    out = np.zeros(n, dtype=bool)
    if kind == "marker":
        if not any(c.name == name and c.kind == "marker" for c in schedule.channels):
            return None
        events = [m for m in schedule.markers if m.channel == name]
    else:
        events = list(schedule.windows)
        if not events:
            return None
    for ev in events:
        lo, hi = sample_range(ev.start, ev.stop, rate, n)
        out[lo:hi] = True
    return out


def _segments(codes_by_step, prefix: str) -> tuple[tuple[AwgSegment, ...], tuple[str, ...]]:
    """Distinct segments (identical steps share one) and each step's segment name."""
    seen: dict[bytes, str] = {}
    segments: list[AwgSegment] = []
    names: list[str] = []
    for codes in codes_by_step:
        key = hashlib.sha1(codes.tobytes()).digest()
        if key not in seen:
            seen[key] = f"{prefix}{len(segments)}"
            segments.append(AwgSegment(seen[key], _frozen(codes)))
        names.append(seen[key])
    return tuple(segments), tuple(names)


# ----------------------------------------------------------------------------- compile
def compile(schedule, lab: LabConfig, *, repetition_time: float | None = None,
            trigger_source: str = "BUS") -> CompiledProgram:
    """Compile ``schedule`` (a :class:`sequences.schedule.Schedule`) for ``lab``.

    ``repetition_time`` (s) is the shot period used for the duty cycle (default: the
    played length). Raises :class:`LimitViolation` (constraint + instrument named)
    for any hardware constraint or safety limit, :class:`CompileError` for schedules
    hardware cannot play; returns a :class:`CompiledProgram` otherwise.
    """
    awg = lab.require("awg", "compiling a schedule")
    model = _model(awg)
    schedule.check()
    if schedule.ideal_pulses:
        labels = ", ".join(p.label or f"at {p.time:.6g} s" for p in schedule.ideal_pulses)
        raise CompileError(f"ideal (instantaneous) pulses cannot be played by hardware "
                           f"({labels}); give them a duration and a shape (a library "
                           "sequence plays finite pulses unless bound with ideal = 1: drop "
                           "--set ideal=1)", "awg")
    if trigger_source not in ("BUS", "EXT", "IMM", "TIM"):
        raise ValueError(f"trigger source {trigger_source!r}")
    rate = float(awg.sample_rate)
    if rate > model["max_rate"]:
        raise LimitViolation("sample_rate", "awg",
                             f"{rate:.6g} Sa/s exceeds the maximum {model['max_rate']:.6g}",
                             value=rate, limit=model["max_rate"])
    for role_channel in (awg.channel, awg.gate_channel):
        if role_channel is not None and role_channel > model["n_channels"]:
            raise CompileError(f"channel {role_channel} does not exist on a "
                               f"{model['n_channels']}-channel {awg.driver}", "awg")
    chan = _field_channel(schedule, awg)
    pulses = [p for p in schedule.pulses if p.channel == chan]

    # --- timing constraints of each pulse
    nyquist = awg.nyquist_fraction * rate
    for p in pulses:
        name = p.label or f"pulse at {p.start:.6g} s"
        if p.duration * rate < 1.0:
            raise LimitViolation("sample_rate", "awg",
                                 f"{name} lasts {p.duration:.3g} s, less than one sample "
                                 f"at {rate:.6g} Sa/s", value=p.duration, limit=1.0 / rate)
        top = abs(p.frequency) + shapes.sweep_span(p.shape, dict(p.shape_params)) / 2
        if top > nyquist:
            raise LimitViolation("bandwidth", "awg",
                                 f"{name} reaches {top:.6g} Hz, above {nyquist:.6g} Hz "
                                 f"({awg.nyquist_fraction:g} × the sample rate)",
                                 value=top, limit=nyquist)

    # --- length and memory
    n = int(math.floor(schedule.duration * rate + 1e-9))
    gran = model["granularity"]
    n_pad = max(model["min_points"], -(-max(n, 1) // gran) * gran)
    if n_pad % gran:
        n_pad += gran - n_pad % gran

    # --- DAC codes per step
    lsb = 2 ** (16 - model["dac_bits"])
    codes_by_step: list[np.ndarray] = []
    peak_float = 0.0
    for k in range(schedule.n_steps):
        volts = np.zeros(n_pad)
        volts[:n] = schedule.sample(rate, chan, k) * awg.volts_per_tesla
        peak_float = max(peak_float, float(np.max(np.abs(volts))) if n_pad else 0.0)
        scaled = volts / awg.full_scale_v * DAC_MAX
        if np.max(np.abs(scaled)) > DAC_MAX + 0.5:
            raise LimitViolation(
                "dac_range", "awg",
                f"step {k}: peak {float(np.max(np.abs(volts))):.6g} V exceeds the DAC full "
                f"scale {awg.full_scale_v:.6g} V (field × volts_per_tesla)",
                value=float(np.max(np.abs(volts))), limit=awg.full_scale_v)
        codes = np.rint(scaled / lsb) * lsb
        codes = np.clip(codes, -DAC_MAX, DAC_MAX).astype(np.int16)
        for p in pulses:
            lo, hi = sample_range(p.start, p.stop, rate, n)
            if p.amplitude != 0 and hi > lo and not np.any(codes[lo:hi]):
                # what the DAC would play: the sampled peak (a carrier sampled near its zero
                # crossings, or a short shaped pulse, can sample far below the nominal peak)
                sampled = float(np.max(np.abs(volts[lo:hi])))
                step_v = awg.full_scale_v * lsb / DAC_MAX
                raise LimitViolation(
                    "dac_resolution", "awg",
                    f"{p.label or 'a pulse'} would play as zero: its sampled peak "
                    f"{sampled:.3g} V (nominal {abs(p.amplitude * awg.volts_per_tesla):.3g} V "
                    f"= {abs(p.amplitude):.3g} T × volts_per_tesla) rounds below one DAC step "
                    f"({step_v:.3g} V)",
                    value=sampled, limit=step_v)
        codes_by_step.append(codes)
    segments, step_names = _segments(codes_by_step, "step")

    # --- markers
    markers: dict[str, np.ndarray] = {}
    for c in schedule.channels_of("marker"):
        markers[c.name] = _frozen(_gate_from(schedule, c.name, "marker", rate, n_pad))
    dig_gate = _gate_from(schedule, awg.digitizer_marker, "marker", rate, n_pad)
    if dig_gate is None or not dig_gate.any():
        dig_gate = _gate_from(schedule, None, "windows", rate, n_pad)
    marker_point = n_pad // 2
    if dig_gate is not None and dig_gate.any():
        first_on = int(np.argmax(dig_gate))
        off = np.flatnonzero(~dig_gate[first_on:])
        marker_point = first_on + int(off[0]) if off.size else n_pad - 1
        markers.setdefault("digitizer_gate", _frozen(dig_gate))
    marker_point = int(min(max(marker_point, 1), n_pad - 1))

    # --- memory (per channel: the field channel holds every distinct step)
    used = n_pad * len(segments)
    if used > model["memory"]:
        raise LimitViolation("memory", "awg",
                             f"{len(segments)} segment(s) × {n_pad} points = {used} points "
                             f"exceed the arb memory of {model['memory']} points",
                             value=used, limit=model["memory"])

    # --- RF gate
    notes: list[str] = []
    gate_prog = None
    rf_gate = markers.get(awg.rf_marker)
    if rf_gate is not None and rf_gate.any():
        if awg.gate_channel is None:
            if lab.rf_source is not None:
                raise CompileError(f"the schedule gates the RF source (marker "
                                   f"{awg.rf_marker!r}) but the lab has no awg.gate_channel",
                                   "awg")
            notes.append(f"marker {awg.rf_marker!r} not played: no awg.gate_channel")
        else:
            gate_codes = np.where(rf_gate, DAC_MAX, 0).astype(np.int16)
            gsegs, gnames = _segments([gate_codes] * schedule.n_steps, "gate")
            gate_prog = ChannelProgram(
                awg.gate_channel, 2.0 * awg.gate_level_v, 0.0, gsegs, gnames,
                SEQUENCE_NAME + "g" if schedule.n_steps > 1 else None, marker_point)

    # --- safety on what the DAC will play (after quantisation)
    volts_q = [c.astype(float) / DAC_MAX * awg.full_scale_v for c in codes_by_step]
    intervals = [(p.start, p.stop) for p in pulses if p.amplitude != 0 and p.duration > 0]
    period = n_pad / rate
    if repetition_time is not None:
        if not repetition_time > 0:
            raise ValueError(f"repetition_time {repetition_time!r} must be > 0")
        period = max(period, float(repetition_time))
    safety = check_limits(volts_q, rate, intervals, period, lab.limits, "awg")

    # --- acquisition
    acq = _acquisition(schedule, lab, dig_gate, rate)

    field_prog = ChannelProgram(
        awg.channel, 2.0 * awg.full_scale_v, 0.0, segments, step_names,
        SEQUENCE_NAME if schedule.n_steps > 1 else None, marker_point)
    steps = tuple(CompiledStep(k, step_names[k], complex(schedule.receiver[k]))
                  for k in range(schedule.n_steps))
    return CompiledProgram(
        name=schedule.name, instrument="awg", sample_rate=rate, n_points=n_pad,
        full_scale_v=awg.full_scale_v, volts_per_tesla=awg.volts_per_tesla,
        field=field_prog, gate=gate_prog, steps=steps, markers=markers, acquisition=acq,
        safety=safety, trigger_source=trigger_source, notes=tuple(notes))


def _acquisition(schedule, lab: LabConfig, dig_gate, rate: float) -> Acquisition:
    if schedule.windows:
        spans = [(w.start, w.stop, w.label) for w in schedule.windows]
    elif dig_gate is not None and dig_gate.any():
        on = np.flatnonzero(dig_gate)
        spans = [(on[0] / rate, (on[-1] + 1) / rate, "gate")]
    else:
        spans = [(0.0, schedule.duration, "shot")]
    start = min(s for s, _, _ in spans)
    stop = max(e for _, e, _ in spans)
    record = max(stop - start, 0.0)
    windows = tuple((s - start, e - start, label) for s, e, label in sorted(spans))
    dig = lab.digitizer
    if dig is None:
        return Acquisition(start, record, windows)
    n_points = max(1, math.ceil(record * dig.sample_rate - 1e-9))
    if n_points > dig.max_points:
        raise LimitViolation("max_points", "digitizer",
                             f"a {record:.6g} s record at {dig.sample_rate:.6g} Sa/s needs "
                             f"{n_points} points, more than {dig.max_points}",
                             value=n_points, limit=dig.max_points)
    return Acquisition(start, record, windows, dig.sample_rate, n_points, dig.averages,
                       dig.channel)


# ----------------------------------------------------------------------------- upload
def _verify(program: CompiledProgram) -> None:
    """Re-check a program's codes against its recorded limits just before sending."""
    lim = program.safety.max_amplitude_v
    for k in range(program.n_steps):
        codes = program.field.codes(k)
        if codes.size and int(np.max(np.abs(codes.astype(np.int32)))) > DAC_MAX:
            raise LimitViolation("dac_range", program.instrument, "codes beyond ±32767")
        peak = float(np.max(np.abs(program.volts(k)))) if codes.size else 0.0
        if lim is not None and peak > lim * (1 + 1e-12):
            raise LimitViolation("max_amplitude_v", program.instrument,
                                 f"program peak {peak:.6g} V above {lim:.6g} V",
                                 value=peak, limit=lim)


def _check_lab_limits(awg, program: CompiledProgram) -> None:
    """A program carries the limits it was compiled for (``program.safety``); an AWG
    connected under stricter ones (``awg.lab_limits``, set when a lab connects it) refuses
    it: recompile against this lab."""
    lab = getattr(awg, "lab_limits", None)
    if lab is None:
        return
    s = program.safety
    for name, compiled in (("max_amplitude_v", s.max_amplitude_v),
                           ("max_duty_cycle", s.max_duty_cycle),
                           ("max_pulse_energy", s.max_pulse_energy_limit)):
        now = getattr(lab, name)
        if now is not None and (compiled is None or compiled > now * (1 + 1e-12)):
            raise LimitViolation(
                name, program.instrument,
                f"the program was compiled for {name} = {compiled} but this lab sets {now}: "
                "recompile it against this lab's file", value=compiled, limit=now)


def _load_channel(ch, prog: ChannelProgram, rate: float, trigger_source: str) -> None:
    ch.output = False
    ch.clear_volatile()
    for seg in prog.segments:
        ch.upload_dac(seg.name, seg.codes)
    if prog.sequence_name:
        ch.define_sequence(prog.sequence_name, prog.sequence_entries())
    ch.configure_arb(prog.play_name, rate, prog.amplitude_vpp, prog.offset_v, "OFF")
    ch.configure_marker(prog.marker_point)
    ch.configure_burst(1, trigger_source)


def upload_program(awg, program: CompiledProgram, output: bool = False) -> None:
    """Send ``program`` to a connected 33500B/33600A driver: outputs off, volatile
    memory cleared, segments (binary, little-endian), sequence, arb settings, marker,
    triggered burst; then ``SYST:ERR?`` (raises :class:`ScpiError`); outputs on only if
    ``output``. The program is re-verified against its limits first."""
    _verify(program)
    _check_lab_limits(awg, program)
    field_ch = awg.channels[program.field.channel]
    gate_ch = awg.channels[program.gate.channel] if program.gate is not None else None
    _load_channel(field_ch, program.field, program.sample_rate, program.trigger_source)
    if gate_ch is not None:
        _load_channel(gate_ch, program.gate, program.sample_rate, program.trigger_source)
    awg.raise_errors()
    if output:
        field_ch.output = True
        if gate_ch is not None:
            gate_ch.output = True


compile_schedule = compile
