"""Input validation shared by the theory modules: errors are :class:`echo.model.ModelError`
and name the offending field and value."""

from __future__ import annotations

import math

from echo.model import ModelError


def check_number(name: str, value, *, positive: bool = False, nonneg: bool = False) -> float:
    """Return ``float(value)`` or raise ModelError naming ``name``."""
    if isinstance(value, bool):
        raise ModelError(f"{name}: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ModelError(f"{name}: must be finite, got {value!r}")
    if positive and v <= 0:
        raise ModelError(f"{name}: must be > 0, got {value!r}")
    if nonneg and v < 0:
        raise ModelError(f"{name}: must be >= 0, got {value!r}")
    return v


def check_count(name: str, value, *, minimum: int = 0) -> int:
    """An integer count (a float with integral value is accepted)."""
    v = check_number(name, value)
    if v != int(v):
        raise ModelError(f"{name}: must be an integer, got {value!r}")
    if v < minimum:
        raise ModelError(f"{name}: must be >= {minimum}, got {value!r}")
    return int(v)
