"""The decoherence budget: presets, rows, verdicts and model-file errors."""

import math
from dataclasses import replace

import pytest

from echo.model import ModelError
from echo.theory import PRESETS, decoherence_budget, load_grain_model, load_preset
from echo.theory.budget import grain_model_from_dict

MECHANISMS = ("degeneracy blocking", "nuclear co-flipping", "nuclear spin diffusion",
              "paramagnetic impurities", "electrons: metal grain, metal substrate",
              "electrons: insulating grain, metal substrate",
              "electrons: metal grain, insulating substrate", "phonons")

GOOD = """
name = "test"
[grain]
spin = 100
delta0_hz = 1e6
omega_bare_hz = 4e10
[nuclei]
n = 100
omega0_hz = 5e7
spread_hz = 1e6
[environment]
temperature_k = 0.05
"""


def test_every_preset_has_every_mechanism():
    for name in PRESETS:
        b = decoherence_budget(load_preset(name))
        assert tuple(r.mechanism for r in b.rows) == MECHANISMS
        assert all(r.status in ("pass", "marginal", "fail", "warn", "unknown", "n/a", "info")
                   for r in b.rows)


def test_ferritin_verdict():
    # λ ≪ 1 passes; spin diffusion is marginal (Δ0/(T2⁻¹N^{1/3}) = 1.95 with the preset's
    # T2⁻¹ = 30 kHz); impurity count unknown → warning; electrons n/a (insulating).
    b = decoherence_budget(load_preset("ferritin"))
    status = {r.mechanism: r.status for r in b.rows}
    assert status["nuclear co-flipping"] == "pass"
    assert status["nuclear spin diffusion"] == "marginal"
    assert status["paramagnetic impurities"] == "warn"
    assert status["electrons: metal grain, metal substrate"] == "n/a"
    assert b.verdict.startswith("COHERENCE NOT ASSURED")
    sd = next(r for r in b.rows if r.mechanism == "nuclear spin diffusion")
    assert sd.margin == pytest.approx(1e6 / (3e4 * 5000 ** (1 / 3)), rel=1e-9)


def test_tb_grain_fails_by_coflipping():
    b = decoherence_budget(load_preset("tb-grain"))
    status = {r.mechanism: r.status for r in b.rows}
    assert status["nuclear co-flipping"] == "fail"
    assert b.verdict.startswith("NO COHERENCE")
    assert any("isotopic purification" in r for r in b.remedies)


def test_clean_grain_is_coherent():
    # Purified: few nuclei, slow diffusion, no impurities, insulating everything.
    m = replace(load_preset("ferritin"), n_protons=0, t2_inverse_hz=1e2,
                paramagnetic_impurities=0)
    b = decoherence_budget(m)
    assert b.verdict.startswith("COHERENCE POSSIBLE"), b.format_table()


def test_conducting_substrate_calls_for_insulating_substrate():
    m = replace(load_preset("tb-grain"), substrate_conducting=True)
    b = decoherence_budget(m)
    row = next(r for r in b.rows if r.reference == "Eq. 10")
    assert row.status == "fail"
    assert "an insulating substrate" in b.remedies


def test_odd_n_separated_is_blocked_footnote_13():
    m = replace(load_preset("ferritin"), n_nuclei=101, n_protons=0, spread_hz=1e5,
                temperature_k=1.0)
    row = decoherence_budget(m).rows[0]
    assert row.status == "fail" and "footnote 13" in row.note


def test_half_integer_spin_cannot_tunnel():
    row = decoherence_budget(replace(load_preset("ferritin"), spin=200.5)).rows[0]
    assert row.status == "fail" and "half-integer" in row.note


def test_budget_json_roundtrip_fields():
    d = decoherence_budget(load_preset("ferritin")).to_dict()
    assert set(d) == {"model", "rows", "verdict", "reasons", "remedies", "paper_prescription"}
    assert d["model"]["n_nuclei"] == 100
    assert any("insulating substrate" in r for r in d["paper_prescription"])


