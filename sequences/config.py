"""One mechanism for every configuration file: fields, types, defaults and ranges are read
off dataclasses, so each default and each constraint is written once.

A configuration dataclass declares its fields with :func:`setting`::

    from dataclasses import dataclass
    from sequences.config import from_table, setting, validate

    @dataclass(frozen=True)
    class Awg:
        t2: float = setting(gt=0, unit="s")                        # required (no default)
        port: int = setting(5025, ge=0, le=65535, doc="TCP port")
        channel: int = setting(1, choices=(1, 2), doc="output wired to the coil")
        volts_per_tesla: float = setting(1e6, gt=0, unit="V/T")
        noise_rms: float | None = setting(None, ge=0, unit="V")   # optional
        kind: str = setting("squid", choices=("squid", "coil"))

        def __post_init__(self):                # the same rules for Python construction
            validate(self, "awg")

    awg = from_table(Awg, toml_table, where="awg", filename="lab.toml")

* :func:`from_table` builds the dataclass from a parsed TOML table: unknown keys, missing
  required fields, wrong types (``channel = "one"``), values out of range or not among the
  choices are each a :class:`ConfigError` (or the ``error`` class given, e.g.
  ``echo.model.ModelError``) whose message names the file, the dotted field, the value and
  what is allowed::

      lab.toml: awg.channel: expected an integer, got 'one' (allowed: 1 or 2)

  ``parsers={"field": fn}`` hands a field to ``fn(value, where)`` (nested tables, lists of
  tables, distributions); ``fn`` raises with ``where`` in its message.
* :func:`validate` applies the same declarations to an instance (call it from
  ``__post_init__``), converting integral floats to ``int`` and ints to ``float``.
* :func:`read_toml` / :func:`loads_toml` read the file itself, for every configuration
  file alike: a file that is not UTF-8 (``path: not a UTF-8 text file``) or not TOML
  (``path:line:column: not valid TOML: reason``, the line and a caret) raises ``error``.
* :func:`describe` lists the fields (name, type, default, allowed, unit, doc) for docs and
  ``--help`` text.

Types understood: ``float`` (finite unless ``allow_inf``; a bool is not a number), ``int``
(an integral float such as ``1e4`` is accepted), ``bool``, ``str``, ``X | None`` (``None``
only as a default: TOML has no null), ``tuple[float, ...]`` / ``tuple[int, ...]`` (from a
TOML array). Any other annotation needs a parser.

How the configuration files adopt it (one mechanism, one error format):

* model files (:mod:`echo.modelfile`): ``echo.model.Ensemble``, ``Environment``,
  ``Detection``, the distributions and noise processes declare their fields here;
  the file reader is ``from_table`` with parsers for distributions and the noise list.
* virtual-lab files (:mod:`instruments.virtual.lab`): one dataclass per table
  (``[awg]``, ``[digitizer]``, ``[lockin]``) and one for the top level.
* lab files (:mod:`instruments.lab`), hardware profiles (:mod:`sequences.hardware`) and the
  theory budget (:mod:`echo.theory.budget`): declare each table as a dataclass with
  :func:`setting` and read it with ``from_table(..., error=<the layer's error>)``; keep
  only cross-field checks (``low <= high``) in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any

from sequences.errors import SpinechoError

__all__ = ["ConfigError", "Spec", "setting", "validate", "from_table", "describe",
           "check_value", "known_keys", "read_toml", "loads_toml", "from_options"]

_META = "spinecho.config"
_NOVALUE = object()


class ConfigError(SpinechoError, ValueError):
    """A configuration file (or a configuration object) with a bad field.

    ``filename``, ``field`` (dotted path, ``awg.channel``), ``value`` and ``allowed``
    (text) are kept as attributes; the message holds all of them."""

    filename: str | None = None
    field: str | None = None
    value: Any = None
    allowed: str | None = None


@dataclass(frozen=True)
class Spec:
    """The constraints of one field (see :func:`setting`)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple | None = None
    allow_inf: bool = False
    unit: str = ""
    doc: str = ""
    key: str = ""

    def allowed(self) -> str | None:
        """The allowed values in words (``"> 0"``, ``"'squid' or 'coil'"``), or None."""
        if self.choices is not None:
            return _choices_text(self.choices)
        parts = [f"{op} {v!r}" for op, v in
                 ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
                 if v is not None]
        text = " and ".join(parts)
        if self.allow_inf:
            text = f"{text} or inf" if text else "inf"
        return text or None


