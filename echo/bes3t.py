"""Bruker BES3T data files (Xepr/Xenon on Elexsys, EMX, ...): read and write.

A BES3T data set is a pair of files with one base name:

* ``NAME.DSC`` — the descriptor, text: a ``#DESC`` layer (format and axes), a ``#SPL``
  layer (standard parameters: MWFQ, A1CT, ...) and a ``#DSL`` device layer (``.DVC``
  blocks; values may run over several lines, each ending in ``\\``). ``*`` starts a comment.
  One item per line: ``KEY<white space>VALUE``; text values are in single quotes.
* ``NAME.DTA`` — the data, binary, no header: the values with x fastest, then y, then z
  (C order ``(ZPTS, YPTS, XPTS)``); a complex item is stored as (real, imaginary) pairs.
* ``NAME.XGF`` / ``.YGF`` / ``.ZGF`` — for an axis of type ``IGD`` (non-linear), its
  ``XPTS`` values in format ``XFMT`` (default ``D``) and the data's byte order.

Keys read (everything else is kept as text in :attr:`Bes3tData.params`):

=========================  ===========================================================
``BSEQ``                   byte order: ``BIG`` (Xepr's default) or ``LIT``
``IKKF``                   item kind: ``REAL`` or ``CPLX`` (one component only)
``IRFMT``/``IIFMT``        number format of real/imaginary parts: ``C`` int8, ``S`` int16,
                           ``I`` int32, ``F`` float32, ``D`` float64
``XTYP``/``YTYP``/``ZTYP``  ``IDX`` (linear axis: ``XMIN + XWID·i/(XPTS−1)``), ``IGD``
                           (values in ``.XGF``), ``NODATA`` (no such axis)
``XPTS``/``XMIN``/``XWID``  points, first value, width (likewise Y..., Z...)
``XNAM``/``XUNI``          axis name and unit (e.g. ``'Time'``, ``'ns'``; ``'Field'``, ``'G'``)
``IRNAM``/``IRUNI``        name and unit of the values; ``TITL`` the title
=========================  ===========================================================

Values are returned as stored (file units, e.g. ns and G); :func:`echo.fit.loaders.load`
converts the abscissa to SI when it compares a BES3T trace with a simulation.

Every problem raises :class:`~echo.fit.errors.DataFileError` naming the file (and the
descriptor line where it applies): a data file whose size does not match the descriptor,
unknown formats, a missing partner file... Nothing is evaluated or unpickled.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echo.fit.errors import DataFileError

__all__ = ["Bes3tAxis", "Bes3tData", "read_bes3t", "write_bes3t", "write_result",
           "to_echo_data", "bes3t_paths", "FORMATS"]

#: BES3T number format code → numpy dtype (without byte order)
FORMATS = {"C": "i1", "S": "i2", "I": "i4", "F": "f4", "D": "f8"}
_ORDER = {"BIG": ">", "LIT": "<"}
#: largest descriptor read (bytes); device layers with PulseSPEL text reach ~1 MB
MAX_DSC_BYTES = 16 * 1024 * 1024
_AXES = ("X", "Y", "Z")


@dataclass
class Bes3tAxis:
    """One axis: ``values`` in the file's unit ``unit`` (``XUNI``), name ``name``
    (``XNAM``), ``kind`` ``"IDX"`` (linear) or ``"IGD"`` (values from a ``.XGF`` file)."""

    name: str
    unit: str
    values: np.ndarray
    kind: str = "IDX"

    def __len__(self) -> int:
        return int(self.values.size)


@dataclass
class Bes3tData:
    """A BES3T data set.

    * ``data``: shape ``(XPTS,)``, ``(YPTS, XPTS)`` or ``(ZPTS, YPTS, XPTS)``, float64 or
      complex128 (integers are converted to float64);
    * ``axes``: ``[x]``, ``[x, y]`` or ``[x, y, z]`` (note: reverse of the array order);
    * ``title`` (``TITL``), ``value_name``/``value_unit`` (``IRNAM``/``IRUNI``);
    * ``params``: every key of the ``#DESC`` and ``#SPL`` layers as text;
    * ``devices``: the ``#DSL`` layer, device name → {key: text};
    * ``source``: the descriptor path.
    """

    data: np.ndarray
    axes: list[Bes3tAxis]
    title: str = ""
    value_name: str = ""
    value_unit: str = ""
    params: dict[str, str] = field(default_factory=dict)
    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    source: str = ""

    @property
    def is_complex(self) -> bool:
        return np.iscomplexobj(self.data)

    @property
    def ndim(self) -> int:
        return len(self.axes)

    def param(self, key: str, default: str | None = None) -> str | None:
        return self.params.get(key, default)


# ------------------------------------------------------------------------------ paths
def bes3t_paths(path) -> tuple[Path, Path]:
    """(descriptor, data) paths for ``path`` naming either file or the base name; the
    suffix's case is matched to the files present (``.DSC``/``.dsc``)."""
    p = Path(path)
    base = p.with_suffix("") if p.suffix.lower() in (".dsc", ".dta") else p
    return _partner(base, "DSC"), _partner(base, "DTA")


