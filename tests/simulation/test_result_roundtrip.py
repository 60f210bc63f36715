"""EchoResult: construction from per-point arrays and a lossless save/load round trip."""

import numpy as np
import pytest

from echo.detect import output_times, to_signal
from echo.model import Detection, Ensemble, Fixed
from echo.result import EchoResult, build_result
from sequences import Channel, DetectionWindow, Schedule


def _schedule(start, receiver=(1.0, -1.0)):
    return Schedule(
        channels=(Channel("rf", "field"), Channel("det", "detector")),
        windows=(DetectionWindow("det", start, 50e-9, "echo"),),
        receiver=tuple(complex(r) for r in receiver), duration=1e-6)


def _result(starts, rate=1e8, n_steps=2):
    det = Detection(sample_rate=rate)
    schs = [_schedule(s, receiver=(1.0, -1.0)[:n_steps]) for s in starts]
    rng = np.random.default_rng(3)
    times, wins, traces, taus = [], [], [], []
    for s in schs:
        t, w = output_times(s, det)
        tz = rng.uniform(-1, 1, (s.n_steps, t.size))
        times.append(t)
        wins.append(w)
        taus.append(tz)
        traces.append(tz + 1j * rng.normal(size=tz.shape))
    return build_result(schedules=schs, times=times, window_index=wins, trace=traces,
                        tau_z=taus, params=[{"tau": s} for s in starts],
                        amplitude_quiet=[1 + 0.5j] * len(starts),
                        attrs={"engine": "fast", "seed": 7, "model": {"a": [1, 2, None]},
                               "flag": True})


def test_output_times_windows_in_start_order():
    det = Detection(sample_rate=1e8)
    s = Schedule(channels=(Channel("rf", "field"), Channel("d", "detector")),
                 windows=(DetectionWindow("d", 500e-9, 30e-9, "echo"),
                          DetectionWindow("d", 100e-9, 20e-9, "fid")), duration=1e-6)
    t, w = output_times(s, det)
    # 20 ns at 10 ns sampling: 2 samples; 30 ns: 3 samples (floor(duration·rate))
    np.testing.assert_allclose(t, [100e-9, 110e-9, 500e-9, 510e-9, 520e-9], rtol=0,
                               atol=1e-18)
    assert list(w) == [1, 1, 0, 0, 0]
    s2 = Schedule(channels=(Channel("rf", "field"),), duration=1e-7)
    t2, w2 = output_times(s2, det)
    assert t2.size == 10 and np.all(w2 == -1)


def test_amplitude_is_phase_cycled_window_mean():
    r = _result([100e-9])
    tr = r.trace[0]
    sig = (tr[0] - tr[1]) / 2
    np.testing.assert_allclose(r.signal[0], sig, rtol=1e-15)
    np.testing.assert_allclose(r.amplitude[0], sig.mean(), rtol=1e-14)
    np.testing.assert_allclose(r.normalised[0], np.real(sig.mean() / (1 + 0.5j)), rtol=1e-14)


@pytest.mark.parametrize("starts", [[100e-9], [100e-9, 200e-9, 333e-9]])
def test_save_load_lossless(tmp_path, starts):
    r = _result(starts)
    path = r.save(tmp_path / "r.nc")
    back = EchoResult.load(path)
    assert back.dataset.identical(r.dataset)
    assert back.trace.dtype == np.complex128
    assert back.attrs["model"] == {"a": [1, 2, None]} and back.attrs["flag"] is True
    if len(starts) > 1:
        assert back.attrs["time_reference"] == "window"
        np.testing.assert_allclose(back.dataset["shot_time"].values[:, 0], starts)


def test_squid_and_coil_signal():
    ens = Ensemble(Fixed(1e6), Fixed(0.0), spin=10, n_grains=2)
    s = _schedule(0.0)
    rate = 1e9
    det = Detection(sample_rate=rate)
    t, w = output_times(s, det)
    tz = np.cos(2e7 * t)[None, :]
    v = to_signal(tz, t, w, s, ens, det)
    np.testing.assert_allclose(v.real, det.volts_per_tau_z(ens) * tz)
    coil = Detection(kind="coil", sample_rate=rate)
    dv = to_signal(tz, t, w, s, ens, coil).real / coil.volts_per_tau_z(ens)
    # second-order differences: relative error ~ (ω dt)²/6 = (0.02)²/6 inside the window
    np.testing.assert_allclose(dv[0, 1:-1], -2e7 * np.sin(2e7 * t[1:-1]), atol=2e7 * 1e-4)
    dem = Detection(sample_rate=rate, reference_frequency=2e7 / (2 * np.pi))
    z = to_signal(tz, t, w, s, ens, dem) / dem.volts_per_tau_z(ens)
    # 2 cos(ωt) e^{-iωt} = 1 + e^{-2iωt} exactly (no low-pass set)
    np.testing.assert_allclose(z[0], 1 + np.exp(-4e7j * t), atol=1e-12)
    lp = Detection(sample_rate=rate, reference_frequency=2e7 / (2 * np.pi), demod_bandwidth=1e9)
    np.testing.assert_allclose(to_signal(tz, t, w, s, ens, lp), z * lp.volts_per_tau_z(ens))


