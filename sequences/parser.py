"""Text → :class:`~sequences.model.Sequence`: the lark (LALR) parser, includes, and the
library lookup. Every failure is a :class:`~sequences.errors.SequenceError` located at
``file:line:column`` with the source line, a caret and, where one is obvious, a hint.

Never uses Python ``eval``; the grammar is ``sequences/grammar.lark``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from sequences.errors import SequenceError
from sequences.expr import (
    CONSTANTS,
    UNITS,
    Axis,
    Bin,
    Call,
    Expr,
    Name,
    Neg,
    Num,
    Pos,
    closest,
    error,
    walk_names,
)
from sequences.model import (
    CHANNEL_KINDS,
    RESERVED,
    SHAPE_PARAM_NAMES,
    ChannelDecl,
    DelayEl,
    DetectEl,
    IdealEl,
    MarkerEl,
    Parallel,
    Param,
    PulseEl,
    Repeat,
    Sequence,
    Sweep,
    element_exprs,
    iter_elements,
    phase_expr,
)
from sequences.shapes import SHAPES

LIBRARY = Path(__file__).resolve().parent / "library"
MAX_TEXT = 2_000_000  # characters
MAX_NESTING = 64  # brackets
MAX_EXPR_DEPTH = 200

_TOKEN_NAMES = {
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'",
    "RBRACE": "'}'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "SEMICOLON": "';'",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "CIRCUMFLEX": "'^'",
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "ELEMENT":
    "pulse/ideal/delay/detect/marker", "$END": "end of input",
}


_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _lark() -> tuple[Lark, _Build]:
    """One LALR parser with an inline transformer (nodes are built during parsing, so
    deep input cannot exhaust the Python stack). Its per-parse state is set under _LOCK."""
    from sequences import grammar_tables

    grammar = grammar_tables.GRAMMAR.read_text(encoding="utf-8")
    build = _Build("<string>", [])
    # the shipped LALR tables when they belong to this grammar and lark (~3 ms), else
    # lark's LALR analysis of the grammar (~60 ms; the same parser)
    lark = (grammar_tables.load(grammar, transformer=build)
            or Lark(grammar, **grammar_tables.OPTIONS, transformer=build))
    return lark, build


def _run(text: str, filename: str, lines: list[str], start: str):
    lark, build = _lark()
    with _LOCK:
        build.filename, build.lines, build.depth = filename, lines, {}
        try:
            return lark.parse(text, start=start)
        finally:
            build.depth = {}


# --------------------------------------------------------------------------- literal wrappers
@dataclass(frozen=True)
class _List:
    items: tuple
    pos: Pos | None


@dataclass(frozen=True)
class _Str:
    text: str
    pos: Pos | None


@dataclass(frozen=True)
class _Include:
    target: str
    is_path: bool
    args: list
    pos: Pos | None


@dataclass(frozen=True)
class _SeqName:
    name: str
    pos: Pos | None


@dataclass(frozen=True)
class _Receiver:
    phases: tuple
    pos: Pos | None


# --------------------------------------------------------------------------- transformer
class _Build(Transformer):
    """Inline (LALR) transformer: builds model nodes while parsing (no recursion)."""

    def __init__(self, filename: str, lines: list[str]):
        super().__init__()
        self.filename = filename
        self.lines = lines
        self.depth: dict[int, int] = {}

    # -- helpers
    def pos(self, tok) -> Pos | None:
        if isinstance(tok, Token) and tok.line is not None:
            line = tok.line
            text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
            return Pos(self.filename, line, tok.column, text)
        return getattr(tok, "pos", None)

    def _d(self, node, *children) -> Expr:
        d = 1 + max((self.depth.get(id(c), 1) for c in children), default=0)
        if d > MAX_EXPR_DEPTH:
            raise error(f"expression nested deeper than {MAX_EXPR_DEPTH} levels",
                        getattr(node, "pos", None))
        self.depth[id(node)] = d
        return node

    # -- expressions
    def number(self, c):
        (tok,) = c
        return Num(float(tok), "", pos=self.pos(tok))

    def quantity(self, c):
        tok, unit = c
        return Num(float(tok), str(unit), pos=self.pos(tok))

    def name(self, c):
        (tok,) = c
        return Name(str(tok), pos=self.pos(tok))

    def call(self, c):
        fn, *args = c
        args = tuple(a for a in args if a is not None)
        for a in args:
            _want_expr(a, f"argument of {fn}()")
        return self._d(Call(str(fn), args, pos=self.pos(fn)), *args)

    def _bin(self, op, c):
        a, b = c
        _want_expr(a, f"left side of '{op}'")
        _want_expr(b, f"right side of '{op}'")
        return self._d(Bin(op, a, b, pos=a.pos), a, b)

    def add(self, c): return self._bin("+", c)
    def sub(self, c): return self._bin("-", c)
    def mul(self, c): return self._bin("*", c)
    def div(self, c): return self._bin("/", c)
    def pow(self, c): return self._bin("^", c)

    def neg(self, c):
        (a,) = c
        _want_expr(a, "operand of '-'")
        return self._d(Neg(a, pos=a.pos), a)

    def list(self, c):
        items = tuple(x for x in c if x is not None)
        pos = getattr(items[0], "pos", None) if items else None
        return _List(items, pos)

    def _decode(self, tok) -> str:
        try:
            return json.loads(str(tok), strict=False)
        except ValueError:
            raise error("invalid escape in string", self.pos(tok),
                        hint='use \\" \\\\ \\n \\t or \\uXXXX') from None

    def string(self, c):
        (tok,) = c
        return _Str(self._decode(tok), self.pos(tok))

    # -- arguments
    def posarg(self, c):
        (v,) = c
        return ("", v, getattr(v, "pos", None))

    def kwarg(self, c):
        k, v = c
        return (str(k), v, self.pos(k))

    def args(self, c):
        return list(c)

    # -- statements
    def sequence_decl(self, c):
        _, name = c
        return _SeqName(str(name), self.pos(name))

    def param_default(self, c):
        _, name, e = c
        _want_expr(e, f"default of param {name}")
        return Param(_param_name(name, self.pos(name)), e, "", pos=self.pos(name))

    def param_unit(self, c):
        _, name, unit = c
        if str(unit) not in UNITS:
            raise error(f"unknown unit {str(unit)!r}", self.pos(unit),
                        hint=closest(str(unit), UNITS))
        return Param(_param_name(name, self.pos(name)), None, str(unit), pos=self.pos(name))

    def channel_decl(self, c):
        _, name, kind, args = c
        pos = self.pos(name)
        if str(kind) not in CHANNEL_KINDS:
            raise error(f"unknown channel kind {str(kind)!r}", self.pos(kind),
                        hint=closest(str(kind), CHANNEL_KINDS)
                        or f"kinds: {', '.join(CHANNEL_KINDS)}")
        opts = _options(args or [], [], {"full_scale": "expr", "freq": "expr"}, "channel")
        if str(kind) != "field" and opts:
            raise error(f"options {', '.join(opts)} apply to field channels only", pos)
        return ChannelDecl(str(name), str(kind), opts.get("full_scale"), opts.get("freq"),
                           pos=pos)

    def receiver_decl(self, c):
        kw, v = c
        return _Receiver(_phases(v, "receiver"), self.pos(kw))

    def sweep_decl(self, c):
        _, name, v = c
        pos = self.pos(name)
        if isinstance(v, _List):
            if not v.items:
                raise error("an empty sweep list", pos)
            return Sweep(str(name), "list", tuple(_want_expr(x, "sweep value")
                                                  for x in v.items), pos=pos)
        if isinstance(v, Call) and v.fn in ("lin", "log"):
            if len(v.args) != 3:
                raise error(f"{v.fn}() takes (start, stop, n), got {len(v.args)} arguments",
                            v.pos)
            return Sweep(str(name), v.fn, v.args, pos=pos)
        hint = closest(v.fn, ("lin", "log")) if isinstance(v, Call) else None
        raise error("a sweep is lin(start, stop, n), log(start, stop, n) or [v1, v2, ...]",
                    getattr(v, "pos", pos), hint=hint)

    def include(self, c):
        kw, target, args = c
        is_path = target.type == "STRING"
        text = self._decode(target) if is_path else str(target)
        return _Include(text, is_path, args or [], self.pos(kw))

    def element(self, c):
        kw, args = c
        return _element(str(kw), args or [], self.pos(kw))

    def repeat(self, c):
        kw, count, *body = c
        _want_expr(count, "repeat count")
        return Repeat(count, tuple(x for x in body if x is not None), pos=self.pos(kw))

    def parallel(self, c):
        kw, *body = c
        return Parallel(tuple(x for x in body if x is not None), pos=self.pos(kw))

    def start(self, c):
        return [x for x in c if x is not None]

    def value(self, c):  # pragma: no cover - only with start="value"
        return c[0]


def _param_name(tok, pos) -> str:
    name = str(tok)
    if name in RESERVED:
        raise error(f"{name!r} is reserved and cannot be a parameter name", pos)
    return name


def _want_expr(v, what: str):
    if isinstance(v, Expr):
        return v
    kind = "a list" if isinstance(v, _List) else "a string"
    raise error(f"{what} must be an expression, not {kind}", getattr(v, "pos", None))


def _phases(v, what: str) -> tuple:
    items = v.items if isinstance(v, _List) else (v,)
    if not items:
        raise error(f"{what}: an empty phase list", getattr(v, "pos", None))
    return tuple(phase_expr(_want_expr(x, f"{what} phase")) for x in items)


_ELEMENTS = {
    "pulse": (["duration"], {"duration": "expr", "shape": "name", "amp": "expr",
                             "freq": "expr", "offset": "expr", "phase": "phase",
                             "loop_phase": "phase", "angle": "expr", "sigma": "expr",
                             "lobes": "expr", "span": "expr", "order": "expr",
                             "beta": "expr", "mu": "expr", "channel": "name",
                             "label": "string"}),
    "ideal": (["angle", "phase"], {"angle": "expr", "phase": "phase", "loop_phase": "phase",
                                   "channel": "name", "label": "string"}),
    "delay": (["duration"], {"duration": "expr"}),
    "detect": (["duration"], {"duration": "expr", "channel": "name", "label": "string"}),
    "marker": (["duration"], {"duration": "expr", "channel": "name", "label": "string"}),
}


def _options(args, positional: list[str], allowed: dict[str, str], what: str) -> dict:
    out: dict = {}
    i = 0
    seen_kw = False
    for key, v, pos in args:
        if not key:
            if seen_kw:
                raise error(f"{what}: positional argument after a keyword argument", pos)
            if i >= len(positional):
                raise error(f"{what}: too many positional arguments", pos,
                            hint="name the option, e.g. amp=0.5" if allowed else None)
            key = positional[i]
            i += 1
        else:
            seen_kw = True
        if key not in allowed:
            raise error(f"{what}: unknown option {key!r}", pos,
                        hint=closest(key, allowed) or "options: " + ", ".join(allowed))
        if key in out:
            raise error(f"{what}: option {key!r} given twice", pos)
        kind = allowed[key]
        if kind == "expr":
            out[key] = _want_expr(v, f"{what} {key}")
        elif kind == "phase":
            out[key] = _phases(v, f"{what} {key}")
        elif kind == "name":
            if not isinstance(v, Name):
                raise error(f"{what}: {key} must be a name", getattr(v, "pos", pos))
            out[key] = v
        elif kind == "string":
            if not isinstance(v, _Str):
                raise error(f"{what}: {key} must be a quoted string", getattr(v, "pos", pos),
                            hint=f'e.g. {key}="p90"')
            out[key] = v.text
    return out


def _element(kind: str, args, pos: Pos | None):
    positional, allowed = _ELEMENTS[kind]
    o = _options(args, positional, allowed, kind)
    required = positional[:1]
    for r in required:
        if r not in o:
            raise error(f"{kind}: missing {r}", pos, hint=f"e.g. {kind}("
                        + ("100 ns" if r == "duration" else "90 deg") + ")")
    ch = o["channel"].id if "channel" in o else ""
    label = o.get("label", "")
    if kind == "pulse":
        shape = "rect"
        if "shape" in o:
            shape = o["shape"].id
            if shape not in SHAPES:
                raise error(f"unknown pulse shape {shape!r}", o["shape"].pos,
                            hint=closest(shape, SHAPES) or f"shapes: {', '.join(SHAPES)}")
        sp = tuple((k, o[k]) for k in SHAPE_PARAM_NAMES if k in o)
        return PulseEl(o["duration"], shape, o.get("amp"), o.get("freq"), o.get("offset"),
                       o.get("phase", (Axis("x"),)), o.get("loop_phase", ()), o.get("angle"),
                       sp, ch, label, pos=pos)
    if kind == "ideal":
        return IdealEl(o["angle"], o.get("phase", (Axis("x"),)), o.get("loop_phase", ()), ch,
                       label, pos=pos)
    if kind == "delay":
        return DelayEl(o["duration"], pos=pos)
    if kind == "detect":
        return DetectEl(o["duration"], ch, label, pos=pos)
    return MarkerEl(o["duration"], ch, label, pos=pos)


# --------------------------------------------------------------------------- entry points
def parse(text: str, filename: str = "<string>", *, _stack: tuple[str, ...] = ()) -> Sequence:
    """Parse sequence text. ``filename`` is used in messages and to resolve relative
    ``include "path.seq"`` statements."""
    if not isinstance(text, str):
        raise SequenceError(f"sequence text must be a str, got {type(text).__name__}")
    stmts = _parse_stmts(text, filename)
    seq = _assemble(stmts, filename, _stack)
    return replace(seq, source=text, filename=filename)


def _precheck(text: str, filename: str) -> list[str]:
    lines = text.split("\n")
    if len(text) > MAX_TEXT:
        raise SequenceError(f"sequence text longer than {MAX_TEXT} characters",
                            filename=filename)
    depth = 0
    in_str = False
    for ln, line in enumerate(lines, 1):
        in_str = False
        for col, ch in enumerate(line, 1):
            if in_str:
                if ch == '"':
                    in_str = False
                continue
            if ch == "#":
                break
            if ch == '"':
                in_str = True
            elif ch in "([{":
                depth += 1
                if depth > MAX_NESTING:
                    raise SequenceError(f"brackets nested deeper than {MAX_NESTING}",
                                        filename=filename, line=ln, column=col,
                                        source_line=line)
            elif ch in ")]}":
                depth = max(depth - 1, 0)
    return lines


def _parse_stmts(text: str, filename: str) -> list:
    lines = _precheck(text, filename)
    try:
        return _run(text, filename, lines, "start")
    except SequenceError:
        raise
    except UnexpectedInput as exc:
        raise _syntax_error(exc, filename, lines) from None
    except RecursionError:
        raise SequenceError("sequence nested too deeply", filename=filename) from None
    except Exception as exc:  # lark wraps callback errors in VisitError
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, SequenceError):
            raise inner from None
        if isinstance(inner, RecursionError):
            raise SequenceError("sequence nested too deeply", filename=filename) from None
        raise


def parse_expr(text: str, filename: str = "<expr>") -> Expr:
    """Parse one expression (``"tau - t90/2"``, ``"200 ns"``, ``"-x"``)."""
    if not isinstance(text, str):
        raise SequenceError(f"expected an expression string, got {text!r}")
    lines = _precheck(text, filename)
    try:
        v = _run(text, filename, lines, "value")
    except SequenceError:
        raise
    except UnexpectedInput as exc:
        raise _syntax_error(exc, filename, lines) from None
    except Exception as exc:
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, SequenceError):
            raise inner from None
        raise
    return _want_expr(v, "value")


def _syntax_error(exc: UnexpectedInput, filename: str, lines: list[str]) -> SequenceError:
    line = getattr(exc, "line", None)
    col = getattr(exc, "column", None)
    if not isinstance(line, int) or line < 1:
        line, col = len(lines), len(lines[-1]) + 1 if lines else 1
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    hint = None
    if isinstance(exc, UnexpectedCharacters):
        ch = src[col - 1] if 0 < col <= len(src) else "?"
        msg = f"unexpected character {ch!r}"
        if ch == "'":
            hint = 'strings use double quotes, e.g. label="p90"'
        elif ch in "%°":
            hint = "write angles as 90 deg and fractions as 0.5"
    elif isinstance(exc, UnexpectedToken):
        tok = exc.token
        got = "end of input" if tok.type == "$END" else repr(str(tok))
        msg = f"unexpected {got}"
        expected = sorted({_TOKEN_NAMES.get(t, t.lower()) for t in exc.expected})
        if expected:
            hint = "expected " + (", ".join(expected[:8]) + (" ..." if len(expected) > 8
                                                              else ""))
        if tok.type == "NAME" and str(tok) not in UNITS and "NAME" not in exc.expected:
            close = closest(str(tok), ["pulse", "ideal", "delay", "detect", "marker",
                                        "param", "channel", "receiver", "sweep", "include",
                                        "repeat", "parallel", "sequence"])
            if close:
                hint = close
    elif isinstance(exc, UnexpectedEOF):
        msg = "unexpected end of input"
        hint = "a bracket or a statement is not finished"
    else:  # pragma: no cover
        msg = str(exc).splitlines()[0]
    return SequenceError(msg, filename=filename, line=line, column=col or 1, source_line=src,
                         hint=hint)


def load(spec: str | os.PathLike, *, _stack: tuple[str, ...] = ()) -> Sequence:
    """Load a ``.seq`` file, or a library sequence by name (``"hahn"``)."""
    path = resolve(spec)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # located like a syntax error: file:line:column
        head = data[:exc.start]
        line = head.count(b"\n") + 1
        column = len(head) - (head.rfind(b"\n") + 1) + 1
        raise SequenceError(f"not a UTF-8 text file (byte 0x{data[exc.start]:02x}: "
                            f"{exc.reason})", filename=str(path), line=line, column=column,
                            hint="a .seq file is text; save it as UTF-8") from None
    return parse(text, filename=str(path), _stack=_stack)


def library_names() -> list[str]:
    return sorted(p.stem for p in LIBRARY.glob("*.seq"))


def resolve(spec: str | os.PathLike, relative_to: str | None = None) -> Path:
    """The file a sequence spec names: an existing path, or a library sequence name."""
    s = os.fspath(spec)
    candidates = []
    if relative_to and not os.path.isabs(s):
        candidates.append(Path(relative_to).resolve().parent / s)
    candidates.append(Path(s))
    for c in candidates:
        if c.is_file():
            return c.resolve()
    name = s[:-4] if s.endswith(".seq") else s
    lib = LIBRARY / f"{name}.seq"
    if "/" not in name and os.sep not in name and lib.is_file():
        return lib
    raise SequenceError(f"no sequence file or library sequence {s!r}",
                        hint=closest(name, library_names())
                        or "library: " + ", ".join(library_names()))


# --------------------------------------------------------------------------- assembly
def _assemble(stmts: list, filename: str, stack: tuple[str, ...]) -> Sequence:
    name = ""
    params: list[Param] = []
    channels: list[ChannelDecl] = []
    receiver: tuple = ()
    inc_receiver: tuple = ()
    sweeps: list[Sweep] = []
    own_params = {s.name for s in stmts if isinstance(s, Param)}
    own_channels = {s.name for s in stmts if isinstance(s, ChannelDecl)}
    pnames: dict[str, Param] = {}
    cnames: dict[str, ChannelDecl] = {}

    def add_param(p: Param, own: bool):
        old = pnames.get(p.name)
        if old is not None:
            if own:
                raise error(f"parameter {p.name!r} declared twice", p.pos,
                            hint=f"first declared at line {old.pos.line}" if old.pos else None)
            if old != p:
                raise error(f"parameter {p.name!r} comes from two includes with different "
                            "defaults", p.pos, hint="declare it in this file to choose")
            return
        pnames[p.name] = p
        params.append(p)

    def add_channel(c: ChannelDecl, own: bool):
        old = cnames.get(c.name)
        if old is not None:
            if own:
                raise error(f"channel {c.name!r} declared twice", c.pos)
            if old.kind != c.kind:
                raise error(f"channel {c.name!r} is a {old.kind} channel here and a "
                            f"{c.kind} channel in an included sequence", c.pos)
            return
        cnames[c.name] = c
        channels.append(c)

    def expand(items) -> list:
        nonlocal inc_receiver
        out = []
        for it in items:
            if isinstance(it, _Include):
                inc = _include(it, filename, stack)
                for p in inc.params:
                    if p.name not in own_params:
                        add_param(p, own=False)
                for c in inc.channels:
                    if c.name not in own_channels:
                        add_channel(c, own=False)
                    elif cnames.get(c.name) and cnames[c.name].kind != c.kind:
                        raise error(f"channel {c.name!r} has a different kind in the "
                                    f"included sequence {it.target!r}", it.pos)
                if inc.receiver and not inc_receiver:
                    inc_receiver = inc.receiver
                out.extend(inc.body)
            elif isinstance(it, Repeat):
                out.append(replace(it, body=tuple(expand(it.body))))
            elif isinstance(it, Parallel):
                out.append(replace(it, body=tuple(expand(it.body))))
            else:
                out.append(it)
        return out

    body_items = []
    for s in stmts:
        if isinstance(s, _SeqName):
            if name:
                raise error("sequence name given twice", s.pos)
            name = s.name
        elif isinstance(s, Param):
            add_param(s, own=True)
        elif isinstance(s, ChannelDecl):
            add_channel(s, own=True)
        elif isinstance(s, _Receiver):
            if receiver:
                raise error("receiver phase list given twice", s.pos)
            receiver = s.phases
        elif isinstance(s, Sweep):
            if any(w.name == s.name for w in sweeps):
                raise error(f"parameter {s.name!r} swept twice", s.pos)
            sweeps.append(s)
        else:
            body_items.extend(expand([s]))

    seq = Sequence(body=tuple(body_items), params=tuple(params), channels=tuple(channels),
                   receiver=receiver or inc_receiver, sweeps=tuple(sweeps), name=name)
    _check_names(seq)
    return seq


def _include(it: _Include, filename: str, stack: tuple[str, ...]) -> Sequence:
    try:
        path = resolve(it.target, relative_to=None if filename.startswith("<") else filename)
    except SequenceError as exc:
        raise error(exc.message, it.pos, hint=exc.hint) from None
    key = str(path)
    chain = stack + ((filename,) if filename and filename not in stack else ())
    if key in chain or key == filename:
        names = " → ".join(Path(s).stem for s in chain + (key,))
        raise error(f"recursive include: {names}", it.pos,
                    hint="a sequence cannot include itself, directly or indirectly")
    if len(chain) > 32:
        raise error("includes nested deeper than 32", it.pos)
    inc = load(path, _stack=chain)
    # include arguments set the defaults of the included sequence's parameters
    have = {p.name: p for p in inc.params}
    newp = list(inc.params)
    for key_, v, pos in it.args:
        if not key_:
            raise error("include arguments must be named, e.g. include hahn(tau = 5 us)",
                        pos)
        if key_ not in have:
            raise error(f"{it.target!r} has no parameter {key_!r}", pos,
                        hint=closest(key_, have) or "parameters: " + ", ".join(have))
        e = _want_expr(v, f"include argument {key_}")
        i = next(j for j, p in enumerate(newp) if p.name == key_)
        newp[i] = replace(newp[i], default=e, unit="")
    return replace(inc, params=tuple(newp))


def _check_names(seq: Sequence) -> None:
    """Every name in an expression is a parameter, a constant or a unit; every sweep
    names a parameter; every element's channel is declared or implicit."""
    known = {p.name for p in seq.params}
    allowed = known | set(CONSTANTS) | set(UNITS)

    def check(e):
        for n in walk_names(e):
            if n.id not in allowed:
                if n.id in ("x", "y"):
                    raise error(f"phase axis {n.id!r} inside arithmetic", n.pos,
                                hint="axes x, y, -x, -y stand alone; write e.g. 90 deg")
                raise error(f"unknown name {n.id!r}", n.pos,
                            hint=closest(n.id, sorted(known | set(CONSTANTS)))
                            or f"declare it: param {n.id} = ...")

    for p in seq.params:
        if p.default is not None:
            check(p.default)
    for c in seq.channels:
        for e in (c.full_scale, c.freq):
            if e is not None:
                check(e)
    for e in seq.receiver:
        check(e)
    for s in seq.sweeps:
        if s.name not in known:
            raise error(f"sweep of unknown parameter {s.name!r}", s.pos,
                        hint=closest(s.name, known) or f"declare it: param {s.name} = ...")
        for e in s.args:
            check(e)
    chan_names = {c.name for c in seq.channels}
    for el in iter_elements(seq.body):
        for e in element_exprs(el):
            check(e)
        ch = getattr(el, "channel", "")
        if ch and ch not in chan_names:
            raise error(f"unknown channel {ch!r}", el.pos,
                        hint=closest(ch, chan_names)
                        or f"declare it: channel {ch} : field|marker|detector")


__all__ = ["LIBRARY", "library_names", "load", "parse", "parse_expr", "resolve",
           "Bin", "Neg"]
