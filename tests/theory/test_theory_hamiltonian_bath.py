"""Eq. 1 estimates and the bath couplings (closed forms, bad input)."""

import math

import numpy as np
import pytest

from echo.model import ModelError
from echo.theory import (
    alpha_k,
    attempt_frequency,
    bare_delta0,
    coflip_lambda,
    coflip_lambda_prime,
    cos_pi_s,
    lambda_uniform,
    mu_parameter,
    tunnelling_amplitude,
    wkb_exponent,
    zero_bias_splitting,
)


def test_eq1_estimates():
    # Ω0 = 2√(K∥K⊥), A0 = S√(K∥/K⊥), Δ0 = Ω0 e^{−A0}.
    assert attempt_frequency(2.0, 8.0) == pytest.approx(8.0)
    assert wkb_exponent(10.0, 1.0, 4.0) == pytest.approx(5.0)
    assert bare_delta0(10.0, 1.0, 4.0) == pytest.approx(4.0 * math.exp(-5.0))


def test_half_integer_spin_has_no_tunnelling():
    assert cos_pi_s(7.5) == 0.0 and tunnelling_amplitude(3.0, 7.5) == 0.0
    assert cos_pi_s(8) == 1.0 and cos_pi_s(7) == -1.0
    assert zero_bias_splitting(3.0, 8) == pytest.approx(12.0)  # 4Δ0


def test_lambda_sums():
    omega = np.array([1.0, 2.0, 3.0])
    a = alpha_k(omega, 10.0)
    assert np.allclose(a, math.pi * omega / (math.sqrt(2) * 10.0))
    assert coflip_lambda(a) == pytest.approx(0.5 * np.sum(a**2))
    assert coflip_lambda_prime(a, 0.0) == 0.0  # Eq. 1: n_k^z = 0 → λ' = 0
    assert coflip_lambda_prime(a, [1, 1, 1]) == pytest.approx(coflip_lambda(a))
    assert lambda_uniform(3, 2.0, 10.0) == pytest.approx(coflip_lambda(alpha_k([2.0] * 3, 10.0)))
    assert mu_parameter(100, 0.5, 50.0) == pytest.approx(0.1)


@pytest.mark.parametrize("call,field", [
    (lambda: bare_delta0(0.0, 1.0, 1.0), "spin"),
    (lambda: bare_delta0(-3.0, 1.0, 1.0), "spin"),
    (lambda: attempt_frequency(float("nan"), 1.0), "k_par"),
    (lambda: alpha_k(1.0, 0.0), "Omega0"),
    (lambda: alpha_k([1.0, -1.0], 3.0), "omega_k"),
    (lambda: lambda_uniform(-1, 1.0, 1.0), "n_nuclei"),
    (lambda: coflip_lambda_prime([1.0], [2.0]), "n_z"),
    (lambda: tunnelling_amplitude(-1.0, 2), "delta0"),
])
def test_bad_input_names_the_field(call, field):
    with pytest.raises(ModelError, match=field):
        call()
