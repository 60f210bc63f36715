"""Issue 13 on the virtual lab, through the real drivers and sockets: a safe state on
every path, verified (signals, a dropped link, a refused ``OUTP``, interpreter exit), and
connection hygiene (late replies resynced, errors named with instrument and command, a
dropped link found at once, stale state cleared at connect, one-off upload errors
retried)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from test_faults_virtual import awg_outputs_off, connect_with, csv_points
from virtual_support import lab_file, small_config, start_lab

from instruments.errors import InstrumentError, ProtocolError, ScpiError
from instruments.lab import connect, load_lab
from instruments.link import LinkDropped
from instruments.measure import RunTerminated, run_measurement
from instruments.runstore import RunDirError
from instruments.virtual.server import Faults

SWEEP = ["tau=lin(1.5us, 3us, 4)"]


@pytest.fixture(scope="module")
def vlab():
    lab = start_lab(small_config(n_samples=16, noise_rms=0.01), lifetime=300.0)
    yield lab
    lab.stop()


@pytest.fixture(autouse=True)
def clean(vlab):
    for inst in vlab.instruments.values():
        inst.set_faults(Faults())
        with inst.lock:
            inst.errors.clear()
            inst.clear_log()
    yield


def read_back_after_last_trigger(vlab) -> list[str]:
    log = vlab.awg.received()
    last = max((i for i, u in enumerate(log) if u == "*TRG"), default=-1)
    return log[last + 1:]


# ------------------------------------------------------------------ 1, 2: safe state
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_stop_signal_mid_sweep_runs_the_shutdown_and_says_how_to_resume(vlab, tmp_path,
                                                                       signame):
    """Issue case 1: SIGTERM/SIGHUP used to kill the run with the output on."""
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    sig = getattr(signal, signame)
    before = signal.getsignal(sig)

    def kill(n):
        if n == 3:  # during point 1 (2 steps per point)
            os.kill(os.getpid(), sig)

    with pytest.raises(RunTerminated) as info:
        run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False,
                        connect_fn=connect_with(kill))
    assert info.value.signum == sig
    assert awg_outputs_off(vlab)
    assert {"OUTP1?", "OUTP2?"} <= set(read_back_after_last_trigger(vlab))  # read back
    stop = info.value.spinecho_stop
    assert "awg: safe state verified" in stop
    assert "1 of 4 points are on disk" in stop and csv_points(run) == [0]
    assert f"--resume -o {run}" in stop and "--sweep 'tau=lin(1.5us, 3us, 4)'" in stop
    assert signal.getsignal(sig) == before  # the previous handler is back


def test_dropped_awg_link_is_reopened_by_the_shutdown(vlab, tmp_path):
    """Issue case 2a: the AWG link drops while its output is on; no retries, so the run
    stops, and the shutdown reconnects and switches the output off, verified."""
    labfile = lab_file(vlab, tmp_path / "lab.toml", timeout_s=30)
    t0 = []

    def drop(n):
        if n == 3:
            vlab.awg.set_faults(Faults(drop_after=0))
            t0.append(time.monotonic())

    with pytest.raises(LinkDropped) as info:
        run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False,
                        retries=0, connect_fn=connect_with(drop))
    assert time.monotonic() - t0[0] < 15.0  # found at once, not after the 30 s timeout
    assert "awg" in str(info.value)
    assert awg_outputs_off(vlab)
    assert "awg: safe state verified after reconnecting" in info.value.spinecho_stop


def test_dropped_links_are_reconnected_and_the_run_completes(vlab, tmp_path):
    """Issue case 5 (dropped link): found at once, reopened, the step retried."""
    labfile = lab_file(vlab, tmp_path / "lab.toml", timeout_s=30)

    def drop(n):
        if n == 2:
            vlab.digitizer.set_faults(Faults(drop_after=0))
        if n == 5:
            vlab.awg.set_faults(Faults(drop_after=0))

    t0 = time.monotonic()
    proc = run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False,
                           connect_fn=connect_with(drop))
    assert proc.n_measured == 4 and np.all(np.isfinite(proc.echo_result().amplitude))
    assert time.monotonic() - t0 < 25.0  # no 30 s timeout was waited for
    assert vlab.servers["digitizer"]._next_conn >= 2 and vlab.servers["awg"]._next_conn >= 2
    assert awg_outputs_off(vlab)


def test_refused_outp_says_the_safe_state_is_not_verified(vlab, tmp_path):
    """Issue case 2b: ``OUTP`` answered by -221 and Ctrl-C: the shutdown reads the state
    back, cannot verify it, resets the AWG (*RST: outputs off) and says so plainly."""
    labfile = lab_file(vlab, tmp_path / "lab.toml", timeout_s=1.0)

    def refuse_and_interrupt(n):
        if n == 3:
            vlab.awg.set_faults(Faults(errors={"OUTPut#": -221}))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False,
                        connect_fn=connect_with(refuse_and_interrupt))
    stop = info.value.spinecho_stop
    assert "SAFE STATE NOT VERIFIED" in stop and "awg" in stop
    assert "-221" in stop and "OUTP1 0" in stop  # the refusal, with its command
    assert "*RST" in vlab.awg.received() and not vlab.awg.output_on()
    assert "1 of 4 points are on disk" in stop


def test_interpreter_exit_switches_outputs_off(vlab, tmp_path):
    """A Python script that connects, switches the output on and exits without a
    shutdown: the interpreter-exit hook makes the lab safe."""
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    script = textwrap.dedent(f"""
        from instruments.lab import connect, load_lab
        lab = connect(load_lab({str(labfile)!r}), ("awg",))
        ch = lab.awg.ch_1
        ch.shape = "SIN"
        ch.amplitude = 0.5
        ch.output = True
        assert lab.awg.ask("OUTP1?").strip() == "1"
        raise SystemExit(3)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 3, out.stderr
    assert awg_outputs_off(vlab, wait=0.5)
    assert "OUTP1?" in vlab.awg.received()[-4:] or "OUTP2?" in vlab.awg.received()[-4:]


