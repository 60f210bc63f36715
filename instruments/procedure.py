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

The modules it uses: :mod:`instruments.readout` (window samples, reference frequency,
demodulation through :mod:`echo.detect`), :mod:`instruments.runstore` (the run directory)
and :mod:`instruments.playback` (playing a compiled program).

Signal conventions (the same as :func:`echo.detect.to_signal`, so measured and simulated
results compare without conversion): the recorded FLL voltage V(t) (t absolute in the
shot, s) is demodulated as z(t) = 2 V(t) exp(−i 2π f_ref t) (f_ref = ``reference_frequency``
if ≥ 0; else, per point, the value of the bound sequence parameter named
``reference_parameter`` (default ``f_ref``) if the sequence has one — e.g. the probe
carrier of a hole-burning sweep, ``param f_ref = f_probe`` in ``holeburn.seq``; else the
schedule's carrier, :meth:`sequences.Schedule.carrier`; f_ref = 0: z = V), restricted to
the schedule's detection windows; the phase-cycled signal is (1/n) Σ_k receiver[k] · z_k
and the echo amplitude its mean over the window labelled "echo" (else window 0).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    Parameter,
    Procedure,
)

from instruments.errors import InstrumentError
from instruments.playback import TriggerPacer, play_program
from instruments.readout import reduce_records, reference_frequency
from instruments.runstore import COLUMNS, SNR_COLUMNS, PointData, RunStore, lab_snapshot
from sequences.config import from_options, setting, validate

log = logging.getLogger(__name__)


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
    target_snr: float = setting(0.0, ge=0.0, le=1e9, doc="average each point to this echo "
                                "SNR (0: off; instruments.averaging)")
    time_budget: float = setting(0.0, ge=0.0, le=1e8, unit="s",
                                 doc="averaging time of the run (0: off)")
    min_averages: int = setting(8, ge=2, le=1_000_000,
                                doc="blocks before the SNR estimate may stop a point")
    max_averages: int = setting(10_000, ge=1, le=1_000_000, doc="most blocks per point")

    def __post_init__(self):
        validate(self, "", error=OptionError)
        if -1.0 < self.reference_frequency < 0.0:
            raise OptionError("reference_frequency: must be -1 or >= 0, got "
                              f"{self.reference_frequency!r}")
        if self.target_snr > 0 or self.time_budget > 0:
            if self.averages != 1:
                raise OptionError(f"averages: {self.averages} fixed averages and a target "
                                  "(--target-snr / --time-budget) exclude each other; the "
                                  "target sets the averages (bound them with --min-averages "
                                  "and --max-averages)")
            if self.min_averages > self.max_averages:
                raise OptionError(f"min_averages: {self.min_averages} is above "
                                  f"--max-averages {self.max_averages}")


def check_options(**options) -> dict:
    """Check the measurement options once, before anything is compiled or connected
    (:class:`MeasureOptions`); returns them converted. NaN, inf, values out of range and
    non-integers where an integer is needed raise :class:`OptionError` naming the
    command-line flag and the value."""
    return dataclasses.asdict(from_options(MeasureOptions, options, error=OptionError))


