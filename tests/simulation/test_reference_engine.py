"""The QuTiP reference engine itself: against an independent scipy integration of the
Lindblad equation written in the τ basis (operators built here from ENGINE.md, not from
the engine), frames, warnings, bad input, executors and seeds."""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from echo.model import (
    Detection,
    Ensemble,
    Environment,
    Fixed,
    Gaussian,
    ModelError,
    OrnsteinUhlenbeck,
    Telegraph,
)
from sequences.units import K_B_OVER_HBAR

TWO_PI = 2 * math.pi
GAMMA = TWO_PI * 1e9
TX = np.array([[0, 1], [1, 0]], complex)
TY = np.array([[0, -1j], [1j, 0]])
TZ = np.diag([1.0, -1.0]).astype(complex)


def _lindblad_tau_basis(sch, delta, bias, env, times, drive="z"):
    """ρ' = −i[H, ρ] + Σ D[L]ρ in the τ basis; eigen-operators from numpy eigh."""
    h0 = delta * TX + bias * TZ
    evals, evecs = np.linalg.eigh(h0)
    minus, plus = evecs[:, 0], evecs[:, 1]       # |−E⟩, |+E⟩
    e = evals[1]
    lower = np.outer(minus, plus.conj())          # σ−' = |−E⟩⟨+E|
    sz = np.outer(plus, plus.conj()) - np.outer(minus, minus.conj())
    ls = []
    if env.t1 is not None:
        # temperature None = T → 0 (no upward rate); math.inf = unpolarised (r = 1)
        r = 0.0 if env.temperature is None else math.exp(
            -2 * e / (K_B_OVER_HBAR * env.temperature))
        down = 1 / env.t1 / (1 + r)
        ls += [math.sqrt(down) * lower, math.sqrt(down * r) * lower.conj().T]
    if env.t_phi is not None:
        ls.append(math.sqrt(0.5 / env.t_phi) * sz)
    if env.measurement_rate:
        ls.append(math.sqrt(env.measurement_rate) * TZ)
    op = TZ if drive == "z" else TX

    def rhs(t, y):
        rho = y.reshape(2, 2)
        h = h0 + GAMMA * sch.field(np.array([t]))[0] * op
        d = -1j * (h @ rho - rho @ h)
        for m in ls:
            md = m.conj().T
            d += m @ rho @ md - 0.5 * (md @ m @ rho + rho @ md @ m)
        return d.ravel()

    if env.temperature is None:
        rho0 = np.outer(minus, minus.conj())
    else:
        p_up = 0.5 * (1 - math.tanh(e / (K_B_OVER_HBAR * env.temperature)))
        rho0 = p_up * np.outer(plus, plus.conj()) + (1 - p_up) * np.outer(minus, minus.conj())
    sol = solve_ivp(rhs, (0.0, times[-1]), rho0.ravel().astype(complex), t_eval=times,
                    method="DOP853", rtol=1e-11, atol=1e-12, max_step=1e-8)
    rhos = sol.y.T.reshape(-1, 2, 2)
    return np.real(np.einsum("tij,ji->t", rhos, TZ))


@pytest.mark.parametrize("env,drive", [
    (Environment(), "z"),
    (Environment(t1=2e-6, t_phi=1.5e-6, temperature=1e-4), "z"),
    (Environment(measurement_rate=3e5, t1=4e-6), "z"),
    (Environment(t_phi=3e-6, drive_coupling="x"), "x"),
])
def test_lab_frame_matches_independent_lindblad_integration(env, drive, reference, build):
    delta, bias = TWO_PI * 1e6, TWO_PI * 0.6e6
    f = 2 * math.hypot(delta, bias) / TWO_PI
    sch = build.schedule(3e-6, pulses=[
        dict(start=0.2e-6, duration=0.8e-6, amplitude=4e-4, frequency=f, phases=(0.3,)),
        dict(start=1.5e-6, duration=0.6e-6, amplitude=3e-4, shape="hann", frequency=f),
    ])
    times = np.linspace(0.0, 3e-6, 61)
    s, w = reference.simulate_chunk(sch, build.chunk([delta], [bias]), env, times,
                                    moment=GAMMA, max_error=1e-4, seed=0)
    want = _lindblad_tau_basis(sch, delta, bias, env, times, drive)
    # the reference sees the piecewise envelope of max_error 1e-4 for the Hann pulse
    # (drive error ≤ 1e-4·peak) against scipy's exact envelope: bound 1e-5
    assert np.max(np.abs(s[0] / w - want)) < 1e-5
    assert np.ptp(want) > 0.1