def test_demodulation_low_pass_is_a_centred_average_inside_each_window():
    """demod_bandwidth B: a centred moving average over n = rate/B samples, inside each
    detection window separately, normalised by the samples that exist (echo.detect).
    f = rate/98 at 1 GSa/s and B = rate/49: n = 49 samples (odd, so "centred" is
    unambiguous) = one period of the 2f image, so where the average is complete the image
    cancels exactly and z = V; near a window edge z is the explicit mean over the samples
    of that window within [i − 24, i + 24]. Two windows with a gap: no sample of one may
    enter the other's average. (The test above uses B = rate, n = 1: no filtering.)"""
    ens = Ensemble(Fixed(1e6), Fixed(0.0), spin=10, n_grains=2)
    sch = Schedule(channels=(Channel("rf", "field"), Channel("det", "detector")),
                   windows=(DetectionWindow("det", 100e-9, 300e-9, "a"),
                            DetectionWindow("det", 450e-9, 200e-9, "echo")),
                   duration=1e-6)
    rate = 1e9
    f = rate / 98
    det = Detection(sample_rate=rate, reference_frequency=f, demod_bandwidth=rate / 49)
    t, w = output_times(sch, det)
    tz = np.cos(2 * np.pi * f * t + 0.4)[None, :]
    z = to_signal(tz, t, w, sch, ens, det)[0] / det.volts_per_tau_z(ens)
    raw = 2 * tz[0] * np.exp(-2j * np.pi * f * t)  # = e^{0.4i} + image at −2f
    want = np.empty_like(raw)
    for k in (0, 1):
        idx = np.flatnonzero(w == k)
        for j, i in enumerate(idx):
            lo, hi = max(0, j - 24), min(idx.size, j + 25)
            want[i] = raw[idx[lo:hi]].mean()
    np.testing.assert_allclose(z, want, rtol=0, atol=1e-12)
    inner = np.concatenate([np.flatnonzero(w == k)[24:-24] for k in (0, 1)])
    np.testing.assert_allclose(z[inner], np.exp(0.4j), rtol=0, atol=1e-12)
    edge = np.flatnonzero(w == 1)[0]
    assert abs(z[edge] - np.exp(0.4j)) > 0.05  # the edge average is really truncated


def test_plot_shows_swept_parameter_in_its_unit(tmp_path):
    # the sweep axis of EchoResult.plot is labelled with the parameter's unit, read from the
    # stored sequence text (a time of µs is shown in µs, not as 1e-06 s)
    r = _result([1e-6, 2e-6])
    r.attrs["sequence"] = "param tau = 1 us\nparam f = 4 MHz\ndelay(tau)\n"
    assert r.param_unit("tau") == (1e-6, "µs")
    r.attrs["sequence"] = "param tau = 1 MHz\ndelay(1 us)\n"  # same values, a frequency
    assert r.param_unit("tau") == (1.0, "Hz")
    r.attrs["sequence"] = "param tau = 90 deg\ndelay(1 us)\n"
    assert r.param_unit("tau") == (pytest.approx(np.pi / 180), "deg")
    r.attrs["sequence"] = "not a sequence ("  # unreadable text: no unit, no error
    assert r.param_unit("tau") == (1.0, "")
    r.attrs["sequence"] = "param tau = 1 us\ndelay(tau)\n"
    assert r.plot(tmp_path / "p.png").stat().st_size > 1000


def test_plot_breaks_the_line_between_detection_windows():
    from echo.result import window_gaps

    x, y = window_gaps([0.0, 1.0, 5.0, 6.0, 9.0], [1, 2, 3, 4, 5], [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(x, [0, 1, np.nan, 5, 6, np.nan, 9])
    np.testing.assert_array_equal(y, [1, 2, np.nan, 3, 4, np.nan, 5])
    x, y = window_gaps([0.0, 1.0], [1.0, 2.0], [0, 0])  # one window: unchanged
    np.testing.assert_array_equal(x, [0, 1])
