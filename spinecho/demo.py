"""``spinecho demo``: the whole story in one command, no hardware, no network.

1. Start the virtual lab on 127.0.0.1 (ephemeral ports): an emulated Keysight 33522B AWG,
   DSOX digitizer and SR830 lock-in, backed by the ``fast`` echo engine simulating a
   ferritin-like sample (the *truth*, :func:`truth_tables`).
2. Measure, through the real pymeasure drivers, the Schedule compiler and the
   measurement procedure (:func:`spinecho.measure`):
   a Hahn-echo τ sweep and an echo-detected hole-burning spectrum (``holeburn``, the probe
   carrier swept across the burn frequency).
3. Fit the τ sweep with the engine in the loop (:func:`echo.fit.model_fit.fit_model`):
   bias-noise σ and τc, the amplitude N·g·S and the receiver phase, started away from
   the truth. The fitted model then predicts the hole spectrum (no further fit).
4. Write the report folder: ``timing_hahn.png``, ``timing_holeburn.png`` (timing
   diagrams), ``fit_hahn.png`` (measured vs simulated echoes with residuals),
   ``hole_spectrum.png``, ``recovered_vs_true.png``, ``parameters.txt``,
   ``budget.txt`` (the paper's decoherence budget of the ferritin preset),
   ``summary.json``, ``README.md``; the run directories under ``runs/``.

The hole-burning spectrum (see ``sequences/library/holeburn.seq``): the sample's line of
splittings 2E/2π is inhomogeneous (Δ0 spread: 4Δ0 = 4.4 ± 0.4 MHz; bias spread 0.4 MHz);
a π burn at 4.4 MHz designed from the sample (:func:`echo.hole.design_burn`: the Rabi
frequency of the resonant grains, hole FWHM 200 kHz) turns them over, and a *selective*
Hahn probe (π/2 in 2 µs: excitation band ≈ 0.25 MHz, narrower than the ≈ 1 MHz line)
swept across the line reads the line shape with a hole at the burn frequency. It is
measured twice on the virtual lab — with the burn and with the burn amplitude set to 0
(the reference) — and the hole is their difference (its depth and FWHM are reported
beside the burn's closed form seen through the probe's band). The measurement procedure
demodulates every point at its own probe carrier
(``f_ref = f_probe`` in holeburn.seq; see :func:`instruments.readout.reference_frequency`);
the simulation does the same (:func:`echo.simulate.point_detection`).

The moment per grain (the paper's proposal) is the fitted N·g·S over the number of grains,
held against a *simulated* susceptibility measurement (Curie law at 2 K with a 4 %
uncertainty on χ), clearly labelled as such.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = ["DemoSizes", "QUICK", "FULL", "DemoResult", "run_demo", "truth_tables"]

#: The sample (truth): Δ0 = 1.1 ± 0.1 MHz ("a Δ0 ~ 1 MHz is claimed" for ferritin), S = 200
#: as in the ferritin preset, a 0.4 MHz bias spread and spin-diffusion-like OU bias noise.
N_GRAINS = 1.0e9
SPIN = 200.0
G = 2.0
DELTA0 = 1.1e6      # Hz, mean tunnel splitting Δ0
DELTA0_STD = 0.1e6  # Hz, its spread: the line 4Δ0 = 4.4 ± 0.4 MHz (inhomogeneous)
BIAS_STD = 0.4e6    # Hz, bias spread (small: most grains near the ε = 0 "clock" point)
SIGMA = 1.5e5       # Hz, OU bias-noise std
TAU_C = 2.0e-6      # s, OU correlation time (the paper's T2)
CARRIER = 4.4e6     # Hz, the Hahn carrier: the mean zero-bias splitting 4Δ0
AMP = 0.445         # hahn π/2 amplitude (fraction of 1 µT) for S = 200 (hahn.seq: 0.89 at S = 100)
# hole burning (holeburn.seq): a designed π burn, a wait, a selective Hahn probe
F_BURN = 4.4e6      # Hz
HOLE_WIDTH = 200e3  # Hz, FWHM of the designed π burn's Rabi profile (~ the probe's band)
WAIT = 5e-6         # s, burn trailing edge → probe leading edge
PROBE_T90 = 2e-6    # s, probe π/2 length (π: twice as long, same amplitude)
PROBE_AMP = AMP * 100e-9 / PROBE_T90  # π/2 in PROBE_T90: Rabi frequency 1/(4 t90) = 125 kHz
PROBE_TAU = 3.5e-6  # s, probe π/2 centre → π centre
PROBE_RANGE = (3.6e6, 5.2e6)  # Hz, probe carriers swept
VOLTS_PER_TESLA = 1.0e6  # coil: 1 µT ↔ 1 V at the AWG output
NOISE_RMS = 0.05    # V per digitizer sample per shot
CARRIER_PHASE = 0.25  # rad per engine substep inside the fit (see run_demo)
START = {"sigma": 0.6 * SIGMA, "tau_c": 1.6 * TAU_C}  # the fit starts here, off the truth


@dataclass(frozen=True)
class DemoSizes:
    """Sizes of one demo run (points per sweep, grains simulated by the lab and in the
    fit, digitizer averages)."""

    n_tau: int = 10
    n_probe: int = 25
    lab_samples: int = 2000
    fit_samples: int = 400
    averages: int = 4


FULL = DemoSizes()
QUICK = DemoSizes(n_tau=6, n_probe=5, lab_samples=400, fit_samples=200, averages=1)


@dataclass
class DemoResult:
    report: Path
    fit: object
    truth: dict
    recovered: dict
    files: dict = field(default_factory=dict)
    seconds: float = 0.0
    moment: object = None


def truth_tables(n_samples: int, seed: int = 1) -> dict:
    """The sample model as model-file tables (frequencies in Hz, times in s)."""
    return {
        "ensemble": {"delta0": {"kind": "gaussian", "mean": DELTA0, "std": DELTA0_STD},
                     "bias": {"kind": "gaussian", "mean": 0.0, "std": BIAS_STD},
                     "spin": SPIN, "g": G, "n_grains": N_GRAINS, "n_samples": int(n_samples),
                     "seed": int(seed)},
        "environment": {"noise": [{"kind": "ou", "sigma": SIGMA, "tau_c": TAU_C}]},
        "detection": {"kind": "squid", "flux_per_moment": 5.0e-12, "volts_per_flux": 1.0,
                      "noise_rms": NOISE_RMS, "sample_rate": 1.0e9},
    }


_T0 = [0.0]


def _say(progress, msg):
    if progress:
        print(f"{msg}  [{time.perf_counter() - _T0[0]:.0f} s]", flush=True)


def run_demo(out_dir, *, sizes: DemoSizes = FULL, progress: bool = True,
             seed: int = 0) -> DemoResult:
    """Run the demo into ``out_dir`` (created; must be empty or absent)."""
    import matplotlib

    matplotlib.use("Agg")
    from echo.fit.model_fit import Dataset, engine_simulator, fit_model, set_path
    from echo.fit.moment import (
        compare_moments,
        curie_susceptibility,
        moment_from_fit,
        moment_from_susceptibility,
    )
    from echo.fit.report import plot_fit, write_report
    from echo.modelfile import model_from_dict, write_model
    from instruments.virtual.lab import VirtualLab
    from sequences.model import Sequence
    from spinecho.api import bind_points, measure

    t_start = time.perf_counter()
    _T0[0] = t_start
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        from spinecho.cli import UserError

        raise UserError(f"{out} exists and is not empty; choose another -o folder")
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs"
    tables = truth_tables(sizes.lab_samples, seed=1 + seed)
    truth_model = model_from_dict(tables)
    from echo.hole import design_burn

    burn = design_burn(truth_model.ensemble, F_BURN, "pi", width=HOLE_WIDTH)

    # ------------------------------------------------------------------ 1. virtual lab
    lab = VirtualLab.for_sample(tables, seed=seed, awg={"volts_per_tesla": VOLTS_PER_TESLA},
                                digitizer={"noise_rms": NOISE_RMS, "digitize_timeout": 10.0},
                                name="<spinecho demo>", ephemeral=True, lifetime=1800.0)
    _say(progress, "[1/5] starting the virtual lab on 127.0.0.1 (ephemeral ports) ...")
    lab.start()
    try:
        res = lab.resources
        _say(progress, "      " + ", ".join(f"{k} {v}" for k, v in res.items()))
        labfile = out / "lab.toml"
        # the hole-burning pulse is long (a virtual coil does not heat): duty cycle 0.95;
        # 100 MSa/s: 19 samples per cycle at 5.2 MHz, hold images at 100 ± 5 MHz
        lab.client_lab_file(labfile, roles=("awg", "digitizer"),
                            name="spinecho demo: virtual lab on loopback",
                            max_duty_cycle=0.95, awg__sample_rate=100e6,
                            averages=int(sizes.averages))
        # -------------------------------------------------------------- 2. measure
        _say(progress, f"[2/5] measuring a Hahn-echo τ sweep ({sizes.n_tau} points) ...")
        hahn_sets = [f"amp={AMP}", f"f={CARRIER / 1e6:g} MHz"]
        hahn_sweep = [f"tau=log(0.6us, 9us, {sizes.n_tau})"]  # dense where the decay bends
        hahn = measure("hahn", labfile, runs / "hahn", values=hahn_sets, sweep=hahn_sweep,
                       progress=progress)
        hb_sweep = [f"f_probe=lin({PROBE_RANGE[0] / 1e6:g}MHz, {PROBE_RANGE[1] / 1e6:g}MHz, "
                    f"{sizes.n_probe})"]
        spectra, hole_schedules = {}, {}
        for name, burn_amp in (("holeburn", burn.amp), ("holeburn_reference", 0.0)):
            what = "with the burn" if burn_amp else "without the burn (the reference)"
            _say(progress, f"      measuring an echo-detected hole-burning spectrum {what} "
                           f"({sizes.n_probe} probe frequencies) ...")
            sets = holeburn_sets(burn_amp, burn.duration)
            spectra[name] = measure("holeburn", labfile, runs / name, values=sets,
                                    sweep=hb_sweep, progress=progress)
            hole_schedules[name] = bind_points("holeburn", sets, hb_sweep)[1]
    finally:
        lab.stop()
    hole, hole_ref = spectra["holeburn"], spectra["holeburn_reference"]

    # ---------------------------------------------------------------------- 3. fit
    _say(progress, "[3/5] fitting σ, τc, amplitude (N·g·S) and phase with the fast engine "
                   "in the loop ...")
    from echo.fit.loaders import from_result

    data = from_result(hahn, observable="amplitude", source=str(runs / "hahn"))
    fit_model_start = replace(
        truth_model,
        ensemble=replace(truth_model.ensemble, n_samples=sizes.fit_samples, seed=101 + seed),
        detection=replace(truth_model.detection, sample_rate=250e6,
                          reference_frequency=CARRIER, noise_rms=0.0))
    for k, v in START.items():
        fit_model_start = set_path(fit_model_start, k, v)
    ds = Dataset(data, bind_points("hahn", hahn_sets, hahn_sweep)[1],
                 label="Hahn τ sweep (virtual lab)")
    truth = {"sigma": SIGMA, "tau_c": TAU_C, "amplitude": N_GRAINS * G * SPIN}
    # the ensemble is not fitted, so the largest grain energy stays put: a fixed step at
    # 0.9 of the carrier limit, with 0.25 rad of carrier per substep (Magnus-4 error
    # ~ 0.25⁴ ≈ 4e-3, below the Monte-Carlo spread of the ensemble)
    sim = engine_simulator("fast", margin=0.9, carrier_phase=CARRIER_PHASE)
    n_sims = [0]

    def fit_progress(n, cost):
        if progress and n != n_sims[0]:
            n_sims[0] = n
            print(f"\r      simulations: {n:3d}, cost {cost:.4g}", end="", flush=True)

    fit = fit_model(ds, fit_model_start, ["sigma", "tau_c", "amplitude", "phase"],
                    simulator=sim, truth=truth, progress=fit_progress, name="Hahn τ sweep fit")
    if progress:
        print()
    fitted = fit.meta["fitted_model"]

    # ---------------------------------------------------------- 4. hole spectrum
    _say(progress, "[4/5] the hole spectrum with the fitted model (σ, τc from the Hahn fit; "
                   "read-out amplitude and phase fitted to both spectra) ...")
    f_probe = np.asarray(hole.dataset["f_probe"].values, float)
    from echo.fit.loaders import from_arrays
    from echo.hole.analysis import spectrum_hole

    # measured and simulated alike: demodulated at each point's probe carrier (f_ref).
    # The simulated ensemble: as many grains as the lab's (a selective probe sees a
    # fraction of the line only), a different Monte-Carlo draw.
    hole_model = replace(fitted, ensemble=replace(fitted.ensemble,
                                                  n_samples=sizes.lab_samples,
                                                  seed=202 + seed),
                         detection=replace(fitted.detection, reference_frequency=F_BURN))
    hole_sets = []
    for name, res_b in (("holeburn", hole), ("holeburn_reference", hole_ref)):
        hole_sets.append(Dataset(
            from_arrays(f_probe, np.asarray(res_b.amplitude, complex), x_name="f_probe",
                        x_unit="Hz", y_unit="V", source=str(runs / name)),
            hole_schedules[name],
            label=("hole-burning spectrum" if name == "holeburn" else
                   "reference spectrum (no burn)") + " (virtual lab)"))
    hole_fit = fit_model(hole_sets, hole_model, ["amplitude", "phase"], simulator=sim,
                         truth={"amplitude": truth["amplitude"]},
                         name="hole spectrum fit (σ, τc from the Hahn fit)")
    measured_spec = np.asarray(hole.amplitude, complex)
    measured_ref = np.asarray(hole_ref.amplitude, complex)
    simulated_spec = hole_fit.curves[0].model
    reference_spec = hole_fit.curves[1].model
    hole_stats = {"measured": spectrum_hole(f_probe, measured_spec, measured_ref, F_BURN),
                  "simulated": spectrum_hole(f_probe, simulated_spec, reference_spec, F_BURN),
                  "designed": designed_hole(hole, hole_ref, truth_model, burn)}

    # ---------------------------------------------------------------- 5. report
    _say(progress, "[5/5] writing the report ...")
    files = write_report({"Hahn τ sweep fit": fit, "hole spectrum fit": hole_fit}, out,
                         extra={})
    files["fit_hahn"] = plot_fit(fit, out / "fit_hahn.png",
                                 title="Hahn echo: measured (virtual lab) vs simulated")
    from echo.fit.report import slug

    (out / f"fit_{slug('Hahn τ sweep fit')}.png").unlink(missing_ok=True)
    files.pop("plot:Hahn τ sweep fit", None)
    from sequences.plot import plot_schedule

    seq_h = Sequence.load("hahn")
    plot_schedule(seq_h.bind(amp=AMP, tau=3e-6), out / "timing_hahn.png")
    files["timing_hahn"] = out / "timing_hahn.png"
    plot_schedule(Sequence.load("holeburn").bind(
        **{k: v for k, v in (a.split("=", 1) for a in holeburn_sets(burn.amp,
                                                                    burn.duration))},
        f_probe=F_BURN), out / "timing_holeburn.png")
    files["timing_holeburn"] = out / "timing_holeburn.png"
    files["hole_spectrum"] = _plot_hole(out / "hole_spectrum.png", f_probe, measured_spec,
                                        measured_ref, simulated_spec, reference_spec,
                                        hole_stats)
    files["recovered"] = _plot_recovered(out / "recovered_vs_true.png", fit, truth)
    files["model"] = write_model(truth_model, out / "model_truth.toml",
                                 header="the demo sample (the truth of the virtual lab), "
                                        "echo.modelfile format")
    budget_text = _budget_text()
    (out / "budget.txt").write_text(budget_text + "\n", encoding="utf-8")
    files["budget"] = out / "budget.txt"
    # the paper's proposal: moment per grain, against a simulated susceptibility
    moment = None
    try:
        mu_echo = moment_from_fit(fit, N_GRAINS, n_grains_stderr=0.02 * N_GRAINS)
        t_k = 2.0
        chi = curie_susceptibility(G * SPIN, temperature=t_k, n_grains=N_GRAINS)  # truth
        chi_meas = chi * (1 + 0.04 * np.random.default_rng(seed + 7).normal())
        mu_chi = moment_from_susceptibility(chi_meas, 0.04 * chi_meas, temperature=t_k,
                                            n_grains=N_GRAINS,
                                            n_grains_stderr=0.02 * N_GRAINS)
        moment = compare_moments(mu_echo, mu_chi)
    except Exception as exc:  # noqa: BLE001 - the demo reports, it does not stop here
        moment_error = str(exc)
    else:
        moment_error = None
    recovered = {k: {"value": fit.value(k), "stderr": fit.stderr(k), "truth": v,
                     "ratio": fit.value(k) / v} for k, v in truth.items()}
    seconds = time.perf_counter() - t_start
    summary = json.loads(files["json"].read_text(encoding="utf-8"))
    summary.update({
        "demo": {"sizes": sizes.__dict__, "seconds": seconds, "truth_model": tables,
                 "recovered": recovered,
                 "moment": moment.to_dict() if moment else {"error": moment_error},
                 "hole_spectrum": {"f_probe_hz": f_probe.tolist(),
                                   "f_burn_hz": F_BURN,
                                   "measured_abs_v": np.abs(measured_spec).tolist(),
                                   "measured_no_burn_abs_v": np.abs(measured_ref).tolist(),
                                   "simulated_abs_v": np.abs(simulated_spec).tolist(),
                                   "simulated_no_burn_abs_v":
                                       np.abs(reference_spec).tolist(),
                                   "hole": hole_stats},
                 "runs": {"hahn": str(runs / "hahn"), "holeburn": str(runs / "holeburn"),
                          "holeburn_reference": str(runs / "holeburn_reference")},
                 "lab_simulations": {
                     "calls": getattr(getattr(lab, "sample", None), "sim_calls", None),
                     "seconds": getattr(getattr(lab, "sample", None), "sim_seconds", None)}}})
    files["json"].write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    files["readme"] = _write_readme(out, fit, truth, moment, seconds, sizes, hole_stats)
    return DemoResult(out, fit, truth, recovered, files, seconds, moment)


def holeburn_sets(burn_amp: float, burn: float) -> list[str]:
    """``--set`` assignments of the demo's hole-burning measurement (holeburn.seq): burn
    amplitude (fraction of 1 µT) and length (s)."""
    return [f"f_burn={F_BURN / 1e6:g} MHz", f"burn_amp={burn_amp!r}",
            f"burn={burn!r} s", f"wait={WAIT * 1e6:g} us",
            f"t90={PROBE_T90 * 1e6:g} us", f"amp={PROBE_AMP:.6g}",
            f"tau={PROBE_TAU * 1e6:g} us"]


def designed_hole(hole, hole_ref, model, burn) -> dict:
    """The measured hole 1 − S_b/S_r of the swept probe (echo.hole) beside the closed form
    of the designed burn seen through the probe's kernel: depth and FWHM ± 1σ."""
    from echo.hole.experiment import analyse_hole

    probe = {"rabi_hz": 1 / (4 * PROBE_T90), "t90": PROBE_T90, "tau": PROBE_TAU,
             "window": 1e-6}
    rep = analyse_hole(hole, hole_ref, model, f_burn=F_BURN, duration=burn.duration,
                       amp=burn.amp, readout="swept", probe=probe)
    f, e = rep.figures, rep.expected_figures
    return {"burn": burn.describe(), "depth": f.depth, "depth_err": f.depth_err,
            "fwhm_hz": f.fwhm, "fwhm_err_hz": f.fwhm_err, "expected_depth": e[0],
            "expected_fwhm_hz": e[1], "resolution_hz": rep.spectrum.resolution}


