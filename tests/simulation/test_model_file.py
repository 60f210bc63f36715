"""TOML model files: every distribution kind, the examples, and errors that name the
field and the value."""

from pathlib import Path

import numpy as np
import pytest

from echo.model import Gaussian, LogNormal, ModelError, Samples, Tabulated, Uniform
from echo.modelfile import load_model, parse_model

ROOT = Path(__file__).resolve().parents[2]
BASE = """
[ensemble]
n_samples = 100
delta0 = 1e6
bias = {bias}
"""


def _bias(text):
    return parse_model(BASE.format(bias=text)).ensemble.bias


@pytest.mark.parametrize("name", ["simple.toml", "ferritin.toml"])
def test_examples_load(name):
    m = load_model(ROOT / "examples" / name)
    assert m.ensemble.n_samples >= 1000
    assert len(m.ensemble.chunk(0)) == min(m.ensemble.chunk_size, m.ensemble.n_samples)
    assert m.environment.noise  # both examples have bias noise


def test_distribution_kinds():
    assert isinstance(_bias('{ kind = "gaussian", mean = 0, std = 1e5 }'), Gaussian)
    assert isinstance(_bias('{ kind = "lognormal", median = 1e5, sigma_ln = 0.2 }'), LogNormal)
    assert isinstance(_bias('{ kind = "uniform", low = -1, high = 1 }'), Uniform)
    s = _bias('{ kind = "samples", values = [1.0, 2.0], weights = [1, 3] }')
    assert isinstance(s, Samples) and s.weights == (1.0, 3.0)
    assert isinstance(_bias('{ kind = "tabulated", x = [0, 1, 2], pdf = [0, 1, 0] }'),
                      Tabulated)
    assert _bias("3.5").value == 3.5


def test_spinbath_matches_theory_density():
    from echo.theory import BiasDensity

    t = _bias('{ kind = "spinbath", n_nuclei = 100, omega0 = 5e7, delta_omega = 5e5, '
              'extra_width = 2e7 }')
    bd = BiasDensity(n_nuclei=100, omega0=5e7, delta_omega=5e5, extra_width=2e7)
    x = np.asarray(t.x)
    np.testing.assert_allclose(np.asarray(t.pdf), bd.pdf(x), rtol=1e-12, atol=0)
    # sampled draws: mean 0 and std of the envelope within 4 standard errors
    vals, _ = t.draw(np.random.default_rng(0), 20000)
    sd = float(np.sqrt(np.trapezoid(x**2 * t.pdf, x) / np.trapezoid(t.pdf, x)))
    assert abs(vals.mean()) < 4 * sd / np.sqrt(20000)


@pytest.mark.parametrize("text, message", [
    ("[ensemble]\nbias = 0\n", "ensemble.delta0: missing field"),
    ("[ensemble]\ndelta0 = 1e6\n", "ensemble.bias: missing field"),
    (BASE.format(bias='{ kind = "cauchy", x0 = 0 }'),
     "ensemble.bias.kind: unknown distribution 'cauchy'"),
    (BASE.format(bias='{ kind = "gaussian", mean = 0 }'), "ensemble.bias.std: missing field"),
    (BASE.format(bias='{ kind = "gaussian", mean = 0, std = -2 }'),
     "ensemble.bias.std: must be >= 0, got -2"),
    (BASE.format(bias='{ kind = "gaussian", mean = nan, std = 2 }'),
     "ensemble.bias.mean: must be finite, got nan"),
    (BASE.format(bias='{ kind = "samples", values = [1, "a"] }'),
     "ensemble.bias.values[1]: expected a number, got 'a'"),
    (BASE.format(bias="0") + '[[environment.noise]]\nkind = "ou"\nsigma = -1\ntau_c = 1e-6\n',
     "environment.noise[0].sigma: must be >= 0, got -1"),
    (BASE.format(bias="0") + '[[environment.noise]]\nkind = "pink"\n',
     "environment.noise[0].kind: unknown noise process 'pink'"),
    (BASE.format(bias="0") + "[environment]\nt1 = -1e-3\n",
     "environment.t1: must be > 0, got -0.001"),
    (BASE.format(bias="0") + "[environment]\nt_2 = 1\n", "environment.t_2: unknown field"),
    (BASE.format(bias="0") + '[detection]\nkind = "antenna"\n',
     "detection.kind: must be one of 'squid', 'coil', 'quadrature', got 'antenna'"),
    (BASE.format(bias="0").replace("n_samples = 100", "n_samples = 1.5"),
     "ensemble.n_samples: must be an integer, got 1.5"),
    ("[ensemble\n", "not valid TOML"),
])
def test_errors_name_field_and_value(text, message):
    with pytest.raises(ModelError) as info:
        parse_model(text)
    assert message in str(info.value)


def test_toml_syntax_error_is_located(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text("[ensemble]\nn_samples = 2000 = 3\n")
    for load in (load_model, lambda q: parse_model(q.read_text(), str(q))):
        with pytest.raises(ModelError) as info:
            load(p)
        assert str(info.value).startswith(f"{p}:2:18: not valid TOML: ")
        assert str(info.value).endswith("\n    n_samples = 2000 = 3\n                     ^")


def test_non_utf8_model_file_is_a_model_error(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(b"# caf\xe9\n[ensemble]\n")
    with pytest.raises(ModelError, match=r"latin1\.toml: not a UTF-8 text file"):
        load_model(p)


def test_temperature_inf_and_omitted(tmp_path):
    """temperature omitted → None (T → 0); `inf` → an unpolarised bath; negative → error."""
    import math

    from echo.modelfile import load_model

    base = "[ensemble]\ndelta0 = 1e6\nbias = 0.0\n"
    p = tmp_path / "m.toml"
    p.write_text(base)
    assert load_model(p).environment.temperature is None
    p.write_text(base + "[environment]\ntemperature = inf\n")
    assert load_model(p).environment.temperature == math.inf
    p.write_text(base + "[environment]\ntemperature = -1.0\n")
    with pytest.raises(ModelError, match="environment.temperature"):
        load_model(p)
