"""Ensemble rules: how the grains of an :class:`echo.model.Ensemble` sample its
distributions of Δ0 and ε.

Every distribution of :mod:`echo.model` carries a ``rule``:

* ``"random"`` (default): independent draws (Monte Carlo); the error of the ensemble mean
  falls as 1/√N and is estimated by batch means (:mod:`echo.stats`).
* ``"qmc"``: scrambled Sobol points (:class:`scipy.stats.qmc.Sobol`) mapped through the
  inverse CDF of each qmc distribution (one Sobol dimension per qmc distribution). The
  ensemble's ``batches`` are independent scramblings (randomised QMC replicas), so the
  spread between batches is an honest standard error. Best with n_samples/batches a power
  of two.
* ``"quadrature"``: a deterministic rule with ``points`` nodes (default 16):
  Gauss–Hermite for ``gaussian`` (and for ln x of ``lognormal``), Gauss–Legendre for
  ``uniform`` and for ``tabulated`` densities (nodes on [x0, x_last], weights × p(x)),
  every value once with its weight for ``samples`` (weighted points); ``fixed`` is one
  node. Quadrature distributions form a tensor grid; an ensemble whose distributions are
  all quadrature (or fixed) simulates exactly that grid (``n_samples`` = grid size ×
  ``batches``, the batches being replicas of the grid with independent noise). Mixed with
  random/qmc distributions, grain j sits on grid node j mod G and carries that node's
  weight divided by the node's number of grains, so the weighted mean is the quadrature of
  the Monte-Carlo mean.

An explicit table of paired grains (Δ0, ε, weight) replaces both distributions
(:class:`GrainTable`, model-file ``ensemble.grains``: a CSV or NetCDF file, or an inline
table). Gauss rules of order n integrate polynomials of degree 2n − 1 exactly; their
error is estimated by comparing n with 2n nodes (:func:`refined`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["RULES", "DEFAULT_POINTS", "GrainTable", "load_grain_table", "quadrature_nodes",
           "ppf", "refined"]

from echo.model import RULES  # noqa: E402  (the model declares its fields)

DEFAULT_POINTS = 16


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (sum 1) of the n-point Gauss–Hermite rule for N(0, 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(int(n))
    return x, w / w.sum()


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes on [0, 1] and weights (sum 1) of the n-point Gauss–Legendre rule."""
    x, w = np.polynomial.legendre.leggauss(int(n))
    return 0.5 * (x + 1.0), w / w.sum()


def quadrature_nodes(dist) -> tuple[np.ndarray, np.ndarray]:
    """(values, weights) of the quadrature rule of ``dist`` (weights sum to 1)."""
    kind = dist.kind
    n = dist.points if dist.points is not None else DEFAULT_POINTS
    if kind == "fixed":
        return np.array([float(dist.value)]), np.ones(1)
    if kind == "gaussian":
        if dist.std == 0:
            return np.array([float(dist.mean)]), np.ones(1)
        x, w = gauss_hermite(n)
        return dist.mean + dist.std * x, w
    if kind == "lognormal":
        if dist.sigma_ln == 0:
            return np.array([float(dist.median)]), np.ones(1)
        x, w = gauss_hermite(n)
        return dist.median * np.exp(dist.sigma_ln * x), w
    if kind == "uniform":
        if dist.high == dist.low:
            return np.array([float(dist.low)]), np.ones(1)
        x, w = gauss_legendre(n)
        return dist.low + (dist.high - dist.low) * x, w
    if kind == "samples":
        vals = np.asarray(dist.values, float)
        w = np.ones(vals.size) if dist.weights is None else np.asarray(dist.weights, float)
        if not w.sum() > 0:
            from echo.model import ModelError

            raise ModelError("samples.weights: all zero")
        return vals, w / w.sum()
    if kind == "tabulated":
        xs = np.asarray(dist.x, float)
        u, w = gauss_legendre(n)
        v = xs[0] + (xs[-1] - xs[0]) * u
        w = w * np.interp(v, xs, np.asarray(dist.pdf, float))
        keep = w > 0
        return v[keep], w[keep] / w[keep].sum()
    raise ValueError(f"no quadrature rule for a {kind!r} distribution")


