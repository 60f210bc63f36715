"""Bad input: every error is a SequenceError located at file:line:column, with the source
line, a caret under the column, and a hint where one is obvious."""

from __future__ import annotations

import pytest

from sequences import SequenceError, load, parse

CH = "channel rf : field(full_scale = 1 uT, freq = 4 MHz)\n"

# (text, line, column, message fragment, hint fragment or None)
CASES = [
    ("param tau = 5 MHz\ndelay(tau)", 2, 7, "delay must be a time", "200 ns"),
    ("param f = 4\npulse(100 ns, amp = 1 uT, freq = f)", 2, 34, "needs a unit", "MHz"),
    ("delay(2 Mhz)", 1, 7, "unknown unit 'Mhz'", "'MHz'"),
    ("delay(2 sec)", 1, 7, "unknown unit 'sec'", None),
    (CH + "pulse(100 ns, ampl = 0.5)", 2, 15, "unknown option 'ampl'", "'amp'"),
    ("param tau = 1 us\ndelay(taux)", 2, 7, "unknown name 'taux'", "'tau'"),
    (CH + "pulse(100 ns, shape = gaus)", 2, 23, "unknown pulse shape", "'gauss'"),
    ("channel rf : feld", 1, 14, "unknown channel kind", "'field'"),
    ("delay(1 us", 1, None, "unexpected end of input", None),
    ("delay(1 us))", 1, 12, "unexpected ')'", None),
    ("pulse(100 ns, label = 'a')", 1, 23, "unexpected character", "double quotes"),
    ("param a = 1 us\nparam a = 2 us", 2, 7, "declared twice", "line 1"),
    ("puls(100 ns)", 1, 1, "unexpected", "'pulse'"),
    ("include hahnn", 1, 1, "no sequence file or library sequence", "'hahn'"),
    ("sweep tau = lin(1 us, 2 us, 3)", 1, 7, "unknown parameter 'tau'", None),
    ("param tau = 1 us\nsweep tau = lim(1 us, 2 us, 3)", 2, 13, "a sweep is", "'lin'"),
    ("detect(1 us, channel = adcc)\nchannel adc : detector", 1, 1, "unknown channel 'adcc'",
     "'adc'"),
    ("ideal(90 deg, x + 1 deg)", 1, 15, "phase axis 'x'", None),
    ("param x = 2 us", 1, 7, "reserved", None),
    ("delay(1 us + 2 MHz)", 1, 7, "cannot add frequency to time", None),
    ("pulse(1 us, amp = 1 uT, freq = 4 MHz, freq = 5 MHz)", 1, 39, "given twice", None),
    ("ideal(phase = x)", 1, 1, "missing angle", None),
]


@pytest.mark.parametrize(("text", "line", "col", "msg", "hint"), CASES)
def test_located_errors(text, line, col, msg, hint):
    with pytest.raises(SequenceError) as info:
        parse(text, filename="bad.seq").bind()
    e = info.value
    assert msg in e.message
    assert e.filename == "bad.seq"
    assert e.line == line
    if col is not None:
        assert e.column == col
    src = text.split("\n")[line - 1]
    assert e.source_line == src
    text_out = str(e)
    assert text_out.startswith(f"bad.seq:{line}:{e.column}: ")
    assert "\n    " + src in text_out and "^" in text_out
    if hint is not None:
        assert e.hint is not None and hint in e.hint


BIND_CASES = [
    ("param t = 1 us\ndelay(t - 2 us)", {}, 2, "negative"),
    ("param t = 1 us\n" + CH + "pulse(t, amp = 0.5)", {"t": "-2 us"}, 3, "negative"),
    ("repeat 2.5 { delay(1 us) }", {}, 1, "not an integer"),
    ("pulse(1 us, amp = 0.5)", {}, 1, "has no full_scale"),
    (CH + "pulse(1 us, amp = 2 us)", {}, 2, "amp must be"),
    (CH + "pulse(1 us, shape = chirp)", {}, 2, "needs span"),
    (CH + "pulse(1 us, sigma = 0.2)", {}, 2, "applies to shape gauss"),
    ("param n = 10000000\nrepeat n { detect(1 ns) }", {}, 2, "more than the limit"),
    ("param tau : us\ndelay(tau)", {}, 1, "has no default"),
]


