"""TOML model files: ensemble + environment + detection → :class:`echo.model.Model`.

Format (all frequencies cyclic, in Hz; times in s; fields in T; temperatures in K)::

    [ensemble]
    spin = 100                 # S (grain spin)                          default 100
    g = 2.0                    # g-factor                                default 2
    n_grains = 1e12            # physical number of grains (scales the signal)  default 1
    n_samples = 20000          # grains simulated (Monte Carlo)          default 1000
    seed = 0                   # random seed of the ensemble             default 0
    chunk_size = 65536         # grains per chunk (memory bound)         default 65536
    delta0 = { kind = "lognormal", median = 1e6, sigma_ln = 0.3 }      # required (Hz)
    bias = { kind = "gaussian", mean = 0.0, std = 2e6 }                # required (Hz)

    [environment]              # optional table; every entry optional
    t1 = 1e-3                  # relaxation time between eigenstates (s)
    t_phi = 1e-4               # pure dephasing time (s)
    temperature = 0.03         # K (detailed balance of T1, thermal initial state);
                               # omitted = T → 0 (ground state), inf = unpolarised
    drive_coupling = "z"       # "z" (field modulates ε, default) or "x"
    measurement_rate = 0.0     # SQUID back-action κ (1/s)

    [[environment.noise]]      # any number of bias-noise processes (their sum acts)
    kind = "ou"                # Ornstein–Uhlenbeck: sigma (Hz), tau_c (s)
    sigma = 5e4
    tau_c = 1e-6
    [[environment.noise]]
    kind = "telegraph"         # random telegraph: amplitude (Hz), rate (1/s)
    amplitude = 1e4
    rate = 1e5
    [[environment.noise]]
    kind = "spin_diffusion"    # the paper's nuclear spin diffusion: σ = mu·omega0/2, τc = t2
    mu = 0.1
    omega0 = 5e7
    t2 = 3e-5

    [detection]                # optional; see echo.model.Detection for every field
    kind = "squid"             # or "coil"
    flux_per_moment = 1e-3
    volts_per_flux = 1.0
    noise_rms = 0.0
    sample_rate = 1e8
    reference_frequency = 4e6  # omit for the raw trace
    demod_bandwidth = 2e6
    seed = 1

Distributions (a number is shorthand for ``fixed``):

=============  ==========================================================================
kind           fields
=============  ==========================================================================
fixed          value
gaussian       mean, std (>= 0)
lognormal      median (> 0), sigma_ln (>= 0, of the natural log)
uniform        low, high (high >= low)
samples        values (list), weights (optional list, >= 0, same length)
tabulated      x (strictly increasing list), pdf (list, >= 0)
spinbath       the nuclear-spin-bath bias density W(ε) of :mod:`echo.theory`
               (:class:`echo.theory.BiasDensity`): n_nuclei, omega0 (Hz), delta_omega (Hz),
               extra_width (Hz, default 0), temperature (Hz, k_B T/h, optional), and the
               tabulation: points (default 4001), span (envelope widths each side, default 6)
=============  ==========================================================================

Every error is an :class:`echo.model.ModelError` naming the field and the value, e.g.
``environment.noise[0].sigma: must be >= 0, got -1``.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np

from echo.model import (
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Gaussian,
    LogNormal,
    Model,
    ModelError,
    OrnsteinUhlenbeck,
    Samples,
    Tabulated,
    Telegraph,
    Uniform,
    spin_diffusion,
)

__all__ = ["load_model", "parse_model", "model_from_dict", "set_field", "DISTRIBUTION_KINDS"]

DISTRIBUTION_KINDS = ("fixed", "gaussian", "lognormal", "uniform", "samples", "tabulated",
                      "spinbath")

_DIST_FIELDS = {
    "fixed": ({"value"}, set()),
    "gaussian": ({"mean", "std"}, set()),
    "lognormal": ({"median", "sigma_ln"}, set()),
    "uniform": ({"low", "high"}, set()),
    "samples": ({"values"}, {"weights"}),
    "tabulated": ({"x", "pdf"}, set()),
    "spinbath": ({"n_nuclei", "omega0", "delta_omega"},
                 {"extra_width", "temperature", "points", "span"}),
}
_ENSEMBLE_FIELDS = {"spin", "g", "n_grains", "n_samples", "seed", "chunk_size", "delta0",
                    "bias"}
_ENV_FIELDS = {"t1", "t_phi", "temperature", "drive_coupling", "measurement_rate", "noise"}
_DET_FIELDS = {"kind", "flux_per_moment", "volts_per_flux", "noise_rms", "sample_rate",
               "reference_frequency", "demod_bandwidth", "seed"}
_NOISE_FIELDS = {"ou": {"sigma", "tau_c"}, "telegraph": {"amplitude", "rate"},
                 "spin_diffusion": {"mu", "omega0", "t2"}}


def _num(table: dict, key: str, path: str, *, required=False, default=None, positive=False,
         nonneg=False, integer=False):
    if key not in table:
        if required:
            raise ModelError(f"{path}.{key}: missing field")
        return default
    v = table[key]
    where = f"{path}.{key}"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ModelError(f"{where}: expected a number, got {v!r}")
    if not math.isfinite(v):
        raise ModelError(f"{where}: must be finite, got {v!r}")
    if integer and (float(v) != int(v)):
        raise ModelError(f"{where}: must be an integer, got {v!r}")
    if positive and v <= 0:
        raise ModelError(f"{where}: must be > 0, got {v!r}")
    if nonneg and v < 0:
        raise ModelError(f"{where}: must be >= 0, got {v!r}")
    return int(v) if integer else float(v)


def _temperature(env_t: dict) -> float | None:
    """environment.temperature in K: a positive number, or ``inf`` (unpolarised bath)."""
    if env_t.get("temperature") == math.inf:
        return math.inf
    return _num(env_t, "temperature", "environment", positive=True)


def _table(d, path: str) -> dict:
    if not isinstance(d, dict):
        raise ModelError(f"{path}: expected a table, got {d!r}")
    return d


def _known(d: dict, allowed: set, path: str):
    for k in d:
        if k not in allowed:
            raise ModelError(f"{path}.{k}: unknown field (known: {', '.join(sorted(allowed))})")


def _num_list(d: dict, key: str, path: str, *, nonneg=False) -> tuple[float, ...]:
    v = d[key]
    if not isinstance(v, list) or not v:
        raise ModelError(f"{path}.{key}: expected a non-empty list of numbers, got {v!r}")
    items = {f"{key}[{i}]": x for i, x in enumerate(v)}
    return tuple(_num(items, k, path, required=True, nonneg=nonneg) for k in items)


def distribution(d, path: str):
    """A distribution from a model-file value (errors name ``path``)."""
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return Fixed(_num({"value": d}, "value", path, required=True))
    d = _table(d, path)
    kind = d.get("kind")
    if kind is None:
        raise ModelError(f"{path}.kind: missing field (one of {', '.join(DISTRIBUTION_KINDS)})")
    if kind not in _DIST_FIELDS:
        raise ModelError(f"{path}.kind: unknown distribution {kind!r} "
                         f"(known: {', '.join(DISTRIBUTION_KINDS)})")
    req, opt = _DIST_FIELDS[kind]
    _known(d, req | opt | {"kind"}, path)
    for k in sorted(req):
        if k not in d:
            raise ModelError(f"{path}.{k}: missing field for a {kind} distribution")
    try:
        if kind == "fixed":
            return Fixed(_num(d, "value", path, required=True))
        if kind == "gaussian":
            return Gaussian(_num(d, "mean", path, required=True),
                            _num(d, "std", path, required=True, nonneg=True))
        if kind == "lognormal":
            return LogNormal(_num(d, "median", path, required=True, positive=True),
                             _num(d, "sigma_ln", path, required=True, nonneg=True))
        if kind == "uniform":
            lo = _num(d, "low", path, required=True)
            hi = _num(d, "high", path, required=True)
            if hi < lo:
                raise ModelError(f"{path}.high: must be >= low ({lo!r}), got {hi!r}")
            return Uniform(lo, hi)
        if kind == "samples":
            vals = _num_list(d, "values", path)
            w = _num_list(d, "weights", path, nonneg=True) if "weights" in d else None
            if w is not None and len(w) != len(vals):
                raise ModelError(f"{path}.weights: {len(w)} weights for {len(vals)} values")
            return Samples(vals, w)
        if kind == "tabulated":
            x = _num_list(d, "x", path)
            p = _num_list(d, "pdf", path, nonneg=True)
            if len(x) != len(p) or len(x) < 2:
                raise ModelError(f"{path}.pdf: need as many pdf values as x values (>= 2), "
                                 f"got {len(p)} and {len(x)}")
            if any(b <= a for a, b in zip(x, x[1:], strict=False)):
                raise ModelError(f"{path}.x: must be strictly increasing, got {list(x)!r}")
            if not any(v > 0 for v in p):
                raise ModelError(f"{path}.pdf: all zero")
            return Tabulated(x, p)
        return _spinbath(d, path)
    except ModelError as exc:
        msg = str(exc)
        raise ModelError(msg if msg.startswith(path) else f"{path}: {msg}") from None


def _spinbath(d: dict, path: str) -> Tabulated:
    try:
        from echo.theory import BiasDensity
    except ImportError:  # pragma: no cover - echo.theory ships with the package
        raise ModelError(f"{path}.kind: 'spinbath' needs echo.theory, which is missing") \
            from None
    n = _num(d, "n_nuclei", path, required=True, positive=True, integer=True)
    omega0 = _num(d, "omega0", path, required=True, positive=True)
    dw = _num(d, "delta_omega", path, required=True, nonneg=True)
    extra = _num(d, "extra_width", path, default=0.0, nonneg=True)
    temp = _num(d, "temperature", path, positive=True)
    points = _num(d, "points", path, default=4001, positive=True, integer=True)
    span = _num(d, "span", path, default=6.0, positive=True)
    bd = BiasDensity(n_nuclei=n, omega0=omega0, delta_omega=dw, extra_width=extra,
                     temperature=temp)
    half = span * bd.envelope_width + 6.0 * bd.group_width
    # the grid must resolve the narrowest structure (the group width)
    need = int(math.ceil(2 * half / (bd.group_width / 4.0))) + 1
    points = max(points, min(need, 2_000_001))
    if need > 2_000_001:
        raise ModelError(f"{path}: groups of width {bd.group_width:.3g} Hz in an envelope of "
                         f"{bd.envelope_width:.3g} Hz need {need} grid points (> 2e6); "
                         "raise delta_omega/extra_width or tabulate W(ε) yourself")
    x = np.linspace(-half, half, points)
    p = np.asarray(bd.pdf(x), float)
    return Tabulated(tuple(x.tolist()), tuple(np.maximum(p, 0.0).tolist()))


def _noise(item, path: str):
    item = _table(item, path)
    kind = item.get("kind")
    if kind not in _NOISE_FIELDS:
        raise ModelError(f"{path}.kind: unknown noise process {kind!r} "
                         f"(known: {', '.join(_NOISE_FIELDS)})")
    _known(item, _NOISE_FIELDS[kind] | {"kind"}, path)
    if kind == "ou":
        return OrnsteinUhlenbeck(_num(item, "sigma", path, required=True, nonneg=True),
                                 _num(item, "tau_c", path, required=True, positive=True))
    if kind == "telegraph":
        return Telegraph(_num(item, "amplitude", path, required=True, nonneg=True),
                         _num(item, "rate", path, required=True, nonneg=True))
    mu = _num(item, "mu", path, required=True, nonneg=True)
    omega0 = _num(item, "omega0", path, required=True, positive=True)
    t2 = _num(item, "t2", path, required=True, positive=True)
    return spin_diffusion(mu, omega0, t2)


def model_from_dict(data: dict) -> Model:
    """A :class:`Model` from the parsed TOML tables (see the module docstring)."""
    data = _table(data, "model")
    _known(data, {"ensemble", "environment", "detection", "name", "description"}, "model")
    if "ensemble" not in data:
        raise ModelError("ensemble: missing table [ensemble]")
    e = _table(data["ensemble"], "ensemble")
    _known(e, _ENSEMBLE_FIELDS, "ensemble")
    for k in ("delta0", "bias"):
        if k not in e:
            raise ModelError(f"ensemble.{k}: missing field (a distribution, Hz)")
    ens = Ensemble(
        delta0=distribution(e["delta0"], "ensemble.delta0"),
        bias=distribution(e["bias"], "ensemble.bias"),
        spin=_num(e, "spin", "ensemble", default=100.0, positive=True),
        g=_num(e, "g", "ensemble", default=2.0, positive=True),
        n_grains=_num(e, "n_grains", "ensemble", default=1.0, positive=True),
        n_samples=_num(e, "n_samples", "ensemble", default=1000, positive=True, integer=True),
        seed=_num(e, "seed", "ensemble", default=0, nonneg=True, integer=True),
        chunk_size=_num(e, "chunk_size", "ensemble", default=65536, positive=True,
                        integer=True),
    )
    env_t = _table(data.get("environment", {}), "environment")
    _known(env_t, _ENV_FIELDS, "environment")
    noise_list = env_t.get("noise", [])
    if not isinstance(noise_list, list):
        raise ModelError(f"environment.noise: expected an array of tables [[environment.noise]]"
                         f", got {noise_list!r}")
    coupling = env_t.get("drive_coupling", "z")
    if coupling not in ("z", "x"):
        raise ModelError(f"environment.drive_coupling: must be 'z' or 'x', got {coupling!r}")
    env = Environment(
        t1=_num(env_t, "t1", "environment", positive=True),
        t_phi=_num(env_t, "t_phi", "environment", positive=True),
        noise=tuple(_noise(n, f"environment.noise[{i}]") for i, n in enumerate(noise_list)),
        drive_coupling=coupling,
        measurement_rate=_num(env_t, "measurement_rate", "environment", default=0.0,
                              nonneg=True),
        temperature=_temperature(env_t),
    )
    det_t = _table(data.get("detection", {}), "detection")
    _known(det_t, _DET_FIELDS, "detection")
    kind = det_t.get("kind", "squid")
    if kind not in ("squid", "coil"):
        raise ModelError(f"detection.kind: must be 'squid' or 'coil', got {kind!r}")
    det = Detection(
        kind=kind,
        flux_per_moment=_num(det_t, "flux_per_moment", "detection", default=1e-3,
                             positive=True),
        volts_per_flux=_num(det_t, "volts_per_flux", "detection", default=1.0, positive=True),
        noise_rms=_num(det_t, "noise_rms", "detection", default=0.0, nonneg=True),
        sample_rate=_num(det_t, "sample_rate", "detection", default=100e6, positive=True),
        reference_frequency=_num(det_t, "reference_frequency", "detection", nonneg=True),
        demod_bandwidth=_num(det_t, "demod_bandwidth", "detection", positive=True),
        seed=_num(det_t, "seed", "detection", default=1, nonneg=True, integer=True),
    )
    return Model(ens, env, det)


def parse_model(text: str, filename: str = "<model>") -> Model:
    """A Model from TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        from sequences.errors import toml_error_parts

        where, detail = toml_error_parts(filename, exc, text)
        raise ModelError(f"{where}: TOML syntax error: {detail}") from None
    return model_from_dict(data)


