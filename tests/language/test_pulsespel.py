"""PulseSPEL export: the exported text, *run* by a small interpreter written here from the
PulseSPEL rules (a pulse is placed at the current time, only delays advance it; loops,
assignments, phase lists, asg/bsg), must reproduce the resolved Schedule at every sweep
point and phase-cycle step: pulse starts, lengths, phases, the acquisition time and gate,
and the receiver weights. The interpreter knows nothing of the exporter's internals."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import sequences
from sequences.pulsespel import PulseSpelError, to_pulsespel
from spinecho.cli import main

PHASE = {"+x": 0.0, "+y": math.pi / 2, "-x": math.pi, "-y": 3 * math.pi / 2}
CHANNEL = {"+a": 1, "-a": -1, "+b": 1j, "-b": -1j}  # contribution of a and b


def _defs(text: str) -> dict[str, float]:
    body = text.split("begin defs", 1)[1].split("end defs", 1)[0]
    out = {}
    for line in body.splitlines():
        line = line.split(";", 1)[0].strip()
        if "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            out[k] = float(v.split("*")[0])
    return out


def run_pulsespel(exp: str, definitions: str):
    """Interpret the program: returns (points, lists, receiver weights, steps); points
    is a list (x fastest) of [(kind, name, start_ns, length_ns, list name or None)]."""
    var = _defs(definitions)
    dims = re.search(r"dim s\[([\d,]+)\]", exp).group(1).split(",")
    var["sx"] = int(dims[0])
    var["sy"] = int(dims[1]) if len(dims) > 1 else 1
    var["n"] = var["h"] = 1  # one scan, one shot: the timing is the same in every one
    lists_txt = exp.split("begin lists", 1)[1].split("end lists", 1)[0].splitlines()[1:]
    lists = {ln.split()[0]: ln.split()[1:] for ln in lists_txt if ln.strip()}
    body = exp.split("begin exp", 1)[1].split("end exp", 1)[0].splitlines()[1:]
    lines = [ln.split(";", 1)[0].strip() for ln in body]
    lines = [ln for ln in lines if ln]
    points: list = []

    def value(tok):
        return float(tok) if re.fullmatch(r"-?[\d.]+(e-?\d+)?", tok) else var[tok]

    def execute(i0: int, i1: int, shot: list | None):
        i = i0
        while i < i1:
            ln = lines[i]
            m = re.fullmatch(r"(sweep|for|shot) (\w)=1 to (\w+)", ln)
            if m:
                depth, j = 1, i + 1  # find the matching "next"
                while depth:
                    if re.fullmatch(r"(sweep|for|shot) \w=1 to \w+", lines[j]):
                        depth += 1
                    elif lines[j].startswith("next"):
                        depth -= 1
                    j += 1
                assert lines[j - 1] == f"next {m.group(2)}"
                for _ in range(int(value(m.group(3)))):
                    if m.group(1) == "shot":
                        events: list = []
                        var["__t"] = 0.0
                        execute(i + 1, j - 1, events)
                        points.append(events)
                    else:
                        execute(i + 1, j - 1, shot)
                i = j
                continue
            if ln.startswith(("totscans", "scansdone")):
                pass
            elif "=" in ln:
                k, rhs = ln.split("=", 1)
                terms = re.split(r"(?=[+-])", rhs.replace(" ", ""))
                var[k] = sum(value(t.lstrip("+")) if not t.startswith("-") else
                             -value(t[1:]) for t in terms if t)
            elif m := re.fullmatch(r"(p\d+) \[(ph\d+)\]", ln):
                shot.append(("pulse", m.group(1), var["__t"], var[m.group(1)], m.group(2)))
            elif ln in ("acq [sg1]", "dig [sg1]"):
                shot.append(("acq", ln, var["__t"], var["pg"], None))
            elif re.fullmatch(r"d\d+", ln):
                var["__t"] += var[ln]
            else:
                raise AssertionError(f"unknown PulseSPEL statement {ln!r}")
            i += 1

    execute(0, len(lines), None)
    n_steps = max(len(v) for v in lists.values())

    def text(ca, cb) -> str:  # one quadrature channel as PulseSPEL writes it
        return {(1, 0): "+a", (-1, 0): "-a", (0, 1): "+b", (0, -1): "-b"}[(ca, cb)]

    weights = []
    for a, b in zip(lists["asg1"], lists["bsg1"], strict=True):
        # channel A accumulates Re(w·s), B Im(w·s), s = a + ib
        (w,) = [w for w in (1, -1, 1j, -1j)
                if (text(round(w.real), round(-w.imag)), text(round(w.imag), round(w.real)))
                == (a, b)]
        weights.append(w)
    return points, lists, weights, n_steps


def _check_against_schedules(seq, prog, fixed=None):
    points, lists, weights, n_steps = run_pulsespel(prog.experiment, prog.definitions)
    schedules = [s for _, s in seq.sweep(**(fixed or {}))] if seq.sweeps else \
        [seq.bind_values(fixed or {})]
    # PulseSPEL runs x fastest = the last declared sweep fastest, as seq.sweep() does
    assert len(points) == len(schedules)
    for events, sched in zip(points, schedules, strict=True):
        pulses = sorted(sched.pulses, key=lambda p: p.start)
        got = [e for e in events if e[0] == "pulse"]
        assert len(got) == len(pulses)
        for (_, _, start, length, ph), p in zip(got, pulses, strict=True):
            # the interpreter's clock starts at the start of the shot, as the Schedule's
            assert start == pytest.approx(p.start * 1e9, abs=1e-6)
            assert length == pytest.approx(p.duration * 1e9, abs=1e-6)
            cyc = lists[ph]
            want = [PHASE[cyc[k] if len(cyc) > 1 else cyc[0]] for k in range(n_steps)]
            np.testing.assert_allclose(np.exp(1j * np.array(want)),
                                       np.exp(1j * np.array(p.phases)), atol=1e-12)
        acq = [e for e in events if e[0] == "acq"]
        (w,) = sched.windows
        assert len(acq) == 1
        assert acq[0][2] == pytest.approx(w.start * 1e9, abs=1e-6)  # d0 = 0 as exported
        assert acq[0][3] == pytest.approx(w.duration * 1e9, abs=1e-6)
        np.testing.assert_allclose(weights, np.asarray(sched.receiver), atol=1e-12)


def test_hahn_tau_sweep_runs_as_the_schedule():
    seq = sequences.load("hahn").with_sweep("tau", lin=("1 us", "3 us", 11))
    prog = to_pulsespel(seq, shots=10, scans=4, repetition_time=1e-3)
    _check_against_schedules(seq, prog)
    d = _defs(prog.definitions)
    assert d["h"] == 10 and d["n"] == 4 and d["srt"] == 1000 and d["pg"] == 1000
    assert "[INTG QUAD]" in prog.experiment and "dim s[11]" in prog.experiment


def test_exorcycle_phase_lists_and_receiver():
    seq = sequences.load("exorcycle")
    prog = to_pulsespel(seq)
    assert " ph2 +x +y -x -y" in prog.experiment
    assert " asg1 +a -a +a -a" in prog.experiment
    _check_against_schedules(seq, prog)


def test_cyclops_receiver_quadrature_mapping():
    # a receiver in quadrature steps: w = exp(-iψ), ψ = 0, 90°, 180°, 270° (CYCLOPS)
    seq = sequences.parse("""
