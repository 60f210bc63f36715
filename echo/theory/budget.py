"""The decoherence budget of a magnetic grain (paper sections (i)–(iii), Eqs. 8–12, fn. 19).

A :class:`GrainModel` holds what the paper needs about one kind of grain and its
surroundings (user-facing units: frequencies in cyclic **Hz**, temperatures and electronic
energies in **K**; converted with :mod:`sequences.units`). :func:`decoherence_budget` turns
it into a :class:`Budget`: one row per mechanism with its coupling or rate, the paper's
condition for coherence, the margin by which it holds and a status, plus a verdict and the
paper's remedies.

Status: ``pass`` (condition holds by at least ``margin``, default 10 — the paper's "≪"),
``marginal`` (holds by less), ``fail``, ``warn`` (footnote 19 with the impurity count
unknown), ``unknown`` (an input is missing), ``n/a`` (the geometry excludes it), ``info``.

Mechanisms and formulas (ħ = k_B = 1 inside; all energies compared as angular rates):

* degeneracy blocking: W(ε) and A = 2πΔ0|cos πS| W(0) (:mod:`echo.theory.bias`).
* co-flipping / topological decoherence: λ = N π² ω0²/(4Ω0²) (or given), coherence λ ≪ 1.
* nuclear spin diffusion, Eq. 8 with the exponent corrected (docs/theory.md):
  Δ0 ≫ [δω0² T2⁻¹]^{1/3} N^{1/3}; δω0 defaults to T2⁻¹ (the paper's dipolar case), N is the
  diffusing species (protons if given).
* paramagnetic impurities (fn. 19): α = πω_imp/(√2 Ω0) each, λ_imp = n α²/2 ≪ 1.
* conducting grain and substrate, Eq. 10: α_b = (gS/(k_F R0))², k_F R0 ≈ S^{1/3} by
  default (one spin per atom), so α_b ≈ g² S^{4/3}; coherence α_b ≪ 1.
* insulating grain on a conducting substrate: α_s = g_s² S^{2/3},
  Δ_r = Δ0 (Δ0/Ω0)^{α_s/(1−α_s)}, Γ_s = 2π α_s k_B T; coherence Γ_s ≪ Δ_r.
* conducting grain on an insulating substrate, Eq. 11: Δε = D/S,
  S k_B T / D ≪ 1 / ln(2π g² S^{2/3} D / (S Δ_r)), Δ_r = Δ0 if Δε > Ω0 else Δ0(Δε/Ω0)^{α_s}.
* phonons, Eq. 12: Γ_φ = (Δ0/Ω0)² C (Δ0/Θ_D)³ coth(Δ0/2k_BT), C = (KS)²/Θ_D; Γ_φ ≪ Δ0.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path

from echo.model import ModelError
from echo.theory.bath import alpha_k, lambda_uniform
from echo.theory.bias import BiasDensity, paper_fraction_printed
from echo.theory.hamiltonian import cos_pi_s
from sequences.config import from_table, read_toml, setting, validate
from sequences.units import K_B_OVER_HBAR, angular, cyclic

__all__ = ["PRESETS", "PAPER_REMEDIES", "GrainModel", "BudgetRow", "Budget", "decoherence_budget",
           "load_grain_model", "load_preset", "grain_model_from_dict"]

PRESETS = ("ferritin", "tb-grain")

#: the paper's conclusion (section iii), always listed
PAPER_REMEDIES = (
    "isotopic purification of the magnetic grains (remove nuclear spins)",
    "an insulating substrate, purified of paramagnetic impurities",
    "grains chemically purified of paramagnetic impurities (they may be conducting if "
    "not too large, S ≤ 1e5)",
    "a spin-echo (π/2 – π) or hole-burning measurement: non-invasive, and it works "
    "despite the spread of Δ0 and bias",
)

_TOP_LEVEL = ("name", "description")
_TABLES = ("grain", "nuclei", "environment", "electrons", "criteria")


@dataclass(frozen=True)
class GrainModel:
    """One kind of grain and its surroundings (Hz, K). Each field is declared once with
    :func:`sequences.config.setting`: its default, its range and its key in the model file
    (``key="grain.spin"``: table ``[grain]``, key ``spin``); :func:`grain_model_from_dict`
    reads the file with :func:`sequences.config.from_table`, and Python construction obeys
    the same declarations."""

    spin: float = setting(gt=0, key="grain.spin", doc="S")
    delta0_hz: float = setting(gt=0, key="grain.delta0_hz", unit="Hz")
    omega_bare_hz: float = setting(gt=0, key="grain.omega_bare_hz", unit="Hz")
    n_nuclei: int = setting(ge=0, key="nuclei.n")
    omega0_hz: float = setting(gt=0, key="nuclei.omega0_hz", unit="Hz")
    temperature_k: float = setting(gt=0, key="environment.temperature_k", unit="K")
    name: str = setting("model")
    description: str = setting("")
    grain_conducting: bool = setting(False, key="grain.conducting")
    anisotropy_k: float | None = setting(None, gt=0, key="grain.anisotropy_k", unit="K")
    debye_temperature_k: float = setting(300.0, gt=0, key="grain.debye_temperature_k",
                                         unit="K")
    kf_r0: float | None = setting(None, gt=0, key="grain.kf_r0")
    spread_hz: float = setting(0.0, ge=0, key="nuclei.spread_hz", unit="Hz")
    n_protons: int = setting(0, ge=0, key="nuclei.n_protons")
    proton_coupling_hz: float = setting(0.0, ge=0, key="nuclei.proton_coupling_hz",
                                        unit="Hz")
    lam: float | None = setting(None, ge=0, key="nuclei.lambda")
    lam_prime: float = setting(0.0, ge=0, key="nuclei.lambda_prime")
    t2_inverse_hz: float | None = setting(None, ge=0, key="nuclei.t2_inverse_hz", unit="Hz")
    diffusion_n: int | None = setting(None, ge=0, key="nuclei.diffusion_n")
    diffusion_spread_hz: float | None = setting(None, gt=0, key="nuclei.diffusion_spread_hz",
                                                unit="Hz")
    substrate_conducting: bool = setting(False, key="environment.substrate_conducting")
    paramagnetic_impurities: int | None = setting(None, ge=0,
                                                  key="environment.paramagnetic_impurities")
    impurity_coupling_hz: float = setting(1.0e8, gt=0, key="environment.impurity_coupling_hz",
                                          unit="Hz")
    kondo_g: float = setting(0.1, ge=0, key="electrons.kondo_g")
    surface_g: float = setting(0.05, ge=0, key="electrons.surface_g")
    bandwidth_k: float = setting(1.0e4, gt=0, key="electrons.bandwidth_k", unit="K")
    margin: float = setting(10.0, gt=0, key="criteria.margin")

    def __post_init__(self):
        validate(self, "", error=ModelError)
        if self.lam is not None and self.lam_prime > self.lam:
            raise ModelError(f"nuclei.lambda_prime: must be <= lambda ({self.lam!r}), got "
                             f"{self.lam_prime!r}")
        if self.delta0_hz >= self.omega_bare_hz:
            raise ModelError(f"grain.delta0_hz: must be < grain.omega_bare_hz "
                             f"({self.omega_bare_hz!r}), got {self.delta0_hz!r}")

    # ---------------------------------------------------------------- derived
    @property
    def coflip_lambda(self) -> float:
        """λ (given, or N π² ω0²/(4Ω0²) from the grain's nuclei)."""
        if self.lam is not None:
            return float(self.lam)
        return lambda_uniform(self.n_nuclei, self.omega0_hz, self.omega_bare_hz)

    @property
    def proton_width_hz(self) -> float:
        """Std of the proton contribution to the bias, N_p^{1/2} ω_p / 2 (Hz)."""
        return math.sqrt(self.n_protons) * self.proton_coupling_hz / 2.0

    def bias_density(self) -> BiasDensity:
        """W(ε) in Hz (τz convention), thermal weights at ``temperature_k``."""
        kt_hz = cyclic(K_B_OVER_HBAR * self.temperature_k)
        if self.n_nuclei == 0 and self.proton_width_hz == 0.0:
            raise ModelError("nuclei.n: no nuclear spins — W(ε) is δ(ε), not a density")
        spread = self.spread_hz
        if spread == 0.0 and self.proton_width_hz == 0.0:
            spread = 1e-9 * self.omega0_hz  # sharp groups, still a proper density
        return BiasDensity(self.n_nuclei, self.omega0_hz, spread,
                           extra_width=self.proton_width_hz, temperature=kt_hz)

    def to_dict(self) -> dict:
        return asdict(self)


def _kelvin_to_rad(t_k: float) -> float:
    return K_B_OVER_HBAR * t_k


def _hz_to_kelvin(f_hz: float) -> float:
    return angular(f_hz) / K_B_OVER_HBAR


# ---------------------------------------------------------------------- loading
def grain_model_from_dict(data: dict, source: str = "<model>") -> GrainModel:
    """Build a :class:`GrainModel` from a parsed TOML table (:func:`sequences.config.from_table`
    on the fields' declarations). Unknown tables or keys, missing fields, bad types and
    values out of range raise ModelError naming ``source``, the field and what is
    allowed."""
    if not isinstance(data, dict):
        raise ModelError(f"{source}: expected a table")
    flat: dict = {}
    for key, value in data.items():
        if key in _TOP_LEVEL:
            flat[key] = value
            continue
        if key not in _TABLES:
            hint = ""
            if key in ("ensemble", "detection"):  # a simulation model (echo.modelfile)
                hint = ("; this looks like a simulation model file (spinecho simulate "
                        "--model): the budget needs a grain model, see docs/theory.md §5, "
                        "or use --preset ferritin")
            raise ModelError(f"{source}: {key}: unknown table or key (allowed: "
                             f"{', '.join(sorted(set(_TABLES) | set(_TOP_LEVEL)))}){hint}")
        if not isinstance(value, dict):
            raise ModelError(f"{source}: {key}: expected a table [{key}], got {value!r}")
        flat.update({f"{key}.{sub}": v for sub, v in value.items()})
    return from_table(GrainModel, flat, filename=source, error=ModelError)


def load_grain_model(path) -> GrainModel:
    """Read a model TOML file (see docs/theory.md for the format)."""
    p = Path(path)
    return grain_model_from_dict(read_toml(p, error=ModelError), str(p))


def load_preset(name: str) -> GrainModel:
    """One of :data:`PRESETS` (``ferritin``, ``tb-grain``)."""
    if name not in PRESETS:
        raise ModelError(f"preset: unknown preset {name!r} (known: {', '.join(PRESETS)})")
    text = resources.files("echo").joinpath("presets", f"{name}.toml").read_text("utf-8")
    return grain_model_from_dict(tomllib.loads(text), f"preset {name}")


# ---------------------------------------------------------------------- budget
@dataclass(frozen=True)
class BudgetRow:
    """One mechanism: its coupling or rate, the condition for coherence, the margin
    (how many times the condition holds; None if not a ratio) and the status."""

    mechanism: str
    reference: str
    coupling: str
    condition: str
    status: str
    margin: float | None = None
    note: str = ""
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Budget:
    model: GrainModel
    rows: tuple[BudgetRow, ...]
    verdict: str
    reasons: tuple[str, ...]
    remedies: tuple[str, ...]
    """``remedies``: the paper's remedies for the rows that do not pass here;
    :data:`PAPER_REMEDIES` (always printed) is the paper's general prescription."""

    def to_dict(self) -> dict:
        return {
            "model": self.model.to_dict(),
            "rows": [asdict(r) for r in self.rows],
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "remedies": list(self.remedies),
            "paper_prescription": list(PAPER_REMEDIES),
        }

    def format_table(self) -> str:
        """A readable fixed-width table with the verdict and remedies."""
        m = self.model
        head = (f"Decoherence budget: {m.name}"
                + (f" - {m.description}" if m.description else ""))
        params = (f"S = {m.spin:g}, Δ0 = {_fmt_hz(m.delta0_hz)}, "
                  f"Ω0 = {_fmt_hz(m.omega_bare_hz)}, T = {m.temperature_k * 1e3:g} mK, "
                  f"N = {m.n_nuclei} nuclei (ω0 = {_fmt_hz(m.omega0_hz)})"
                  + (f", {m.n_protons} protons" if m.n_protons else ""))
        cols = ("mechanism", "paper", "coupling / rate", "condition for coherence", "margin",
                "status")
        body = [(r.mechanism, r.reference, r.coupling, r.condition,
                 "-" if r.margin is None else _fmt_margin(r.margin), r.status.upper())
                for r in self.rows]
        widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
        lines = [head, params, ""]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines.append(fmt.format(*cols))
        lines.append("  ".join("-" * w for w in widths))
        for b in body:
            lines.append(fmt.format(*b))
        notes = [f"  [{r.mechanism}] {r.note}" for r in self.rows if r.note]
        if notes:
            lines += ["", "notes:", *notes]
        lines += ["", f"verdict: {self.verdict}"]
        lines += [f"  - {r}" for r in self.reasons]
        if self.remedies:
            lines += ["", "remedies for this model:"]
            lines += [f"  - {r}" for r in self.remedies]
        lines += ["", "the paper's prescription (Prokof'ev & Stamp, section iii):"]
        lines += [f"  - {r}" for r in PAPER_REMEDIES]
        lines.append(f"(pass = the condition holds by ≥ {m.margin:g}× — the paper's '≪'; "
                     f"marginal = by 1–{m.margin:g}×; rates shown as cyclic frequencies)")
        return "\n".join(lines)


def _fmt_hz(f: float) -> str:
    for unit, scale in (("GHz", 1e9), ("MHz", 1e6), ("kHz", 1e3)):
        if abs(f) >= scale:
            return f"{f / scale:.3g} {unit}"
    return f"{f:.3g} Hz"


def _fmt_margin(x: float) -> str:
    if math.isinf(x):
        return "∞"
    if x >= 1e4:
        mant, exp = f"{x:.0e}".split("e")
        return f"{mant}e{int(exp)}×"
    return f"{x:.2g}×" if x < 100 else f"{x:.0f}×"


def _status(ratio: float, margin: float) -> str:
    if ratio >= margin:
        return "pass"
    if ratio >= 1.0:
        return "marginal"
    return "fail"


def _geometry_row(mechanism: str, reference: str, coupling: str, condition: str,
                  ratio: float, margin: float, applies: bool, why_not: str,
                  values: dict) -> BudgetRow:
    """A row of a mechanism that only one grain/substrate geometry has: its status and
    margin when it ``applies``, else ``n/a`` with the reason ``why_not``."""
    return BudgetRow(mechanism, reference, coupling, condition,
                     _status(ratio, margin) if applies else "n/a",
                     ratio if applies else None, "" if applies else why_not, values)


def decoherence_budget(model: GrainModel) -> Budget:
    """Evaluate every mechanism of the paper for ``model``."""
    m = model
    k = m.margin
    rows: list[BudgetRow] = []
    d0 = m.delta0_hz
    om = m.omega_bare_hz
    cps = abs(cos_pi_s(m.spin))
    kt_k = m.temperature_k

    # 1. degeneracy blocking ------------------------------------------------------
    note = ""
    if m.n_nuclei == 0 and m.proton_width_hz == 0.0:
        # no nuclear spins: W(ε) = δ(ε), every grain is at resonance
        a, regime, mu, mu_eff = cps and 1.0, "no nuclear bias", 0.0, 0.0
    else:
        w = m.bias_density()
        a = w.fraction_a(d0, m.spin)
        regime, mu, mu_eff = w.regime, w.mu, w.mu_effective
    if cps == 0.0:
        status, cond = "fail", "integer S (Δ = 2Δ0 cos πS ≠ 0)"
        note = "half-integer S: tunnelling is forbidden (Δ = 2Δ0 cos πS = 0)"
    elif a < 1e-9:
        status, cond = "fail", "W(0) > 0: grains near ε = 0"
        note = ("odd N with separated polarisation groups (μ ≪ 1): no group at ε = 0, "
                "degeneracy blocking stops tunnelling completely (footnote 13)"
                if m.n_nuclei % 2 and regime == "separated" else
                "W(0) negligible: k_B T ≪ ω0 polarises the nuclei and biases every grain "
                "off resonance" if _kelvin_to_rad(kt_k) < angular(m.omega0_hz) else
                "W(0) negligible: degeneracy blocking")
    else:
        status, cond = "info", "A > 0 (only the fraction A can tunnel)"
        if regime == "overlapping" and m.n_nuclei > 0:
            printed = paper_fraction_printed(d0, m.n_nuclei, m.omega0_hz)
            note = (f"A = 1 − P(∞) = 2πΔ0 W(0); the paper's printed πΔ0/(ω0√(2πN)) = "
                    f"{printed:.2g} is 4× smaller by convention (docs/theory.md §4)")
    rows.append(BudgetRow(
        "degeneracy blocking", "W(ε), fn 13",
        f"μ_eff = {mu_eff:.3g} ({regime}); A = {a:.2g}", cond, status, None, note,
        {"mu": mu, "mu_effective": mu_eff, "regime": regime, "fraction_a": a}))

    # 2. co-flipping ---------------------------------------------------------------
    lam = m.coflip_lambda
    ratio = math.inf if lam == 0 else 1.0 / lam
    rows.append(BudgetRow(
        "nuclear co-flipping", "Eqs. 2, 5",
        f"λ = {lam:.2g}" + (f", λ' = {m.lam_prime:.2g}" if m.lam_prime else ""),
        "λ ≪ 1", _status(ratio, k), ratio,
        "" if lam < 1 else "λ ≳ 1: coherence destroyed by co-flipping nuclei (Fig. 1b)",
        {"lambda": lam, "lambda_prime": m.lam_prime}))

    # 3. spin diffusion, Eq. 8 -----------------------------------------------------
    n_diff = m.diffusion_n if m.diffusion_n is not None else (
        m.n_protons if m.n_protons else m.n_nuclei)
    if n_diff == 0:
        rows.append(BudgetRow(
            "nuclear spin diffusion", "Eq. 8", "no nuclear spins",
            "Δ0 ≫ (δω0² T2⁻¹ N)^(1/3)", "n/a", None, "", {"n_diffusing": 0}))
    elif m.t2_inverse_hz is None:
        rows.append(BudgetRow(
            "nuclear spin diffusion", "Eq. 8", "T2⁻¹ unknown",
            "Δ0 ≫ (δω0² T2⁻¹ N)^(1/3)", "unknown", None,
            "give nuclei.t2_inverse_hz (the paper: 1e3-1e6 Hz)", {"n_diffusing": n_diff}))
    else:
        t2i = m.t2_inverse_hz
        dw0 = m.diffusion_spread_hz if m.diffusion_spread_hz is not None else t2i
        threshold = (dw0**2 * t2i) ** (1.0 / 3.0) * n_diff ** (1.0 / 3.0)
        ratio = math.inf if threshold == 0 else d0 / threshold
        rows.append(BudgetRow(
            "nuclear spin diffusion", "Eq. 8",
            f"T2⁻¹ = {_fmt_hz(t2i)}, N = {n_diff}",
            f"Δ0 ≫ (δω0² T2⁻¹ N)^(1/3) = {_fmt_hz(threshold)}",
            _status(ratio, k), ratio,
            "" if m.diffusion_spread_hz is not None else
            f"δω0 = T2⁻¹ assumed (dipolar spreading, as in the paper): coherence needs "
            f"T2⁻¹ ≪ Δ0/N^(1/3) = {_fmt_hz(d0 / n_diff ** (1 / 3))}",
            {"t2_inverse_hz": t2i, "threshold_hz": threshold, "n_diffusing": n_diff,
             "max_t2_inverse_hz": d0 / n_diff ** (1 / 3) if m.diffusion_spread_hz is None
             else None}))

    # 4. paramagnetic impurities, footnote 19 ---------------------------------------
    a_imp = alpha_k(m.impurity_coupling_hz, om)
    if m.paramagnetic_impurities is None:
        rows.append(BudgetRow(
            "paramagnetic impurities", "fn 19",
            f"α = {a_imp:.2g} each ({_fmt_hz(m.impurity_coupling_hz)} coupling)",
            "λ_imp = n α²/2 ≪ 1", "warn", None,
            "count unknown (environment.paramagnetic_impurities): one substrate impurity "
            "with dipolar coupling 1e8–1e9 Hz gives α ~ 0.1 (footnote 19) — purify chemically",
            {"alpha_each": a_imp}))
    else:
        lam_imp = 0.5 * m.paramagnetic_impurities * a_imp**2
        ratio = math.inf if lam_imp == 0 else 1.0 / lam_imp
        rows.append(BudgetRow(
            "paramagnetic impurities", "fn 19",
            f"n = {m.paramagnetic_impurities}, α = {a_imp:.2g}, λ_imp = {lam_imp:.2g}",
            "λ_imp = n α²/2 ≪ 1", _status(ratio, k), ratio, "",
            {"alpha_each": a_imp, "lambda_imp": lam_imp}))

    # electrons ---------------------------------------------------------------------
    s = m.spin
    kf_r0 = m.kf_r0 if m.kf_r0 is not None else s ** (1.0 / 3.0)
    alpha_b = (m.kondo_g * s / kf_r0) ** 2
    alpha_s = m.surface_g**2 * s ** (2.0 / 3.0)
    d0_rad, om_rad = angular(d0), angular(om)
    kt_rad = _kelvin_to_rad(kt_k)

    # 5. Eq. 10 -------------------------------------------------------------------
    both = m.grain_conducting and m.substrate_conducting
    ratio = math.inf if alpha_b == 0 else 1.0 / alpha_b
    rows.append(_geometry_row(
        "electrons: metal grain, metal substrate", "Eq. 10",
        f"α_b = (gS/k_F R0)² = {alpha_b:.2g}", "α_b ≪ 1", ratio, k, both,
        "not both conducting", {"alpha_b": alpha_b, "kf_r0": kf_r0}))

    # 6. insulating grain, conducting substrate -----------------------------------------
    if alpha_s < 1.0:
        delta_r = d0_rad * (d0 / om) ** (alpha_s / (1.0 - alpha_s))
    else:
        delta_r = 0.0
    gamma_s = 2.0 * math.pi * alpha_s * kt_rad
    applies = m.substrate_conducting and not m.grain_conducting
    ratio = delta_r / gamma_s if gamma_s > 0 else math.inf
    rows.append(_geometry_row(
        "electrons: insulating grain, metal substrate", "α_s, Δ_r",
        f"α_s = {alpha_s:.2g}, Γ_s = {_fmt_hz(cyclic(gamma_s))}",
        f"Γ_s ≪ Δ_r = {_fmt_hz(cyclic(delta_r))}", ratio, k, applies,
        "substrate insulating" if not m.substrate_conducting
        else "conducting grain: Eq. 10 applies",
        {"alpha_s": alpha_s, "gamma_s_hz": cyclic(gamma_s), "delta_r_hz": cyclic(delta_r)}))

    # 7. Eq. 11: conducting grain, insulating substrate ------------------------------------
    level_k = m.bandwidth_k / s                       # Δε = D/S (K)
    level_rad = _kelvin_to_rad(level_k)
    if level_rad > om_rad:
        delta_r11 = d0_rad
    else:
        delta_r11 = d0_rad * (level_rad / om_rad) ** alpha_s
    lhs = s * kt_k / m.bandwidth_k
    arg = (2.0 * math.pi * m.kondo_g**2 * s ** (2.0 / 3.0) * _kelvin_to_rad(m.bandwidth_k)
           / (s * delta_r11))
    rhs = 1.0 / math.log(arg) if arg > math.e else 1.0
    applies = m.grain_conducting and not m.substrate_conducting
    ratio = rhs / lhs
    x = level_k / kt_k
    alpha_bar = alpha_s / (1.0 + math.exp(x)) if x < 700 else 0.0
    rows.append(_geometry_row(
        "electrons: metal grain, insulating substrate", "Eq. 11",
        f"δε = D/S = {level_k:.3g} K, ᾱ_s = {alpha_bar:.2g}",
        f"S kT/D = {lhs:.2g} ≪ 1/ln(2πg²S^⅔D/SΔ_r) = {rhs:.2g}", ratio, k, applies,
        "grain insulating" if not m.grain_conducting
        else "substrate conducting: Eq. 10 applies",
        {"level_spacing_k": level_k, "alpha_s_bar": alpha_bar, "lhs": lhs, "rhs": rhs,
         "delta_r_hz": cyclic(delta_r11)}))

    # 8. phonons, Eq. 12 --------------------------------------------------------------
    theta_rad = _kelvin_to_rad(m.debye_temperature_k)
    k_aniso = _kelvin_to_rad(m.anisotropy_k) if m.anisotropy_k is not None else om_rad / 2.0
    c_coupling = (k_aniso * s) ** 2 / theta_rad
    j_d0 = c_coupling * (d0_rad / theta_rad) ** 3
    coth = 1.0 / math.tanh(d0_rad / (2.0 * kt_rad))
    gamma_ph = (d0 / om) ** 2 * j_d0 * coth
    ratio = math.inf if gamma_ph == 0 else d0_rad / gamma_ph
    rows.append(BudgetRow(
        "phonons", "Eq. 12", f"Γ_φ = {cyclic(gamma_ph):.2g} Hz",
        "Γ_φ ≪ Δ0", _status(ratio, k), ratio,
        "" if m.anisotropy_k is not None else "K = Ω0/2 assumed (K∥ ~ K⊥)",
        {"gamma_phi_hz": cyclic(gamma_ph), "coupling_c_k": c_coupling / K_B_OVER_HBAR}))

    # verdict ---------------------------------------------------------------------
    bad = [r for r in rows if r.status == "fail"]
    doubtful = [r for r in rows if r.status in ("marginal", "warn", "unknown")]
    if bad:
        verdict = "NO COHERENCE expected"
    elif doubtful:
        verdict = "COHERENCE NOT ASSURED"
    else:
        verdict = "COHERENCE POSSIBLE (all applicable conditions hold)"
    reasons = tuple(f"{r.status}: {r.mechanism} ({r.reference})" for r in bad + doubtful)
    remedies: list[str] = []
    names = {r.mechanism: r.status for r in rows}
    spin_trouble = any(names[n] in ("fail", "marginal", "unknown") for n in (
        "nuclear co-flipping", "nuclear spin diffusion"))
    if spin_trouble:
        remedies.append("isotopic purification: fewer nuclear spins in the grain and its "
                        "surroundings (smaller λ; smaller N and T2⁻¹ in Eq. 8)")
    if names["degeneracy blocking"] == "fail":
        remedies.append("bring grains to resonance: a bias window at ε = 0 (even N, "
                        "overlapping groups, k_B T ≫ ω0, or a compensating field)")
    if names["paramagnetic impurities"] in ("fail", "marginal", "warn"):
        remedies.append("chemical purification of paramagnetic impurities (substrate and grains)")
    if any(names[n] in ("fail", "marginal") for n in (
            "electrons: metal grain, metal substrate",
            "electrons: insulating grain, metal substrate")):
        remedies.append("an insulating substrate")
    if names["electrons: metal grain, insulating substrate"] in ("fail", "marginal"):
        remedies.append("smaller conducting grains or lower temperature (Eq. 11: S ≤ 1e5 at mK)")
    return Budget(m, tuple(rows), verdict, reasons, tuple(remedies))


# keep the dataclass field list importable for docs/tests
MODEL_FIELDS = tuple(f.name for f in fields(GrainModel))
