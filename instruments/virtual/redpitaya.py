"""Emulated digitizer: a Red Pitaya STEMlab 125-14 acquisition (SCPI server subset),
input 1 on the SQUID flux-locked-loop output, external trigger from the AWG Sync.

Emulated (Red Pitaya SCPI command list; messages end with CR LF both ways): ``ACQ:RST``,
``ACQ:DEC <n>`` (1, 2, 4, …, 65536; sample rate 125 MSa/s / n), ``ACQ:TRig:DLY <n>``
(samples, −8192 … 8192: the trigger sits at buffer sample 8192 − n), ``ACQ:START``,
``ACQ:STOP``, ``ACQ:TRig <source>`` (EXT_PE/EXT_NE arm for the AWG trigger, NOW fires
at once, DISABLED), ``ACQ:TRig:STAT?`` (WAIT/TD), ``ACQ:TRig:FILL?`` (0/1),
``ACQ:TPOS?``, ``ACQ:DATA:FORMAT BIN|ASCII``, ``ACQ:DATA:Units VOLTS|RAW``,
``ACQ:SOUR<n>:DATA?`` (the 16384-sample buffer: big-endian float32 block in BIN/VOLTS,
int16 block in BIN/RAW, ``{v1,v2,...}`` in ASCII), ``ACQ:BUF:SIZE?``, plus ``*IDN?``
and ``SYST:ERR?`` of the framework. Input range ±1 V (LV jumpers): volts are clipped
there; RAW codes are volts · 8192. No on-board averaging (the board has none for
triggers). The generator outputs are not emulated.

The record of a shot: sample i of the buffer is at t_i = t_trig + (i − (8192 − delay))
· dec/125 MHz (s from the start of the AWG waveform); noise as for the DSOX.
"""

from __future__ import annotations

import numpy as np

from instruments.virtual.sample import FluxJumps
from instruments.virtual.scpi import ScpiError, block, to_choice, to_int
from instruments.virtual.server import VirtualInstrument, command

CLOCK = 125e6
BUFFER = 16384


class RedPitayaAcq(FluxJumps, VirtualInstrument):
    """The emulated Red Pitaya acquisition (see the module docstring)."""

    idn = ("REDPITAYA", "INSTR2020", "0", "01-02")
    terminator = b"\r\n"

    def __init__(self, name: str = "digitizer", faults=None, record=None,
                 noise_rms: float = 0.0, seed: int = 0, **_ignored):
        self.record = record
        self.noise_rms = float(noise_rms)
        self.rng = np.random.default_rng(seed)
        super().__init__(name, faults)

    def reset(self) -> None:
        self.dec = 1
        self.delay = 0
        self.started = False
        self.trigger_src = "DISABLED"
        self.triggered = False
        self.fmt = "ASCII"
        self.units = "VOLTS"
        self.data = np.zeros(BUFFER)
        self.shots = 0
        self.flux_jumps = 0

    @property
    def armed(self) -> bool:
        return self.started and not self.triggered and self.trigger_src.startswith("EXT")

    def times(self) -> np.ndarray:
        return (np.arange(BUFFER) - (BUFFER // 2 - self.delay)) * self.dec / CLOCK

    def on_shot(self, shot) -> None:
        """The AWG's Sync edge on the external trigger input."""
        with self.lock:
            if not self.armed:
                return
            self.shots += 1
            t = shot.trigger_time + self.times()
        v = np.asarray(self.record(shot, t), float) if self.record else np.zeros(BUFFER)
        if self.noise_rms > 0:
            v = v + self.rng.normal(0.0, self.noise_rms, v.size)
        v = self.flux_jump(v)
        with self.lock:
            self.data = np.clip(v, -1.0, 1.0)
            self.triggered = True

    @command("ACQ:RST", query=False)
    def _rst_acq(self, u, s):
        self.reset()

    @command("ACQ:DEC")
    def _dec(self, u, s):
        if u.query:
            return str(self.dec)
        n = to_int(u.params[0] if u.params else None, "decimation")
        if n not in [2 ** k for k in range(17)]:
            raise ScpiError(-222, f"decimation {n} (1, 2, 4, ..., 65536)")
        self.dec = n

    @command("ACQ:TRig:DLY")
    def _dly(self, u, s):
        if u.query:
            return str(self.delay)
        n = to_int(u.params[0] if u.params else None, "trigger delay")
        if not -8192 <= n <= 8192:
            raise ScpiError(-222, f"trigger delay {n} samples")
        self.delay = n

    @command("ACQ:START", query=False)
    def _start(self, u, s):
        self.started = True
        self.triggered = False

    @command("ACQ:STOP", query=False)
    def _stop(self, u, s):
        self.started = False

    @command("ACQ:TRig", query=False)
    def _trig(self, u, s):
        src = to_choice(u.params[0] if u.params else None,
                        ["DISABLED", "NOW", "CH1_PE", "CH1_NE", "CH2_PE", "CH2_NE",
                         "EXT_PE", "EXT_NE", "AWG_PE", "AWG_NE"], "trigger source")
        self.trigger_src = src
        self.triggered = False
        if src == "NOW":
            self.triggered = True

    @command("ACQ:TRig:STAT", query=True)
    def _stat(self, u, s):
        return "TD" if self.triggered or self.trigger_src == "DISABLED" else "WAIT"

    @command("ACQ:TRig:FILL", query=True)
    def _fill(self, u, s):
        return "1" if self.triggered else "0"

    @command("ACQ:TPOS", query=True)
    def _tpos(self, u, s):
        return str(BUFFER // 2 - self.delay)

    @command("ACQ:BUF:SIZE", query=True)
    def _bufsize(self, u, s):
        return str(BUFFER)

    @command("ACQ:DATA:FORMAT")
    def _format(self, u, s):
        if u.query:
            return self.fmt
        self.fmt = to_choice(u.params[0] if u.params else None, ["BIN", "ASCII"], "format")

    @command("ACQ:DATA:Units")
    def _units(self, u, s):
        if u.query:
            return self.units
        self.units = to_choice(u.params[0] if u.params else None, ["VOLTS", "RAW"], "units")

    @command("ACQ:SOUR#:DATA", query=True)
    def _data(self, u, s):
        if s[1] not in (1, 2):
            raise ScpiError(-113, f"no input {s[1]}")
        v = self.data if s[1] == 1 else np.zeros(BUFFER)
        if self.fmt == "ASCII":
            return "{" + ",".join(f"{x:.6f}" for x in v) + "}"
        if self.units == "RAW":
            return block(np.round(v * 8192).astype(">i2").tobytes())
        return block(v.astype(">f4").tobytes())
