"""Errors of the sequence language and of resolved schedules, and :class:`SpinechoError`,
the one root of every error that carries a complete message for the user.

``SpinechoError`` lives here, in the bottom layer, so that ``sequences``, ``echo`` and
``instruments`` can all derive from it without breaking the import direction
(``sequences`` imports nothing above it). The face package re-exports it as
``spinecho.SpinechoError``; the command line prints any ``SpinechoError`` as one line
``error: <message>`` (exit status 2) and never shows a traceback for it. Raise a subclass
of it for every error caused by user input (files, parameters, values, instruments).

The roots: :class:`SequenceError` (sequence text, schedules, hardware profiles),
``echo.model.ModelError`` (model parameters, engine settings), ``echo.fit.FitError`` and
``echo.fit.DataFileError``, ``instruments.errors.InstrumentError`` (every instrument,
SCPI and lab-file error), :class:`sequences.config.ConfigError` (configuration files).
"""

from __future__ import annotations


class SpinechoError(Exception):
    """Base of every spinecho error whose message is complete for the user (what, where,
    which value); the CLI prints it without a traceback and exits with status 2."""


class SequenceError(SpinechoError):
    """Any error in a sequence: syntax, units, binding, timing or hardware validation.

    ``filename``, ``line`` and ``column`` (1-based) locate the offending text when it
    came from text; ``source_line`` is that line, shown with a caret under the column.
    """

    def __init__(self, message: str, *, filename: str | None = None, line: int | None = None,
                 column: int | None = None, source_line: str | None = None,
                 hint: str | None = None):
        self.message = message
        self.filename = filename
        self.line = line
        self.column = column
        self.source_line = source_line
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.line is not None:
            where = f"{self.filename or '<string>'}:{self.line}:{self.column or 1}: "
        elif self.filename:
            where = f"{self.filename}: "
        text = f"{where}{self.message}"
        if self.source_line is not None:
            caret = " " * max((self.column or 1) - 1, 0) + "^"
            text += f"\n    {self.source_line.rstrip()}\n    {caret}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ScheduleError(SequenceError):
    """A resolved schedule is physically impossible (negative duration, overlap, ...)."""


class HardwareViolation(SequenceError):
    """A schedule breaks a hardware profile constraint."""


def toml_error_parts(path, exc: Exception, text: str | None = None) -> tuple[str, str]:
    """Locate a ``tomllib.TOMLDecodeError`` for a user message: ``(where, detail)`` with
    ``where`` = ``"path:line:column"`` (or ``"path"`` when tomllib gives no position) and
    ``detail`` = the reason, then the offending line with a caret under the column.
    ``text`` is the file's text (read from ``path`` when omitted)."""
    import re

    msg = str(exc)
    m = re.match(r"^(?P<reason>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$", msg,
                 re.DOTALL)
    if not m:
        return str(path), msg
    line, col = int(m.group("line")), int(m.group("col"))
    detail = m.group("reason")
    if text is None:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            text = None
    lines = text.splitlines() if text is not None else []
    if 1 <= line <= len(lines):
        caret = " " * max(col - 1, 0) + "^"
        detail += f"\n    {lines[line - 1].rstrip()}\n    {caret}"
    return f"{path}:{line}:{col}", detail
