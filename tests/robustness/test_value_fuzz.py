"""Fuzz of every value path into a Schedule (issue 9 item 2): huge, tiny, zero, negative,
infinite and NaN numbers, Python ints beyond float range and numpy scalars, through
``bind``, ``with_sweep`` (lin/log/values), the ``--set``/``--sweep`` parsers and
expression text. Each either binds to a finite Schedule or raises the project's own error
(:class:`SpinechoError`) — never OverflowError, ValueError, ZeroDivisionError, ...

Four tests, 11 000 examples in all (derandomized under CI, tests/conftest.py).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sequences
from sequences import parse_assignments
from sequences.errors import SpinechoError
from sequences.sweep import with_sweep_options

LIBRARY = {name: sequences.load(name) for name in sequences.library_names()}
NAMES = sorted(LIBRARY)


def fast(n: int):
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

EXTREME_FLOATS = [0.0, -0.0, 1e-320, 5e-324, 1e-300, 1e-30, 1e-12, 1e-9, 3e-6, 0.3, 1.0,
                  7.0, 1e3, 1e9, 1e30, 1e300, 1.7976931348623157e308, math.inf, -math.inf,
                  math.nan, -1e-9, -1.0, -1e300]
EXTREME_INTS = [0, 1, 2, 3, -1, 10**6, 2**53 + 1, 2**63, 10**308, 10**309, 10**400,
                -(10**400)]
UNITS = ["s", "ms", "us", "ns", "ps", "Hz", "kHz", "MHz", "GHz", "T", "mT", "uT", "nT",
         "deg", "rad", ""]

numbers = st.one_of(
    st.sampled_from(EXTREME_FLOATS),
    st.sampled_from(EXTREME_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**500), max_value=10**500),
    st.floats(-1e-3, 1e-3).map(np.float64),
    st.integers(0, 1000).map(np.int64),
)


def _text(x) -> str:
    if isinstance(x, float | np.floating):
        return repr(float(x)).replace("inf", "1e999")
    return str(int(x))


texts = st.one_of(
    st.builds(lambda x, u: f"{_text(x)} {u}".strip(), numbers, st.sampled_from(UNITS)),
    st.sampled_from(["nan", "inf", "-inf", "1e999 s", "10^400 s", "(1e200 s)^2",
                     "1e308 s * 10", "0.3 us - 0.1 us - 0.2 us", "exp(1000)", "log(0)",
                     "sqrt(-1 s^2)", "1 s / 0", "2^1024", "-1 us", "", "   ", "1 us us",
                     "1e-400 s", "x", "tau", "floor(1e300)"]),
)
values = st.one_of(numbers, texts)


def _ok_or_own_error(fn):
    try:
        result = fn()
    except SpinechoError:
        return None
    return result


def _check_schedules(result):
    for sch in result if isinstance(result, list) else [result]:
        assert math.isfinite(sch.duration) and 0 <= sch.duration <= 3600.0
        for p in sch.pulses:
            assert math.isfinite(p.start) and math.isfinite(p.amplitude)


@fast(4000)
@given(st.sampled_from(NAMES), st.data(), values, st.booleans())
def test_bind_any_value(name, data, value, ideal):
    seq = LIBRARY[name]
    param = data.draw(st.sampled_from(list(seq.param_names)))
    kw = {param: value}
    if ideal and param != "ideal":
        kw["ideal"] = 1
    result = _ok_or_own_error(lambda: seq.bind(**kw))
    if result is not None:
        _check_schedules(result)


counts = st.one_of(st.sampled_from([0, 1, 2, 3, -1, 1.5, 2.0, 10**400, 10**9, math.inf,
                                    math.nan, np.int64(2), "3", "1e9", "nan"]))


@fast(2500)
@given(st.sampled_from(NAMES), st.data(), st.sampled_from(["lin", "log", "values"]),
       values, values, counts)
def test_with_sweep_any_value(name, data, kind, a, b, n):
    seq = LIBRARY[name]
    param = data.draw(st.sampled_from(list(seq.param_names)))

    def run():
        if kind == "values":
            swept = seq.without_sweeps().with_sweep(param, values=[a, b])
        else:
            swept = seq.without_sweeps().with_sweep(param, **{kind: (a, b, n)})
        return [s for _, s in swept.sweep()]

    result = _ok_or_own_error(run)
    if result is not None:
        _check_schedules(result)


@fast(2000)
@given(st.sampled_from(NAMES), st.data(), texts, texts, texts,
       st.sampled_from(["set", "lin", "log", "range", "list"]))
def test_set_and_sweep_options_any_text(name, data, a, b, c, form):
    seq = LIBRARY[name]
    param = data.draw(st.sampled_from(list(seq.param_names)))

    def run():
        if form == "set":
            return [seq.bind(**parse_assignments([f"{param}={a}"]))]
        spec = {"lin": f"{param}=lin({a}, {b}, {c})", "log": f"{param}=log({a}, {b}, {c})",
                "range": f"{param}={a}:{b}:{c}", "list": f"{param}={a},{b}"}[form]
        swept = with_sweep_options(seq.without_sweeps(), [spec])
        out = []
        for _, s in swept.sweep():
            out.append(s)
            if len(out) > 5:  # a legitimately long sweep: its first points suffice
                break
        return out

    result = _ok_or_own_error(run)
    if result is not None:
        _check_schedules(result)


SEQ = """sequence fuzz
param a = {a}
param b = {b}
channel rf : field(full_scale = 1 uT, freq = 4 MHz)
pulse(100 ns, amp = 0.5, angle = 90 deg)
delay({delay})
pulse(100 ns, amp = 0.5, angle = 180 deg)
repeat {count} {{ delay(1 us) }}
detect(1 us)
"""


@fast(2500)
@given(texts, texts, st.sampled_from(["a", "b", "a + b", "a - b", "a * b", "a / b",
                                      "a ^ 2", "abs(a)", "max(a, b)", "1 us", "a - a"]),
       st.sampled_from(["1", "0", "a", "b / (1 us)", "floor(a / (1 us))", "3"]),
       st.booleans())
def test_expression_text_any_value(a, b, delay, count, ideal):
    text = SEQ.format(a=a or "0", b=b or "0", delay=delay, count=count)
    result = _ok_or_own_error(lambda: sequences.parse(text).bind(ideal=int(ideal)))
    if result is not None:
        _check_schedules(result)