def test_model_file_loads(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text(GOOD)
    m = load_grain_model(p)
    assert m.spin == 100 and m.n_nuclei == 100 and m.name == "test"
    assert m.coflip_lambda == pytest.approx(100 * math.pi**2 * (5e7 / 4e10) ** 2 / 4)


@pytest.mark.parametrize("old,new,field", [
    ("\nn = 100", "\nn = -4", "nuclei.n"),
    ("spin = 100", "spin = nan", "grain.spin"),
    ("spin = 100", "spin = 0", "grain.spin"),
    ("spin = 100", "spin = -2", "grain.spin"),
    ("spin = 100", 'spin = "big"', "grain.spin"),
    ("\nn = 100", "\nn = 10.5", "nuclei.n"),
    ("temperature_k = 0.05", "temperature_k = inf", "environment.temperature_k"),
    ("spread_hz = 1e6", "spread_hz = 1e6\nspred = 3", "nuclei.spred"),
    ("[environment]", "[enviroment]", "enviroment"),
    ("delta0_hz = 1e6", "delta0_hz = 1e11", "grain.delta0_hz"),
    ("omega0_hz = 5e7\n", "", "nuclei.omega0_hz"),
])
def test_bad_model_names_the_field(tmp_path, old, new, field):
    p = tmp_path / "bad.toml"
    assert old in GOOD
    p.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ModelError, match=field.replace(".", r"\.")) as info:
        load_grain_model(p)
    assert "bad.toml" in str(info.value)


def test_invalid_toml_and_unknown_preset(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("[grain\nspin = 1")
    with pytest.raises(ModelError, match="not valid TOML") as info:
        load_grain_model(p)
    assert str(info.value).startswith(f"{p}:1:7: not valid TOML: ")  # file:line:column
    with pytest.raises(ModelError, match="preset"):
        load_preset("gold-grain")
    with pytest.raises(ModelError, match="lambda_prime"):
        grain_model_from_dict({**_parsed(), "nuclei": {**_parsed()["nuclei"], "lambda": 1.0,
                                                 "lambda_prime": 2.0}})


def _parsed():
    import tomllib

    return tomllib.loads(GOOD)


def test_simulation_model_file_is_told_apart():
    # examples/ferritin.toml is a simulation model (echo.modelfile), not a grain model:
    # the error says so and points at the budget's own format
    from pathlib import Path

    sim = Path(__file__).resolve().parents[2] / "examples" / "ferritin.toml"
    with pytest.raises(ModelError, match="ensemble: unknown table") as info:
        load_grain_model(sim)
    assert "ferritin.toml" in str(info.value)
    assert "simulation model file" in str(info.value) and "--preset" in str(info.value)


@pytest.mark.parametrize("section, key, value, text", [
    ("grain", "spin", -1, "grain.spin: must be > 0, got -1"),
    ("grain", "conducting", "yes", "grain.conducting: expected true or false, got 'yes'"),
    ("nuclei", "n", 10.5, "nuclei.n: must be an integer, got 10.5 (allowed: >= 0)"),
    ("nuclei", "lambda", -1, "nuclei.lambda: must be >= 0, got -1"),
    ("nuclei", "spred", 3, "nuclei.spred: unknown field (allowed: diffusion_n, "
                           "diffusion_spread_hz, lambda, lambda_prime, n, n_protons, "
                           "omega0_hz, proton_coupling_hz, spread_hz, t2_inverse_hz)"),
    ("environment", "temperature_k", math.inf,
     "environment.temperature_k: must be finite, got inf (allowed: > 0)"),
    ("environment", "paramagnetic_impurities", "many",
     "environment.paramagnetic_impurities: expected an integer, got 'many' (allowed: >= 0)"),
    ("criteria", "margin", 0, "criteria.margin: must be > 0, got 0"),
    ("grain", "spin", None, "grain.spin: missing field (allowed: > 0)"),
])
def test_every_bad_field_names_file_field_and_allowed_values(section, key, value, text):
    """The budget's model file is read by the one mechanism (sequences.config): the
    message is '<file>: <table>.<key>: <problem>, got <value> (allowed: ...)'."""
    data = _parsed()
    if value is None:
        del data[section][key]
    else:
        data.setdefault(section, {})[key] = value
    with pytest.raises(ModelError) as info:
        grain_model_from_dict(data, "grain.toml")
    assert str(info.value) == f"grain.toml: {text}"
    assert info.value.filename == "grain.toml"


def test_grain_model_fields_are_declared_once():
    """Defaults and ranges live on GrainModel's fields: the file reader, Python
    construction and describe() read the same declaration."""
    from echo.theory.budget import GrainModel
    from sequences.config import describe

    rows = {r["key"]: r for r in describe(GrainModel)}
    assert rows["nuclei.lambda"]["name"] == "lam" and rows["nuclei.lambda"]["allowed"] == ">= 0"
    assert rows["criteria.margin"]["default"] == 10.0
    with pytest.raises(ModelError, match=r"^electrons\.kondo_g: must be >= 0, got -0\.1$"):
        GrainModel(spin=100, delta0_hz=1e6, omega_bare_hz=4e10, n_nuclei=10, omega0_hz=5e7,
                   temperature_k=0.1, kondo_g=-0.1)
    m = grain_model_from_dict(_parsed())
    assert m.margin == 10.0 and m.n_protons == 0 and isinstance(m.n_nuclei, int)
