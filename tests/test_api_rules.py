"""`import spinecho` and the command line follow one set of rules (issue 10): --set of a
swept parameter, the model-field dialect, one engine front end and RWA policy, f_ref in
simulate, every CPMG window in --json, the short-window warning, no import cycle."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import spinecho
from sequences.errors import SequenceError, SpinechoError

ROOT = Path(__file__).resolve().parents[1]

SWEPT = """
sequence swept
param tau = 2 us
param f = 4 MHz
channel rf : field(full_scale = 1 uT, freq = f)
channel adc : detector
sweep tau = [1 us, 2 us, 3 us]
pulse(100 ns, amp = 0.5, angle = 90 deg, label = "p90")
delay(tau)
detect(1 us, label = "echo")
"""

TINY_MODEL = """
[ensemble]
n_samples = 8
seed = 1
delta0 = 1.0e6
bias = { kind = "gaussian", mean = 0.0, std = 2.0e5 }
[[environment.noise]]
kind = "ou"
sigma = 2.0e4
tau_c = 2.0e-6
[detection]
sample_rate = 1.0e8
reference_frequency = 4.0e6
"""


@pytest.fixture()
def files(tmp_path):
    seq = tmp_path / "swept.seq"
    seq.write_text(SWEPT)
    model = tmp_path / "tiny.toml"
    model.write_text(TINY_MODEL)
    return seq, model


# ------------------------------------------------------------ --set of a swept parameter
def test_set_of_a_swept_parameter_fixes_it_everywhere(files, capsys, tmp_path):
    """check, simulate, measure (its procedure) and the Python API: one point at tau=5us."""
    from sequences import load
    from spinecho.api import bind_points
    from spinecho.cli import main

    seq, model = files
    # the library (Sequence.sweep) and the API
    pts = list(load(str(seq)).sweep(tau=5e-6))
    assert [p for p, _ in pts] == [{}] and pts[0][1].param_values()["tau"] == 5e-6
    _, schedules, params = bind_points(str(seq), values={"tau": "5 us"})
    assert len(schedules) == 1 and params == [{}]
    # check
    assert main(["check", str(seq), "--set", "tau=5us", "--quiet"]) == 0
    capsys.readouterr()
    # simulate (CLI) and spinecho.simulate
    out = tmp_path / "r.nc"
    assert main(["simulate", str(seq), "--model", str(model), "--set", "tau=5us",
                 "--no-normalise", "-o", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    res = spinecho.simulate(str(seq), str(model), values={"tau": 5e-6}, normalise=False)
    assert res.dataset.sizes["point"] == 1
    # measure: the procedure binds the same points (nothing is played here)
    from instruments.procedure import EchoProcedure

    proc = EchoProcedure(sequence_file=str(seq), lab_file=str(ROOT / "examples" /
                                                              "lab_virtual.toml"),
                         sets="tau=5us", sweeps="", run_dir=str(tmp_path / "run"))
    proc.prepare()
    assert len(proc.schedules) == 1 and proc.schedules[0].param_values()["tau"] == 5e-6


def test_set_and_sweep_of_one_parameter_is_an_error(files):
    from spinecho.api import bind_points
    from spinecho.cli import main

    seq, _ = files
    with pytest.raises(SequenceError, match="'tau' is given both --set and --sweep"):
        bind_points(str(seq), values={"tau": "5 us"}, sweep=["tau=1us,2us"])
    assert main(["check", str(seq), "--set", "tau=5us", "--sweep", "tau=1us,2us"]) == 2


# ------------------------------------------------------------------ model-field dialect
def test_simulate_set_sigma_uses_the_fit_dialect(files, tmp_path, capsys):
    """`simulate --set sigma=1e5` (it failed) and `compare --fit sigma` name one field."""
    from echo.fit.model_fit import get_path
    from echo.model import ModelError
    from echo.modelfile import load_model
    from echo.modelpath import resolve_name, set_path
    from spinecho.cli import main

    seq, model = files
    m = load_model(model)
    assert resolve_name("sigma") == "environment.noise[0].sigma"
    assert get_path(set_path(m, "sigma", 1e5), "sigma") == 1e5
    assert get_path(set_path(m, "environment.noise[0].sigma", 1e5), "sigma") == 1e5
    out = tmp_path / "s.nc"
    assert main(["simulate", str(seq), "--model", str(model), "--set", "sigma=1e5",
                 "--set", "tau=2us", "--no-normalise", "-o", str(out)]) == 0
    from echo.result import EchoResult

    saved = json.loads(EchoResult.load(out).dataset.attrs["model"])
    assert saved["environment"]["noise"][0]["sigma"] == 1e5
    capsys.readouterr()
    assert main(["simulate", str(seq), "--model", str(model), "--set", "sigma=-1",
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "sigma=-1" in err and "must be >= 0, got -1" in err
    with pytest.raises(ModelError, match="tau_cc"):
        set_path(m, "environment.noise[0].tau_cc", 1.0)


# ------------------------------------------------------------ engine front end and RWA
@pytest.mark.parametrize("engine", ["fast", "qutip"])
def test_both_engines_warn_and_drop_baseband_pulses_in_the_rwa(engine):
    """docs/engines.md: both engines warn (the fast one used to raise ModelError)."""
    from echo.model import Detection, Ensemble, Environment, Fixed
    from echo.simulate import run
    from sequences.schedule import Channel, DetectionWindow, Pulse, Schedule

    ch = (Channel("rf", "field", 1e-6), Channel("adc", "detector"))
    win = (DetectionWindow("adc", 0.4e-6, 0.2e-6, "echo"),)
    base = Pulse("rf", 0.0, 0.1e-6, 1e-9, frequency=0.0)
    car = Pulse("rf", 0.2e-6, 0.05e-6, 1e-9, frequency=4e6)
    sch = Schedule(ch, pulses=(base, car), windows=win, duration=1e-6)
    ens = Ensemble(Fixed(1e6), Fixed(0.0), n_samples=1)
    det = Detection(sample_rate=5e7, reference_frequency=4e6)
    with pytest.warns(RuntimeWarning, match="RWA drops baseband"):
        with_base = run(sch, ens, Environment(), det, engine=engine, frame="rwa")
    without = Schedule(ch, pulses=(car,), windows=win, duration=1e-6)
    ref = run(without, ens, Environment(), det, engine=engine, frame="rwa")
    np.testing.assert_allclose(with_base.trace, ref.trace, rtol=0, atol=1e-9 * abs(
        ref.trace).max() + 1e-30)


@pytest.mark.parametrize("engine, option, text", [
    ("fast", {"dt": -1.0}, "fast engine option dt: must be > 0, got -1.0"),
    ("fast", {"nsteps": 3}, "fast engine option nsteps: unknown field"),
    ("qutip", {"atol": 0.0}, "qutip engine option atol: must be > 0, got 0.0"),
    ("qutip", {"dt": 1e-9}, "qutip engine option dt: unknown field"),
])
def test_one_validation_of_engine_options_before_anything_runs(engine, option, text):
    from echo.model import Detection, Ensemble, Environment, Fixed, ModelError
    from echo.simulate import simulate_schedules
    from sequences import load

    sch = load("hahn").bind()
    with pytest.raises(ModelError) as info:
        simulate_schedules([sch], Ensemble(Fixed(1e6), Fixed(0.0), n_samples=1),
                           Environment(), Detection(), engine=engine, **option)
    assert text in str(info.value)


def test_engine_registry_imports_no_orchestration():
    """The cycle echo/engines/__init__ ↔ echo/simulate ↔ echo/parallel is gone."""
    code = ("import sys, echo.engines, echo.engines.frontend, echo.parallel; "
            "bad = [m for m in ('echo.simulate',) if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    import echo.engines

    assert not hasattr(echo.engines, "run")


# --------------------------------------------------------------------- f_ref, windows
def test_simulate_demodulates_at_the_sequences_f_ref(files):
    """A sequence binding f_ref is demodulated there, as measure does: the same as a
    model whose reference is that frequency."""
    from dataclasses import replace

    from echo.modelfile import load_model
    from sequences import parse

    _, model = files
    m = load_model(model)
    with_ref = parse(SWEPT.replace("param f = 4 MHz", "param f = 4 MHz\nparam f_ref = 3.9 MHz")
                     .replace("sweep tau = [1 us, 2 us, 3 us]\n", ""))
    a = spinecho.simulate(with_ref, m, normalise=False)
    m39 = replace(m, detection=replace(m.detection, reference_frequency=3.9e6))
    plain = parse(SWEPT.replace("sweep tau = [1 us, 2 us, 3 us]\n", ""))
    b = spinecho.simulate(plain, m39, normalise=False)
    np.testing.assert_allclose(a.trace, b.trace, rtol=0, atol=1e-15)
    c = spinecho.simulate(plain, m, normalise=False)  # 4 MHz: a different phase ramp
    assert not np.allclose(a.trace, c.trace)


def test_json_of_a_cpmg_gives_every_window(files, tmp_path, capsys):
    from spinecho.cli import main

    _, model = files
    out = tmp_path / "c.nc"
    assert main(["simulate", "cpmg", "--model", str(model), "--set", "n=3",
                 "--no-normalise", "-o", str(out), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    wins = row["windows"]
    assert len(wins) == 3 and [w["label"] for w in wins] == ["echo"] * 3
    starts = [w["start"] for w in wins]
    assert starts == sorted(starts) and starts[1] - starts[0] == pytest.approx(4e-6)
    assert wins[0]["amplitude"] == pytest.approx(row["echo_amplitude"])  # window 0 = echo
    assert all(math.isfinite(w["amplitude"]) for w in wins)


def test_short_windows_are_warned_about():
    from echo.detect import window_warnings
    from sequences.schedule import Channel, DetectionWindow, Schedule

    adc = (Channel("adc", "detector"),)
    s = Schedule(adc, windows=(DetectionWindow("adc", 0.0, 0.5e-6, "echo"),), duration=1e-6)
    msgs = window_warnings(s, 4e6, 1e6)
    assert len(msgs) == 2
    assert "shorter than 1/demod_bandwidth = 1e-06 s" in msgs[0]
    assert "holds 2 periods of the 4e+06 Hz reference" in msgs[1]
    assert window_warnings(s, 4e7, 1e7) == []


def test_simulate_warns_about_a_short_window(files):
    from echo.modelfile import load_model
    from sequences import parse

    _, model = files
    seq = parse(SWEPT.replace("detect(1 us", "detect(0.5 us")
                .replace("sweep tau = [1 us, 2 us, 3 us]\n", ""))
    with pytest.warns(RuntimeWarning, match=r"detection window 1 \('echo'\).*2 periods"):
        spinecho.simulate(seq, load_model(model), normalise=False)


# ------------------------------------------------------------------------ the Python API
def test_import_spinecho_gives_the_api():
    for name in ("load_sequence", "load_model", "simulate", "measure", "fit",
                 "SpinechoError"):
        assert hasattr(spinecho, name), name
    for name in ("load_sequence", "load_model", "simulate", "measure", "fit"):
        doc = getattr(spinecho, name).__doc__
        assert "Parameters\n    ----------" in doc and "Returns\n    -------" in doc, name


def test_api_errors_are_spinecho_errors(files):
    seq, model = files
    with pytest.raises(SpinechoError, match="no_such_param"):
        spinecho.simulate(str(seq), str(model), values={"no_such_param": 1.0})
    with pytest.raises(SpinechoError):
        spinecho.load_model(seq)  # a .seq is no model file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SpinechoError, match="engine"):
            spinecho.simulate(str(seq), str(model), engine="warp")


# ------------------------------------------------------- the CLI is a thin wrapper
def test_measure_and_compare_commands_go_through_the_api(monkeypatch, tmp_path, capsys):
    """`spinecho measure` calls spinecho.api.measure_run and `spinecho compare` calls
    spinecho.api.fit (what `import spinecho` gives), with the flags as arguments."""
    from types import SimpleNamespace

    import spinecho.api as api
    from spinecho.cli import main

    seen = {}

    def fake_measure_run(sequence, lab, run_dir, **kw):
        seen["measure"] = (sequence, str(lab), str(run_dir), kw)
        return SimpleNamespace(data={0: 1}, schedules=[1, 2], n_measured=1,
                               store=SimpleNamespace(result=tmp_path / "r.nc"))

    def fake_fit(runs, sequence, model, free, **kw):
        seen["fit"] = (runs, sequence, str(model), free, kw)
        table = tmp_path / "parameters.txt"
        table.write_text("")
        summary = tmp_path / "summary.json"
        summary.write_text("{}")
        return SimpleNamespace(success=True, meta={"files": {"json": summary, "table": table}},
                               table=lambda: "fit table")

    monkeypatch.setattr(api, "measure_run", fake_measure_run)
    monkeypatch.setattr(api, "fit", fake_fit)
    lab = ROOT / "examples" / "lab_virtual.toml"
    assert main(["measure", "hahn", "--lab", str(lab), "--set", "tau=3us", "--averages", "2",
                 "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    seq, lab_arg, run_dir, kw = seen["measure"]
    assert (seq, lab_arg) == ("hahn", str(lab)) and kw["values"] == ["tau=3us"]
    assert kw["averages"] == 2 and kw["reference_frequency"] == -1.0
    assert "1 of 2 points" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "run"), "--sequence", "hahn", "--model",
                 str(ROOT / "examples" / "simple.toml"), "--fit", "sigma,tau_c", "-o",
                 str(tmp_path / "rep"), "--set", "f=4MHz", "--per-run", "phase",
                 "--no-progress"]) == 0
    runs, seq, _, free, kw = seen["fit"]
    assert free == "sigma,tau_c" and kw["per_run"] == ["phase"]
    assert kw["values"] == {"f": "4MHz"} and kw["progress"] is False
    assert "fit table" in capsys.readouterr().out