def _plot_hole(path, f, measured, measured_ref, simulated, reference, stats=None):
    import matplotlib.pyplot as plt

    fig, (ax, axh, axr) = plt.subplots(3, 1, figsize=(6.4, 7.2), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 2, 1.1]})
    x = f / 1e6
    ax.plot(x, np.abs(measured_ref), "s", mfc="none", color="grey", ms=4,
            label="measured without the burn (reference)")
    ax.plot(x, np.abs(measured), "o", ms=4, color="C0", label="measured with the burn")
    ax.plot(x, np.abs(reference), "--", color="grey", label="simulated without the burn")
    ax.plot(x, np.abs(simulated), "-", color="C1", label="simulated with the burn")
    for a in (ax, axh, axr):
        a.axvline(F_BURN / 1e6, color="grey", ls=":", lw=0.8)
    ax.set_ylabel("|echo amplitude| (V)")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("echo-detected hole-burning spectrum (virtual lab vs fitted model); "
                 f"burn {F_BURN / 1e6:g} MHz (dotted)", fontsize=8)
    axh.plot(x, np.abs(measured_ref) - np.abs(measured), "o", ms=4, color="C0",
             label="measured")
    axh.plot(x, np.abs(reference) - np.abs(simulated), "-", color="C1", label="simulated")
    axh.axhline(0, color="k", lw=0.6)
    axh.set_ylabel("hole: |ref| − |burn| (V)")
    if stats:
        m, sm = stats["measured"], stats["simulated"]
        axh.set_title(f"hole depth at the burn frequency: measured {m['depth']:.0%}, "
                      f"simulated {sm['depth']:.0%}; FWHM {m['fwhm_hz'] / 1e3:.0f} / "
                      f"{sm['fwhm_hz'] / 1e3:.0f} kHz", fontsize=8)
    axh.legend(fontsize=7, loc="upper right")
    axr.plot(x, np.abs(measured) - np.abs(simulated), "o", ms=3, color="C0", label="burn")
    axr.plot(x, np.abs(measured_ref) - np.abs(reference), "s", ms=3, mfc="none",
             color="grey", label="reference")
    axr.axhline(0, color="k", lw=0.6)
    axr.set_xlabel("probe frequency (MHz)")
    axr.set_ylabel("residual (V)")
    axr.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _plot_recovered(path, fit, truth):
    import matplotlib.pyplot as plt

    names = list(truth)
    ratio = [fit.value(k) / truth[k] for k in names]
    err = [(fit.stderr(k) or 0.0) / abs(truth[k]) for k in names]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.errorbar(range(len(names)), ratio, yerr=err, fmt="o", capsize=4)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("recovered / true (±1σ)")
    ax.set_title("recovered vs true parameters", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _budget_text() -> str:
    try:
        from echo.theory import decoherence_budget, load_preset

        grain = load_preset("ferritin")
        return ("Theory budget of the sample's namesake (the ferritin preset of "
                "echo.theory; the demo sample uses its S and Δ0):\n\n"
                + decoherence_budget(grain).format_table())
    except Exception as exc:  # noqa: BLE001 - report what is missing, keep the demo going
        return f"theory budget unavailable: {exc}"


MC_NOTE = ("± 1σ: the data noise (from the residuals) and the fit ensemble's Monte-Carlo "
           "error; the lab's ensemble is another Monte-Carlo draw of the same "
           "distributions, which adds a few per cent (more for τc, seen only through the "
           "decay's curvature)")


def recovered_table(fit, truth) -> str:
    lines = [f"{'parameter':<10} {'recovered':>12} {'± 1σ':>10} {'true':>12} {'dev/σ':>7}"]
    for k, v in truth.items():
        p = fit.params[k]
        dev = (p.value - v) / p.stderr if p.stderr else float("nan")
        err = f"{p.stderr:.3g}" if p.stderr else "n/a"
        lines.append(f"{k:<10} {p.value:>12.5g} {err:>10} {v:>12.5g} {dev:>7.2f}")
    return "\n".join(lines)


def _write_readme(out: Path, fit, truth, moment, seconds, sizes, hole=None) -> Path:
    text = [
        "# spinecho demo report", "",
        f"Measured on the virtual lab (loopback), fitted with the fast engine in "
        f"{seconds:.0f} s; sizes: {sizes.__dict__}.", "",
        "| file | what |", "|---|---|",
        "| timing_hahn.png, timing_holeburn.png | timing diagrams of the two sequences |",
        "| fit_hahn.png | Hahn echo amplitude vs τ: measured vs simulated, residuals |",
        "| hole_spectrum.png | echo-detected hole-burning spectrum with and without the "
        "burn, measured vs simulated, and the hole (their difference) |",
        "| recovered_vs_true.png | fitted / true parameters with 1σ |",
        "| parameters.txt, summary.json | fit table and everything in JSON |",
        "| budget.txt | the paper's decoherence budget (ferritin preset) |",
        "| model_truth.toml | the sample the virtual lab simulated (the truth) |",
        "| runs/ | the measurement run directories (results.csv, result.nc): hahn, "
        "holeburn, holeburn_reference |", "",
        "## recovered vs true", "", "```", recovered_table(fit, truth), "```", "",
        MC_NOTE + ".", "",
        f"fit: {'converged' if fit.success else 'NOT CONVERGED'} — {fit.message}", "",
        "Fit the measured run again from the command line:", "", "```",
        f"spinecho compare {out / 'runs' / 'hahn'} --sequence hahn --model "
        f"{out / 'model_truth.toml'} --fit sigma,tau_c,amplitude,phase -o {out / 'refit'}",
        "```", "",
    ]
    if hole:
        d = hole.get("designed") or {}
        text += ["## hole-burning spectrum", "",
                 f"Designed burn (echo.hole.design_burn): {d.get('burn', '')}; "
                 f"selective Hahn probe (π/2 in {PROBE_T90 * 1e6:g} µs) swept "
                 f"{PROBE_RANGE[0] / 1e6:g}–{PROBE_RANGE[1] / 1e6:g} MHz, measured with and "
                 "without the burn; the hole is |reference| − |burn|.", "",
                 "| | depth at the burn frequency | hole peak (MHz) | hole FWHM (kHz) |",
                 "|---|---|---|---|"]
        for kind, h in hole.items():
            if kind != "designed":
                text.append(f"| {kind} | {h['depth']:.0%} | {h['peak_hz'] / 1e6:.3f} | "
                            f"{h['fwhm_hz'] / 1e3:.0f} |")
        if d:
            text += ["", f"Hole 1 − S_burn/S_ref of the measured spectra: depth {d['depth']:.3g}"
                     f" ± {d['depth_err']:.2g}, FWHM {d['fwhm_hz'] / 1e3:.4g} ± "
                     f"{d['fwhm_err_hz'] / 1e3:.2g} kHz; expected (the burn's Rabi profile "
                     f"through the probe's {d['resolution_hz'] / 1e3:.3g} kHz band): depth "
                     f"{d['expected_depth']:.3g}, FWHM {d['expected_fwhm_hz'] / 1e3:.4g} kHz "
                     "(a few probe frequencies resolve the width poorly: NaN when the half "
                     "maximum is not crossed)."]
        text.append("")
    if moment is not None:
        text += ["## moment per grain (the paper's proposal)", "", moment.text(),
                 "(the susceptibility value is simulated: Curie law at 2 K with a 4 % "
                 "uncertainty)", ""]
    p = out / "README.md"
    p.write_text("\n".join(text), encoding="utf-8")
    return p
