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

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(Distribution):
    value: float = setting()
    kind = "fixed"

    def __post_init__(self):
        validate(self, "fixed", error=ModelError)

    def draw(self, rng, n):
        return np.full(n, float(self.value)), np.ones(n)

    def to_dict(self):
        return {"kind": "fixed", "value": self.value}


@dataclass(frozen=True)
class Gaussian(Distribution):
    mean: float = setting()
    std: float = setting(ge=0)
    kind = "gaussian"

    def __post_init__(self):
        validate(self, "gaussian", error=ModelError)

    def draw(self, rng, n):
        return rng.normal(self.mean, self.std, n), np.ones(n)

    def to_dict(self):
        return {"kind": "gaussian", "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class LogNormal(Distribution):
    """exp(N(ln median, sigma_ln²)); ``sigma_ln`` is dimensionless."""

    median: float = setting(gt=0)
    sigma_ln: float = setting(ge=0)
    kind = "lognormal"

    def __post_init__(self):
        validate(self, "lognormal", error=ModelError)

    def draw(self, rng, n):
        return self.median * np.exp(rng.normal(0.0, self.sigma_ln, n)), np.ones(n)

    def to_dict(self):
        return {"kind": "lognormal", "median": self.median, "sigma_ln": self.sigma_ln}


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float = setting()
    high: float = setting()
    kind = "uniform"

    def __post_init__(self):
        validate(self, "uniform", error=ModelError)
        if self.high < self.low:
            raise ModelError(f"high: must be >= low ({self.low!r}), got {self.high!r}")

    def draw(self, rng, n):
        return rng.uniform(self.low, self.high, n), np.ones(n)

    def to_dict(self):
        return {"kind": "uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Samples(Distribution):
    """Explicit values with optional weights: each grain takes a value drawn uniformly
    with replacement and carries that value's weight (so weighted means follow the
    weighted distribution)."""

    values: tuple[float, ...] = setting()
    weights: tuple[float, ...] | None = setting(None, ge=0)
    kind = "samples"

    def __post_init__(self):
        validate(self, "samples", error=ModelError)
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
        return d


@dataclass(frozen=True)
class Tabulated(Distribution):
    """A density p(x) given on a grid (need not be normalised); sampled by inverse CDF
    of the piecewise-linear interpolant. Used for the spin-bath W(ε) of ``echo.theory``."""

    x: tuple[float, ...] = setting()
    pdf: tuple[float, ...] = setting(ge=0)
    kind = "tabulated"

    def __post_init__(self):
        validate(self, "tabulated", error=ModelError)
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
        x = np.asarray(self.x, float)
        p = np.asarray(self.pdf, float)
        h = np.diff(x)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * h)])
        # exact inverse of the piecewise-quadratic CDF of the piecewise-linear density:
        # in cell j, F = C_j + p_j u + s u²/2 (u = x − x_j, s the slope); solve for u
        target = rng.uniform(0.0, 1.0, n) * cdf[-1]
        j = np.clip(np.searchsorted(cdf, target, side="right") - 1, 0, x.size - 2)
        r = np.maximum(target - cdf[j], 0.0)
        pj = p[j]
        slope = (p[j + 1] - pj) / h[j]
        root = np.sqrt(np.maximum(pj * pj + 2.0 * slope * r, 0.0))
        denom = pj + root
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(denom > 0, 2.0 * r / denom, 0.0)
        return x[j] + np.clip(u, 0.0, h[j]), np.ones(n)

    def to_dict(self):
        return {"kind": "tabulated", "x": list(self.x), "pdf": list(self.pdf)}


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

    ``n_samples`` grains are simulated (Monte Carlo); ``n_grains`` is the physical number
    of grains in the sample, which scales the detected moment. ``spin`` S and ``g`` give
    the moment g μB S per grain. Sampling is lazy, in chunks of ``chunk_size`` grains;
    chunk i uses the random stream ``SeedSequence(seed).spawn`` child i, so results do
    not depend on how chunks are distributed over workers.
    """

    delta0: Distribution
    bias: Distribution
    spin: float = setting(100.0, gt=0, doc="S (grain spin)")
    g: float = setting(2.0, gt=0, doc="g-factor")
    n_grains: float = setting(1.0, gt=0, doc="physical number of grains (scales the signal)")
    n_samples: int = setting(1000, ge=1, doc="grains simulated (Monte Carlo)")
    seed: int = setting(0, ge=0, doc="random seed of the ensemble")
    chunk_size: int = setting(65536, ge=1, doc="grains per chunk (memory bound)")

    def __post_init__(self):
        validate(self, "ensemble", error=ModelError)
        if not isinstance(self.delta0, Distribution):
            raise ModelError(f"ensemble.delta0: not a distribution: {self.delta0!r}")
        if not isinstance(self.bias, Distribution):
            raise ModelError(f"ensemble.bias: not a distribution: {self.bias!r}")

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

    def chunk(self, i: int) -> GrainChunk:
        """Chunk ``i`` of the ensemble (deterministic given ``seed``)."""
        if not 0 <= i < self.n_chunks:
            raise IndexError(f"chunk {i} out of range 0..{self.n_chunks - 1}")
        n = min(self.chunk_size, self.n_samples - i * self.chunk_size)
        child = np.random.SeedSequence(self.seed).spawn(i + 1)[i]
        rng = np.random.default_rng(child)
        d0, w0 = self.delta0.draw(rng, n)
        eps, w1 = self.bias.draw(rng, n)
        delta = 2.0 * angular(np.asarray(d0, float)) * self.cos_pi_s
        return GrainChunk(i, delta, angular(np.asarray(eps, float)), w0 * w1)

    def chunks(self) -> Iterator[GrainChunk]:
        for i in range(self.n_chunks):
            yield self.chunk(i)

    def to_dict(self) -> dict:
        return {"delta0": self.delta0.to_dict(), "bias": self.bias.to_dict(),
                "spin": self.spin, "g": self.g, "n_grains": self.n_grains,
                "n_samples": self.n_samples, "seed": self.seed, "chunk_size": self.chunk_size}


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
      dM/dt (A m² s⁻¹).
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

    kind: str = setting("squid", choices=("squid", "coil"))
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
