"""The remaining reproductions of issue 10 as tests: one reduction of a measured and a
simulated record, one set of simulate defaults, one model reader, the demo's library
pieces checked against closed forms."""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path

import numpy as np
import pytest

from sequences.schedule import Channel, DetectionWindow, Schedule

ROOT = Path(__file__).resolve().parents[1]


def _two_window_schedule():
    adc = (Channel("adc", "detector"),)
    wins = (DetectionWindow("adc", 1e-6, 1e-6, "ref"), DetectionWindow("adc", 3e-6, 1e-6,
                                                                         "echo"))
    return Schedule(adc, windows=wins, duration=5e-6, receiver=(1, -1))


def test_measured_and_simulated_records_reduce_alike():
    """The echo window (labelled 'echo' = window 1 here), demodulation and the phase-cycle
    sum of the measurement procedure (instruments.readout) and of a result
    (echo.result.build_result) are one: the same volts give the same echo amplitude, and
    it is the closed form."""
    from echo.result import build_result
    from instruments.readout import reduce_records

    s = _two_window_schedule()
    f = 4e6
    t = np.arange(5000) * 1e-9  # 1 GSa/s over the 5 µs shot
    a0, phi = 0.3, 0.7  # the echo: a0·cos(2πft + φ) in window 1, opposite sign on step 2
    v = np.where((t >= 3e-6) & (t < 4e-6), a0 * np.cos(2 * np.pi * f * t + phi), 0.01)
    volts = np.stack([v, -v])
    times, widx, trace, amp = reduce_records(s, t, volts, f)
    assert set(np.unique(widx)) == {0, 1} and times.size == 2000
    assert amp == pytest.approx(a0 * np.exp(1j * phi), abs=1e-9)  # whole periods
    res = build_result(schedules=[s], times=[times], window_index=[widx], trace=[trace])
    assert complex(res.amplitude[0]) == pytest.approx(amp, abs=1e-12)


def test_the_simulate_entry_points_share_their_defaults():
    """echo.simulate.run / simulate / simulate_schedules, spinecho.simulate and the engine
    front end agree on engine, frame, initial state, keep_tau_z and max_error."""
    import spinecho
    from echo.engines.frontend import RunSettings
    from echo.simulate import run, simulate, simulate_schedules

    shared = {"engine": "fast", "frame": RunSettings().frame,
              "initial": RunSettings().initial, "keep_tau_z": False}
    for fn in (run, simulate, simulate_schedules, spinecho.simulate):
        sig = inspect.signature(fn).parameters
        for name, want in shared.items():
            assert sig[name].default == want, (fn.__module__, fn.__name__, name)
    assert inspect.signature(spinecho.simulate).parameters["max_error"].default == \
        RunSettings().max_error


def _defs(name: str) -> list[str]:
    out = []
    for pkg in ("echo", "instruments", "sequences"):
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            out += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in ast.walk(tree)
                    if isinstance(n, ast.FunctionDef) and n.name == name]
    return out


def test_one_model_reader():
    """Two load_model and three model_from_dict were reported: the libraries now hold one
    of each (spinecho.load_model is the API's face of the same reader)."""
    assert [d.split(":")[0] for d in _defs("model_from_dict")] == ["echo/modelfile.py"]
    assert [d.split(":")[0] for d in _defs("load_model")] == ["echo/modelfile.py"]
    import spinecho
    from echo.modelfile import load_model

    p = ROOT / "examples" / "simple.toml"
    assert spinecho.load_model(p) == load_model(p)


def test_spectrum_hole_closed_form():
    """A Gaussian hole of depth 0.4 and FWHM 200 kHz in a flat 1 V line."""
    from echo.hole.analysis import spectrum_hole

    f = np.linspace(4.0e6, 4.8e6, 801)
    sd = 200e3 / (2 * math.sqrt(2 * math.log(2)))
    hole = 0.4 * np.exp(-0.5 * ((f - 4.4e6) / sd) ** 2)
    h = spectrum_hole(f, 1.0 - hole, np.ones_like(f), 4.4e6)
    assert h["depth"] == pytest.approx(0.4, abs=1e-12)
    assert h["peak_hz"] == pytest.approx(4.4e6)
    assert h["fwhm_hz"] == pytest.approx(200e3, rel=1e-3)


def test_curie_susceptibility_closed_form_and_inverse():
    """χ = N μ² / (3 k_B T) with CODATA constants; moment_from_susceptibility inverts it."""
    from scipy.constants import k, physical_constants

    from echo.fit.moment import curie_susceptibility, moment_from_susceptibility

    mu_b = physical_constants["Bohr magneton"][0]
    chi = curie_susceptibility(400.0, temperature=2.0, n_grains=1e9)
    assert chi == pytest.approx(1e9 * (400 * mu_b) ** 2 / (3 * k * 2.0), rel=1e-12)
    back = moment_from_susceptibility(chi, 0.0, temperature=2.0, n_grains=1e9)
    assert back.value == pytest.approx(400.0, rel=1e-12)
    assert curie_susceptibility(400.0, temperature=2.0, n_grains=1e9, geometry="ising") == \
        pytest.approx(3 * chi, rel=1e-12)
