"""``spinecho tune`` on the virtual lab recovers the sample's true values.

Truths, each from outside the tune code:
* t90: the Rabi frequency of the τz drive, Ω = g μB S h0 ⟨Δ/E⟩ / ħ (h0 = amp × full scale,
  Δ/E averaged over the sample's ε spread); a weak drive (Ω/2π ≈ 0.83 MHz ≪ 4 MHz) keeps
  the Bloch–Siegert correction below 0.2 %. Tolerance 2 %: the fit's standard error
  (measured 0.6 %) and the finite ensemble.
* echo position and phase: the echo of the *same* 256 grains driven by the field the AWG
  plays (the compiled samples, held for one period: a ~5 ns delay at 100 MSa/s that turns
  the echo phase by ~3°), simulated by the engine without the lab's SCPI, digitizer and
  demodulation chain, located with the same estimator (validated below on exact
  symmetric echoes and on ideal pulses, where it gives 0). Tolerances: 35 ns, 4 standard
  deviations of the position estimate over realisations of the lab's bias noise and
  digitizer noise with 256 grains (8.6 ns, measured over the sample seeds 1–9: errors
  11.6, −12.2, −12.2, −5.6, −10.4, −6.9, −2.9, 1.3, 8.0 ns, mean −3.2 ± 2.9 ns), and 2°.
* the receiver phase does its job: the check echo measured with every tuned value is real
  and positive (phase within 2°).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.constants
from virtual_support import lab_file, small_config, start_lab

import sequences
from echo.model import Detection, Ensemble, Environment, Gaussian, Model
from echo.simulate import simulate
from instruments.tune import TuneError, echo_centre, tune
from sequences.paramfile import read_params
from spinecho.cli import main

HBAR, MU_B = scipy.constants.hbar, scipy.constants.physical_constants["Bohr magneton"][0]
AMP = 0.3
N = 256


@pytest.fixture(scope="module")
def vlab():
    lab = start_lab(small_config(n_samples=N, noise_rms=0.01), lifetime=300)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def tuned(vlab, tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    labfile = lab_file(vlab, d / "lab.toml")
    return tune(labfile, d / "out", amp=AMP, tp_max=2e-6), d


def _same_sample():
    # the virtual lab's model (examples/virtual_lab.toml) without its bias noise
    return Model(Ensemble(delta0=Gaussian(1e6, 0.01e6), bias=Gaussian(0.0, 0.3e6), spin=100,
                          g=2.0, n_grains=1e7, n_samples=N, seed=1), Environment(),
                 Detection(flux_per_moment=1e-9, volts_per_flux=0.5, sample_rate=250e6,
                           reference_frequency=4e6))


def test_t90_is_the_rabi_period_of_the_sample(tuned):
    r, _ = tuned
    rng = np.random.default_rng(0)
    eps, delta = rng.normal(0, 0.3e6, 200000), 2 * 1e6  # Hz; Δ = 2 Δ0
    ratio = float(np.mean(delta / np.hypot(delta, eps)))
    omega = 2 * MU_B * 100 * AMP * 1e-6 * ratio / HBAR
    t90_true = math.pi / (2 * omega)
    assert r.t90_fit == pytest.approx(t90_true, rel=0.02)
    assert r.t90_stderr < 0.01 * r.t90_fit
    grid = 10e-9  # the AWG's sample period (100 MSa/s): lengths it plays exactly
    assert abs(r.t90 - r.t90_fit) <= grid / 2 + 1e-15 and abs(r.t180 - 2 * r.t90_fit) <= grid / 2
    assert r.t90 / grid == pytest.approx(round(r.t90 / grid), abs=1e-9)


def _played(schedule, labfile, model):
    """The phase-cycled signal of ``schedule`` as the AWG plays it: the compiled DAC
    samples held for one sample period (instruments.virtual.sample.schedule_from_field),
    simulated by the engine — the field the coil makes, without the lab's SCPI chain."""
    from dataclasses import replace

    from instruments.compiler import compile
    from instruments.lab import load_lab
    from instruments.virtual.sample import schedule_from_field

    lab = load_lab(labfile)
    prog = compile(schedule, lab)
    detector = tuple(c for c in schedule.channels if c.kind == "detector")
    total = 0
    for k in range(schedule.n_steps):
        held = schedule_from_field(prog.field_tesla(k), lab.awg.sample_rate,
                                   duration=schedule.duration)
        held = replace(held, channels=held.channels + detector, windows=schedule.windows)
        res = simulate(held, model, normalise=False)
        total = total + schedule.receiver[k] * res.dataset["signal"].values[0]
    return res.dataset["time"].values, total / schedule.n_steps