# ------------------------------------------------------------------------- procedure
class EchoProcedure(Procedure):
    """Spin-echo measurement: see the module docstring.

    Parameters (pymeasure): ``sequence_file`` (.seq path or library name), ``lab_file``
    (lab TOML), ``sets`` ("name=value; ..."), ``sweeps`` ("spec; spec", as ``--sweep``),
    ``averages`` (software repetitions of the whole phase cycle per point; the
    digitizer's own averaging comes from the lab file), ``retries`` (per timed-out
    acquisition), ``reference_frequency`` (Hz, −1 = per point: the sequence parameter
    ``reference_parameter`` if the sequence has it, else :meth:`Schedule.carrier`),
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
    target_snr = FloatParameter("Target SNR", default=0.0, minimum=0.0, maximum=1e9)
    time_budget = FloatParameter("Time budget", units="s", default=0.0, minimum=0.0,
                                 maximum=1e8)
    min_averages = IntegerParameter("Min averages", minimum=2, maximum=1_000_000, default=8)
    max_averages = IntegerParameter("Max averages", minimum=1, maximum=1_000_000,
                                    default=10_000)
    run_dir = Parameter("Run directory", default="run")
    resume = BooleanParameter("Resume", default=False)

    DATA_COLUMNS = COLUMNS  # + SNR_COLUMNS on an instance averaging to a target

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
        self.budget_end: float | None = None  # time.monotonic() when the budget ends
        self.budget_spent = False
        if self.adaptive:
            self.DATA_COLUMNS = COLUMNS + SNR_COLUMNS

    @property
    def adaptive(self) -> bool:
        """Averaging to a target SNR or a time budget (:mod:`instruments.averaging`)."""
        return float(self.target_snr or 0) > 0 or float(self.time_budget or 0) > 0

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
                   if float(self.repetition_time or 0.0) > 0 else {}),
                # the budget is not here: a resumed run may be given another
                **({"averaging": {"target_snr": float(self.target_snr or 0),
                                  "min_averages": int(self.min_averages),
                                  "max_averages": int(self.max_averages)}}
                   if self.adaptive else {})}

    def prepare(self) -> None:
        """Check the options, bind and compile every sweep point (no instrument
        contact)."""
        from instruments.lab import load_lab

        check_options(averages=self.averages, retries=self.retries,
                      reference_frequency=self.reference_frequency,
                      repetition_time=self.repetition_time or 0.0,
                      target_snr=self.target_snr or 0.0, time_budget=self.time_budget or 0.0,
                      min_averages=self.min_averages, max_averages=self.max_averages)
        if self.adaptive:
            self.DATA_COLUMNS = COLUMNS + SNR_COLUMNS
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
        if float(self.time_budget or 0) > 0:
            self.budget_end = time.monotonic() + float(self.time_budget)
        todo = self.todo()
        for j, i in enumerate(todo):
            if self._should_stop():
                log.info("stop requested after %d points", len(self.data))
                break
            deadline = None
            if self.budget_end is not None:
                left = self.budget_end - time.monotonic()
                if left <= 0:
                    self.budget_spent = True
                    log.warning("time budget of %g s spent: %d of %d points measured "
                                "(--resume continues)", float(self.time_budget),
                                len(self.data), n)
                    break
                deadline = time.monotonic() + left / (len(todo) - j)
            pd = self.measure_point(i, deadline=deadline)
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
                "params": ";".join(f"{k}={v:.12g}" for k, v in pd.params.items()),
                **({"snr": pd.snr, "snr stderr": pd.snr_stderr} if self.adaptive else {})}

    def f_ref(self, schedule) -> float:
        return reference_frequency(schedule, float(self.reference_frequency),
                                   str(self.reference_parameter or ""))

    def measure_point(self, i: int, deadline: float | None = None) -> PointData:
        """Upload, play and read sweep point ``i`` (see the module docstring); averaging
        to a target, blocks are added until :class:`~instruments.averaging.SnrTracker`
        says stop (``deadline``: its share of the time budget, ``time.monotonic()``)."""
        schedule = self.schedules[i]
        program = self.programs[i]
        f = self.f_ref(schedule)
        if not self.adaptive:
            times, volts, hw_avg = play_program(self.lab, program,
                                                averages=int(self.averages),
                                                retries=int(self.retries))
            self.flux_jumps = getattr(self.lab, "flux_jumps_corrected", 0)
            t, widx, trace, amp = reduce_records(schedule, times, volts, f)
            return PointData(i, self.points[i], t, widx, trace, amp,
                             int(self.averages) * hw_avg)
        from instruments.averaging import SnrTracker

        tracker = SnrTracker(float(self.target_snr or 0), int(self.min_averages),
                             int(self.max_averages), deadline)

        def on_cycle(k, times, cycle):
            return tracker.add(reduce_records(schedule, times, cycle, f)[3])

        times, volts, hw_avg = play_program(self.lab, program,
                                            averages=int(self.max_averages),
                                            retries=int(self.retries), on_cycle=on_cycle)
        self.flux_jumps = getattr(self.lab, "flux_jumps_corrected", 0)
        t, widx, trace, amp = reduce_records(schedule, times, volts, f)
        snr, se = tracker.snr
        log.info("point %d: %d blocks, SNR %.4g ± %.2g (%s)", i, len(tracker.blocks), snr,
                 se, tracker.reason)
        return PointData(i, self.points[i], t, widx, trace, amp,
                         len(tracker.blocks) * hw_avg, snr, se)

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
                 **({"target_snr": float(self.target_snr or 0),
                     "snr": json.dumps([float(p.snr) if math.isfinite(p.snr) else None
                                        for p in pts])} if self.adaptive else {}),
                 "flux_jumps_corrected": int(self.flux_jumps)}
        return build_result(schedules=[self.schedules[i] for i in idx],
                            times=[p.times for p in pts],
                            window_index=[p.window_index for p in pts],
                            trace=[p.trace for p in pts],
                            params=[p.params for p in pts] if any(p.params for p in pts)
                            else None, attrs=attrs)