def _partner(base: Path, ext: str) -> Path:
    for cand in (ext, ext.lower(), ext.capitalize()):
        q = base.with_name(base.name + "." + cand)
        if q.exists():
            return q
    return base.with_name(base.name + "." + ext)


# ---------------------------------------------------------------------------- reading
def read_bes3t(path) -> Bes3tData:
    """Read a BES3T data set; ``path`` names the ``.DSC``, the ``.DTA`` or the base name.
    Raises :class:`DataFileError`."""
    dsc, dta = bes3t_paths(path)
    if not dsc.exists():
        raise DataFileError(dsc, "no such file (a BES3T data set needs its .DSC descriptor "
                                 "next to the .DTA)")
    if not dta.exists():
        raise DataFileError(dta, "no such file (the BES3T descriptor's data file)")
    params, devices, lines = parse_descriptor(dsc)

    def get(key, default=None):
        return params.get(key, default)

    def need_int(key, default=None) -> int:
        raw = get(key, default)
        if raw is None:
            raise DataFileError(dsc, f"descriptor has no {key}")
        try:
            v = float(raw)
        except ValueError:
            raise DataFileError(dsc, f"{key} {raw!r} is not a number", line=lines.get(key)) \
                from None
        if not (math.isfinite(v) and v >= 1 and v == int(v)):
            raise DataFileError(dsc, f"{key} {raw!r} must be a whole number >= 1",
                                line=lines.get(key))
        return int(v)

    def need_float(key, default) -> float:
        raw = get(key, default)
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise DataFileError(dsc, f"{key} {raw!r} is not a number", line=lines.get(key)) \
                from None
        if not math.isfinite(v):
            raise DataFileError(dsc, f"{key} {raw!r} is not finite", line=lines.get(key))
        return v

    order = get("BSEQ", "BIG").upper()
    if order not in _ORDER:
        raise DataFileError(dsc, f"BSEQ {order!r}: expected BIG or LIT", line=lines.get("BSEQ"))
    bo = _ORDER[order]
    kinds = [k.strip().upper() for k in get("IKKF", "REAL").split(",")]
    if len(kinds) != 1:
        raise DataFileError(dsc, f"IKKF {get('IKKF')!r}: {len(kinds)} components; only "
                                 "single-component data sets are supported",
                            line=lines.get("IKKF"))
    kind = kinds[0]
    if kind not in ("REAL", "CPLX"):
        raise DataFileError(dsc, f"IKKF {kind!r}: expected REAL or CPLX", line=lines.get("IKKF"))
    rfmt = _format(dsc, "IRFMT", get("IRFMT", "D"), lines)
    ifmt = _format(dsc, "IIFMT", get("IIFMT", get("IRFMT", "D")), lines) \
        if kind == "CPLX" else rfmt
    if kind == "CPLX" and ifmt != rfmt:
        raise DataFileError(dsc, f"IRFMT {rfmt} and IIFMT {ifmt} differ; mixed formats are "
                                 "not supported", line=lines.get("IIFMT"))

    shape = []
    axes: list[Bes3tAxis] = []
    for a in _AXES:
        typ = get(f"{a}TYP", "IDX" if a == "X" else "NODATA").upper()
        if typ == "NODATA":
            if a == "X":
                raise DataFileError(dsc, "XTYP NODATA: the data set has no x axis",
                                    line=lines.get("XTYP"))
            break
        if typ not in ("IDX", "IGD"):
            raise DataFileError(dsc, f"{a}TYP {typ!r}: expected IDX, IGD or NODATA "
                                     "(NTUP axes are not supported)", line=lines.get(f"{a}TYP"))
        n = need_int(f"{a}PTS")
        shape.append(n)
        axes.append(Bes3tAxis(_unquote(get(f"{a}NAM", "")), _unquote(get(f"{a}UNI", "")),
                              np.empty(0), typ))
    # the size check comes first: it guards every allocation below
    n_values = math.prod(shape)
    itemsize = np.dtype(FORMATS[rfmt]).itemsize * (2 if kind == "CPLX" else 1)
    expected = n_values * itemsize
    actual = dta.stat().st_size
    if actual != expected:
        dims = " × ".join(str(n) for n in shape)
        raise DataFileError(dta, f"holds {actual} bytes, but the descriptor describes "
                                 f"{dims} {kind} values of format {rfmt} = {expected} bytes")
    for i, (a, ax) in enumerate(zip(_AXES, axes, strict=False)):
        n = shape[i]
        if ax.kind == "IDX":
            lo = need_float(f"{a}MIN", "0")
            width = need_float(f"{a}WID", "0")
            ax.values = lo + width * (np.arange(n) / (n - 1) if n > 1 else np.zeros(1))
        else:
            ax.values = _read_axis_file(dsc, a, n, bo, get, lines)
            if ax.values is None:  # no .XGF: Xepr's fallback is the linear axis
                lo, width = need_float(f"{a}MIN", "0"), need_float(f"{a}WID", "0")
                ax.values = lo + width * (np.arange(n) / (n - 1) if n > 1 else np.zeros(1))
                ax.kind = "IDX"
    raw = np.fromfile(dta, dtype=np.dtype(bo + FORMATS[rfmt]))
    values = raw.astype(np.float64)
    if kind == "CPLX":
        values = values[0::2] + 1j * values[1::2]
    data = values.reshape(tuple(reversed(shape)))
    return Bes3tData(data=data, axes=axes, title=_unquote(get("TITL", "")),
                     value_name=_unquote(get("IRNAM", "")),
                     value_unit=_unquote(get("IRUNI", "")), params=params, devices=devices,
                     source=str(dsc))


