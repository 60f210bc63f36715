"""``spinecho simulate``: end to end on the library Hahn sequence with ideal pulses."""

import json
from pathlib import Path

import numpy as np
import pytest

from echo.result import EchoResult
from spinecho.cli import main

ROOT = Path(__file__).resolve().parents[2]
SIMPLE = str(ROOT / "examples" / "simple.toml")
SMALL = ["--set", "ideal=1", "--set", "ensemble.n_samples=300", "--set", "window=0.2us"]


def test_sweep_json_and_file(tmp_path, capsys):
    out = tmp_path / "r.nc"
    png = tmp_path / "r.png"
    # window 0.25 us = one period of the 4 MHz carrier: the 2f image of z = 2V e^{-iωt}
    # averages out and the grains' echoes share the phase of the echo top, so noise can
    # only shrink Re(A/A_quiet) (measured 0.9998 and 0.998); with SMALL's 0.2 us = 0.8
    # period the image, whose phase turns opposite to the echo's, pushed it to 1.0002
    code = main(["simulate", "hahn", "--model", SIMPLE, *SMALL, "--set", "window=0.25us",
                 "--sweep", "tau=1us,3us", "-o", str(out), "--plot", str(png), "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["params"]["tau"] for r in rows] == pytest.approx([1e-6, 3e-6])
    for r in rows:
        assert r["echo_amplitude"] > 0
        assert 0 < r["normalised_echo_amplitude"] < 1.0 + 1e-9
    res = EchoResult.load(out)
    assert res.dataset.sizes["point"] == 2 and res.dataset.sizes["step"] == 2
    np.testing.assert_allclose(res.dataset["tau"].values, [1e-6, 3e-6])
    assert res.attrs["engine"] == "fast" and "sequence hahn" in res.attrs["sequence"]
    assert png.stat().st_size > 1000


def test_quiet_sample_normalises_to_one(tmp_path, capsys):
    code = main(["simulate", "hahn", "--model", SIMPLE, *SMALL,
                 "--set", "environment.noise[0].sigma=0", "-o", str(tmp_path / "q.nc"),
                 "--json"])
    assert code == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["normalised_echo_amplitude"] == pytest.approx(1.0, abs=1e-12)


def test_bad_model_field_is_a_clean_error(tmp_path, capsys):
    code = main(["simulate", "hahn", "--model", SIMPLE, *SMALL,
                 "--set", "environment.noise[0].sigma=-1", "-o", str(tmp_path / "x.nc")])
    assert code == 2
    err = capsys.readouterr().err
    assert "environment.noise[0].sigma: must be >= 0, got -1" in err
    assert "Traceback" not in err


def test_missing_model_file(tmp_path, capsys):
    code = main(["simulate", "hahn", "--model", str(tmp_path / "none.toml"),
                 "-o", str(tmp_path / "x.nc")])
    assert code == 2


def test_workers_process_pool_matches_in_process(tmp_path, capsys):
    args = ["simulate", "hahn", "--model", SIMPLE, *SMALL, "--sweep", "tau=1us,2us", "--json"]
    assert main([*args, "-o", str(tmp_path / "a.nc")]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main([*args, "--workers", "2", "-o", str(tmp_path / "b.nc")]) == 0
    b = json.loads(capsys.readouterr().out)
    assert a == b


def test_scheduler_address_dask(tmp_path, capsys):
    distributed = pytest.importorskip("dask.distributed")
    args = ["simulate", "hahn", "--model", SIMPLE, *SMALL, "--sweep", "tau=1us,2us", "--json"]
    assert main([*args, "-o", str(tmp_path / "a.nc")]) == 0
    a = json.loads(capsys.readouterr().out)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert main([*args, "--scheduler", cluster.scheduler_address,
                     "-o", str(tmp_path / "b.nc")]) == 0
    assert json.loads(capsys.readouterr().out) == a


def test_python_api_with_sequence_sweep():
    import sequences
    from echo.modelfile import load_model
    from echo.simulate import simulate

    model = load_model(SIMPLE)
    from dataclasses import replace

    model = replace(model, ensemble=replace(model.ensemble, n_samples=100))
    seq = sequences.load("hahn")
    res = simulate(seq, model, values={"ideal": 1, "window": 0.2e-6},
                   sweep={"tau": [1e-6, 2e-6]})
    assert res.swept == ["tau"] and res.dataset.sizes["point"] == 2
    assert np.all((res.normalised > 0) & (res.normalised <= 1 + 1e-9))


def test_engines_run_single_schedule_matches_chunk_sum():
    """echo.simulate.run: one point, trace = volts_per_tau_z × ensemble mean ⟨τz⟩."""
    import math

    from fixtures_fast import schedule

    from echo.engines import fast
    from echo.model import Detection, Ensemble, Environment, Fixed, Gaussian
    from echo.simulate import run

    sch = schedule(2.2e-6, ideal=[(0.0, math.pi / 2, 0.0), (1e-6, math.pi, 0.0)],
                   windows=[(1.9e-6, 0.2e-6, "echo")])
    ens = Ensemble(Fixed(1e6), Gaussian(0.0, 2e5), n_samples=500, chunk_size=200, seed=4)
    det = Detection(sample_rate=1e8)
    res = run(sch, ens, Environment(), det, keep_tau_z=True)
    assert res.dataset.sizes["point"] == 1 and res.attrs["engine"] == "fast"
    t = res.times
    total, wsum = 0.0, 0.0
    for c in range(ens.n_chunks):  # no noise: the engine seed does not matter
        s, w = fast.simulate_chunk(sch, ens.chunk(c), Environment(), t, seed=0,
                                   moment=ens.moment_rad_per_tesla)
        total, wsum = total + s, wsum + w
    np.testing.assert_allclose(res.tau_z[0], total / wsum, rtol=0, atol=1e-13)
    want = det.volts_per_tau_z(ens) * total / wsum
    # relative 1e-13, and rounding of the chunk sums near a zero crossing (~1e-16 of the peak)
    np.testing.assert_allclose(res.trace[0].real, want, rtol=1e-13,
                               atol=1e-13 * float(np.max(np.abs(want))))


@pytest.mark.parametrize("flag", ["-o", "--plot"])
def test_missing_output_directory_is_a_clean_error_before_simulating(tmp_path, capsys, flag):
    bad = str(tmp_path / "no_such_dir" / "r.out")
    paths = {"-o": str(tmp_path / "r.nc"), "--plot": str(tmp_path / "r.png")}
    paths[flag] = bad
    code = main(["simulate", "hahn", "--model", SIMPLE, *SMALL, "-o", paths["-o"],
                 "--plot", paths["--plot"]])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{flag} {bad}: directory" in err and "does not exist" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r.nc").exists()  # nothing simulated or written


def test_output_that_is_a_directory_is_refused_before_simulating(tmp_path, capsys):
    code = main(["simulate", "hahn", "--model", SIMPLE, *SMALL, "-o", str(tmp_path)])
    assert code == 2
    assert f"-o {tmp_path}: is a directory" in capsys.readouterr().err


def test_plot_name_that_is_not_an_image_is_refused_before_simulating(tmp_path, capsys):
    code = main(["simulate", "hahn", "--model", SIMPLE, *SMALL, "-o", str(tmp_path / "r.nc"),
                 "--plot", str(tmp_path / "r.txt")])
    assert code == 2
    assert "not an image file name" in capsys.readouterr().err
    assert not (tmp_path / "r.nc").exists()


def test_unreachable_scheduler_is_a_clean_error(tmp_path, capsys):
    import socket

    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.distributed")
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["simulate", "hahn", "--model", SIMPLE, *SMALL, "--scheduler", address,
                     "-o", str(tmp_path / "x.nc")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"scheduler '{address}': cannot reach the Dask scheduler" in err
    assert "Traceback" not in err


def test_text_output_gives_swept_values_in_their_unit(tmp_path, capsys):
    code = main(["simulate", "hahn", "--model", SIMPLE, *SMALL, "--sweep", "tau=1us,3us",
                 "-o", str(tmp_path / "r.nc")])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("tau=1 µs: echo ") and lines[1].startswith("tau=3 µs: echo ")
