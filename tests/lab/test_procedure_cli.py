"""EchoProcedure as a pymeasure Procedure, its run directory, and the CLI faces:
``spinecho measure``, ``spinecho lab serve`` and ``spinecho lab check`` (in-process)."""

from __future__ import annotations

import re
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from pymeasure.experiment import Procedure, Results
from virtual_support import ROOT, lab_file, small_config, start_lab

from echo.detect import demodulate, phase_cycle
from instruments.procedure import EchoProcedure
from instruments.readout import window_samples
from instruments.virtual.lab import VirtualLabError, config_from_dict, default_config
from sequences.schedule import Channel, DetectionWindow, Schedule
from spinecho.cli import main


@pytest.fixture(scope="module")
def vlab():
    lab = start_lab(small_config(n_samples=16, noise_rms=0.01))
    yield lab
    lab.stop()


def test_measure_cli_writes_pymeasure_csv_and_echo_result(vlab, tmp_path, capsys):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    code = main(["measure", "hahn", "--lab", str(labfile), "--sweep", "tau=2us,3us",
                 "--set", "window=0.5us", "-o", str(run), "--no-progress"])
    assert code == 0
    assert "2 of 2 points" in capsys.readouterr().out
    results = Results.load(str(run / "results.csv"))
    assert isinstance(results.procedure, EchoProcedure) and isinstance(results.procedure,
                                                                       Procedure)
    assert results.procedure.sweeps == "tau=2us,3us"
    data = results.data
    assert list(data["point"]) == [0, 1]
    np.testing.assert_allclose(data["sweep value"], [2e-6, 3e-6])
    assert np.all(data["amplitude abs (V)"] > 0.1)
    assert (run / "result.nc").exists() and (run / "run.json").exists()


