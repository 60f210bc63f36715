"""Phase cycles: receiver weights cancel a receiver offset and unwanted FIDs in a toy
signal model, and keep the echo.

Toy model (coherence-pathway phases): in step k the detected signal is

    s_k = offset + F · exp(iσ φ_π,k) + E · exp(iσ (2 φ_π,k − φ_π/2,k))

for the Hahn echo (F: FID of an imperfect π pulse, E: the echo), with σ = ±1 covering
both sign conventions of the demodulator. The cycled signal S = (1/n) Σ_k receiver_k s_k
must equal E · (a unit phase) exactly (up to float rounding: tolerance 1e-12 relative to
the O(1) amplitudes, n ≤ 8 terms of magnitude ≤ 3).
"""

from __future__ import annotations

import cmath
import math

import pytest

from sequences import load, parse


def cycled(sched, signal):
    n = sched.n_steps
    return sum(sched.receiver[k] * signal(k) for k in range(n)) / n


def phases(sched, label):
    return next(p for p in sched.pulses if p.label == label).phases


@pytest.mark.parametrize("sigma", [1, -1])
@pytest.mark.parametrize("name", ["hahn", "exorcycle"])
def test_hahn_cycles_cancel_offset_and_pi_fid(name, sigma):
    s = load(name).bind()
    p90, p180 = phases(s, "p90"), phases(s, "p180")
    offset, fid, echo = 0.7 - 0.3j, 1.9 + 0.4j, 0.55 + 0.2j

    def signal(k):
        return (offset + fid * cmath.exp(1j * sigma * p180[k])
                + echo * cmath.exp(1j * sigma * (2 * p180[k] - p90[k])))

    S = cycled(s, signal)
    assert abs(S - echo) < 1e-12
    # each unwanted part alone cancels
    assert abs(cycled(s, lambda k: offset)) < 1e-12
    assert abs(cycled(s, lambda k: fid * cmath.exp(1j * sigma * p180[k]))) < 1e-12


def test_exorcycle_has_four_steps_and_hahn_two():
    assert load("exorcycle").bind().n_steps == 4
    assert load("hahn").bind().n_steps == 2
    s = load("exorcycle").bind()
    assert phases(s, "p180") == (0.0, math.pi / 2, math.pi, 1.5 * math.pi)
    assert s.receiver == (1, -1, 1, -1)


@pytest.mark.parametrize("sigma", [1, -1])
def test_stimulated_cycle_cancels_fids_of_later_pulses(sigma):
    s = load("stimulated").bind()
    p1, p2, p3 = (phases(s, lab) for lab in ("p90a", "p90b", "p90c"))
    # stimulated-echo pathway phase: ±(φ1 − φ2 − φ3 ...) — what matters is that it
    # follows φ1 with weight −σ; FIDs of pulses 2 and 3 follow φ2, φ3 only
    echo, f2, f3, offset = 0.4 + 0.1j, 1.3, -0.8j, 0.25

    def signal(k):
        return (offset + f2 * cmath.exp(1j * sigma * p2[k]) + f3 * cmath.exp(1j * sigma * p3[k])
                + echo * cmath.exp(1j * sigma * (p3[k] + p2[k] - p1[k])))

    assert abs(cycled(s, signal) - echo) < 1e-12


def test_receiver_weight_is_exp_minus_i_psi():
    s = parse("receiver [0 deg, 30 deg, y, -y]\nideal(90 deg, [x, x, x, x])").bind()
    for w, psi in zip(s.receiver, [0, math.pi / 6, math.pi / 2, 1.5 * math.pi], strict=True):
        assert abs(w - cmath.exp(-1j * psi)) < 1e-15


def test_step_count_is_lcm_and_lists_cycle():
    s = parse("receiver [x, -x]\nideal(90 deg, [x, y, -x])\nideal(180 deg, x)").bind()
    assert s.n_steps == 6
    assert s.ideal_pulses[0].phases == (0.0, math.pi / 2, math.pi) * 2
    assert s.receiver == (1, -1) * 3


def test_loop_phase_per_iteration():
    s = parse("repeat 4 { ideal(180 deg, [x, -x], loop_phase = [x, y]) }").bind()
    got = [p.phases for p in s.ideal_pulses]
    h = math.pi / 2
    assert got == [(0.0, math.pi), (h, 1.5 * math.pi), (0.0, math.pi), (h, 1.5 * math.pi)]


def test_loop_phase_applies_to_innermost_loop():
    s = parse("repeat 2 { repeat 2 { ideal(90 deg, x, loop_phase = [x, -x]) } }").bind()
    assert [p.phases[0] for p in s.ideal_pulses] == [0.0, math.pi, 0.0, math.pi]


def test_too_many_steps_is_an_error():
    from sequences import SequenceError

    body = "\n".join(f"ideal(90 deg, [{', '.join(['x'] * n)}])" for n in (7, 11, 13, 17, 19))
    with pytest.raises(SequenceError, match="phase cycle would have"):
        parse(body).bind()
