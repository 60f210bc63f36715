"""The simulated sample: :class:`Ensemble` (grains), :class:`Environment` (decoherence)
and :class:`Detection` (read-out chain).

Conventions (see DESIGN.md): ħ = 1, energies are angular frequencies in rad/s, times in
seconds. *User-facing* frequencies (constructor arguments, model files) are cyclic, in Hz;
the conversion to rad/s happens in :func:`sequences.units.angular`, called by the
``*_rad`` accessors here, so engines only ever see rad/s.

Each grain is a two-level system ("giant spin") with

    H = Δ τx + (ε + δε(t) + g μB S h(t)) τz,      Δ = 2 Δ0 cos(πS)  (|Δ| = 2Δ0 for integer S)

so the zero-bias splitting is 2Δ = 4Δ0 and the eigen-energies are ±E, E = sqrt(Δ² + ε²).
``delta0`` and ``bias`` distributions are given in Hz (cyclic); Δ0 = 1 MHz means
Δ0 = 2π·10⁶ rad/s and a zero-bias transition frequency 2E/2π = 4 MHz.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from sequences.config import Spec, check_value, setting, validate
from sequences.errors import SpinechoError
from sequences.units import MU_B_OVER_HBAR, angular

#: Initial states the engines accept: "thermal" (eigenbasis populations at the
#: environment's temperature; None → T = 0, the ground state), "ground" (|−E⟩ whatever the
#: temperature, a prepared state) and "up" (τz = +1, the paper's P(t) set-up).
INITIAL_STATES = ("thermal", "ground", "up")
#: Read-out kinds of :class:`Detection`.
DETECTION_KINDS = ("squid", "coil", "quadrature")
#: Ensemble rules of a distribution (:mod:`echo.rules`) and the most quadrature nodes.
RULES = ("random", "quadrature", "qmc")
MAX_POINTS = 100_000


class ModelError(SpinechoError, ValueError):
    """Invalid model input; the message names the field and the offending value."""


def check_number(name: str, value, *, positive: bool = False, nonneg: bool = False) -> float:
    """Return ``float(value)`` or raise :class:`ModelError` naming ``name`` and the value
    (the number rule of :func:`sequences.config.check_value`)."""
    return check_value(value, float, Spec(gt=0 if positive else None,
                                          ge=0 if nonneg else None),
                       where=name, error=ModelError)


# --------------------------------------------------------------------------- distributions
class Distribution:
    """A one-dimensional distribution of a grain property (values in the unit of the
    field it describes, Hz for Δ0 and ε). ``draw(rng, n)`` returns (values, weights);
    weights are 1 except for :class:`Samples` with explicit weights."""

    kind = "abstract"
    rule = "random"
    points = None

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    def _check_rule(self):
        """``points`` only with the quadrature rule (see :mod:`echo.rules`)."""
        if self.points is not None and self.rule != "quadrature":
            raise ModelError(f"points: only for rule = 'quadrature' (the rule is "
                             f"{self.rule!r}; use ensemble.n_samples), got {self.points!r}")

    def _rule_dict(self) -> dict:
        d = {}
        if self.rule != "random":
            d["rule"] = self.rule
        if self.points is not None:
            d["points"] = int(self.points)
        return d

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature (values, weights summing to 1) of this distribution."""
        from echo.rules import quadrature_nodes

        return quadrature_nodes(self)

    def ppf(self, u) -> tuple[np.ndarray, np.ndarray]:
        """Inverse CDF at ``u`` (values, weights), for quasi-Monte Carlo."""
        from echo.rules import ppf

        return ppf(self, u)


@dataclass(frozen=True)
class Fixed(Distribution):
    value: float = setting()
    rule: str = setting("random", choices=RULES, doc="ensemble rule (echo.rules)")
    points: int | None = setting(None, ge=1, le=MAX_POINTS, doc="quadrature nodes")
    kind = "fixed"

    def __post_init__(self):
        validate(self, "fixed", error=ModelError)
        self._check_rule()

    def draw(self, rng, n):
        return np.full(n, float(self.value)), np.ones(n)

    def to_dict(self):
        return {"kind": "fixed", "value": self.value, **self._rule_dict()}


