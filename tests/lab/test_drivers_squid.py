"""The SQUID read-out converter, on synthetic FLL traces with known flux jumps."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.drivers.squid import SquidReadout
from instruments.errors import InstrumentError

V_PER_PHI0 = 0.37  # V/Φ0, deliberately not a round number


def _trace(n=2000, noise=0.01, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    # Signal 0.3 Φ0 peak: largest genuine step 0.3·2π·3/n ≈ 0.003 Φ0 per sample.
    phi = 0.3 * np.sin(2 * np.pi * 3 * t / n) + noise * rng.standard_normal(n)
    return phi * V_PER_PHI0


def test_conversion_chain_exact():
    sq = SquidReadout(volts_per_phi0=V_PER_PHI0, phi0_per_mu_b=2e-6)
    v = np.array([0.0, V_PER_PHI0, -2 * V_PER_PHI0])
    np.testing.assert_allclose(sq.flux(v), [0, 1, -2], rtol=1e-15)
    np.testing.assert_allclose(sq.moment(v), [0, 5e5, -1e6], rtol=1e-12)
    np.testing.assert_allclose(sq.volts(sq.moment(v)), v, rtol=1e-12, atol=1e-15)


def test_jumps_detected_and_undone_exactly():
    sq = SquidReadout(V_PER_PHI0)
    clean = _trace()
    where = np.array([150, 600, 601 + 300, 1500])
    sizes = np.array([1, -2, 3, -1])
    jumped = clean.copy()
    for i, k in zip(where, sizes, strict=True):
        jumped[i:] += k * V_PER_PHI0
    fixed, jumps = sq.correct_flux_jumps(jumped)
    np.testing.assert_array_equal(jumps.index, where)
    np.testing.assert_array_equal(jumps.size, sizes)
    # Removing whole quanta is exact up to float rounding of a few additions.
    np.testing.assert_allclose(fixed, clean, rtol=0, atol=1e-12)
    # residual = noise difference of two samples: |r| < 4·√2·σ = 0.057 Φ0
    assert np.all(np.abs(jumps.residual) < 4 * np.sqrt(2) * 0.01)


def test_jump_on_a_steep_slope_is_measured_against_the_local_slope():
    sq = SquidReadout(V_PER_PHI0)
    n = 400
    phi = 0.4 * np.arange(n)  # a ramp of 0.4 Φ0 per sample (below the 0.5 threshold)
    phi[200:] -= 1.0  # a -1 Φ0 reset: raw step -0.6 Φ0
    phi[300:] += 1.0  # a +1 Φ0 reset: raw step +1.4 Φ0
    fixed, jumps = sq.correct_flux_jumps(phi * V_PER_PHI0)
    np.testing.assert_array_equal(jumps.index, [200, 300])
    np.testing.assert_array_equal(jumps.size, [-1, 1])
    # with the local slope (0.4 Φ0/sample) removed the steps are whole quanta
    np.testing.assert_allclose(jumps.residual, 0.0, atol=1e-9)
    np.testing.assert_allclose(sq.flux(fixed), 0.4 * np.arange(n), atol=1e-9)


def test_no_false_jumps_in_noise():
    # σ = 0.05 Φ0: a sample-to-sample step has σ√2 = 0.071 Φ0, the 0.5 Φ0 threshold is
    # 7 of those; P(any false jump in 2000 steps) < 2000·1e-11.
    sq = SquidReadout(V_PER_PHI0)
    _, jumps = sq.correct_flux_jumps(_trace(noise=0.05, seed=7))
    assert len(jumps) == 0


def test_bad_calibration_and_threshold_refused():
    with pytest.raises(InstrumentError, match="volts_per_phi0"):
        SquidReadout(0.0)
    with pytest.raises(InstrumentError, match="phi0_per_mu_b"):
        SquidReadout(1.0, float("nan"))
    with pytest.raises(ValueError):
        SquidReadout(1.0).detect_flux_jumps(np.zeros(10), threshold=0.2)


# ------------------------------------------------------- noise of ~0.1 Φ0 per sample
# The defect this guards against: a step > 0.5 Φ0 between two samples was taken as a
# reset. With σ = 0.1 Φ0 per sample a step has σ√2 = 0.14 Φ0 and exceeds 0.5 Φ0 with
# probability 2Φ(−3.54) = 4.0e-4: ~25 false resets in a 62 500-sample record, each moving
# the rest of the record by a whole Φ0.

N_RECORD = 62_500


def _noisy(noise, seed, n=N_RECORD):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    phi = 0.3 * np.sin(2 * np.pi * 7 * t / n) + noise * rng.standard_normal(n)
    return phi * V_PER_PHI0


@pytest.mark.parametrize("noise", [0.1, 0.15])
def test_no_false_jumps_at_a_tenth_of_a_flux_quantum(noise):
    sq = SquidReadout(V_PER_PHI0)
    expected_candidates = 0
    for seed in range(5):
        v = _noisy(noise, seed)
        fixed, jumps = sq.correct_flux_jumps(v)
        assert len(jumps) == 0, (seed, jumps.index, jumps.size)
        np.testing.assert_array_equal(fixed, v)
        # the noise estimate is the trace's own σ (5 % on 62 500 samples)
        assert jumps.noise == pytest.approx(noise, rel=0.05)
        expected_candidates += jumps.rejected
    # the candidates that the level test turned down are noise spikes: at 4σ of a step
    # their number is N·2Φ(−4) = 4.0 per record (a Poisson count over 5 records)
    assert expected_candidates < 5 * 4.0 + 4 * np.sqrt(5 * 4.0)


@pytest.mark.parametrize("noise", [0.1, 0.15])
def test_real_jumps_found_in_noise_of_a_tenth_of_a_flux_quantum(noise):
    sq = SquidReadout(V_PER_PHI0)
    where = np.array([1000, 20_000, 20_100, 45_000, 62_400])
    sizes = np.array([1, -1, 2, -3, 1])
    for seed in range(5):
        clean = _noisy(noise, 100 + seed)
        jumped = clean.copy()
        for i, k in zip(where, sizes, strict=True):
            jumped[i:] += k * V_PER_PHI0
        fixed, jumps = sq.correct_flux_jumps(jumped)
        np.testing.assert_array_equal(jumps.index, where)
        np.testing.assert_array_equal(jumps.size, sizes)
        np.testing.assert_allclose(fixed, clean, rtol=0, atol=1e-9)
        # the step of a level + slope + curvature + step least-squares fit to 16 samples
        # on each side has the OLS standard error σ √((XᵀX)⁻¹ₖₖ): residual < 4 of those
        t = np.arange(-16, 16) + 0.5
        x = np.column_stack([np.ones(32), t, t * t, (t > 0).astype(float)])
        se = noise * np.sqrt(np.linalg.inv(x.T @ x)[3, 3])
        assert np.all(np.abs(jumps.residual) < 4 * se), (jumps.residual, se)


def test_a_noise_spike_is_not_a_reset():
    sq = SquidReadout(V_PER_PHI0)
    phi = 0.01 * np.random.default_rng(3).standard_normal(500)
    phi[250] += 0.9  # one sample off by 0.9 Φ0: two big steps, no change of level
    fixed, jumps = sq.correct_flux_jumps(phi * V_PER_PHI0)
    assert len(jumps) == 0 and jumps.rejected == 2
