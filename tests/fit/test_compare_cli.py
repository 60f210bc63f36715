"""``spinecho compare --kind echo-decay|t1|chi`` (no sequence, no model) and argument
errors; the model kind is tested in test_engine_fit.py."""

from __future__ import annotations

import json

import numpy as np

from echo.fit import stretched_echo
from echo.fit.chi_fit import chi_model
from echo.fit.empirical import t1_recovery
from spinecho.cli import main


def _csv(path, header, x, y):
    path.write_text(header + "\n" + "\n".join(f"{a:.12g},{b:.12g}" for a, b in zip(x, y,
                                                                                 strict=True)))
    return path


def test_echo_decay_and_t1_kinds(tmp_path, capsys):
    rng = np.random.default_rng(0)
    tau = np.linspace(0.2, 20, 30)  # µs
    y = stretched_echo(tau * 1e-6, 1.0, 12e-6, 1.3, 0.05) + rng.normal(0, 0.01, 30)
    f = _csv(tmp_path / "decay.csv", "tau (us),signal (V)", tau, y)
    rc = main(["compare", str(f), "--kind", "echo-decay", "-o", str(tmp_path / "r1"),
               "--json"])
    s = json.loads(capsys.readouterr().out)
    assert rc == 0
    p = s["fits"]["echo decay A·exp(−(2τ/T_M)^n)+c"]["params"]
    assert abs(p["t_m"]["value"] - 12e-6) < 4 * p["t_m"]["stderr"]
    t = np.linspace(0, 5, 25)  # ms
    g = _csv(tmp_path / "t1.csv", "t (ms),signal",
             t, t1_recovery(t * 1e-3, 1.0, -1.0, 1e-3) + rng.normal(0, 0.01, 25))
    rc = main(["compare", str(g), "--kind", "t1", "-o", str(tmp_path / "r2")])
    out = capsys.readouterr().out
    assert rc == 0 and "t1" in out and "report:" in out
    assert (tmp_path / "r2" / "summary.json").exists()


def test_chi_kind_with_free_names(tmp_path, capsys):
    f_hz = np.linspace(1e6, 30e6, 40)
    y = chi_model(f_hz, 2e-3, 1.5e6, 1e-3)
    f = _csv(tmp_path / "chi.csv", "frequency (MHz),chi", f_hz / 1e6, y)
    rc = main(["compare", str(f), "--kind", "chi", "--fit", "fraction_a,delta0,lam",
               "-o", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert rc == 0, out
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    p = next(iter(s["fits"].values()))["params"]
    assert p["lam_prime"]["vary"] is False and p["lam"]["vary"] is True
    assert abs(p["delta0"]["value"] - 1.5e6) < 1e-3 * 1.5e6  # noise-free spectrum


def test_argument_errors_are_clean(tmp_path, capsys):
    f = _csv(tmp_path / "d.csv", "tau (us),signal", [1, 2, 3], [1.0, 0.5, 0.25])
    assert main(["compare", str(f), "-o", str(tmp_path / "r")]) == 2
    assert "--sequence, --model, --fit required" in capsys.readouterr().err
    assert main(["compare", str(f), str(f), "--kind", "t1", "-o", str(tmp_path / "r")]) == 2
    assert "one data file" in capsys.readouterr().err


def test_kind_that_does_not_fit_the_sweep_is_refused(tmp_path, capsys):
    # a tau sweep (s) fitted as chi''(f), or a spectrum (Hz) as an echo decay: refused, not
    # fitted into nonsense (a tau of µs read as a frequency of µHz)
    tau = _csv(tmp_path / "tau.csv", "tau (us),signal", [1, 2, 3, 4, 5], [1, .8, .6, .5, .4])
    assert main(["compare", str(tau), "--kind", "chi", "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"--kind chi needs a frequency sweep (Hz), but {tau} is a sweep of tau (s)" in err
    spec = _csv(tmp_path / "f.csv", "frequency (MHz),chi", [1, 2, 3, 4, 5], [1, 2, 3, 2, 1])
    assert main(["compare", str(spec), "--kind", "echo-decay", "-o", str(tmp_path / "r")]) == 2
    assert "needs a time sweep (s)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_hole_burning_runs_are_simulated_at_each_points_reference():
    """holeburn.seq declares f_ref = f_probe, so the procedure demodulates each point at
    its probe carrier; the simulation (and so compare) does the same, and leaves
    sequences without f_ref at the model's reference."""
    import numpy as np

    import sequences
    from echo.fit.loaders import from_arrays
    from echo.fit.model_fit import dataset_from_sequence
    from echo.model import Detection
    from echo.simulate import point_detection

    f_probe = np.array([4.0e6, 4.4e6, 4.8e6])
    data = from_arrays(f_probe, np.ones(3, complex), x_name="f_probe")
    hole = dataset_from_sequence(data, sequences.load("holeburn"), label="hole")
    tau = from_arrays(np.array([2e-6, 3e-6]), np.ones(2, complex), x_name="tau")
    hahn = dataset_from_sequence(tau, sequences.load("hahn"), label="hahn")
    det = Detection(reference_frequency=4.4e6)
    got = [point_detection(det, s).reference_frequency for s in hole.schedules]
    np.testing.assert_allclose(got, f_probe)
    assert all(point_detection(det, s) is det for s in hahn.schedules)