sequence cyc
param f = 4 MHz
channel rf : field(full_scale = 1 uT, freq = f)
channel adc : detector
receiver [x, y, -x, -y]
pulse(100 ns, amp = 0.5, phase = [x, y, -x, -y])
delay(400 ns)
detect(1 us)
""")
    prog = to_pulsespel(seq)
    assert " asg1 +a +b -a -b" in prog.experiment and " bsg1 +b -a -b +a" in prog.experiment
    _check_against_schedules(seq, prog)


def test_two_sweep_axes_nest_as_the_schedule_sweep():
    seq = (sequences.load("hahn").with_sweep("t90", lin=("100 ns", "140 ns", 3))
           .with_sweep("tau", lin=("1 us", "4 us", 4)))
    prog = to_pulsespel(seq)
    assert "dim s[4,3]" in prog.experiment and prog.axes == [("tau", 4), ("t90", 3)]
    _check_against_schedules(seq, prog)


@settings(max_examples=25, deadline=None)
@given(tau_ns=st.integers(300, 5000).map(lambda v: 2 * v),
       step_ns=st.integers(-100, 100).map(lambda v: 2 * v),
       n=st.integers(1, 6), t90_ns=st.integers(5, 60).map(lambda v: 4 * v))
def test_random_hahn_sweeps_run_as_the_schedule(tau_ns, step_ns, n, t90_ns):
    stop = tau_ns + step_ns * (n - 1)
    # hahn's delays tau - 3 t90/2 and tau - t90 - window/2 (window 1 µs) stay positive
    assume(min(tau_ns, stop) > 500 + 2 * t90_ns)
    seq = sequences.load("hahn").with_sweep("tau", lin=(tau_ns * 1e-9, stop * 1e-9, n))
    fixed = {"t90": t90_ns * 1e-9}
    prog = to_pulsespel(seq, fixed=fixed)
    _check_against_schedules(seq, prog, fixed)


@pytest.mark.parametrize("setup, message", [
    (lambda: (sequences.load("hahn").with_sweep("tau", log=("1 us", "3 us", 3)), {}),
     "constant increment"),
    (lambda: (sequences.load("hahn"), {"tau": 1.0001e-6}), "not a multiple of the 2 ns"),
    (lambda: (sequences.load("hahn"), {"ideal": 1}), "ideal pulse"),
    (lambda: (sequences.load("cpmg"), {}), "detection windows"),
    (lambda: (sequences.load("hahn").with_sweep("amp", [0.5, 0.6]), {}),
     "changes phase, amplitude or frequency"),
    (lambda: (sequences.load("hahn").with_sweep("window", lin=("1 us", "2 us", 2)), {}),
     "integrator gate pg is fixed"),
])
def test_what_pulsespel_cannot_express_is_refused(setup, message):
    seq, fixed = setup()
    with pytest.raises(PulseSpelError, match=message):
        to_pulsespel(seq, fixed=fixed)


def test_shaped_pulses_and_bad_options_are_refused():
    seq = sequences.parse("""
