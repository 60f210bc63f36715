"""Emulated digitizer: a Keysight InfiniiVision oscilloscope (DSOX1000/2000/3000-X SCPI
subset), channel 1 connected to the SQUID flux-locked-loop output, triggered by the AWG
sync/marker output (``:TRIGger:EDGE:SOURce EXTernal``).

Emulated (InfiniiVision Programmer's Guide):

* Acquisition: ``:ACQuire:TYPE NORMal|AVERage|HRESolution|PEAK``, ``:ACQuire:COUNt n``
  (averages, 2 … 65536), ``:ACQuire:SRATe?``, ``:ACQuire:POINts?``.
* Time base: ``:TIMebase:RANGe`` (full screen, s), ``:TIMebase:SCALe`` (= range/10),
  ``:TIMebase:POSition`` (trigger → reference, s), ``:TIMebase:REFerence LEFT|CENTer|RIGHt``.
* Vertical: ``:CHANnel<n>:RANGe`` (8 divisions, V), ``:SCALe``, ``:OFFSet``, ``:COUPling``,
  ``:DISPlay``, ``:PROBe``.
* Run control: ``:SINGle`` (arm for one acquisition — with TYPE AVERage, COUNt triggers),
  ``:RUN``, ``:STOP``, ``:DIGitize [CHANnel<n>]`` (acquire now: it completes when the
  AWG fires; if the AWG does not fire within ``digitize_timeout`` s it stays armed),
  ``:TER?`` (trigger event register, read-and-clear), ``:OPERegister:CONDition?``
  (bit 3 = 8 while running/armed), ``*OPC?`` waits until the armed acquisition is done
  (bounded by ``digitize_timeout`` s of lab time without a trigger,
  :mod:`instruments.virtual.clock`).
* Waveform transfer: ``:WAVeform:SOURce CHANnel<n>``, ``:WAVeform:FORMat WORD|BYTE|ASCii``,
  ``:WAVeform:BYTeorder MSBFirst|LSBFirst``, ``:WAVeform:UNSigned``, ``:WAVeform:POINts``,
  ``:WAVeform:POINts:MODE NORMal|MAXimum|RAW``, ``:WAVeform:PREamble?`` (format, type,
  points, count, xincrement, xorigin, xreference, yincrement, yorigin, yreference),
  ``:WAVeform:DATA?`` (IEEE 488.2 block; WORD = 16-bit, voltage =
  (code − yreference)·yincrement + yorigin, codes clipped to the screen).

The record of a shot: ``points`` samples at t_i = t_trig + xorigin + i·xincrement (s from
the start of the AWG waveform), with xincrement = range/points and xorigin = position −
(0, ½, 1)·range for reference LEFT/CENTer/RIGHt; computed by the lab's ``record``
callback (the sample physics) plus white noise of ``noise_rms`` V per shot. Averaging
divides the noise by √count (shots are independent).
"""

from __future__ import annotations

import threading

import numpy as np

from instruments.virtual.sample import FluxJumps
from instruments.virtual.scpi import (
    ScpiError,
    block,
    fmt,
    to_bool,
    to_choice,
    to_float,
    to_int,
)
from instruments.virtual.server import VirtualInstrument, command

MAX_POINTS = 4_000_000


class _Chan:
    def __init__(self):
        self.range = 8.0
        self.offset = 0.0
        self.coupling = "DC"
        self.display = True
        self.probe = 1.0