@dataclass(frozen=True)
class Gaussian(Distribution):
    mean: float = setting()
    std: float = setting(ge=0)
    rule: str = setting("random", choices=RULES, doc="ensemble rule (echo.rules)")
    points: int | None = setting(None, ge=1, le=MAX_POINTS, doc="quadrature nodes")
    kind = "gaussian"

    def __post_init__(self):
        validate(self, "gaussian", error=ModelError)
        self._check_rule()

    def draw(self, rng, n):
        return rng.normal(self.mean, self.std, n), np.ones(n)

    def to_dict(self):
        return {"kind": "gaussian", "mean": self.mean, "std": self.std, **self._rule_dict()}


@dataclass(frozen=True)
class LogNormal(Distribution):
    """exp(N(ln median, sigma_ln²)); ``sigma_ln`` is dimensionless."""

    median: float = setting(gt=0)
    sigma_ln: float = setting(ge=0)
    rule: str = setting("random", choices=RULES, doc="ensemble rule (echo.rules)")
    points: int | None = setting(None, ge=1, le=MAX_POINTS, doc="quadrature nodes")
    kind = "lognormal"

    def __post_init__(self):
        validate(self, "lognormal", error=ModelError)
        self._check_rule()

    def draw(self, rng, n):
        return self.median * np.exp(rng.normal(0.0, self.sigma_ln, n)), np.ones(n)

    def to_dict(self):
        return {"kind": "lognormal", "median": self.median, "sigma_ln": self.sigma_ln,
                **self._rule_dict()}


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float = setting()
    high: float = setting()
    rule: str = setting("random", choices=RULES, doc="ensemble rule (echo.rules)")
    points: int | None = setting(None, ge=1, le=MAX_POINTS, doc="quadrature nodes")
    kind = "uniform"

    def __post_init__(self):
        validate(self, "uniform", error=ModelError)
        self._check_rule()
        if self.high < self.low:
            raise ModelError(f"high: must be >= low ({self.low!r}), got {self.high!r}")

    def draw(self, rng, n):
        return rng.uniform(self.low, self.high, n), np.ones(n)

    def to_dict(self):
        return {"kind": "uniform", "low": self.low, "high": self.high, **self._rule_dict()}


@dataclass(frozen=True)
class Samples(Distribution):
    """Explicit values with optional weights: each grain takes a value drawn uniformly
    with replacement and carries that value's weight (so weighted means follow the
    weighted distribution)."""

    values: tuple[float, ...] = setting()
    weights: tuple[float, ...] | None = setting(None, ge=0)
    rule: str = setting("random", choices=RULES, doc="ensemble rule (echo.rules)")
    points: int | None = setting(None, ge=1, le=MAX_POINTS, doc="quadrature nodes")
    kind = "samples"

    def __post_init__(self):
        validate(self, "samples", error=ModelError)
        self._check_rule()
        if len(self.values) == 0:
            raise ModelError("values: expected a non-empty list of numbers, got []")
        if self.weights is not None and len(self.weights) != len(self.values):
            raise ModelError(f"weights: {len(self.weights)} weights for "
                             f"{len(self.values)} values")

    def draw(self, rng, n):
        vals = np.asarray(self.values, float)
        idx = rng.integers(0, vals.size, n)
        w = np.ones(n) if self.weights is None else np.asarray(self.weights, float)[idx]
        return vals[idx], w

    def to_dict(self):
        d = {"kind": "samples", "values": list(self.values)}
        if self.weights is not None:
            d["weights"] = list(self.weights)
        return {**d, **self._rule_dict()}


