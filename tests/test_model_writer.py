"""The model-file writer (echo.modelfile.write_model, built on tomli_w): writing a model
and loading the file gives the same Model, every key included (issue 10: the demo's
hand-written TOML writer dropped every noise process but one kind, rules and points)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from echo.model import (
    Detection,
    Ensemble,
    Environment,
    Gaussian,
    LogNormal,
    Model,
    OrnsteinUhlenbeck,
    Samples,
    Telegraph,
    Uniform,
)
from echo.modelfile import load_model, model_to_toml, parse_model, write_model
from echo.rules import GrainTable

ROOT = Path(__file__).resolve().parents[1]


def _every_key() -> Model:
    ens = Ensemble(LogNormal(1.1e6, 0.1, rule="quadrature", points=7),
                   Gaussian(0.0, 4e5, rule="quadrature", points=5), spin=200.0, g=2.1,
                   n_grains=3e9, seed=12, chunk_size=4096, batches=2)
    env = Environment(t1=2e-3, t_phi=7e-5, drive_coupling="x", measurement_rate=12.5,
                      temperature=math.inf,
                      noise=(OrnsteinUhlenbeck(1.5e5, 2e-6), Telegraph(1e4, 3e5),
                             OrnsteinUhlenbeck(2e3, 1e-3)))
    det = Detection(kind="coil", flux_per_moment=5e-12, volts_per_flux=0.7, noise_rms=0.05,
                    sample_rate=2.5e8, reference_frequency=4.4e6, demod_bandwidth=1e6,
                    seed=9)
    return Model(ens, env, det)


@pytest.mark.parametrize("model", [
    _every_key(),
    Model(Ensemble(Uniform(1e6, 2e6, rule="qmc"), Samples((0.0, 1e5, 3e5), (1.0, 2.0, 1.0)),
                   n_samples=64, seed=3), Environment(temperature=0.03)),
    Model(Ensemble(grains=GrainTable((1e6, 1.2e6), (0.0, 2e5), (0.25, 0.75)), batches=3)),
], ids=["every-key", "qmc-samples", "grain-table"])
def test_write_then_load_gives_the_same_model(model, tmp_path):
    path = write_model(model, tmp_path / "m.toml", header="a written model\n\nline 3")
    back = load_model(path)
    assert back == model
    assert back.to_dict() == model.to_dict()  # n_samples and batches as well
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# a written model\n#\n# line 3\n")
    tomllib.loads(text)  # plain TOML


def test_every_noise_process_rule_and_field_is_in_the_file():
    data = tomllib.loads(model_to_toml(_every_key()))
    noise = data["environment"]["noise"]
    assert [n["kind"] for n in noise] == ["ou", "telegraph", "ou"]
    assert noise[1] == {"kind": "telegraph", "amplitude": 1e4, "rate": 3e5}
    assert data["ensemble"]["delta0"] == {"kind": "lognormal", "median": 1.1e6,
                                          "sigma_ln": 0.1, "rule": "quadrature", "points": 7}
    assert data["environment"]["temperature"] == math.inf
    assert data["detection"]["kind"] == "coil" and data["detection"]["demod_bandwidth"] == 1e6
    assert "n_samples" not in data["ensemble"]  # a quadrature grid: derived again


@pytest.mark.parametrize("name", ["simple", "holeburn", "ferritin", "spinbath_channels"])
def test_example_model_files_round_trip(name):
    """The shipped model files, the hole-burning sample's detection (its reference
    frequency) and a spin-bath W(ε) (written as the table it was read as) included."""
    model = load_model(ROOT / "examples" / f"{name}.toml")
    assert parse_model(model_to_toml(model)) == model


def test_the_demo_truth_model_round_trips():
    from echo.modelfile import model_from_dict
    from spinecho.demo import truth_tables

    model = model_from_dict(truth_tables(300, seed=4))
    assert parse_model(model_to_toml(model)) == model
