"""Measurement back-action of a continuously monitoring SQUID (strength κ, Lindblad √κ τz).

Closed form. In the grain's eigenbasis τz = cos θ σz' − sin θ σx', so D[√κ τz] contains a
pure dephasing D[√κ cos θ σz'] (coherence rate 2κ cos²θ) and a transverse part
D[√κ sin θ σx'] which, secularly (κ ≪ E), relaxes populations at 2κ sin²θ and coherences at
κ sin²θ. The echo (not refocusable: Markovian) therefore decays as

    exp(−Γ2 · 2τ),   Γ2 = κ (1 + cos²θ),

exact in the RWA frame (where the engine keeps exactly the secular terms) and up to
O(κ/E) in the lab frame. The populations stay at z = 0 after the π/2 pulse (the
measurement's up and down rates are equal), so no T1-like offset enters.

Read-out: ideal π/2_x – τ – π_x – τ – π/2_x (as in the dephasing tests), lab ⟨τz⟩ right
after the read-out = −cos θ · echo.

Homodyne record (QuTiP convention, stated in :class:`echo.engines.monitor.MonitorResult`):
record_i = 2√κ⟨τz⟩(t_i) + ΔW_i/Δt with ΔW_i ~ N(0, Δt), so the noise has variance 1/Δt.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from echo.engines.monitor import monitor
from echo.model import Environment

TWO_PI = 2 * math.pi


def _echo_schedule(build, tau, tail=0.0):
    sch, t_e = build.echo_train(tau, 1, pi_phase=0.0)
    ideal = [(p.time, p.angle, p.phases) for p in sch.ideal_pulses]
    return build.schedule(t_e + tail if tail else sch.duration, ideal=ideal), t_e


@pytest.mark.parametrize("frame,bound", [("rwa", 1e-7), ("lab", 2e-3)])
def test_echo_decay_shows_measurement_dephasing_rate(frame, bound, reference, build):
    # lab bound: the non-secular corrections are O(κ/E) = 3.6e-3 relative at most
    # (measured: ≤ 2.4e-4); 2e-3 relative still resolves a 10 % error in the rate.
    delta, bias = TWO_PI * 2e6, TWO_PI * 4e6
    e = math.hypot(delta, bias)
    cos = bias / e
    kappa = 1e5
    gamma2 = kappa * (1 + cos**2)
    for tau in (1e-6, 2e-6, 4e-6):
        sch, t_e = _echo_schedule(build, tau)
        s, w = reference.simulate_chunk(sch, build.chunk([delta], [bias]),
                                        Environment(measurement_rate=kappa),
                                        np.array([t_e]), frame=frame, seed=0)
        echo = -s[0, 0] / w / cos
        want = math.exp(-gamma2 * 2 * tau)
        assert echo == pytest.approx(want, rel=bound, abs=bound * 1e-3), (frame, tau)
    # the rate is the measurement's: without it the echo is complete
    s0, w0 = reference.simulate_chunk(sch, build.chunk([delta], [bias]), Environment(),
                                      np.array([t_e]), frame=frame, seed=0)
    assert -s0[0, 0] / w0 / cos == pytest.approx(1.0, abs=1e-7)


# one monitored grain, shared by the stochastic tests (cheap lab frame: E/2π = 1.1 MHz)
DELTA_M, BIAS_M = TWO_PI * 0.5e6, TWO_PI * 1e6
KAPPA = 1e5
DT_REC = 50e-9
TAU = 2e-6
NTRAJ = 100


@pytest.fixture(scope="module")
def monitored(reference, build):
    sch, t_e = _echo_schedule(build, TAU, tail=0.2e-6)
    times = np.arange(int(round((t_e + 0.2e-6) / DT_REC)) + 1) * DT_REC
    env = Environment(measurement_rate=KAPPA)
    mon = monitor(sch, DELTA_M, BIAS_M, env, times, ntraj=NTRAJ, seed=7)
    s, w = reference.simulate_chunk(sch, build.chunk([DELTA_M], [BIAS_M]), env, times, seed=0)
    return mon, s[0] / w, times, t_e


def test_monitored_trajectories_average_to_the_master_equation(monitored):
    mon, me, times, t_e = monitored
    assert mon.tau_z_traj.shape == (NTRAJ, times.size)
    se = mon.tau_z_traj.std(axis=0, ddof=1) / math.sqrt(NTRAJ)
    # SDE discretisation (platen, 160 steps per 2E period) is far below the MC error
    z = np.abs(mon.tau_z - me) / np.maximum(se, 1e-3)
    assert np.max(z) < 4.0, f"worst {np.max(z):.2f} SE"
    # conditioning on the record makes single trajectories differ (the record is informative)
    assert np.mean(se) * math.sqrt(NTRAJ) > 0.1


def test_monitored_echo_decays_at_the_measurement_rate(monitored):
    mon, _, times, t_e = monitored
    e = math.hypot(DELTA_M, BIAS_M)
    cos = BIAS_M / e
    i = int(np.argmin(np.abs(times - t_e)))
    vals = -mon.tau_z_traj[:, i] / cos
    se = vals.std(ddof=1) / math.sqrt(NTRAJ)
    want = math.exp(-KAPPA * (1 + cos**2) * 2 * TAU)
    # secular (κ/E = 1.4e-2) correction allowance 0.01 on top of 4 SE
    assert abs(vals.mean() - want) < 4 * se + 0.01


def test_homodyne_record_noise_has_variance_one_over_dt(monitored):
    mon, _, _, _ = monitored
    noise = mon.record - mon.signal
    n = noise.size
    var = noise.var(ddof=1)
    # chi-square: the relative standard error of a sample variance is sqrt(2/(n−1))
    assert var * mon.dt == pytest.approx(1.0, abs=4 * math.sqrt(2 / (n - 1)))
    # white: neighbouring intervals are uncorrelated
    r = np.mean(noise[:, 1:] * noise[:, :-1]) / var
    assert abs(r) < 4 / math.sqrt(n)
    # and the record carries the signal: its trajectory mean follows 2√κ⟨τz⟩
    mean_rec = mon.record.mean(axis=0)
    se = mon.record.std(axis=0, ddof=1) / math.sqrt(mon.record.shape[0])
    want = 2 * math.sqrt(KAPPA) * mon.tau_z[:-1]
    assert np.max(np.abs(mean_rec - want) / se) < 5.0


def test_monitor_rejects_bad_input(reference, build):
    sch = build.schedule(1e-6)
    env = Environment(measurement_rate=KAPPA)
    times = np.arange(11) * 1e-7
    with pytest.raises(Exception, match="kappa"):
        monitor(sch, DELTA_M, BIAS_M, Environment(), times, ntraj=1)
    with pytest.raises(Exception, match="uniform"):
        monitor(sch, DELTA_M, BIAS_M, env, np.array([0, 1e-7, 3e-7]), ntraj=1)
    with pytest.raises(Exception, match="too coarse"):
        monitor(sch, DELTA_M, BIAS_M, env, times, ntraj=1, substeps=1)


def test_monitor_with_a_finite_pulse_and_t1_averages_to_the_master_equation(reference, build):
    # a finite rect π/2 pulse at the carrier (drive handled inside the SDE) plus T1;
    # 40 trajectories, bound 4 SE (SE floor 1e-3 for the deterministic start)
    delta, bias = DELTA_M, BIAS_M
    e = math.hypot(delta, bias)
    gamma = TWO_PI * 1e9
    amp = 5e-4
    t90 = math.pi / 2 / (gamma * amp * delta / e)
    sch = build.schedule(2e-6, pulses=[dict(start=0.1e-6, duration=t90, amplitude=amp,
                                            frequency=2 * e / TWO_PI)])
    times = np.arange(41) * DT_REC
    env = Environment(measurement_rate=KAPPA, t1=3e-6)
    mon = monitor(sch, delta, bias, env, times, ntraj=40, seed=3, moment=gamma)
    s, w = reference.simulate_chunk(sch, build.chunk([delta], [bias]), env, times,
                                    moment=gamma, seed=0)
    se = mon.tau_z_traj.std(axis=0, ddof=1) / math.sqrt(40)
    z = np.abs(mon.tau_z - s[0] / w) / np.maximum(se, 1e-3)
    assert np.max(z) < 4.0, f"worst {np.max(z):.2f} SE"
    assert np.ptp(s[0] / w) > 0.3  # the pulse moved τz
