"""The echo measurement as a pymeasure :class:`~pymeasure.experiment.Procedure`.

:class:`EchoProcedure` runs sweep points × phase-cycle steps × averages:

1. ``startup()`` — load the sequence (``--set`` / ``--sweep`` applied) and the lab file,
   bind every sweep point and **compile every point before connecting**
   (:func:`instruments.compiler.compile`), so a safety-limit violation is refused before
   a single byte reaches an instrument; then connect the AWG and the digitizer.
2. ``execute()`` — for each point not yet on disk: clear the AWG's volatile memory,
   upload one arb per phase-cycle step (binary blocks), read ``SYST:ERR?`` after the
   upload (any error aborts, naming the instrument), configure marker/burst/digitizer,
   switch the output on; then per software average and step: arm the digitizer, select
   the step's arb, trigger, wait, read the trace; demodulate and co-add with the
   receiver weights. Triggers are paced by one real-time guard (:class:`TriggerPacer`); a
   timeout is resynced and retried, a dropped link reopened, an SCPI error reported with
   instrument and command (:func:`play_program`). Each completed point is
   written at once: ``points/point_NNNNN.npz`` (atomic rename) then one row of the
   pymeasure Results CSV ``results.csv`` (through ``emit("results", ...)``: pymeasure's
   Worker or :func:`instruments.measure.run_measurement` writes it). When every point
   is on disk the :class:`echo.result.EchoResult` is saved as ``result.nc``.
3. ``shutdown()`` — every output off and read back (:meth:`instruments.lab.Lab.shutdown`:
   reconnect if the link dropped, ``OUTP?``/``SYST:ERR?`` verified, ``*RST`` as a last
   resort, an :class:`~instruments.lab.UnsafeStateError` if it cannot be verified) and the
   sessions and instrument locks released, on every path (normal end, error, Ctrl-C,
   SIGTERM/SIGHUP, interpreter exit); pymeasure's Worker and
   :func:`instruments.measure.run_measurement` both call it in a ``finally``.

Resume: a run directory remembers its configuration (``run.json``); with ``resume`` the
points already in both ``RUN/results.csv`` and ``points/`` are skipped and their data
reused, so a sweep interrupted anywhere completes with no point duplicated or lost.
(Under pymeasure's Worker/ManagedWindow, give the Results the file ``RUN/results.csv``
for a resumable run.)

Signal conventions (the same as :func:`echo.detect.to_signal`, so measured and simulated
results compare without conversion): the recorded FLL voltage V(t) (t absolute in the
shot, s) is demodulated as z(t) = 2 V(t) exp(−i 2π f_ref t) (f_ref = ``reference_frequency``
if ≥ 0; else, per point, the value of the bound sequence parameter named
``reference_parameter`` (default ``f_ref``) if the sequence has one — e.g. the probe
carrier of a hole-burning sweep, ``param f_ref = f_probe`` in ``holeburn.seq``; else the
carrier of the first pulse; f_ref = 0: z = V), restricted to the schedule's
detection windows; the phase-cycled signal is (1/n) Σ_k receiver[k] · z_k and the echo
amplitude its mean over the window labelled "echo" (else window 0).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    Parameter,
    Procedure,
)

from echo.detect import demodulate, echo_amplitude, phase_cycle
from instruments.errors import InstrumentError
from sequences.config import setting, validate
from sequences.errors import ScheduleError

log = logging.getLogger(__name__)

COLUMNS = ["point", "sweep value", "amplitude re (V)", "amplitude im (V)",
           "amplitude abs (V)", "phase (rad)", "averages", "params"]


class RunDirError(InstrumentError):
    """A run directory that cannot be started or resumed (message says why)."""


class OptionError(InstrumentError):
    """A measurement option out of range (the message names option and value)."""


@dataclass(frozen=True)
class MeasureOptions:
    """The measurement options and their ranges, declared once with
    :func:`sequences.config.setting` (the project's one configuration mechanism); the
    command line, :func:`instruments.measure.run_measurement` and the Procedure all
    check them through :func:`check_options`."""

    averages: int = setting(1, ge=1, le=1_000_000, doc="software repetitions of the cycle")
    retries: int = setting(2, ge=0, le=100, doc="retries of a failed acquisition")
    reference_frequency: float = setting(-1.0, ge=-1.0, le=1e12, unit="Hz",
                                         doc="-1: the carrier / f_ref of each point")
    repetition_time: float = setting(0.0, ge=0.0, le=3600.0, unit="s",
                                     doc="shot period; 0: the played waveform's length")

    def __post_init__(self):
        validate(self, "", error=OptionError)
        if -1.0 < self.reference_frequency < 0.0:
            raise OptionError("reference_frequency: must be -1 or >= 0, got "
                              f"{self.reference_frequency!r}")


def check_options(**options) -> dict:
    """Check the measurement options once, before anything is compiled or connected
    (:class:`MeasureOptions`); returns them converted. NaN, inf, values out of range and
    non-integers where an integer is needed raise :class:`OptionError` naming the
    command-line flag and the value."""
    try:
        opts = MeasureOptions(**options)
    except OptionError as exc:
        text = str(exc)
        name = text.split(":", 1)[0]
        if name in options:
            text = f"--{name.replace('_', '-')}" + text[len(name):]
        raise OptionError(text) from None
    return dataclasses.asdict(opts)


# ------------------------------------------------------------------------------ data
@dataclass
class PointData:
    """One measured sweep point: ``trace`` (n_steps, n_t) complex V (demodulated, one
    row per phase-cycle step), ``times`` (s) and ``window_index`` of its samples."""

    index: int
    params: dict
    times: np.ndarray
    window_index: np.ndarray
    trace: np.ndarray
    amplitude: complex
    averages: int


def window_samples(schedule, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean mask of recorded ``times`` inside a detection window (half-open
    [start, stop)) and the window index of each kept sample (−1 without windows)."""
    if not schedule.windows:
        return np.ones(times.size, bool), np.full(times.size, -1, dtype=np.int64)
    idx = np.full(times.size, -1, dtype=np.int64)
    eps = 1e-12
    for k, w in enumerate(schedule.windows):
        sel = (times >= w.start - eps) & (times < w.stop - eps) & (idx < 0)
        idx[sel] = k
    keep = idx >= 0
    return keep, idx[keep]


def reference_frequency(schedule, explicit: float = -1.0, parameter: str = "f_ref") -> float:
    """Demodulation reference (Hz) of one bound point: ``explicit`` if ≥ 0; else
    :meth:`sequences.Schedule.reference_frequency` (the bound ``parameter``, e.g. the probe
    carrier of a swept hole-burning probe, else the schedule's carrier)."""
    if explicit >= 0:
        return float(explicit)
    try:
        return schedule.reference_frequency(parameter or None)
    except ScheduleError as exc:
        raise InstrumentError(str(exc), "procedure") from None


# ------------------------------------------------------------------------- run store
class RunStore:
    """A run directory: ``run.json`` (configuration), ``results.csv`` (pymeasure
    Results), ``points/point_NNNNN.npz`` (per-point traces), ``result.nc`` (EchoResult)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.csv = self.path / "results.csv"
        self.points = self.path / "points"
        self.meta = self.path / "run.json"
        self.result = self.path / "result.nc"

    def prepare(self, config: dict, resume: bool, snapshot: dict | None = None) -> None:
        """Start a run directory (``run.json``: ``config``, the lab ``snapshot``, the
        time) or, with ``resume``, check that ``config`` and the lab's calibration and
        limits (``snapshot["calibration"]``) are those the run started with, and drop a
        torn last row of ``results.csv`` (:meth:`repair_csv`)."""
        if self.meta.exists():
            try:
                old = json.loads(self.meta.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise RunDirError(f"{self.meta} is not readable JSON ({exc}); the run "
                                  "cannot be resumed safely: start a new one") from None
            if not resume:
                raise RunDirError(f"{self.path} already holds a run; use --resume to "
                                  "continue it or choose another -o directory")
            if old.get("config") != config:
                diff = sorted(k for k in set(old.get("config", {})) | set(config)
                              if old.get("config", {}).get(k) != config.get(k))
                raise RunDirError(f"{self.path}: cannot resume, the run was started with a "
                                  f"different {', '.join(diff)}")
            before = (old.get("snapshot") or {}).get("calibration")
            now = (snapshot or {}).get("calibration")
            if before is not None and now is not None and before != now:
                changes = _changes(before, now)
                raise RunDirError(
                    f"{self.path}: cannot resume, the lab file's calibration or limits "
                    f"changed since the run began ({'; '.join(changes[:6])}); points measured "
                    "with both would not compare: start a new run (or restore the lab file)")
            self.repair_csv()
            return
        if self.path.exists() and any(self.path.iterdir()) and not resume:
            raise RunDirError(f"{self.path} exists and is not empty")
        self.points.mkdir(parents=True, exist_ok=True)
        tmp = self.meta.with_suffix(".tmp")
        meta = {"config": config, "created": _now()}
        if snapshot is not None:
            meta["snapshot"] = snapshot
        try:
            text = json.dumps(meta, indent=1, allow_nan=False)
        except ValueError as exc:  # never write NaN/Infinity: run.json must stay JSON
            raise RunDirError(f"run configuration holds a non-finite number ({exc})") from None
        tmp.write_text(text, encoding="utf-8")
        _fsync(tmp)
        os.replace(tmp, self.meta)
        _fsync_dir(self.path)

    def repair_csv(self) -> list[str]:
        """Keep only the complete rows of ``results.csv``: a row counts when it ends in a
        newline (the last byte a row write puts down), has the header's number of
        fields, a point index and no NUL byte; the first row of a point wins. Anything
        else (a row torn by a power cut or a kill mid-write) is dropped, so the point is
        measured again, and the file is rewritten atomically. Returns the dropped text."""
        if not self.csv.exists():
            return []
        raw = self.csv.read_bytes()
        lines = raw.split(b"\n")
        tail = lines.pop()  # after the last newline: b"" unless the last row is torn
        kept: list[bytes] = []
        dropped: list[str] = [tail.decode("utf-8", "replace")] if tail else []
        header = None
        seen: set[int] = set()
        for line in lines:
            text = line.decode("utf-8", "replace")
            if text.startswith("#") and header is None:
                kept.append(line)
                continue
            if header is None:
                header = next(csv.reader([text]), [])
                kept.append(line)
                continue
            row = next(csv.reader([text]), [])
            ok = len(row) == len(header) and b"\0" not in line and "\ufffd" not in text
            if ok:
                try:
                    point = int(float(row[0]))
                except ValueError:
                    ok = False
                else:
                    ok = point >= 0 and point not in seen
                    seen.add(point)
            if ok:
                kept.append(line)
            else:
                dropped.append(text)
        if dropped:
            log.warning("%s: dropped %d torn or malformed row(s): %s", self.csv,
                        len(dropped), "; ".join(d[:60] for d in dropped))
            tmp = self.csv.with_suffix(".tmp")
            tmp.write_bytes(b"".join(k + b"\n" for k in kept))
            _fsync(tmp)
            os.replace(tmp, self.csv)
            _fsync_dir(self.path)
        return dropped

    def csv_points(self) -> set[int]:
        """Point indices with a complete row in the CSV."""
        done: set[int] = set()
        if not self.csv.exists():
            return done
        with open(self.csv, newline="", encoding="utf-8") as fh:
            rows = csv.reader(line for line in fh if not line.startswith("#"))
            header = next(rows, None)
            if header is None:
                return done
            for row in rows:
                if len(row) == len(header):
                    try:
                        done.add(int(float(row[0])))
                    except ValueError:
                        continue
        return done

    def point_file(self, i: int) -> Path:
        return self.points / f"point_{i:05d}.npz"

    def completed(self) -> set[int]:
        return {i for i in self.csv_points() if self.point_file(i).exists()}

    def save_point(self, pd: PointData) -> None:
        self.points.mkdir(parents=True, exist_ok=True)
        final = self.point_file(pd.index)
        tmp = final.with_name(final.stem + ".tmp.npz")
        np.savez(tmp, index=pd.index, params=json.dumps(pd.params), times=pd.times,
                 window_index=pd.window_index, trace=pd.trace,
                 amplitude=np.complex128(pd.amplitude), averages=pd.averages)
        _fsync(tmp)
        os.replace(tmp, final)
        _fsync_dir(self.points)

    def load_point(self, i: int) -> PointData:
        with np.load(self.point_file(i), allow_pickle=False) as z:
            return PointData(int(z["index"]), json.loads(str(z["params"])), z["times"],
                             z["window_index"], z["trace"], complex(z["amplitude"]),
                             int(z["averages"]))


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX; a no-op where directories cannot be
    opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _changes(before: dict, now: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs between two snapshots."""
    out = []
    for key in sorted(set(before) | set(now)):
        a, b = before.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def lab_snapshot(config) -> dict:
    """The lab configuration a run records (like a QCoDeS station snapshot):
    ``calibration`` — every role's calibration, driver, channels and the limits (what a
    resumed run must share; connection details excluded) — and ``connection`` (VISA
    resources, timeouts) and the lab file's path and SHA-256."""
    import dataclasses
    import hashlib

    connection_keys = {"resource", "timeout_s", "read_termination", "write_termination"}
    calibration: dict = {"limits": dataclasses.asdict(config.limits)}
    connection: dict = {}
    for role in ("awg", "digitizer", "lockin", "rf_source", "squid"):
        cfg = getattr(config, role, None)
        if cfg is None:
            continue
        d = dataclasses.asdict(cfg)
        d.pop("role", None)
        connection[role] = {k: d.pop(k) for k in list(d) if k in connection_keys}
        calibration[role] = d
    snap = {"calibration": calibration, "connection": connection,
            "lab_file": str(config.path or "")}
    if config.path and Path(config.path).is_file():
        snap["lab_file_sha256"] = hashlib.sha256(Path(config.path).read_bytes()).hexdigest()
    return snap


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------- playing
class TriggerPacer:
    """Real-time duty-cycle guard: every bus trigger of a run goes through :meth:`fire`,
    which waits until at least ``period`` s (the repetition period the program's duty
    cycle was checked against) plus a margin have passed since the previous trigger —
    across steps, software averages, on-scope averages, retries and sweep points alike.
    The margin (``margin_s`` + ``margin_fraction`` · period, default 2 ms + 2 %) covers
    the variation of the delay between sending ``*TRG`` and the instrument acting on it
    (network and host scheduling), so the shots the instrument plays keep the period too.
    ``times`` keeps the monotonic time of every trigger sent."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep, margin_s: float = 0.002,
                 margin_fraction: float = 0.02):
        self.clock = clock
        self.sleep = sleep
        self.margin_s = margin_s
        self.margin_fraction = margin_fraction
        self.last: float | None = None
        self.times: list[float] = []

    def fire(self, awg, period: float) -> None:
        if self.last is not None:
            period = period * (1.0 + self.margin_fraction) + self.margin_s
            wait = self.last + period - self.clock()
            while wait > 0:
                self.sleep(wait)
                wait = self.last + period - self.clock()
        self.last = self.clock()
        self.times.append(self.last)
        awg.trigger()


def _paced_triggers(awg, count: int, period: float, pacer: TriggerPacer | None = None) -> None:
    """Send ``count`` bus triggers at least ``period`` (s) apart (and that far from the
    previous trigger of ``pacer``): the repetition period the duty-cycle limit was
    checked against, and no trigger lands while a burst still plays (a 33500B ignores
    those)."""
    pacer = pacer or TriggerPacer()
    for _ in range(count):
        pacer.fire(awg, period)


def _pacer(lab) -> TriggerPacer:
    pacer = getattr(lab, "pacer", None)
    if pacer is None:
        pacer = TriggerPacer()
        try:
            lab.pacer = pacer
        except AttributeError:
            pass
    return pacer


def _timeout_s(inst) -> float:
    conn = getattr(getattr(inst, "adapter", None), "connection", None)
    return (getattr(conn, "timeout", None) or 10_000) / 1000.0


def _resync_timeout(inst) -> float:
    """How long a resync waits for the marker: twice the session timeout, at least 2 s
    (a late reply can come up to one timeout after the one that expired)."""
    return max(2.0, 2.0 * _timeout_s(inst))


def play_program(lab, program, *, averages: int = 1, retries: int = 2,
                 arm_settle: float = 0.02):
    """Play a :class:`instruments.compiler.CompiledProgram` on ``lab`` (AWG +
    digitizer) and read one record per phase-cycle step.

    The program is uploaded with :func:`instruments.compiler.upload_program` (outputs
    off, binary segments, sequence, ``SYST:ERR?`` checked; an upload refused once is
    uploaded again, a second refusal raises), the digitizer configured for the
    program's acquisition (trigger delay, record length, points, on-scope averages),
    the field output switched on. Each step's segment is then selected explicitly
    (``FUNC:ARB step<k>``) and triggered (``*TRG``) as many times as the digitizer
    averages, every trigger paced by the lab's :class:`TriggerPacer` (never closer than
    the program's repetition period), and the AWG's error queue read at once (a refused
    trigger is reported as the AWG's, with the command). ``averages`` software
    repetitions of the whole cycle are co-added; ``arm_settle`` (s) is waited between
    arming the digitizer and triggering.

    A timeout is followed by a matched resync of that instrument
    (:func:`instruments.link.resync`; a reconnect if the marker never comes back), so a
    late reply is never read as data, and by both error queues (an SCPI error found
    there is raised, naming instrument and command); a dropped link is reopened and the
    program set up again; a malformed reply is resynced. Each is retried ``retries``
    times (the same step again), then raised.

    With a ``[squid]`` section in the lab file, flux jumps (FLL resets by whole Φ0) are
    removed from every record (:meth:`SquidReadout.correct_flux_jumps`) before
    co-adding. Returns ``(times, volts, hw_averages)``: record times (s from the start of the
    step), volts (n_steps, n_points) averaged over all repetitions.
    """
    from instruments.compiler import upload_program
    from instruments.errors import ProtocolError, ScpiError
    from instruments.link import LinkDropped, alive, is_timeout, reconnect, resync

    awg, dig = lab.awg, lab.digitizer
    acq = program.acquisition
    hw_avg = max(1, int(acq.averages))
    pacer = _pacer(lab)
    role = ["awg"]  # the instrument being talked to, for error messages
    insts = {"awg": awg, "digitizer": dig}

    def on(name: str) -> None:
        role[0] = name

    def setup() -> None:
        on("awg")
        for attempt in range(2):
            try:
                upload_program(awg, program, output=False)
                break
            except ScpiError as exc:
                if attempt:
                    raise
                log.warning("upload refused once (%s); uploading again", exc)
        on("digitizer")
        dig.configure(acq.record_length, trigger_delay=acq.trigger_delay, averages=hw_avg,
                      channel=acq.channel, points=acq.n_points)
        dig.raise_errors()
        on("awg")
        awg.channels[program.field.channel].output = True
        if program.gate is not None:
            awg.channels[program.gate.channel].output = True

    def set_up() -> None:
        """:func:`setup`, again on a reopened link if one drops (uploading is safe to
        repeat: it starts by clearing the AWG's volatile memory)."""
        for attempt in range(retries + 1):
            try:
                setup()
                return
            except LinkDropped as exc:
                if attempt == retries:
                    raise
                log.warning("set-up: %s; reconnecting", exc)
                reconnect(insts[role[0]])

    def queued_errors() -> None:
        """Raise the first SCPI error either instrument holds (named, with command)."""
        for name in ("awg", "digitizer"):
            on(name)
            insts[name].raise_errors()

    try:
        set_up()
        ch = awg.channels[program.field.channel]
        sums = None
        times = None
        for _ in range(averages):
            for step in program.steps:
                for attempt in range(retries + 1):
                    try:
                        on("awg")
                        ch.select_arb(step.segment)
                        on("digitizer")
                        dig.arm(acq.channel)
                        time.sleep(arm_settle)  # a scope needs a moment to arm
                        on("awg")
                        _paced_triggers(awg, hw_avg, program.safety.period, pacer)
                        awg.raise_errors()  # a refused trigger: the AWG's error, at once
                        on("digitizer")
                        try:
                            dig.wait_complete()
                        except InstrumentError as exc:  # a polling driver's own timeout
                            if type(exc) is not InstrumentError:
                                raise
                            raise TimeoutError(str(exc)) from exc
                        t, v = dig.read_trace(acq.channel)
                        break
                    except LinkDropped as exc:
                        failed = role[0]
                        log.warning("step %d: %s (attempt %d of %d); reconnecting",
                                    step.index, exc, attempt + 1, retries + 1)
                        if attempt == retries:
                            raise
                        reconnect(insts[failed])
                        set_up()  # the instrument may have lost what it was told
                    except (ProtocolError, Exception) as exc:
                        if isinstance(exc, ScpiError) or not (
                                is_timeout(exc) or isinstance(exc, ProtocolError)):
                            raise
                        failed = role[0]
                        log.warning("step %d: %s: %s (attempt %d of %d)", step.index, failed,
                                    exc, attempt + 1, retries + 1)
                        inst = insts[failed]
                        wait = _resync_timeout(inst)
                        if not resync(inst, wait):
                            if alive(inst):  # connected but silent: busy or hung
                                raise InstrumentError(
                                    f"no reply within the {_timeout_s(inst):g} s timeout, nor "
                                    f"to a resync marker in {wait:g} s more: the instrument "
                                    "is busy or hung (if it is only slow, raise timeout_s "
                                    "in the lab file)", failed) from exc
                            log.warning("%s: link closed during the resync; reconnecting",
                                        failed)
                            reconnect(inst)
                            set_up()
                        queued_errors()  # an SCPI error behind the timeout is the cause
                        if attempt == retries:
                            if isinstance(exc, ProtocolError):
                                raise
                            raise InstrumentError(
                                f"no record for phase-cycle step {step.index} after "
                                f"{retries + 1} attempts (timeouts; no SCPI error queued "
                                "on the AWG or the digitizer); aborting", failed
                            ) from exc
                squid = getattr(lab, "squid", None)
                if squid is not None:  # FLL resets by whole flux quanta
                    v, jumps = squid.correct_flux_jumps(v)
                    if len(jumps):
                        log.info("step %d: removed %d flux jump(s) %s", step.index,
                                 len(jumps), list(jumps.size))
                        lab.flux_jumps_corrected = getattr(lab, "flux_jumps_corrected",
                                                           0) + len(jumps)
                if sums is None:
                    times = t
                    sums = np.zeros((program.n_steps, t.size))
                sums[step.index] += v
    except InstrumentError:
        raise
    except Exception as exc:
        if isinstance(exc, OSError) or type(exc).__module__.startswith("pyvisa"):
            raise InstrumentError(f"communication failed ({type(exc).__name__}: {exc}); "
                                  "connection lost?", role[0]) from exc
        raise
    return times, sums / averages, hw_avg


# ------------------------------------------------------------------------- procedure
def _is_timeout(exc: BaseException) -> bool:
    from instruments.link import is_timeout

    return is_timeout(exc)


class EchoProcedure(Procedure):
    """Spin-echo measurement: see the module docstring.

    Parameters (pymeasure): ``sequence_file`` (.seq path or library name), ``lab_file``
    (lab TOML), ``sets`` ("name=value; ..."), ``sweeps`` ("spec; spec", as ``--sweep``),
    ``averages`` (software repetitions of the whole phase cycle per point; the
    digitizer's own averaging comes from the lab file), ``retries`` (per timed-out
    acquisition), ``reference_frequency`` (Hz, −1 = per point: the sequence parameter
    ``reference_parameter`` if the sequence has it, else the carrier of the first pulse),
    ``reference_parameter`` (default ``f_ref``), ``run_dir``, ``resume``.
    """

    sequence_file = Parameter("Sequence", default="hahn")
    lab_file = Parameter("Lab file", default="")
    sets = Parameter("Set", default="")
    sweeps = Parameter("Sweep", default="")
    averages = IntegerParameter("Averages", minimum=1, maximum=1_000_000, default=1)
    retries = IntegerParameter("Retries", minimum=0, maximum=100, default=2)
    reference_frequency = FloatParameter("Reference frequency", units="Hz", default=-1.0,
                                         minimum=-1.0, maximum=1e12)
    reference_parameter = Parameter("Reference parameter", default="f_ref")
    repetition_time = FloatParameter("Repetition time", units="s", default=0.0, minimum=0.0)
    run_dir = Parameter("Run directory", default="run")
    resume = BooleanParameter("Resume", default=False)

    DATA_COLUMNS = COLUMNS

    # set up by startup()
    lab = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lab = None
        self.lab_config = None
        self.schedules: list = []
        self.points: list[dict] = []
        self.programs: list = []
        self.data: dict[int, PointData] = {}
        self.store: RunStore | None = None
        self.n_measured = 0
        self.flux_jumps = 0  # FLL resets removed so far (lab files with [squid])
        self.identities: dict[str, str] = {}
        self.connect_fn = None  # override for tests: fn(lab_config) -> Lab
        self.safe_report: list[str] = []
        self.pacer = TriggerPacer()

    # --------------------------------------------------------------- configuration
    def config_dict(self) -> dict:
        from sequences.parser import load

        seq = load(self.sequence_file)
        return {"sequence": seq.to_text() if hasattr(seq, "to_text") else str(self.sequence_file),
                "lab_file": str(Path(self.lab_file).resolve()) if self.lab_file else "",
                "sets": self.sets, "sweeps": self.sweeps, "averages": int(self.averages),
                "reference_frequency": float(self.reference_frequency),
                # only when changed: run directories of older versions still resume
                **({"reference_parameter": str(self.reference_parameter)}
                   if str(self.reference_parameter) != "f_ref" else {}),
                **({"repetition_time": float(self.repetition_time)}
                   if float(self.repetition_time or 0.0) > 0 else {})}

    def prepare(self) -> None:
        """Check the options, bind and compile every sweep point (no instrument
        contact)."""
        from instruments.lab import load_lab

        check_options(averages=self.averages, retries=self.retries,
                      reference_frequency=self.reference_frequency,
                      repetition_time=self.repetition_time or 0.0)
        from sequences.parser import load
        from sequences.sweep import apply_options

        seq = load(self.sequence_file)
        specs = [s.strip() for s in str(self.sweeps or "").split(";") if s.strip()]
        sets = [s.strip() for s in str(self.sets or "").split(";") if s.strip()]
        seq, fixed = apply_options(seq, sets, specs)
        self.sequence = seq
        if seq.sweeps:
            pairs = list(seq.sweep(**fixed))
        else:
            pairs = [({}, seq.bind(**fixed))]
        self.points = [dict(p) for p, _ in pairs]
        self.schedules = [s for _, s in pairs]
        self.lab_config = load_lab(self.lab_file)
        self.lab_config.require("awg", "an echo measurement")
        self.lab_config.require("digitizer", "an echo measurement")
        from instruments.compiler import compile as compile_schedule

        # the shot period: the duty-cycle limit is checked against it and the triggers of
        # on-scope averaging are paced by it (0: the played waveform's length)
        rep = float(self.repetition_time or 0.0) or None
        self.programs = [compile_schedule(s, self.lab_config, repetition_time=rep)
                         for s in self.schedules]
        for s in self.schedules:  # a bad per-point reference is refused before any contact
            self.f_ref(s)

    def startup(self) -> None:
        self.prepare()
        self.store = RunStore(self.run_dir)
        self.store.prepare(self.config_dict(), bool(self.resume),
                           lab_snapshot(self.lab_config))
        for i in sorted(self.store.completed()):
            if i < len(self.schedules):
                self.data[i] = self.store.load_point(i)
        from instruments.lab import connect

        owner = f"run {Path(self.run_dir).resolve()}"
        connect_fn = self.connect_fn or (lambda cfg: connect(cfg, ("awg", "digitizer"),
                                                             owner=owner))
        self.lab = connect_fn(self.lab_config)
        self.lab.pacer = self.pacer  # one real-time trigger guard for the whole run
        self.identities = {}
        from instruments.lab import idn_problem

        for role in ("awg", "digitizer"):
            inst = getattr(self.lab, role, None)
            if inst is not None:
                self.identities[role] = str(inst.id).strip()  # *IDN?, for the provenance
                problem = idn_problem(type(inst), self.identities[role])
                if problem:  # before a byte of a program is sent (as lab check says)
                    # nothing was switched on, and this driver's shutdown commands are
                    # not that instrument's: close without them
                    lab, self.lab = self.lab, None
                    lab.close()
                    raise InstrumentError(problem, role)

    # --------------------------------------------------------------------- running
    def todo(self) -> list[int]:
        return [i for i in range(len(self.schedules)) if i not in self.data]

    def execute(self) -> None:
        n = len(self.schedules)
        for i in self.todo():
            if self._should_stop():
                log.info("stop requested after %d points", len(self.data))
                break
            pd = self.measure_point(i)
            self.store.save_point(pd)
            self.data[i] = pd
            self.n_measured += 1
            self.emit("results", self.row(pd))
            self.emit("progress", 100.0 * len(self.data) / n)
        if len(self.data) == n:
            self.echo_result().save(self.store.result)

    def _should_stop(self) -> bool:
        try:
            return bool(self.should_stop())
        except NotImplementedError:
            return False

    def row(self, pd: PointData) -> dict:
        first = next(iter(pd.params.values()), math.nan)
        return {"point": pd.index, "sweep value": first,
                "amplitude re (V)": pd.amplitude.real, "amplitude im (V)": pd.amplitude.imag,
                "amplitude abs (V)": abs(pd.amplitude),
                "phase (rad)": math.atan2(pd.amplitude.imag, pd.amplitude.real),
                "averages": pd.averages,
                "params": ";".join(f"{k}={v:.12g}" for k, v in pd.params.items())}

    def f_ref(self, schedule) -> float:
        return reference_frequency(schedule, float(self.reference_frequency),
                                   str(self.reference_parameter or ""))

    def measure_point(self, i: int) -> PointData:
        """Upload, play and read sweep point ``i`` (see the module docstring)."""
        schedule = self.schedules[i]
        program = self.programs[i]
        times, volts, hw_avg = play_program(self.lab, program, averages=int(self.averages),
                                            retries=int(self.retries))
        self.flux_jumps = getattr(self.lab, "flux_jumps_corrected", 0)
        keep, widx = window_samples(schedule, times)
        f = self.f_ref(schedule)
        trace = np.stack([demodulate(v[keep], times[keep], f) for v in volts])
        amp = echo_amplitude(phase_cycle(trace, schedule.receiver), widx, schedule)
        return PointData(i, self.points[i], times[keep], widx, trace, amp,
                         int(self.averages) * hw_avg)

    def shutdown(self) -> None:
        """Every output off and verified (:meth:`instruments.lab.Lab.shutdown`), the
        sessions closed; ``safe_report`` says what was verified."""
        lab, self.lab = self.lab, None
        if lab is None:
            return
        try:
            self.safe_report = lab.shutdown()
        finally:
            lab.close()

    # -------------------------------------------------------------------- results
    def echo_result(self):
        """The :class:`echo.result.EchoResult` of every point measured so far (in
        point order; attrs kind = "measured")."""
        from echo.result import build_result

        idx = sorted(self.data)
        pts = [self.data[i] for i in idx]
        attrs = {"kind": "measured", "engine": "", "frame": "lab", "seed": -1,
                 "sequence": self.sequence.to_text() if hasattr(self.sequence, "to_text")
                 else str(self.sequence_file),
                 "lab_file": str(self.lab_file), "averages": int(self.averages),
                 "points_measured": len(idx), "points_total": len(self.schedules),
                 "instruments": json.dumps(self.identities),
                 "flux_jumps_corrected": int(self.flux_jumps)}
        return build_result(schedules=[self.schedules[i] for i in idx],
                            times=[p.times for p in pts],
                            window_index=[p.window_index for p in pts],
                            trace=[p.trace for p in pts],
                            params=[p.params for p in pts] if any(p.params for p in pts)
                            else None, attrs=attrs)
