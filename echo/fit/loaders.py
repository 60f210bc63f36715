"""Load measured (or simulated) echoes for fitting.

Four formats are read, chosen by content (never by trusting the file):

* the project's result format (netCDF4/HDF5 written by :meth:`echo.result.EchoResult.save`,
  recognised by the HDF5 signature) — a sweep gives the echo ``amplitude`` per point against
  the first swept parameter, a single point gives the phase-cycled ``signal`` against time;
* a pymeasure ``Results`` CSV: header lines starting with ``#`` (``#Procedure: <...>``,
  ``#Parameters:``, ``#\\tName: value``, ``#Data:``), then one line of column labels and
  comma-separated rows. The header is parsed as text only (no module is imported);
* a Bruker BES3T data set (``.DSC`` descriptor + ``.DTA`` data, recognised by ``#DESC`` or
  the suffix; :mod:`echo.bes3t`): the x axis in SI against the values, row ``point`` of a
  2-D set;
* a plain CSV/TXT table with a header line of column names (delimiter ``,``, ``;``, tab or
  white space; lines starting with ``#`` are comments).

Columns are recognised by name, case-insensitively, with an optional unit suffix
``name (unit)``, ``name [unit]`` or ``name_unit`` (e.g. ``tau (us)``, ``time [ns]``,
``frequency (MHz)``, ``X (mV)``, ``phase (deg)``). Values are converted to SI (s, Hz, V, T,
rad). The abscissa is the column named by ``x=`` or else the first column whose name looks
like a time, delay, frequency, field or sweep value (else the first column). The signal is
``real``/``imag`` (aliases ``re``/``im``, ``x``/``y``, ``i``/``q``, ``in_phase``/
``quadrature``), or ``magnitude``/``phase`` (aliases ``mag``, ``abs``, ``r``, ``amplitude``;
``theta``, ``phi``, ``angle``), or a single real column (``signal``, ``voltage``, ``v``,
``echo``, ``amplitude``, ``magnitude``, ``chi``...; a magnitude column sets
``meta["signal_kind"] = "magnitude"`` and model fits compare it with |model|). An
uncertainty column (``sigma``,
``err``, ``error``, ``std``, ``stderr``, ``uncertainty``) gives per-point standard errors.

A row whose abscissa or signal is NaN/inf/empty is *masked* (kept, ``mask`` False) and a
:class:`UserWarning` says how many rows and which lines. Anything else that is not a number
raises :class:`~echo.fit.errors.DataFileError` naming file, line and column.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from echo.fit.errors import DataFileError

__all__ = ["EchoData", "load", "from_result", "from_arrays", "parse_column_name"]

# --------------------------------------------------------------------------- units
_SCALE = {
    # time
    "s": 1.0, "sec": 1.0, "second": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9,
    "ps": 1e-12,
    # frequency
    "hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9,
    # voltage
    "v": 1.0, "mv": 1e-3, "uv": 1e-6, "µv": 1e-6, "μv": 1e-6, "nv": 1e-9,
    # field
    "t": 1.0, "mt": 1e-3, "ut": 1e-6, "µt": 1e-6, "μt": 1e-6, "g": 1e-4, "gauss": 1e-4,
    "oe": 1e-4,
    # angle
    "rad": 1.0, "deg": math.pi / 180.0, "°": math.pi / 180.0, "degree": math.pi / 180.0,
    "degrees": math.pi / 180.0,
    # dimensionless / arbitrary
    "": 1.0, "a.u.": 1.0, "au": 1.0, "arb": 1.0, "1": 1.0, "phi0": 1.0, "emu": 1.0,
}
_SI_UNIT = {"s": "s", "hz": "Hz", "v": "V", "t": "T", "rad": "rad"}


def _unit_info(unit: str) -> tuple[float, str]:
    """(scale to SI, SI unit name) of a unit string; case matters only for m vs M
    prefixes of Hz (mHz is rare; 'MHz' and 'mhz' are both read as megahertz)."""
    u = unit.strip()
    key = u.lower()
    if key not in _SCALE:
        raise KeyError(unit)
    scale = _SCALE[key]
    base = key
    for si in ("hz", "v", "s", "t", "rad"):
        if key.endswith(si) and key not in ("", "au"):
            base = si
            break
    if key in ("deg", "°", "degree", "degrees"):
        base = "rad"
    if key in ("sec", "second"):
        base = "s"
    if key in ("g", "gauss", "oe"):
        base = "t"
    return scale, _SI_UNIT.get(base, u)


_UNIT_RE = re.compile(r"^\s*(?P<name>.*?)\s*(?:\((?P<u1>[^)]*)\)|\[(?P<u2>[^\]]*)\])\s*$")


def parse_column_name(label: str) -> tuple[str, str]:
    """Split a column label into (normalised name, unit). ``"Tau (us)"`` → ``("tau",
    "us")``; ``"time_ns"`` → ``("time", "ns")`` when the suffix is a known unit."""
    label = label.strip().strip('"').strip("'")
    m = _UNIT_RE.match(label)
    if m:
        name, unit = m.group("name"), (m.group("u1") if m.group("u1") is not None
                                       else m.group("u2"))
    else:
        name, unit = label, ""
        if "_" in label:
            head, _, tail = label.rpartition("_")
            if tail.lower() in _SCALE and tail and head:
                name, unit = head, tail
    name = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return name, unit.strip()


# ------------------------------------------------------------------------ columns
_X_NAMES = ("time", "t", "tau", "delay", "2tau", "two_tau", "frequency", "freq", "f",
            "omega", "field", "b", "h", "sweep_value", "sweep", "value", "x_value",
            "point_value", "t_wait", "wait", "n", "n_echo", "echo_index", "detuning",
            "burn_frequency", "probe_frequency", "f_probe", "f_burn")
#: swept sequence parameters whose SI unit is known when a result file does not say
_TIME_PARAMS = ("tau", "t", "time", "delay", "wait", "t_wait", "burn", "t90", "t180", "window",
                "t1", "tau_cp")
_FREQ_PARAMS = ("f", "f_probe", "f_burn", "freq", "frequency", "f_ref")
_RE_NAMES = ("real", "re", "x", "i", "in_phase", "inphase", "signal_real", "real_part",
             "amplitude_real", "echo_real", "amplitude_re", "signal_re", "echo_re")
_IM_NAMES = ("imag", "im", "y", "q", "quadrature", "signal_imag", "imag_part", "imaginary",
             "amplitude_imag", "echo_imag", "amplitude_im", "signal_im", "echo_im")
_MAG_NAMES = ("magnitude", "mag", "abs", "r", "amplitude", "amp", "modulus", "echo_amplitude",
              "amplitude_abs", "signal_abs", "echo_abs")
_PHASE_NAMES = ("phase", "theta", "phi", "angle", "arg")
_SINGLE_NAMES = ("signal", "voltage", "v", "echo", "chi", "chi2", "chi_imag", "chi''",
                 "susceptibility", "m", "moment", "flux", "y_value", "data", "value_y")
_SIGMA_NAMES = ("sigma", "err", "error", "std", "stderr", "uncertainty", "std_err",
                "sigma_v")


@dataclass
class EchoData:
    """One measured (or simulated) data set: complex ``y`` against real ``x``.

    * ``x`` (n,): sweep values or times in SI units (``x_unit``);
    * ``y`` (n,) complex: the signal (SI, ``y_unit``; a real signal has zero imaginary part);
    * ``sigma`` (n,) or None: standard error of each point (applies to Re and Im alike);
    * ``mask`` (n,) bool: True where the point is valid (NaN/inf rows are False);
    * ``source``: where it came from; ``meta``: header parameters / result attrs.
    """

    x: np.ndarray
    y: np.ndarray
    x_name: str = "x"
    x_unit: str = ""
    y_unit: str = ""
    sigma: np.ndarray | None = None
    mask: np.ndarray | None = None
    source: str = ""
    is_complex: bool = True
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.x = np.asarray(self.x, dtype=float).ravel()
        self.y = np.asarray(self.y, dtype=complex).ravel()
        if self.x.size != self.y.size:
            raise ValueError(f"x has {self.x.size} points, y {self.y.size}")
        if self.sigma is not None:
            self.sigma = np.broadcast_to(np.asarray(self.sigma, float), self.x.shape).copy()
        if self.mask is None:
            self.mask = np.isfinite(self.x) & np.isfinite(self.y)
            if self.sigma is not None:
                self.mask &= np.isfinite(self.sigma) & (self.sigma > 0)
        self.mask = np.asarray(self.mask, bool)

    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def n_valid(self) -> int:
        return int(self.mask.sum())

    def valid(self) -> EchoData:
        """A copy holding only the valid (unmasked) points."""
        m = self.mask
        return EchoData(self.x[m], self.y[m], self.x_name, self.x_unit, self.y_unit,
                        None if self.sigma is None else self.sigma[m], np.ones(m.sum(), bool),
                        self.source, self.is_complex, dict(self.meta))

    def to_dict(self) -> dict:
        return {"source": self.source, "x_name": self.x_name, "x_unit": self.x_unit,
                "y_unit": self.y_unit, "n_points": len(self), "n_valid": self.n_valid}


# ------------------------------------------------------------------------ entry point
def load(path, *, x: str | None = None, observable: str = "auto",
         point: int = 0, use_stderr: bool = False) -> EchoData:
    """Load ``path`` (result file, pymeasure CSV or plain CSV/TXT) as :class:`EchoData`.

    ``x``: name of the abscissa column (default: recognised by name). ``observable`` (result
    files only): ``"amplitude"`` (echo amplitude per sweep point), ``"signal"`` (phase-cycled
    trace of sweep point ``point`` against time), ``"windows"`` (mean signal of each detection
    window of point ``point`` against the window centre time: a CPMG echo train),
    ``"normalised"``, or ``"auto"`` (amplitude for a sweep, signal for a single point).
    ``use_stderr`` (result files): the simulation's standard errors become σ (see
    :func:`from_result`). Raises :class:`DataFileError`.
    """
    p = Path(path)
    if not p.exists():
        raise DataFileError(p, "no such file")
    if p.is_dir():
        raise DataFileError(p, "is a directory, not a data file")
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise DataFileError(p, f"cannot read: {exc.strerror or exc}") from None
    if head.startswith(b"\x89HDF") or head.startswith(b"CDF"):
        return _load_result(p, observable=observable, point=point, use_stderr=use_stderr)
    if head.startswith(b"#DESC") or p.suffix.lower() in (".dsc", ".dta"):
        return _load_bes3t(p, x=x, point=point)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(p, f"not a text file (byte {exc.start} is not UTF-8) and not a "
                               "result file") from None
    return _load_table(p, text, x=x)


def from_arrays(x, y, *, sigma=None, x_name="x", x_unit="", y_unit="", source="arrays",
                meta=None) -> EchoData:
    """Wrap arrays as :class:`EchoData` (NaNs masked with a warning)."""
    d = EchoData(np.asarray(x, float), np.asarray(y), x_name, x_unit, y_unit, sigma,
                 source=source, is_complex=np.iscomplexobj(y), meta=dict(meta or {}))
    if d.n_valid < len(d):
        bad = np.flatnonzero(~d.mask)
        warnings.warn(f"{source}: {bad.size} of {len(d)} points are NaN/inf and are masked "
                      f"(indices {_short_list(bad.tolist())})", UserWarning, stacklevel=2)
    return d


def _stderr_sigma(ds, name: str, index=None):
    """Per-point σ from a result's Monte-Carlo standard error ``name`` (:mod:`echo.stats`):
    the larger of the real and imaginary parts' errors; None unless every one is finite
    and > 0 (a noiseless quadrature grid has none: its error is not statistical)."""
    if name not in ds:
        return None
    v = ds[name].values if index is None else ds[name].values[index]
    v = np.asarray(v)
    sig = np.maximum(np.abs(v.real), np.abs(v.imag)) if np.iscomplexobj(v) else np.abs(v)
    return sig if sig.size and np.all(np.isfinite(sig)) and np.all(sig > 0) else None


def from_result(result, *, observable: str = "auto", point: int = 0,
                source: str = "result", use_stderr: bool = False) -> EchoData:
    """:class:`EchoData` from an :class:`echo.result.EchoResult` (see :func:`load`).
    ``use_stderr``: take the result's Monte-Carlo standard errors (``amplitude_stderr``,
    ``normalised_stderr``, ``signal_stderr``) as the data's σ, so a fit weights each point
    by its simulation error (None where the result has no finite, positive ones)."""
    ds = result.dataset
    n_pts = int(ds.sizes.get("point", 0))
    swept = list(getattr(result, "swept", []) or [])
    if observable == "auto":
        observable = "amplitude" if n_pts > 1 else "signal"
    meta = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float))}
    n_sim = _simulated_samples(ds.attrs)
    if n_sim:
        meta["simulated_samples"] = n_sim
    if observable in ("amplitude", "normalised"):
        if observable == "normalised":
            if "normalised" not in ds:
                raise DataFileError(source, "the result holds no normalised amplitude")
            y = ds["normalised"].values.astype(complex)
        else:
            y = ds["amplitude"].values
        if swept:
            name = swept[0]
            xv = ds[name].values
        else:
            name, xv = "point", np.arange(n_pts, dtype=float)
        unit = str(ds[name].attrs.get("units", "")) if name in ds else ""
        if not unit and name in _TIME_PARAMS:
            unit = "s"
        elif not unit and name in _FREQ_PARAMS:
            unit = "Hz"
        if observable == "amplitude":
            est = _phase_cycle_estimate(ds)
            if est is not None:
                meta = {**meta, "noise_estimate": est, "noise_source": "phase cycle"}
        sigma = (_stderr_sigma(ds, "normalised_stderr" if observable == "normalised"
                               else "amplitude_stderr") if use_stderr else None)
        return EchoData(xv, y, name, unit, "V", sigma, source=source,
                        is_complex=observable == "amplitude", meta=meta)
    if observable == "windows":
        if not 0 <= point < max(n_pts, 1):
            raise DataFileError(source, f"point {point} out of range 0..{n_pts - 1}")
        sig = ds["signal"].values[point]
        t = ds["shot_time"].values[point] if "shot_time" in ds else ds["time"].values
        win = ds["window"].values
        win = win[point] if win.ndim == 2 else win
        ks = sorted({int(k) for k in win if k >= 0})
        if not ks:
            raise DataFileError(source, "the result has no detection windows")
        centres, means = [], []
        for k in ks:
            sel = (win == k) & np.isfinite(sig)
            centres.append(float(np.mean(t[win == k])))
            means.append(sig[sel].mean() if sel.any() else np.nan)
        order = np.argsort(centres)
        return EchoData(np.asarray(centres)[order], np.asarray(means)[order], "window_time",
                        "s", "V", None, source=source, meta={**meta, "point": point})
    if observable == "signal":
        if not 0 <= point < max(n_pts, 1):
            raise DataFileError(source, f"point {point} out of range 0..{n_pts - 1}")
        t = ds["shot_time"].values[point] if "shot_time" in ds else ds["time"].values
        sigma = _stderr_sigma(ds, "signal_stderr", point) if use_stderr else None
        return EchoData(t, ds["signal"].values[point], "time", "s", "V", sigma, source=source,
                        meta=meta)
    raise DataFileError(source, f"unknown observable {observable!r} "
                                "(amplitude, signal, windows, normalised)")


def _load_bes3t(p: Path, *, x: str | None, point: int) -> EchoData:
    """A Bruker BES3T data set (.DSC/.DTA), see :mod:`echo.bes3t`."""
    from echo.bes3t import read_bes3t, to_echo_data

    d = to_echo_data(read_bes3t(p), point=point, x=x)
    if d.n_valid == 0:
        raise DataFileError(p, "no valid (finite) data points")
    if d.n_valid < len(d):
        bad = np.flatnonzero(~d.mask)
        warnings.warn(f"{p}: {bad.size} of {len(d)} points are NaN/inf and are masked "
                      f"(points {_short_list(bad.tolist())})", UserWarning, stacklevel=3)
    return d


def _simulated_samples(attrs) -> int | None:
    """The number of grains a *simulated* result was computed with (its ``model``
    attribute), None for measured data: simulated data carry the Monte-Carlo error of
    that ensemble, which a fit adds to its uncertainties."""
    if attrs.get("kind") != "simulated":
        return None
    model = attrs.get("model")
    try:
        model = json.loads(model) if isinstance(model, str) else model
        n = int(model["ensemble"]["n_samples"])
    except (TypeError, KeyError, ValueError):
        return None
    return n if n > 0 else None


def _phase_cycle_estimate(ds) -> float | None:
    """Standard error per quadrature (V) of the echo amplitudes of a result, from its
    phase-cycle steps (:func:`echo.fit.noise.phase_cycle_noise`), or None."""
    from echo.fit.noise import phase_cycle_noise

    if "trace" not in ds or "receiver" not in ds or "window" not in ds:
        return None
    win = np.asarray(ds["window"].values)
    tr = ds["trace"].values
    win = np.broadcast_to(win, (tr.shape[0], tr.shape[-1]))
    echo = ds.attrs.get("echo_window", 0)
    echo = int(echo) if isinstance(echo, (int, np.integer)) else 0
    return phase_cycle_noise(tr, ds["receiver"].values, win == echo)


def _load_result(p: Path, *, observable: str, point: int, use_stderr: bool = False) -> EchoData:
    try:
        from echo.result import EchoResult
    except ImportError:  # pragma: no cover - the engine package is part of the project
        raise DataFileError(p, "result files need echo.result, which is not available") from None
    try:
        res = EchoResult.load(p)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise DataFileError(p, f"not a readable result file ({type(exc).__name__}: {exc})") \
            from None
    for var in ("amplitude", "signal"):
        if var not in res.dataset:
            raise DataFileError(p, f"result file has no {var!r} variable")
    d = from_result(res, observable=observable, point=point, source=str(p),
                    use_stderr=use_stderr)
    if d.n_valid < len(d):
        bad = np.flatnonzero(~d.mask)
        warnings.warn(f"{p}: {bad.size} of {len(d)} points are NaN/inf and are masked "
                      f"(points {_short_list(bad.tolist())})", UserWarning, stacklevel=3)
    if d.n_valid == 0:
        raise DataFileError(p, "no valid (finite) data points")
    return d


# ----------------------------------------------------------------------------- tables
_NAN_TOKENS = {"", "nan", "+nan", "-nan", "na", "n/a", "none", "null", "inf", "+inf", "-inf",
               "infinity", "-infinity"}


def _load_table(p: Path, text: str, *, x: str | None) -> EchoData:
    lines = text.splitlines()
    meta: dict = {}
    fmt = "csv"
    header_idx = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            body = s[1:]
            if body.startswith("Procedure:"):
                fmt = "pymeasure"
                meta["procedure"] = body.partition(":")[2].strip()
            elif line.startswith("#\t") or line.startswith("#  "):
                k, sep, v = body.strip().partition(": ")
                if sep:
                    meta[k.strip()] = v.strip()
            continue
        header_idx = i
        break
    if header_idx is None:
        raise DataFileError(p, "empty file: no header line and no data")
    header_line = lines[header_idx]
    delim = _delimiter(header_line, lines[header_idx + 1: header_idx + 6])
    labels = _split(header_line, delim)
    if all(_is_number(tok) for tok in labels if tok.strip()):
        raise DataFileError(p, "the first line is numeric: a header line with column names "
                               "(e.g. 'tau (s), real (V), imag (V)') is required",
                            line=header_idx + 1)
    names, units = zip(*(parse_column_name(lab) for lab in labels), strict=True)
    names, units = list(names), list(units)
    for j, (n, lab) in enumerate(zip(names, labels, strict=True)):
        if not n:
            raise DataFileError(p, "empty column name", line=header_idx + 1, column=j + 1)
        if names.index(n) != j:
            raise DataFileError(p, f"duplicate column name {lab.strip()!r}",
                                line=header_idx + 1, column=j + 1)
    scales = []
    si_units = []
    for j, u in enumerate(units):
        try:
            sc, si = _unit_info(u)
        except KeyError:
            raise DataFileError(p, f"unknown unit {u!r}", line=header_idx + 1, column=j + 1,
                                column_name=labels[j].strip()) from None
        scales.append(sc)
        si_units.append(si)

    ncol = len(names)
    raw_rows: list[list[str]] = []
    line_no: list[int] = []
    for i in range(header_idx + 1, len(lines)):
        raw = lines[i]
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        toks = _split(raw, delim)
        if len(toks) != ncol:
            raise DataFileError(p, f"expected {ncol} columns ({', '.join(labels)}), found "
                                   f"{len(toks)}", line=i + 1)
        raw_rows.append([t.strip().strip('"') for t in toks])
        line_no.append(i + 1)
    if not raw_rows:
        raise DataFileError(p, "no data rows after the header", line=header_idx + 1)
    lines_arr = np.array(line_no)

    col = {n: j for j, n in enumerate(names)}
    # abscissa
    if x is not None:
        xn, _ = parse_column_name(x)
        if xn not in col:
            raise DataFileError(p, f"no column {x!r} (columns: {', '.join(labels)})",
                                line=header_idx + 1)
        jx = col[xn]
    else:
        jx = next((col[n] for n in _X_NAMES if n in col), 0)
    used = {jx}

    def find(cands):
        for n in cands:
            if n in col and col[n] not in used:
                return col[n]
        return None

    def column(j: int) -> np.ndarray:
        """Column j as SI floats (NaN for NaN/empty tokens); other text is an error."""
        out = np.empty(len(raw_rows))
        for r, row in enumerate(raw_rows):
            t = row[j]
            if t.lower() in _NAN_TOKENS:
                out[r] = math.nan
                continue
            try:
                v = float(t)
            except ValueError:
                raise DataFileError(p, f"cannot read {t!r} as a number", line=line_no[r],
                                    column=j + 1, column_name=labels[j].strip()) from None
            out[r] = v * scales[j] if math.isfinite(v) else math.nan
        return out

    jre, jim = find(_RE_NAMES), find(_IM_NAMES)
    jmag, jph = find(_MAG_NAMES), find(_PHASE_NAMES)
    if jre is not None and jim is not None:
        sig_cols = [jre, jim]
        re_, im_ = column(jre), column(jim)
        y = re_ + 1j * im_
        y_unit = si_units[jre]
        is_complex = True
    elif jmag is not None and jph is not None:
        sig_cols = [jmag, jph]
        mag, ph = column(jmag), column(jph)
        if units[jph] == "" and np.nanmax(np.abs(ph), initial=0.0) > 2 * math.pi + 1e-9:
            ph = np.deg2rad(ph)  # a phase without unit: degrees if it exceeds 2π anywhere
        y = mag * np.exp(1j * ph)
        y_unit = si_units[jmag]
        is_complex = True
    else:
        js = find(_SINGLE_NAMES + _MAG_NAMES + _RE_NAMES)
        if js is None:
            rest = [j for j in range(ncol) if j not in used and names[j] not in _SIGMA_NAMES]
            if len(rest) == 1:
                js = rest[0]
        if js is None:
            raise DataFileError(
                p, f"cannot tell the signal columns from {', '.join(labels)}: expected "
                   "real/imag, magnitude/phase or one signal column", line=header_idx + 1)
        sig_cols = [js]
        if names[js] in _MAG_NAMES:
            meta["signal_kind"] = "magnitude"
        y = column(js).astype(complex)
        y_unit = si_units[js]
        is_complex = False
    used.update(sig_cols)
    jsig = find(_SIGMA_NAMES)
    sigma = None if jsig is None else column(jsig)
    xv = column(jx)
    x_name = names[jx]
    if x_name in ("sweep_value", "sweep", "value") and "params" in col:
        # the measurement procedure's CSV: "params" holds "tau=1e-06;..." per row
        first = raw_rows[0][col["params"]].split(";")[0]
        if "=" in first:
            x_name = first.split("=")[0].strip()
            meta["swept"] = x_name
    bad = ~np.isfinite(xv) | ~np.isfinite(y)
    if sigma is not None:
        bad |= ~np.isfinite(sigma)
        nonpos = np.isfinite(sigma) & (sigma <= 0)
        if np.any(nonpos):
            k = int(np.flatnonzero(nonpos)[0])
            raise DataFileError(p, f"uncertainty must be > 0, got {sigma[k]!r}",
                                line=int(lines_arr[k]), column=jsig + 1,
                                column_name=labels[jsig].strip())
    if np.all(bad):
        raise DataFileError(p, f"all {bad.size} data rows contain NaN/empty values in the "
                               "abscissa or signal columns")
    if np.any(bad):
        warnings.warn(f"{p}: {int(bad.sum())} of {bad.size} rows have NaN/empty values and are "
                      f"masked (lines {_short_list(lines_arr[bad].tolist())})", UserWarning,
                      stacklevel=3)
    meta["format"] = fmt
    meta["columns"] = list(labels)
    return EchoData(xv, np.where(bad, np.nan, y), x_name, si_units[jx], y_unit,
                    None if sigma is None else np.where(bad, np.nan, sigma), ~bad, str(p),
                    is_complex, meta)


def _delimiter(header: str, sample: list[str]) -> str | None:
    """',' ';' or tab if the header has one; else None (white space)."""
    for d in ("\t", ",", ";"):
        if d in header:
            return d
    return None


def _split(line: str, delim: str | None) -> list[str]:
    if delim is None:
        return line.split()
    return next(csv.reader(io.StringIO(line), delimiter=delim, skipinitialspace=True))


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _short_list(items: list, n: int = 8) -> str:
    s = ", ".join(str(i) for i in items[:n])
    return s + (f", ... ({len(items) - n} more)" if len(items) > n else "")
