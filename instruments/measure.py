"""Headless runner of :class:`~instruments.procedure.EchoProcedure` (what ``spinecho
measure`` calls): pymeasure Results CSV written row by row, a tqdm progress bar,
``shutdown()`` on every path, resume, and the EchoResult file at the end.

Every stop runs the same verified shutdown (:meth:`instruments.lab.Lab.shutdown`):
Ctrl-C, SIGTERM and SIGHUP (:func:`stop_signals` turns the last two into
:class:`RunTerminated`), any error, and interpreter exit (an ``atexit`` hook in
:mod:`instruments.lab`). The exception that stopped the run carries ``spinecho_stop``:
the safe-state report, the points on disk and the exact ``--resume`` command
(:func:`stop_message`, :func:`resume_command`), which the command line prints.

Run directory ``RUN/``: ``run.json`` (configuration and lab snapshot, checked on resume;
strict JSON), ``results.csv``
(pymeasure Results: ``pymeasure.experiment.Results.load`` and ``ManagedWindow`` open
it), ``points/point_NNNNN.npz`` (per-point demodulated traces), ``result.nc`` (the
:class:`echo.result.EchoResult`, attrs kind = "measured", written once every point is
measured).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import threading
from pathlib import Path

from instruments.procedure import EchoProcedure
from instruments.runstore import RunDirError, RunStore

log = logging.getLogger(__name__)


class RunTerminated(KeyboardInterrupt):
    """The run was stopped by a signal (SIGTERM from a batch scheduler or ``kill``,
    SIGHUP from a closed terminal or SSH session). A KeyboardInterrupt, so every
    ``finally`` and Ctrl-C path runs the same shutdown; ``signum`` says which."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(signum).name}")


