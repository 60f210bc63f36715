"""Burns designed from the sample: the Rabi frequency of the grains resonant at f_burn.

A grain (H = Δτx + ετz, E = sqrt(Δ² + ε²), transition 2E) driven through τz by
h(t) = h0 cos(ωt) sees, in its eigenbasis, a transverse drive γh0 (Δ/E) cos ωt and a
longitudinal one γh0 (ε/E) cos ωt (γ = g μB S / ħ, :attr:`echo.model.Ensemble.
moment_rad_per_tesla`). The longitudinal part frequency-modulates the transition with
index z = 2γh0 (ε/E)/ω; on the one-photon resonance 2E = ω the effective Rabi frequency
(rotating-wave picture after removing the modulation: J0(z) + J2(z) = 2J1(z)/z) is

    Ω = γ h0 (Δ/E) · 2 J1(z)/z                      (τz drive, the default)
    Ω = γ h0 (ε/E) · 2 J1(z)/z,  z = 2γh0 (Δ/E)/ω   (τx drive)

A rectangular burn of length T turns a grain at detuning δ = 2E − ω over to the upper state
with the Rabi probability P(δ) = Ω²/(Ω² + δ²) sin²(sqrt(Ω² + δ²) T/2); the population
difference read by an echo changes by 2P: the *Rabi profile* of the hole (depth 2 for a
π burn on resonance, 0 for a 2π burn: a doublet beside f_burn).

:func:`design_burn` turns ``"pi"``, an angle, or ``"saturate"`` (+ a duration or a target
hole width) into the burn length and amplitude for the sample. Saturation needs a *spread*
of Rabi frequencies among the resonant grains (a Δ0 spread with a bias spread gives a
spread of Δ/E); identical resonant grains (fixed Δ0, or ε = 0) all nutate together and a
"saturating" burn is just an angle — :func:`design_burn` refuses it then.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import j1

from echo.model import Ensemble, ModelError, check_number
from sequences.units import TWO_PI

__all__ = ["BurnDesign", "RabiCalibration", "ResonantGrains", "burn_angles", "design_burn",
           "parse_burn", "profile_fwhm_factor", "rabi_frequency", "rabi_profile",
           "resonant_grains"]

#: default burn length (s) when neither a duration nor a hole width is given (holeburn.seq)
DEFAULT_DURATION = 20e-6
#: rms spread of burn angles over the resonant grains a "saturate" burn is designed for
#: (rad): |⟨cos θ⟩| = exp(−σθ²/2) = exp(−π²/2) ≈ 0.7 % of a coherent nutation is left
SATURATE_SPREAD = math.pi
#: a resonant-grain Rabi spread below this (relative rms) cannot saturate in a sane time
MIN_SATURATE_SPREAD = 0.01
#: `burn_angles` warns when the burn is within this of a non-zero multiple of 2π (rad)
TWO_PI_MARGIN = math.pi / 4


def _bessel_factor(z):
    """2 J1(z)/z (→ 1 as z → 0)."""
    z = np.asarray(z, float)
    out = np.ones_like(z)
    big = np.abs(z) > 1e-8
    out[big] = 2.0 * j1(z[big]) / z[big]
    return out


def rabi_frequency(delta, bias, h0: float, f_drive: float, *, moment: float,
                   coupling: str = "z"):
    """Per-grain Rabi frequency Ω (rad/s) on the one-photon resonance (module docstring).

    ``delta`` Δ and ``bias`` ε in rad/s (arrays, as in :class:`echo.model.GrainChunk`),
    ``h0`` the drive amplitude (T), ``f_drive`` its carrier (Hz), ``moment`` γ = g μB S/ħ
    (rad s⁻¹ T⁻¹), ``coupling`` "z" (τz drive) or "x"."""
    delta = np.abs(np.asarray(delta, float))
    bias = np.abs(np.asarray(bias, float))
    e = np.hypot(delta, bias)
    omega = TWO_PI * float(f_drive)
    perp, par = (delta, bias) if coupling == "z" else (bias, delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        sin_t = np.where(e > 0, perp / e, 0.0)
        cos_t = np.where(e > 0, par / e, 0.0)
    g = moment * float(h0)
    z = 2.0 * g * cos_t / omega if omega > 0 else np.zeros_like(e)
    return g * sin_t * _bessel_factor(z)


def rabi_profile(detuning_hz, rabi_hz, duration: float):
    """2P(δ): the change of population difference of a grain detuned by ``detuning_hz``
    (= f − f_burn, Hz) after a rectangular burn of Rabi frequency ``rabi_hz`` (Ω/2π, Hz)
    and length ``duration`` (s): 2Ω²/(Ω² + δ²) sin²(sqrt(Ω² + δ²) T/2)."""
    d = TWO_PI * np.asarray(detuning_hz, float)
    om = TWO_PI * np.asarray(rabi_hz, float)
    eff = np.hypot(om, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(eff > 0, (om / np.where(eff > 0, eff, 1.0)) ** 2, 0.0)
    return 2.0 * frac * np.sin(0.5 * eff * duration) ** 2


def profile_fwhm_factor(angle: float) -> float:
    """FWHM of the Rabi profile of a burn of angle θ = ΩT on resonance, in units of the
    Rabi frequency Ω/2π (Hz per Hz): π → 1.60. Raises :class:`ModelError` when the profile
    has no maximum at δ = 0 (θ near 2π k: a doublet, no hole at f_burn)."""
    theta = check_number("burn angle", angle, positive=True)
    x = np.linspace(0.0, 40.0, 400001)  # δ/Ω
    p = np.sin(0.5 * theta * np.sqrt(1 + x * x)) ** 2 / (1 + x * x)
    if p[0] < 0.999 * p.max() or p[0] < 1e-6:
        raise ModelError(f"burn angle {theta:.4g} rad: the Rabi profile has no maximum at "
                         "f_burn (near a multiple of 2π the resonant grains come back: a "
                         "doublet, no hole)")
    below = np.flatnonzero(p < 0.5 * p[0])
    if below.size == 0:
        raise ModelError(f"burn angle {theta:.4g} rad: no half maximum within 40 Ω")
    i = below[0]
    xh = x[i - 1] + (0.5 * p[0] - p[i - 1]) * (x[i] - x[i - 1]) / (p[i] - p[i - 1])
    return float(2.0 * xh)


@dataclass(frozen=True)
class ResonantGrains:
    """The sampled grains nearest to resonance with ``f`` (Hz): Δ, ε (rad/s), weights and
    their transition frequencies 2E/2π (Hz); ``band`` (Hz) is the largest |2E/2π − f|."""

    f: float
    delta: np.ndarray
    bias: np.ndarray
    weight: np.ndarray
    f_grain: np.ndarray
    band: float


def resonant_grains(ensemble: Ensemble, f: float, *, min_grains: int = 64,
                    fraction: float = 0.02) -> ResonantGrains:
    """The grains of the ensemble's first chunk nearest to resonance with ``f`` (Hz):
    the closest max(min_grains, fraction·n) by |2E/2π − f|. Raises :class:`ModelError`
    when the line does not reach ``f`` (the nearest grain is further than a tenth of the
    line's own spread, or than 10 kHz for a line narrower than 100 kHz)."""
    f = check_number("f_burn", f, positive=True)
    chunk = ensemble.chunk(0)
    e = np.hypot(chunk.delta, chunk.bias)
    fg = 2.0 * e / TWO_PI
    n = min(fg.size, max(min_grains, int(fraction * fg.size)))
    order = np.argsort(np.abs(fg - f), kind="stable")[:n]
    band = float(np.abs(fg[order] - f).max())
    spread = float(np.std(fg)) if fg.size > 1 else 0.0
    nearest = float(np.abs(fg[order[0]] - f))
    if nearest > max(0.1 * spread, 1e4):
        raise ModelError(f"f_burn = {f:.6g} Hz: no grain of the sample is resonant (the "
                         f"line 2E/2π spans {fg.min():.6g}–{fg.max():.6g} Hz; nearest grain "
                         f"{nearest:.3g} Hz away)")
    return ResonantGrains(f, chunk.delta[order], chunk.bias[order], chunk.weight[order],
                          fg[order], band)


def _weighted_quantile(x, w, q):
    i = np.argsort(x)
    c = np.cumsum(w[i])
    return float(x[i][min(np.searchsorted(c, q * c[-1]), x.size - 1)])


@dataclass(frozen=True)
class BurnDesign:
    """A burn designed for a sample: ``duration`` (s), ``h0`` (T), ``amp`` (fraction of
    ``full_scale``, T) at ``f_burn`` (Hz); ``rabi_hz`` the weighted median Ω/2π of the
    resonant grains and ``rabi_spread`` their relative rms spread; ``angle`` ΩT (rad) at
    the median; ``fwhm_hz`` the expected FWHM of the hole (Rabi profile; for "saturate"
    the power-broadened 2Ω/2π); ``kind`` "pi" | "angle" | "saturate"."""

    kind: str
    f_burn: float
    duration: float
    h0: float
    amp: float
    full_scale: float
    rabi_hz: float
    rabi_spread: float
    angle: float
    fwhm_hz: float

    def sets(self) -> dict[str, float]:
        """The holeburn.seq parameters: burn, burn_amp, f_burn (SI floats)."""
        return {"burn": self.duration, "burn_amp": self.amp, "f_burn": self.f_burn}

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"{self.kind} burn at {self.f_burn / 1e6:.6g} MHz: {self.duration * 1e6:.4g} µs "
                f"at {self.h0 * 1e9:.4g} nT (amp {self.amp:.4g} of {self.full_scale:g} T), "
                f"Rabi frequency {self.rabi_hz / 1e3:.4g} kHz"
                + (f" (spread {100 * self.rabi_spread:.2g} %)" if math.isfinite(self.rabi_spread)
                   else " (from a measured nutation)")
                + f", angle {self.angle / math.pi:.4g}π, "
                f"expected hole FWHM {self.fwhm_hz / 1e3:.4g} kHz")


