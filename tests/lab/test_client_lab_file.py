"""The client lab file of a virtual lab has one home (VirtualLab.client_lab_file): the
example, the demo and the tests all come from it."""

from __future__ import annotations

import tomllib

import pytest
from virtual_support import EXAMPLE_LAB, small_config

from instruments.lab import load_lab
from instruments.virtual.lab import (
    VirtualLabError,
    client_lab_text,
    config_from_dict,
    default_config,
)

RES = {role: f"TCPIP::127.0.0.1::{port}::SOCKET"
       for role, port in {"awg": 5025, "digitizer": 5026, "lockin": 5027}.items()}


def test_example_lab_file_is_the_client_file_of_the_example_lab():
    text = client_lab_text(RES, config_from_dict(default_config(), "<x>"))
    assert tomllib.loads(text) == tomllib.loads(EXAMPLE_LAB.read_text(encoding="utf-8"))


def test_client_file_carries_the_labs_calibrations_and_overrides(tmp_path):
    d = default_config()
    d["awg"]["volts_per_tesla"] = 2.5e5
    d["awg"]["channel"] = 2
    d["digitizer"]["model"] = "redpitaya"
    d["model"]["detection"]["volts_per_flux"] = 0.25
    cfg = config_from_dict(d, "<x>")
    text = client_lab_text(RES, cfg, roles=("awg", "digitizer", "squid"), timeout_s=3,
                           awg__sample_rate=100e6, name="mine")
    t = tomllib.loads(text)
    assert t["awg"]["volts_per_tesla"] == 2.5e5 and t["awg"]["channel"] == 2
    assert t["digitizer"]["driver"].endswith(":RedPitaya")
    assert t["squid"]["volts_per_phi0"] == 0.25
    assert "lockin" not in t and t["lab"]["name"] == "mine"
    assert t["awg"]["sample_rate"] == 100e6 and t["digitizer"]["sample_rate"] == 1e9
    assert t["awg"]["timeout_s"] == 3 and t["digitizer"]["timeout_s"] == 3
    p = tmp_path / "lab.toml"
    p.write_text(text)
    assert load_lab(p).awg.volts_per_tesla == 2.5e5
    with pytest.raises(VirtualLabError, match="no key 'awg.nonsense'"):
        client_lab_text(RES, small_config(), awg__nonsense=1)
