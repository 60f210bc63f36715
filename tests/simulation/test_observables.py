"""``spinecho simulate --observables``: the Bloch vector in the lab frame, the static
eigenbasis and the frame rotating at the carrier, and the quadrature (I/Q) detector.

The reference is an exact Bloch-matrix solution written here, independently of the
engines: per grain, in its static eigenbasis, ideal rotations (Rodrigues, right-handed,
about the azimuth φ + 2πf·t_c of the pulse centre t_c, the carrier-phase convention of
sequences.bind) and free evolution x' + iy' → (x' + iy') e^{2iEt − t/Tφ}; the rotating
frame multiplies by e^{−iωt}. The grains are an explicit weighted table (CSV), so the
ensemble mean is a finite weighted sum. Tolerance 1e-7: ideal pulses are exact and a
dissipative quiet delay is an exact matrix exponential (error < 1e-12 per step), so only
rounding remains."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from echo.result import EchoResult
from spinecho.cli import main

TWO_PI = 2 * math.pi
GRAINS = [  # Δ0 (Hz), ε (Hz), weight
    (1.0e6, 0.0, 1.0), (1.0e6, 0.2e6, 2.0), (1.0e6, -0.3e6, 1.5), (1.05e6, 0.1e6, 0.5)]
F, TAU, T90, T180, T_PHI = 4e6, 1e-6, 100e-9, 200e-9, 2e-6


def _rot(axis, angle):
    n = np.asarray(axis, float)
    k = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _exact_rotating(times, step):
    """Σ w (σ̃x + iσ̃y) / Σ w of the Hahn echo, phase-cycle step ``step``."""
    t1, t2 = T90 / 2, T90 / 2 + TAU  # pulse centres
    phase90 = (0.0, math.pi)[step]
    out = np.zeros(times.size, complex)
    wsum = 0.0
    for d0, eps, w in GRAINS:
        delta, e = 2 * TWO_PI * d0, TWO_PI * eps  # Δ = 2Δ0 cos πS, S = 100
        en = math.hypot(delta, e)
        r = np.array([0.0, 0.0, -1.0])  # ground state (T = 0)

        def pulse(r, t, angle, phi):
            a = phi + TWO_PI * F * t
            return _rot((math.cos(a), math.sin(a), 0.0), angle) @ r

        def free(r, dt, en=en):
            c = (r[0] + 1j * r[1]) * np.exp(2j * en * dt - dt / T_PHI)
            return np.array([c.real, c.imag, r[2]])

        r = pulse(r, t1, math.pi / 2, phase90)
        r = free(r, t2 - t1)
        r = pulse(r, t2, math.pi, 0.0)
        for i, t in enumerate(times):
            q = free(r, t - t2)
            out[i] += w * (q[0] + 1j * q[1]) * np.exp(-1j * TWO_PI * F * t)
        wsum += w
    return out / wsum


@pytest.fixture
def model(tmp_path):
    (tmp_path / "grains.csv").write_text(
        "delta0,bias,weight\n" + "".join(f"{a},{b},{c}\n" for a, b, c in GRAINS))
    path = tmp_path / "model.toml"
    path.write_text(f'[ensemble]\ngrains = "grains.csv"\n[environment]\nt_phi = {T_PHI}\n'
                    f"[detection]\nsample_rate = 50e6\nreference_frequency = {F}\n")
    return path


@pytest.mark.parametrize("frame", ["lab", "rwa"])
def test_rotating_frame_hahn_echo_matches_exact_bloch_solution(model, tmp_path, capsys, frame):
    out = tmp_path / "r.nc"
    code = main(["simulate", "hahn", "--model", str(model), "--set", "ideal=1",
                 "--set", "tau=1us", "--observables", "--frame", frame, "-o", str(out),
                 "--json"])
    assert code == 0
    row = json.loads(capsys.readouterr().out)[0]
    res = EchoResult.load(out)
    ds = res.dataset
    assert float(ds["rotating_frequency"].values[0]) == F
    times = res.times
    b = ds["bloch_rotating"].values[0]  # (step, axis, time)
    worst = 0.0
    for step in range(2):
        want = _exact_rotating(times, step)
        got = b[step, 0] + 1j * b[step, 1]
        np.testing.assert_allclose(np.abs(got), np.abs(want), rtol=0, atol=1e-7)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)  # phases agree too
        worst = max(worst, float(np.max(np.abs(got - want))))
    print(f"\nmax |Δ(σx + iσy)| = {worst:.2e}, echo |⟨σx⟩+i⟨σy⟩| = "
          f"{row['rotating_transverse_echo']['abs']:.6f}")
    # a deterministic table without noise: exactly zero standard error
    assert np.all(ds["bloch_rotating_stderr"].values == 0)
    # lab and eigen frames are consistent with the rotating one and with ⟨τz⟩
    lab, eig = ds["bloch_lab"].values[0], ds["bloch_eigen"].values[0]
    np.testing.assert_allclose(np.hypot(eig[:, 0], eig[:, 1]), np.hypot(b[:, 0], b[:, 1]),
                               atol=1e-12)
    np.testing.assert_allclose(eig[:, 1], lab[:, 1], atol=0)  # σy' = τy
    norms = np.linalg.norm(lab, axis=1)
    assert np.all(norms <= 1 + 1e-12)


def test_quadrature_detector_is_the_rotating_frame_transverse_vector(model, tmp_path):
    text = model.read_text().replace("[detection]\n", '[detection]\nkind = "quadrature"\n')
    model.write_text(text)
    out = tmp_path / "q.nc"
    assert main(["simulate", "hahn", "--model", str(model), "--set", "ideal=1",
                 "--set", "tau=1us", "--observables", "-o", str(out)]) == 0
    ds = EchoResult.load(out).dataset
    b = ds["bloch_rotating"].values[0]
    volts = 200.0 * 1e-3  # n_grains · g · S · flux_per_moment · volts_per_flux
    np.testing.assert_allclose(ds["trace"].values[0], volts * (b[:, 0] + 1j * b[:, 1]),
                               atol=1e-15)


def test_observables_need_the_fast_engine(model, tmp_path, capsys):
    code = main(["simulate", "hahn", "--model", str(model), "--set", "ideal=1",
                 "--engine", "qutip", "--observables", "-o", str(tmp_path / "x.nc")])
    assert code != 0
    assert "Bloch" in capsys.readouterr().err
