"""Hardware profiles: every violation is reported (none rounded away)."""

from __future__ import annotations

import pytest

from sequences import HardwareProfile, HardwareViolation, SequenceError, load, parse

PROFILE = """
name = "test AWG"
raster = "1 ns"
min_pulse = "10 ns"
min_delay = "20 ns"
max_length = "50 us"
max_amplitude = "1.5 uT"
max_duty_cycle = 0.5
max_frequency = "10 MHz"
"""


@pytest.fixture()
def profile(tmp_path):
    p = tmp_path / "awg.toml"
    p.write_text(PROFILE)
    return HardwareProfile.load(p)


def test_library_defaults_are_playable(profile):
    for name in ("fid", "hahn", "cpmg", "stimulated", "exorcycle"):
        assert profile.validate(load(name).bind()) == []


def test_every_violation_is_reported(profile):
    text = """channel rf : field(full_scale = 1 uT)
pulse(5 ns, amp = 1, freq = 4 MHz, label = "short")
delay(10 ns)
pulse(100.5 ns, amp = 2 uT, freq = 12 MHz, label = "big")
delay(60 us)
ideal(90 deg, x, label = "id")
detect(1 us)
"""
    s = parse(text).bind()
    v = profile.validate(s)
    rules = sorted(x.rule for x in v)
    assert rules == sorted(["min_pulse", "min_delay", "max_amplitude", "full_scale",
                            "max_frequency", "raster", "raster", "raster", "max_length",
                            "allow_ideal"])
    raster = [x for x in v if x.rule == "raster"]
    # reported with the nearest grid points, never moved
    assert any("nearest 115 ns or 116 ns" in x.message for x in raster)
    assert s.pulses[1].duration == pytest.approx(100.5e-9, abs=1e-21)
    with pytest.raises(HardwareViolation, match="10 hardware violation"):
        profile.check(s)


def test_duty_cycle_uses_repetition_time():
    p = HardwareProfile.from_dict({"max_duty_cycle": 0.01, "repetition_time": "100 us"})
    s = parse("pulse(1 us, amp = 1 uT)\ndelay(1 us)").bind()  # on 50 % of the shot
    assert p.validate(s) == []  # 1 us in 100 us = 1 %
    p2 = HardwareProfile.from_dict({"max_duty_cycle": 0.4})
    assert [x.rule for x in p2.validate(s)] == ["max_duty_cycle"]


def test_profile_errors(tmp_path):
    with pytest.raises(SequenceError, match="min_puls: unknown field") as info:
        HardwareProfile.from_dict({"min_puls": "1 ns"})
    assert "min_pulse" in str(info.value)  # the allowed keys are listed
    with pytest.raises(SequenceError, match=r"max_duty_cycle: must be <= 1, got 2"):
        HardwareProfile.from_dict({"max_duty_cycle": 2})
    with pytest.raises(SequenceError, match="allow_ideal: expected true or false"):
        HardwareProfile.from_dict({"allow_ideal": "yes"})
    with pytest.raises(SequenceError, match="must be a time"):
        HardwareProfile.from_dict({"raster": "1 MHz"})
    with pytest.raises(SequenceError, match="must be > 0"):
        HardwareProfile.from_dict({"raster": 0})
    bad = tmp_path / "bad.toml"
    bad.write_text("raster = \n")
    with pytest.raises(SequenceError, match="not valid TOML"):
        HardwareProfile.load(bad)
    nested = HardwareProfile.from_dict({"hardware": {"raster": "2 ns"}, "name": "x"})
    assert nested.raster == 2e-9 and nested.name == "x"


def test_sample_rate_sets_the_raster():
    p = HardwareProfile.from_dict({"sample_rate": "250 MHz"})
    assert p.raster == pytest.approx(4e-9, rel=1e-15)
    s = parse("pulse(10 ns, amp = 1 uT)\ndelay(6 ns)\ndetect(8 ns)").bind()
    # only the pulse end (10 ns) is off the 4 ns grid; the window 16–24 ns is on it
    assert [v.rule for v in p.validate(s)] == ["raster"]
    with pytest.raises(SequenceError, match="disagree"):
        HardwareProfile.from_dict({"sample_rate": "1 GHz", "raster": "2 ns"})


def test_bad_toml_is_located_file_line_column(tmp_path):
    # like a .seq error: file:line:column, the line and a caret under the column
    bad = tmp_path / "hw.toml"
    bad.write_text('name = "x"\nmin_pulse = 8 ns\n')
    with pytest.raises(SequenceError) as info:
        HardwareProfile.load(bad)
    text = str(info.value)
    assert text.startswith(f"{bad}:2:15: not valid TOML: ")
    assert text.endswith("\n    min_pulse = 8 ns\n                  ^")


def test_non_utf8_hardware_file_is_a_sequence_error(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(b"# caf\xe9\nraster = \"1 ns\"\n")
    with pytest.raises(SequenceError, match=r"latin1\.toml: not a UTF-8 text file"):
        HardwareProfile.load(p)