@pytest.mark.filterwarnings("ignore:RWA invalid")  # the strong drive is meant to be invalid
def test_rwa_approaches_lab_frame_as_drive_weakens(reference, build):
    delta, bias = TWO_PI * 1e6, TWO_PI * 0.6e6
    e = math.hypot(delta, bias)
    errs = []
    for amp in (4e-4, 1e-4):
        rabi = GAMMA * amp * delta / e
        tpi = math.pi / rabi
        sch = build.schedule(tpi + 0.2e-6, pulses=[
            dict(start=0.1e-6, duration=tpi, amplitude=amp, frequency=2 * e / TWO_PI)])
        t = np.linspace(0, sch.duration, 41)
        ch = build.chunk([delta], [bias])
        lab, _ = reference.simulate_chunk(sch, ch, Environment(), t, moment=GAMMA, seed=0)
        rwa, _ = reference.simulate_chunk(sch, ch, Environment(), t, moment=GAMMA, seed=0,
                                          frame="rwa")
        errs.append(np.max(np.abs(lab - rwa)))
        # the dropped terms (longitudinal drive, counter-rotating) are first order in
        # γh0/ω (measured: 0.13 at 0.17, 0.043 at 0.043)
        assert errs[-1] < 2 * GAMMA * amp / (2 * e)
    # and they shrink with the drive: 4× weaker drive, > 2.5× smaller error
    assert errs[1] < errs[0] / 2.5


def test_rwa_warns_with_numbers_when_invalid(reference, build):
    delta, bias = TWO_PI * 1e6, 0.0
    sch = build.schedule(1e-6, pulses=[
        dict(start=0.0, duration=0.5e-6, amplitude=1e-3, frequency=2e6)])  # γh0 = carrier/2
    ch = build.chunk([delta], [bias])
    with pytest.warns(RuntimeWarning, match=r"rabi/carrier = 0\.5"):
        reference.simulate_chunk(sch, ch, Environment(), [0.5e-6], moment=GAMMA,
                                 frame="rwa", seed=0)
    info = reference.rwa_validity(sch, delta, bias, GAMMA)
    assert info["rabi/carrier"] == pytest.approx(0.5)
    assert info["detuning/carrier"] == pytest.approx(0.0, abs=1e-12)


def test_bad_input_names_field_and_value(reference, build):
    sch = build.schedule(1e-6)
    ch = build.chunk([TWO_PI * 1e6], [0.0])
    kw = dict(seed=0, moment=GAMMA)
    with pytest.raises(ModelError, match="frame"):
        reference.simulate_chunk(sch, ch, Environment(), [0.0], frame="rot", **kw)
    with pytest.raises(ModelError, match="initial"):
        reference.simulate_chunk(sch, ch, Environment(), [0.0], initial="down", **kw)
    with pytest.raises(ModelError, match="times"):
        reference.simulate_chunk(sch, ch, Environment(), [-1e-9], **kw)
    with pytest.raises(ModelError, match="qutip engine option tolerance: unknown field"):
        reference.simulate_chunk(sch, ch, Environment(), [0.0], tolerance=1, **kw)
    with pytest.raises(ModelError, match="qutip engine option atol: must be > 0, got -1.0"):
        reference.simulate_chunk(sch, ch, Environment(), [0.0], atol=-1.0, **kw)
    # a lab-frame step too coarse for 2E/2π = 2 MHz: the message gives the required step
    with pytest.raises(ModelError, match=r"required step is <= 2\.5e-08 s"):
        reference.simulate_chunk(sch, ch, Environment(), [1e-6], max_step=1e-7, **kw)


def test_results_do_not_depend_on_the_executor(reference, build):
    env = Environment(noise=(OrnsteinUhlenbeck(0.1e6, 1e-6), Telegraph(0.05e6, 1e6)),
                      t1=5e-6)
    sch, t_e = build.echo_train(0.5e-6, 1, pi_phase=0.0)
    ch = build.chunk(TWO_PI * np.array([1e6, 1.1e6, 0.9e6]), TWO_PI * np.array([0.5e6] * 3))
    t = np.linspace(0, t_e, 11)
    kw = dict(seed=42, atol=1e-8, rtol=1e-6)
    serial = reference.simulate_chunk(sch, ch, env, t, **kw)[0]
    with ThreadPoolExecutor(2) as ex:
        threaded = reference.simulate_chunk(sch, ch, env, t, executor=ex, **kw)[0]
    with ProcessPoolExecutor(2) as ex:
        processes = reference.simulate_chunk(sch, ch, env, t, executor=ex, **kw)[0]
    assert np.array_equal(serial, threaded)
    assert np.array_equal(serial, processes)
    again = reference.simulate_chunk(sch, ch, env, t, **kw)[0]
    other = reference.simulate_chunk(sch, ch, env, t, **dict(kw, seed=43))[0]
    assert np.array_equal(serial, again)
    assert np.max(np.abs(serial - other)) > 1e-3   # the noise is really seeded


