"""``spinecho theory …`` through spinecho.cli.main, output captured."""

import json
import math

import numpy as np
import pytest

from echo.theory import eq7_chi, odd_bessel_sum
from spinecho.cli import main


def test_budget_ferritin_table(capsys):
    assert main(["theory", "budget", "--preset", "ferritin"]) == 0
    out = capsys.readouterr().out
    for word in ("degeneracy blocking", "nuclear co-flipping", "nuclear spin diffusion",
                 "paramagnetic impurities", "Eq. 10", "Eq. 11", "Eq. 12", "phonons",
                 "condition for coherence", "verdict:", "isotopic purification",
                 "insulating substrate", "paramagnetic impurities"):
        assert word in out, word
    assert "PASS" in out and "MARGINAL" in out


def test_budget_json(capsys):
    assert main(["theory", "budget", "--preset", "tb-grain", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"].startswith("NO COHERENCE")
    assert len(data["rows"]) == 8
    assert {"mechanism", "coupling", "condition", "status", "margin"} <= set(data["rows"][0])


def test_budget_model_file_and_errors(tmp_path, capsys):
    good = tmp_path / "g.toml"
    good.write_text("[grain]\nspin = 50\ndelta0_hz = 1e6\nomega_bare_hz = 1e10\n"
                    "[nuclei]\nn = 0\nomega0_hz = 1e7\nspread_hz = 1e5\n"
                    "[environment]\ntemperature_k = 0.02\n")
    assert main(["theory", "budget", "--model", str(good)]) == 0
    capsys.readouterr()
    bad = tmp_path / "b.toml"
    bad.write_text(good.read_text().replace("n = 0", "n = -1"))
    assert main(["theory", "budget", "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "nuclei.n" in err and "Traceback" not in err
    assert main(["theory", "budget", "--preset", "copper"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["theory", "budget", "--model", str(tmp_path / "missing.toml")]) == 2


def test_chi_json_is_eq7_at_lambda_zero(capsys):
    assert main(["theory", "chi", "--lam", "0", "--omega", "4.5,6,10", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["omega"] for d in data] == [4.5, 6.0, 10.0]
    got = np.array([d["chi_over_A"] for d in data])
    assert np.allclose(got, eq7_chi(np.array([4.5, 6.0, 10.0])), rtol=1e-12)


def test_chi_table_and_lambda_prime(capsys):
    assert main(["theory", "chi", "--lam", "3", "--lam-prime", "1", "--omega", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "chi_over_A" in out and len(out.strip().splitlines()) == 4


def test_pt_json_is_bessel_series_at_lambda_zero(capsys):
    assert main(["theory", "pt", "--lam", "0", "--t", "0.25,1,3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    t = np.array([d["t"] for d in data])
    got = np.array([d["one_minus_p_over_A"] for d in data])
    assert np.allclose(got, 2 * odd_bessel_sum(4 * t), rtol=1e-12)


@pytest.mark.parametrize("argv,needle", [
    (["theory", "chi", "--lam", "-1", "--omega", "1"], "--lam"),
    (["theory", "chi", "--lam", "1", "--lam-prime", "2", "--omega", "1"], "--lam-prime"),
    (["theory", "chi", "--lam", "1", "--omega", "1,abc"], "--omega"),
    (["theory", "chi", "--lam", "nan", "--omega", "1"], "--lam"),
    (["theory", "pt", "--lam", "1", "--t", "-3"], "--t"),
])
def test_bad_arguments_exit_2(capsys, argv, needle):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_figure1_writes_png(tmp_path, capsys, monkeypatch):
    # a coarse grid keeps the test fast; the full figure is timed in the report
    import echo.theory.figure as fig

    original = fig.figure1_data
    monkeypatch.setattr(fig, "figure1_data", lambda: original(n_points=60))
    out = tmp_path / "fig1.png"
    assert main(["theory", "figure1", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out
    assert math.isfinite(out.stat().st_size)


def test_figure1_rejects_a_non_image_name_before_drawing(tmp_path, capsys):
    out = tmp_path / "fig1.txt"
    assert main(["theory", "figure1", "-o", str(out)]) == 2
    assert "not an image file name" in capsys.readouterr().err and not out.exists()
