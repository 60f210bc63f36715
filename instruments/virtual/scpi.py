"""SCPI message parsing for the virtual lab (IEEE 488.2 / SCPI-1999 subset).

What a virtual instrument receives is a byte stream of *program messages*, each ended by
``\\n`` (LF). A message holds one or more *program units* separated by ``;``; a unit is a
header (``:SOURce1:FUNCtion:ARBitrary:SRATe`` or a common command ``*IDN?``) followed by
comma-separated parameters. Parameters may be quoted strings (``"..."`` or ``'...'``) or
IEEE 488.2 definite-length arbitrary blocks ``#<n><len><data>`` whose data may contain any
byte, LF included: the parser reads them by length. ``#0<data>\\n`` (indefinite length)
ends at the LF.

Header matching (:class:`HeaderPattern`) follows SCPI: every node matches either its short
form (the upper-case letters of the mnemonic as written in the manual, ``FUNC``) or the long
form (``FUNCTION``), case-insensitively; nodes in brackets are optional (``[SOURce#:]``);
a ``#`` allows a numeric suffix (``SOURce2``, default 1). A unit whose header has no
leading ``:`` after a ``;`` is resolved relative to the previous unit's path (SCPI
compound-header rule), falling back to the root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# the virtual instruments raise the one ScpiError of the instrument layer (re-exported here)
from instruments.errors import SCPI_ERROR_MESSAGES as ERROR_MESSAGES  # noqa: F401
from instruments.errors import ScpiError


# ---------------------------------------------------------------------------- header match
@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    suffix: bool
    optional: bool

    def match(self, token: str) -> int | None:
        """The numeric suffix of ``token`` (1 if none) when it matches, else None."""
        m = re.fullmatch(r"([A-Z_*]+?)(\d*)", token)
        if not m:
            return None
        name, digits = m.groups()
        if name not in (self.short, self.long):
            return None
        if digits and not self.suffix:
            return None
        return int(digits) if digits else 1


class HeaderPattern:
    """A header pattern in manual notation, e.g. ``[SOURce#:]FUNCtion:ARBitrary:SRATe``.

    Upper-case letters of each mnemonic are its short form; ``#`` a numeric suffix;
    ``[...]`` an optional node. Common commands are written literally (``*IDN``).
    """

    def __init__(self, pattern: str):
        self.pattern = pattern
        nodes = []
        for raw in re.findall(r"\[[^\]]*\]|[^:\[\]]+", pattern):
            optional = raw.startswith("[")
            body = raw.strip("[]:").strip(":")
            for part in filter(None, body.split(":")):
                suffix = part.endswith("#")
                part = part.rstrip("#")
                if part.startswith("*"):
                    short = long = part.upper()
                else:
                    short = "".join(c for c in part if c.isupper() or c.isdigit() or c == "_")
                    long = part.upper()
                nodes.append(_Node(short, long, suffix, optional))
        self.nodes = tuple(nodes)

    def match(self, tokens: list[str]) -> list[int] | None:
        """Match header ``tokens`` (upper-cased nodes); returns the suffix of every
        pattern node (1 for absent optional nodes / no suffix) or None."""

        def rec(i: int, j: int) -> list[int] | None:
            if i == len(self.nodes):
                return [] if j == len(tokens) else None
            node = self.nodes[i]
            if j < len(tokens):
                s = node.match(tokens[j])
                if s is not None:
                    rest = rec(i + 1, j + 1)
                    if rest is not None:
                        return [s, *rest]
            if node.optional:
                rest = rec(i + 1, j)
                if rest is not None:
                    return [1, *rest]
            return None

        return rec(0, 0)


def header_tokens(header: str) -> list[str]:
    """``:sour1:func:arb:srat?`` → ``['SOUR1', 'FUNC', 'ARB', 'SRAT']``."""
    return [t for t in header.strip().rstrip("?").upper().split(":") if t]


# ---------------------------------------------------------------------------- parameters
@dataclass
class Unit:
    """One program unit: ``header`` as received (without ``?``), ``query`` flag,
    ``params`` (str, or bytes for a block), ``error`` (an ScpiError found while parsing)."""

    header: str
    query: bool
    params: list = field(default_factory=list)
    error: ScpiError | None = None
    raw: bytes = b""

    def describe(self) -> str:
        parts = []
        for p in self.params:
            parts.append(f"<block {len(p)} bytes>" if isinstance(p, bytes) else p)
        return self.header + ("?" if self.query else "") + (" " + ",".join(parts) if parts else "")


class NeedMore(Exception):
    """Raised internally when the buffer ends inside a message."""


def _parse_block(buf: bytes, i: int) -> tuple[bytes | None, int, ScpiError | None]:
    """Parse a block starting at buf[i] == '#'. Returns (data, next index, error).
    Raises NeedMore if the buffer ends inside the block."""
    if i + 1 >= len(buf):
        raise NeedMore
    nd = buf[i + 1:i + 2]
    if not nd.isdigit():
        return None, i + 1, ScpiError(-160, f"bad block header digit {nd!r}")
    n = int(nd)
    if n == 0:
        end = buf.find(b"\n", i + 2)
        if end < 0:
            raise NeedMore
        return bytes(buf[i + 2:end]), end, None
    if i + 2 + n > len(buf):
        raise NeedMore
    digits = buf[i + 2:i + 2 + n]
    if not digits.isdigit():
        return None, i + 2, ScpiError(-160, f"bad block length {digits!r}")
    length = int(digits)
    start = i + 2 + n
    if start + length > len(buf):
        raise NeedMore
    return bytes(buf[start:start + length]), start + length, None


class MessageParser:
    """Incremental parser: :meth:`feed` bytes, get complete messages (lists of Units).

    ``max_block`` bounds a declared block length (bytes): a larger declaration is a
    -160 error and the rest of that line is discarded. ``max_message`` (default
    ``max_block`` + 1 MiB) bounds what is held while a message is incomplete: beyond it
    the input is dropped up to the next line feed and a -363 "Input buffer overrun" unit
    is returned, so a client that sends megabytes without a line feed cannot grow the
    server. A message is only complete at a line feed, so data without one is buffered
    without being re-parsed.
    """

    def __init__(self, max_block: int = 256 * 1024 * 1024, sr_style: bool = False,
                 max_message: int | None = None):
        self.buf = bytearray()
        self.max_block = max_block
        self.max_message = int(max_message if max_message is not None
                               else max_block + (1 << 20))
        self._discarding = False
        #: SR830-style headers: the mnemonic is the leading letters and the parameters
        #: may follow without a space (``FREQ1000``, ``OUTP?1``).
        self.sr_style = sr_style

    def feed(self, data: bytes) -> list[list[Unit]]:
        out = []
        if self._discarding:
            lf = data.find(b"\n")
            if lf < 0:
                return out
            data = data[lf + 1:]
            self._discarding = False
        has_lf = b"\n" in data
        self.buf.extend(data)
        if not has_lf:  # nothing can have completed
            if len(self.buf) > self.max_message:
                return [self._overrun()]
            return out
        while True:
            try:
                units, used = self._parse_message(self.buf)
            except NeedMore:
                if len(self.buf) > self.max_message:
                    out.append(self._overrun())
                return out
            del self.buf[:used]
            out.append(units)

    def _overrun(self) -> list[Unit]:
        size = len(self.buf)
        lf = self.buf.rfind(b"\n")
        self.buf = bytearray()  # a fresh buffer: the old storage is freed
        self._discarding = lf < 0 or lf < size - 1
        unit = Unit(header="", query=False)
        unit.error = ScpiError(-363, f"{size} bytes without a complete message "
                                     f"(limit {self.max_message})")
        return [unit]

    def _parse_message(self, buf: bytearray) -> tuple[list[Unit], int]:
        units: list[Unit] = []
        i, n = 0, len(buf)
        while True:
            # ---- one unit: header
            while i < n and buf[i] in b" \t\r":
                i += 1
            start = i
            while i < n and buf[i] not in b" \t\r;\n":
                i += 1
            if i >= n:
                raise NeedMore
            header = buf[start:i].decode("latin-1")
            if self.sr_style and not header.startswith("*"):
                m = re.match(r"[A-Za-z]+\??", header)
                if m and m.end() < len(header):
                    i = start + m.end()
                    header = header[:m.end()]
            q = header.find("?")
            if 0 <= q < len(header) - 1:
                # SR830 style "OUTP?1", "SNAP?1,2": the parameters follow the '?'
                i = start + q + 1
                header = header[:q + 1]
            unit = Unit(header=header.rstrip("?"), query=header.endswith("?"))
            # ---- parameters
            while i < n and buf[i] in b" \t\r":
                i += 1
            if i >= n:
                raise NeedMore
            if buf[i] not in b";\n":
                i = self._parse_params(buf, i, unit)
            unit.raw = bytes(buf[start:i])
            if header or unit.params or unit.error:
                units.append(unit)
            if i >= n:
                raise NeedMore
            if buf[i:i + 1] == b"\n":
                return units, i + 1
            i += 1  # ';'

    def _parse_params(self, buf: bytearray, i: int, unit: Unit) -> int:
        n = len(buf)
        cur = bytearray()
        have = False
        while True:
            if i >= n:
                raise NeedMore
            c = buf[i]
            if c in b"\"'":
                end = buf.find(bytes([c]), i + 1)
                if end < 0:
                    # unterminated string: need the rest (the LF may be inside quotes)
                    if buf.find(b"\n", i + 1) < 0:
                        raise NeedMore
                    unit.error = unit.error or ScpiError(-102, "unterminated string")
                    i = buf.find(b"\n", i + 1)
                    continue
                cur.extend(buf[i:end + 1])
                have = True
                i = end + 1
            elif c == ord("#") and not cur.strip():
                if i + 2 < n and buf[i + 1:i + 2].isdigit() and buf[i + 1] != ord("0"):
                    nd = buf[i + 1] - ord("0")
                    if i + 2 + nd <= n and buf[i + 2:i + 2 + nd].isdigit():
                        if int(buf[i + 2:i + 2 + nd]) > self.max_block:
                            unit.error = unit.error or ScpiError(
                                -160, f"block of {int(buf[i + 2:i + 2 + nd])} bytes too large")
                            end = buf.find(b"\n", i)
                            if end < 0:
                                raise NeedMore
                            return end
                data, i, err = _parse_block(buf, i)
                if err is not None:
                    unit.error = unit.error or err
                    end = buf.find(b"\n", i)
                    if end < 0:
                        raise NeedMore
                    return end
                unit.params.append(data)
                have = False
                cur = bytearray()
                # after a block: whitespace, then ',' ';' or LF
                while i < n and buf[i] in b" \t\r":
                    i += 1
                if i >= n:
                    raise NeedMore
                if buf[i] == ord(","):
                    i += 1
                    continue
                if buf[i] in b";\n":
                    return i
                unit.error = unit.error or ScpiError(-160, "data after block")
                end = buf.find(b"\n", i)
                if end < 0:
                    raise NeedMore
                return end
            elif c == ord(","):
                unit.params.append(cur.decode("latin-1").strip())
                cur = bytearray()
                have = False
                i += 1
            elif c in b";\n":
                if cur.strip() or have:
                    unit.params.append(cur.decode("latin-1").strip())
                elif unit.params:
                    unit.error = unit.error or ScpiError(-109, "empty parameter")
                return i
            else:
                cur.append(c)
                i += 1


# ---------------------------------------------------------------------------- conversions
_SUFFIX_SCALE = {"": 1.0, "K": 1e3, "M": 1e-3, "U": 1e-6, "N": 1e-9, "P": 1e-12,
                 "MA": 1e6, "G": 1e9}
_NUM = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)")


def to_float(param, name: str = "value", units: tuple[str, ...] = ()) -> float:
    """SCPI <NRf> (with an optional unit suffix like ``MHZ``/``NS``/``V``) → float.
    Raises -104 for non-numeric data, -109 when missing."""
    if param is None:
        raise ScpiError(-109, f"{name} missing")
    if isinstance(param, bytes):
        raise ScpiError(-104, f"{name}: block where a number is expected")
    m = _NUM.fullmatch(param.strip())
    if not m:
        raise ScpiError(-104, f"{name}: {param!r} is not a number")
    value = float(m.group(1))
    suffix = m.group(2).upper()
    if suffix:
        for unit in sorted(units, key=len, reverse=True):
            if suffix.endswith(unit.upper()):
                prefix = suffix[: len(suffix) - len(unit)]
                if prefix == "M" and unit.upper() in ("HZ",):
                    prefix = "MA"  # MHz: mega
                if prefix in _SUFFIX_SCALE:
                    return value * _SUFFIX_SCALE[prefix]
        raise ScpiError(-104, f"{name}: unknown unit suffix {m.group(2)!r}")
    return value


def to_int(param, name: str = "value") -> int:
    value = to_float(param, name)
    if value != int(value):
        raise ScpiError(-104, f"{name}: {param!r} is not an integer")
    return int(value)


def to_bool(param, name: str = "value") -> bool:
    if isinstance(param, bytes) or param is None:
        raise ScpiError(-104 if param is not None else -109, f"{name}: expected ON/OFF")
    p = param.strip().upper()
    if p in ("ON", "1"):
        return True
    if p in ("OFF", "0"):
        return False
    raise ScpiError(-104, f"{name}: {param!r} is not ON/OFF/1/0")


def to_choice(param, choices: dict[str, str] | list[str], name: str = "value") -> str:
    """Match a character parameter against mnemonics in manual notation (``NORMal``)."""
    if isinstance(param, bytes) or param is None:
        raise ScpiError(-104 if param is not None else -109, f"{name}: expected a mnemonic")
    token = param.strip().upper()
    for c in choices:
        node = HeaderPattern(c).nodes[0]
        if token in (node.short, node.long) or node.match(token) is not None:
            return node.long
    raise ScpiError(-224, f"{name}: {param!r} not one of {', '.join(choices)}")


def unquote(param, name: str = "value") -> str:
    if isinstance(param, bytes) or param is None:
        raise ScpiError(-104 if param is not None else -109, f"{name}: expected a string")
    p = param.strip()
    if len(p) >= 2 and p[0] == p[-1] and p[0] in "\"'":
        return p[1:-1]
    return p


def block(data: bytes) -> bytes:
    """IEEE 488.2 definite-length block ``#<n><len><data>``."""
    length = str(len(data)).encode()
    return b"#" + str(len(length)).encode() + length + data


def fmt(value: float) -> str:
    """Numbers in replies: SCPI <NR3> like real instruments (``+2.50000000000000E+08``)."""
    return f"{float(value):+.14E}"