# ------------------------------------------------------------- 4, 5: link hygiene
def test_late_reply_after_a_timeout_is_never_taken_as_data(vlab, tmp_path):
    """Issue case 4: the digitizer answers ``*OPC?`` after the client's timeout; the
    matched resync discards the late reply and the retried step reads a real record
    (before: the late '1' was read as the preamble -> KeyError 'type')."""
    vlab.digitizer.set_faults(Faults(slow={"*OPC": 2.5}, slow_count=1))
    labfile = lab_file(vlab, tmp_path / "lab.toml", timeout_s=1.0)
    proc = run_measurement("hahn", labfile, tmp_path / "run", sweeps=["tau=2us,3us"],
                           progress=False)
    assert proc.n_measured == 2
    amp = proc.echo_result().amplitude
    assert np.all(np.isfinite(amp)) and np.all(np.abs(amp) > 0)
    log = vlab.digitizer.received()
    assert any(u.startswith("*ESE ") for u in log)  # the resync marker was sent
    assert log.count("*OPC?") >= 5  # 4 steps + the timed-out one


def test_persistent_timeouts_abort_naming_the_digitizer(vlab, tmp_path):
    vlab.digitizer.set_faults(Faults(slow={"*OPC": 0.6}))
    labfile = lab_file(vlab, tmp_path / "lab.toml", timeout_s=0.3)
    with pytest.raises(InstrumentError, match="digitizer.*2 attempts.*no SCPI error"):
        run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False,
                        retries=1)
    assert awg_outputs_off(vlab)


