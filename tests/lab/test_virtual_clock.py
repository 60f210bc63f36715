"""The virtual lab keeps its own time (issue 9 item 1; issue 13 item 11 for `lab serve`):
a slow host never makes an instrument fail, "no trigger" only when none was sent, the
engine is compiled before the lab is ready, `lab serve` binds first, warns off loopback,
and bounds what a client can make it hold."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from virtual_support import small_config, start_lab

from instruments.virtual.clock import LabClock
from instruments.virtual.lab import DEFAULT_TOML


def test_lab_clock_stands_still_while_busy():
    clock = LabClock()
    t0 = clock.now()
    with clock.busy():
        time.sleep(0.3)
        frozen = clock.now()
        with clock.waiting():
            time.sleep(0.1)
        assert clock.now() - frozen >= 0.09
    assert frozen - t0 < 0.05
    t1 = clock.now()
    time.sleep(0.1)
    assert clock.now() - t1 >= 0.09


class _Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    def send(self, text: str | bytes):
        self.s.sendall(text if isinstance(text, bytes) else text.encode() + b"\n")

    def line(self) -> str:
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf.split(b"\n", 1)
        return out.decode()

    def ask(self, text: str) -> str:
        self.send(text)
        return self.line()


def _arm_awg(awg):
    codes = (np.ones(100) * 1000).astype(">i2").tobytes()
    awg.send(b"DATA:ARB:DAC A," + f"#3{len(codes):03d}".encode() + codes + b"\n")
    awg.send("FUNC ARB;FUNC:ARB A;FUNC:ARB:SRAT 1e8;VOLT 1;TRIG:SOUR BUS;OUTP1 ON")
    assert awg.ask("SYST:ERR?").startswith("+0")


def test_slow_shots_complete_however_long_the_host_takes():
    """Each shot takes 3x the digitizer's no-trigger timeout to simulate (a cold cache on
    a loaded machine): the averaged acquisition still completes."""
    lab = start_lab(small_config(digitize_timeout=1.0))
    try:
        def slow_record(shot, times):
            time.sleep(1.5)
            return np.zeros(times.size)

        lab.digitizer.record = slow_record
        awg, dig = _Client(lab.servers["awg"].port), _Client(lab.servers["digitizer"].port)
        _arm_awg(awg)
        dig.send(":ACQ:TYPE AVER;:ACQ:COUN 3;:TIM:RANG 1e-6;:WAV:POIN 100")
        dig.send(":DIGitize CHANnel1")
        # the two instruments are separate connections: a *TRG that reaches the AWG before
        # the scope has processed :DIGitize is a shot the scope never saw (as on a real bench)
        deadline = time.monotonic() + 60
        while not lab.digitizer.armed:
            assert time.monotonic() < deadline, "the scope never armed"
            time.sleep(0.01)
        for _ in range(3):
            awg.send("*TRG")
        assert dig.ask("*OPC?") == "1"
        assert dig.ask("SYST:ERR?").startswith("+0")
        assert lab.digitizer.shots == 3
    finally:
        lab.stop()


def test_no_trigger_only_when_none_was_sent():
    lab = start_lab(small_config(digitize_timeout=1.0))
    try:
        dig = _Client(lab.servers["digitizer"].port)
        dig.send(":TIM:RANG 1e-6;:WAV:POIN 100")
        t0 = time.monotonic()
        dig.send(":DIGitize CHANnel1")
        dig.send("*OPC?")  # not answered: the scope never triggers
        err = dig.ask("SYST:ERR?")
        assert err.startswith("-200") and "no trigger" in err
        assert time.monotonic() - t0 < 30
    finally:
        lab.stop()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_64_mb_without_a_newline_does_not_grow_the_server():
    lab = start_lab(small_config())
    try:
        c = _Client(lab.servers["digitizer"].port)
        before = _rss_bytes()
        chunk = b"A" * (1 << 20)
        for _ in range(64):
            c.s.sendall(chunk)
        c.send("")  # the line feed that ends the junk
        assert "DSOX" in c.ask("*IDN?")
        grown = _rss_bytes() - before
        assert grown < 16 << 20, f"server grew by {grown / 2**20:.0f} MiB"
        assert c.ask("SYST:ERR?").startswith("-363")
    finally:
        lab.stop()


def _serve(args, config_text=None, tmp_path=None, timeout=120):
    cmd = [sys.executable, "-m", "spinecho", "lab", "serve", *args]
    if config_text is not None:
        cfg = tmp_path / "vlab.toml"
        cfg.write_text(config_text)
        cmd += ["--config", str(cfg)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t0


def _ports(text: str, awg: int, dig: int = 0, lockin: int = 0) -> str:
    return (text.replace("port = 5025", f"port = {awg}").replace("port = 5026", f"port = {dig}")
            .replace("port = 5027", f"port = {lockin}"))


def test_serve_reports_a_port_clash_before_warming_up(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        p, _ = _serve([], _ports(DEFAULT_TOML, busy.getsockname()[1]), tmp_path)
    finally:
        busy.close()
    assert p.returncode == 2
    assert "cannot bind" in p.stderr and "Traceback" not in p.stderr
    assert "warming up" not in p.stdout


@pytest.mark.parametrize("host, warns", [("0.0.0.0", True), ("::", True),
                                         ("127.0.0.1", False)])
def test_serve_says_ready_and_warns_off_loopback(tmp_path, host, warns):
    p, _ = _serve(["--host", host, "--duration", "0.3"], _ports(DEFAULT_TOML, 0), tmp_path)
    assert p.returncode == 0, p.stderr
    assert "ready after" in p.stdout
    assert ("WARNING" in p.stderr and "not loopback" in p.stderr) == warns


def test_lab_is_ready_only_with_both_kernels_compiled():
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        from virtual_support import small_config, start_lab
        from echo.engines import _kernels
        lab = start_lab(small_config())
        lab.stop()
        print(len(_kernels.run_ops.signatures), len(_kernels.run_ops_serial.signatures))
    """)
    here = os.path.dirname(__file__)
    out = subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True,
                         timeout=600, check=True).stdout.split()
    assert [int(x) >= 1 for x in out] == [True, True]
