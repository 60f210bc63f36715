"""Parameter files: values for sequence parameters kept in a file, such as the calibration
written by ``spinecho tune`` (π/2 length, amplitude, echo position, receiver phase).

Format (TOML)::

    [params]                 # name = value, as for --set
    t90 = "98.4 ns"          # a string with a unit
    amp = 0.3                # or a bare number (SI, or dimensionless)
    rx = "12.5 deg"

    [tune]                   # anything else: provenance, measured figures (not read here)

One file serves several sequences: a sequence takes the values of the parameters it
declares, and the names it does not declare are reported (``fid`` has no ``t180``).
Explicit ``--set`` values override the file.
"""

from __future__ import annotations

import math
from pathlib import Path

from sequences.config import ConfigError, read_toml

__all__ = ["read_params", "write_params", "params_for"]


def read_params(path) -> dict[str, str]:
    """``{name: value text}`` of the ``[params]`` table of ``path``. Raises
    :class:`~sequences.config.ConfigError` naming the file and the entry."""
    p = Path(path)
    try:
        data = read_toml(p)
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such parameter file") from None
    table = data.get("params")
    if not isinstance(table, dict):
        raise ConfigError(f"{p}: no [params] table (name = value lines under [params])")
    out: dict[str, str] = {}
    for k, v in table.items():
        if not k.isidentifier():
            raise ConfigError(f"{p}: params.{k}: not a parameter name")
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ConfigError(f"{p}: params.{k}: expected a number or a string with a unit, "
                              f"got {v!r}")
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{p}: params.{k}: {v!r} is not finite")
        out[k] = repr(v) if isinstance(v, float) else str(v)
    return out


def write_params(path, values: dict[str, str | float], *, header: str = "",
                 extra: dict[str, dict] | None = None) -> Path:
    """Write ``values`` as the ``[params]`` table of ``path`` (strings with units or
    numbers), ``header`` as comment lines and ``extra`` tables (number/str values)."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()]
    lines += ["", "[params]"]

    def enc(v) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(float(v)) if isinstance(v, float) else str(v)

    lines += [f"{k} = {enc(v)}" for k, v in values.items()]
    for name, table in (extra or {}).items():
        lines += ["", f"[{name}]"] + [f"{k} = {enc(v)}" for k, v in table.items()]
    p = Path(path)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    read_params(p)  # what was written reads back
    return p


def params_for(seq, path) -> tuple[dict[str, str], list[str]]:
    """(values of the file for the parameters ``seq`` declares, names it ignores)."""
    values = read_params(path)
    names = set(seq.param_names)
    return ({k: v for k, v in values.items() if k in names},
            sorted(k for k in values if k not in names))
