"""Hole-burning experiments on a model, end to end: design the burn, run the burned and
the reference (burn amplitude 0) sequences, read the hole out, analyse it against the
closed form (:func:`simulate_hole`), and a refilling series fitted for the spectral
diffusion of OU bias noise (:func:`simulate_series`). The same analysis of two measured or
simulated result files: :func:`analyse_hole`. Plots: :func:`plot_hole`,
:func:`plot_series`. The sequence is the library ``holeburn`` (any sequence with the
parameters burn, burn_amp, f_burn, wait, f_probe, f_ref, t90, amp, tau, window, ideal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from echo.hole.analysis import (
    DiffusionFit,
    HoleFigures,
    diffusion_coefficient,
    fit_spectral_diffusion,
    hole_figures,
    profile_figures,
    sampling_error,
)
from echo.hole.burn import (
    BurnDesign,
    design_burn,
    rabi_frequency,
    rabi_profile,
    resonant_grains,
)
from echo.hole.readout import (
    HoleSpectrum,
    _fwhm_of_kernel,
    expected_hole,
    one_shot_hole,
    probe_kernel,
    swept_hole,
    window_for_resolution,
)
from echo.model import Model, ModelError, check_number

__all__ = ["HoleReport", "SeriesReport", "analyse_hole", "burn_rabi_quantiles",
           "plot_hole", "plot_series", "probe_settings", "simulate_hole", "simulate_series"]

READOUTS = ("spectrum", "swept")


@dataclass
class HoleReport:
    """One hole: the burn, the spectrum, its figures, the closed form at the read-out's
    resolution (``expected``, ``expected_figures``) and the bare Rabi profile
    (``profile``, ``profile_figures``) on the same frequencies."""

    design: BurnDesign
    spectrum: HoleSpectrum
    figures: HoleFigures
    expected: np.ndarray
    expected_figures: tuple
    profile: np.ndarray
    profile_figures: tuple
    results: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        ef, pf = self.expected_figures, self.profile_figures
        return {"burn": self.design.to_dict(), "spectrum": self.spectrum.to_dict(),
                "hole": self.figures.to_dict(),
                "expected": {"depth": ef[0], "fwhm_hz": ef[1], "area_hz": ef[2],
                             "hole": self.expected.tolist()},
                "rabi_profile": {"depth": pf[0], "fwhm_hz": pf[1], "area_hz": pf[2],
                                 "power_broadening_hz": self.design.rabi_hz,
                                 "fourier_broadening_hz": 1.0 / self.design.duration},
                "resolution_hz": self.spectrum.resolution}

    def lines(self) -> list[str]:
        f, e, p = self.figures, self.expected_figures, self.profile_figures
        s = self.spectrum

        def pm(v, u, scale=1.0, fmt=".4g"):
            return (f"{v / scale:{fmt}}" + (f" ± {u / scale:.2g}" if math.isfinite(u) else ""))

        what = (f"one-shot spectrum (window {s.meta.get('window_s', 0) * 1e6:.4g} µs, "
                f"{s.meta.get('apodisation')})" if s.readout == "spectrum"
                else "swept selective probe")
        return [
            self.design.describe(),
            f"read-out: {what}, resolution {s.resolution / 1e3:.4g} kHz",
            f"hole depth {pm(f.depth, f.depth_err)}  (closed form at this resolution "
            f"{e[0]:.4g}; Rabi profile {p[0]:.4g})",
            f"hole FWHM {pm(f.fwhm, f.fwhm_err, 1e3)} kHz  (closed form {e[1] / 1e3:.4g} kHz; "
            f"Rabi profile {p[1] / 1e3:.4g} kHz: power Ω/2π = {self.design.rabi_hz / 1e3:.4g} "
            f"kHz, Fourier 1/T = {1e-3 / self.design.duration:.4g} kHz)",
            f"hole area {pm(f.area, f.area_err, 1e3)} kHz  (closed form {e[2] / 1e3:.4g} kHz)",
            f"hole centre {pm(f.centre - s.f_burn, f.centre_err, 1e3)} kHz from f_burn",
        ]


def burn_rabi_quantiles(model: Model, design: BurnDesign, n: int = 9):
    """Rabi frequencies (Hz) of the grains resonant at f_burn under the designed burn, as
    ``n`` equally weighted quantiles (their spread enters the closed form)."""
    res = resonant_grains(model.ensemble, design.f_burn)
    om = rabi_frequency(res.delta, res.bias, design.h0, design.f_burn,
                        moment=model.ensemble.moment_rad_per_tesla,
                        coupling=model.environment.drive_coupling) / (2 * math.pi)
    i = np.argsort(om)
    c = np.cumsum(res.weight[i])
    q = (np.arange(n) + 0.5) / n
    return om[i][np.minimum(np.searchsorted(c, q * c[-1]), om.size - 1)]


def probe_settings(model: Model, f: float, resolution: float, *, full_scale: float = 1e-6):
    """A selective Hahn probe for the swept read-out with excitation FWHM ``resolution``
    (Hz): t90, amp (π/2 in t90 for the grains resonant at ``f``), tau, window (all scale
    with 1/resolution; window = 2 t90, tau = 2 t90 + window/2)."""
    resolution = check_number("resolution", resolution, positive=True)
    # the kernel's FWHM scales as 1/t90 at fixed ratios: measure it once at t90 = 1 µs
    t90 = 1e-6
    k = dict(rabi_hz=1 / (4 * t90), t90=t90, tau=2 * t90 + t90, window=2 * t90)
    off = np.linspace(-3e6, 3e6, 2401)
    fw = _fwhm_of_kernel(off, probe_kernel(off, **k))
    t90 = t90 * fw / resolution
    d = design_burn(model.ensemble, f, math.pi / 2, duration=t90, full_scale=full_scale,
                    coupling=model.environment.drive_coupling)
    return {"t90": t90, "amp": d.amp, "tau": 3 * t90, "window": 2 * t90,
            "rabi_hz": d.rabi_hz}


def _with_detection(model: Model, **kw) -> Model:
    return replace(model, detection=replace(model.detection, **kw))


def _full_scale(seq, values) -> float:
    sched = seq.bind(**values)
    for ch in sched.channels:
        if ch.kind == "field" and ch.full_scale:
            return float(ch.full_scale)
    return 1e-6


def _report(model, design, spec, results, *, simulated: bool):
    rabi = burn_rabi_quantiles(model, design)
    exp = expected_hole(spec.f, f_burn=design.f_burn, duration=design.duration,
                        rabi_hz=rabi, kernel=spec.kernel)
    prof = np.mean([rabi_profile(spec.f - design.f_burn, r, design.duration) for r in rabi],
                   axis=0)
    noise = np.nanmedian(np.abs(spec.hole_imag[spec.valid])) * 1.4826 if spec.valid.any() \
        else 0.0
    u = np.full(spec.f.shape, noise)
    if simulated and spec.readout == "spectrum":
        mc = sampling_error(model.ensemble, spec, duration=design.duration,
                            rabi_hz=float(np.median(rabi)))
        u = np.sqrt(u ** 2 + np.nan_to_num(mc) ** 2)
    spec.u = u
    figs = hole_figures(spec)
    return HoleReport(design, spec, figs, exp,
                      profile_figures(spec.f, exp, design.f_burn), prof,
                      profile_figures(spec.f, prof, design.f_burn), results)


def _run(seq, values, model, *, engine, executor, sweep=None):
    from echo.simulate import simulate

    del sweep
    return simulate(seq.bind(**values), model, engine=engine, executor=executor,
                    normalise=False)


def simulate_hole(model: Model, f_burn: float, burn="pi", *, duration=None, width=None,
                  readout: str = "spectrum", resolution: float | None = None,
                  span: float | None = None, wait: float | None = None, points: int = 21,
                  apodisation: str = "hann", sample_rate: float | None = None,
                  sequence=None, values: dict | None = None, engine: str = "fast",
                  executor=None, design: BurnDesign | None = None,
                  reference=None, probe: str = "ideal", t90: float = 200e-9) -> HoleReport:
    """Burn a designed hole at ``f_burn`` (Hz) in ``model`` and read it out.

    ``readout="spectrum"``: ideal probe pulses, a window of
    :func:`window_for_resolution` (``resolution`` default: a tenth of the expected hole
    FWHM), demodulated at f_burn at ``sample_rate`` (default 4 (f_burn + span)), Fourier
    transformed over f_burn ± span/2 (default 6 hole widths). ``readout="swept"``: a
    selective probe (:func:`probe_settings`, ``resolution`` default the hole FWHM) swept
    over ``points`` values of f_probe. ``values``: more sequence parameters. ``reference``:
    a reference EchoResult to reuse (the series shares one).

    ``probe`` (spectrum read-out): "ideal" (ideal rotations, holeburn.seq) or "finite"
    (a hard π/2 of ``t90`` designed for the resonant grains and its π, with EXORCYCLE:
    holeburn_exorcycle.seq — what a lab plays; the wait must exceed half the window)."""
    from sequences import Sequence

    if readout not in READOUTS:
        raise ModelError(f"readout: must be one of {READOUTS}, got {readout!r}")
    if probe not in ("ideal", "finite"):
        raise ModelError(f"probe: must be 'ideal' or 'finite', got {probe!r}")
    if sequence is None:
        sequence = "holeburn_exorcycle" if probe == "finite" and readout == "spectrum" \
            else "holeburn"
    f_burn = check_number("f_burn", f_burn, positive=True)
    if wait is not None:
        wait = check_number("wait", wait, nonneg=True)
    seq = Sequence.load(sequence) if isinstance(sequence, str) else sequence
    values = dict(values or {})
    fs = _full_scale(seq, {**values, "f_burn": f_burn})
    if design is None:
        design = design_burn(model.ensemble, f_burn, burn, duration=duration, width=width,
                             full_scale=fs, coupling=model.environment.drive_coupling)
    span = 6 * design.fwhm_hz if span is None else check_number("span", span, positive=True)
    base = {**values, **design.sets()}

    def clear_wait(window):
        # finite probe pulses refocus the burn's own coherence from wait + τ after the
        # probe's π pulse on, the window ends τ + window/2 after it: wait > window/2
        # (ideal pulses cancel that pathway in the [x, −x] cycle)
        if wait is None:
            return max(1e-6, 0.6 * window)
        if wait <= window / 2:
            raise ModelError(f"wait: {wait:.4g} s; a finite probe needs wait > window/2 "
                             f"= {window / 2:.4g} s (the burn's coherence, refocused by the "
                             "probe's π pulse, would land in the window)")
        return wait

    if readout == "spectrum":
        resolution = design.fwhm_hz / 10 if resolution is None else resolution
        tw = window_for_resolution(resolution, apodisation)
        rate = 4 * (f_burn + span) if sample_rate is None else sample_rate
        rate = check_number("sample_rate", rate, positive=True)
        if rate <= span:
            raise ModelError(f"sample_rate: {rate:.6g} Hz cannot resolve a {span:.6g} Hz span "
                             "of the demodulated spectrum (needs > span; default "
                             "4 (f_burn + span))")
        m = _with_detection(model, reference_frequency=f_burn, sample_rate=rate,
                            demod_bandwidth=None)
        if probe == "ideal":
            t90 = float(values.get("t90", 10e-9))  # ideal pulses: t90 only enters delays
            base.update(ideal=1, t90=t90, wait=1e-6 if wait is None else wait)
        else:
            t90 = check_number("t90", t90, positive=True)
            base["wait"] = clear_wait(tw)
            p90 = design_burn(model.ensemble, f_burn, math.pi / 2, duration=t90,
                              full_scale=fs, coupling=model.environment.drive_coupling)
            base.update(ideal=0, t90=t90, amp=p90.amp)
        base.update(window=tw, tau=tw / 2 + 2 * t90 + 0.1e-6, f_probe=f_burn)
        rb = _run(seq, base, m, engine=engine, executor=executor)
        rr = reference if reference is not None else _run(
            seq, {**base, "burn_amp": 0.0}, m, engine=engine, executor=executor)
        spec = one_shot_hole(rb, rr, f_burn=f_burn, f_ref=f_burn, span=span,
                             apodisation=apodisation)
    else:
        resolution = design.fwhm_hz if resolution is None else resolution
        if isinstance(points, bool) or int(points) != points or points < 3:
            raise ModelError(f"points: the swept probe needs >= 3 frequencies, got {points!r}")
        probe = probe_settings(model, f_burn, resolution, full_scale=fs)
        base.update({k: probe[k] for k in ("t90", "amp", "tau", "window")})
        base["wait"] = clear_wait(probe["window"])
        base.pop("f_probe", None)
        grid = f_burn + np.linspace(-span / 2, span / 2, int(points))
        m = _with_detection(model, reference_frequency=f_burn)
        rb = _run_swept(seq, base, m, grid, engine=engine, executor=executor)
        rr = reference if reference is not None else _run_swept(
            seq, {**base, "burn_amp": 0.0}, m, grid, engine=engine, executor=executor)
        spec = swept_hole(rb, rr, f_burn=f_burn, probe={
            "rabi_hz": probe["rabi_hz"], "t90": probe["t90"], "tau": probe["tau"],
            "window": probe["window"]})
    return _report(model, design, spec, {"burn": rb, "reference": rr}, simulated=True)


def _run_swept(seq, values, model, grid, *, engine, executor):
    """One run per probe frequency, each demodulated at its own probe carrier (as the
    measurement procedure does with f_ref = f_probe), gathered into one result."""
    from echo.simulate import simulate_schedules

    scheds = [seq.bind(**{**values, "f_probe": float(f), "f_ref": float(f)}) for f in grid]
    parts = []
    for f, s in zip(grid, scheds, strict=True):
        m = _with_detection(model, reference_frequency=float(f))
        parts.append(simulate_schedules([s], m.ensemble, m.environment, m.detection,
                                        engine=engine, executor=executor,
                                        params=[{"f_probe": float(f)}]))
    from echo.result import build_result

    def win(p):
        w = p.dataset["window"].values
        return w[0] if w.ndim == 2 else w

    return build_result(schedules=scheds, times=[p.times for p in parts],
                        window_index=[win(p) for p in parts],
                        trace=[p.trace[0] for p in parts],
                        params=[{"f_probe": float(f)} for f in grid],
                        attrs={**parts[0].attrs, "reference": "per point: f_probe"})


@dataclass
class SeriesReport:
    """A refilling series: one :class:`HoleReport` per wait and the diffusion fit."""

    waits: list
    holes: list
    fit: DiffusionFit
    truth: dict

    def to_dict(self) -> dict:
        return {"waits_s": list(self.waits), "fit": self.fit.to_dict(), "truth": self.truth,
                "holes": [{"wait_s": w, **h.figures.to_dict()}
                          for w, h in zip(self.waits, self.holes, strict=True)]}

    def lines(self) -> list[str]:
        f = self.fit
        out = [f"wait {w * 1e6:9.4g} µs: depth {h.figures.depth:.4g}, FWHM "
               f"{h.figures.fwhm / 1e3:.4g} kHz, area {h.figures.area / 1e3:.4g} kHz"
               for w, h in zip(self.waits, self.holes, strict=True)]
        out.append(f"spectral diffusion (OU): σ = {f.sigma / 1e3:.4g} ± {f.sigma_err / 1e3:.2g} "
                   f"kHz, τc = {f.tau_c * 1e6:.4g} ± {f.tau_c_err * 1e6:.2g} µs "
                   f"(s0 = {f.s0 / 1e3:.3g} kHz, depth scale {f.scale:.3g}, c = {f.c:.3g}, "
                   f"rms residual {f.rms_residual:.2g})")
        if self.truth:
            out.append(f"model truth: σ = {self.truth['sigma'] / 1e3:.4g} kHz, τc = "
                       f"{self.truth['tau_c'] * 1e6:.4g} µs")
        return out


def ou_truth(model: Model) -> dict:
    from echo.model import OrnsteinUhlenbeck

    ou = [n for n in model.environment.noise if isinstance(n, OrnsteinUhlenbeck)]
    return {"sigma": ou[0].sigma, "tau_c": ou[0].tau_c} if len(ou) == 1 else {}


def simulate_series(model: Model, f_burn: float, waits, burn="pi", **kw) -> SeriesReport:
    """:func:`simulate_hole` (one-shot spectrum) at each wait (s), one shared reference, and
    the spectral-diffusion fit (:func:`echo.hole.analysis.fit_spectral_diffusion`)."""
    waits = [check_number("wait", w, nonneg=True) for w in waits]
    if len(waits) < 4:
        raise ModelError(f"a refilling series needs >= 4 waits, got {len(waits)}")
    kw = {**kw, "readout": "spectrum"}
    first = simulate_hole(model, f_burn, burn, wait=waits[0], **kw)
    holes = [first]
    for w in waits[1:]:
        holes.append(simulate_hole(model, f_burn, burn, wait=w, design=first.design,
                                   reference=first.results["reference"], **kw))
    return _series(model, waits, holes)


def _series(model, waits, holes, *, truth: bool = True) -> SeriesReport:
    """The diffusion fit of ``holes`` (one per wait); ``truth``: report the model's OU
    noise as the truth (simulated holes), not for measured ones."""
    d = holes[0].design
    c = diffusion_coefficient(model.ensemble, d.f_burn)
    fit = fit_spectral_diffusion(waits, [h.spectrum for h in holes], duration=d.duration,
                                 rabi_hz=d.rabi_hz, c=c)
    return SeriesReport(list(waits), holes, fit, ou_truth(model) if truth else {})


def analyse_hole(burn_result, reference_result, model: Model, *, f_burn: float,
                 duration: float, amp: float, full_scale: float = 1e-6,
                 f_ref: float | None = None, readout: str = "auto",
                 apodisation: str = "hann", span: float | None = None,
                 probe: dict | None = None) -> HoleReport:
    """The hole of two result files (simulated or measured, burned and reference) with the
    closed form of the burn (``duration`` s, ``amp`` of ``full_scale`` T at ``f_burn``)
    on ``model``'s grains. ``readout``: "spectrum" (one long echo window), "swept"
    (f_probe swept) or "auto" (swept when the burned run sweeps f_probe)."""
    h0 = amp * full_scale
    res = resonant_grains(model.ensemble, f_burn)
    om = rabi_frequency(res.delta, res.bias, h0, f_burn,
                        moment=model.ensemble.moment_rad_per_tesla,
                        coupling=model.environment.drive_coupling)
    rabi_hz = float(np.median(om)) / (2 * math.pi)
    angle = 2 * math.pi * rabi_hz * duration
    from echo.hole.burn import profile_fwhm_factor

    try:
        fw = profile_fwhm_factor(angle) * rabi_hz
    except ModelError:
        fw = float("nan")
    design = BurnDesign("angle", float(f_burn), float(duration), h0, float(amp), full_scale,
                        rabi_hz, float(np.std(om) / np.median(om)), angle, fw)
    if readout == "auto":
        readout = "swept" if "f_probe" in burn_result.swept else "spectrum"
    if readout == "spectrum":
        spec = one_shot_hole(burn_result, reference_result, f_burn=f_burn,
                             f_ref=f_burn if f_ref is None else f_ref,
                             span=span if span else (6 * fw if math.isfinite(fw) else None),
                             apodisation=apodisation)
    else:
        spec = swept_hole(burn_result, reference_result, f_burn=f_burn, probe=probe)
    simulated = burn_result.attrs.get("kind") == "simulated"
    return _report(model, design, spec, {"burn": burn_result, "reference": reference_result},
                   simulated=simulated)


def plot_hole(report: HoleReport, path) -> None:
    """Hole spectrum with the closed form, the bare Rabi profile, f_burn and the read-out's
    resolution marked (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, d = report.spectrum, report.design
    x = (s.f - s.f_burn) / 1e3
    fig, ax = plt.subplots(figsize=(7, 4.2))
    if s.u is not None:
        ax.fill_between(x, s.hole - s.u, s.hole + s.u, color="C0", alpha=0.25, lw=0)
    burn = report.results.get("burn")
    kind = "measured" if burn is not None and burn.attrs.get("kind") == "measured" \
        else "simulated"
    ax.plot(x, s.hole, "o-" if s.readout == "swept" else "-", color="C0", ms=3, lw=1.2,
            label=f"{kind} hole ({s.readout})")
    ax.plot(x, report.expected, "--", color="C3", lw=1.2,
            label="closed form at the read-out resolution")
    ax.plot(x, report.profile, ":", color="k", lw=1, label="Rabi profile of the burn 2P(δ)")
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.text(0.0, ax.get_ylim()[1] * 0.97, " f_burn", va="top", fontsize=8, color="0.4")
    if math.isfinite(s.resolution):
        y = 0.5 * float(np.nanmax(report.expected))
        ax.annotate("", xy=(-s.resolution / 2e3, y), xytext=(s.resolution / 2e3, y),
                    arrowprops={"arrowstyle": "<->", "color": "C2"})
        ax.text(s.resolution / 2e3, y, f" resolution {s.resolution / 1e3:.3g} kHz",
                color="C2", fontsize=8, va="center")
    ax.set_xlabel(f"f − f_burn (kHz), f_burn = {s.f_burn / 1e6:.6g} MHz")
    ax.set_ylabel("hole 1 − S_burn/S_ref")
    f = report.figures
    ax.set_title(f"{d.kind} burn {d.duration * 1e6:.3g} µs, Ω/2π = {d.rabi_hz / 1e3:.3g} kHz: "
                 f"depth {f.depth:.3g}, FWHM {f.fwhm / 1e3:.3g} kHz", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_series(series: SeriesReport, path) -> None:
    """The holes of a refilling series with the fitted spectral-diffusion model, and FWHM
    and depth against the wait (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, (w, h) in enumerate(zip(series.waits, series.holes, strict=True)):
        s = h.spectrum
        x = (s.f - s.f_burn) / 1e3
        a1.plot(x, s.hole, color=f"C{k % 10}", lw=1, label=f"wait {w * 1e6:.3g} µs")
        a1.plot(x, series.fit.model[k], "--", color=f"C{k % 10}", lw=0.8)
    a1.set_xlabel("f − f_burn (kHz)")
    a1.set_ylabel("hole")
    a1.legend(fontsize=7)
    a1.set_title("holes (solid) and the spectral-diffusion fit (dashed)", fontsize=9)
    w = np.array(series.waits) * 1e6
    fw = np.array([h.figures.fwhm for h in series.holes]) / 1e3
    fe = np.array([h.figures.fwhm_err for h in series.holes]) / 1e3
    dp = np.array([h.figures.depth for h in series.holes])
    a2.errorbar(w, fw, yerr=fe, fmt="o", color="C0", label="FWHM (kHz)")
    a2.set_xscale("log")
    a2.set_xlabel("wait (µs)")
    a2.set_ylabel("FWHM (kHz)", color="C0")
    b2 = a2.twinx()
    b2.plot(w, dp, "s", color="C3")
    b2.set_ylabel("depth", color="C3")
    f = series.fit
    a2.set_title(f"σ = {f.sigma / 1e3:.3g} ± {f.sigma_err / 1e3:.2g} kHz, τc = "
                 f"{f.tau_c * 1e6:.3g} ± {f.tau_c_err * 1e6:.2g} µs", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