@dataclass(frozen=True)
class Tabulated(Distribution):
    """A density p(x) given on a grid (need not be normalised); sampled by inverse CDF
    of the piecewise-linear interpolant. Used for the spin-bath W(ε) of ``echo.theory``."""

    x: tuple[float, ...] = setting()
    pdf: tuple[float, ...] = setting(ge=0)
    rule: str = setting("random", choices=RULES, doc="ensemble rule (echo.rules)")
    points: int | None = setting(None, ge=1, le=MAX_POINTS, doc="quadrature nodes")
    kind = "tabulated"

    def __post_init__(self):
        validate(self, "tabulated", error=ModelError)
        self._check_rule()
        x = np.asarray(self.x, float)
        p = np.asarray(self.pdf, float)
        if x.size < 2 or x.size != p.size:
            raise ModelError(f"pdf: need as many pdf values as x values (>= 2), got "
                             f"{p.size} and {x.size}")
        if np.any(np.diff(x) <= 0):
            raise ModelError("x: must be strictly increasing")
        if not np.any(p > 0):
            raise ModelError("pdf: all zero")

    def draw(self, rng, n):
        return self.ppf(rng.uniform(0.0, 1.0, n)), np.ones(n)

    def ppf(self, u):
        """Values at CDF fractions ``u`` in [0, 1] (exact inverse, see :meth:`draw`)."""
        x = np.asarray(self.x, float)
        p = np.asarray(self.pdf, float)
        h = np.diff(x)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * h)])
        # exact inverse of the piecewise-quadratic CDF of the piecewise-linear density:
        # in cell j, F = C_j + p_j u + s u²/2 (u = x − x_j, s the slope); solve for u
        target = np.asarray(u, float) * cdf[-1]
        j = np.clip(np.searchsorted(cdf, target, side="right") - 1, 0, x.size - 2)
        r = np.maximum(target - cdf[j], 0.0)
        pj = p[j]
        slope = (p[j + 1] - pj) / h[j]
        root = np.sqrt(np.maximum(pj * pj + 2.0 * slope * r, 0.0))
        denom = pj + root
        with np.errstate(divide="ignore", invalid="ignore"):
            uu = np.where(denom > 0, 2.0 * r / denom, 0.0)
        return x[j] + np.clip(uu, 0.0, h[j])

    def to_dict(self):
        return {"kind": "tabulated", "x": list(self.x), "pdf": list(self.pdf),
                **self._rule_dict()}


DISTRIBUTIONS: dict[str, type[Distribution]] = {
    "fixed": Fixed, "gaussian": Gaussian, "lognormal": LogNormal, "uniform": Uniform,
    "samples": Samples, "tabulated": Tabulated,
}


def distribution_from_dict(d, where: str) -> Distribution:
    """Build a distribution from a model-file table; errors name ``where``."""
    if isinstance(d, (int, float)):
        return Fixed(float(d))
    if not isinstance(d, dict):
        raise ModelError(f"{where}: expected a table or a number, got {d!r}")
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in DISTRIBUTIONS:
        raise ModelError(f"{where}.kind: unknown distribution {kind!r} "
                         f"(known: {', '.join(DISTRIBUTIONS)})")
    cls = DISTRIBUTIONS[kind]
    try:
        if kind in ("samples",):
            return cls(tuple(d["values"]), tuple(d["weights"]) if "weights" in d else None)
        if kind == "tabulated":
            return cls(tuple(d["x"]), tuple(d["pdf"]))
        return cls(**d)
    except TypeError as exc:
        raise ModelError(f"{where}: {exc}") from None
    except ModelError as exc:
        raise ModelError(f"{where}: {exc}") from None


# ------------------------------------------------------------------------------ ensemble
@dataclass(frozen=True)
class GrainChunk:
    """One chunk of sampled grains (all rad/s): ``delta`` is Δ = 2Δ0 cos πS, ``bias`` ε,
    ``weight`` the statistical weight of each grain (mean 1 for unweighted sampling)."""

    index: int
    delta: np.ndarray
    bias: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return int(self.delta.size)


