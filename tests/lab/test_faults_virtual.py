"""Faults on the virtual lab, through the real drivers and sockets: a connection dropped
mid-sweep (completed points on disk, outputs off, resume completes with no point
duplicated or lost), Ctrl-C, a limit violation refused before any byte is sent, SCPI
errors, corrupt blocks and timeouts (retried, then aborted) — every error names the
instrument."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest
from virtual_support import lab_file, small_config, start_lab

from echo.result import EchoResult
from instruments.errors import LimitViolation, ProtocolError, ScpiError
from instruments.lab import connect
from instruments.measure import run_measurement
from instruments.runstore import RunDirError
from instruments.virtual.server import Faults

SWEEP = ["tau=lin(1.5us, 3us, 4)"]


@pytest.fixture
def vlab():
    lab = start_lab(small_config(n_samples=16, noise_rms=0.01))
    yield lab
    lab.stop()


def csv_points(run):
    with open(run / "results.csv", newline="") as fh:
        rows = list(csv.reader(line for line in fh if not line.startswith("#")))
    return [int(float(r[0])) for r in rows[1:]]


def awg_outputs_off(vlab, wait: float = 2.0) -> bool:
    """True once the AWG has executed ``OUTP1 0`` after its last trigger and reports
    every output off (polled: the client's writes return before the server runs them)."""
    deadline = time.monotonic() + wait
    while True:
        log = vlab.awg.received()
        last_trg = max((i for i, u in enumerate(log) if u == "*TRG"), default=-1)
        if not vlab.awg.output_on() and "OUTP1 0" in log[last_trg + 1:]:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def connect_with(hook):
    """A connect function whose digitizer calls ``hook(n)`` before its n-th trace read."""
    def fn(cfg):
        lab = connect(cfg, ("awg", "digitizer"))
        original = lab.digitizer.read_trace
        count = [0]

        def read_trace(*a, **k):
            count[0] += 1
            hook(count[0])
            return original(*a, **k)

        lab.digitizer.read_trace = read_trace
        return lab
    return fn


def test_dropped_connection_then_resume_completes_without_duplicates(vlab, tmp_path):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"

    def drop_after_two_points(n):
        if n == 5:  # 2 points x 2 phase-cycle steps read; drop on the next command
            vlab.digitizer.set_faults(Faults(drop_after=0))

    with pytest.raises(Exception) as info:
        run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False, retries=0,
                        connect_fn=connect_with(drop_after_two_points))
    assert not isinstance(info.value, RunDirError) and "digitizer" in str(info.value)
    assert csv_points(run) == [0, 1]
    assert sorted(p.name for p in (run / "points").iterdir()) == ["point_00000.npz",
                                                                  "point_00001.npz"]
    assert not (run / "result.nc").exists()
    assert awg_outputs_off(vlab)
    first = {i: np.load(run / "points" / f"point_{i:05d}.npz")["amplitude"] for i in (0, 1)}

    with pytest.raises(RunDirError, match="--resume"):
        run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False)
    proc = run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False, resume=True)
    assert proc.n_measured == 2
    assert csv_points(run) == [0, 1, 2, 3]
    res = EchoResult.load(run / "result.nc")
    np.testing.assert_allclose(res.dataset["tau"].values, [1.5e-6, 2e-6, 2.5e-6, 3e-6])
    for i in (0, 1):  # reused from disk, not re-measured
        assert res.amplitude[i] == pytest.approx(complex(first[i]))
    assert awg_outputs_off(vlab)


def test_resume_refuses_a_different_configuration(vlab, tmp_path):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    run_measurement("hahn", labfile, run, sweeps=["tau=lin(2us, 3us, 2)"], progress=False)
    with pytest.raises(RunDirError, match="sweeps"):
        run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False, resume=True)


def test_ctrl_c_switches_outputs_off_and_resume_completes(vlab, tmp_path):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"

    def interrupt(n):
        if n == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False,
                        connect_fn=connect_with(interrupt))
    assert csv_points(run) == [0]
    assert awg_outputs_off(vlab)
    proc = run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False, resume=True)
    assert proc.n_measured == 3 and csv_points(run) == [0, 1, 2, 3]


def test_limit_violation_refused_before_any_byte_is_sent(vlab, tmp_path):
    labfile = lab_file(vlab, tmp_path / "lab.toml", max_amplitude_v=0.5)
    with pytest.raises(LimitViolation) as info:
        run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False)
    assert info.value.constraint == "max_amplitude_v" and info.value.instrument == "awg"
    for role, inst in vlab.instruments.items():
        assert inst.received() == [], role
        assert vlab.servers[role]._next_conn == 0, role  # not even a connection


def test_scpi_error_on_upload_names_the_awg(vlab, tmp_path):
    vlab.awg.set_faults(Faults(errors={"DATA:ARBitrary:DAC": -222}))
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    with pytest.raises(ScpiError) as info:
        run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False)
    assert info.value.code == -222 and "awg" in str(info.value)
    assert "*TRG" not in vlab.awg.received()  # nothing played after the failed upload
    assert not vlab.awg.output_on()


def test_corrupt_block_is_a_clear_protocol_error(vlab, tmp_path):
    vlab.digitizer.set_faults(Faults(corrupt_blocks="header"))
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    with pytest.raises(ProtocolError) as info:
        run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False)
    assert "digitizer" in str(info.value) and "block" in str(info.value)
    assert awg_outputs_off(vlab)


def test_timeout_is_retried_then_succeeds(vlab, tmp_path):
    """A late ``*OPC?`` reply (the scope busy past the client's timeout): resynced and
    the step retried (tests/lab/test_lab_safety.py has the other timeout cases)."""
    vlab.digitizer.set_faults(Faults(slow={"*OPC": 2.5}, slow_count=1))
    labfile = lab_file(vlab, tmp_path / "lab.toml", timeout_s=1.0)
    proc = run_measurement("hahn", labfile, tmp_path / "run", sweeps=["tau=2us,3us"],
                           progress=False, retries=2)
    assert proc.n_measured == 2
    assert vlab.awg.received().count("*TRG") >= 2 * 2 + 1  # the timed-out one was repeated
    assert vlab.digitizer.shots >= 4
