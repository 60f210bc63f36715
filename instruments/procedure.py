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
   receiver weights. A digitizer/AWG timeout is retried (``retries`` times, re-arming
   and re-triggering the same step), then the run aborts. Each completed point is
   written at once: ``points/point_NNNNN.npz`` (atomic rename) then one row of the
   pymeasure Results CSV ``results.csv`` (through ``emit("results", ...)``: pymeasure's
   Worker or :func:`instruments.measure.run_measurement` writes it). When every point
   is on disk the :class:`echo.result.EchoResult` is saved as ``result.nc``.
3. ``shutdown()`` — every output off (:meth:`instruments.lab.Lab.shutdown`) and the
   sessions closed, on every path (normal end, error, Ctrl-C); pymeasure's Worker and
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

from instruments.errors import InstrumentError

log = logging.getLogger(__name__)

VI_ERROR_TMO = -1073807339

COLUMNS = ["point", "sweep value", "amplitude re (V)", "amplitude im (V)",
           "amplitude abs (V)", "phase (rad)", "averages", "params"]


class RunDirError(InstrumentError):
    """A run directory that cannot be started or resumed (message says why)."""


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


def echo_window(schedule) -> int:
    """Index of the detection window labelled "echo", else 0 (−1: no window)."""
    for k, w in enumerate(schedule.windows):
        if w.label == "echo":
            return k
    return 0 if schedule.windows else -1


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


def carrier_frequency(schedule) -> float:
    """Carrier (Hz) of the first pulse with a non-zero frequency, else 0 (baseband)."""
    for p in sorted(schedule.pulses, key=lambda p: p.start):
        if p.frequency:
            return float(p.frequency)
    return 0.0


def reference_frequency(schedule, explicit: float = -1.0, parameter: str = "f_ref") -> float:
    """Demodulation reference (Hz) of one bound point: ``explicit`` if ≥ 0; else the
    schedule's bound parameter ``parameter`` if it has one (a per-point reference, e.g.
    the probe carrier of a swept hole-burning probe); else :func:`carrier_frequency`."""
    if explicit >= 0:
        return float(explicit)
    if parameter:
        for name, value in schedule.params:
            if name == parameter:
                f = float(value)
                if not (math.isfinite(f) and f >= 0):
                    raise InstrumentError(f"reference parameter {parameter!r} = {f!r} Hz: "
                                          "must be a finite frequency >= 0", "procedure")
                return f
    return carrier_frequency(schedule)


def demodulate(volts: np.ndarray, times: np.ndarray, f_ref: float) -> np.ndarray:
    """z = 2 V exp(−i 2π f t) (f > 0), or V (f = 0): see the module docstring."""
    if f_ref == 0:
        return np.asarray(volts, dtype=complex)
    return 2.0 * np.asarray(volts, float) * np.exp(-2j * np.pi * f_ref * times)


def phase_cycled(trace: np.ndarray, receiver) -> np.ndarray:
    rec = np.asarray(receiver, dtype=complex)
    return (rec[:, None] * trace).sum(axis=0) / rec.size


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

    def prepare(self, config: dict, resume: bool) -> None:
        if self.meta.exists():
            old = json.loads(self.meta.read_text())
            if not resume:
                raise RunDirError(f"{self.path} already holds a run; use --resume to "
                                  "continue it or choose another -o directory")
            if old.get("config") != config:
                diff = sorted(k for k in set(old.get("config", {})) | set(config)
                              if old.get("config", {}).get(k) != config.get(k))
                raise RunDirError(f"{self.path}: cannot resume, the run was started with a "
                                  f"different {', '.join(diff)}")
            return
        if self.path.exists() and any(self.path.iterdir()) and not resume:
            raise RunDirError(f"{self.path} exists and is not empty")
        self.points.mkdir(parents=True, exist_ok=True)
        tmp = self.meta.with_suffix(".tmp")
        tmp.write_text(json.dumps({"config": config, "created": _now()}, indent=1))
        os.replace(tmp, self.meta)

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
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)

    def load_point(self, i: int) -> PointData:
        with np.load(self.point_file(i), allow_pickle=False) as z:
            return PointData(int(z["index"]), json.loads(str(z["params"])), z["times"],
                             z["window_index"], z["trace"], complex(z["amplitude"]),
                             int(z["averages"]))


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------- playing
def _drain(inst) -> None:
    """Discard a late reply left in the session after a timeout (best effort)."""
    conn = getattr(getattr(inst, "adapter", None), "connection", None)
    if conn is None:
        return
    old = conn.timeout
    try:
        conn.timeout = 50
        while True:
            conn.read_raw()
    except Exception:  # noqa: BLE001 - nothing (more) to read
        pass
    finally:
        conn.timeout = old


def _paced_triggers(awg, count: int, period: float) -> None:
    """Send ``count`` bus triggers at least ``period`` (s) apart: the repetition period the
    duty-cycle limit was checked against, and no trigger lands while a burst still plays
    (a 33500B ignores those)."""
    last = None
    for _ in range(count):
        if last is not None:
            wait = last + period - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        last = time.monotonic()
        awg.trigger()