def _format(dsc, key, code, lines) -> str:
    c = str(code).strip().upper()
    if c not in FORMATS:
        what = {"A": "ASCII", "0": "no data", "N": "no data"}.get(c, "unknown")
        raise DataFileError(dsc, f"{key} {code!r} ({what}): expected one of "
                                 f"{', '.join(FORMATS)} (int8, int16, int32, float32, float64)",
                            line=lines.get(key))
    return c


def _read_axis_file(dsc: Path, a: str, n: int, bo: str, get, lines) -> np.ndarray | None:
    path = _partner(dsc.with_suffix(""), f"{a}GF")
    if not path.exists():
        warnings.warn(f"{dsc}: {a}TYP IGD but no {path.name}; using the linear axis from "
                      f"{a}MIN/{a}WID", UserWarning, stacklevel=3)
        return None
    fmt = _format(dsc, f"{a}FMT", get(f"{a}FMT", "D"), lines)
    dt = np.dtype(bo + FORMATS[fmt])
    size = path.stat().st_size
    if size != n * dt.itemsize:
        raise DataFileError(path, f"holds {size} bytes, but {a}PTS {n} values of format "
                                  f"{fmt} are {n * dt.itemsize} bytes")
    return np.fromfile(path, dtype=dt).astype(np.float64)


_SECTION_RE = re.compile(r"^#(DESC|SPL|DSL|MHL)\b")


