"""SCPI message parsing of the virtual lab (no sockets): program units, compound
headers, IEEE 488.2 blocks read by length, short/long header forms, conversions."""

from __future__ import annotations

import pytest

from instruments.virtual.scpi import (
    HeaderPattern,
    MessageParser,
    ScpiError,
    block,
    header_tokens,
    to_bool,
    to_choice,
    to_float,
)


def units(data: bytes, **kw):
    msgs = MessageParser(**kw).feed(data)
    return [[(u.header, u.query, u.params, u.error and u.error.code) for u in m] for m in msgs]


def test_units_queries_and_parameters():
    assert units(b"*IDN?\n") == [[("*IDN", True, [], None)]]
    assert units(b"SOUR1:VOLT 2;VOLT:OFFS -0.5;:OUTP1 ON\n") == [[
        ("SOUR1:VOLT", False, ["2"], None),
        ("VOLT:OFFS", False, ["-0.5"], None),
        (":OUTP1", False, ["ON"], None)]]
    assert units(b'FUNC:ARB "my,arb" , 3\r\n') == [[("FUNC:ARB", False, ['"my,arb"', "3"], None)]]


def test_block_containing_newlines_is_read_by_length():
    payload = b"ab\ncd\n\n#1"
    msgs = units(b"DATA:ARB:DAC x," + block(payload) + b";*OPC?\nSYST:ERR?\n")
    assert msgs == [[("DATA:ARB:DAC", False, ["x", payload], None), ("*OPC", True, [], None)],
                    [("SYST:ERR", True, [], None)]]


def test_message_split_across_reads_waits_for_the_whole_block():
    data = b"DATA:ARB:DAC x," + block(bytes(range(256)) * 4) + b"\n"
    parser = MessageParser()
    out = []
    for i in range(0, len(data), 7):  # 7-byte TCP segments
        out += parser.feed(data[i:i + 7])
    assert len(out) == 1 and out[0][0].params[1] == bytes(range(256)) * 4


def test_indefinite_block_ends_at_newline():
    assert units(b"DATA #0abc\n") == [[("DATA", False, [b"abc"], None)]]


@pytest.mark.parametrize("data", [b"DATA #x12\n", b"DATA #2ab\n", b"DATA #13abcX\n"])
def test_malformed_blocks_are_block_data_errors(data):
    [[unit]] = MessageParser().feed(data)
    assert unit.error is not None and unit.error.code == -160


def test_oversized_block_declaration_refused_without_buffering():
    [[unit]] = MessageParser(max_block=10).feed(b"DATA #3999\n")
    assert unit.error.code == -160


def test_sr830_style_headers():
    assert units(b"FREQ1.0e+02\nOUTP?1\nSNAP? 1,2\n", sr_style=True) == [
        [("FREQ", False, ["1.0e+02"], None)], [("OUTP", True, ["1"], None)],
        [("SNAP", True, ["1", "2"], None)]]


@pytest.mark.parametrize("header", ["FUNC:ARB:SRAT", "func:arb:srat", "SOUR1:FUNCtion:ARB:SRATe",
                                    ":SOURCE1:FUNCTION:ARBITRARY:SRATE", "source2:func:arb:srat"])
def test_short_and_long_forms_match(header):
    pattern = HeaderPattern("[SOURce#:]FUNCtion:ARBitrary:SRATe")
    suffixes = pattern.match(header_tokens(header))
    assert suffixes is not None
    assert suffixes[0] == (2 if "2" in header else 1)


@pytest.mark.parametrize("header", ["FUN:ARB:SRAT", "FUNC:ARBI:SRAT", "FUNC:SRAT", "FUNC2:ARB:SRAT",
                                    "FUNC:ARB:SRAT:EXTRA"])
def test_partial_or_wrong_forms_do_not_match(header):
    assert HeaderPattern("[SOURce#:]FUNCtion:ARBitrary:SRATe").match(header_tokens(header)) is None


def test_conversions_and_their_errors():
    assert to_float("2.5e8") == 2.5e8
    assert to_float("4 MHZ", units=("HZ",)) == pytest.approx(4e6)
    assert to_float("100ns", units=("S",)) == pytest.approx(100e-9)
    assert to_bool("on") and not to_bool("0")
    assert to_choice("swap", ["NORMal", "SWAPped"]) == "SWAPPED"
    for fn, arg, code in [(to_float, "abc", -104), (to_float, None, -109), (to_bool, "maybe", -104),
                          (to_float, b"\x00", -104)]:
        with pytest.raises(ScpiError) as info:
            fn(arg)
        assert info.value.code == code
    with pytest.raises(ScpiError) as info:
        to_choice("SIDEWAYS", ["NORMal", "SWAPped"])
    assert info.value.code == -224
    assert ScpiError(-113, "FOO").reply() == '-113,"Undefined header; FOO"'