def test_refused_trigger_is_reported_as_the_awgs_error_at_once(vlab, tmp_path):
    """Issue case 5: a *TRG the AWG rejects was reported after 32 s as a digitizer
    timeout."""
    vlab.awg.set_faults(Faults(errors={"*TRG": -211}))
    labfile = lab_file(vlab, tmp_path / "lab.toml", timeout_s=30)
    t0 = time.monotonic()
    with pytest.raises(ScpiError) as info:
        run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False)
    assert time.monotonic() - t0 < 20.0  # at once: no 30 s timeout waited for
    assert info.value.code == -211 and str(info.value).startswith("awg")
    assert "*TRG" in info.value.commands and "*TRG" in str(info.value)
    assert awg_outputs_off(vlab)


@pytest.mark.parametrize("fault, match", [
    (Faults(errors={":WAVeform:DATA": -230}), r"digitizer.*-230.*:WAV:DATA\?"),
    (Faults(corrupt_blocks="truncate"), r"digitizer.*truncated block"),
])
def test_read_failures_name_the_digitizer_and_the_cause(vlab, tmp_path, fault, match):
    """Issue case 5: a -230 on :WAV:DATA? and a truncated block ended as 'timeouts'."""
    vlab.digitizer.set_faults(fault)
    labfile = lab_file(vlab, tmp_path / "lab.toml", timeout_s=1.5)
    with pytest.raises((ScpiError, ProtocolError), match=match):
        run_measurement("hahn", labfile, tmp_path / "run", sweeps=SWEEP, progress=False,
                        retries=0)
    assert awg_outputs_off(vlab)


def test_malformed_error_reply_names_the_instrument(vlab, tmp_path):
    lab = connect(load_lab(lab_file(vlab, tmp_path / "lab.toml")), ("awg",))
    try:
        vlab.awg.set_faults(Faults(malformed_replies="garbage"))
        with pytest.raises(ProtocolError, match=r"^awg .*malformed SYST:ERR\? reply"):
            lab.awg.check_errors()
    finally:
        vlab.awg.set_faults(Faults())
        lab.close()


def test_a_new_run_does_not_inherit_the_errors_of_a_dead_one(vlab, tmp_path):
    """Issue case 4: '-200 acquisition not complete' of a killed run was read by the next
    one; *CLS at connect clears it."""
    vlab.digitizer.push_error(ScpiError(-200, "acquisition not complete"))
    vlab.awg.push_error(ScpiError(-221, "settings conflict"))
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    proc = run_measurement("hahn", labfile, tmp_path / "run", sweeps=["tau=2us"],
                           progress=False)
    assert proc.n_measured == 1
    assert vlab.awg.received()[0] == "*CLS" and vlab.digitizer.received()[0] == "*CLS"


def test_a_one_off_upload_error_is_retried(vlab, tmp_path):
    vlab.awg.set_faults(Faults(errors={"DATA:ARBitrary:DAC": -222}, error_count=1))
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    proc = run_measurement("hahn", labfile, tmp_path / "run", sweeps=["tau=2us,3us"],
                           progress=False)
    assert proc.n_measured == 2


# ----------------------------------------------------------------- 3: real-time pacing
@pytest.mark.parametrize("hw_averages", [1, 2])
def test_shots_are_never_closer_than_the_checked_repetition_time(vlab, tmp_path,
                                                                hw_averages):
    """Issue case 3: with --repetition-time the duty cycle is checked against that
    period; every shot (software averages, phase-cycle steps, sweep points, on-scope
    averages) must be at least that far apart in real time. Measured on the AWG's own
    log of played shots."""
    period = 0.05
    labfile = lab_file(vlab, tmp_path / "lab.toml", averages=hw_averages)
    vlab.awg.shot_times.clear()
    proc = run_measurement("hahn", labfile, tmp_path / "run", sweeps=["tau=2us,3us,4us"],
                           averages=2, repetition_time=period, progress=False)
    assert proc.n_measured == 3
    n = 3 * 2 * 2 * hw_averages  # points x averages x steps x on-scope averages
    sent = np.diff(proc.pacer.times)
    assert len(proc.pacer.times) == n and sent.min() >= period  # exact, by construction
    shots = [t for t, ch in vlab.awg.shot_times if ch == 1]
    assert len(shots) == n
    played = np.diff(shots)
    # the AWG acts on each *TRG one loopback latency later; on a loaded machine that latency
    # varies by a few ms, sometimes more (thread scheduling), which the pacer's margin
    # (2 ms + 2 %) covers only in the median. Unpaced shots come 20-30 ms apart (the
    # issue's figure), so a minimum above 0.8 period still tells paced from unpaced.
    assert np.median(played) >= period, np.median(played)
    assert played.min() >= 0.8 * period, played.min()
    print(f"shot spacing: sent min {sent.min() * 1e3:.2f} ms, played min "
          f"{played.min() * 1e3:.2f} ms, median {np.median(played) * 1e3:.2f} ms")
    assert proc.programs[0].safety.period == period