def ppf(dist, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse CDF of ``dist`` at ``u`` in (0, 1): (values, weights); the weights are 1
    except for weighted ``samples`` (whose values are drawn uniformly and carry their
    weight, as in random sampling)."""
    from scipy.special import ndtri

    u = np.clip(np.asarray(u, float), 1e-16, 1.0 - 1e-16)
    one = np.ones(u.size)
    kind = dist.kind
    if kind == "fixed":
        return np.full(u.size, float(dist.value)), one
    if kind == "gaussian":
        return dist.mean + dist.std * ndtri(u), one
    if kind == "lognormal":
        return dist.median * np.exp(dist.sigma_ln * ndtri(u)), one
    if kind == "uniform":
        return dist.low + (dist.high - dist.low) * u, one
    if kind == "samples":
        vals = np.asarray(dist.values, float)
        idx = np.minimum((u * vals.size).astype(np.int64), vals.size - 1)
        w = one if dist.weights is None else np.asarray(dist.weights, float)[idx]
        return vals[idx], w
    if kind == "tabulated":
        return dist.ppf(u), one
    raise ValueError(f"no inverse CDF for a {kind!r} distribution")


@dataclass(frozen=True)
class GrainTable:
    """Explicit paired grains: Δ0 (Hz), ε (Hz) and a weight (>= 0) per grain."""

    delta0: tuple[float, ...]
    bias: tuple[float, ...]
    weight: tuple[float, ...] | None = None
    source: str = ""

    def __post_init__(self):
        from echo.model import ModelError

        where = f"ensemble.grains{f' ({self.source})' if self.source else ''}"
        n = len(self.delta0)
        if n == 0:
            raise ModelError(f"{where}: no grains")
        if len(self.bias) != n or (self.weight is not None and len(self.weight) != n):
            raise ModelError(f"{where}: delta0, bias and weight need the same length, got "
                             f"{n}, {len(self.bias)}, "
                             f"{'-' if self.weight is None else len(self.weight)}")
        for name in ("delta0", "bias", "weight"):
            col = getattr(self, name)
            if col is None:
                continue
            a = np.asarray(col, float)
            bad = np.flatnonzero(~np.isfinite(a))
            if bad.size:
                raise ModelError(f"{where}.{name}[{bad[0]}]: must be finite, got {a[bad[0]]!r}")
            if name == "weight":
                neg = np.flatnonzero(a < 0)
                if neg.size:
                    raise ModelError(f"{where}.weight[{neg[0]}]: must be >= 0, got "
                                     f"{a[neg[0]]!r}")
                if not a.sum() > 0:
                    raise ModelError(f"{where}.weight: all zero")

    def __len__(self) -> int:
        return len(self.delta0)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Δ0 Hz, ε Hz, weight normalised to sum 1)."""
        w = (np.ones(len(self)) if self.weight is None else np.asarray(self.weight, float))
        return (np.asarray(self.delta0, float), np.asarray(self.bias, float), w / w.sum())

    def to_dict(self) -> dict:
        d = {"delta0": list(self.delta0), "bias": list(self.bias)}
        if self.weight is not None:
            d["weight"] = list(self.weight)
        return d


_COLUMNS = ("delta0", "bias", "weight")


def load_grain_table(path) -> GrainTable:
    """Read paired grains from a CSV file (a header line naming the columns ``delta0``,
    ``bias`` and optionally ``weight``, Hz; ``#`` comments allowed) or a NetCDF file
    (variables of those names along one dimension)."""
    from echo.model import ModelError

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ensemble.grains: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix in (".nc", ".nc4", ".h5", ".hdf5", ".cdf"):
        import xarray as xr

        try:
            with xr.open_dataset(path) as ds:
                cols = {k: np.asarray(ds[k].values, float).ravel() for k in _COLUMNS
                        if k in ds.variables}
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: cannot read as NetCDF ({exc})") from None
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: cannot read ({exc})") from None
        lines = [(i + 1, ln.split("#", 1)[0].strip()) for i, ln in enumerate(text.splitlines())]
        lines = [(i, ln) for i, ln in lines if ln]
        if not lines:
            raise ModelError(f"{path}: empty grain table")
        sep = "," if "," in lines[0][1] else None
        header = [h.strip() for h in lines[0][1].split(sep)]
        unknown = [h for h in header if h not in _COLUMNS]
        if unknown:
            raise ModelError(f"{path}:{lines[0][0]}: unknown column {unknown[0]!r} "
                             f"(known: {', '.join(_COLUMNS)})")
        rows = []
        for lineno, ln in lines[1:]:
            parts = [p.strip() for p in ln.split(sep)]
            if len(parts) != len(header):
                raise ModelError(f"{path}:{lineno}: {len(parts)} values for "
                                 f"{len(header)} columns")
            try:
                rows.append([float(p) for p in parts])
            except ValueError:
                raise ModelError(f"{path}:{lineno}: not a number in {ln!r}") from None
        arr = np.asarray(rows, float).reshape(-1, len(header))
        cols = {h: arr[:, k] for k, h in enumerate(header)}
    for k in ("delta0", "bias"):
        if k not in cols:
            raise ModelError(f"{path}: missing column {k!r} (Hz)")
    return GrainTable(tuple(cols["delta0"].tolist()), tuple(cols["bias"].tolist()),
                      tuple(cols["weight"].tolist()) if "weight" in cols else None,
                      source=str(path))


def refined(ensemble, factor: int = 2):
    """The same ensemble with ``factor`` × the quadrature points of every quadrature
    distribution (order n → factor·n), for the n-vs-2n accuracy estimate of a rule; for
    random and qmc distributions, ``factor`` × n_samples with a different seed."""
    from dataclasses import replace

    def up(dist):
        if dist is None or getattr(dist, "rule", "random") != "quadrature" \
                or dist.kind in ("fixed", "samples"):
            return dist
        n = dist.points if dist.points is not None else DEFAULT_POINTS
        return replace(dist, points=int(factor * n))

    if ensemble.deterministic:
        return replace(ensemble, delta0=up(ensemble.delta0), bias=up(ensemble.bias),
                       n_samples=None)
    n = ensemble.n_samples * int(factor)
    return replace(ensemble, delta0=up(ensemble.delta0), bias=up(ensemble.bias),
                   n_samples=n, seed=ensemble.seed + 1)


def batch_edges(n: int, batches: int) -> np.ndarray:
    """Global grain-index edges of ``batches`` contiguous, near-equal batches of ``n``."""
    b = max(1, min(int(batches), int(n)))
    return (int(n) * np.arange(b + 1, dtype=np.int64)) // b


