"""Lab file parsing, validation, driver allow-list, and `check_lab` through pyvisa-py
against a loopback socket instrument."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from instruments.errors import InstrumentError, LabFileError, LimitViolation
from instruments.lab import (
    AwgConfig,
    check_lab,
    connect,
    load_lab,
    parse_lab,
    resolve_driver,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lab_virtual.toml"

BASE = {
    "limits": {"max_amplitude_v": 1.0},
    "awg": {"driver": "instruments.drivers.awg:Keysight33500B",
            "resource": "TCPIP::127.0.0.1::5025::SOCKET", "sample_rate": 100e6,
            "volts_per_tesla": 10.0, "full_scale_v": 2.0},
}


def _with(section, **changes):
    data = {k: dict(v) for k, v in BASE.items()}
    data.setdefault(section, {}).update(changes)
    return data


def test_example_lab_file_loads():
    cfg = load_lab(EXAMPLE)
    assert cfg.roles() == ("awg", "digitizer", "lockin", "squid")
    assert isinstance(cfg.awg, AwgConfig)
    assert cfg.awg.resource == "TCPIP::127.0.0.1::5025::SOCKET"
    assert cfg.digitizer.resource.endswith("::5026::SOCKET")
    assert cfg.lockin.resource.endswith("::5027::SOCKET")
    assert cfg.limits.max_amplitude_v == 2.0
    assert cfg.squid.volts_per_phi0 == 0.5


@pytest.mark.parametrize("section, changes, field", [
    ("awg", {"sample_rate": -1.0}, "awg.sample_rate"),
    ("awg", {"sample_rate": "fast"}, "awg.sample_rate"),
    ("awg", {"channel": 1.5}, "awg.channel"),
    ("awg", {"channel": True}, "awg.channel"),
    ("awg", {"sampel_rate": 1e6}, "awg.sampel_rate"),
    ("awg", {"gate_channel": 1}, "awg.gate_channel"),
    ("limits", {"max_duty_cycle": 1.5}, "limits.max_duty_cycle"),
    ("limits", {"max_pulse_energy": 0.0}, "limits.max_pulse_energy"),
    ("squid", {"phi0_per_mu_b": 1.0}, "squid"),  # volts_per_phi0 missing
])
def test_validation_errors_name_file_and_field(section, changes, field):
    with pytest.raises(LabFileError) as info:
        parse_lab(_with(section, **changes), "lab.toml")
    assert str(info.value).startswith("lab.toml: ")
    assert field in str(info.value)


def test_unknown_section_and_missing_driver_key():
    with pytest.raises(LabFileError, match="scope"):
        parse_lab({**BASE, "scope": {}}, "x.toml")
    data = _with("awg")
    del data["awg"]["driver"]
    with pytest.raises(LabFileError, match="driver"):
        parse_lab(data, "x.toml")


@pytest.mark.parametrize("path", [
    "os:system",
    "subprocess.Popen",
    "instruments.lab:Lab",              # allowed package but not an Instrument
    "instruments.drivers.awg:check_name",  # a function, not a class
    "instruments.driversx.awg:X",       # prefix trick
    "instruments.drivers.awg:Keysight33500B; import os",
    "__import__('os')",
    "instruments.drivers.nothere:X",
])
def test_driver_allow_list(path):
    with pytest.raises(LabFileError):
        resolve_driver(path)


def test_driver_paths_accepted():
    from pymeasure.instruments.srs.sr830 import SR830

    from instruments.drivers.awg import Keysight33500B

    assert resolve_driver("instruments.drivers.awg:Keysight33500B") is Keysight33500B
    assert resolve_driver("instruments.drivers.awg.Keysight33500B") is Keysight33500B
    assert resolve_driver("pymeasure.instruments.srs.sr830:SR830") is SR830


def test_bad_toml_and_missing_role(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[awg\nx=1")
    with pytest.raises(LabFileError, match="bad.toml") as info:
        load_lab(bad)
    # located like a .seq error: file:line:column, then the line with a caret
    assert str(info.value).startswith(f"{bad}:1:5: not valid TOML: ")
    assert str(info.value).endswith("\n    [awg\n        ^")
    cfg = parse_lab(BASE, "l.toml")
    with pytest.raises(InstrumentError, match=r"\[digitizer\]"):
        cfg.require("digitizer", "an echo measurement")


class _FakeScpi:
    """Minimal loopback SCPI instrument: *IDN?, SYST:ERR? (one queued error), *CLS,
    OUTP<n> / OUTP<n>? (what a shutdown reads back), logs."""

    def __init__(self, idn: str):
        self.idn = idn
        self.errors = ['-113,"Undefined header"']
        self.log: list[str] = []
        self.outputs: dict[str, str] = {}
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        cmd = line.decode().strip()
                        self.log.append(cmd)
                        if cmd == "*IDN?":
                            conn.sendall(self.idn.encode() + b"\n")
                        elif cmd == "*CLS":
                            self.errors.clear()
                        elif cmd == "SOUR1:VOLT:OFFS?":
                            conn.sendall(b"+0.0\n")
                        elif cmd == "SOUR1:FUNC?":
                            conn.sendall(b"SIN\n")
                        elif cmd.startswith("OUTP") and cmd.endswith("?"):
                            conn.sendall(self.outputs.get(cmd[4], "0").encode() + b"\n")
                        elif cmd.startswith("OUTP") and " " in cmd:
                            self.outputs[cmd[4]] = cmd.split()[1]
                        elif cmd == "SYST:ERR?":
                            reply = self.errors.pop(0) if self.errors else '+0,"No error"'
                            conn.sendall(reply.encode() + b"\n")

    def wait_for(self, n: int, timeout: float = 5.0) -> None:
        """Wait until ``n`` commands arrived (writes are not acknowledged)."""
        t0 = time.monotonic()
        while len(self.log) < n and time.monotonic() - t0 < timeout:
            time.sleep(0.005)

    def close(self):
        self.sock.close()


def test_check_lab_over_pyvisa_py_sockets():
    fake = _FakeScpi("Agilent Technologies,33522B,MY0,4.00")
    try:
        data = _with("awg", resource=f"TCPIP::127.0.0.1::{fake.port}::SOCKET", timeout_s=2.0)
        data["digitizer"] = {"driver": "instruments.drivers.digitizer:KeysightDSOX",
                             "resource": "TCPIP::127.0.0.1::1::SOCKET", "timeout_s": 0.5}
        report = check_lab(parse_lab(data, "lab.toml"))
    finally:
        fake.close()
    awg, dig = report.roles
    assert awg.idn == "Agilent Technologies,33522B,MY0,4.00"
    assert awg.problems == ['error queue: -113, "Undefined header"']
    assert not dig.ok and "refused" in dig.problems[0]  # nothing listens on port 1
    assert not report.ok
    text = report.format()
    assert "33522B" in text and "NOT OK" in text
    # Only identification and the error queue were sent: nothing switched on.
    assert fake.log == ["*IDN?", "SYST:ERR?", "SYST:ERR?"]


def test_check_lab_reports_limit_problems():
    data = _with("awg")
    data["limits"] = {}
    report = check_lab(parse_lab(data, "l.toml"), visa_library="@sim-not-installed")
    text = " ".join(report.limit_problems)
    assert "max_amplitude_v is not set" in text
    for changes, field in (({"sample_rate": 500e6}, "awg.sample_rate"),
                           ({"full_scale_v": 6.0}, "awg.full_scale_v")):
        with pytest.raises(LabFileError, match=field):  # the same refusal as measure's
            parse_lab(_with("awg", **changes), "l.toml")


def test_connect_applies_amplitude_guard_and_closes():
    fake = _FakeScpi("Agilent Technologies,33522B,MY0,4.00")
    try:
        data = _with("awg", resource=f"TCPIP::127.0.0.1::{fake.port}::SOCKET", timeout_s=2.0)
        with connect(parse_lab(data, "l.toml")) as lab:
            with pytest.raises((ValueError, LimitViolation)):
                lab.awg.ch_1.amplitude = 4.5  # above 2·full_scale_v = 4 Vpp: refused
            with pytest.raises(LimitViolation, match="1.5 V peak.*limit 1 V"):
                lab.awg.ch_1.amplitude = 3.0  # a sine of 1.5 V peak > max_amplitude_v 1 V
            lab.awg.ch_1.amplitude = 2.0
            with pytest.raises(LimitViolation, match="max_amplitude_v"):
                lab.awg.ch_1.offset = 0.5  # 0.5 V + 1 V peak
            assert lab.digitizer is None
        fake.wait_for(10)
    finally:
        fake.close()
    # the refused settings never reached the instrument (the guard read the offset and the
    # function once); shutdown on leaving the block
    assert fake.log == ["*CLS", "SOUR1:VOLT:OFFS?", "SOUR1:FUNC?", "SOUR1:VOLT 2", "SYST:ERR?",
                        "OUTP1 0", "OUTP2 0", "OUTP1?", "OUTP2?", "SYST:ERR?"]


def test_lab_context_switches_outputs_off_on_error():
    fake = _FakeScpi("Agilent Technologies,33522B,MY0,4.00")
    try:
        data = _with("awg", resource=f"TCPIP::127.0.0.1::{fake.port}::SOCKET", timeout_s=2.0)
        with pytest.raises(RuntimeError, match="interrupted"):
            with connect(parse_lab(data, "l.toml")):
                raise RuntimeError("interrupted mid-sweep")
        fake.wait_for(2)
    finally:
        fake.close()
    # stale queue cleared at connect; outputs off, then read back with the error queue
    assert fake.log == ["*CLS", "SYST:ERR?", "OUTP1 0", "OUTP2 0", "OUTP1?", "OUTP2?",
                        "SYST:ERR?"]


def test_virtual_lab_config_bad_toml_is_located(tmp_path):
    from instruments.virtual.lab import VirtualLabError, load_config

    bad = tmp_path / "v.toml"
    bad.write_text('host = "127.0.0.1"\nseed = = 0\n')
    with pytest.raises(VirtualLabError) as info:
        load_config(bad)
    assert str(info.value).startswith(f"{bad}:2:8: not valid TOML: ")


def test_non_utf8_lab_file_is_a_lab_file_error(tmp_path):
    p = tmp_path / "latin1.toml"
    p.write_bytes(b"# caf\xe9\n[lab]\n")
    with pytest.raises(LabFileError, match=r"latin1\.toml: not a UTF-8 text file"):
        load_lab(p)