def parse_descriptor(path) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, int]]:
    """Parse a ``.DSC`` descriptor: (``params`` of the DESC and SPL layers, ``devices`` of
    the DSL layer, line number of each param key). Multi-line values (lines ending in
    ``\\``) are joined, their ``\\n`` escapes turned into new lines."""
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_DSC_BYTES:
        raise DataFileError(p, f"{size} bytes: too large for a BES3T descriptor "
                               f"(limit {MAX_DSC_BYTES})")
    raw = p.read_bytes()
    text = raw.decode("latin-1")  # Xepr writes 8-bit text (µ as 0xB5)
    if not text.lstrip().startswith("#DESC"):
        raise DataFileError(p, "not a BES3T descriptor (it does not start with #DESC)", line=1)
    params: dict[str, str] = {}
    lines_of: dict[str, int] = {}
    devices: dict[str, dict[str, str]] = {}
    section = ""
    device: str | None = None
    all_lines = text.splitlines()
    i = 0
    while i < len(all_lines):
        line = all_lines[i]
        lineno = i + 1
        i += 1
        s = line.strip()
        if not s or s.startswith("*"):
            continue
        m = _SECTION_RE.match(s)
        if m:
            section = m.group(1)
            device = None
            continue
        if s.startswith(".DVC"):
            device = s[4:].split(",")[0].strip()
            devices.setdefault(device, {})
            continue
        if s.startswith("#"):
            continue
        parts = s.split(None, 1)
        key = parts[0]
        value = parts[1] if len(parts) > 1 else ""
        if value.endswith("\\"):  # a value over several lines
            chunks = [value[:-1]]
            while i < len(all_lines):
                nxt = all_lines[i]
                i += 1
                if nxt.endswith("\\"):
                    chunks.append(nxt[:-1])
                else:
                    chunks.append(nxt)
                    break
            value = "".join(chunks).replace("\\n", "\n")
        value = value.strip()
        if section == "DSL" and device is not None:
            devices[device][key] = value
        elif section in ("DESC", "SPL"):
            params.setdefault(key, value)
            lines_of.setdefault(key, lineno)
    return params, devices, lines_of


def _unquote(v: str) -> str:
    v = (v or "").strip()
    if len(v) >= 2 and v[0] == v[-1] == "'":
        return v[1:-1]
    return v


# ------------------------------------------------------------------ BES3T → EchoData
_NAME_OF_UNIT = {"s": "time", "Hz": "frequency", "T": "field"}


def to_echo_data(b: Bes3tData, *, point: int = 0, x: str | None = None):
    """:class:`echo.fit.loaders.EchoData` of a BES3T data set: the abscissa (x axis)
    converted to SI through the loaders' unit table (ns → s, G → T, MHz → Hz; an unknown
    unit is kept as it is), the values as stored. A 2-D/3-D data set gives its row
    ``point`` (index along y, flattened over y and z), named in ``meta``. The x name is
    ``XNAM`` (lower case), or from the unit when ``XNAM`` is empty or ``'unknown'``."""
    from echo.fit.loaders import EchoData, _unit_info, parse_column_name

    src = b.source
    ax = b.axes[0]
    try:
        scale, si = _unit_info(ax.unit)
    except KeyError:
        scale, si = 1.0, ax.unit
    name = parse_column_name(ax.name)[0] if ax.name else ""
    if name in ("", "unknown"):
        name = _NAME_OF_UNIT.get(si, "x")
    if x is not None and parse_column_name(x)[0] != name:
        raise DataFileError(src, f"x={x!r}: a BES3T data set has one abscissa, {name!r} "
                                 f"({ax.unit or 'no unit'})")
    rows = b.data.reshape(-1, b.data.shape[-1])
    if not 0 <= point < rows.shape[0]:
        raise DataFileError(src, f"point {point} out of range 0..{rows.shape[0] - 1} (the "
                                 f"data set has {rows.shape[0]} rows)")
    try:
        yscale, yunit = _unit_info(b.value_unit)
    except KeyError:
        yscale, yunit = 1.0, b.value_unit
    meta = {"format": "bes3t", "title": b.title, "rows": rows.shape[0]}
    meta.update({k: v for k, v in b.params.items() if len(v) < 200})
    if b.ndim > 1:
        meta["point"] = point
        meta["y_name"] = b.axes[1].name
        meta["y_unit"] = b.axes[1].unit
        if b.ndim == 2:
            meta["y_value"] = float(b.axes[1].values[point])
    y = rows[point] * yscale
    return EchoData(ax.values * scale, y, name, si, yunit, None, source=src,
                    is_complex=b.is_complex, meta=meta)


