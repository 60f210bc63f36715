"""Time arithmetic does not invent negative delays from rounding (issue 9 item 4)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sequences
from sequences.errors import SequenceError
from spinecho.cli import main

ZERO = """
sequence z
channel rf : field(full_scale = 1 uT, freq = 4 MHz)
pulse(100 ns, amp = 0.5)
delay({expr})
pulse(100 ns, amp = 0.5)
detect(1 us)
"""


def _second_start(expr: str) -> float:
    sch = sequences.parse(ZERO.format(expr=expr)).bind()
    return sorted(p.start for p in sch.pulses)[1]


def test_decimal_zero_delay_is_zero():
    assert _second_start("0.3 us - 0.1 us - 0.2 us") == pytest.approx(100e-9, abs=0)
    assert _second_start("0.3 us - 0.1 us - 0.2 us") == _second_start("0 s")


def test_exorcycle_t180_3us_tau_2us(capsys):
    sequences.load("exorcycle").bind(t180=3e-6, tau=2e-6)
    sequences.load("exorcycle").bind(t180="3 us", tau="2 us")
    assert main(["check", "exorcycle", "--set", "t180=3 us", "--set", "tau=2 us"]) == 0


def test_a_real_negative_delay_is_still_refused_in_a_readable_unit():
    with pytest.raises(SequenceError, match=r"= -1 ps is negative"):
        _second_start("1 ns - 1.001 ns")
    with pytest.raises(SequenceError) as exc:
        _second_start("1 ns - 1.0000001 ns")
    msg = str(exc.value)
    assert "is negative" in msg
    assert not re.search(r"e-\d+ ps", msg), msg  # never "-1e-07 ps"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from(["ns", "us", "ms"]))
def test_decimal_differences_that_are_zero_on_paper_bind(b, c, unit):
    """a = b + c exactly in decimal (three decimals): delay(a - b - c) is 0."""
    a, b, c = (Decimal(x) / 1000 for x in (b + c, b, c))
    assert _second_start(f"{a} {unit} - {b} {unit} - {c} {unit}") == pytest.approx(
        100e-9, rel=1e-12)