#: the signals that stop a run through the same shutdown as Ctrl-C
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def stop_signals():
    """Within the block, SIGTERM and SIGHUP raise :class:`RunTerminated` in the main
    thread (as SIGINT raises KeyboardInterrupt), so the measurement's shutdown runs.
    Outside the main thread (pymeasure's Worker) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RunTerminated(signum)

    old = {}
    try:
        for sig in STOP_SIGNALS:
            old[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def resume_command(sequence, lab_file, run_dir, *, sets=(), sweeps=(), averages=1,
                   retries=2, reference_frequency=-1.0, repetition_time=0.0,
                   target_snr=0.0, time_budget=0.0, min_averages=8,
                   max_averages=10_000) -> str:
    """The ``spinecho measure ... --resume`` command line that continues a run."""
    argv = ["spinecho", "measure", str(sequence), "--lab", str(lab_file)]
    for a in sets:
        argv += ["--set", a]
    for a in sweeps:
        argv += ["--sweep", a]
    if int(averages) != 1:
        argv += ["--averages", str(int(averages))]
    if int(retries) != 2:
        argv += ["--retries", str(int(retries))]
    if float(reference_frequency) >= 0:
        argv += ["--reference-frequency", repr(float(reference_frequency))]
    if float(repetition_time) > 0:
        argv += ["--repetition-time", repr(float(repetition_time))]
    if float(target_snr) > 0:
        argv += ["--target-snr", repr(float(target_snr))]
    if float(time_budget) > 0:
        argv += ["--time-budget", repr(float(time_budget))]
    if float(target_snr) > 0 or float(time_budget) > 0:
        if int(min_averages) != 8:
            argv += ["--min-averages", str(int(min_averages))]
        if int(max_averages) != 10_000:
            argv += ["--max-averages", str(int(max_averages))]
    argv += ["--resume", "-o", str(run_dir)]
    return shlex.join(argv)


class _RowWriter:
    """Appends pymeasure-formatted rows to the Results CSV, flushed and fsynced."""

    def __init__(self, results, path: Path):
        self.results = results
        self.path = path

    def write(self, row: dict) -> None:
        line = self.results.format(row) + self.results.LINE_BREAK
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def _remove_empty_run(run_path: Path, existed: bool) -> None:
    """Undo what a failed startup created in ``run_path``: its ``run.json`` and empty
    ``points/`` (never a measured point), and the directory itself if it is new."""
    points = run_path / "points"
    if not run_path.is_dir() or (points.is_dir() and any(points.iterdir())):
        return
    (run_path / "run.json").unlink(missing_ok=True)
    if points.is_dir():
        points.rmdir()
    if not existed and run_path.is_dir() and not any(run_path.iterdir()):
        run_path.rmdir()


def _unreachable(proc: EchoProcedure, exc: Exception):
    """An :class:`InstrumentError` naming the role and resource that did not answer its
    ``*IDN?`` at startup (a closed port, a timeout), or None for any other error."""
    from pyvisa.errors import VisaIOError

    from instruments.errors import InstrumentError

    if not isinstance(exc, OSError | VisaIOError) or getattr(proc, "lab", None) is None:
        return None
    for role in ("awg", "digitizer"):
        if role not in proc.identities and getattr(proc.lab, role, None) is not None:
            cfg = proc.lab_config.require(role)
            return InstrumentError(f"no reply from {cfg.resource} ({type(exc).__name__}: "
                                   f"{exc}); is the instrument on and the lab file's "
                                   "resource right? (spinecho lab check LAB.toml)", role)
    return None


def run_measurement(sequence: str, lab_file: str | Path, run_dir: str | Path, *,
                    sets=(), sweeps=(), averages: int = 1, retries: int = 2,
                    reference_frequency: float = -1.0, repetition_time: float = 0.0,
                    target_snr: float = 0.0, time_budget: float = 0.0,
                    min_averages: int = 8, max_averages: int = 10_000,
                    resume: bool = False,
                    progress: bool = True, connect_fn=None, on_point=None) -> EchoProcedure:
    """Measure ``sequence`` (a .seq path or library name) on the lab of ``lab_file``
    into ``run_dir``; returns the finished procedure (``procedure.echo_result()``).

    ``sets``: ["name=value", ...]; ``sweeps``: ["tau=lin(1us, 5us, 5)", ...] (the
    ``--sweep`` syntax). ``target_snr`` / ``time_budget`` (s): average each point until
    its echo SNR reaches the target or its share of the budget is spent
    (:mod:`instruments.averaging`; ``min_averages`` ≤ blocks ≤ ``max_averages``; the SNR
    estimate is saved per point). ``on_point(point_data)`` is called after each point is
    on disk (a live plot). A lab file without ``[limits] max_amplitude_v`` is refused
    before anything else (LabFileError). Raises what the procedure raises (a
    :class:`~instruments.errors.InstrumentError` names the instrument) after
    switching every output off.
    """
    from instruments.procedure import check_options

    opts = check_options(averages=averages, retries=retries,
                         reference_frequency=reference_frequency,
                         repetition_time=repetition_time, target_snr=target_snr,
                         time_budget=time_budget, min_averages=min_averages,
                         max_averages=max_averages)
    averages, retries = opts["averages"], opts["retries"]
    reference_frequency, repetition_time = (opts["reference_frequency"],
                                            opts["repetition_time"])
    proc = EchoProcedure(sequence_file=str(sequence), lab_file=str(lab_file),
                         sets="; ".join(sets), sweeps="; ".join(sweeps),
                         averages=int(averages), retries=int(retries),
                         reference_frequency=float(reference_frequency),
                         repetition_time=float(repetition_time),
                         target_snr=float(opts["target_snr"]),
                         time_budget=float(opts["time_budget"]),
                         min_averages=int(opts["min_averages"]),
                         max_averages=int(opts["max_averages"]),
                         run_dir=str(run_dir), resume=bool(resume))
    proc.connect_fn = connect_fn
    proc.on_point = on_point
    proc.resume_hint = resume_command(sequence, lab_file, run_dir, sets=sets, sweeps=sweeps,
                                      averages=averages, retries=retries,
                                      reference_frequency=reference_frequency,
                                      repetition_time=repetition_time,
                                      target_snr=opts["target_snr"],
                                      time_budget=opts["time_budget"],
                                      min_averages=opts["min_averages"],
                                      max_averages=opts["max_averages"])
    from instruments.errors import LabFileError
    from instruments.lab import load_lab

    if load_lab(lab_file).limits.max_amplitude_v is None:  # as `spinecho lab check` demands
        raise LabFileError("not set: a measurement drives hardware only below a peak-voltage "
                           "limit (add it to [limits], in V at the AWG output)", str(lab_file),
                           "limits.max_amplitude_v")
    run_path = Path(run_dir)
    if run_path.exists() and not run_path.is_dir():
        raise RunDirError(f"{run_path} exists and is not a directory (-o names the run folder)")
    existed = run_path.exists()
    fresh = not (run_path / "run.json").exists()
    with stop_signals():
        _run(proc, run_path, existed, fresh, progress)
    return proc


def stop_message(proc: EchoProcedure, run_path: Path) -> str:
    """What the user reads after a run stopped early: the points safely on disk and the
    exact command that continues the run."""
    total = len(proc.schedules)
    store = proc.store
    done = len(store.completed()) if store is not None else 0
    if not total:
        return f"nothing measured; {run_path} holds no point"
    hint = getattr(proc, "resume_hint", "")
    return (f"{done} of {total} points are on disk in {run_path}; continue with:\n  {hint}"
            if store is not None and store.meta.exists() else
            f"no point measured (nothing written to {run_path})")


def _run(proc: EchoProcedure, run_path: Path, existed: bool, fresh: bool,
         progress: bool) -> None:
    from pymeasure.experiment import Results

    bar = None
    try:
        try:
            proc.startup()
        except Exception as exc:
            if fresh:  # a run that never started must not block the retry with "--resume"
                _remove_empty_run(run_path, existed)
            err = _unreachable(proc, exc)
            if err is None:
                raise
            raise err from exc
        store: RunStore = proc.store
        results = Results(proc, str(store.csv))
        writer = _RowWriter(results, store.csv)
        total = len(proc.schedules)
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=len(proc.data), unit="point", desc="measure")

        def emit(topic, record):
            if topic == "results":
                writer.write(record)
                if bar is not None:
                    bar.update(1)
                hook = getattr(proc, "on_point", None)
                if hook is not None:
                    hook(proc.data[int(record["point"])])

        proc.emit = emit
        proc.should_stop = lambda: False
        proc.execute()
    except BaseException as exc:
        if bar is not None:
            bar.close()
        notes = []
        try:
            with _no_stop_signals():  # a second SIGTERM must not cut the shutdown short
                proc.shutdown()  # outputs off; never masks the error that stopped the run
            notes.extend(proc.safe_report)
        except Exception as err:  # noqa: BLE001 - reported with the original error
            log.error("shutdown after a failed run: %s", err)
            notes.append(str(err))
        if proc.store is not None:
            notes.append(stop_message(proc, run_path))
        #: what the command line prints after the error: safe state, points, --resume
        exc.spinecho_stop = "\n".join(notes)
        raise
    if bar is not None:
        bar.close()
    proc.shutdown()


@contextlib.contextmanager
def _no_stop_signals():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    try:
        for sig in (signal.SIGINT, *STOP_SIGNALS):
            old[sig] = signal.signal(sig, signal.SIG_IGN)
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