@pytest.mark.parametrize(("text", "values", "line", "msg"), BIND_CASES)
def test_bind_errors_are_located(text, values, line, msg):
    seq = parse(text, filename="b.seq")
    with pytest.raises(SequenceError) as info:
        seq.bind(**values)
    assert msg in info.value.message
    assert info.value.line == line


def test_bind_value_errors():
    seq = load("hahn")
    with pytest.raises(SequenceError, match="is a time, but '5 MHz' is a frequency"):
        seq.bind(tau="5 MHz")
    with pytest.raises(SequenceError, match="unknown parameter 'taux'") as info:
        seq.bind(taux="1 us")
    assert "'tau'" in info.value.hint
    with pytest.raises(SequenceError, match="unknown unit"):
        seq.bind(tau="2 uss")


def test_overlapping_events_on_a_channel():
    text = CH + "parallel { pulse(1 us, amp = 0.5, label = \"a\")\n" \
        "pulse(2 us, amp = 0.5, label = \"b\") }"
    with pytest.raises(SequenceError, match="overlaps") as info:
        parse(text, filename="o.seq").bind()
    assert info.value.line == 3 and info.value.filename == "o.seq"  # at pulse "b"


def test_guard_runs_before_allocation():
    # 10^12 events: must fail at once (no attempt to build them)
    seq = parse("repeat 1000000 { repeat 1000000 { detect(1 ns) } }")
    with pytest.raises(SequenceError, match="more than the limit"):
        seq.bind()
    # an empty body may repeat any number of times (no events): only time passes, up to
    # the cap on one shot (1 h by default, bind(max_duration=...))
    assert parse("repeat 1000000000 { delay(1 us) }").bind().duration == pytest.approx(1e3)
    with pytest.raises(SequenceError, match="longer than the cap of 3600 s"):
        parse("repeat 1000000000 { delay(1 s) }").bind()
    seq = parse("repeat 1000000000 { delay(1 s) }")
    assert seq.bind_values({}, max_duration=2e9).duration == 1e9


def test_recursive_include(tmp_path):
    (tmp_path / "a.seq").write_text('include "b.seq"\n')
    (tmp_path / "b.seq").write_text('delay(1 us)\ninclude "a.seq"\n')
    with pytest.raises(SequenceError, match="recursive include") as info:
        load(tmp_path / "a.seq")
    assert info.value.line == 2 and info.value.filename.endswith("b.seq")
    (tmp_path / "self.seq").write_text('include "self.seq"\n')
    with pytest.raises(SequenceError, match="recursive include"):
        load(tmp_path / "self.seq")


def test_include_arguments_and_errors(tmp_path):
    (tmp_path / "main.seq").write_text("param t = 3 us\ninclude hahn(tau = t)\n")
    s = load(tmp_path / "main.seq").bind()
    assert s.windows[0].start + 0.5e-6 - s.pulses[0].centre == pytest.approx(6e-6, abs=1e-15)
    (tmp_path / "bad.seq").write_text("include hahn(tua = 3 us)\n")
    with pytest.raises(SequenceError, match="no parameter 'tua'") as info:
        load(tmp_path / "bad.seq")
    assert "'tau'" in info.value.hint
    (tmp_path / "own.seq").write_text("param tau = 7 us\ninclude hahn\n")
    s = load(tmp_path / "own.seq").bind()  # the includer's declaration wins
    assert s.pulses[1].centre - s.pulses[0].centre == pytest.approx(7e-6, abs=1e-15)


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(SequenceError, match="nested"):
        parse("delay(" + "(" * 5000 + "1 us" + ")" * 5000 + ")")
    with pytest.raises(SequenceError, match="nested"):
        parse("delay(" + " + ".join(["1 us"] * 5000) + ")")
    with pytest.raises(SequenceError, match="nested"):
        parse("repeat 1 { " * 200 + "}" * 200)


def test_non_utf8_file_is_a_located_error(tmp_path):
    # a Latin-1 'é' on line 2 (column 6 of '# café'): a SequenceError, not a UnicodeDecodeError
    p = tmp_path / "latin1.seq"
    p.write_bytes(b"delay(1 us)\n# caf\xe9\n")
    with pytest.raises(SequenceError) as info:
        load(p)
    assert str(info.value).startswith(f"{p}:2:6: not a UTF-8 text file (byte 0xe9")
