"""Moment per grain (echo vs susceptibility) and the report writer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from echo.fit import FitError, fit_echo_decay, stretched_echo
from echo.fit.fitresult import FitResult, ParamValue
from echo.fit.moment import (
    K_B,
    compare_moments,
    moment_from_echo,
    moment_from_fit,
    moment_from_susceptibility,
)
from echo.fit.report import write_report
from sequences.units import MU_B


def _fake_fit(a, sa):
    return FitResult("f", {"amplitude": ParamValue("amplitude", a, sa)}, True, "", 0, 0, 1,
                     1, 1)


def test_moment_from_fit_divides_by_n_and_adds_errors_in_quadrature():
    m = moment_from_fit(_fake_fit(2e6, 2e4), 1e4, n_grains_stderr=200,
                        calibration_rel_stderr=0.0)
    assert m.value == pytest.approx(200.0)
    # relative errors 1 % and 2 % in quadrature: √5 %
    assert m.stderr == pytest.approx(200.0 * math.sqrt(0.01**2 + 0.02**2))


def test_moment_from_echo_inverts_the_squid_chain():
    # V = (V/Φ0)(Φ0/μB) N gS e with gS = 300 μB, N = 1e6, e = 0.1
    v = 2.0 * 1e-6 * 1e6 * 300 * 0.1
    m = moment_from_echo(v, 0.01 * v, echo_per_tau_z=0.1, n_grains=1e6, volts_per_flux=2.0,
                         flux_per_moment=1e-6)
    assert m.value == pytest.approx(300.0)
    assert m.stderr == pytest.approx(3.0)


def test_susceptibility_curie_law_inverse():
    mu = 250 * MU_B
    n, t = 1e12, 2.0
    chi = n * mu**2 / (3 * K_B * t)  # isotropic Curie law
    m = moment_from_susceptibility(chi, 0.04 * chi, temperature=t, n_grains=n)
    assert m.value == pytest.approx(250.0)
    assert m.stderr == pytest.approx(250.0 * 0.02)  # μ ∝ χ^{1/2}: half the relative error
    ising = moment_from_susceptibility(chi, 0, temperature=t, n_grains=n, geometry="ising")
    assert ising.value == pytest.approx(250.0 / math.sqrt(3))  # χ = Nμ²/kT


def test_compare_verdicts():
    e = moment_from_fit(_fake_fit(3e6, 3e4), 1e4)  # 300 ± 3
    assert compare_moments(e, 303.0, 3.0).verdict == "consistent"  # 0.7σ
    assert compare_moments(e, 310.5, 3.0).verdict == "tension"  # 2.5σ
    c = compare_moments(e, 330.0, 3.0)
    assert c.verdict == "inconsistent" and c.z == pytest.approx(30 / math.hypot(3, 3))
    assert "inconsistent" in c.text()


def test_moment_input_errors():
    with pytest.raises(FitError, match="n_grains: must be > 0"):
        moment_from_fit(_fake_fit(1.0, 0.1), 0)
    with pytest.raises(FitError, match="'amplitude' as a free parameter"):
        moment_from_fit(FitResult("f", {}, True, "", 0, 0, 1, 1, 1), 1)
    with pytest.raises(FitError, match="geometry"):
        moment_from_susceptibility(1, 0, temperature=1, n_grains=1, geometry="cubic")


def test_report_files(tmp_path):
    rng = np.random.default_rng(2)
    tau = np.linspace(0.2e-6, 20e-6, 30)
    y = (stretched_echo(tau, 1e-3, 10e-6, 1.2, 0.0) + rng.normal(0, 1e-5, 30)) * np.exp(0.2j)
    good = fit_echo_decay(tau, y, sigma=1e-5)
    bad = fit_echo_decay(np.linspace(1e-3, 2e-3, 10), rng.normal(0, 1e-6, 10))
    files = write_report({"good": good, "bad": bad}, tmp_path / "rep",
                         extra={"note": "x"})
    for p in files.values():
        assert p.exists() and p.stat().st_size > 200
    summary = json.loads(files["json"].read_text())
    assert summary["fits"]["good"]["success"] is True
    assert summary["fits"]["bad"]["success"] is False
    assert summary["note"] == "x"
    assert set(summary["fits"]["good"]["params"]) == {"amplitude", "t_m", "stretch",
                                                      "baseline"}
    text = files["table"].read_text()
    assert "NOT CONVERGED" in text and "t_m" in text


def test_long_fit_titles_are_wrapped_to_the_figure_width():
    # 12 characters per inch at 9 pt: a 5.2-inch panel holds 62 per line; nothing is lost
    from echo.fit.report import wrap_title

    text = "Hahn echo: measured (virtual lab) vs simulated — converged, reduced χ² = 0.00202"
    lines = wrap_title(text, 5.2).splitlines()
    assert len(lines) == 2 and all(len(line) <= 62 for line in lines)
    assert " ".join(lines) == text
    assert wrap_title("model fit — converged", 5.2) == "model fit — converged"