def load_model(path) -> Model:
    """A Model from a TOML file."""
    path = Path(path)
    return parse_model(_read_text(path), str(path))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: not a UTF-8 text file ({exc.reason})") from None


def raw_model(path) -> dict:
    """The parsed TOML tables of a model file (for :func:`set_field`)."""
    path = Path(path)
    text = _read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        from sequences.errors import toml_error_parts

        where, detail = toml_error_parts(path, exc, text)
        raise ModelError(f"{where}: TOML syntax error: {detail}") from None


def set_field(data: dict, dotted: str, value) -> None:
    """Set ``ensemble.n_samples``-style (or ``environment.noise[0].sigma``) ``dotted`` field
    of the parsed model tables ``data`` to ``value`` in place."""
    import re

    parts = dotted.split(".")
    cur = data
    for i, part in enumerate(parts):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?", part)
        if not m:
            raise ModelError(f"--set {dotted}: malformed field name {part!r}")
        key, idx = m.group(1), m.group(2)
        last = i == len(parts) - 1
        if idx is None:
            if last:
                cur[key] = value
                return
            cur = cur.setdefault(key, {})
            if not isinstance(cur, dict):
                raise ModelError(f"--set {dotted}: {key!r} is not a table")
        else:
            lst = cur.get(key)
            if not isinstance(lst, list) or int(idx) >= len(lst):
                raise ModelError(f"--set {dotted}: no {key}[{idx}] in the model")
            if last:
                lst[int(idx)] = value
                return
            cur = lst[int(idx)]