# ---------------------------------------------------------------------------- writing
def write_bes3t(path, data, axes, *, title: str = "", value_name: str = "Intensity",
                value_unit: str = "", byte_order: str = "BIG", fmt: str = "D",
                params: dict | None = None, comments=()) -> tuple[Path, ...]:
    """Write ``data`` as a BES3T data set; returns the paths written.

    ``path``: the ``.DSC``/``.DTA`` path or the base name. ``data``: real or complex,
    shape ``(nx,)``, ``(ny, nx)`` or ``(nz, ny, nx)``. ``axes``: one ``(name, unit,
    values)`` per axis, x first (the reverse of the array order); an axis whose values
    are not equally spaced (relative deviation > 1e-9 of its width) is written as
    ``IGD`` with a ``.XGF``/``.YGF``/``.ZGF`` file (float64). ``byte_order``: ``"BIG"``
    (Xepr's default) or ``"LIT"``. ``fmt``: ``D`` (float64, default), ``F``, or the
    integer formats ``I``, ``S``, ``C`` (the values must then be whole numbers in range:
    nothing is rounded or clipped silently). ``params``: extra ``#SPL`` items (name →
    number or text). ``comments``: lines written as ``*`` comments after the header.
    Raises :class:`DataFileError` (naming the offending item) before any file is written.
    """
    dsc, dta = bes3t_paths(path)
    base = dsc.with_suffix("")
    arr = np.asarray(data)
    if arr.ndim not in (1, 2, 3) or arr.size == 0:
        raise DataFileError(dsc, f"data of shape {arr.shape}: expected 1, 2 or 3 "
                                 "non-empty dimensions")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataFileError(dsc, f"data of type {arr.dtype} is not numeric")
    complex_ = np.iscomplexobj(arr)
    order = str(byte_order).upper()
    if order not in _ORDER:
        raise DataFileError(dsc, f"byte_order {byte_order!r}: expected 'BIG' or 'LIT'")
    code = str(fmt).upper()
    if code not in FORMATS:
        raise DataFileError(dsc, f"fmt {fmt!r}: expected one of {', '.join(FORMATS)}")
    dt = np.dtype(_ORDER[order] + FORMATS[code])
    axes = list(axes)
    if len(axes) != arr.ndim:
        raise DataFileError(dsc, f"{len(axes)} axes for data with {arr.ndim} dimensions")
    parts = [arr.real, arr.imag] if complex_ else [arr]
    if dt.kind == "i":
        info = np.iinfo(dt)
        for part in parts:
            p = np.asarray(part, float)
            if not np.all(np.isfinite(p)) or np.any(p != np.round(p)) or \
                    np.any(p < info.min) or np.any(p > info.max):
                raise DataFileError(dsc, f"fmt {code} ({dt.name}) holds whole numbers in "
                                         f"[{info.min}, {info.max}]; the data has other "
                                         "values (use fmt='D')")
    elif code == "F":
        big = np.abs(np.concatenate([np.ravel(np.asarray(q, float)) for q in parts]))
        if np.any(np.isfinite(big) & (big > np.finfo(np.float32).max)):
            raise DataFileError(dsc, "fmt F (float32) cannot hold values beyond 3.4e38 "
                                     "(use fmt='D')")
    header: list[str] = []
    axis_files: list[tuple[Path, np.ndarray]] = []
    n_pts = list(reversed(arr.shape))
    typ_lines, fmt_lines, range_lines, text_lines = [], [], [], []
    for i, (a, spec) in enumerate(zip(_AXES, axes, strict=False)):
        try:
            name, unit, values = spec
        except (TypeError, ValueError):
            raise DataFileError(dsc, f"axis {a}: expected (name, unit, values)") from None
        vals = np.asarray(values, dtype=float).ravel()
        if vals.size != n_pts[i]:
            raise DataFileError(dsc, f"axis {a} has {vals.size} values for {n_pts[i]} points")
        if not np.all(np.isfinite(vals)):
            raise DataFileError(dsc, f"axis {a} ({name}) has non-finite values")
        lo, width = float(vals[0]), float(vals[-1] - vals[0])
        linear = vals.size == 1 or np.allclose(
            vals, lo + width * np.arange(vals.size) / (vals.size - 1), rtol=0,
            atol=1e-9 * max(abs(width), abs(lo), 1e-300))
        typ_lines.append(f"{a}TYP\t{'IDX' if linear else 'IGD'}")
        if not linear:
            fmt_lines.append(f"{a}FMT\tD")
            axis_files.append((base.with_name(base.name + f".{a}GF"), vals))
        range_lines += [f"{a}PTS\t{vals.size}", f"{a}MIN\t{lo:.17g}", f"{a}WID\t{width:.17g}"]
        text_lines += [f"{a}NAM\t{_quote(dsc, a + 'NAM', name)}",
                       f"{a}UNI\t{_quote(dsc, a + 'UNI', unit)}"]
    for a in _AXES[arr.ndim:]:
        typ_lines.append(f"{a}TYP\tNODATA")
    header += ["#DESC\t1.2 * DESCRIPTOR INFORMATION ***********************", "*",
               "*\tDataset Type and Format:", "*", "DSRC\tMAN", f"BSEQ\t{order}",
               f"IKKF\t{'CPLX' if complex_ else 'REAL'}", *typ_lines, "*",
               "*\tItem Formats:", "*", f"IRFMT\t{code}"]
    if complex_:
        header.append(f"IIFMT\t{code}")
    header += [*fmt_lines, "*", "*\tData Ranges and Resolutions:", "*", *range_lines, "*",
               "*\tDocumentational Text:", "*", f"TITL\t{_quote(dsc, 'TITL', title)}",
               f"IRNAM\t{_quote(dsc, 'IRNAM', value_name)}"]
    if complex_:
        header.append(f"IINAM\t{_quote(dsc, 'IINAM', value_name)}")
    header += [f"IRUNI\t{_quote(dsc, 'IRUNI', value_unit)}"]
    if complex_:
        header.append(f"IIUNI\t{_quote(dsc, 'IIUNI', value_unit)}")
    header += [*text_lines, "*"]
    for c in comments:
        for cl in str(c).splitlines() or [""]:
            header.append(f"* {cl}")
    now = _dt.datetime.now(_dt.UTC)
    header += ["************************************************************", "*",
               "#SPL\t1.2 * STANDARD PARAMETER LAYER", "*", "OPER    spinecho",
               f"DATE    {now:%m/%d/%y}", f"TIME    {now:%H:%M:%S}"]
    for k, v in (params or {}).items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(k)):
            raise DataFileError(dsc, f"parameter name {k!r}: letters, digits and _ only")
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            text = str(v)
            if "\n" in text or "\r" in text:
                raise DataFileError(dsc, f"parameter {k}: a value on one line is required")
            header.append(f"{k:<8}{text}")
        else:
            header.append(f"{k:<8}{float(v):.10g}" if isinstance(v, (float, np.floating))
                          else f"{k:<8}{int(v)}")
    header += ["*", "************************************************************"]
    # encode everything before touching the disk
    if complex_:
        flat = np.empty(arr.size * 2, dtype=float)
        flat[0::2] = np.ravel(arr.real)
        flat[1::2] = np.ravel(arr.imag)
    else:
        flat = np.ravel(np.asarray(arr, dtype=float))
    payload = flat.astype(dt).tobytes()
    if not dsc.parent.is_dir():
        raise DataFileError(dsc, f"directory {str(dsc.parent)!r} does not exist")
    dsc.write_text("\n".join(header) + "\n", encoding="latin-1")
    dta.write_bytes(payload)
    written = [dsc, dta]
    for p, vals in axis_files:
        p.write_bytes(vals.astype(np.dtype(_ORDER[order] + "f8")).tobytes())
        written.append(p)
    return tuple(written)


