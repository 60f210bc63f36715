"""Property-based tests (hypothesis).

* random valid sequences round-trip text ↔ model ↔ JSON (model equality), and bound
  random sequences round-trip Schedule ↔ JSON;
* any random text either parses (and then binds or raises) or raises SequenceError —
  never another exception, never a hang (hypothesis deadline per example).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequences import Schedule, Sequence, SequenceError, parse
from sequences.expr import FUNCTIONS, UNITS, Axis, Bin, Call, Name, Neg, Num
from sequences.model import (
    RESERVED,
    ChannelDecl,
    DelayEl,
    DetectEl,
    IdealEl,
    MarkerEl,
    Parallel,
    Param,
    PulseEl,
    Repeat,
    Sweep,
)
from sequences.shapes import SHAPES

# SEQ_FUZZ_EXAMPLES raises the number of examples for a long local hunt
SETTINGS = settings(max_examples=int(os.environ.get("SEQ_FUZZ_EXAMPLES", "150")), deadline=2000,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KEYWORDS = RESERVED | {"ideal"}

ident = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda s: s not in KEYWORDS)
floats = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
units = st.sampled_from(["", *sorted(UNITS)])
labels = st.text(max_size=12)


def exprs(names):
    leaves = st.builds(Num, floats, units)
    if names:
        leaves = leaves | st.builds(Name, st.sampled_from(names))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Neg, inner),
            st.builds(Bin, st.sampled_from(["+", "-", "*", "/", "^"]), inner, inner),
            st.builds(Call, st.sampled_from(FUNCTIONS),
                      st.lists(inner, min_size=1, max_size=2).map(tuple)),
        ),
        max_leaves=6,
    )


def phases(names):
    entry = st.sampled_from([Axis("x"), Axis("y"), Axis("-x"), Axis("-y")]) | exprs(names)
    return st.lists(entry, min_size=1, max_size=4).map(tuple)


@st.composite
def sequences_(draw):
    pnames = draw(st.lists(ident, max_size=4, unique=True))
    e = exprs(pnames)
    params = []
    for n in pnames:
        if draw(st.booleans()):
            params.append(Param(n, draw(e)))
        else:
            params.append(Param(n, None, draw(st.sampled_from(sorted(UNITS)))))
    cnames = draw(st.lists(ident, max_size=3, unique=True))
    channels = []
    for c in cnames:
        kind = draw(st.sampled_from(["field", "marker", "detector"]))
        if kind == "field":
            channels.append(ChannelDecl(c, kind, draw(st.none() | e), draw(st.none() | e)))
        else:
            channels.append(ChannelDecl(c, kind))
    chan = st.sampled_from(["", *cnames])
    ph = phases(pnames)

    def leaf_elements():
        sp = st.fixed_dictionaries({}, optional={"sigma": e, "lobes": e, "span": e}).map(
            lambda d: tuple((k, d[k]) for k in ("sigma", "lobes", "span") if k in d))
        return st.one_of(
            st.builds(PulseEl, e, st.sampled_from(SHAPES), st.none() | e, st.none() | e,
                      st.none() | e, ph, st.just(()) | ph, st.none() | e, sp, chan, labels),
            st.builds(IdealEl, e, ph, st.just(()) | ph, chan, labels),
            st.builds(DelayEl, e),
            st.builds(DetectEl, e, chan, labels),
            st.builds(MarkerEl, e, chan, labels),
        )

    body = st.recursive(
        leaf_elements(),
        lambda inner: st.one_of(
            st.builds(Repeat, e, st.lists(inner, max_size=3).map(tuple)),
            st.builds(Parallel, st.lists(inner, max_size=3).map(tuple)),
        ),
        max_leaves=8,
    )
    sweeps = []
    for n in draw(st.lists(st.sampled_from(pnames), unique=True, max_size=2)
                  if pnames else st.just([])):
        kind = draw(st.sampled_from(["lin", "log", "list"]))
        if kind == "list":
            args = tuple(draw(st.lists(e, min_size=1, max_size=3)))
        else:
            args = (draw(e), draw(e), draw(e))
        sweeps.append(Sweep(n, kind, args))
    return Sequence(body=tuple(draw(st.lists(body, max_size=5))), params=tuple(params),
                    channels=tuple(channels), receiver=draw(st.just(()) | ph),
                    sweeps=tuple(sweeps), name=draw(st.just("") | ident))


@SETTINGS
@given(sequences_())
def test_random_sequences_roundtrip_text_model_json(seq):
    text = seq.to_text()
    back = parse(text)
    assert back == seq, text
    assert back.to_text() == text
    assert Sequence.from_json(seq.to_json()) == seq


# ------------------------------------------------------------------ bindable sequences
@st.composite
def bindable(draw):
    durations = st.integers(0, 2000).map(lambda v: Num(float(v), "ns"))
    amp = st.floats(0, 1).map(lambda v: Num(v))
    ph = st.lists(st.sampled_from([Axis("x"), Axis("y"), Axis("-x"), Axis("-y"),
                                   Num(45.0, "deg")]), min_size=1, max_size=2).map(tuple)
    leaf = st.one_of(
        st.builds(PulseEl, durations, st.sampled_from(["rect", "gauss", "sinc", "hann"]),
                  amp, st.just(Num(4.0, "MHz")), st.just(None), ph),
        st.builds(IdealEl, st.just(Num(90.0, "deg")), ph),
        st.builds(DelayEl, durations),
        st.builds(DetectEl, durations, st.just(""), labels),
        st.builds(MarkerEl, durations, st.just(""), labels),
    )
    body = st.recursive(leaf, lambda inner: st.builds(
        Repeat, st.integers(0, 4).map(lambda n: Num(float(n))),
        st.lists(inner, max_size=3).map(tuple)), max_leaves=6)
    return Sequence(body=tuple(draw(st.lists(body, max_size=6))),
                    channels=(ChannelDecl("rf", "field", Num(1.0, "uT")),),
                    receiver=draw(st.just(()) | ph))


@SETTINGS
@given(bindable())
def test_bound_random_sequences_roundtrip_json(seq):
    s = seq.bind()
    s.check()
    assert Schedule.from_json(s.to_json()) == s
    assert parse(seq.to_text()).bind() == s


# ------------------------------------------------------------------ fuzzing
TOKENS = ["pulse", "ideal", "delay", "detect", "marker", "repeat", "parallel", "param",
          "channel", "receiver", "sweep", "include", "sequence", "(", ")", "[", "]", "{", "}",
          ",", "=", ":", ";", "+", "-", "*", "/", "^", "x", "-x", "y", "tau", "t90", "rf",
          "adc", "field", "detector", "marker", "1", "2.5", "1e3", "0", "us", "ns", "MHz",
          "uT", "deg", "amp", "phase", "shape", "gauss", "chirp", "span", "lin", "log",
          "\"lbl\"", "hahn", "#", "\n", "sqrt", "max", "loop_phase", "angle", "freq", "ideal"]


def _parse_and_bind(text: str) -> None:
    try:
        seq = parse(text, filename="fuzz.seq")
    except SequenceError as exc:
        assert str(exc)  # formats without error
        return
    try:
        seq.bind_values({}, max_events=10_000)
    except SequenceError:
        pass
    try:
        seq.to_text()
    except SequenceError:  # pragma: no cover - to_text never raises
        raise


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_token_soup_parses_or_raises_sequence_error(text):
    _parse_and_bind(text)


@SETTINGS
@given(st.text(max_size=120))
def test_any_text_parses_or_raises_sequence_error(text):
    _parse_and_bind(text)


@SETTINGS
@given(st.text(alphabet="()[]{}0123456789.e+-*/^ ,=:;#\"\\\nabuspnxy", max_size=80))
def test_punctuation_soup(text):
    _parse_and_bind("delay(" + text)
    _parse_and_bind(text)
