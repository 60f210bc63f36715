"""Errors of the sequence language and of resolved schedules."""

from __future__ import annotations


class SequenceError(Exception):
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