def setting(default: Any = MISSING, *, default_factory: Any = MISSING,
            gt: float | None = None, ge: float | None = None, lt: float | None = None,
            le: float | None = None, choices: tuple | None = None, allow_inf: bool = False,
            unit: str = "", doc: str = "", key: str = "") -> Any:
    """A dataclass field with its constraints: ``default`` (omit for a required field),
    bounds ``gt``/``ge``/``lt``/``le``, ``choices``, ``allow_inf`` (``inf`` accepted
    besides the bounds), ``unit`` and ``doc`` (for :func:`describe`); ``key`` is the
    field's name in the file when it is not the field's own (a Python keyword such as
    ``lambda``, or a dotted ``table.key`` of a flat dataclass read from several tables)."""
    spec = Spec(gt, ge, lt, le, tuple(choices) if choices is not None else None, allow_inf,
                unit, doc, key)
    kw: dict[str, Any] = {"metadata": {_META: spec}}
    if default is not MISSING:
        kw["default"] = default
    if default_factory is not MISSING:
        kw["default_factory"] = default_factory
    return dataclasses.field(**kw)


def _choices_text(choices) -> str:
    items = [repr(c) for c in choices]
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} or {items[1]}"
    return "one of " + ", ".join(items)


def _raise(error: type[Exception], where: str, problem: str, value: Any = _NOVALUE,
           allowed: str | None = None, filename: str | None = None):
    text = f"{where}: {problem}" if where else problem
    if value is not _NOVALUE:
        text += f", got {value!r}"
    if allowed:
        text += f" (allowed: {allowed})"
    if filename:
        text = f"{filename}: {text}"
    exc = error(text)
    exc.filename = filename
    exc.field = where
    exc.value = None if value is _NOVALUE else value
    exc.allowed = allowed
    raise exc


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(tp) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def check_value(value: Any, tp: Any, spec: Spec | None = None, *, where: str = "",
                error: type[Exception] = ConfigError, filename: str | None = None) -> Any:
    """``value`` checked against the type ``tp`` and ``spec``, converted (int → float,
    integral float → int, list → tuple). Raises ``error`` naming ``where``."""
    spec = spec or Spec()
    tp, optional = _split_optional(tp)
    allowed = spec.allowed()
    if value is None:
        if optional:
            return None
        _raise(error, where, "missing value", allowed=allowed, filename=filename)
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"{where}: sequences.config supports tuple[X, ...] only")
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            _raise(error, where, "expected a list", value, filename=filename)
        return tuple(check_value(v, args[0], spec, where=f"{where}[{i}]", error=error,
                                 filename=filename) for i, v in enumerate(value))
    if tp is float or tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            _raise(error, where, "expected an integer" if tp is int else "expected a number",
                   value, allowed, filename)
        if tp is int and isinstance(value, numbers.Integral):
            v = int(value)  # exact, however large (a seed)
        else:
            try:
                v = float(value)
            except OverflowError:  # an int beyond the float range
                v = math.inf if value > 0 else -math.inf
            if math.isnan(v) or (math.isinf(v) and not (spec.allow_inf and v > 0)):
                _raise(error, where, "must be finite", value, allowed, filename)
            if tp is int:
                if math.isinf(v) or v != int(v):
                    _raise(error, where, "must be an integer", value, allowed, filename)
                v = int(v)
        if not (isinstance(v, float) and math.isinf(v) and spec.allow_inf):
            for op, bound, ok in (("> ", spec.gt, lambda a, b: a > b),
                                  (">= ", spec.ge, lambda a, b: a >= b),
                                  ("< ", spec.lt, lambda a, b: a < b),
                                  ("<= ", spec.le, lambda a, b: a <= b)):
                if bound is not None and not ok(v, bound):
                    _raise(error, where, f"must be {op}{bound!r}", value,
                           allowed if " and " in (allowed or "") else None, filename)
    elif tp is bool:
        if not isinstance(value, bool):
            _raise(error, where, "expected true or false", value, allowed, filename)
        v = value
    elif tp is str:
        if not isinstance(value, str):
            _raise(error, where, "expected a string", value, allowed, filename)
        v = value
    else:
        v = value
    if spec.choices is not None and v not in spec.choices:
        _raise(error, where, f"must be {_choices_text(spec.choices)}", value, None, filename)
    return v


