"""Errors raised by :mod:`echo.fit` (both derive from :class:`sequences.errors.SpinechoError`,
which the CLI prints without a traceback, exit status 2)."""

from __future__ import annotations

from sequences.errors import SpinechoError


class FitError(SpinechoError, ValueError):
    """A fit that cannot be set up (unknown parameter, no data, bad bounds...). A fit that
    runs but does not converge is *not* an error: it is reported in ``FitResult.success``."""


class DataFileError(SpinechoError, ValueError):
    """A data file that cannot be read. The message names the file and, where it applies,
    the line (1-based) and column (1-based, with its header name)."""

    def __init__(self, path, message: str, line: int | None = None,
                 column: int | None = None, column_name: str | None = None):
        where = str(path)
        if line is not None:
            where += f":{line}"
        if column is not None:
            where += f": column {column}"
            if column_name:
                where += f" ({column_name!r})"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.column = column
