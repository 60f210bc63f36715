"""Input validation shared by the theory modules: errors are :class:`echo.model.ModelError`
and name the offending field and value."""

from __future__ import annotations

from echo.model import ModelError, check_number

__all__ = ["ModelError", "check_count", "check_number"]


def check_count(name: str, value, *, minimum: int = 0) -> int:
    """An integer count (a float with integral value is accepted)."""
    v = check_number(name, value)
    if v != int(v):
        raise ModelError(f"{name}: must be an integer, got {value!r}")
    if v < minimum:
        raise ModelError(f"{name}: must be >= {minimum}, got {value!r}")
    return int(v)
