"""EchoResult: the labelled result of a simulation (or a measurement) of echoes.

An :class:`EchoResult` wraps an :class:`xarray.Dataset` with

* dims ``point`` (sweep points), ``step`` (phase-cycle steps), ``time`` (output samples);
* coords ``time`` (s), ``window`` (int, index of the detection window of each sample in
  its Schedule's ``windows``, −1 = no window), ``step``, and one coord per swept parameter
  along ``point`` (SI floats, named after the parameter);
* ``trace`` (point, step, time) complex128 [V]: detected, demodulated signal of each step;
* ``signal`` (point, time) complex128 [V]: phase-cycled (1/n) Σ_k receiver[k] · trace_k;
* ``amplitude`` (point,) complex128 [V]: the integrated echo, the mean of ``signal`` over
  the detection window labelled ``"echo"`` if any, else window 0 (all samples if the
  Schedule has no windows);
* optional ``tau_z`` (point, step, time) float64: the ensemble-mean ⟨τz⟩;
* optional ``amplitude_quiet`` (point,) complex128 and ``normalised`` (point,) float64:
  the same amplitude computed with ``Environment.quiet()`` and Re(amplitude /
  amplitude_quiet) — the in-phase normalised echo, 1 for a sample without decoherence;
* attrs: ``kind`` ("simulated" | "measured"), ``engine``, ``frame``, ``seed``,
  ``sequence`` (source text), ``model`` (JSON), ``versions`` (JSON), ``created`` (UTC ISO).

Time axis. When every sweep point has the same output times, ``time`` holds them
(absolute time in the shot, attrs["time_reference"] = "shot"). When the detection windows
move from point to point (e.g. a swept delay τ), ``time`` holds the time since the start
of each point's first detection window (attrs["time_reference"] = "window"), the 2-D coord
``shot_time`` (point, time) the absolute times and ``window`` becomes (point, time); points
with fewer samples are padded with NaN (window −1).

Files: :meth:`EchoResult.save` writes netCDF4/HDF5 through h5netcdf. Complex variables are
stored as float64 with a trailing dimension ``reim`` of length 2 (real, imaginary) and the
attribute ``complex = 1``; non-string, non-numeric attributes are stored as JSON text and
listed in the attribute ``json_attrs``. :meth:`EchoResult.load` undoes both, so a save/load
round trip is lossless (``Dataset.identical``). Loading never unpickles anything.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path

import numpy as np
import xarray as xr

from echo import duckarrays
from echo.detect import echo_amplitude, phase_cycle

__all__ = ["EchoResult", "build_result", "versions"]

_REIM = "reim"

duckarrays.install()  # no dask.array / pint import to wrap numpy arrays (seconds)


def versions() -> dict[str, str]:
    """Versions of the packages that matter for a result's provenance."""
    import importlib.metadata as md

    out = {}
    for name in ("spinecho", "numpy", "scipy", "numba", "qutip", "xarray"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def build_result(*, schedules, times, window_index, trace, tau_z=None, params=None,
                 amplitude_quiet=None, attrs=None, errors=None, bloch=None,
                 rotating_frequency=None) -> EchoResult:
    """Assemble an :class:`EchoResult` from per-point arrays.

    ``schedules``: one Schedule per sweep point; ``times`` / ``window_index``: per point
    1-D arrays; ``trace``: per point (n_steps, n_t) complex; ``tau_z``: same, float, or
    None; ``params``: per point dict name → value (swept parameters); ``amplitude_quiet``:
    per point complex or None.
    """
    n_pts = len(schedules)
    n_steps = {s.n_steps for s in schedules}
    if len(n_steps) != 1:
        raise ValueError(f"sweep points have different numbers of phase steps: {n_steps}")
    n_steps = n_steps.pop()
    lengths = [len(t) for t in times]
    n_t = max(lengths) if lengths else 0
    uniform = all(len(t) == len(times[0]) and np.array_equal(t, times[0]) for t in times)
    uniform_w = uniform and all(np.array_equal(w, window_index[0]) for w in window_index)

    tr = np.full((n_pts, n_steps, n_t), np.nan + 1j * np.nan, dtype=complex)
    tz = None if tau_z is None else np.full((n_pts, n_steps, n_t), np.nan)
    win = np.full((n_pts, n_t), -1, dtype=np.int64)
    shot = np.full((n_pts, n_t), np.nan)
    sig = np.full((n_pts, n_t), np.nan + 1j * np.nan, dtype=complex)
    amp = np.zeros(n_pts, dtype=complex)
    for p, sch in enumerate(schedules):
        m = lengths[p]
        tr[p, :, :m] = trace[p]
        if tz is not None:
            tz[p, :, :m] = tau_z[p]
        win[p, :m] = window_index[p]
        shot[p, :m] = times[p]
        sig[p, :m] = phase_cycle(trace[p], sch.receiver)
        amp[p] = echo_amplitude(sig[p, :m], window_index[p], sch)
    coords: dict = {"step": np.arange(n_steps)}
    attrs = dict(attrs or {})
    if uniform:
        coords["time"] = ("time", np.asarray(times[0], float) if n_pts else np.zeros(0))
        attrs["time_reference"] = "shot"
    else:
        first = np.array([t[0] if len(t) else 0.0 for t in times])
        # all points share the sample period, so the relative times agree where defined
        with np.errstate(invalid="ignore"):
            rel = np.nanmax(shot - first[:, None], axis=0)
        coords["time"] = ("time", rel)
        coords["shot_time"] = (("point", "time"), shot)
        attrs["time_reference"] = "window"
    coords["window"] = ("time", win[0]) if uniform_w else (("point", "time"), win)
    names: list[str] = []
    for pp in params or []:
        for name in pp:
            if name not in names:
                names.append(name)
    for name in names:
        coords[name] = ("point", np.array([float((params[p] or {}).get(name, np.nan))
                                           for p in range(n_pts)]))
    data = {"trace": (("point", "step", "time"), tr),
            "signal": (("point", "time"), sig),
            "amplitude": (("point",), amp)}
    if tz is not None:
        data["tau_z"] = (("point", "step", "time"), tz)
    data["receiver"] = (("point", "step"),
                        np.array([np.asarray(s.receiver, complex) for s in schedules]))
    if errors is not None:  # echo.stats.PointErrors per point
        def pad(get, shape, dtype):
            a = np.full((n_pts,) + shape, np.nan, dtype=dtype)
            for p, e in enumerate(errors):
                v = np.asarray(get(e))
                a[(p,) + tuple(slice(0, k) for k in v.shape)] = v
            return a

        data["trace_stderr"] = (("point", "step", "time"),
                                pad(lambda e: e.trace, (n_steps, n_t), complex))
        data["signal_stderr"] = (("point", "time"), pad(lambda e: e.signal, (n_t,), complex))
        data["amplitude_stderr"] = (("point",), pad(lambda e: e.amplitude, (), complex))
        data["abs_amplitude_stderr"] = (("point",), pad(lambda e: e.abs_amplitude, (), float))
        if tz is not None:
            data["tau_z_stderr"] = (("point", "step", "time"),
                                    pad(lambda e: e.tau_z, (n_steps, n_t), float))
        if amplitude_quiet is not None:
            data["normalised_stderr"] = (("point",), pad(lambda e: e.normalised, (), float))
    if bloch is not None:  # per point: frame → (vector (n_steps, 3, n_t), stderr)
        coords["axis"] = ("axis", ["x", "y", "z"])
        for frame in bloch[0]:
            for j, suffix in ((0, ""), (1, "_stderr")):
                a = np.full((n_pts, n_steps, 3, n_t), np.nan)
                for p, fr in enumerate(bloch):
                    a[p, :, :, :lengths[p]] = fr[frame][j]
                data[f"bloch_{frame}{suffix}"] = (("point", "step", "axis", "time"), a)
    if rotating_frequency is not None:
        data["rotating_frequency"] = (("point",), np.asarray(rotating_frequency, float))
    if amplitude_quiet is not None:
        aq = np.asarray(amplitude_quiet, dtype=complex)
        data["amplitude_quiet"] = (("point",), aq)
        with np.errstate(divide="ignore", invalid="ignore"):
            data["normalised"] = (("point",), np.real(amp / aq))
    if n_pts:  # the window averaged into ``amplitude`` (for noise estimates on reload)
        attrs.setdefault("echo_window", max(schedules[0].echo_window(), 0))
    attrs.setdefault("echo_windows", [int(s.echo_window()) for s in schedules])
    attrs.setdefault("kind", "simulated")
    attrs.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    attrs.setdefault("versions", versions())
    attrs["swept"] = list(names)
    attrs["window_labels"] = [w.label for w in schedules[0].windows] if schedules else []
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds["time"].attrs["units"] = "s"
    for v in ("trace", "signal", "amplitude", "trace_stderr", "signal_stderr",
              "amplitude_stderr", "abs_amplitude_stderr"):
        if v in ds:
            ds[v].attrs["units"] = "V"
    return EchoResult(ds)


class EchoResult:
    """A simulated or measured echo data set (see the module docstring)."""

    def __init__(self, dataset: xr.Dataset):
        self.dataset = dataset

    # ------------------------------------------------------------------ access
    def __repr__(self) -> str:
        a = self.dataset.attrs
        return (f"EchoResult(kind={a.get('kind')!r}, engine={a.get('engine')!r}, "
                f"points={self.dataset.sizes.get('point', 0)}, "
                f"steps={self.dataset.sizes.get('step', 0)}, "
                f"samples={self.dataset.sizes.get('time', 0)})")

    @property
    def attrs(self) -> dict:
        return self.dataset.attrs

    @property
    def times(self) -> np.ndarray:
        return self.dataset["time"].values

    @property
    def trace(self) -> np.ndarray:
        return self.dataset["trace"].values

    @property
    def signal(self) -> np.ndarray:
        return self.dataset["signal"].values

    @property
    def amplitude(self) -> np.ndarray:
        return self.dataset["amplitude"].values

    @property
    def normalised(self) -> np.ndarray | None:
        return self.dataset["normalised"].values if "normalised" in self.dataset else None

    @property
    def tau_z(self) -> np.ndarray | None:
        return self.dataset["tau_z"].values if "tau_z" in self.dataset else None

    @property
    def swept(self) -> list[str]:
        s = self.dataset.attrs.get("swept", [])
        return list(s) if not isinstance(s, str) else [s]

    def point_params(self, p: int) -> dict[str, float]:
        return {k: float(self.dataset[k].values[p]) for k in self.swept}

    def window_summary(self, p: int) -> list[dict]:
        """Every detection window of sweep point ``p``, in time order: its index in the
        schedule's ``windows``, label, start (s, in the shot), and the mean phase-cycled
        signal over it (|a| in V and [re, im]) — the echo train of a CPMG, window by
        window (the same mean as the echo amplitude, :func:`echo.detect.window_mean`)."""
        from echo.detect import window_mean

        ds = self.dataset
        sig = np.asarray(ds["signal"].values[p])
        win = np.asarray(ds["window"].values)
        win = win[p] if win.ndim == 2 else win
        t = np.asarray(ds["shot_time"].values[p] if "shot_time" in ds else ds["time"].values)
        labels = list(ds.attrs.get("window_labels") or [])
        rows = []
        for k in sorted({int(k) for k in win if k >= 0}):
            sel = win == k
            a = window_mean(sig, win, k)
            rows.append({"window": k, "label": labels[k] if k < len(labels) else "",
                         "start": float(np.nanmin(t[sel])), "amplitude": abs(a),
                         "amplitude_complex": [a.real, a.imag]})
        rows.sort(key=lambda r: r["start"])
        return rows

    def summary(self) -> list[dict]:
        """Per sweep point: parameter values, |amplitude| (V), the complex amplitude as
        [re, im], the normalised amplitude if computed, and ``windows``: every detection
        window (:meth:`window_summary`; a CPMG's echo train). JSON-ready."""
        out = []
        norm = self.normalised
        for p in range(self.dataset.sizes["point"]):
            a = complex(self.amplitude[p])
            d = {"params": self.point_params(p), "echo_amplitude": abs(a),
                 "echo_amplitude_complex": [a.real, a.imag]}
            if norm is not None:
                v = float(norm[p])
                d["normalised_echo_amplitude"] = v if math.isfinite(v) else None
            d["windows"] = self.window_summary(p)
            if "bloch_rotating" in self.dataset:
                d["rotating_transverse_echo"] = self._rotating_echo(p)
            if "amplitude_stderr" in self.dataset:
                se = complex(self.dataset["amplitude_stderr"].values[p])
                d["echo_amplitude_stderr"] = _finite(
                    self.dataset["abs_amplitude_stderr"].values[p])
                d["echo_amplitude_complex_stderr"] = [_finite(se.real), _finite(se.imag)]
                if "normalised_stderr" in self.dataset:
                    d["normalised_echo_amplitude_stderr"] = _finite(
                        self.dataset["normalised_stderr"].values[p])
            out.append(d)
        return out

    def _rotating_echo(self, p: int) -> dict:
        """Echo-window mean of the phase-cycled ⟨σ̃x⟩ + i⟨σ̃y⟩ of the rotating frame."""
        ds = self.dataset
        w = ds["window"].values
        wp = w[p] if w.ndim == 2 else w
        b = ds["bloch_rotating"].values[p]  # (step, axis, time)
        se = ds["bloch_rotating_stderr"].values[p]
        rec = ds["receiver"].values[p]
        z = np.tensordot(rec, b[:, 0] + 1j * b[:, 1], axes=(0, 0)) / rec.size
        zse = np.sqrt(np.tensordot(np.abs(rec) ** 2, se[:, 0] ** 2 + se[:, 1] ** 2,
                                   axes=(0, 0))) / rec.size
        k = self._echo_window_index(p)
        mask = np.isfinite(z) & ((wp == k) if k >= 0 else True)
        m = complex(np.mean(z[mask])) if mask.any() else complex(np.nan, np.nan)
        n = int(mask.sum())
        return {"value": [_finite(m.real), _finite(m.imag)], "abs": _finite(abs(m)),
                # the standard error of a mean of correlated samples is at most the mean
                # of their standard errors
                "stderr_bound": _finite(np.sum(zse[mask]) / max(n, 1)),
                "rotating_frequency": _finite(ds["rotating_frequency"].values[p])}

    def _echo_window_index(self, p: int) -> int:
        labels = self.dataset.attrs.get("echo_windows")
        if isinstance(labels, list) and p < len(labels):
            return int(labels[p])
        return -1

    # ------------------------------------------------------------------- files
    def save(self, path) -> Path:
        """Write the result to ``path`` (netCDF4/HDF5 via h5netcdf; see module doc)."""
        path = Path(path)
        ds = self.dataset.copy()
        new_vars = {}
        for name in list(ds.variables):
            var = ds.variables[name]
            if np.iscomplexobj(var.values):
                stacked = np.stack([var.values.real, var.values.imag], axis=-1)
                new_vars[name] = xr.Variable(var.dims + (_REIM,), stacked,
                                             attrs={**var.attrs, "complex": 1})
        for name, var in new_vars.items():
            if name in ds.coords:
                ds = ds.assign_coords({name: var})
            else:
                ds[name] = var
        ds.attrs = _encode_attrs(ds.attrs)
        for name in ds.variables:
            ds.variables[name].attrs = _encode_attrs(ds.variables[name].attrs)
        with duckarrays.dask_hidden():
            ds.to_netcdf(path, engine="h5netcdf")
        return path

    @classmethod
    def load(cls, path) -> EchoResult:
        """Read a result written by :meth:`save` (or any file in that layout)."""
        with xr.open_dataset(path, engine="h5netcdf") as f:
            ds = f.load()
        for name in list(ds.variables):
            var = ds.variables[name]
            if var.attrs.get("complex") == 1 and var.dims and var.dims[-1] == _REIM:
                vals = var.values[..., 0] + 1j * var.values[..., 1]
                attrs = {k: v for k, v in var.attrs.items() if k != "complex"}
                nv = xr.Variable(var.dims[:-1], vals, attrs=attrs)
                if name in ds.coords:
                    ds = ds.assign_coords({name: nv})
                else:
                    ds[name] = nv
        if _REIM in ds.dims:
            ds = ds.drop_dims(_REIM) if not any(_REIM in v.dims for v in ds.variables.values()) \
                else ds
        ds.attrs = _decode_attrs(ds.attrs)
        for name in ds.variables:
            ds.variables[name].attrs = _decode_attrs(ds.variables[name].attrs)
        return cls(ds)

    # -------------------------------------------------------------------- plot
    def plot(self, path, *, point: int | None = None):
        """Plot |signal| vs time for each sweep point (or one), and the echo
        amplitude vs the first swept parameter when there are several points. Agg backend."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ds = self.dataset
        n_pts = ds.sizes["point"]
        sweep = n_pts > 1 and self.swept
        fig, axes = plt.subplots(1, 2 if sweep else 1, figsize=(10 if sweep else 6, 4),
                                 squeeze=False)
        ax = axes[0, 0]
        pts = range(n_pts) if point is None else [point]
        t_us = ds["time"].values * 1e6
        units = {name: self.param_unit(name) for name in self.swept}
        for p in list(pts)[:12]:
            s = ds["signal"].values[p]
            label = ", ".join(f"{k}={v / units[k][0]:.4g}{' ' + units[k][1] if units[k][1] else ''}"
                              if k in units else f"{k}={v:.4g}"
                              for k, v in self.point_params(p).items())
            x, y = t_us, np.abs(s)
            err = (abs_stderr(s, ds["signal_stderr"].values[p]) if "signal_stderr" in ds
                   else None)
            if "window" in ds:  # no line across the gap between two detection windows
                w = ds["window"].values
                wp = w[p] if w.ndim == 2 else w
                if err is not None:
                    _, err = window_gaps(t_us, err, wp)
                x, y = window_gaps(x, y, wp)
            line, = ax.plot(x, y, label=label or None, lw=1)
            if err is not None and np.any(np.isfinite(err) & (err > 0)):  # ±1 standard error
                ax.fill_between(x, y - err, y + err, color=line.get_color(), alpha=0.25,
                                lw=0)
        ax.set_xlabel("time (µs)" + (" since window start"
                                     if ds.attrs.get("time_reference") == "window" else ""))
        ax.set_ylabel("|signal| (V)")
        if n_pts > 1 and self.swept:
            ax.legend(fontsize=7)
        if sweep:
            name = self.swept[0]
            ax2 = axes[0, 1]
            scale, unit = units[name]
            x = ds[name].values / scale
            yerr = (ds["abs_amplitude_stderr"].values if "abs_amplitude_stderr" in ds
                    else None)
            ax2.errorbar(x, np.abs(ds["amplitude"].values), yerr=yerr, fmt="o-", capsize=2,
                         label="|echo amplitude| ± 1 s.e.")
            ax2.set_xlabel(f"{name} ({unit})" if unit else name)
            ax2.set_ylabel("|echo amplitude| (V), circles", color="C0")
            if "normalised" in ds:
                ax3 = ax2.twinx()
                ax3.errorbar(x, ds["normalised"].values, fmt="s--", color="C1",
                             yerr=(ds["normalised_stderr"].values
                                   if "normalised_stderr" in ds else None),
                             capsize=2, label="normalised")
                ax3.set_ylabel("normalised echo, squares", color="C1")
        fig.suptitle(f"{ds.attrs.get('kind', '')} echo, engine {ds.attrs.get('engine', '?')}, "
                     f"frame {ds.attrs.get('frame', '?')}", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return Path(path)

    def param_unit(self, name: str) -> tuple[float, str]:
        """(scale, unit) to display swept parameter ``name``: its dimension is read from
        the stored sequence text; (1, "") when unknown or dimensionless."""
        from sequences.bind import param_dim
        from sequences.errors import SequenceError
        from sequences.expr import ANGLE, FIELD, FREQUENCY, TIME
        from sequences.parser import parse

        try:
            dim = param_dim(parse(str(self.attrs.get("sequence", ""))), name)
        except (SequenceError, KeyError, ValueError):
            return 1.0, ""
        if dim == ANGLE:
            return math.pi / 180.0, "deg"
        ladders = {TIME: [(1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s")],
                   FREQUENCY: [(1.0, "Hz"), (1e3, "kHz"), (1e6, "MHz"), (1e9, "GHz")],
                   FIELD: [(1e-9, "nT"), (1e-6, "µT"), (1e-3, "mT"), (1.0, "T")]}
        if dim not in ladders:
            return 1.0, ""
        vals = np.abs(np.asarray(self.dataset[name].values, float))
        top = float(np.max(vals)) if vals.size else 0.0
        scale, unit = ladders[dim][0]
        for sc, un in ladders[dim]:
            if top >= sc:
                scale, unit = sc, un
        return scale, unit


def _finite(v):
    v = float(v)
    return v if math.isfinite(v) else None


def abs_stderr(z, z_stderr) -> np.ndarray:
    """Standard error of |z| from the per-part standard errors (complex: re/im parts) by
    the delta method, covariance of the parts neglected; |z_stderr| where z = 0."""
    z = np.asarray(z, complex)
    se = np.asarray(z_stderr, complex)
    mag = np.abs(z)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt((z.real * se.real) ** 2 + (z.imag * se.imag) ** 2) / mag
    return np.where(mag > 0, out, np.abs(se))


def window_gaps(x, y, window) -> tuple[np.ndarray, np.ndarray]:
    """``x``, ``y`` (floats) with a NaN inserted wherever the detection-window index
    ``window`` changes, so that a line plot is broken between windows."""
    cut = np.flatnonzero(np.diff(np.asarray(window)) != 0) + 1
    return (np.insert(np.asarray(x, float), cut, np.nan),
            np.insert(np.asarray(y, float), cut, np.nan))


def _encode_attrs(attrs: dict) -> dict:
    out, js = {}, []
    for k, v in attrs.items():
        if k == "json_attrs":
            continue
        if isinstance(v, str) or (isinstance(v, (int, float, np.integer, np.floating))
                                  and not isinstance(v, (bool, np.bool_))):
            out[k] = v
        else:
            out[k] = json.dumps(v, default=_json_default)
            js.append(k)
    if js:
        out["json_attrs"] = json.dumps(js)
    return out


def _decode_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    js = json.loads(attrs.pop("json_attrs", "[]"))
    for k in js:
        if k in attrs:
            attrs[k] = json.loads(attrs[k])
    return attrs


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, complex):
        return [o.real, o.imag]
    raise TypeError(f"attribute value {o!r} is not JSON-serialisable")