def test_echo_position_and_receiver_phase_match_the_sample(tuned):
    r, d = tuned
    window = 2e-6
    sched = sequences.load("hahn").bind_values({"amp": AMP, "t90": r.t90, "t180": r.t180,
                                                "window": window, "tau": r.tau})
    t, s = _played(sched, d / "lab.toml", _same_sample())
    t0 = echo_centre(t, s, search=window / 4, smooth=1 / 4e6)
    shift_true = t0 - (r.t90 / 2 + 2 * r.tau)
    assert abs(r.echo_shift - shift_true) < 35e-9, (r.echo_shift, shift_true)
    sel = np.abs(t - t0) <= 0.25e-6
    phase_true = float(np.angle(s[sel].sum()))
    dphi = math.remainder(r.receiver_phase - phase_true, 2 * math.pi)
    assert abs(math.degrees(dphi)) < 2, (math.degrees(r.receiver_phase),
                                         math.degrees(phase_true))
    # with rx applied the echo is real and positive
    assert abs(math.degrees(r.check_phase)) < 2
    assert r.check_amplitude > 0.3


def test_tuned_file_is_read_by_the_sequences(tuned, capsys):
    r, d = tuned
    values = read_params(r.params_file)
    assert set(values) == {"t90", "t180", "amp", "rx", "echo_shift"}
    assert main(["check", "hahn", "--params", r.params_file, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"t90 = {r.t90 * 1e9:.4g} ns" in out.replace("  ", " ") or "t90 = " in out
    sched = sequences.load("hahn").bind_values(values)
    assert sched.pulses[0].duration == pytest.approx(r.t90, rel=1e-6)
    assert complex(sched.receiver[0]) == pytest.approx(np.exp(-1j * r.receiver_phase),
                                                       abs=1e-6)
    # fid has no t180, rx or echo_shift: they are left out with a note
    assert main(["check", "fid", "--params", r.params_file, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "left out" in err and "t180" in err
    # a swept parameter keeps its sweep
    assert main(["check", "nutation", "--params", r.params_file, "--quiet"]) == 0


def test_tune_refuses_a_used_folder_and_bad_values(tuned, vlab, tmp_path, capsys):
    r, d = tuned
    with pytest.raises(TuneError, match="not empty"):
        tune(d / "lab.toml", d / "out")
    with pytest.raises(TuneError, match="amp = 2"):
        tune(d / "lab.toml", tmp_path / "x", amp=2)
    assert main(["tune", "--lab", str(d / "lab.toml"), "-o", str(tmp_path / "y"),
                 "--tau", "nan"]) == 2
    assert "not a finite number" in capsys.readouterr().err


def test_echo_centre_is_exact_on_symmetric_echoes_with_the_demodulation_image():
    t = 3e-6 + np.arange(500) * 4e-9
    rng = np.random.default_rng(1)
    for te, width in ((4.01e-6, 0.1e6), (3.93e-6, 0.3e6)):
        d = rng.normal(0, 2 * np.pi * width, 400)
        z = np.exp(1j * np.outer(t - te, d)).sum(1) / 400 * np.exp(0.7j)
        v = np.real(z * np.exp(2j * np.pi * 4e6 * t))   # the real signal
        s = 2 * v * np.exp(-2j * np.pi * 4e6 * t)       # demodulated: echo + image at 2ω
        assert abs(echo_centre(t, s, search=0.5e-6, smooth=250e-9) - te) < 0.1e-9
        assert abs(echo_centre(t, s, search=0.5e-6) - te) > 1e-9  # the image matters


def test_echo_centre_of_ideal_pulses_is_two_tau():
    res = simulate(sequences.load("hahn"), _same_sample(),
                   values={"amp": AMP, "t90": 300e-9, "window": 2e-6, "ideal": 1},
                   normalise=False)
    ds = res.dataset
    t0 = echo_centre(ds["time"].values, ds["signal"].values[0], search=0.5e-6,
                     smooth=1 / 4e6)
    assert abs(t0 - (150e-9 + 4e-6)) < 0.1e-9