def _kind_text(kind) -> str:
    return kind if isinstance(kind, str) else f"{kind:.4g} rad"


def parse_burn(text) -> str | float:
    """``"pi"``, ``"saturate"``, or an angle: a number in rad, ``"90deg"``, ``"0.5pi"``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return check_number("burn angle", text, positive=True)
    s = str(text).strip().lower().replace(" ", "")
    if s in ("pi", "π", "saturate"):
        return "pi" if s == "π" else s
    try:
        if s.endswith("deg"):
            v = math.radians(float(s[:-3]))
        elif s.endswith("pi") or s.endswith("π"):
            v = float(s.rstrip("piπ") or 1.0) * math.pi
        else:
            v = float(s)
    except ValueError:
        raise ModelError(f"burn: expected 'pi', 'saturate' or an angle (rad, 90deg, 0.5pi), "
                         f"got {text!r}") from None
    return check_number("burn angle", v, positive=True)


@dataclass(frozen=True)
class RabiCalibration:
    """A measured nutation: Rabi frequency ``rabi_hz`` (Hz) at amplitude ``amp`` (fraction
    of ``full_scale``, T) on the carrier ``f`` (Hz) — e.g. ``spinecho tune``'s tuned.toml."""

    rabi_hz: float
    amp: float
    f: float
    full_scale: float = 1e-6

    def __post_init__(self):
        for name in ("rabi_hz", "amp", "f", "full_scale"):
            check_number(f"calibration.{name}", getattr(self, name), positive=True)

    @classmethod
    def from_tune(cls, path, *, f: float, full_scale: float = 1e-6) -> RabiCalibration:
        """From ``spinecho tune``'s tuned.toml: ``[params] amp`` and ``[tune]
        rabi_frequency_hz``; ``f`` is the carrier the nutation was measured on."""
        from sequences.config import read_toml

        try:
            data = read_toml(path, error=ModelError)
        except FileNotFoundError:
            raise ModelError(f"{path}: no such calibration file") from None
        try:
            amp = float(data["params"]["amp"])
            rabi = float(data["tune"]["rabi_frequency_hz"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}: not a tune file with [params] amp and [tune] "
                             f"rabi_frequency_hz ({exc})") from None
        return cls(rabi, amp, f, full_scale)


