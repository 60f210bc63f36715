"""χ''(ω) by lock-in (``spinecho measure-chi``): a small AC field swept in frequency, the
SQUID's in-phase (X) and quadrature (Y) response read by an SR830/SR860 and converted to
the dimensionless-in-τz susceptibility χ(ω) = χ' + iχ'' (seconds, the unit of
:mod:`echo.theory.spectrum`, so ``compare --kind chi`` fits it against Eq. 7 directly).

**Calibration** (stated once, every factor from the lab file or the sample's model file):

    χ(ω) = (X + iY) / G,   G = V_τ · γ · h_rms,
    V_τ = N g S · phi0_per_mu_b · volts_per_phi0      (V per unit ⟨τz⟩; [squid], sample)
    γ   = g μB S / ħ                                  (rad s⁻¹ T⁻¹ per grain; sample)
    h_rms = SLVL / volts_per_tesla                    (T rms; [lockin] or [awg] coil)

with N = ``ensemble.n_grains``, g, S = ``ensemble.spin`` of the model file. This is linear
response: the coil field h(t) = √2 h_rms cos ωt shifts every grain's bias by γh (the
project's coupling ε → ε + γh), ⟨τz⟩ answers −χ(ω)γh with Kubo's χ(ω) =
Σ (Δ/E)² p [1/(2E − ω − iΓ) + 1/(2E + ω + iΓ)], whose χ'' is π(Δ/E)²δ(ω − 2E) per grain —
the same χ'' as the correlation-function definition of :mod:`echo.theory.spectrum` (ground
state, p = 1). The lag of the response behind the drive makes the lock-in's Y negative for
a positive coupling (θ is the phase of the signal relative to the sine output); with the
coupling's minus sign the two cancel, so Y = +G χ'' with ``phase_deg`` = 0 when coil and
FLL polarities are positive. An inverted polarity shows as χ'' < 0 everywhere: set
``phase_deg`` = 180. Valid while the drive is linear: Rabi frequency γ·√2·h_rms ≪ 1/√(T1 T2)
(no saturation) and ≪ the splitting 4Δ0 (:attr:`ChiRun.drive_rad_s` is recorded).

**Safety**: the sine amplitude is checked against the lab file before anything connects
(peak √2·SLVL ≤ ``[limits] max_amplitude_v``, within the driver's range, else
:class:`~instruments.errors.LimitViolation`); the driver is opened with the same limit as
its validator; every stop path (normal end, error, Ctrl-C, SIGTERM/SIGHUP, interpreter exit)
runs :meth:`instruments.lab.Lab.shutdown`, which sets the sine to its minimum (SR830: 4 mV,
SR860: 0 V) and reads ``SLVL?`` back.

**Per frequency**: ``FREQ``, wait ``settle`` time constants, then ``reads`` snapshots
(``SNAP? 1,2`` / ``SNAP? X, Y``) ``read_interval`` time constants apart (3 τ: the 6 dB/oct
filter's memory e⁻³ = 5 %, nearly independent reads), averaged; σ = their standard error
(none with one read). An SR830 overload (``LIAS?``) stops the run with the instrument named.

Run directory: ``run.json`` (options, calibration, lab snapshot), ``results.csv`` (one row
per frequency, written and fsynced as it is measured: ``frequency (Hz)``, ``chi (s)`` = χ'',
``sigma (s)``, ``chi_real (s)`` = χ', ``lockin_x (V)``, ``lockin_y (V)``,
``lockin_sigma (V)``, ``reads``), which ``compare --kind chi RUN`` reads.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instruments.errors import InstrumentError, LimitViolation
from instruments.procedure import OptionError
from instruments.runstore import RunDirError
from sequences.config import from_options, setting, validate
from sequences.units import MU_B_OVER_HBAR

__all__ = ["ChiOptions", "ChiCalibration", "ChiRun", "measure_chi", "check_chi",
           "frequencies"]

CSV_COLUMNS = ["frequency (Hz)", "chi (s)", "sigma (s)", "chi_real (s)", "lockin_x (V)",
               "lockin_y (V)", "lockin_sigma (V)", "reads"]


@dataclass(frozen=True)
class ChiOptions:
    """Options of a χ''(ω) sweep (declared once; the command line names them
    ``--f-start`` ...)."""

    f_start: float = setting(1e3, gt=0, le=1e7, unit="Hz", doc="first frequency")
    f_stop: float = setting(1e5, gt=0, le=1e7, unit="Hz", doc="last frequency")
    points: int = setting(21, ge=1, le=100_000, doc="frequencies")
    spacing: str = setting("log", choices=("log", "lin"), doc="log or linear steps")
    amplitude_v: float = setting(0.01, gt=0, le=100, unit="V rms", doc="sine amplitude")
    time_constant: float = setting(0.1, gt=0, le=3e4, unit="s",
                                   doc="output filter time constant (one of the model's)")
    settle: float = setting(5.0, ge=0, le=1000, doc="time constants waited per frequency")
    reads: int = setting(4, ge=1, le=10_000, doc="snapshots averaged per frequency")
    read_interval: float = setting(3.0, ge=0, le=1000, doc="time constants between reads")
    phase_deg: float = setting(0.0, ge=-360, le=729.99, unit="deg", doc="reference phase")
    sensitivity_v: float | None = setting(None, gt=0, le=1, unit="V",
                                          doc="full scale; None: auto gain at the start")

    def __post_init__(self):
        validate(self, "", error=OptionError)


#: the ``spinecho measure-chi`` flags whose name is not the field's
FLAGS = {"amplitude_v": "--amplitude", "phase_deg": "--phase",
         "sensitivity_v": "--sensitivity"}


def check_options(**options) -> ChiOptions:
    """:class:`ChiOptions` from keyword options; a bad one raises :class:`OptionError`
    naming the command-line flag (:data:`FLAGS`) and the value."""
    return from_options(ChiOptions, options, error=OptionError, flags=FLAGS)


def frequencies(opts: ChiOptions) -> np.ndarray:
    """The swept frequencies (Hz) of ``opts``."""
    if opts.spacing == "log":
        return np.geomspace(opts.f_start, opts.f_stop, opts.points)
    return np.linspace(opts.f_start, opts.f_stop, opts.points)


@dataclass(frozen=True)
class ChiCalibration:
    """The factors of G = V_τ·γ·h_rms (module docstring), SI units."""

    volts_per_tesla: float  # V rms of the sine per T rms at the sample
    volts_per_phi0: float   # FLL output V per Φ0
    phi0_per_mu_b: float    # Φ0 per μB of sample moment
    moment_mu_b: float      # N g S: the sample's saturated moment, μB
    gamma: float            # g μB S / ħ of one grain, rad s⁻¹ T⁻¹

    @classmethod
    def from_lab(cls, lab_config, ensemble) -> ChiCalibration:
        """From the lab file ([lockin] or [awg] volts_per_tesla, [squid]) and the sample
        (an :class:`echo.model.Ensemble`: n_grains, g, spin)."""
        lock = lab_config.require("lockin", "a χ'' measurement")
        squid = lab_config.require("squid", "converting the lock-in volts to χ''")
        vpt = lock.volts_per_tesla
        if vpt is None:
            if lab_config.awg is None:
                raise InstrumentError("the lab file gives no coil calibration for the "
                                      "lock-in's sine: set [lockin] volts_per_tesla",
                                      "lockin")
            vpt = lab_config.awg.volts_per_tesla
        return cls(float(vpt), float(squid.volts_per_phi0), float(squid.phi0_per_mu_b),
                   float(ensemble.n_grains * ensemble.g * ensemble.spin),
                   float(ensemble.g * MU_B_OVER_HBAR * ensemble.spin))

    def field_rms(self, amplitude_v: float) -> float:
        """h_rms (T) of a sine of ``amplitude_v`` V rms."""
        return amplitude_v / self.volts_per_tesla

    def gain(self, amplitude_v: float) -> float:
        """G (V per s of χ) at sine amplitude ``amplitude_v`` (V rms)."""
        return (self.moment_mu_b * self.phi0_per_mu_b * self.volts_per_phi0 * self.gamma
                * self.field_rms(amplitude_v))

    def chi(self, x, y, amplitude_v: float) -> np.ndarray:
        """χ = (X + iY)/G (s) from lock-in X, Y (V)."""
        return (np.asarray(x, float) + 1j * np.asarray(y, float)) / self.gain(amplitude_v)


def check_chi(lab_config, opts: ChiOptions, freqs: np.ndarray | None = None) -> None:
    """Everything that can be refused before a byte is sent: a lock-in and a SQUID in
    the lab file, a peak-voltage limit, the sine amplitude within the limit and the
    driver's range, the frequencies and time constant within the driver's."""
    from instruments.errors import LabFileError

    cfg = lab_config.require("lockin", "a χ'' measurement")
    lab_config.require("squid", "converting the lock-in volts to χ''")
    peak = lab_config.limits.max_amplitude_v
    if peak is None:
        raise LabFileError("not set: the lock-in's sine drives the coil only below a "
                           "peak-voltage limit (add it to [limits], V)",
                           str(lab_config.path or "<lab>"), "limits.max_amplitude_v")
    cls = cfg.driver_class()
    amp = float(opts.amplitude_v)
    lo_hi = getattr(cls, "sine_voltage_values", None) or [0.0, math.inf]
    lo = max(float(getattr(cls, "MIN_SINE_V", 0.0)), float(lo_hi[0]))
    hi = min(float(lo_hi[1]), peak / math.sqrt(2.0))
    if not lo <= amp <= hi:
        raise LimitViolation("max_amplitude_v", "lockin",
                             f"sine amplitude {amp:g} V rms ({amp * math.sqrt(2):.4g} V peak) "
                             f"outside {lo:g} ... {hi:.4g} V rms (the {cls.__name__}'s range "
                             f"narrowed to the lab's {peak:g} V peak limit / sqrt 2); "
                             "nothing was sent", value=amp, limit=hi)
    f = frequencies(opts) if freqs is None else np.asarray(freqs, float)
    if f.ndim != 1 or f.size == 0 or not np.all(np.isfinite(f) & (f > 0)):
        raise OptionError("frequencies: must be a non-empty list of positive Hz")
    fmin, fmax = getattr(cls, "FREQUENCY_RANGE", (0.0, math.inf))
    if f.min() < fmin or f.max() > fmax:
        raise OptionError(f"frequencies {f.min():g} ... {f.max():g} Hz: the "
                          f"{cls.__name__} reference covers {fmin:g} ... {fmax:g} Hz")
    if opts.sensitivity_v is None and not hasattr(cls, "auto_gain"):
        raise OptionError(f"--sensitivity: the {cls.__name__} driver has no auto gain; give "
                          "the full-scale sensitivity in V")
    sens = getattr(cls, "SENSITIVITIES", None)
    if opts.sensitivity_v is not None and sens and not any(
            math.isclose(opts.sensitivity_v, v, rel_tol=1e-6) for v in sens):
        raise OptionError(f"--sensitivity {opts.sensitivity_v:g} V: the {cls.__name__} has "
                          f"{', '.join(f'{v:g}' for v in sorted(sens))} V")
    tcs = getattr(cls, "TIME_CONSTANTS", None)
    if tcs and not any(math.isclose(opts.time_constant, t, rel_tol=1e-6) for t in tcs):
        raise OptionError(f"--time-constant {opts.time_constant:g} s: the {cls.__name__} "
                          f"has {', '.join(f'{t:g}' for t in tcs)} s")


@dataclass
class ChiRun:
    """A measured χ(ω) sweep: ``frequency`` (Hz), lock-in ``x``, ``y`` and their
    standard error ``xy_sigma`` (V, NaN with one read), ``chi`` (complex, s) and
    ``chi_sigma`` (s), the ``calibration``, the ``path`` of the run directory, the
    ``safe_report`` of the shutdown and ``drive_rad_s`` = γ·√2·h_rms (the peak Rabi
    frequency scale, rad/s)."""

    frequency: np.ndarray
    x: np.ndarray
    y: np.ndarray
    xy_sigma: np.ndarray
    chi: np.ndarray
    chi_sigma: np.ndarray
    calibration: ChiCalibration
    options: ChiOptions
    path: Path | None = None
    safe_report: list[str] = field(default_factory=list)
    identity: str = ""

    @property
    def drive_rad_s(self) -> float:
        return (self.calibration.gamma * math.sqrt(2.0)
                * self.calibration.field_rms(self.options.amplitude_v))

    def fit(self, free=("fraction_a", "delta0"), **kw):
        """:func:`echo.fit.fit_chi` of χ''(f) (λ = 0 unless freed: Eq. 7)."""
        from echo.fit import fit_chi

        sig = self.chi_sigma if np.all(np.isfinite(self.chi_sigma)) else None
        return fit_chi(self.frequency, self.chi.imag, sigma=sig, free=free, **kw)


def _append_row(path: Path, row: list) -> None:
    with open(path, "a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow(row)
        fh.flush()
        os.fsync(fh.fileno())


def _prepare_dir(run_path: Path, meta: dict) -> None:
    if run_path.exists() and not run_path.is_dir():
        raise RunDirError(f"{run_path} exists and is not a directory (-o names the run folder)")
    if run_path.exists() and any(run_path.iterdir()):
        raise RunDirError(f"{run_path} exists and is not empty; choose another -o directory")
    run_path.mkdir(parents=True, exist_ok=True)
    (run_path / "run.json").write_text(json.dumps(meta, indent=1, allow_nan=False),
                                       encoding="utf-8")
    _append_row(run_path / "results.csv", CSV_COLUMNS)


def measure_chi(lab_file, model_file, run_dir, options: ChiOptions | None = None, *,
                freqs: Sequence[float] | None = None, progress: bool = False,
                on_point: Callable[[int, float, complex], None] | None = None,
                connect_fn=None, sleep: Callable[[float], None] = time.sleep) -> ChiRun:
    """Measure χ(ω) on the lock-in of ``lab_file`` for the sample of ``model_file``
    (its n_grains, g, spin enter the calibration) into ``run_dir``; see the module
    docstring. ``freqs`` (Hz) replaces the options' start/stop/points. ``on_point(i, f,
    chi)`` is called after each frequency (a live plot; an exception it raises stops the
    run through the same shutdown). Returns a :class:`ChiRun`."""
    from echo.modelfile import load_model
    from instruments.lab import connect, idn_problem, load_lab
    from instruments.measure import stop_signals
    from instruments.runstore import lab_snapshot

    opts = options or ChiOptions()
    lab_config = load_lab(lab_file)
    f = frequencies(opts) if freqs is None else np.asarray(list(freqs), float)
    check_chi(lab_config, opts, f)  # refused here: nothing connected, nothing sent
    model = load_model(model_file) if not hasattr(model_file, "ensemble") else model_file
    cal = ChiCalibration.from_lab(lab_config, model.ensemble)
    run_path = Path(run_dir)
    meta = {"kind": "chi", "options": dataclasses.asdict(opts),
            "frequencies": f.tolist(), "calibration": dataclasses.asdict(cal),
            "model_file": str(model_file) if not hasattr(model_file, "ensemble") else "",
            "snapshot": lab_snapshot(lab_config)}
    _prepare_dir(run_path, meta)
    n = f.size
    xs, ys, ss = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="freq", desc="measure-chi")
    owner = f"chi run {run_path.resolve()}"
    with stop_signals():
        lab = (connect_fn or (lambda c: connect(c, ("lockin",), owner=owner)))(lab_config)
        done = 0
        li = lab.lockin
        try:
            ident = str(li.id).strip()
        except BaseException:
            with lab:  # no reply: shut down (and verify) what can be reached, then raise
                raise
        problem = idn_problem(type(li), ident)
        if problem:  # not this driver's instrument: close without its shutdown commands
            lab.close()
            raise InstrumentError(problem, "lockin")
        try:
            with lab:
                tau = float(opts.time_constant)
                li.sine_voltage = float(opts.amplitude_v)  # the lab's validator first
                if hasattr(li, "reference_source"):
                    li.reference_source = getattr(type(li), "INTERNAL_REFERENCE", "Internal")
                li.harmonic = 1
                li.phase = float(opts.phase_deg)
                li.time_constant = tau
                li.frequency = float(f[0])
                if opts.sensitivity_v is not None:
                    li.sensitivity = float(opts.sensitivity_v)
                else:
                    sleep(opts.settle * tau)
                    li.auto_gain()
                for i, fi in enumerate(f):
                    li.frequency = float(fi)
                    sleep(opts.settle * tau)
                    reads = []
                    for k in range(opts.reads):
                        if k:
                            sleep(opts.read_interval * tau)
                        reads.append(li.snap_xy())
                    over = li.overload() if hasattr(li, "overload") else None
                    if over:
                        raise InstrumentError(f"{over} at {fi:g} Hz: raise the sensitivity "
                                              "(--sensitivity) or lower the amplitude",
                                              "lockin")
                    r = np.asarray(reads)
                    xs[i], ys[i] = r.mean(axis=0)
                    if r.shape[0] > 1:
                        ss[i] = float(np.sqrt(0.5 * (r[:, 0].var(ddof=1)
                                                     + r[:, 1].var(ddof=1)) / r.shape[0]))
                    chi = complex(cal.chi(xs[i], ys[i], opts.amplitude_v))
                    g = cal.gain(opts.amplitude_v)
                    _append_row(run_path / "results.csv",
                                [repr(float(fi)), repr(float(chi.imag)), repr(float(ss[i] / g)),
                                 repr(float(chi.real)), repr(float(xs[i])), repr(float(ys[i])),
                                 repr(float(ss[i])), len(reads)])
                    done = i + 1
                    if bar is not None:
                        bar.update(1)
                    if on_point is not None:
                        on_point(i, float(fi), chi)
        except BaseException as exc:
            notes = list(getattr(lab, "safe_report", []) or [])
            notes.append(f"{done} of {n} frequencies are in {run_path / 'results.csv'}")
            exc.spinecho_stop = "\n".join(notes)
            raise
        finally:
            if bar is not None:
                bar.close()
    chi = cal.chi(xs, ys, opts.amplitude_v)
    return ChiRun(f, xs, ys, ss, chi, ss / cal.gain(opts.amplitude_v), cal, opts, run_path,
                  list(lab.safe_report), ident)
