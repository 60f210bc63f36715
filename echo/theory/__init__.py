"""echo.theory — the spin-bath theory of Prokof'ev & Stamp, *Quantum coherence in magnetic
grains*, as a library.

Conventions (see docs/theory.md for every deviation from the printed paper): ħ = 1;
H = Δ τx + ε τz with Δ = 2Δ0 cos πS; ε is the τz coefficient (half the energy difference);
P(t) = ⟨τz(t)τz(0)⟩ is normalised so that one grain at ε = 0 gives cos(4Δ0 t cos πS);
A ≡ 1 − P(∞) in the λ ≪ 1 limit; χ''(ω) = 2∫dt [P(t) − P(∞)] cos ωt.

Modules
-------
* :mod:`~echo.theory.hamiltonian` — Eq. 1: Ω0, A0, Δ0; Δ = 2Δ0 cos πS; one-grain P(t).
* :mod:`~echo.theory.bath` — α_k, ξ_k, λ, λ', μ.
* :mod:`~echo.theory.bias` — W(ε) (polarisation groups, thermal weights), fraction A.
* :mod:`~echo.theory.dynamics` — P(t) from Eqs. 4–6; Bessel-series closed form.
* :mod:`~echo.theory.spectrum` — χ''(ω): Eq. 7 and general λ, λ' (Fig. 1).
* :mod:`~echo.theory.budget` — the decoherence budget (Eqs. 8–12, footnote 19), presets.
* :mod:`~echo.theory.figure` — Fig. 1 (matplotlib, Agg).
"""

from echo.theory.bath import (
    alpha_k,
    coflip_lambda,
    coflip_lambda_prime,
    lambda_uniform,
    mu_parameter,
    xi_k,
)
from echo.theory.bias import (
    BiasDensity,
    fraction_overlapping,
    fraction_separated,
    paper_fraction_printed,
)
from echo.theory.budget import (
    PRESETS,
    Budget,
    BudgetRow,
    GrainModel,
    decoherence_budget,
    load_grain_model,
    load_preset,
)
from echo.theory.dynamics import (
    CouplingDistribution,
    bessel_series_pt,
    bias_averaged_flip,
    channel_weight,
    coupling_distribution,
    flip_over_a,
    odd_bessel_sum,
    phase_nodes,
    polarisation,
    y_average,
)
from echo.theory.hamiltonian import (
    attempt_frequency,
    bare_delta0,
    cos_pi_s,
    single_grain_pt,
    tunnelling_amplitude,
    wkb_exponent,
    zero_bias_splitting,
)
from echo.theory.spectrum import chi_flat, chi_from_pt, chi_over_a, eq7_chi, pt_flat

__all__ = [
    # hamiltonian
    "attempt_frequency", "wkb_exponent", "bare_delta0", "cos_pi_s", "tunnelling_amplitude",
    "zero_bias_splitting", "single_grain_pt",
    # bath
    "alpha_k", "xi_k", "coflip_lambda", "coflip_lambda_prime", "lambda_uniform",
    "mu_parameter",
    # bias
    "BiasDensity", "fraction_separated", "fraction_overlapping", "paper_fraction_printed",
    # dynamics
    "channel_weight", "y_average", "phase_nodes", "odd_bessel_sum", "bessel_series_pt",
    "bias_averaged_flip", "CouplingDistribution", "coupling_distribution", "flip_over_a",
    "polarisation",
    # spectrum
    "eq7_chi", "chi_over_a", "chi_flat", "pt_flat", "chi_from_pt",
    # budget
    "GrainModel", "BudgetRow", "Budget", "decoherence_budget", "load_grain_model", "load_preset",
    "PRESETS",
]