sequence g
channel rf : field(full_scale = 1 uT, freq = 4 MHz)
channel adc : detector
pulse(100 ns, shape = gauss, amp = 0.5, label = "soft")
delay(400 ns)
detect(1 us)
""")
    with pytest.raises(PulseSpelError, match="'soft' has shape 'gauss'"):
        to_pulsespel(seq)
    hahn = sequences.load("hahn")
    for kw, message in [({"shots": 0}, "shots"), ({"scans": 2.5}, "scans"),
                        ({"mode": "FAST"}, "INTG or TRANS"),
                        ({"resolution": float("nan")}, "resolution"),
                        ({"repetition_time": 1e-6}, "shorter than the shot"),
                        ({"repetition_time": float("inf")}, "repetition_time")]:
        with pytest.raises(PulseSpelError, match=message):
            to_pulsespel(hahn, **kw)


def test_cli_writes_exp_and_def(tmp_path, capsys):
    base = tmp_path / "hahn"
    rc = main(["bruker", "pulsespel", "hahn", "--sweep", "tau=lin(1us,3us,3)", "--shots",
               "5", "-o", str(base)])
    assert rc == 0 and "sweep x = tau (3 points)" in capsys.readouterr().out
    exp, dfn = (base.with_suffix(".exp")).read_text(), (base.with_suffix(".def")).read_text()
    points, _, _, _ = run_pulsespel(exp, dfn)
    assert len(points) == 3
    assert main(["bruker", "pulsespel", "hahn", "-o", str(base)]) == 2  # exists
    assert "exists" in capsys.readouterr().err
    assert main(["bruker", "pulsespel", "hahn", "--set", "ideal=1"]) == 2
    err = capsys.readouterr().err
    assert "ideal pulse" in err and "Traceback" not in err
    assert main(["bruker", "pulsespel", "hahn", "--repetition-time", "nan"]) == 2
