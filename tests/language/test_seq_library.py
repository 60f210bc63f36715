"""Echo times of every library sequence, from the refocusing rule (not from the library's
own delay formulas): after pulses at centres t_a (excitation) and t_b (refocusing), an
echo forms at 2 t_b − t_a; a stimulated echo at t_3 + (t_2 − t_1); an FID starts at its
pulse. Tolerances: 1e-15 s absolute — every time is a sum of a few decimal numbers of
order 1e-5 s, so rounding is below 1e-20 s; 1e-15 s is far below any physical scale."""

from __future__ import annotations

import math

import pytest

from sequences import library_names, load

TOL = 1e-15


def centre(w):
    return w.start + 0.5 * w.duration


def by_label(items, label):
    out = [p for p in items if p.label == label]
    assert out, f"no event labelled {label}"
    return out


def pulse_time(sched, label, k=0):
    if sched.ideal_pulses:
        return by_label(sched.ideal_pulses, label)[k].time
    return by_label(sched.pulses, label)[k].centre


@pytest.mark.parametrize("ideal", [0, 1])
@pytest.mark.parametrize("tau", ["2 us", "3.7 us"])
def test_hahn_echo_is_2tau_after_pi2_centre(ideal, tau):
    s = load("hahn").bind(tau=tau, ideal=ideal)
    t90 = pulse_time(s, "p90")
    t180 = pulse_time(s, "p180")
    (w,) = s.windows
    tau_s = float(tau.split()[0]) * 1e-6
    assert math.isclose(t180 - t90, tau_s, abs_tol=TOL)
    assert math.isclose(centre(w), 2 * t180 - t90, abs_tol=TOL)
    assert math.isclose(centre(w) - t90, 2 * tau_s, abs_tol=TOL)
    assert len(s.ideal_pulses) == (2 if ideal else 0)
    assert len(s.pulses) == (0 if ideal else 2)


def test_hahn_finite_widths_accounted_by_centres():
    # a long π pulse changes the delays but not the centre-to-centre timing
    s = load("hahn").bind(t90="300 ns", t180="900 ns", tau="2 us")
    p90, p180 = s.pulses
    assert math.isclose(p180.start - p90.stop, 2e-6 - 150e-9 - 450e-9, abs_tol=TOL)
    assert math.isclose(centre(s.windows[0]) - p90.centre, 4e-6, abs_tol=TOL)


@pytest.mark.parametrize("ideal", [0, 1])
def test_cpmg_echo_train(ideal):
    n = 12
    s = load("cpmg").bind(n=n, tau="1.5 us", ideal=ideal)
    prev = pulse_time(s, "p90")
    assert len(s.windows) == n
    for k in range(n):
        t_pi = pulse_time(s, "p180", k)
        echo = 2 * t_pi - prev
        assert math.isclose(centre(s.windows[k]), echo, abs_tol=1e-14)
        prev = echo
    # echo k at 2 k τ after the π/2 centre
    assert math.isclose(centre(s.windows[-1]) - pulse_time(s, "p90"), 2 * n * 1.5e-6,
                        abs_tol=1e-14)
    # Meiboom–Gill: π pulses 90° from the π/2 pulse in every step — in the frame rotating
    # at the carrier f: an ideal rotation replacing a pulse centred at t_c carries the
    # carrier phase 2π f t_c in its (lab-frame eigenbasis) azimuth, see sequences.bind
    pis = s.ideal_pulses if ideal else s.pulses
    for p in pis:
        if p.label == "p180":
            if ideal:
                rot = [math.remainder(ph - 2 * math.pi * 4e6 * p.time - math.pi / 2,
                                      2 * math.pi) for ph in p.phases]
                assert max(abs(r) for r in rot) < 1e-9  # float rounding of 2πf t ≈ 1e3
            else:
                assert p.phases == (math.pi / 2, math.pi / 2)


def test_stimulated_echo():
    s = load("stimulated").bind(tau="1.2 us", T="15 us")
    t1, t2, t3 = (pulse_time(s, lab) for lab in ("p90a", "p90b", "p90c"))
    assert math.isclose(t2 - t1, 1.2e-6, abs_tol=TOL)
    assert math.isclose(t3 - t2, 15e-6, abs_tol=TOL)
    assert math.isclose(centre(s.windows[0]), t3 + (t2 - t1), abs_tol=TOL)


def test_fid_window_after_dead_time():
    s = load("fid").bind(dead="700 ns")
    (p,) = s.pulses
    assert math.isclose(s.windows[0].start, p.stop + 700e-9, abs_tol=TOL)


@pytest.mark.parametrize("name", ["holeburn", "nutation", "inversion_recovery"])
@pytest.mark.parametrize("ideal", [0, 1])
def test_probe_echo_of_composite_sequences(name, ideal):
    s = load(name).bind(ideal=ideal)
    t90 = pulse_time(s, "p90")
    t180 = pulse_time(s, "p180")
    assert math.isclose(centre(s.windows[0]), 2 * t180 - t90, abs_tol=TOL)


def test_inversion_recovery_T_is_centre_to_centre():
    s = load("inversion_recovery").bind(T="37 us")
    assert math.isclose(pulse_time(s, "p90") - pulse_time(s, "inversion"), 37e-6, abs_tol=TOL)
    si = load("inversion_recovery").bind(T="37 us", ideal=1)
    assert math.isclose(pulse_time(si, "p90") - pulse_time(si, "inversion"), 37e-6,
                        abs_tol=TOL)


def test_holeburn_sweeps_probe_frequency_and_keeps_burn():
    seq = load("holeburn")
    pts = list(seq.sweep())
    assert len(pts) == 21
    for point, s in pts:
        burn = by_label(s.pulses, "burn")[0]
        p90 = by_label(s.pulses, "p90")[0]
        assert burn.frequency == 4e6
        assert p90.frequency == point["f_probe"]
    # with ideal = 1 the burn (no nominal angle) stays finite, the probe becomes ideal
    s = seq.bind(ideal=1)
    assert [p.label for p in s.pulses] == ["burn"]
    assert [p.label for p in s.ideal_pulses] == ["p90", "p180"]


def test_nutation_sweep_lengths():
    seq = load("nutation")
    lengths = [s.pulses[0].duration for _, s in seq.sweep()]
    assert len(lengths) == 26
    assert lengths[0] == 0.0
    assert math.isclose(lengths[-1], 500e-9, rel_tol=1e-12)


@pytest.mark.parametrize("name", library_names())
def test_every_library_sequence_binds_roundtrips_and_has_ideal_variant(name):
    seq = load(name)
    assert "ideal" in seq.param_names
    s = seq.bind()
    s.check()
    assert seq.from_text(seq.to_text()) == seq
    si = seq.bind(ideal=1)
    assert si.ideal_pulses
    assert math.isclose(si.duration, s.duration, abs_tol=TOL)
    # the library defaults are those of a giant-spin sample: MHz carriers, 50–500 ns pulses
    for p in s.pulses:
        assert 1e6 <= p.frequency <= 1e7
    assert any(50e-9 <= p.duration <= 500e-9 for p in s.pulses)
    # the library files are commented
    assert seq.source.lstrip().startswith("#")
