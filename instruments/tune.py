"""Automatic calibration (``spinecho tune --lab LAB.toml``): π/2 and π pulses, echo
position and receiver phase, measured on the lab's instruments and written as a
parameter file the library sequences read (``--params``, :mod:`sequences.paramfile`).

Steps (each a normal measurement run, in ``OUT/<step>/``, through
:func:`instruments.measure.run_measurement`, so every safety limit and the shutdown rules
apply):

1. **nutation** — FID-detected: the library ``fid`` sequence with its pulse length swept
   (tp at amplitude ``amp``); the mean FID over a short window after a dead time follows
   A cos(2π f_R tp + φ) e^(−tp/T) + c with φ ≈ −π/2 (the transverse part of the
   nutation; :func:`echo.fit.nutation.fit_nutation`). At ``amp``: t90 = 1/(4 f_R),
   t180 = 1/(2 f_R), rounded to the AWG's sample period (the pulse lengths it plays
   exactly; ``t90_fit`` keeps the unrounded value). (An echo-detected nutation needs a
   calibrated probe: with a 30° probe the echo is lost among the pathways of the
   nutation pulse's own coherence.)
2. **echo** — the library ``hahn`` with the calibrated t90/t180 and a wide window
   (``window``) centred on 2τ; the echo centre is the centre of symmetry of |signal(t)|
   (|s(t0 + u)| = |s(t0 − u)| for the echo of any static frequency distribution), found
   on a grid and refined by a parabola: ``echo_shift`` = t0 − (2τ after the π/2 centre).
   The receiver phase ``rx`` is the phase of the echo summed over ±``echo_width``/2
   around t0: with ``rx`` set, the phase-cycled echo is real and positive.
3. **check** — the ``hahn`` once more with every tuned value (the narrow default window
   centred on the echo): its echo phase (should be 0) and amplitude are reported.

The tuned values are written to ``OUT/tuned.toml``: ``[params]`` t90, t180, amp, rx,
echo_shift (read by ``--params`` of ``check``, ``simulate``, ``measure``, ``bruker
pulsespel``), and ``[tune]`` the measured figures with their standard errors.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from instruments.errors import InstrumentError

__all__ = ["TuneResult", "tune", "echo_centre"]


class TuneError(InstrumentError):
    """A calibration that cannot be trusted (no nutation, no echo): the message says
    which step and why."""


@dataclass
class TuneResult:
    """Tuned values (SI: s, rad) with standard errors where a fit gives one. ``t90`` and
    ``t180`` are on the AWG's sample grid; ``t90_fit`` = 1/(4 f_R) is the fitted value."""

    amp: float
    rabi_frequency: float
    rabi_frequency_stderr: float | None
    t90_fit: float
    t90: float
    t180: float
    echo_shift: float
    receiver_phase: float
    tau: float
    check_phase: float | None = None
    check_amplitude: float | None = None
    runs: dict[str, str] = field(default_factory=dict)
    params_file: str = ""

    @property
    def t90_stderr(self) -> float | None:
        """Standard error of ``t90_fit`` = 1/(4 f_R)."""
        if self.rabi_frequency_stderr is None:
            return None
        return self.t90_fit * self.rabi_frequency_stderr / self.rabi_frequency

    def params(self) -> dict[str, str | float]:
        """The ``[params]`` values (strings with units)."""
        return {"t90": f"{self.t90 * 1e9:.4f} ns", "t180": f"{self.t180 * 1e9:.4f} ns",
                "amp": float(self.amp), "rx": f"{math.degrees(self.receiver_phase):.4f} deg",
                "echo_shift": f"{self.echo_shift * 1e9:.4f} ns"}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["t90_stderr"] = self.t90_stderr
        return d


