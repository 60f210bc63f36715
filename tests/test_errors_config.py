"""One error root (SpinechoError, caught by the CLI) and one configuration-file mechanism
(sequences.config): every bad field names file, field, value and what is allowed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequences.config import ConfigError, describe, from_table, setting, validate
from sequences.errors import SpinechoError


# ---------------------------------------------------------------------------- error root
def test_every_error_root_derives_from_spinecho_error():
    from echo.fit.errors import DataFileError, FitError
    from echo.model import ModelError
    from instruments.errors import InstrumentError, LabFileError, ScpiError
    from instruments.virtual.lab import VirtualLabError
    from sequences.errors import HardwareViolation, ScheduleError, SequenceError
    from spinecho.cli import UserError

    for cls in (SequenceError, ScheduleError, HardwareViolation, ModelError, FitError,
                DataFileError, InstrumentError, LabFileError, ScpiError, VirtualLabError,
                UserError, ConfigError):
        assert issubclass(cls, SpinechoError), cls


def test_one_scpi_error_class_for_both_sides_of_the_wire():
    import instruments.virtual.scpi as vscpi
    from instruments.errors import ScpiError

    assert vscpi.ScpiError is ScpiError
    assert not hasattr(vscpi, "SCPIError")
    server_side = ScpiError(-113, "FOO")
    assert server_side.reply() == '-113,"Undefined header; FOO"'
    client_side = ScpiError.from_queue(-113, "Undefined header; FOO", "awg")
    assert client_side.scpi_message == server_side.scpi_message
    assert str(client_side) == 'awg: SCPI error -113, "Undefined header; FOO"'


def test_cli_catches_the_base_class_not_names(monkeypatch, capsys):
    """A SpinechoError subclass the CLI has never heard of still prints one line."""
    import spinecho.cli as cli

    class BrandNewProblem(SpinechoError):
        pass

    def boom(args):
        raise BrandNewProblem("the thing: went wrong, got 3")

    parser = cli.build_parser()
    ns = parser.parse_args(["check", "hahn"])
    ns.func = boom
    monkeypatch.setattr(cli, "build_parser", lambda: _FixedParser(ns))
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err == "error: the thing: went wrong, got 3\n"


class _FixedParser:
    def __init__(self, ns):
        self.ns = ns

    def parse_args(self, argv):
        return self.ns


def test_cli_does_not_dress_a_plain_bug_as_a_user_error(monkeypatch, capsys):
    """A ValueError that is not a SpinechoError is a bug: exit 1, "internal error"."""
    import spinecho.cli as cli

    ns = cli.build_parser().parse_args(["check", "hahn"])
    ns.func = lambda args: int("x")
    monkeypatch.setattr(cli, "build_parser", lambda: _FixedParser(ns))
    monkeypatch.delenv("SPINECHO_TRACEBACK", raising=False)
    assert cli.main([]) == 1
    assert capsys.readouterr().err.startswith("internal error: ValueError")


# ----------------------------------------------------------------------- config mechanism
@dataclass(frozen=True)
class _Coil:
    t2: float = setting(gt=0)
    turns: int = setting(10, ge=1, doc="windings")
    volts_per_tesla: float = setting(1e6, gt=0, unit="V/T")
    channel: int = setting(1, choices=(1, 2))
    kind: str = setting("squid", choices=("squid", "coil"))
    enabled: bool = setting(True)
    offset: float | None = setting(None, ge=-1, le=1)
    temperature: float | None = setting(None, gt=0, allow_inf=True)
    gains: tuple[float, ...] = setting((1.0,), ge=0)

    def __post_init__(self):
        validate(self, "coil")


def _err(table, **kw):
    with pytest.raises(ConfigError) as info:
        from_table(_Coil, table, where="coil", filename="lab.toml", **kw)
    return info.value


def test_from_table_reads_defaults_and_converts():
    c = from_table(_Coil, {"t2": 1, "turns": 1e2, "gains": [1, 2]}, where="coil")
    assert c.turns == 100 and isinstance(c.turns, int)
    assert c.t2 == 1.0 and isinstance(c.t2, float)
    assert c.gains == (1.0, 2.0) and c.channel == 1 and c.offset is None
    assert from_table(_Coil, {"t2": 1, "temperature": math.inf}).temperature == math.inf


@pytest.mark.parametrize("table, text", [
    ({"t2": 1, "channel": "one"},
     "lab.toml: coil.channel: expected an integer, got 'one' (allowed: 1 or 2)"),
    ({"t2": 1, "channel": 3}, "lab.toml: coil.channel: must be 1 or 2, got 3"),
    ({"t2": 1, "kind": "antenna"},
     "lab.toml: coil.kind: must be 'squid' or 'coil', got 'antenna'"),
    ({}, "lab.toml: coil.t2: missing field (allowed: > 0)"),
    ({"t2": 1, "volts_per_telsa": 1},
     "lab.toml: coil.volts_per_telsa: unknown field (allowed: channel, enabled, gains, kind, "
     "offset, t2, temperature, turns, volts_per_tesla)"),
    ({"t2": -1}, "lab.toml: coil.t2: must be > 0, got -1"),
    ({"t2": 1, "offset": 2}, "lab.toml: coil.offset: must be <= 1, got 2 "
                             "(allowed: >= -1 and <= 1)"),
    ({"t2": math.nan}, "lab.toml: coil.t2: must be finite, got nan"),
    ({"t2": math.inf}, "lab.toml: coil.t2: must be finite, got inf"),
    ({"t2": 1, "temperature": -math.inf}, "coil.temperature: must be finite, got -inf"),
    ({"t2": True}, "lab.toml: coil.t2: expected a number, got True"),
    ({"t2": 1, "turns": 2.5}, "lab.toml: coil.turns: must be an integer, got 2.5"),
    ({"t2": 1, "enabled": "yes"}, "lab.toml: coil.enabled: expected true or false, got 'yes'"),
    ({"t2": 1, "gains": [1, -2]}, "lab.toml: coil.gains[1]: must be >= 0, got -2"),
    ({"t2": 1, "gains": 3}, "lab.toml: coil.gains: expected a list, got 3"),
])
def test_every_bad_field_names_file_field_value_and_allowed(table, text):
    e = _err(table)
    assert str(e) == text or text in str(e)
    assert e.filename == "lab.toml" and e.field.startswith("coil.")


def test_huge_integers_are_exact_or_a_clean_error():
    """A seed beyond 2**53 stays exact; an int beyond the float range is not finite."""
    from sequences.config import Spec, check_value

    assert check_value(2**70 + 1, int, Spec(ge=0)) == 2**70 + 1
    with pytest.raises(ConfigError, match="must be finite"):
        check_value(10**400, float, Spec(), where="x")


def test_python_construction_obeys_the_same_declarations():
    with pytest.raises(ConfigError, match=r"coil\.channel: expected an integer, got 'one'"):
        _Coil(t2=1.0, channel="one")
    assert _Coil(t2=1).t2 == 1.0


def test_describe_lists_defaults_and_constraints():
    rows = {r["name"]: r for r in describe(_Coil)}
    assert rows["volts_per_tesla"]["default"] == 1e6
    assert rows["volts_per_tesla"]["allowed"] == "> 0"
    assert rows["volts_per_tesla"]["unit"] == "V/T"
    assert rows["temperature"]["allowed"] == "> 0 or inf"
    assert rows["turns"]["doc"] == "windings"


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(),
                 st.text(max_size=5), st.booleans(), st.none(),
                 st.lists(st.floats(), max_size=3)))
def test_fuzzed_values_are_accepted_or_a_config_error(value):
    """Huge, tiny, zero, inf, NaN, text, bools, lists through a float and an int field."""
    for key in ("t2", "turns", "offset"):
        table = {"t2": 1.0, key: value}
        try:
            c = from_table(_Coil, table, where="coil", filename="f.toml")
        except ConfigError as exc:
            assert f"coil.{key}" in str(exc)
        else:
            v = getattr(c, key)
            assert v is None or math.isfinite(v)


# ------------------------------------------------------------------- the adopted files
def test_virtual_lab_channel_one_is_a_clean_cli_error(tmp_path, capsys):
    from instruments.virtual.lab import DEFAULT_TOML
    from spinecho.cli import main

    p = tmp_path / "vl.toml"
    p.write_text(DEFAULT_TOML.replace("channel = 1 ", 'channel = "one" '))
    assert 'channel = "one"' in p.read_text()
    assert main(["lab", "serve", "--config", str(p), "--duration", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"error: {p}: awg.channel: expected an integer, got 'one' "
                           "(allowed: 1 or 2)")


def test_model_file_defaults_live_on_the_dataclasses():
    """The model file's defaults are the dataclasses' (written once)."""
    from echo.model import Detection, Ensemble, Environment, Fixed
    from echo.modelfile import parse_model

    m = parse_model("[ensemble]\ndelta0 = 1e6\nbias = 0\n")
    assert m.detection == Detection()
    assert m.environment == Environment()
    assert m.ensemble == Ensemble(Fixed(1e6), Fixed(0.0))


def test_model_file_error_names_the_file(tmp_path):
    from echo.model import ModelError
    from echo.modelfile import load_model

    p = tmp_path / "m.toml"
    p.write_text('[ensemble]\ndelta0 = 1e6\nbias = 0\n[detection]\nkind = "antenna"\n')
    with pytest.raises(ModelError) as info:
        load_model(p)
    assert str(info.value) == (f"{p}: detection.kind: must be one of 'squid', 'coil', "
                               "'quadrature', got 'antenna'")