@dataclass(frozen=True)
class Ensemble:
    """Grains with tunnelling Δ0 and bias ε drawn from distributions (Hz).

    ``n_samples`` grains are simulated; ``n_grains`` is the physical number of grains in
    the sample, which scales the detected moment. ``spin`` S and ``g`` give the moment
    g μB S per grain. How the grains sample the distributions is each distribution's
    ``rule`` (random, qmc or quadrature; see :mod:`echo.rules`); ``grains`` (a
    :class:`echo.rules.GrainTable`) gives explicit paired grains instead of ``delta0`` and
    ``bias``.

    ``n_samples``: default 1000 for random/qmc ensembles; a fully deterministic ensemble
    (quadrature or fixed distributions, or a grain table) has exactly grid size ×
    ``batches`` grains, and ``n_samples`` may be omitted. ``batches``: the grains are split
    into this many contiguous batches (default 16 for random/qmc, at most n_samples; 1 for
    deterministic ensembles, where each batch is one replica of the grid with its own
    noise); the standard errors are batch means (:mod:`echo.stats`).

    Sampling is lazy, in chunks of ``chunk_size`` grains; chunk i uses the random stream
    ``SeedSequence(seed).spawn`` child i, so results do not depend on how chunks are
    distributed over workers.
    """

    delta0: Distribution | None = None
    bias: Distribution | None = None
    spin: float = setting(100.0, gt=0, doc="S (grain spin)")
    g: float = setting(2.0, gt=0, doc="g-factor")
    n_grains: float = setting(1.0, gt=0, doc="physical number of grains (scales the signal)")
    n_samples: int | None = setting(None, ge=1, doc="grains simulated (random/qmc: default "
                                    "1000; a quadrature grid or table: its size × batches)")
    seed: int = setting(0, ge=0, doc="random seed of the ensemble")
    chunk_size: int = setting(65536, ge=1, doc="grains per chunk (memory bound)")
    batches: int | None = setting(None, ge=1, le=1_000_000,
                                  doc="batches for standard errors (default 16; grids 1)")
    grains: object = None  # echo.rules.GrainTable: explicit paired grains
    #: set when n_samples was derived (grid size × batches, or the default 1000), so that
    #: ``dataclasses.replace`` of another field derives it again
    n_samples_auto: bool = field(default=False, repr=False, compare=False)

    def __post_init__(self):
        from echo.rules import GrainTable, batch_edges

        validate(self, "ensemble", error=ModelError)
        if abs(2.0 * self.spin - round(2.0 * self.spin)) > 1e-9 * max(1.0, self.spin):
            raise ModelError(f"ensemble.spin: must be an integer or a half-integer "
                             f"(Δ = 2Δ0 cos πS; docs/units.md), got {self.spin!r}")
        if self.grains is not None:
            if not isinstance(self.grains, GrainTable) and not (
                    hasattr(self.grains, "draw") and hasattr(self.grains, "to_dict")):
                raise ModelError(f"ensemble.grains: not a grain table or a joint sampler: "
                                 f"{self.grains!r}")
            if self.delta0 is not None or self.bias is not None:
                raise ModelError("ensemble.grains: a grain table replaces delta0 and bias; "
                                 "give one or the other")
        else:
            for name in ("delta0", "bias"):
                d = getattr(self, name)
                if d is None:
                    raise ModelError(f"ensemble.{name}: missing field (a distribution, Hz)")
                if not isinstance(d, Distribution):
                    raise ModelError(f"ensemble.{name}: not a distribution: {d!r}")
        grid = self._grid()
        size = grid[2].size
        if self.deterministic:
            reps = 1 if self.batches is None else int(self.batches)
            n = size * reps
            if self.n_samples is not None and self.n_samples != n \
                    and not self.n_samples_auto:
                raise ModelError(
                    f"ensemble.n_samples: this ensemble is a deterministic grid of {size} "
                    f"grains × {reps} batches = {n} grains, got n_samples = "
                    f"{self.n_samples!r} (omit n_samples, or set batches)")
            object.__setattr__(self, "n_samples", n)
            object.__setattr__(self, "n_samples_auto", True)
            object.__setattr__(self, "batches", reps)
        else:
            if self.n_samples is None:
                object.__setattr__(self, "n_samples", 1000)
                object.__setattr__(self, "n_samples_auto", True)
            if size > self.n_samples:
                raise ModelError(f"ensemble.n_samples: {self.n_samples} grains cannot cover "
                                 f"the {size} quadrature nodes (need n_samples >= {size})")
            b = 16 if self.batches is None else int(self.batches)
            object.__setattr__(self, "batches", int(batch_edges(self.n_samples, b).size - 1))

    # ---------------------------------------------------------------- rules
    def _dims(self) -> list:
        return [] if self.grains is not None else [self.delta0, self.bias]

    @property
    def deterministic(self) -> bool:
        """True when the grains are a fixed grid (quadrature/fixed distributions or a
        grain table): no random or qmc distribution, and at least one quadrature one."""
        if self.grains is not None:
            return bool(getattr(self.grains, "deterministic", True))
        dims = self._dims()
        stoch = [d for d in dims if d.rule != "quadrature" and d.kind != "fixed"]
        return not stoch and any(d.rule == "quadrature" for d in dims)

    @property
    def rule(self) -> str:
        """"table", "quadrature", "qmc", "random", or "mixed" (a summary for results)."""
        if self.grains is not None:
            return "table" if self.deterministic else str(self.grains.kind)
        rules = {d.rule for d in self._dims() if d.kind != "fixed"} or {"random"}
        if self.deterministic:
            return "quadrature"
        return rules.pop() if len(rules) == 1 else "mixed"

    def _grid(self):
        """(Δ0 nodes, ε nodes, weights) of the deterministic part: a grain table, or the
        tensor grid of the quadrature distributions (one node with weight 1 if none);
        Δ0 or ε is None where that distribution is not on the grid."""
        cache = self.__dict__.get("_grid_cache")
        if cache is not None:
            return cache
        if self.grains is not None and not self.deterministic:  # a joint random sampler
            out = (None, None, np.ones(1))
        elif self.grains is not None:
            out = self.grains.arrays()
        else:
            on = [d.rule == "quadrature" or d.kind == "fixed" for d in self._dims()]
            nodes = [d.nodes() if o else None for d, o in zip(self._dims(), on, strict=True)]
            d0 = nodes[0][0] if nodes[0] else None
            w0 = nodes[0][1] if nodes[0] else np.ones(1)
            e = nodes[1][0] if nodes[1] else None
            w1 = nodes[1][1] if nodes[1] else np.ones(1)
            # delta0 slowest: node k = (i0, i1) with k = i0·n1 + i1
            W = (w0[:, None] * w1[None, :]).ravel()
            D = None if d0 is None else np.repeat(d0, w1.size)
            E = None if e is None else np.tile(e, w0.size)
            out = (D, E, W)
        object.__setattr__(self, "_grid_cache", out)
        return out

    def batch_edges(self) -> np.ndarray:
        """Global grain-index edges (batches + 1,) of the batches."""
        from echo.rules import batch_edges

        if self.deterministic:
            g = self.n_samples // self.batches
            return g * np.arange(self.batches + 1, dtype=np.int64)
        return batch_edges(self.n_samples, self.batches)

    @property
    def moment_rad_per_tesla(self) -> float:
        """g μB S / ħ in rad s⁻¹ T⁻¹: a field h (T) shifts ε by this × h."""
        return self.g * MU_B_OVER_HBAR * self.spin

    @property
    def cos_pi_s(self) -> float:
        """cos(πS): ±1 for integer S, 0 for half-integer S (no tunnelling)."""
        c = math.cos(math.pi * self.spin)
        return 0.0 if abs(c) < 1e-12 else c

    @property
    def n_chunks(self) -> int:
        return -(-self.n_samples // self.chunk_size)

    def _qmc(self, lo: int, hi: int, d: int) -> np.ndarray:
        """Scrambled Sobol points (hi − lo, d) of global grains lo..hi−1: batch b is an
        independent scrambling (seeded by SeedSequence(seed, spawn_key=(2³¹ + b,)))."""
        import warnings

        from scipy.stats import qmc

        edges = self.batch_edges()
        out = np.empty((hi - lo, d))
        b = int(np.searchsorted(edges, lo, side="right") - 1)
        pos = lo
        while pos < hi:
            end = min(hi, int(edges[b + 1]))
            ss = np.random.SeedSequence(int(self.seed), spawn_key=(2 ** 31 + b,))
            eng = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(ss))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # balance needs 2^m points
                if pos > edges[b]:
                    eng.fast_forward(pos - int(edges[b]))
                out[pos - lo:end - lo] = eng.random(end - pos)
            pos = end
            b += 1
        return out

    def chunk(self, i: int) -> GrainChunk:
        """Chunk ``i`` of the ensemble (deterministic given ``seed``)."""
        if not 0 <= i < self.n_chunks:
            raise IndexError(f"chunk {i} out of range 0..{self.n_chunks - 1}")
        lo = i * self.chunk_size
        n = min(self.chunk_size, self.n_samples - lo)
        j = np.arange(lo, lo + n, dtype=np.int64)
        gd0, geps, gw = self._grid()
        size = gw.size
        k = j % size
        if self.deterministic:
            d0, eps, w = gd0[k], geps[k], gw[k] * size
        else:
            child = np.random.SeedSequence(self.seed).spawn(i + 1)[i]
            rng = np.random.default_rng(child)
            if self.grains is not None:  # a joint sampler of (Δ0, ε, weight)
                d0, eps, w = self.grains.draw(rng, n)
                delta = 2.0 * angular(np.asarray(d0, float)) * self.cos_pi_s
                return GrainChunk(i, delta, angular(np.asarray(eps, float)),
                                  np.asarray(w, float))
            qdims = [m for m, d in enumerate(self._dims())
                     if d.rule == "qmc" and d.kind != "fixed"]
            u = self._qmc(lo, lo + n, len(qdims)) if qdims else None
            vals, w = [], np.ones(n)
            for m, d in enumerate(self._dims()):
                grid_vals = (gd0, geps)[m]
                if grid_vals is not None:
                    vals.append(grid_vals[k])
                elif m in qdims:
                    v, wm = d.ppf(u[:, qdims.index(m)])
                    vals.append(v)
                    w = w * wm
                else:
                    v, wm = d.draw(rng, n)
                    vals.append(v)
                    w = w * wm
            d0, eps = vals
            if size > 1:  # node k holds n_k grains: weight w_k·N/n_k (exact quadrature)
                n_k = self.n_samples // size + (k < self.n_samples % size)
                w = w * gw[k] * self.n_samples / n_k
        delta = 2.0 * angular(np.asarray(d0, float)) * self.cos_pi_s
        return GrainChunk(i, delta, angular(np.asarray(eps, float)), np.asarray(w, float))

    def chunks(self) -> Iterator[GrainChunk]:
        for i in range(self.n_chunks):
            yield self.chunk(i)

    def to_dict(self) -> dict:
        d = {"spin": self.spin, "g": self.g, "n_grains": self.n_grains,
             "n_samples": self.n_samples, "seed": self.seed, "chunk_size": self.chunk_size,
             "batches": self.batches}
        if self.grains is not None:
            d["grains"] = self.grains.to_dict()
        else:
            d = {"delta0": self.delta0.to_dict(), "bias": self.bias.to_dict(), **d}
        return d