def echo_centre(t: np.ndarray, signal: np.ndarray, *, search: float,
                smooth: float | None = None) -> float:
    """Centre of symmetry of |signal| (s): the t0 within ±``search`` of the middle of ``t``
    minimising Σ_u (|s(t0+u)| − |s(t0−u)|)² over the samples on both sides (linear
    interpolation), on a grid of one sample refined by a parabola through the minimum.

    ``smooth`` (s): first average the complex signal over this span three times (centred
    boxcars). The demodulated trace 2V·e^(−iωt) of a real signal carries an image near 2ω
    that makes |s| ripple; one reference period 1/f averages the image at exactly 2ω out,
    three passes leave < 1e-3 of it within ±10 % of 2ω, and the symmetric smoothing does
    not move the centre of a symmetric envelope."""
    t = np.asarray(t, float)
    z = np.asarray(signal, complex)
    ok = np.isfinite(t) & np.isfinite(z)
    t, z = t[ok], z[ok]
    if t.size < 8:
        raise TuneError(f"echo: {t.size} samples in the window; too few to find the echo")
    dt = float(np.median(np.diff(t)))
    if smooth:
        n = max(1, int(round(smooth / dt)))
        if n > 1:
            for _ in range(3):  # boxcar³: the image near 2ω is down by sinc³ (< 1e-3)
                if z.size < 3 * n:
                    raise TuneError(f"echo: the window is too short to average over "
                                    f"{n} samples (one reference period) three times")
                z = np.convolve(z, np.ones(n) / n, mode="valid")
                t = t[: z.size] + 0.5 * (n - 1) * dt
    a = np.abs(z)
    mid = 0.5 * (t[0] + t[-1])
    cands = mid + dt * np.arange(-int(search / dt), int(search / dt) + 1)

    def asym(t0: float) -> float:
        half = min(t0 - t[0], t[-1] - t0)
        if half <= 2 * dt:
            return math.inf
        u = np.arange(dt, half, dt)
        right = np.interp(t0 + u, t, a)
        left = np.interp(t0 - u, t, a)
        return float(np.mean((right - left) ** 2))

    costs = np.array([asym(c) for c in cands])
    k = int(np.argmin(costs))
    if 0 < k < cands.size - 1 and np.all(np.isfinite(costs[k - 1:k + 2])):
        c0, c1, c2 = costs[k - 1:k + 2]
        den = c0 - 2 * c1 + c2
        if den > 0:
            return float(cands[k] + 0.5 * dt * (c0 - c2) / den)
    return float(cands[k])


