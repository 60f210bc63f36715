"""The LALR tables of ``grammar.lark``, built once and shipped as JSON.

Building the parser from the grammar text (lark's LALR analysis) costs ~60 ms on every
start of a fresh process, a tenth of a warm ``spinecho simulate``. The tables it produces
are data: :func:`build` writes them (lark's own ``memo_serialize`` output) to
``grammar_tables.json`` next to the grammar, and :func:`load` rebuilds the parser from
them in ~3 ms with ``Lark._load_from_dict`` (the loader of lark's standalone parsers).

Nothing is trusted blindly: the file carries a key — the SHA-256 of the grammar text,
the lark version and the parser options — and :func:`load` uses it only when the key
matches this grammar, this lark and these options; otherwise (an edited grammar, another
lark) the caller builds the parser from the grammar as before, which gives the same
parser, only slower. ``tests/language/test_grammar_tables.py`` fails when the shipped
tables are stale. JSON, not pickle (lark's own cache pickles): loading never runs code.

Rebuild after editing the grammar::

    python -m sequences.grammar_tables build     # writes sequences/grammar_tables.json
    python -m sequences.grammar_tables check     # exit 1 when stale
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import lark
from lark import Lark

GRAMMAR = Path(__file__).resolve().parent / "grammar.lark"
TABLES = Path(__file__).resolve().parent / "grammar_tables.json"
# the options of the one parser (sequences.parser._lark); part of the key
OPTIONS = {"parser": "lalr", "lexer": "contextual", "start": ["start", "value"],
           "maybe_placeholders": True}
_INT_KEYS = "__int_keys__"  # JSON object keys are strings; lark's tables use int keys


def key(grammar: str) -> str:
    """What the tables depend on: grammar text, lark version, parser options."""
    h = hashlib.sha256(grammar.encode("utf-8"))
    h.update(f"\0lark {lark.__version__}\0{json.dumps(OPTIONS, sort_keys=True)}".encode())
    return h.hexdigest()


def _encode(obj):
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _encode(v) for k, v in obj.items()}
        if not all(isinstance(k, int) for k in obj):
            raise TypeError(f"unexpected key types {sorted({type(k).__name__ for k in obj})}")
        return {_INT_KEYS: [[k, _encode(v)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_encode(x) for x in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in the grammar tables")


def _decode_object(d: dict):
    if len(d) == 1 and _INT_KEYS in d:
        return {int(k): v for k, v in d[_INT_KEYS]}
    return d


def build(path: Path = TABLES) -> Path:
    """Build the parser from the grammar and write its tables to ``path``."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    grammar = GRAMMAR.read_text(encoding="utf-8")
    parser = Lark(grammar, **OPTIONS)
    data, memo = parser.memo_serialize([TerminalDef, Rule])
    doc = {"key": key(grammar), "lark": lark.__version__,
           "grammar_sha256": hashlib.sha256(grammar.encode("utf-8")).hexdigest(),
           "data": _encode(data), "memo": _encode(memo)}
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def load(grammar: str, transformer=None, path: Path | None = None) -> Lark | None:
    """The parser from the tables at ``path`` (default :data:`TABLES`), or None when they
    do not belong to ``grammar`` (or to this lark, or to :data:`OPTIONS`) or cannot be
    read."""
    try:
        doc = json.loads((path or TABLES).read_text(encoding="utf-8"), object_hook=_decode_object)
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("key") != key(grammar):
        return None
    return Lark._load_from_dict(doc["data"], doc["memo"], transformer=transformer)


def is_current(path: Path | None = None) -> bool:
    return load(GRAMMAR.read_text(encoding="utf-8"), path=path) is not None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "check"
    if cmd == "build":
        print(f"wrote {build()}")
        return 0
    if cmd == "check":
        ok = is_current()
        state = "current" if ok else "STALE: run python -m sequences.grammar_tables build"
        print(f"{TABLES.name}: {state}")
        return 0 if ok else 1
    print("usage: python -m sequences.grammar_tables [build|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