def _spec(f: dataclasses.Field) -> Spec | None:
    return f.metadata.get(_META)


def validate(obj, where: str = "", *, error: type[Exception] = ConfigError,
             sep: str = ".") -> None:
    """Check every :func:`setting` field of the dataclass instance ``obj`` (call from
    ``__post_init__``); converted values are written back (frozen dataclasses too).
    ``sep`` joins ``where`` and the field name in messages (``"."``: ``awg.channel``)."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        spec = _spec(f)
        if spec is None:
            continue
        name = _join(where, spec.key or f.name, sep)
        value = getattr(obj, f.name)
        v = check_value(value, hints[f.name], spec, where=name, error=error)
        if v is not value:
            object.__setattr__(obj, f.name, v)


def known_keys(cls) -> tuple[str, ...]:
    """The keys a table may hold for the configuration dataclass ``cls`` (each field's
    ``key``, else its name)."""
    return tuple(_key(f) for f in dataclasses.fields(cls) if f.init)


def _key(f: dataclasses.Field) -> str:
    spec = _spec(f)
    return (spec.key if spec else "") or f.name


def from_table(cls, table: Any, *, where: str = "", filename: str | None = None,
               error: type[Exception] = ConfigError,
               parsers: Mapping[str, Callable[[Any, str], Any]] | None = None,
               extra: Mapping[str, Any] | None = None, ignore: tuple[str, ...] = (),
               sep: str = "."):
    """An instance of the dataclass ``cls`` from the TOML table ``table``.

    ``where`` is the dotted path of the table in the file (``"awg"``, ``"model.ensemble"``;
    ``""`` for the top level), ``filename`` the file, ``error`` the exception class raised.
    ``parsers`` maps a field name to ``fn(value, dotted_where)``; ``extra`` gives keyword
    arguments not read from the table; keys in ``ignore`` are skipped (another reader
    owns them); ``sep`` joins ``where`` and a key in messages. Unknown keys, missing
    required fields and bad values are errors. A field whose :func:`setting` gives a
    ``key`` is read from that key; for a dotted key (``grain.spin``) an unknown key is
    told the allowed keys of its own table."""
    parsers = dict(parsers or {})
    path = where or "<top level>"
    if not isinstance(table, Mapping):
        _raise(error, path, "expected a table", table, filename=filename)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    settable = set(fields) - set(extra or {})
    keys = {_key(fields[name]): name for name in settable}
    for key in table:
        if key in ignore:
            continue
        if key not in keys:
            known = set(keys) | set(ignore)
            if "." in key:  # a dotted key: the keys of its own table
                head = key.rsplit(".", 1)[0] + "."
                known = {k[len(head):] for k in known if k.startswith(head)} or known
            _raise(error, _join(where, key, sep), "unknown field",
                   allowed=", ".join(sorted(known)), filename=filename)
    hints = _hints(cls)
    kwargs: dict[str, Any] = dict(extra or {})
    for key, name in keys.items():
        f = fields[name]
        dotted = _join(where, key, sep)
        if key not in table:
            if f.default is MISSING and f.default_factory is MISSING:
                _raise(error, dotted, "missing field", allowed=_allowed_or_type(f, hints),
                       filename=filename)
            continue
        if name in parsers:
            try:
                kwargs[name] = parsers[name](table[key], dotted)
            except error as exc:
                _prefix_file(exc, filename)
                raise
            continue
        kwargs[name] = check_value(table[key], hints[name], _spec(f), where=dotted,
                                   error=error, filename=filename)
    try:
        return cls(**kwargs)
    except error as exc:  # a cross-field rule of __post_init__: name the table and file
        msg = str(exc)
        if where and not msg.startswith(where) and not (filename and msg.startswith(filename)):
            head = msg.split(":", 1)[0].split("[", 1)[0]
            msg = f"{where}{sep}{msg}" if head in fields else f"{where}: {msg}"
        if filename and not msg.startswith(filename):
            msg = f"{filename}: {msg}"
        new = error(msg)
        new.filename = filename
        new.field = getattr(exc, "field", None) or where
        raise new from None


def _prefix_file(exc: Exception, filename: str | None) -> None:
    if filename and not str(exc).startswith(filename):
        exc.args = (f"{filename}: {exc}",) + exc.args[1:]


def _join(where: str, key: str, sep: str = ".") -> str:
    return f"{where}{sep}{key}" if where else key


def _allowed_or_type(f: dataclasses.Field, hints) -> str | None:
    spec = _spec(f)
    text = spec.allowed() if spec else None
    if text:
        return text
    tp, _ = _split_optional(hints.get(f.name))
    return getattr(tp, "__name__", None)


def describe(cls) -> list[dict[str, Any]]:
    """One row per field of ``cls``: ``name``, ``type``, ``default`` (``MISSING`` when
    required), ``allowed``, ``unit``, ``doc``."""
    hints = _hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        spec = _spec(f) or Spec()
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        rows.append({"name": f.name, "key": spec.key or f.name, "type": hints.get(f.name),
                     "default": default, "allowed": spec.allowed(), "unit": spec.unit,
                     "doc": spec.doc})
    return rows


def read_toml(path, *, error: type[Exception] = ConfigError) -> dict:
    """The tables of the TOML file ``path`` (UTF-8; a leading BOM is dropped). A missing
    file is ``FileNotFoundError`` (the command line reports it); an unreadable file, a
    file that is not UTF-8 or not TOML raise ``error`` naming the file (and line and
    column, :func:`loads_toml`)."""
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        raise error(f"{p}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc}") from None
    return loads_toml(text, str(p), error=error)


def loads_toml(text: str, filename: str = "<toml>", *,
               error: type[Exception] = ConfigError) -> dict:
    """The tables of TOML ``text``; a syntax error raises ``error`` as
    ``filename:line:column: not valid TOML: reason`` with the line and a caret."""
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        from sequences.errors import toml_error_parts

        where, detail = toml_error_parts(filename, exc, text)
        raise error(f"{where}: not valid TOML: {detail}") from None


def from_options(cls, options: Mapping[str, Any], *, error: type[Exception] = ConfigError,
                 flags: Mapping[str, str] | None = None):
    """``cls(**options)`` for command-line options: a bad option raises ``error`` whose
    message names the flag (``--repetition-time: must be >= 0.0, got -1``) rather than the
    field. ``flags``: the flag of a field whose flag is not ``--field-name``."""
    try:
        return cls(**options)
    except error as exc:
        text = str(exc)
        name = text.split(":", 1)[0]
        if name in options:
            flag = (flags or {}).get(name, f"--{name.replace('_', '-')}")
            text = flag + text[len(name):]
        raise error(text) from None