def design_burn(ensemble: Ensemble | None, f_burn: float, burn="pi", *,
                duration: float | None = None, width: float | None = None,
                full_scale: float = 1e-6, coupling: str = "z", max_amp: float = 1.0,
                calibration: RabiCalibration | None = None) -> BurnDesign:
    """Design a rectangular burn at ``f_burn`` (Hz) for the grains of ``ensemble``.

    ``burn``: "pi", "saturate" or an angle θ (rad, or text for :func:`parse_burn`).
    Either ``duration`` (s) or ``width`` (the wanted hole FWHM, Hz) — not both; with
    neither the burn is 20 µs long. ``full_scale`` (T) is the field at amplitude 1 of the
    sequence's field channel; an amplitude above ``max_amp`` is refused. The amplitude is
    solved self-consistently with the Bessel factor (it depends on h0).

    ``calibration`` (a measured nutation, :class:`RabiCalibration`): the model's Rabi
    frequencies are scaled by (measured / model-predicted Rabi frequency at the calibration's
    amplitude and carrier), so the burn follows the lab's real coupling; with
    ``ensemble=None`` the calibration alone designs the burn, scaled linearly in amplitude
    (then f_burn must be the calibration's carrier: the resonant grains' Δ/E is unknown
    elsewhere)."""
    if ensemble is None:
        return _design_from_calibration(calibration, f_burn, burn, duration=duration,
                                        width=width, full_scale=full_scale, max_amp=max_amp)
    kind = parse_burn(burn)
    if duration is not None and width is not None:
        raise ModelError("design_burn: give a duration or a hole width, not both")
    full_scale = check_number("full_scale", full_scale, positive=True)
    res = resonant_grains(ensemble, f_burn)
    gamma = ensemble.moment_rad_per_tesla

    scale = 1.0
    if calibration is not None:  # the lab's coupling / the model's, at the calibration
        cres = resonant_grains(ensemble, calibration.f)
        predicted = _weighted_quantile(
            rabi_frequency(cres.delta, cres.bias, calibration.amp * calibration.full_scale,
                           calibration.f, moment=gamma, coupling=coupling), cres.weight, 0.5)
        scale = TWO_PI * calibration.rabi_hz / predicted

    def rabi_at(h0):  # rad/s per grain
        return scale * rabi_frequency(res.delta, res.bias, h0, f_burn, moment=gamma,
                                      coupling=coupling)

    per_tesla = rabi_at(1e-12) / 1e-12
    if not np.any(per_tesla > 0):
        raise ModelError(f"f_burn = {f_burn:.6g} Hz: the resonant grains do not couple to a "
                         f"τ{coupling} drive (Δ/E = 0)")
    med = _weighted_quantile(per_tesla, res.weight, 0.5)
    spread = float(np.sqrt(np.average((per_tesla - med) ** 2, weights=res.weight))) / med
    if kind == "saturate":
        if spread < MIN_SATURATE_SPREAD:
            raise ModelError(
                f"burn = saturate: the grains resonant at {f_burn:.6g} Hz share one Rabi "
                f"frequency (spread {100 * spread:.2g} % of it): they nutate together and "
                "never saturate (that needs a spread of Δ/E: a Δ0 spread with a bias "
                "spread); use burn = pi or an angle")
        angle_target = SATURATE_SPREAD / spread  # median angle for the wanted spread
        if width is not None:
            omega = math.pi * check_number("width", width, positive=True)  # FWHM ≈ 2Ω/2π
            duration = angle_target / omega
        else:
            duration = DEFAULT_DURATION if duration is None else duration
            duration = check_number("duration", duration, positive=True)
            omega = angle_target / duration
        fwhm = omega / math.pi
        angle = angle_target
    else:
        angle = math.pi if kind == "pi" else float(kind)
        factor = profile_fwhm_factor(angle)
        if width is not None:
            width = check_number("width", width, positive=True)
            omega = TWO_PI * width / factor
            duration = angle / omega
        else:
            duration = DEFAULT_DURATION if duration is None else duration
            duration = check_number("duration", duration, positive=True)
            omega = angle / duration
        fwhm = factor * omega / TWO_PI
    h0 = omega / med
    # the Bessel factor depends on h0: iterate h0 ← h0·Ω/Ω(h0), which converges while
    # Ω(h0) ∝ J1(z) still grows (z < 1.84, where a τz drive reaches its largest Rabi
    # frequency); beyond, no amplitude gives the wanted Ω
    for _ in range(500):
        got = _weighted_quantile(rabi_at(h0), res.weight, 0.5)
        new = h0 * omega / got if got > 0 else math.inf
        if not math.isfinite(new) or new <= 0 or new > 1e3 * omega / med:
            break
        converged = abs(new - h0) <= 1e-12 * h0
        h0 = new
        if converged:
            break
    else:
        new = math.nan
    if not (math.isfinite(new) and abs(_weighted_quantile(rabi_at(h0), res.weight, 0.5)
                                       - omega) <= 1e-6 * omega):
        raise ModelError(f"design_burn: no amplitude gives Ω/2π = {omega / TWO_PI:.4g} Hz at "
                         f"{f_burn:.6g} Hz (a τz drive's Rabi frequency γh0 (Δ/E) 2J1(z)/z "
                         "peaks at z = 1.84); give a longer burn")
    amp = h0 / full_scale
    if amp > max_amp:
        raise ModelError(f"design_burn: the {_kind_text(kind)} burn needs amplitude {amp:.4g} of "
                         "full "
                         f"scale ({h0:.4g} T) > {max_amp:g}; give a longer duration or a "
                         "narrower width")
    return BurnDesign(kind="angle" if isinstance(kind, float) else kind, f_burn=float(f_burn),
                      duration=float(duration), h0=float(h0), amp=float(amp),
                      full_scale=full_scale, rabi_hz=omega / TWO_PI, rabi_spread=spread,
                      angle=float(angle), fwhm_hz=float(fwhm))