# ------------------------------------------------------------- 6: data that survives
def interrupt_after(n_reads):
    def hook(n):
        if n == n_reads:
            raise KeyboardInterrupt
    return hook


def test_torn_last_row_is_dropped_and_its_point_measured_again(vlab, tmp_path):
    """Issue case 6a: a power cut mid-write leaves a torn last row; --resume used to
    merge the next row into it (pandas and Results.load could no longer read the file)."""
    import pandas as pd
    from pymeasure.experiment import Results

    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False,
                        connect_fn=connect_with(interrupt_after(5)))
    assert csv_points(run) == [0, 1]
    raw = (run / "results.csv").read_bytes()
    cut = raw.rstrip(b"\n").rfind(b"\n") + 1 + 9  # 9 bytes into the last row
    (run / "results.csv").write_bytes(raw[:cut])  # the power cut
    proc = run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False, resume=True)
    assert proc.n_measured == 3  # points 1 (torn), 2, 3
    assert csv_points(run) == [0, 1, 2, 3]
    table = pd.read_csv(run / "results.csv", comment="#")
    assert list(table["point"]) == [0, 1, 2, 3]
    assert len(Results.load(str(run / "results.csv")).data) == 4


def test_resume_refuses_a_changed_calibration_or_limit(vlab, tmp_path):
    """Issue case 6b: run.json stored only the lab file's path."""
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False,
                        connect_fn=connect_with(interrupt_after(3)))
    meta = json.loads((run / "run.json").read_text())
    snap = meta["snapshot"]
    assert snap["calibration"]["awg"]["volts_per_tesla"] == 1e6
    assert snap["calibration"]["limits"]["max_amplitude_v"] == 2.0
    assert len(snap["lab_file_sha256"]) == 64
    lab_file(vlab, labfile, max_duty_cycle=0.3)
    with pytest.raises(RunDirError, match=r"limits.max_duty_cycle: 0.2 -> 0.3"):
        run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False, resume=True)
    lab_file(vlab, labfile, timeout_s=5)  # a connection detail may change
    proc = run_measurement("hahn", labfile, run, sweeps=SWEEP, progress=False, resume=True)
    assert proc.n_measured == 3