def _quote(dsc, key: str, text) -> str:
    t = str(text)
    if "'" in t or "\n" in t or "\r" in t:
        raise DataFileError(dsc, f"{key} {t!r}: BES3T text cannot hold quotes or line breaks")
    try:
        t.encode("latin-1")
    except UnicodeEncodeError:
        raise DataFileError(dsc, f"{key} {t!r}: BES3T text is 8-bit (latin-1); "
                                 "write e.g. 'us' for µs") from None
    return f"'{t}'"


# ----------------------------------------------------------------- EchoResult → BES3T
#: how an SI abscissa is written: Xepr's habit is ns for times and G for fields
_FILE_UNITS = {"s": ("ns", 1e9), "Hz": ("MHz", 1e-6), "T": ("G", 1e4)}


def write_result(result, path, *, observable: str = "amplitude", byte_order: str = "BIG",
                 title: str | None = None) -> tuple[Path, ...]:
    """Write an :class:`echo.result.EchoResult` (simulated or measured) as BES3T.

    ``observable="amplitude"``: the complex echo amplitude against the swept parameter
    (a 2-D data set when two parameters are swept on a full grid: x = the inner sweep,
    y = the outer one); ``"signal"``: the phase-cycled signal, x = time, y = sweep point
    (needs one time axis shared by every point). Times are written in ns, frequencies in
    MHz and fields in G (Xepr's units); the x axis name is the swept parameter's, so
    :func:`echo.fit.loaders.load` reads it back as that parameter.
    """
    ds = result.dataset
    swept = list(getattr(result, "swept", []) or [])
    names = ds.attrs.get("schedule_names") or []
    names = [names] if isinstance(names, str) else list(names)
    name = title if title is not None else str((names[0] if names else "")
                                               or ds.attrs.get("kind", "spinecho"))
    name = re.sub(r"[^\x20-\x7e]", "?", name).replace("'", "")[:60]
    comments = [f"written by spinecho from an EchoResult (kind={ds.attrs.get('kind', '?')}, "
                f"engine={ds.attrs.get('engine', '?')})"]
    n_pts = int(ds.sizes.get("point", 1))

    def axis_for(pname: str, values) -> tuple[str, str, np.ndarray]:
        unit = str(ds[pname].attrs.get("units", "")) if pname in ds else ""
        if not unit:
            unit = "s" if pname == "time" else _si_unit(result, pname)
        file_unit, scale = _FILE_UNITS.get(unit, (unit, 1.0))
        return pname, file_unit, np.asarray(values, float) * scale

    if observable == "amplitude":
        amp = np.asarray(ds["amplitude"].values, complex)
        if len(swept) == 2:
            outer, inner = swept
            ov, iv = ds[outer].values, ds[inner].values
            uo, ui = _unique_in_order(ov), _unique_in_order(iv)
            if uo.size * ui.size == n_pts and np.array_equal(np.repeat(uo, ui.size), ov) \
                    and np.array_equal(np.tile(ui, uo.size), iv):
                return write_bes3t(path, amp.reshape(uo.size, ui.size),
                                   [axis_for(inner, ui), axis_for(outer, uo)], title=name,
                                   value_name="echo amplitude", value_unit="V",
                                   byte_order=byte_order, comments=comments)
        if swept:
            x = axis_for(swept[0], ds[swept[0]].values)
            if len(swept) > 1:
                comments.append(f"other swept parameters ({', '.join(swept[1:])}) are not "
                                "on a grid; x is the first one")
        else:
            x = ("point", "", np.arange(n_pts, dtype=float))
        return write_bes3t(path, amp, [x], title=name, value_name="echo amplitude",
                           value_unit="V", byte_order=byte_order, comments=comments)
    if observable == "signal":
        if "shot_time" in ds:
            raise DataFileError(path, "the detection windows move from point to point; "
                                      "a BES3T 2-D data set needs one time axis "
                                      "(write observable='amplitude')")
        sig = np.asarray(ds["signal"].values, complex)
        t = axis_for("time", ds["time"].values)
        if n_pts == 1:
            return write_bes3t(path, sig[0], [("time", t[1], t[2])], title=name,
                               value_name="signal", value_unit="V", byte_order=byte_order,
                               comments=comments)
        y = axis_for(swept[0], ds[swept[0]].values) if swept else \
            ("point", "", np.arange(n_pts, dtype=float))
        return write_bes3t(path, sig, [("time", t[1], t[2]), y], title=name,
                           value_name="signal", value_unit="V", byte_order=byte_order,
                           comments=comments)
    raise DataFileError(path, f"observable {observable!r}: expected 'amplitude' or 'signal'")


def _si_unit(result, name: str) -> str:
    """SI unit of swept parameter ``name`` ("s", "Hz", "T", "rad" or ""), from the
    dimension the result's sequence text gives it (the one home of that knowledge)."""
    _, shown = result.param_unit(name)
    if shown == "deg":
        return "rad"
    for si in ("Hz", "s", "T"):
        if shown.endswith(si):
            return si
    return ""


def _unique_in_order(v) -> np.ndarray:
    _, idx = np.unique(v, return_index=True)
    return np.asarray(v)[np.sort(idx)]