def _design_from_calibration(cal, f_burn, burn, *, duration, width, full_scale, max_amp):
    """Linear scaling of a measured nutation (no model): Ω ∝ amplitude at the same carrier."""
    if cal is None:
        raise ModelError("design_burn: give a model ensemble or a Rabi calibration")
    f_burn = check_number("f_burn", f_burn, positive=True)
    if abs(f_burn - cal.f) > 1e-6 * cal.f:
        raise ModelError(f"design_burn: the calibration was measured at {cal.f:.6g} Hz, the "
                         f"burn is at {f_burn:.6g} Hz; without a model the Rabi frequency "
                         "there is unknown (give the sample model too)")
    kind = parse_burn(burn)
    if kind == "saturate":
        raise ModelError("burn = saturate needs the sample model (the resonant grains' "
                         "spread of Rabi frequencies)")
    if duration is not None and width is not None:
        raise ModelError("design_burn: give a duration or a hole width, not both")
    angle = math.pi if kind == "pi" else float(kind)
    factor = profile_fwhm_factor(angle)
    if width is not None:
        omega = TWO_PI * check_number("width", width, positive=True) / factor
        duration = angle / omega
    else:
        duration = check_number("duration", DEFAULT_DURATION if duration is None else duration,
                                positive=True)
        omega = angle / duration
    h_cal = cal.amp * cal.full_scale
    h0 = h_cal * omega / (TWO_PI * cal.rabi_hz)
    amp = h0 / check_number("full_scale", full_scale, positive=True)
    if amp > max_amp:
        raise ModelError(f"design_burn: the {_kind_text(kind)} burn needs amplitude {amp:.4g} of "
                         "full "
                         f"scale > {max_amp:g}; give a longer duration or a narrower width")
    return BurnDesign(kind="angle" if isinstance(kind, float) else kind, f_burn=f_burn,
                      duration=float(duration), h0=float(h0), amp=float(amp),
                      full_scale=float(full_scale), rabi_hz=omega / TWO_PI,
                      rabi_spread=float("nan"), angle=float(angle),
                      fwhm_hz=float(factor * omega / TWO_PI))