def tune(lab_file, out_dir, *, amp: float = 0.3, tp_max: float = 1e-6, n_points: int = 26,
         tau: float = 2e-6, window: float = 2e-6, echo_width: float = 0.5e-6,
         dead: float = 200e-9, fid_window: float = 1e-6,
         averages: int = 1, repetition_time: float = 1e-4, sets=(),
         progress: bool = False) -> TuneResult:
    """Run the calibration on the lab of ``lab_file`` into ``out_dir`` (see the module
    docstring); returns the :class:`TuneResult` and writes ``out_dir/tuned.toml`` and
    ``out_dir/tune.json``. ``repetition_time`` (s): the shot period of every step (make it
    several T1; the duty-cycle limit is checked against it). ``sets``: extra
    ``name=value`` for every step (e.g. the carrier ``f``). Raises :class:`TuneError` when
    a step gives no usable signal."""
    from echo.fit import from_result
    from echo.fit.nutation import fit_nutation
    from instruments.measure import run_measurement
    from sequences.paramfile import write_params

    for name, v, lo, hi in (("amp", amp, 0.0, 1.0), ("tp_max", tp_max, 0.0, 1e-3),
                            ("tau", tau, 0.0, 1.0), ("window", window, 0.0, 1.0),
                            ("echo_width", echo_width, 0.0, 1.0), ("dead", dead, -1.0, 1.0),
                            ("fid_window", fid_window, 0.0, 1.0)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and lo < v <= hi):
            raise TuneError(f"tune: {name} = {v!r} is out of range ({lo:g} < {name} <= {hi:g})")
    if not (isinstance(n_points, int) and 6 <= n_points <= 1000):
        raise TuneError(f"tune: n_points = {n_points!r}: 6..1000 nutation points")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise TuneError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        raise TuneError(f"{out}: not empty; tune writes a fresh folder (choose another -o)")
    out.mkdir(parents=True, exist_ok=True)
    common = [f"amp={amp!r}", f"tau={tau!r} s", *sets]
    kw = {"averages": averages, "repetition_time": repetition_time, "progress": progress}
    runs = {}

    # ---- 1. nutation
    tp_min = tp_max / (n_points * 2)
    runs["nutation"] = str(out / "nutation")
    proc = run_measurement("fid", lab_file, out / "nutation",
                           sets=[f"amp={amp!r}", f"dead={dead!r} s", f"window={fid_window!r} s",
                                 *sets],
                           sweeps=[f"t90=lin({tp_min!r} s, {tp_max!r} s, {n_points})"], **kw)
    data = from_result(proc.echo_result(), observable="amplitude", source="nutation")
    fit = fit_nutation(data)
    f_r, a_n = fit.params["rabi_frequency"], fit.params["amplitude"]
    # the nutation decay may stay undetermined (no visible decay): what matters is f_R
    if (f_r.stderr is None or f_r.stderr > 0.05 * f_r.value or a_n.stderr is None
            or a_n.value < 5 * a_n.stderr):
        raise TuneError(f"nutation: no clear Rabi oscillation in {runs['nutation']} "
                        f"({fit.message}); raise amp or tp_max, or average more")
    t90_fit = 0.25 / f_r.value
    # the AWG plays pulses on its sample grid: tune to lengths it can play exactly
    from instruments.lab import load_lab

    grid = 1.0 / load_lab(lab_file).require("awg", "tune").sample_rate
    t90 = max(1, round(t90_fit / grid)) * grid
    t180 = max(1, round(2 * t90_fit / grid)) * grid

    # ---- 2. echo position and receiver phase
    runs["echo"] = str(out / "echo")
    tuned = [f"t90={t90!r} s", f"t180={t180!r} s"]
    proc = run_measurement("hahn", lab_file, out / "echo",
                           sets=[*common, *tuned, f"window={window!r} s"], **kw)
    res = proc.echo_result()
    ds = res.dataset
    sig = np.asarray(ds["signal"].values[0])
    t = (ds["shot_time"].values[0] if "shot_time" in ds else ds["time"].values)
    sched = proc.schedules[0]
    p90 = next(p for p in sched.pulses if p.label == "p90")
    t_echo = p90.centre + 2 * tau
    f_ref = p90.frequency
    t0 = echo_centre(t, sig, search=window / 4, smooth=1.0 / f_ref if f_ref > 0 else None)
    sel = np.abs(t - t0) <= echo_width / 2
    total = complex(np.nansum(sig[sel]))
    noise = float(np.nanstd(sig[np.abs(t - t0) > window / 3])) if np.any(
        np.abs(t - t0) > window / 3) else 0.0
    if abs(total) / max(1, sel.sum()) < 3 * noise / math.sqrt(max(1, sel.sum())):
        raise TuneError(f"echo: no echo above the noise in {runs['echo']}")
    echo_shift = t0 - t_echo
    rx = math.atan2(total.imag, total.real)

    result = TuneResult(amp=float(amp), rabi_frequency=float(f_r.value),
                        rabi_frequency_stderr=f_r.stderr, t90_fit=t90_fit, t90=t90, t180=t180,
                        echo_shift=echo_shift, receiver_phase=rx, tau=tau, runs=runs)

    # ---- 3. check with every tuned value
    runs["check"] = str(out / "check")
    check = [f"{k}={v}" for k, v in result.params().items()]
    proc = run_measurement("hahn", lab_file, out / "check", sets=[*common, *check], **kw)
    a = complex(proc.echo_result().amplitude[0])
    result.check_phase = math.atan2(a.imag, a.real)
    result.check_amplitude = abs(a)

    header = (f"spinecho tune on {lab_file}: nutation at amp {amp:g}, f_R = "
              f"{f_r.value / 1e6:.6g} MHz ± {f_r.stderr / 1e6:.2g} MHz\n"
              "read with --params (check, simulate, measure, bruker pulsespel)")
    extra = {"tune": {"rabi_frequency_hz": result.rabi_frequency,
                      "rabi_frequency_stderr_hz": float(f_r.stderr),
                      "t90_stderr_s": float(result.t90_stderr or 0.0),
                      "check_phase_deg": math.degrees(result.check_phase),
                      "check_amplitude_v": result.check_amplitude,
                      "tau_s": tau, "lab_file": str(lab_file)}}
    result.params_file = str(write_params(out / "tuned.toml", result.params(), header=header,
                                          extra=extra))
    (out / "tune.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n",
                                   encoding="utf-8")
    return result