def test_measure_cli_user_errors_exit_2(vlab, tmp_path, capsys):
    labfile = lab_file(vlab, tmp_path / "lab.toml", max_amplitude_v=0.5)
    code = main(["measure", "hahn", "--lab", str(labfile), "-o", str(tmp_path / "r"),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "max_amplitude_v" in err and "awg" in err
    assert "Traceback" not in err


def test_lab_check_against_the_virtual_lab(vlab, tmp_path, capsys):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    assert main(["lab", "check", str(labfile)]) == 0
    out = capsys.readouterr().out
    assert "33522B" in out and "DSOX1102G" in out and "SR830" in out and "OK" in out


def test_lab_serve_runs_and_stops(tmp_path, capsys):
    text = (ROOT / "examples" / "virtual_lab.toml").read_text()
    text, n = re.subn(r"(?m)^port = 50\d\d", "port = 0", text)  # ephemeral ports
    assert n == 3
    path = tmp_path / "virtual.toml"
    path.write_text(text.replace("n_samples = 256", "n_samples = 4"))
    t0 = time.monotonic()
    assert main(["lab", "serve", "--config", str(path), "--duration", "0.5"]) == 0
    assert time.monotonic() - t0 < 10
    out = capsys.readouterr().out
    assert out.count("TCPIP::127.0.0.1::") == 3 and "33522B" in out


def test_example_virtual_lab_is_the_built_in_default():
    with open(ROOT / "examples" / "virtual_lab.toml", "rb") as fh:
        assert tomllib.load(fh) == default_config()


def test_virtual_config_rejects_unknown_keys():
    cfg = default_config()
    cfg["awg"]["volts_per_tesal"] = 1.0
    with pytest.raises(VirtualLabError, match="volts_per_tesal"):
        config_from_dict(cfg)
    cfg = default_config()
    cfg["faults"] = {"awg": {"drop_afer": 3}}
    with pytest.raises(VirtualLabError, match="drop_afer"):
        config_from_dict(cfg)


def test_signal_conventions_match_echo_detect():
    """window selection, demodulation z = 2V e^{-i2πft} and receiver co-adding."""
    sched = Schedule(channels=(Channel("adc", "detector"),),
                     windows=(DetectionWindow("adc", 1e-6, 1e-6, "echo"),),
                     receiver=(1, -1), duration=3e-6)
    t = np.arange(3000) * 1e-9
    keep, idx = window_samples(sched, t)
    assert keep.sum() == 1000 and t[keep][0] == pytest.approx(1e-6) and set(idx) == {0}
    f = 4e6
    v = np.cos(2 * np.pi * f * t[keep] + 0.3)
    z = demodulate(v, t[keep], f)
    assert z.mean() == pytest.approx(np.exp(0.3j), abs=1e-3)  # 2cos·e^{-iωt} → e^{iφ}
    tr = np.stack([z, -z])
    np.testing.assert_allclose(phase_cycle(tr, sched.receiver), z)


def test_measured_and_simulated_chains_agree_sample_by_sample():
    """The same FLL voltage through the procedure's sample selection (window_samples on the
    digitizer record) and through echo.detect.output_times + to_signal + build_result
    (the simulated chain) gives the same complex trace, signal and amplitude: the sample
    selection is written in two packages, so this is the seam; demodulation and the phase
    cycle are echo.detect's, shared.
    Deterministic arithmetic: 1e-12 V (the two time grids differ by float rounding,
    ~1e-22 s, i.e. ~1e-15 rad of carrier phase)."""
    from echo.detect import output_times, to_signal
    from echo.model import Detection, Ensemble, Fixed
    from echo.result import build_result

    sched = Schedule(channels=(Channel("adc", "detector"),),
                     windows=(DetectionWindow("adc", 0.5e-6, 0.25e-6, "ref"),
                              DetectionWindow("adc", 1e-6, 1e-6, "echo")),
                     receiver=(1j, -1j), duration=3e-6)
    f = 4e6
    ens = Ensemble(delta0=Fixed(1e6), bias=Fixed(0.0), spin=100, n_samples=1)
    det = Detection(sample_rate=1e9, reference_frequency=f)
    vpt = det.volts_per_tau_z(ens)
    t_rec = np.arange(3000) * 1e-9  # the digitizer record, s after the trigger
    tau = np.stack([np.cos(2 * np.pi * f * t_rec + 0.3), -np.sin(2 * np.pi * f * t_rec)])
    keep, idx = window_samples(sched, t_rec)
    tr_meas = np.stack([demodulate(vpt * row[keep], t_rec[keep], f) for row in tau])
    sig_meas = phase_cycle(tr_meas, sched.receiver)
    amp_meas = sig_meas[idx == sched.echo_window()].mean()

    t_sim, w_sim = output_times(sched, det)
    np.testing.assert_allclose(t_sim, t_rec[keep], rtol=0, atol=1e-18)
    np.testing.assert_array_equal(w_sim, idx)
    tau_sim = np.stack([np.interp(t_sim, t_rec, row) for row in tau])
    tr_sim = to_signal(tau_sim, t_sim, w_sim, sched, ens, det)
    res = build_result(schedules=[sched], times=[t_sim], window_index=[w_sim],
                       trace=[tr_sim])
    np.testing.assert_allclose(tr_sim, tr_meas, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.dataset["signal"].values[0], sig_meas, rtol=0, atol=1e-12)
    assert abs(complex(res.dataset["amplitude"].values[0]) - amp_meas) < 1e-12
    assert abs(amp_meas) > 0.1  # a real signal, not two zeros agreeing


def test_procedure_runs_under_a_pymeasure_style_worker_loop(vlab, tmp_path):
    """The calls a pymeasure Worker makes: startup, execute with emit/should_stop,
    shutdown in a finally — and a stop request ends the sweep between points."""
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    proc = EchoProcedure(sequence_file="hahn", lab_file=str(labfile),
                         sweeps="tau=lin(1.5us, 3us, 4)", run_dir=str(tmp_path / "run"))
    rows, stop = [], threading.Event()

    def emit(topic, record):
        if topic == "results":
            rows.append(record)
            if len(rows) == 2:
                stop.set()

    proc.emit = emit
    proc.should_stop = stop.is_set
    try:
        proc.startup()
        proc.execute()
    finally:
        proc.shutdown()
    assert [r["point"] for r in rows] == [0, 1]
    assert proc.lab is None
    deadline = time.monotonic() + 2.0  # the client's last writes may still be in flight
    while vlab.awg.output_on() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not vlab.awg.output_on()
    assert Path(tmp_path / "run" / "points" / "point_00001.npz").exists()


def test_procedure_runs_under_pymeasures_worker(vlab, tmp_path):
    """pymeasure's own Worker (what ManagedWindow uses) runs the procedure, writes the
    Results CSV, and the run directory gets its EchoResult."""
    from pymeasure.experiment import Worker

    labfile = lab_file(vlab, tmp_path / "lab.toml")
    proc = EchoProcedure(sequence_file="hahn", lab_file=str(labfile), sweeps="tau=2us,3us",
                         run_dir=str(tmp_path / "run"))
    results = Results(proc, str(tmp_path / "worker.csv"))
    worker = Worker(results)
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and proc.status == Procedure.FINISHED
    data = Results.load(str(tmp_path / "worker.csv")).data
    assert list(data["point"]) == [0, 1]
    assert (tmp_path / "run" / "result.nc").exists()


def test_measure_cli_unreachable_instrument_names_role_and_resource(vlab, tmp_path, capsys):
    # a digitizer resource on a closed port: one clean message naming the role and the
    # resource (was a ConnectionRefusedError traceback from the *IDN? at startup)
    import socket

    labfile = lab_file(vlab, tmp_path / "lab.toml")
    resource = tomllib.loads(labfile.read_text())["digitizer"]["resource"]
    with socket.socket() as s:  # a port nobody listens on (bound, then released)
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    bad = re.sub(r"::\d+::", f"::{closed}::", resource)
    good_text = labfile.read_text()
    labfile.write_text(good_text.replace(resource, bad))
    run = tmp_path / "r"
    code = main(["measure", "hahn", "--lab", str(labfile), "-o", str(run), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"digitizer: no reply from {bad}" in err and "lab check" in err
    assert "Traceback" not in err
    # the run never started: nothing left behind, the same -o works once the lab is fixed
    assert not run.exists()
    labfile.write_text(good_text)
    assert main(["measure", "hahn", "--lab", str(labfile), "-o", str(run), "--set",
                 "window=0.5us", "--no-progress"]) == 0


def test_measure_cli_output_that_is_a_file_is_clean(vlab, tmp_path, capsys):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    code = main(["measure", "hahn", "--lab", str(labfile), "-o", str(taken), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and f"{taken} exists and is not a directory" in err
    assert "Traceback" not in err and taken.read_text() == "keep me"


def test_measure_cli_refuses_a_lab_file_without_peak_voltage_limit(vlab, tmp_path, capsys):
    # `lab check` fails such a file ("required to drive hardware"); measure agrees
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    labfile.write_text(re.sub(r"(?m)^max_amplitude_v\s*=.*$", "", labfile.read_text()))
    run = tmp_path / "r"
    code = main(["measure", "hahn", "--lab", str(labfile), "-o", str(run), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "limits.max_amplitude_v: not set" in err and str(labfile) in err
    assert not run.exists()