def test_trajectories_per_grain_average(reference, build):
    # with n_trajectories the per-grain result is the mean over independent noise
    # trajectories: 4 trajectories of one grain ≈ 4 grains of one trajectory each
    env = Environment(noise=(OrnsteinUhlenbeck(0.2e6, 0.5e-6),))
    sch, t_e = build.echo_train(0.6e-6, 1, pi_phase=0.0)
    kw = dict(seed=3, frame="rwa", atol=1e-8, rtol=1e-6)
    one = reference.simulate_grains(sch, build.chunk([TWO_PI * 2e6], [TWO_PI * 4e6]), env,
                                    [t_e], n_trajectories=4, **kw)
    assert one.shape == (1, 1, 1)
    single = reference.simulate_grains(sch, build.chunk([TWO_PI * 2e6], [TWO_PI * 4e6]), env,
                                       [t_e], n_trajectories=1, **kw)
    assert one[0, 0, 0] != single[0, 0, 0]
    assert -1.0 <= one[0, 0, 0] <= 1.0


def test_run_through_the_engine_registry(build):
    from echo.engines import get_engine
    from echo.simulate import run
    assert get_engine("qutip").ENGINE_NAME == "qutip"
    ens = Ensemble(delta0=Fixed(0.5e6), bias=Gaussian(0.3e6, 0.05e6), n_samples=4, seed=1)
    sch = build.schedule(2e-6, ideal=[(0.0, math.pi / 2, (0.0,)), (0.8e-6, math.pi, (0.0,))],
                         windows=[(1.4e-6, 0.4e-6, "echo")])
    det = Detection(sample_rate=50e6)
    res = run(sch, ens, Environment(t_phi=5e-6), det, engine="qutip", keep_tau_z=True)
    ds = res.dataset if hasattr(res, "dataset") else res.ds
    assert ds.attrs["engine"] == "qutip"
    tz = np.asarray(ds["tau_z"])
    assert tz.shape == (1, 1, 20) and np.all(np.abs(tz) <= 1)


def test_noise_trajectories_have_the_model_statistics(reference):
    # one long OU path (T = 2000 τc) and one telegraph path, through the engine's own
    # sampler; statistical bounds from the effective number of independent samples
    rng = np.random.default_rng(2)
    tau_c, sigma_hz = 1e-6, 0.2e6
    t_end = 2000 * tau_c
    env = Environment(noise=(OrnsteinUhlenbeck(sigma_hz, tau_c), Telegraph(0.1e6, 3e5)))
    coeffs, _ = reference._noise_terms(env, t_end, rng, 1.0, 50.0)
    ou, tel = coeffs
    grid = np.arange(0.0, t_end, tau_c / 10)
    x = np.array([ou(t) for t in grid]).real
    sigma = TWO_PI * sigma_hz
    n_eff = t_end / (2 * tau_c)                      # ∫ e^{−|t|/τc} dt / τc = 2
    assert np.var(x) / sigma**2 == pytest.approx(1.0, abs=4 * math.sqrt(2 / n_eff))
    lag = 10                                         # one τc
    r = np.mean(x[lag:] * x[:-lag]) / np.var(x)
    assert r == pytest.approx(math.exp(-1), abs=4 * math.sqrt(2 / n_eff))
    y = np.array([tel(t) for t in grid]).real
    b = TWO_PI * 0.1e6
    assert set(np.unique(np.round(y / b, 12))) <= {-1.0, 1.0}
    flips = np.count_nonzero(np.diff(np.sign(y)))
    # flips seen on the grid (spacing τc/10 ≪ 1/γ: few missed pairs); Poisson mean γT
    assert flips == pytest.approx(3e5 * t_end, abs=4 * math.sqrt(3e5 * t_end) + 0.02 * 600)
