"""The shipped LALR tables (sequences/grammar_tables.json) are current and give exactly
the parser lark builds from grammar.lark: same trees, same errors at the same places."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import UnexpectedInput

from sequences import grammar_tables

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR = grammar_tables.GRAMMAR.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def parsers():
    from_grammar = Lark(GRAMMAR, **grammar_tables.OPTIONS)
    from_tables = grammar_tables.load(GRAMMAR)
    assert from_tables is not None
    return from_grammar, from_tables


def _outcome(parser, text: str, start: str):
    try:
        return ("tree", parser.parse(text, start=start))
    except UnexpectedInput as exc:
        expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None)
        return (type(exc).__name__, exc.line, exc.column,
                None if expected is None else sorted(expected))


def test_shipped_tables_are_current():
    """Fails after an edit of grammar.lark until ``python -m sequences.grammar_tables
    build`` has been run and its output committed. With another lark version than the
    one the tables were built with, the parser is built from the grammar (correct, ~50 ms
    slower to start): skipped, saying so."""
    import hashlib
    import json

    import lark

    doc = json.loads(grammar_tables.TABLES.read_text(encoding="utf-8"))
    assert doc["grammar_sha256"] == hashlib.sha256(GRAMMAR.encode("utf-8")).hexdigest(), (
        "sequences/grammar_tables.json is stale: run "
        "`python -m sequences.grammar_tables build` and commit the file")
    if doc["lark"] != lark.__version__:
        pytest.skip(f"tables built with lark {doc['lark']}, lark {lark.__version__} installed")
    assert grammar_tables.is_current(), (
        "sequences/grammar_tables.json is stale: run "
        "`python -m sequences.grammar_tables build` and commit the file")


def test_every_shipped_sequence_parses_identically(parsers):
    texts = [p for d in ("sequences/library", "examples", "tests")
             for p in sorted((ROOT / d).rglob("*.seq"))]
    assert len(texts) >= 8
    for path in texts:
        text = path.read_text(encoding="utf-8")
        a, b = (_outcome(p, text, "start") for p in parsers)
        assert a == b, path


_PIECES = ["sequence", "hahn", "(", ")", "{", "}", "[", "]", ",", ";", "=", ":", "+", "-",
           "*", "/", "^", "param", "channel", "pulse", "delay", "detect", "marker", "ideal",
           "repeat", "sweep", "cycle", "receiver", "include", "t90", "tau", "1", "2.5e-6",
           "us", "ns", "MHz", "deg", "pi", '"x"', "\n", " ", "#c\n", "@", "!"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.sampled_from(["start", "value"]))
def test_random_texts_give_the_same_outcome(parsers, pieces, start):
    text = " ".join(pieces)
    a, b = (_outcome(p, text, start) for p in parsers)
    assert a == b


def test_stale_or_broken_tables_are_not_used(tmp_path):
    good = tmp_path / "tables.json"
    grammar_tables.build(good)
    assert grammar_tables.load(GRAMMAR, path=good) is not None
    # an edited grammar (even a comment) no longer matches the key
    assert grammar_tables.load(GRAMMAR + "\n// edited\n", path=good) is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert grammar_tables.load(GRAMMAR, path=bad) is None
    assert grammar_tables.load(GRAMMAR, path=tmp_path / "missing.json") is None


def test_parser_falls_back_to_the_grammar(monkeypatch, tmp_path):
    """With no usable tables the language still parses (lark builds the tables)."""
    from sequences import parser

    monkeypatch.setattr(grammar_tables, "TABLES", tmp_path / "missing.json")
    parser._lark.cache_clear()
    try:
        seq = parser.load("hahn")
        assert seq.name
    finally:
        parser._lark.cache_clear()
