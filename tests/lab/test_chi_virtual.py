"""χ''(ω) by lock-in on the virtual lab (``spinecho measure-chi`` → ``compare --kind chi``).

Independent expectations: the calibration G = N g S · Φ0/μB · V/Φ0 · gμBS/ħ · SLVL/(V/T)
written out with CODATA numbers here; the sample of ``examples/chi_model.toml`` (Δ0 fixed,
bias flat over ±150 kHz) has Eq. 7's χ'' with A = 2π·Δ0/(300 kHz) = 0.2094 — worked out
from the grains' Kubo response by hand (docs/instruments.md), not by the fitted code — and
the fit must find A and Δ0 within 4 of its standard errors, which must be small enough to
mean something (A < 1 %, Δ0 < 0.1 %). Safety: an amplitude above the lab's limit is
refused before any connection; the sine ends at its minimum after a normal run and after a
run stopped by an exception in the middle.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from virtual_support import start_lab

from instruments.chi import ChiCalibration, ChiOptions, check_options, measure_chi
from instruments.errors import LimitViolation
from instruments.lab import load_lab
from instruments.procedure import OptionError
from instruments.virtual.lab import load_config
from spinecho.cli import main

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "chi_model.toml"
A_TRUE = 2 * math.pi * 1e4 / 3e5  # 2π Δ0 W(0), W = 1/(300 kHz)
DELTA0_TRUE = 1e4


@pytest.fixture(scope="module")
def chi_lab():
    lab = start_lab(load_config(ROOT / "examples" / "chi_virtual_lab.toml"), lifetime=300)
    yield lab
    lab.stop()


def client_file(lab, tmp_path: Path) -> Path:
    text = (ROOT / "examples" / "lab_chi_virtual.toml").read_text(encoding="utf-8")
    p = tmp_path / "lab.toml"
    p.write_text(text.replace("TCPIP::127.0.0.1::5027::SOCKET", lab.resources["lockin"])
                 .replace("timeout_s = 10", "timeout_s = 30"), encoding="utf-8")
    return p


def test_calibration_written_out():
    from echo.modelfile import load_model

    cal = ChiCalibration.from_lab(load_lab(ROOT / "examples" / "lab_chi_virtual.toml"),
                                  load_model(MODEL).ensemble)
    mu_b, hbar = 9.2740100783e-24, 1.054571817e-34
    gamma = 2.0 * mu_b * 10 / hbar  # g μB S / ħ, rad/s/T
    v_tau = 1e10 * 2.0 * 10 * 1e-9 * 0.5  # N g S · Φ0/μB · V/Φ0 = 100 V
    g = v_tau * gamma * 0.004 / 1e9
    assert cal.gain(0.004) == pytest.approx(g, rel=1e-8)  # CODATA 2018 vs the package
    z = cal.chi([g * 1e-6], [g * 2e-6], 0.004)
    assert z[0] == pytest.approx(1e-6 + 2e-6j)


def test_refused_before_anything_is_sent(tmp_path):
    called = []

    def never(cfg):
        called.append(cfg)
        raise AssertionError("connected")

    lab = ROOT / "examples" / "lab_chi_virtual.toml"  # max_amplitude_v = 0.1 V peak
    with pytest.raises(LimitViolation, match="0.08 V rms.*nothing was sent"):
        measure_chi(lab, MODEL, tmp_path / "a", ChiOptions(amplitude_v=0.08),
                    connect_fn=never)
    with pytest.raises(OptionError, match="102000 Hz"):
        measure_chi(lab, MODEL, tmp_path / "b", ChiOptions(f_stop=2e5), connect_fn=never)
    with pytest.raises(OptionError, match="--time-constant 0.002 s"):
        measure_chi(lab, MODEL, tmp_path / "c", ChiOptions(time_constant=0.002),
                    connect_fn=never)
    with pytest.raises(OptionError, match="--sensitivity 0.003 V"):
        measure_chi(lab, MODEL, tmp_path / "e", ChiOptions(sensitivity_v=0.003),
                    connect_fn=never)
    sr860 = tmp_path / "sr860.toml"  # pymeasure's SR860 has no auto gain: say so up front
    sr860.write_text(lab.read_text(encoding="utf-8").replace("lockin:SR830", "lockin:SR860"),
                     encoding="utf-8")
    with pytest.raises(OptionError, match="SR860 driver has no auto gain"):
        measure_chi(sr860, MODEL, tmp_path / "f", ChiOptions(), connect_fn=never)
    with pytest.raises(OptionError, match="--reads"):
        check_options(reads=0)
    assert not called and not (tmp_path / "a").exists()
    # the command line says the same, exit status 2
    assert main(["measure-chi", "--lab", str(lab), "--model", str(MODEL), "--amplitude",
                 "0.08", "-o", str(tmp_path / "d"), "--no-progress"]) == 2


def test_measure_chi_and_compare_recover_a_and_delta0(chi_lab, tmp_path, capsys):
    lab_toml = client_file(chi_lab, tmp_path)
    run = tmp_path / "run"
    chi_lab.lockin.slvl = 1.0  # whatever was left: the run must end at the minimum
    assert main(["measure-chi", "--lab", str(lab_toml), "--model", str(MODEL),
                 "--f-start", "21e3", "--f-stop", "101e3", "--points", "30",
                 "--amplitude", "0.004", "--time-constant", "0.003", "--reads", "6",
                 "-o", str(run), "--no-progress"]) == 0
    assert "safe state verified" in capsys.readouterr().out
    assert chi_lab.lockin.slvl == pytest.approx(0.004)  # SR830 minimum: the sine is off
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert meta["kind"] == "chi" and meta["options"]["amplitude_v"] == 0.004
    rep = tmp_path / "rep"
    assert main(["compare", str(run), "--kind", "chi", "--fit", "fraction_a,delta0",
                 "-o", str(rep), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    fit = next(iter(out["fits"].values())) if "fits" in out else out
    params = fit["params"]
    a, sa = params["fraction_a"]["value"], params["fraction_a"]["stderr"]
    d, sd = params["delta0"]["value"], params["delta0"]["stderr"]
    assert params["lam"]["value"] == 0 and not params["lam"]["vary"]  # Eq. 7 itself
    assert sa < 0.01 * A_TRUE and sd < 1e-3 * DELTA0_TRUE  # the check is not vacuous
    assert abs(a - A_TRUE) < 4 * sa, (a, sa)
    assert abs(d - DELTA0_TRUE) < 4 * sd, (d, sd)


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm", "error"])
def test_stopped_run_leaves_the_sine_at_its_minimum(chi_lab, tmp_path, stop):
    import signal

    from instruments.measure import RunTerminated

    lab_toml = client_file(chi_lab, tmp_path)
    chi_lab.lockin.slvl = 1.0
    exc = {"ctrl-c": KeyboardInterrupt(), "sigterm": RunTerminated(signal.SIGTERM),
           "error": RuntimeError("a failure in the middle")}[stop]

    def stop_after_two(i, f, chi):
        if i == 1:
            if stop == "sigterm":
                # a real signal: measure_chi's handler turns it into RunTerminated, as a
                # batch scheduler's kill would
                import os
                import time

                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # interrupted by the handler long before
                raise AssertionError("SIGTERM did not stop the run")
            raise exc

    with pytest.raises(type(exc)) as info:
        measure_chi(lab_toml, MODEL, tmp_path / "run",
                    ChiOptions(f_start=30e3, f_stop=60e3, points=5, amplitude_v=0.004,
                               time_constant=0.001, reads=1), on_point=stop_after_two)
    assert chi_lab.lockin.slvl == pytest.approx(0.004)
    assert "2 of 5 frequencies" in info.value.spinecho_stop
    assert "safe state verified" in info.value.spinecho_stop
    rows = (tmp_path / "run" / "results.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 3 and rows[0].startswith("frequency (Hz),chi (s)")
    assert np.isfinite(float(rows[1].split(",")[1]))


def test_python_api_measures_chi(chi_lab, tmp_path):
    import spinecho

    res = spinecho.measure_chi(client_file(chi_lab, tmp_path), MODEL, tmp_path / "run",
                               f_start=45e3, f_stop=90e3, points=3, amplitude_v=0.004,
                               time_constant=0.001, reads=2)
    assert res.frequency.tolist() == pytest.approx([45e3, 45e3 * 2 ** 0.5, 90e3])
    # Eq. 7 at A, Δ0 of the sample, within a few σ of the two reads (and the 0.1 % of the
    # finite grain sample): the calibration is right in absolute terms
    from echo.theory.spectrum import eq7_chi

    w = 2 * math.pi * res.frequency
    expect = eq7_chi(w, A_TRUE, 2 * math.pi * DELTA0_TRUE)
    assert np.all(np.abs(res.chi.imag - expect) < 5 * res.chi_sigma + 3e-3 * expect)
    with pytest.raises(OptionError, match=r"^--amplitude: must be > 0"):
        spinecho.measure_chi("x.toml", MODEL, tmp_path / "r2", amplitude_v=-1)


def test_measure_chi_live_png(chi_lab, tmp_path):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.image as mpimg

    run = tmp_path / "run"
    assert main(["measure-chi", "--lab", str(client_file(chi_lab, tmp_path)), "--model",
                 str(MODEL), "--f-start", "45e3", "--f-stop", "90e3", "--points", "3",
                 "--amplitude", "0.004", "--time-constant", "0.001", "--reads", "1",
                 "--live", "-o", str(run), "--no-progress"]) == 0
    assert mpimg.imread(run / "live.png").shape[:2] == (420, 640)


@pytest.mark.parametrize("flag, value", [("--amplitude", "inf"), ("--phase", "nan"),
                                         ("--sensitivity", "-1")])
def test_measure_chi_names_the_flag_the_user_typed(tmp_path, capsys, flag, value):
    """A bad value is refused before any connection, naming the flag as typed (not the
    option's field name, e.g. not '--amplitude-v')."""
    from spinecho.cli import main

    rc = main(["measure-chi", "--lab", "x.toml", "--model", str(MODEL), flag, value,
               "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {flag}: must be" in err, err
