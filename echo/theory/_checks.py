"""Input validation shared by the theory modules: errors are :class:`echo.model.ModelError`
and name the offending field and value."""

from __future__ import annotations

from echo.model import ModelError, check_number
from sequences.config import Spec, check_value

__all__ = ["ModelError", "check_count", "check_number"]


def check_count(name: str, value, *, minimum: int = 0) -> int:
    """An integer count >= ``minimum`` (a float with integral value is accepted): the
    integer rule of :func:`sequences.config.check_value`."""
    return check_value(value, int, Spec(ge=minimum), where=name, error=ModelError)
