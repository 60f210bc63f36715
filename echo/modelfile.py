"""TOML model files: ensemble + environment + detection → :class:`echo.model.Model`.

Format (all frequencies cyclic, in Hz; times in s; fields in T; temperatures in K)::

    [ensemble]
    spin = 100                 # S (grain spin)                          default 100
    g = 2.0                    # g-factor                                default 2
    n_grains = 1e12            # physical number of grains (scales the signal)  default 1
    n_samples = 20000          # grains simulated (random/qmc)  default 1000; omit for a
                               # quadrature grid or a grain table (their size is fixed)
    batches = 16               # batches for standard errors (batch means)  default 16
                               # (quadrature/table: replicas of the grid, default 1)
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
    kind = "squid"             # or "coil", or "quadrature" (I/Q of the rotating frame)
    flux_per_moment = 1e-3
    volts_per_flux = 1.0
    noise_rms = 0.0
    sample_rate = 1e8
    reference_frequency = 4e6  # omit for the raw trace
    demod_bandwidth = 2e6
    seed = 1

Instead of ``delta0`` and ``bias``, ``grains = "grains.csv"`` (or ``.nc``; relative to the
model file) or an inline ``grains = { delta0 = [...], bias = [...], weight = [...] }`` gives
explicit paired grains (Hz; weights optional, >= 0): a CSV file has a header line naming
its columns ``delta0``, ``bias``, ``weight``. ``grains = { kind = "spinbath_channels",
delta0 = 1e6, lam = 10, lam_prime = 0, fraction_a = 1e-4 }`` draws the grains of the
spin-bath theory's co-flip channels (:mod:`echo.theory.channels`; Δ0 in Hz).

Every distribution takes an optional ``rule`` (see :mod:`echo.rules`): ``"random"``
(default, Monte Carlo), ``"qmc"`` (scrambled Sobol points, one replica per batch) or
``"quadrature"`` with ``points`` nodes (default 16: Gauss–Hermite for gaussian/lognormal,
Gauss–Legendre for uniform/tabulated/spinbath, each value once with its weight for
samples; ``spinbath`` calls it ``quadrature_points``, its ``points`` being the
tabulation). Quadrature distributions form a tensor grid over (Δ0, ε)::

    delta0 = { kind = "gaussian", mean = 1e6, std = 1e5, rule = "quadrature", points = 20 }
    bias = { kind = "gaussian", mean = 0.0, std = 2e6, rule = "quadrature", points = 40 }

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

:func:`write_model` (:func:`model_to_toml`) writes a :class:`~echo.model.Model` back as a
model file with the TOML writer ``tomli_w``: every field of :meth:`echo.model.Model.to_dict`
(distributions with their rule and points, every noise process, grain tables, detection),
so that :func:`load_model` of the file gives the same Model. A ``spinbath`` distribution
is written as the ``tabulated`` W(ε) it was read as.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from echo.model import (
    DISTRIBUTIONS,
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Model,
    ModelError,
    OrnsteinUhlenbeck,
    Tabulated,
    Telegraph,
    spin_diffusion,
)
from echo.rules import GrainTable, load_grain_table
from sequences.config import Spec, check_value, from_table, loads_toml, read_toml

__all__ = ["load_model", "parse_model", "model_from_dict", "model_to_toml", "write_model",
           "DISTRIBUTION_KINDS"]

DISTRIBUTION_KINDS = ("fixed", "gaussian", "lognormal", "uniform", "samples", "tabulated",
                      "spinbath")

_SPINBATH_FIELDS = {"n_nuclei", "omega0", "delta_omega", "extra_width", "temperature",
                    "points", "span"}
_NOISE_KINDS = {"ou": OrnsteinUhlenbeck, "telegraph": Telegraph, "spin_diffusion": None}


def _num(table: dict, key: str, path: str, *, required=False, default=None, positive=False,
         nonneg=False, integer=False):
    """A number of a table without a dataclass of its own (the spinbath tabulation)."""
    if key not in table:
        if required:
            raise ModelError(f"{path}.{key}: missing field")
        return default
    return check_value(table[key], int if integer else float,
                       Spec(gt=0 if positive else None, ge=0 if nonneg else None),
                       where=f"{path}.{key}", error=ModelError)


def _table(d, path: str) -> dict:
    if not isinstance(d, dict):
        raise ModelError(f"{path}: expected a table, got {d!r}")
    return d


def _known(d: dict, allowed: set, path: str):
    for k in d:
        if k not in allowed:
            raise ModelError(f"{path}.{k}: unknown field (known: {', '.join(sorted(allowed))})")


def _kind(d: dict, path: str, kinds, what: str) -> str:
    kind = d.get("kind")
    if kind is None:
        raise ModelError(f"{path}.kind: missing field (one of {', '.join(kinds)})")
    if kind not in kinds:
        raise ModelError(f"{path}.kind: unknown {what} {kind!r} (known: {', '.join(kinds)})")
    return kind


def distribution(d, path: str):
    """A distribution from a model-file value (errors name ``path``): its fields, types and
    ranges are those declared on the distribution dataclasses of :mod:`echo.model`."""
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return from_table(Fixed, {"value": d}, where=path, error=ModelError)
    d = _table(d, path)
    kind = _kind(d, path, DISTRIBUTION_KINDS, "distribution")
    if kind == "spinbath":
        _known(d, _SPINBATH_FIELDS | {"kind", "rule", "quadrature_points"}, path)
        rule = {}
        if "rule" in d:
            rule["rule"] = d["rule"]
        if "quadrature_points" in d:
            rule["points"] = _num(d, "quadrature_points", path, positive=True, integer=True)
        try:
            return replace(_spinbath(d, path), **rule)
        except ModelError as exc:
            raise ModelError(f"{path}.{exc}") from None
    return from_table(DISTRIBUTIONS[kind], d, where=path, error=ModelError, ignore=("kind",))


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
    kind = _kind(item, path, tuple(_NOISE_KINDS), "noise process")
    if kind == "spin_diffusion":
        _known(item, {"mu", "omega0", "t2", "kind"}, path)
        for k in ("mu", "omega0", "t2"):
            if k not in item:
                raise ModelError(f"{path}.{k}: missing field")
        try:
            return spin_diffusion(item["mu"], item["omega0"], item["t2"])
        except ModelError as exc:
            raise ModelError(f"{path}.{str(exc).split('.', 1)[1]}") from None
    return from_table(_NOISE_KINDS[kind], item, where=path, error=ModelError,
                      ignore=("kind",))


def _noise_list(value, path: str) -> tuple:
    if not isinstance(value, list):
        raise ModelError(f"{path}: expected an array of tables [[environment.noise]], "
                         f"got {value!r}")
    return tuple(_noise(n, f"{path}[{i}]") for i, n in enumerate(value))


def _grains_parser(base):
    """Parser of ``ensemble.grains``: a file name (CSV/NetCDF, relative to ``base``) or an
    inline table {delta0 = [...], bias = [...], weight = [...]}."""
    def parse(value, where: str) -> GrainTable:
        if isinstance(value, str):
            path = Path(value)
            if not path.is_absolute() and base is not None:
                path = Path(base) / path
            return load_grain_table(path)
        t = _table(value, where)
        if t.get("kind") == "spinbath_channels":
            from echo.theory.channels import SpinBathChannels

            return from_table(SpinBathChannels, t, where=where, error=ModelError,
                              ignore=("kind",))
        _known(t, {"delta0", "bias", "weight"}, where)
        cols = {}
        for k in ("delta0", "bias", "weight"):
            if k in t:
                cols[k] = check_value(t[k], tuple[float, ...], Spec(ge=0 if k == "weight"
                                                                    else None),
                                      where=f"{where}.{k}", error=ModelError)
            elif k != "weight":
                raise ModelError(f"{where}.{k}: missing field (a list, Hz)")
        return GrainTable(cols["delta0"], cols["bias"], cols.get("weight"))
    return parse


def model_from_dict(data: dict, where: str = "", filename: str | None = None,
                    base=None) -> Model:
    """A :class:`Model` from the parsed TOML tables (see the module docstring).

    Fields, defaults and ranges are those declared on :class:`echo.model.Ensemble`,
    :class:`~echo.model.Environment` and :class:`~echo.model.Detection` (read by
    :func:`sequences.config.from_table`); ``where`` prefixes the table paths (``"model"``
    for a model inlined in a virtual-lab file), ``filename`` names the file in errors;
    ``base`` is the folder relative file names (``ensemble.grains``) are resolved against."""
    pre = f"{where}." if where else ""
    try:
        data = _table(data, where or "model")
        _known(data, {"ensemble", "environment", "detection", "name", "description"},
               where or "model")
        if "ensemble" not in data:
            raise ModelError(f"{pre}ensemble: missing table [{pre}ensemble]")
        ens = from_table(Ensemble, data["ensemble"], where=f"{pre}ensemble", error=ModelError,
                         parsers={"delta0": distribution, "bias": distribution,
                                  "grains": _grains_parser(base)})
        env = from_table(Environment, data.get("environment", {}), where=f"{pre}environment",
                         error=ModelError, parsers={"noise": _noise_list})
        det = from_table(Detection, data.get("detection", {}), where=f"{pre}detection",
                         error=ModelError)
    except ModelError as exc:
        if filename and not str(exc).startswith(filename):
            raise ModelError(f"{filename}: {exc}") from None
        raise
    return Model(ens, env, det)


def parse_model(text: str, filename: str = "<model>", base=None) -> Model:
    """A Model from TOML text (``base``: folder for relative file names)."""
    data = loads_toml(text, filename, error=ModelError)
    return model_from_dict(data, filename=None if filename == "<model>" else filename,
                           base=base)


def load_model(path) -> Model:
    """A Model from a TOML file."""
    path = Path(path)
    return model_from_dict(read_toml(path, error=ModelError), filename=str(path),
                           base=path.parent)


def _drop_none(value):
    """The tables without the fields left at None (TOML has no null: absent = default)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def model_to_toml(model: Model, header: str = "") -> str:
    """``model`` as model-file TOML text (see the module docstring), written by
    ``tomli_w``; ``header`` (any lines) becomes leading ``#`` comments. A derived
    ``n_samples`` (a quadrature grid or grain table) is left out, so it is derived again."""
    import tomli_w

    tables = model.to_dict()
    if model.ensemble.n_samples_auto:
        tables["ensemble"].pop("n_samples", None)
    text = tomli_w.dumps(_drop_none(tables))
    comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return comments + ("\n" if comments else "") + text


def write_model(model: Model, path, header: str = "") -> Path:
    """Write ``model`` to the model file ``path`` (:func:`model_to_toml`); returns it."""
    path = Path(path)
    path.write_text(model_to_toml(model, header), encoding="utf-8")
    return path