@pytest.mark.parametrize("flag, value", [
    ("--reference-frequency", "nan"), ("--reference-frequency", "1e13"),
    ("--repetition-time", "inf"), ("--repetition-time", "1e300"), ("--averages", "0"),
])
def test_non_finite_or_huge_options_are_refused_up_front(vlab, tmp_path, capsys, flag,
                                                         value):
    """Issue case 6c/8: --reference-frequency nan was written to run.json as NaN (not
    JSON); the others ended in a traceback. Refused before any file or connection."""
    from spinecho.cli import main

    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    code = main(["measure", "hahn", "--lab", str(labfile), flag, value, "-o", str(run),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {flag}: ")
    assert "Traceback" not in err
    assert not run.exists()
    assert vlab.servers["awg"]._next_conn == 0 or "*IDN?" not in vlab.awg.received()


def test_run_json_is_always_strict_json(vlab, tmp_path):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    run_measurement("hahn", labfile, run, sweeps=["tau=2us"], progress=False,
                    reference_frequency=4e6)

    def no_constants(name):
        raise AssertionError(f"{name} in run.json")

    json.loads((run / "run.json").read_text(), parse_constant=no_constants)


# ----------------------------------------------------------------- 7: one run per lab
def test_a_second_run_on_the_same_lab_is_refused_naming_the_first(vlab, tmp_path):
    """Issue case 7: two runs on one lab deleted each other's waveforms."""
    from instruments.lab import check_lab
    from instruments.lock import InstrumentBusy

    labfile = lab_file(vlab, tmp_path / "lab.toml")
    first = connect(load_lab(labfile), ("awg", "digitizer"), owner="run /data/hahn-1")
    try:
        before = len(vlab.awg.received())
        with pytest.raises(InstrumentBusy, match=r"awg: TCPIP::127.0.0.1::\d+::SOCKET is "
                           r"in use by run /data/hahn-1 \(pid \d+ on .*\) since 20\d\d-"):
            run_measurement("exorcycle", labfile, tmp_path / "run", progress=False)
        assert len(vlab.awg.received()) == before  # not a byte from the second run
        assert not (tmp_path / "run").exists()
        report = check_lab(load_lab(labfile))  # lab check does not touch it either
        assert not report.ok and "in use by run /data/hahn-1" in report.format()
        assert len(vlab.awg.received()) == before
    finally:
        first.close()
    proc = run_measurement("hahn", labfile, tmp_path / "run2", sweeps=["tau=2us"],
                           progress=False)  # released: the next run goes ahead
    assert proc.n_measured == 1


def test_a_killed_run_leaves_no_lock_behind(vlab, tmp_path):
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    script = textwrap.dedent(f"""
        import os, signal
        from instruments.lab import connect, load_lab
        lab = connect(load_lab({str(labfile)!r}), ("awg",), owner="doomed")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert out.returncode == -signal.SIGKILL
    lab = connect(load_lab(labfile), ("awg",))
    lab.close()


# ------------------------------------------------- 10: Python-API guards from the limits
def test_python_api_cannot_pass_the_lab_peak_voltage_limit(vlab, tmp_path):
    """Issue case 10: ``ch.amplitude = 5`` Vpp played 2.5 V peak with max_amplitude_v = 2;
    the lock-in's ``sine_voltage = 5`` V rms was accepted."""
    from instruments.errors import LimitViolation

    labfile = lab_file(vlab, tmp_path / "lab.toml")  # max_amplitude_v = 2.0 V
    lab = connect(load_lab(labfile), ("awg", "lockin"))
    try:
        ch = lab.awg.ch_1
        ch.amplitude = 1.0  # (whatever an earlier run left) 0.5 V peak at most
        ch.shape = "SIN"
        with pytest.raises(LimitViolation, match="2.5 V peak.*limit 2 V"):
            ch.amplitude = 5
        ch.amplitude = 4  # 2 V peak: allowed
        with pytest.raises(LimitViolation):
            ch.offset = 0.5
        # an arb: the guard knows the codes it uploaded
        ch.upload_dac("full", np.full(64, 32767))
        ch.upload_dac("half", np.full(64, 16000))
        ch.select_arb("half")
        ch.amplitude = 5  # 16000/32767 x 2.5 V = 1.22 V peak
        with pytest.raises(LimitViolation):
            ch.select_arb("full")  # would play 2.5 V
        with pytest.raises(LimitViolation):
            ch.shape = "SQU"  # a full-scale square at 5 Vpp
        with pytest.raises(LimitViolation):
            lab.lockin.sine_voltage = 5  # 7.07 V peak into the same coil
        lab.lockin.sine_voltage = 1.4  # 1.98 V peak
        lab.awg.ask("*OPC?")  # the AWG has executed every write before its log is read
        lab.lockin.ask("*IDN?")
        log = vlab.awg.received()
        assert "SOUR1:VOLT 5" in log and log.index("SOUR1:VOLT 5") > log.index("SOUR1:FUNC ARB")
        assert "SOUR1:VOLT:OFFS 0.5" not in log
        assert "SLVL5.000" not in vlab.lockin.received()
        assert lab.shutdown() == ["awg: safe state verified", "lockin: safe state verified"]
    finally:
        lab.close()


def test_a_program_compiled_for_a_looser_lab_is_refused_by_a_stricter_one(vlab, tmp_path):
    from instruments.compiler import compile as compile_schedule
    from instruments.compiler import upload_program
    from instruments.errors import LimitViolation
    from sequences.parser import load as load_library

    loose = load_lab(lab_file(vlab, tmp_path / "loose.toml"))
    strict = load_lab(lab_file(vlab, tmp_path / "strict.toml", max_amplitude_v=1.5))
    program = compile_schedule(load_library("hahn").bind(), loose)  # peak ~0.9 V
    lab = connect(strict, ("awg",))
    try:
        lab.awg.ask("*IDN?")  # every earlier command has been executed
        before = len(vlab.awg.received())
        with pytest.raises(LimitViolation, match="compiled for max_amplitude_v = 2.0 but "
                                                 "this lab sets 1.5"):
            upload_program(lab.awg, program)
        assert len(vlab.awg.received()) == before
        upload_program(lab.awg, compile_schedule(load_library("hahn").bind(), strict))
    finally:
        lab.close()


# ------------------------------------------------ 8, 9: one validation, lab check = measure
LAB_FILE_CASES = [  # (section, key = value as written in the file, the field named)
    ("awg", "timeout_s = 1e308", "awg.timeout_s"),
    ("awg", "timeout_s = 9223372036854775807", "awg.timeout_s"),
    ("awg", "timeout_s = 1e-308", "awg.timeout_s"),
    ("digitizer", "averages = 100000", "digitizer.averages"),
    ("squid", "volts_per_phi0 = 1e-308", "squid.volts_per_phi0"),
    ("digitizer", "channel = 3", "digitizer.channel"),
    ("digitizer", 'driver = "instruments.drivers.awg:Keysight33500B"', "digitizer.driver"),
    ("awg", "full_scale_v = 6.0", "awg.full_scale_v"),
    ("limits", "max_amplitude_v = 1e308", "limits.max_amplitude_v"),
    ("digitizer", "sample_rate = 1e-308", "digitizer.sample_rate"),
    ("awg", "sample_rate = 1e-308", "awg.sample_rate"),
    ("awg", "memory = 1000000000000", "awg.memory"),
    ("lockin", 'resource = "TCPIP::localhost::5025::SOCKET"', "lockin.resource"),
]


def _patched(text: str, section: str, line: str) -> str:
    key = line.split("=")[0].strip()
    head = f"[{section}]\n"
    start = text.index(head) + len(head)
    end = text.find("\n[", start)
    body = text[start:end]
    body = "\n".join(b for b in body.split("\n") if not b.startswith(f"{key} ")) + "\n"
    return text[:start] + line + "\n" + body + text[end:]


@pytest.mark.parametrize("section, line, field", LAB_FILE_CASES)
def test_lab_file_refused_the_same_way_by_lab_check_and_measure(tmp_path, capsys, section,
                                                                line, field):
    """Issue case 8: each ended in a traceback in measure (or was accepted) while lab
    check said OK or something else. Now one refusal, the same words from both."""
    from virtual_support import EXAMPLE_LAB

    from spinecho.cli import main

    bad = tmp_path / "lab.toml"
    bad.write_text(_patched(EXAMPLE_LAB.read_text(), section, line))
    messages = []
    for argv in (["lab", "check", str(bad)],
                 ["measure", "hahn", "--lab", str(bad), "-o", str(tmp_path / "run"),
                  "--no-progress"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {bad}: {field}") and "Traceback" not in err, err
        messages.append(err)
    assert messages[0] == messages[1]
    assert not (tmp_path / "run").exists()


def test_a_utf8_bom_is_accepted(tmp_path):
    from virtual_support import EXAMPLE_LAB

    p = tmp_path / "notepad.toml"
    p.write_bytes(b"\xef\xbb\xbf" + EXAMPLE_LAB.read_bytes())
    assert load_lab(p).awg.full_scale_v == 2.5


def test_lab_check_and_measure_compare_idn_with_the_driver(vlab, tmp_path, capsys):
    """Issue cases 8 (a 33600A driver on a 33522B) and 9 (the AWG resource points at
    another instrument): lab check said OK; measure failed later with -113."""
    from spinecho.cli import main

    labfile = lab_file(vlab, tmp_path / "lab.toml")
    text = labfile.read_text()
    wrong_model = tmp_path / "a33600.toml"
    wrong_model.write_text(text.replace("awg:Keysight33500B", "awg:Keysight33600A"))
    lockin_port = vlab.servers["lockin"].port
    wrong_port = tmp_path / "swapped.toml"
    body = text[:text.index("[lockin]")] + text[text.index("[squid]"):]
    wrong_port.write_text(body.replace(f"::{vlab.servers['awg'].port}::",
                                       f"::{lockin_port}::"))
    for path, said in ((wrong_model, "33522B"), (wrong_port, "SR830")):
        assert main(["lab", "check", str(path)]) == 1
        out = capsys.readouterr().out
        assert said in out
        assert "not an instrument the configured driver" in out and "NOT OK" in out
        vlab.awg.clear_log()
        assert main(["measure", "hahn", "--lab", str(path), "-o", str(tmp_path / path.stem),
                     "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "error: awg: *IDN? answers" in err and said in err
        assert not any(u.startswith("SOUR") for u in vlab.awg.received())


@pytest.mark.slow
@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_spinecho_measure_stopped_by_a_real_signal(vlab, tmp_path, signame, code):
    """Issue case 1 as a user meets it: `spinecho measure` in its own process, killed by
    a batch scheduler (SIGTERM) or a closed terminal (SIGHUP) mid-sweep."""
    labfile = lab_file(vlab, tmp_path / "lab.toml")
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "spinecho", "measure", "hahn", "--lab", str(labfile),
         "--sweep", "tau=lin(1.5us, 6us, 40)", "--repetition-time", "0.05", "-o", str(run),
         "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(list((run / "points").glob("point_*.npz"))) >= 2:
                break
            time.sleep(0.05)
        proc.send_signal(getattr(signal, signame))
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert f"stopped by {signame}" in err and "awg: safe state verified" in err
    assert "points are on disk" in err and f"--resume -o {run}" in err
    assert "Traceback" not in err
    assert awg_outputs_off(vlab)
    done = csv_points(run)
    assert 2 <= len(done) < 40 and done == list(range(len(done)))


@pytest.mark.slow
def test_long_drive_past_the_client_timeout_never_reads_a_stale_reply(tmp_path):
    """Issue case 4 as reported: pulse(3 ms) ... pulse(6 ms) with digitize_timeout = 1 s
    and a 1 s client timeout. The virtual AWG simulates the shot inside *TRG and stays
    silent for seconds, so replies come late. Before: KeyError 'type' (a late reply read
    as the preamble). Now the run either completes with real data or stops with a
    clear error naming the busy instrument, and the stop message follows."""
    lab = start_lab(small_config(n_samples=16, noise_rms=0.0, digitize_timeout=1.0),
                    lifetime=280.0)
    try:
        labfile = lab_file(lab, tmp_path / "lab.toml", sample_rate=20e6, timeout_s=1.0,
                           max_pulse_energy=1, max_duty_cycle=1)
        try:
            proc = run_measurement("hahn", labfile, tmp_path / "run", sets=["t90=3ms"],
                                   sweeps=["tau=5ms,6ms"], progress=False)
        except InstrumentError as exc:
            assert "busy or hung" in str(exc) or "no record" in str(exc), exc
            assert "points are on disk" in exc.spinecho_stop
        else:
            assert np.all(np.isfinite(proc.echo_result().amplitude))
    finally:
        lab.stop()