# --------------------------------------------------------------------------- environment
@dataclass(frozen=True)
class OrnsteinUhlenbeck:
    """Gaussian bias noise δε(t): stationary std ``sigma`` (Hz), correlation time
    ``tau_c`` (s), ⟨δε(t)δε(0)⟩ = σ² exp(−|t|/τc)."""

    sigma: float = setting(ge=0, unit="Hz")
    tau_c: float = setting(gt=0, unit="s")
    kind = "ou"

    def __post_init__(self):
        validate(self, "ou", error=ModelError)

    def to_dict(self):
        return {"kind": "ou", "sigma": self.sigma, "tau_c": self.tau_c}


@dataclass(frozen=True)
class Telegraph:
    """Random telegraph bias noise δε(t) = ±``amplitude`` (Hz), flipping at ``rate`` γ (1/s)
    (each state left with rate γ; correlation exp(−2γ|t|))."""

    amplitude: float = setting(ge=0, unit="Hz")
    rate: float = setting(ge=0, unit="1/s")
    kind = "telegraph"

    def __post_init__(self):
        validate(self, "telegraph", error=ModelError)

    def to_dict(self):
        return {"kind": "telegraph", "amplitude": self.amplitude, "rate": self.rate}


def spin_diffusion(mu: float, omega0: float, t2: float) -> OrnsteinUhlenbeck:
    """The paper's nuclear spin diffusion as OU noise: σ = μ ω0 / 2 (Hz), τc = T2 (s).

    The paper lets ε wander "over the energy range μω0 of the polarisation group" with its
    ε = ω0ΔN; here ε is the τz coefficient (H = Δτx + ετz), half that energy difference, so
    the range is μω0/2 — exactly the width of one polarisation group of
    :class:`echo.theory.BiasDensity` (N^{1/2}δω/2, docs/theory.md §4 item 3)."""
    mu = check_number("spin_diffusion.mu", mu, nonneg=True)
    omega0 = check_number("spin_diffusion.omega0", omega0, positive=True)
    t2 = check_number("spin_diffusion.t2", t2, positive=True)
    return OrnsteinUhlenbeck(sigma=0.5 * mu * omega0, tau_c=t2)