def burn_angles(schedule, ensemble: Ensemble, *, label: str = "burn",
                coupling: str = "z") -> list[dict]:
    """For every pulse labelled ``label`` in ``schedule``: the burn angle ∫Ω dt (rad) of the
    grains resonant at its carrier (weighted median and 10–90 % range) and a warning when
    the median is within π/4 of a non-zero multiple of 2π (the resonant grains come back:
    no hole at f_burn). Returns dicts with keys label, f, angle, angle_lo, angle_hi,
    warning (str or None)."""
    from sequences import shapes

    out = []
    for p in schedule.pulses:
        if p.label != label or p.duration <= 0 or p.amplitude == 0 or p.frequency <= 0:
            continue
        u = (np.arange(2000) + 0.5) / 2000
        area = float(np.mean(shapes.envelope(p.shape, u, dict(p.shape_params)))) * p.duration
        res = resonant_grains(ensemble, p.frequency)
        om = rabi_frequency(res.delta, res.bias, abs(p.amplitude), p.frequency,
                            moment=ensemble.moment_rad_per_tesla, coupling=coupling)
        ang = om * area
        med = _weighted_quantile(ang, res.weight, 0.5)
        k = round(med / TWO_PI)
        warning = None
        if k >= 1 and abs(med - k * TWO_PI) < TWO_PI_MARGIN:
            warning = (f"burn '{p.label}' at {p.frequency / 1e6:.6g} MHz turns the resonant "
                       f"grains by {med:.3g} rad ≈ {k}·2π: they return near their initial "
                       "state, so there is no hole at f_burn, only a doublet beside it "
                       "(design one: --burn pi)")
        out.append({"label": p.label, "f": p.frequency, "angle": med,
                    "angle_lo": _weighted_quantile(ang, res.weight, 0.1),
                    "angle_hi": _weighted_quantile(ang, res.weight, 0.9), "warning": warning})
    return out