class KeysightDSOX(FluxJumps, VirtualInstrument):
    """The emulated oscilloscope (see the module docstring)."""

    idn = ("KEYSIGHT TECHNOLOGIES", "DSOX1102G", "CN00000001", "01.20.2019061038")

    def __init__(self, name: str = "digitizer", faults=None, record=None,
                 noise_rms: float = 0.0, seed: int = 0, digitize_timeout: float = 5.0,
                 max_sample_rate: float = 5e9, max_points: int = MAX_POINTS):
        self.max_points = int(max_points)
        #: ``record(shot, times) -> volts`` (noise-free) — the lab physics.
        self.record = record
        self.noise_rms = float(noise_rms)
        self.rng = np.random.default_rng(seed)
        self.digitize_timeout = float(digitize_timeout)
        self.max_sample_rate = float(max_sample_rate)
        self.done = threading.Condition()
        self._in_flight = 0
        super().__init__(name, faults)

    def reset(self) -> None:
        self.chan = {n: _Chan() for n in (1, 2, 3, 4)}
        self.acq_type = "NORMAL"
        self.acq_count = 8
        self.tb_range = 1e-3
        self.tb_position = 0.0
        self.tb_reference = "CENTER"
        self.trig_source = "EXTERNAL"
        self.trig_level = 1.0
        self.sweep = "NORMAL"
        self.slope = "POSITIVE"
        self.pending = False
        self.wav_source = 1
        self.wav_format = "BYTE"
        self.byteorder = "MSBFIRST"
        self.unsigned = True
        self.points = 1000
        self.points_mode = "NORMAL"
        self.armed = False
        self.ter = False
        self._sum: np.ndarray | None = None
        self._n = 0
        self.data: np.ndarray | None = None  # last completed record (V), channel wav_source
        self.shots = 0
        self.flux_jumps = 0

    # ----------------------------------------------------------------- physics
    def times(self) -> np.ndarray:
        """Record sample times relative to the trigger (s)."""
        xinc, xorg = self._x()
        return xorg + np.arange(self.points) * xinc

    def _x(self) -> tuple[float, float]:
        xinc = self.tb_range / self.points
        frac = {"LEFT": 0.0, "CENTER": 0.5, "RIGHT": 1.0}[self.tb_reference]
        return xinc, self.tb_position - frac * self.tb_range

    def on_shot(self, shot) -> None:
        """Called by the AWG for every played waveform period (the trigger input).
        The simulation of the shot is virtual time: a waiting ``*OPC?`` does not time
        out while a shot is being computed."""
        with self.lock:
            if not self.armed:
                return
            t = shot.trigger_time + self.times()
            self._in_flight += 1
        try:
            v = np.asarray(self.record(shot, t), float) if self.record else np.zeros(t.size)
        finally:
            with self.lock:
                self._in_flight -= 1
        with self.lock:
            self.shots += 1
            if not self.armed:
                return
            if self.noise_rms > 0:
                v = v + self.rng.normal(0.0, self.noise_rms, v.size)
            v = self.flux_jump(v)
            self._sum = v if self._sum is None else self._sum + v
            self._n += 1
            need = self.acq_count if self.acq_type == "AVERAGE" else 1
            if self._n >= need:
                self.data = self._sum / self._n
                self._sum, self._n = None, 0
                self.ter = True
                self.armed = False
        with self.done:
            self.done.notify_all()

    def _arm(self) -> None:
        self.armed = True
        self._sum, self._n = None, 0
        self.ter = False

    def wait_complete(self) -> None:
        """Wait for the armed acquisition. It completes when its last shot has been
        simulated, however long the host takes (:mod:`instruments.virtual.clock`: lab
        time stands still while a shot is computed). Only ``digitize_timeout`` s of lab
        time with no shot arriving (no trigger sent) give up: then ``*OPC?`` is not
        answered (the client times out, as with a real scope that never triggers) and
        -200 is queued."""
        clock = self.clock
        shots = self.shots
        deadline = clock.now() + self.digitize_timeout
        self.lock.release()
        try:
            with clock.waiting(), self.done:
                while self.armed:
                    if self.shots != shots or self._in_flight:
                        shots = self.shots  # a trigger arrived: wait afresh for the next
                        deadline = clock.now() + self.digitize_timeout
                    elif clock.now() >= deadline:
                        break
                    self.done.wait(0.05)
        finally:
            self.lock.acquire()
        if self.armed:
            raise ScpiError(-200, f"acquisition not complete after {self.digitize_timeout:g} s"
                                  " of lab time (no trigger)")

    # ------------------------------------------------------------------- acquire
    @command(":ACQuire:TYPE")
    def _acq_type(self, u, s):
        if u.query:
            return {"NORMAL": "NORM", "AVERAGE": "AVER", "HRESOLUTION": "HRES",
                    "PEAK": "PEAK"}[self.acq_type]
        self.acq_type = to_choice(u.params[0] if u.params else None,
                                  ["NORMal", "AVERage", "HRESolution", "PEAK"], "acquire type")

    @command(":ACQuire:COUNt")
    def _acq_count(self, u, s):
        if u.query:
            return str(self.acq_count)
        n = to_int(u.params[0] if u.params else None, "average count")
        if not 2 <= n <= 65536:
            raise ScpiError(-222, f"average count {n} outside 2..65536")
        self.acq_count = n

    @command(":ACQuire:SRATe", query=True)
    def _acq_srate(self, u, s):
        return fmt(self.points / self.tb_range)

    @command(":ACQuire:POINts", query=True)
    def _acq_points(self, u, s):
        return str(self.points)

    @command(":TIMebase:RANGe")
    def _tb_range(self, u, s):
        if u.query:
            return fmt(self.tb_range)
        v = to_float(u.params[0] if u.params else None, "time range", ("S",))
        if not 1e-9 <= v <= 500.0:
            raise ScpiError(-222, f"time base range {v:g} s")
        self.tb_range = v

    @command(":TIMebase:SCALe")
    def _tb_scale(self, u, s):
        if u.query:
            return fmt(self.tb_range / 10)
        v = to_float(u.params[0] if u.params else None, "time scale", ("S",))
        if not 1e-10 <= v <= 50.0:
            raise ScpiError(-222, f"time base scale {v:g} s/div")
        self.tb_range = 10 * v

    @command(":TIMebase:POSition")
    def _tb_pos(self, u, s):
        if u.query:
            return fmt(self.tb_position)
        self.tb_position = to_float(u.params[0] if u.params else None, "position", ("S",))

    @command(":TIMebase:REFerence")
    def _tb_ref(self, u, s):
        if u.query:
            return self.tb_reference[:4] if self.tb_reference != "LEFT" else "LEFT"
        self.tb_reference = to_choice(u.params[0] if u.params else None,
                                      ["LEFT", "CENTer", "RIGHt"], "reference")

    @command(":TIMebase:MODE")
    def _tb_mode(self, u, s):
        if u.query:
            return "MAIN"
        to_choice(u.params[0] if u.params else None, ["MAIN", "WINDow", "XY", "ROLL"])

    # ------------------------------------------------------------------ channels
    def _ch(self, s) -> _Chan:
        if s[0] not in self.chan:
            raise ScpiError(-113, f"no channel {s[0]}")
        return self.chan[s[0]]

    @command(":CHANnel#:RANGe")
    def _ch_range(self, u, s):
        c = self._ch(s)
        if u.query:
            return fmt(c.range)
        v = to_float(u.params[0] if u.params else None, "range", ("V",))
        if not 8e-3 <= v <= 400.0:
            raise ScpiError(-222, f"vertical range {v:g} V")
        c.range = v

    @command(":CHANnel#:SCALe")
    def _ch_scale(self, u, s):
        c = self._ch(s)
        if u.query:
            return fmt(c.range / 8)
        v = to_float(u.params[0] if u.params else None, "scale", ("V",))
        if not 1e-3 <= v <= 50.0:
            raise ScpiError(-222, f"vertical scale {v:g} V/div")
        c.range = 8 * v

    @command(":CHANnel#:OFFSet")
    def _ch_offset(self, u, s):
        c = self._ch(s)
        if u.query:
            return fmt(c.offset)
        c.offset = to_float(u.params[0] if u.params else None, "offset", ("V",))

    @command(":CHANnel#:COUPling")
    def _ch_coupling(self, u, s):
        c = self._ch(s)
        if u.query:
            return c.coupling
        c.coupling = to_choice(u.params[0] if u.params else None, ["AC", "DC"], "coupling")

    @command(":CHANnel#:DISPlay")
    def _ch_display(self, u, s):
        c = self._ch(s)
        if u.query:
            return "1" if c.display else "0"
        c.display = to_bool(u.params[0] if u.params else None, "display")

    @command(":CHANnel#:PROBe")
    def _ch_probe(self, u, s):
        c = self._ch(s)
        if u.query:
            return fmt(c.probe)
        c.probe = to_float(u.params[0] if u.params else None, "probe")

    # ------------------------------------------------------------------- trigger
    @command(":TRIGger[:EDGE]:SOURce")
    def _trig_source(self, u, s):
        if u.query:
            return "EXT" if self.trig_source == "EXTERNAL" else self.trig_source
        self.trig_source = to_choice(u.params[0] if u.params else None,
                                     ["EXTernal", "CHANnel1", "CHANnel2", "CHANnel3",
                                      "CHANnel4", "LINE", "WGEN"], "trigger source")

    @command(":TRIGger[:EDGE]:LEVel")
    def _trig_level(self, u, s):
        if u.query:
            return fmt(self.trig_level)
        self.trig_level = to_float(u.params[0] if u.params else None, "trigger level", ("V",))

    @command(":TRIGger[:EDGE]:SLOPe")
    def _trig_slope(self, u, s):
        if u.query:
            return self.slope[:3]
        self.slope = to_choice(u.params[0] if u.params else None,
                               ["POSitive", "NEGative", "EITHer", "ALTernate"], "slope")

    @command(":TRIGger:SWEep")
    def _trig_sweep(self, u, s):
        if u.query:
            return self.sweep[:4]
        self.sweep = to_choice(u.params[0] if u.params else None, ["AUTO", "NORMal"], "sweep")

    @command(":TRIGger:MODE")
    def _trig_mode(self, u, s):
        if u.query:
            return "EDGE"
        if to_choice(u.params[0] if u.params else None, ["EDGE", "GLITch", "PATTern"]) \
                != "EDGE":
            raise ScpiError(-221, "only EDGE triggering is emulated")

    # --------------------------------------------------------------- run control
    @command(":SINGle", query=False)
    def _single(self, u, s):
        self._arm()

    @command(":RUN", query=False)
    def _run(self, u, s):
        self._arm()

    @command(":STOP", query=False)
    def _stop(self, u, s):
        self.armed = False

    @command(":DIGitize", query=False)
    def _digitize(self, u, s):
        # The scope returns at once but executes no further command before the
        # acquisition is complete (see before_unit), as the real one does.
        if u.params:
            src = to_choice(u.params[0], ["CHANnel1", "CHANnel2", "CHANnel3", "CHANnel4"],
                            "digitize source")
            self.wav_source = int(src[-1])
        self._arm()
        self.pending = True

    def before_unit(self, unit) -> None:
        if self.pending:
            self.pending = False
            try:
                self.wait_complete()
            except ScpiError as err:
                self.push_error(err)

    @command(":AER", query=True)
    def _aer(self, u, s):
        return "1" if self.armed else "0"

    @command(":TER", query=True)
    def _ter(self, u, s):
        value, self.ter = self.ter, False
        return "+1" if value else "+0"

    @command(":OPERegister:CONDition", query=True)
    def _oper_cond2(self, u, s):
        return f"+{8 if self.armed else 0}"

    # ------------------------------------------------------------------ waveform
    @command(":WAVeform:SOURce")
    def _wav_source(self, u, s):
        if u.query:
            return f"CHAN{self.wav_source}"
        p = (u.params[0] if u.params else "").strip().upper()
        src = to_choice(p, ["CHANnel1", "CHANnel2", "CHANnel3", "CHANnel4"], "source") \
            if not p.isdigit() else f"CHANNEL{p}"
        self.wav_source = int(src[-1])

    @command(":WAVeform:FORMat")
    def _wav_format(self, u, s):
        if u.query:
            return {"WORD": "WORD", "BYTE": "BYTE", "ASCII": "ASC"}[self.wav_format]
        self.wav_format = to_choice(u.params[0] if u.params else None,
                                    ["WORD", "BYTE", "ASCii"], "waveform format")

    @command(":WAVeform:BYTeorder")
    def _wav_border(self, u, s):
        if u.query:
            return self.byteorder[:4]
        self.byteorder = to_choice(u.params[0] if u.params else None,
                                   ["MSBFirst", "LSBFirst"], "byte order")

    @command(":WAVeform:UNSigned")
    def _wav_unsigned(self, u, s):
        if u.query:
            return "1" if self.unsigned else "0"
        self.unsigned = to_bool(u.params[0] if u.params else None, "unsigned")

    @command(":WAVeform:POINts")
    def _wav_points(self, u, s):
        if u.query:
            return str(self.points)
        n = to_int(u.params[0] if u.params else None, "points")
        if not 100 <= n <= self.max_points:
            raise ScpiError(-222, f"points {n} outside 100..{self.max_points}")
        if n / self.tb_range > self.max_sample_rate * (1 + 1e-9):
            raise ScpiError(-222, f"{n} points in {self.tb_range:g} s exceed "
                                  f"{self.max_sample_rate:g} Sa/s")
        self.points = n
        self.data = None

    @command(":WAVeform:POINts:MODE")
    def _wav_points_mode(self, u, s):
        if u.query:
            return self.points_mode[:4] if self.points_mode != "MAXIMUM" else "MAX"
        self.points_mode = to_choice(u.params[0] if u.params else None,
                                     ["NORMal", "MAXimum", "RAW"], "points mode")

    def _y(self) -> tuple[float, float, int]:
        c = self.chan[self.wav_source]
        if self.wav_format == "BYTE":
            yinc = c.range / 256.0
            yref = 128
        else:
            yinc = c.range / 65536.0
            yref = 32768
        return yinc, c.offset, yref

    @command(":WAVeform:PREamble", query=True)
    def _preamble(self, u, s):
        xinc, xorg = self._x()
        yinc, yorg, yref = self._y()
        fmt_code = {"BYTE": 0, "WORD": 1, "ASCII": 4}[self.wav_format]
        type_code = {"NORMAL": 0, "PEAK": 1, "AVERAGE": 2, "HRESOLUTION": 3}[self.acq_type]
        count = self.acq_count if self.acq_type == "AVERAGE" else 1
        return ",".join([f"+{fmt_code}", f"+{type_code}", f"+{self.points}", f"+{count}",
                         fmt(xinc), fmt(xorg), "+0", fmt(yinc), fmt(yorg), f"+{yref}"])

    @command(":WAVeform:DATA", query=True)
    def _data(self, u, s):
        if self.data is None:
            raise ScpiError(-230, "no acquired data (arm with :SINGle and trigger first)")
        v = self.data
        if self.wav_format == "ASCII":
            return block(",".join(f"{x:+.6E}" for x in v).encode())
        yinc, yorg, yref = self._y()
        if self.wav_format == "BYTE":
            codes = np.clip(np.round((v - yorg) / yinc) + yref, 0, 255)
            out = codes.astype(np.uint8) if self.unsigned else (codes - 128).astype(np.int8)
            return block(out.tobytes())
        codes = np.clip(np.round((v - yorg) / yinc) + yref, 0, 65535)
        if self.unsigned:
            dt = ">u2" if self.byteorder == "MSBFIRST" else "<u2"
            out = codes.astype(dt)
        else:
            dt = ">i2" if self.byteorder == "MSBFIRST" else "<i2"
            out = (codes - 32768).astype(dt)
        return block(out.tobytes())
