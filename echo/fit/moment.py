"""The paper's proposal made concrete: the magnetic moment per grain, g μB S, from the echo
amplitude and the SQUID calibration, held against the moment from susceptibility data.

**From the echo.** The SQUID sees M(t) = N · g μB S · ⟨τz⟩(t), so the detected echo is

    V_echo = (V/Φ0) · (Φ0/μB) · N · (g S) · e,

with e the echo in units of ⟨τz⟩ (what the simulation gives for the sequence and the
ensemble: how much of the full polarisation comes back in the echo). The model fit's
``amplitude`` parameter is exactly N·g·S (μB) with the calibration (V/Φ0, Φ0/μB) and e
inside the simulation, so the moment per grain is μ = amplitude / N, with

    (σμ/μ)² = (σ_amplitude/amplitude)² + (σN/N)² + (σ_cal/cal)²,

σ_cal/cal the relative uncertainty of the SQUID calibration (V/Φ0 × Φ0/μB).
:func:`moment_from_echo` does the same from a bare echo voltage and e.

**From susceptibility.** Low-field Curie law of N independent classical moments μ:
χ = dM/dB = N μ² / (3 k_B T) (isotropic, random easy axes) or N μ²/(k_B T) (Ising, easy
axes along the field), χ in J/T² (= A m²/T). :func:`moment_from_susceptibility` inverts it.

**Verdict.** z = |μ_echo − μ_χ| / (σ_echo² + σ_χ²)^{1/2}: "consistent" for z ≤ 2,
"tension" for 2 < z ≤ 3, "inconsistent" for z > 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from echo.fit.errors import FitError
from sequences.units import K_B, MU_B

__all__ = ["MomentEstimate", "MomentComparison", "moment_from_fit", "moment_from_echo",
           "moment_from_susceptibility", "curie_susceptibility", "compare_moments"]


@dataclass(frozen=True)
class MomentEstimate:
    """A moment per grain in Bohr magnetons with its 1σ uncertainty and its origin."""

    value: float
    stderr: float
    source: str
    details: dict | None = None

    @property
    def g_s(self) -> float:
        """g·S (= value, in μB); S for g = 2 is value / 2."""
        return self.value

    def to_dict(self) -> dict:
        return {"value_mu_b": self.value, "stderr_mu_b": self.stderr, "source": self.source,
                "details": self.details or {}}


@dataclass(frozen=True)
class MomentComparison:
    echo: MomentEstimate
    susceptibility: MomentEstimate
    z: float
    verdict: str

    def text(self) -> str:
        return (f"moment per grain from the echo: {self.echo.value:.4g} ± {self.echo.stderr:.2g}"
                f" μB; from susceptibility: {self.susceptibility.value:.4g} ± "
                f"{self.susceptibility.stderr:.2g} μB; difference {self.z:.2f}σ → "
                f"{self.verdict}")

    def to_dict(self) -> dict:
        return {"echo": self.echo.to_dict(), "susceptibility": self.susceptibility.to_dict(),
                "z": self.z, "verdict": self.verdict}


def _pos(name, v, allow_zero=False):
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise FitError(f"{name}: expected a number, got {v!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise FitError(f"{name}: must be {'>= 0' if allow_zero else '> 0'}, got {v!r}")
    return v


def moment_from_fit(fit, n_grains: float, *, n_grains_stderr: float = 0.0,
                    calibration_rel_stderr: float = 0.0) -> MomentEstimate:
    """μ per grain (μB) from a model fit with a free ``amplitude`` (= N·g·S, μB)."""
    if "amplitude" not in fit.params or not fit.params["amplitude"].vary:
        raise FitError("moment: the fit must have 'amplitude' as a free parameter")
    a = fit.params["amplitude"]
    if a.stderr is None:
        raise FitError("moment: the amplitude has no uncertainty (the fit did not converge)")
    n = _pos("n_grains", n_grains)
    sn = _pos("n_grains_stderr", n_grains_stderr, allow_zero=True)
    sc = _pos("calibration_rel_stderr", calibration_rel_stderr, allow_zero=True)
    mu = a.value / n
    rel = math.sqrt((a.stderr / a.value) ** 2 + (sn / n) ** 2 + sc**2) if a.value else math.inf
    return MomentEstimate(mu, abs(mu) * rel, "echo amplitude (model fit)",
                          {"amplitude_mu_b": a.value, "amplitude_stderr": a.stderr,
                           "n_grains": n, "n_grains_stderr": sn,
                           "calibration_rel_stderr": sc})


def moment_from_echo(echo_volts: float, echo_stderr: float, *, echo_per_tau_z: float,
                     n_grains: float, volts_per_flux: float, flux_per_moment: float,
                     n_grains_stderr: float = 0.0,
                     calibration_rel_stderr: float = 0.0) -> MomentEstimate:
    """μ = V_echo / ((V/Φ0)·(Φ0/μB)·N·e) in μB (see the module docstring). ``echo_per_tau_z``
    is e, the simulated echo in units of ⟨τz⟩ (dimensionless, nonzero)."""
    v = float(echo_volts)
    sv = _pos("echo_stderr", echo_stderr, allow_zero=True)
    e = float(echo_per_tau_z)
    if e == 0 or not math.isfinite(e):
        raise FitError(f"echo_per_tau_z: must be finite and nonzero, got {echo_per_tau_z!r}")
    n = _pos("n_grains", n_grains)
    cal = _pos("volts_per_flux", volts_per_flux) * _pos("flux_per_moment", flux_per_moment)
    sn = _pos("n_grains_stderr", n_grains_stderr, allow_zero=True)
    sc = _pos("calibration_rel_stderr", calibration_rel_stderr, allow_zero=True)
    mu = v / (cal * n * e)
    rel_v = sv / abs(v) if v else math.inf
    rel = math.sqrt(rel_v**2 + (sn / n) ** 2 + sc**2)
    return MomentEstimate(mu, abs(mu) * rel, "echo amplitude (SQUID calibration)",
                          {"echo_volts": v, "echo_stderr": sv, "echo_per_tau_z": e,
                           "n_grains": n, "volts_per_mu_b": cal})


def _curie_factor(geometry: str) -> float:
    """c of the Curie law χ = N μ² / (c k_B T): 3 isotropic, 1 Ising."""
    c = {"isotropic": 3.0, "ising": 1.0}.get(geometry)
    if c is None:
        raise FitError(f"geometry: 'isotropic' or 'ising', got {geometry!r}")
    return c


def curie_susceptibility(moment: float, *, temperature: float, n_grains: float,
                         geometry: str = "isotropic") -> float:
    """The low-field Curie susceptibility χ = N μ² / (c k_B T) (J/T²) of ``n_grains``
    grains of moment ``moment`` (μB) at ``temperature`` (K), c = 3 (isotropic) or 1
    (Ising): the inverse of :func:`moment_from_susceptibility`."""
    c = _curie_factor(geometry)
    mu = _pos("moment", moment) * MU_B
    return _pos("n_grains", n_grains) * mu * mu / (c * K_B * _pos("temperature", temperature))


def moment_from_susceptibility(chi: float, chi_stderr: float, *, temperature: float,
                               n_grains: float, geometry: str = "isotropic",
                               n_grains_stderr: float = 0.0,
                               temperature_stderr: float = 0.0) -> MomentEstimate:
    """μ (μB) from a low-field Curie susceptibility χ = dM/dB (J/T²) at ``temperature``
    (K) of ``n_grains`` grains: μ² = c k_B T χ / N with c = 3 (isotropic) or 1 (Ising)."""
    c = _curie_factor(geometry)
    x = _pos("chi", chi)
    sx = _pos("chi_stderr", chi_stderr, allow_zero=True)
    t = _pos("temperature", temperature)
    st = _pos("temperature_stderr", temperature_stderr, allow_zero=True)
    n = _pos("n_grains", n_grains)
    sn = _pos("n_grains_stderr", n_grains_stderr, allow_zero=True)
    mu = math.sqrt(c * K_B * t * x / n) / MU_B
    rel = 0.5 * math.sqrt((sx / x) ** 2 + (st / t) ** 2 + (sn / n) ** 2)
    return MomentEstimate(mu, mu * rel, f"Curie susceptibility ({geometry})",
                          {"chi_J_per_T2": x, "temperature_K": t, "n_grains": n})


def compare_moments(echo: MomentEstimate, susceptibility: MomentEstimate | float,
                    stderr: float | None = None) -> MomentComparison:
    """Consistency of the echo moment with a susceptibility moment (an estimate, or a value
    in μB with ``stderr``)."""
    if not isinstance(susceptibility, MomentEstimate):
        susceptibility = MomentEstimate(float(susceptibility), _pos(
            "susceptibility moment stderr", stderr if stderr is not None else 0.0,
            allow_zero=True), "given")
    s = math.hypot(echo.stderr, susceptibility.stderr)
    diff = abs(echo.value - susceptibility.value)
    z = diff / s if s > 0 else (0.0 if diff == 0 else math.inf)
    verdict = "consistent" if z <= 2 else ("tension" if z <= 3 else "inconsistent")
    return MomentComparison(echo, susceptibility, z, verdict)