@dataclass(frozen=True)
class Environment:
    """Decoherence of each grain.

    * ``t1`` (s): relaxation between the eigenstates |±E⟩; the down/up rates obey detailed
      balance at ``temperature`` (K), Γ↓ + Γ↑ = 1/T1. ``t1 = None`` = no relaxation.
    * ``t_phi`` (s): pure dephasing in the eigenbasis (Lindblad √(1/2Tφ)·σz', so the
      coherence decays as exp(−t/Tφ)). ``None`` = none.
    * ``noise``: bias-noise processes added to ε (their sum acts).
    * ``drive_coupling``: ``"z"`` (the field modulates ε, default) or ``"x"`` (transverse,
      ⟂ to the easy axis) — the drive term is g μB S h(t) τz or τx respectively.
    * ``measurement_rate`` (1/s): continuous SQUID monitoring of τz with measurement
      strength κ (homodyne); the induced dephasing of τz-coherences is set by κ as
      documented in the engine. 0 = no back-action.
    * ``temperature`` (K): bath temperature for T1 detailed balance and the thermal initial
      state. ``None`` = zero temperature (relaxation only downwards, Γ↑ = 0; the thermal
      state is the ground state |−E⟩); ``math.inf`` (TOML ``inf``) = infinite temperature
      (Γ↑ = Γ↓, unpolarised).
    """

    t1: float | None = setting(None, gt=0, unit="s")
    t_phi: float | None = setting(None, gt=0, unit="s")
    noise: tuple = ()
    drive_coupling: str = setting("z", choices=("z", "x"))
    measurement_rate: float = setting(0.0, ge=0, unit="1/s")
    temperature: float | None = setting(None, gt=0, allow_inf=True, unit="K")

    def __post_init__(self):
        validate(self, "environment", error=ModelError)
        for i, n in enumerate(self.noise):
            if not isinstance(n, (OrnsteinUhlenbeck, Telegraph)):
                raise ModelError(f"environment.noise[{i}]: unknown noise process {n!r}")

    def quiet(self) -> Environment:
        """The same environment with bias noise, T1, Tφ and measurement back-action
        switched off (the reference for normalised echo amplitudes)."""
        return Environment(drive_coupling=self.drive_coupling, temperature=self.temperature)

    def to_dict(self) -> dict:
        return {"t1": self.t1, "t_phi": self.t_phi,
                "noise": [n.to_dict() for n in self.noise],
                "drive_coupling": self.drive_coupling,
                "measurement_rate": self.measurement_rate, "temperature": self.temperature}