def play_program(lab, program, *, averages: int = 1, retries: int = 2,
                 arm_settle: float = 0.02):
    """Play a :class:`instruments.compiler.CompiledProgram` on ``lab`` (AWG +
    digitizer) and read one record per phase-cycle step.

    The program is uploaded with :func:`instruments.compiler.upload_program` (outputs
    off, binary segments, sequence, ``SYST:ERR?`` checked), the digitizer configured
    for the program's acquisition (trigger delay, record length, points, on-scope
    averages), the field output switched on. Each step's segment is then selected
    explicitly (``FUNC:ARB step<k>``) and triggered (``*TRG``) as many times as the
    digitizer averages, so a retried step replays exactly that step. ``averages``
    software repetitions of the whole cycle are co-added; ``arm_settle`` (s) is waited
    between arming the digitizer and triggering. A timeout is retried
    ``retries`` times (re-arm, re-trigger), then raises :class:`InstrumentError`.

    With a ``[squid]`` section in the lab file, flux jumps (FLL resets by whole Φ0) are
    removed from every record (:meth:`SquidReadout.correct_flux_jumps`) before
    co-adding. Returns ``(times, volts, hw_averages)``: record times (s from the start of the
    step), volts (n_steps, n_points) averaged over all repetitions.
    """
    from instruments.compiler import upload_program

    awg, dig = lab.awg, lab.digitizer
    acq = program.acquisition
    hw_avg = max(1, int(acq.averages))
    role = ["awg"]  # the instrument being talked to, for error messages

    def on(name: str) -> None:
        role[0] = name

    try:
        on("awg")
        upload_program(awg, program, output=False)
        on("digitizer")
        dig.configure(acq.record_length, trigger_delay=acq.trigger_delay, averages=hw_avg,
                      channel=acq.channel, points=acq.n_points)
        dig.raise_errors()
        on("awg")
        ch = awg.channels[program.field.channel]
        ch.output = True
        if program.gate is not None:
            awg.channels[program.gate.channel].output = True
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
                        _paced_triggers(awg, hw_avg, program.safety.period)
                        on("digitizer")
                        try:
                            dig.wait_complete()
                        except InstrumentError as exc:  # a polling driver's own timeout
                            if type(exc) is not InstrumentError:
                                raise
                            raise TimeoutError(str(exc)) from exc
                        t, v = dig.read_trace(acq.channel)
                        break
                    except Exception as exc:
                        if not _is_timeout(exc):
                            raise
                        log.warning("step %d: timeout (attempt %d of %d)", step.index,
                                    attempt + 1, retries + 1)
                        _drain(dig)
                        _drain(awg)
                        for inst in (dig, awg):  # what the failed attempt left queued
                            try:
                                inst.check_errors()
                            except Exception:  # noqa: BLE001 - the retry reports for real
                                pass
                        if attempt == retries:
                            raise InstrumentError(
                                f"no record for phase-cycle step {step.index} after "
                                f"{retries + 1} attempts (timeouts); aborting", "digitizer"
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
    code = getattr(exc, "error_code", None)
    if code == VI_ERROR_TMO:
        return True
    return isinstance(exc, TimeoutError)


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
        """Bind and compile every sweep point (no instrument contact)."""
        from instruments.lab import load_lab
        from sequences.bind import parse_assignments
        from sequences.parser import load
        from sequences.sweep import with_sweep_options

        seq = load(self.sequence_file)
        specs = [s.strip() for s in str(self.sweeps or "").split(";") if s.strip()]
        sets = [s.strip() for s in str(self.sets or "").split(";") if s.strip()]
        seq = with_sweep_options(seq, specs)
        fixed = parse_assignments(sets)
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
        self.store.prepare(self.config_dict(), bool(self.resume))
        for i in sorted(self.store.completed()):
            if i < len(self.schedules):
                self.data[i] = self.store.load_point(i)
        from instruments.lab import connect

        connect_fn = self.connect_fn or (lambda cfg: connect(cfg, ("awg", "digitizer")))
        self.lab = connect_fn(self.lab_config)
        self.identities = {}
        for role in ("awg", "digitizer"):
            inst = getattr(self.lab, role, None)
            if inst is not None:
                self.identities[role] = str(inst.id).strip()  # *IDN?, for the provenance

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
        sig = phase_cycled(trace, schedule.receiver)
        k = echo_window(schedule)
        sel = np.ones(widx.size, bool) if k < 0 else widx == k
        amp = complex(sig[sel].mean()) if sel.any() else complex("nan")
        return PointData(i, self.points[i], times[keep], widx, trace, amp,
                         int(self.averages) * hw_avg)

    def shutdown(self) -> None:
        lab, self.lab = self.lab, None
        if lab is None:
            return
        try:
            lab.shutdown()
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