# ----------------------------------------------------------------------------- detection
@dataclass(frozen=True)
class Detection:
    """Read-out chain: moment → flux → volts → noise → demodulation → windows.

    * ``kind``: ``"squid"`` sees M(t) = n_grains · g μB S · ⟨τz⟩(t) (A m²); ``"coil"`` sees
      dM/dt (A m² s⁻¹); ``"quadrature"`` is a pulse-EPR quadrature detector: I + iQ =
      volts_per_tau_z · (⟨σ̃x⟩ + i⟨σ̃y⟩) in the frame rotating at the carrier
      (:func:`echo.detect.iq_signal`), noise_rms on each of I and Q.
    * ``flux_per_moment`` (Φ0 per μB for a SQUID; for a coil, Φ0 per (μB/s)):
      coupling of the moment to the read-out flux.
    * ``volts_per_flux`` (V/Φ0): flux-locked-loop transfer.
    * ``noise_rms`` (V): white additive noise per output sample.
    * ``sample_rate`` (samples/s): output sampling of the trace inside detection windows.
    * ``reference_frequency`` (Hz): demodulation reference; the complex trace is
      V(t)·2exp(−i 2π f_ref t) low-passed over ``demod_bandwidth`` (Hz). ``None`` → the
      raw real trace (as complex with zero imaginary part).
    * ``seed``: noise stream.
    """

    kind: str = setting("squid", choices=DETECTION_KINDS)
    flux_per_moment: float = setting(1e-3, gt=0)
    volts_per_flux: float = setting(1.0, gt=0, unit="V/Phi0")
    noise_rms: float = setting(0.0, ge=0, unit="V")
    sample_rate: float = setting(100e6, gt=0, unit="samples/s")
    reference_frequency: float | None = setting(None, ge=0, unit="Hz")
    demod_bandwidth: float | None = setting(None, gt=0, unit="Hz")
    seed: int = setting(1, ge=0)

    def __post_init__(self):
        validate(self, "detection", error=ModelError)

    def volts_per_tau_z(self, ensemble: Ensemble) -> float:
        """Volts per unit ⟨τz⟩ (SQUID) or per unit d⟨τz⟩/dt in s⁻¹ (coil)."""
        moment_mu_b = ensemble.n_grains * ensemble.g * ensemble.spin
        return moment_mu_b * self.flux_per_moment * self.volts_per_flux

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in (
            "kind", "flux_per_moment", "volts_per_flux", "noise_rms", "sample_rate",
            "reference_frequency", "demod_bandwidth", "seed")}


@dataclass(frozen=True)
class Model:
    """Ensemble + environment + detection, as held by a model file."""

    ensemble: Ensemble
    environment: Environment = field(default_factory=Environment)
    detection: Detection = field(default_factory=Detection)

    def to_dict(self) -> dict:
        return {"ensemble": self.ensemble.to_dict(), "environment": self.environment.to_dict(),
                "detection": self.detection.to_dict()}
