"""Emulated arbitrary waveform generator: a Keysight 33522B (33500B series, 2 channels).

Emulated facts (33500B Series Operating and Service Guide, SCPI reference):

* 16-bit DAC, arbitrary data as signed codes −32767 … +32767 (``DATA:ARBitrary:DAC``),
  or floats −1 … +1 (``DATA:ARBitrary``); ASCII lists or IEEE 488.2 binary blocks
  (int16 / float32), byte order from ``FORMat:BORDer NORMal`` (big-endian, default) or
  ``SWAPped`` (little-endian).
* Arb length 8 … 1 000 000 points per waveform (standard memory), sample rate
  1 µSa/s … 250 MSa/s (``FUNCtion:ARBitrary:SRATe``), amplitude up to 10 Vpp into 50 Ω
  (20 Vpp into high-Z, ``OUTPut:LOAD INFinity``), |offset| + Vpp/2 ≤ 5 V (50 Ω).
* Output volts = offset + code/32767 · Vpp/2 (the ``VOLTage`` amplitude is peak to peak
  for the full code range). ``FUNCtion:ARBitrary:FILTer STEP`` holds each sample
  (piecewise constant); the virtual lab always plays the held samples (it does not model
  the NORMal interpolation filter) and says so.
* Sequences: ``DATA:SEQuence #<block>`` with ``"name","arb",repeat,play,marker,point,...``
  (play control once | onceWaitTrig | repeat | repeatInf | repeatTilTrig; marker mode
  maintain | lowAtStart | highAtStart | highAtStartGoLow), selected with
  ``FUNCtion:ARBitrary <name>``.
* Trigger: ``TRIGger:SOURce BUS`` + ``*TRG`` (or ``TRIGger[1|2]`` immediate), burst
  ``BURSt:STATe ON`` / ``BURSt:MODE TRIGgered`` / ``BURSt:NCYCles n``.
* Sync/marker: ``OUTPut:SYNC``, ``OUTPut:SYNC:SOURce CH1|CH2``, ``OUTPut:SYNC:MODE
  NORMal|CARRier|MARKer``, ``[SOURce:]MARKer:POINt``: the digitizer trigger time of a shot
  is the marker point (sync mode MARKer) or the start of the waveform.

Every played shot (one waveform period) is sent to the ``listeners`` as a :class:`Shot`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from instruments.virtual.scpi import (
    ScpiError,
    fmt,
    to_bool,
    to_choice,
    to_float,
    to_int,
    unquote,
)
from instruments.virtual.server import VirtualInstrument, command

DAC_MAX = 32767
MIN_POINTS = 8
MAX_POINTS = 1_000_000
MAX_SRATE = 250e6
MIN_SRATE = 1e-6


@dataclass(frozen=True)
class Shot:
    """One played waveform period: ``volts`` (V, one per sample at ``sample_rate``),
    the AWG ``channel``, ``trigger_time`` (s from the start of the waveform at which the
    sync/marker output fires) and ``label`` (arb name)."""

    channel: int
    volts: np.ndarray
    sample_rate: float
    trigger_time: float
    label: str


@dataclass
class _Segment:
    arb: str
    repeat: int
    play: str
    marker: str
    point: int


class _Channel:
    def __init__(self):
        self.function = "SIN"
        self.frequency = 1e3
        self.vpp = 0.1
        self.offset = 0.0
        self.output = False
        self.load = 50.0
        self.arb = ""
        self.srate = 40e3
        self.filter = "NORMAL"
        self.burst = False
        self.burst_mode = "TRIGGERED"
        self.ncycles = 1
        self.trig_source = "IMMEDIATE"
        self.trig_delay = 0.0
        self.marker_point = 0
        self.seq_pos = 0
        self.shots = 0


class Keysight33522B(VirtualInstrument):
    """The emulated 33522B (see the module docstring for what is emulated)."""

    idn = ("Agilent Technologies", "33522B", "MY00000000", "3.05-1.19-2.00-52-00")

    def __init__(self, name: str = "awg", faults=None, max_points: int = MAX_POINTS,
                 max_sample_rate: float = MAX_SRATE):
        self.max_points = int(max_points)
        self.max_sample_rate = float(max_sample_rate)
        # input bounds: a float32 block of the whole memory, or an ASCII list of it
        self.max_block = 4 * self.max_points + 1024
        self.max_message = 16 * self.max_points + (1 << 20)
        self.listeners: list = []
        #: (time.monotonic() s, channel) of every shot played with the output on: the
        #: shot spacing a duty-cycle test measures
        self.shot_times: list[tuple[float, int]] = []
        super().__init__(name, faults)

    def reset(self) -> None:
        self.ch = {1: _Channel(), 2: _Channel()}
        self.arbs: dict[int, dict[str, np.ndarray]] = {1: {}, 2: {}}
        self.sequences: dict[int, dict[str, list[_Segment]]] = {1: {}, 2: {}}
        self.border = "NORMAL"
        self.sync = True
        self.sync_source = 1
        self.sync_mode = "NORMAL"

    # ------------------------------------------------------------------ helpers
    def _c(self, s) -> _Channel:
        n = s[0]
        if n not in self.ch:
            raise ScpiError(-113, f"no channel {n}")
        return self.ch[n]

    def output_on(self) -> bool:
        """True if any channel output is on (tests of ``shutdown()`` read this)."""
        with self.lock:
            return any(c.output for c in self.ch.values())

    def _check_amplitude(self, c: _Channel, vpp: float, offset: float) -> None:
        limit = 10.0 if c.load != float("inf") else 20.0
        if not 1e-3 <= vpp <= limit:
            raise ScpiError(-222, f"amplitude {vpp:g} Vpp outside 0.001..{limit:g}")
        if abs(offset) + vpp / 2 > limit / 2 + 1e-12:
            raise ScpiError(-221, f"offset {offset:g} V + amplitude {vpp:g} Vpp exceed "
                                  f"±{limit / 2:g} V")

    # ------------------------------------------------------------- function/volt
    @command("[SOURce#:]FUNCtion[:SHAPe]")
    def _function(self, u, s):
        c = self._c(s)
        if u.query:
            return c.function[:4] if c.function != "ARB" else "ARB"
        c.function = to_choice(u.params[0] if u.params else None,
                               ["SINusoid", "SQUare", "TRIangle", "RAMP", "PULSe", "PRBS",
                                "NOISe", "ARB", "DC"], "function")
        if c.function == "SINUSOID":
            c.function = "SIN"

    @command("[SOURce#:]FREQuency")
    def _frequency(self, u, s):
        c = self._c(s)
        if u.query:
            return fmt(c.frequency)
        c.frequency = to_float(u.params[0] if u.params else None, "frequency", ("HZ",))

    @command("[SOURce#:]VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _voltage(self, u, s):
        c = self._c(s)
        if u.query:
            return fmt(c.vpp)
        v = to_float(u.params[0] if u.params else None, "amplitude", ("VPP", "V"))
        self._check_amplitude(c, v, c.offset)
        c.vpp = v

    @command("[SOURce#:]VOLTage[:LEVel][:IMMediate]:OFFSet")
    def _offset(self, u, s):
        c = self._c(s)
        if u.query:
            return fmt(c.offset)
        v = to_float(u.params[0] if u.params else None, "offset", ("V",))
        self._check_amplitude(c, c.vpp, v)
        c.offset = v

    @command("[SOURce#:]VOLTage:UNIT")
    def _vunit(self, u, s):
        if u.query:
            return "VPP"
        if to_choice(u.params[0] if u.params else None, ["VPP", "VRMS", "DBM"]) != "VPP":
            raise ScpiError(-221, "only VPP is emulated")

    @command("OUTPut#[:STATe]")
    def _output(self, u, s):
        c = self._c(s)
        if u.query:
            return "1" if c.output else "0"
        c.output = to_bool(u.params[0] if u.params else None, "output")
        if c.output and c.trig_source == "IMMEDIATE" and not c.burst:
            pass  # continuous output: shots are generated on demand (see continuous_shot)

    @command("OUTPut#:LOAD")
    def _load(self, u, s):
        c = self._c(s)
        if u.query:
            return fmt(c.load) if c.load != float("inf") else "+9.9E+37"
        p = (u.params[0] if u.params else "").strip().upper()
        c.load = float("inf") if p in ("INF", "INFINITY") else to_float(p, "load", ("OHM",))

    @command("OUTPut#:SYNC[:STATe]")
    def _sync(self, u, s):
        if u.query:
            return "1" if self.sync else "0"
        self.sync = to_bool(u.params[0] if u.params else None, "sync")

    @command("OUTPut#:SYNC:SOURce")
    def _sync_source(self, u, s):
        if u.query:
            return f"CH{self.sync_source}"
        p = (u.params[0] if u.params else "").strip().upper()
        if p not in ("CH1", "CH2"):
            raise ScpiError(-224, f"sync source {p!r}")
        self.sync_source = int(p[2])

    @command("OUTPut#:SYNC:MODE")
    def _sync_mode(self, u, s):
        if u.query:
            return self.sync_mode[:4]
        self.sync_mode = to_choice(u.params[0] if u.params else None,
                                   ["NORMal", "CARRier", "MARKer"], "sync mode")

    @command("[SOURce#:]MARKer:POINt")
    def _marker_point(self, u, s):
        c = self._c(s)
        if u.query:
            return str(c.marker_point)
        c.marker_point = to_int(u.params[0] if u.params else None, "marker point")

    # ---------------------------------------------------------------------- arb
    @command("FORMat:BORDer")
    def _border(self, u, s):
        if u.query:
            return "NORM" if self.border == "NORMAL" else "SWAP"
        self.border = to_choice(u.params[0] if u.params else None, ["NORMal", "SWAPped"],
                                "byte order")

    def _store(self, n: int, name: str, codes: np.ndarray) -> None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,11}", name):
            raise ScpiError(-224, f"arb name {name!r} (letter, then up to 11 letters, "
                                  "digits or _)")
        if codes.size < MIN_POINTS:
            raise ScpiError(-222, f"{codes.size} points < minimum {MIN_POINTS}")
        if codes.size > self.max_points:
            raise ScpiError(-222, f"{codes.size} points > memory {self.max_points}")
        total = sum(a.size for k, a in self.arbs[n].items() if k != name) + codes.size
        if total > self.max_points:
            raise ScpiError(-222, f"volatile memory full ({total} > {self.max_points} points)")
        self.arbs[n][name.upper()] = codes.astype(np.int16)

    @command("[SOURce#:]DATA:ARBitrary#:DAC", query=False)
    def _data_dac(self, u, s):
        n = s[0] if s[0] != 1 else s[2]
        if len(u.params) < 2:
            raise ScpiError(-109, "DATA:ARB:DAC needs a name and data")
        name = unquote(u.params[0], "arb name")
        if len(u.params) == 2 and isinstance(u.params[1], bytes):
            raw = u.params[1]
            if len(raw) % 2:
                raise ScpiError(-161, f"odd block length {len(raw)} for int16 data")
            dt = ">i2" if self.border == "NORMAL" else "<i2"
            codes = np.frombuffer(raw, dtype=dt).astype(np.int32)
        else:
            if any(isinstance(p, bytes) for p in u.params[1:]):
                raise ScpiError(-104, "mixed block and ASCII data")
            codes = np.array([to_int(p, "DAC code") for p in u.params[1:]], dtype=np.int32)
        if codes.size and np.max(np.abs(codes)) > DAC_MAX:
            bad = int(codes[np.argmax(np.abs(codes))])
            raise ScpiError(-222, f"DAC code {bad} outside ±{DAC_MAX}")
        self._store(n, name, codes)

    @command("[SOURce#:]DATA:ARBitrary#", query=False)
    def _data_arb(self, u, s):
        n = s[0] if s[0] != 1 else s[2]
        if len(u.params) < 2:
            raise ScpiError(-109, "DATA:ARB needs a name and data")
        name = unquote(u.params[0], "arb name")
        if len(u.params) == 2 and isinstance(u.params[1], bytes):
            raw = u.params[1]
            if len(raw) % 4:
                raise ScpiError(-161, f"block length {len(raw)} not a multiple of 4 (float32)")
            dt = ">f4" if self.border == "NORMAL" else "<f4"
            vals = np.frombuffer(raw, dtype=dt).astype(float)
        else:
            vals = np.array([to_float(p, "arb value") for p in u.params[1:]])
        if vals.size and (not np.all(np.isfinite(vals)) or np.max(np.abs(vals)) > 1.0):
            raise ScpiError(-222, "arb values must be within -1..+1")
        self._store(n, name, np.round(vals * DAC_MAX).astype(np.int32))

    @command("[SOURce#:]DATA:SEQuence", query=False)
    def _data_seq(self, u, s):
        n = s[0]
        if len(u.params) != 1 or not isinstance(u.params[0], bytes):
            raise ScpiError(-104, "DATA:SEQuence expects one definite-length block")
        text = u.params[0].decode("latin-1")
        items = [t.strip() for t in text.split(",")]
        if len(items) < 6:
            raise ScpiError(-161, "sequence block: name then groups of "
                                  "arb,repeat,play,marker,point")
        name = items[0].strip("\"'")
        items = items[1:]
        if len(items) % 5:
            raise ScpiError(-161, "sequence block: entries need 5 fields "
                                  "(arb,repeat,play,marker,point)")
        segs = []
        for k in range(0, len(items), 5):
            arb = items[k].strip("\"'").upper()
            if arb not in self.arbs[n]:
                raise ScpiError(-224, f"sequence {name}: unknown arb {items[k]}")
            rep = to_int(items[k + 1], "repeat")
            play = to_choice(items[k + 2], ["once", "onceWaitTrig", "repeat", "repeatInf",
                                            "repeatTilTrig"], "play control")
            marker = to_choice(items[k + 3], ["maintain", "lowAtStart", "highAtStart",
                                              "highAtStartGoLow"], "marker mode")
            point = to_int(items[k + 4], "marker point")
            segs.append(_Segment(arb, max(1, rep), play, marker, point))
        if not segs:
            raise ScpiError(-161, "empty sequence")
        self.sequences[n][name.upper()] = segs

    @command("[SOURce#:]FUNCtion:ARBitrary")
    def _func_arb(self, u, s):
        c = self._c(s)
        n = s[0]
        if u.query:
            return f'"{c.arb}"'
        name = unquote(u.params[0] if u.params else None, "arb name").upper()
        if name not in self.arbs[n] and name not in self.sequences[n]:
            raise ScpiError(-224, f"no arb or sequence named {name!r} in volatile memory")
        c.arb = name
        c.seq_pos = 0

    @command("[SOURce#:]FUNCtion:ARBitrary:SRATe")
    def _srate(self, u, s):
        c = self._c(s)
        if u.query:
            return fmt(c.srate)
        v = to_float(u.params[0] if u.params else None, "sample rate", ("SA/S", "HZ"))
        if not MIN_SRATE <= v <= self.max_sample_rate:
            raise ScpiError(-222, f"sample rate {v:g} Sa/s outside "
                                  f"{MIN_SRATE:g}..{self.max_sample_rate:g}")
        c.srate = v

    @command("[SOURce#:]FUNCtion:ARBitrary:FILTer")
    def _filter(self, u, s):
        c = self._c(s)
        if u.query:
            return c.filter[:4]
        c.filter = to_choice(u.params[0] if u.params else None, ["NORMal", "STEP", "OFF"])

    @command("[SOURce#:]FUNCtion:ARBitrary:POINts", query=True)
    def _points(self, u, s):
        c = self._c(s)
        return str(self.arbs[s[0]][c.arb].size) if c.arb in self.arbs[s[0]] else "0"

    @command("[SOURce#:]DATA:VOLatile:CLEar", query=False)
    def _vol_clear(self, u, s):
        self.arbs[s[0]].clear()
        self.sequences[s[0]].clear()
        self._c(s).arb = ""

    @command("[SOURce#:]DATA:VOLatile:CATalog", query=True)
    def _vol_cat(self, u, s):
        names = list(self.arbs[s[0]]) + list(self.sequences[s[0]])
        return ",".join(f'"{n}"' for n in names) if names else '""'

    @command("[SOURce#:]DATA:VOLatile:FREE", query=True)
    def _vol_free(self, u, s):
        return str(self.max_points - sum(a.size for a in self.arbs[s[0]].values()))

    # ------------------------------------------------------------- burst/trigger
    @command("[SOURce#:]BURSt:STATe")
    def _burst(self, u, s):
        c = self._c(s)
        if u.query:
            return "1" if c.burst else "0"
        c.burst = to_bool(u.params[0] if u.params else None, "burst")

    @command("[SOURce#:]BURSt:MODE")
    def _burst_mode(self, u, s):
        c = self._c(s)
        if u.query:
            return c.burst_mode[:4]
        c.burst_mode = to_choice(u.params[0] if u.params else None,
                                 ["TRIGgered", "GATed"], "burst mode")

    @command("[SOURce#:]BURSt:NCYCles")
    def _ncycles(self, u, s):
        c = self._c(s)
        if u.query:
            return fmt(c.ncycles)
        p = (u.params[0] if u.params else "").strip().upper()
        n = 100_000_000 if p in ("INF", "INFINITY") else to_int(p, "burst count")
        if not 1 <= n <= 100_000_000:
            raise ScpiError(-222, f"burst count {n}")
        c.ncycles = n

    @command("TRIGger#:SOURce")
    def _trig_source(self, u, s):
        c = self._c(s)
        if u.query:
            return c.trig_source[:3]
        c.trig_source = to_choice(u.params[0] if u.params else None,
                                  ["IMMediate", "EXTernal", "TIMer", "BUS"], "trigger source")

    @command("TRIGger#:SLOPe")
    def _trig_slope(self, u, s):
        c = self._c(s)
        if u.query:
            return getattr(c, "slope", "POS")
        c.slope = to_choice(u.params[0] if u.params else None, ["POSitive", "NEGative"])[:3]

    @command("TRIGger#:DELay")
    def _trig_delay(self, u, s):
        c = self._c(s)
        if u.query:
            return fmt(c.trig_delay)
        c.trig_delay = to_float(u.params[0] if u.params else None, "trigger delay", ("S",))

    @command("TRIGger#[:IMMediate]", query=False)
    def _trig_now(self, u, s):
        self._fire(s[0])

    def trigger(self) -> None:
        """``*TRG``: fires every channel whose trigger source is BUS."""
        fired = False
        for n, c in self.ch.items():
            if c.trig_source == "BUS":
                self._fire(n)
                fired = True
        if not fired:
            raise ScpiError(-200, "*TRG ignored: no channel on TRIG:SOUR BUS")

    # ---------------------------------------------------------------- playback
    def _volts(self, c: _Channel, codes: np.ndarray) -> np.ndarray:
        return c.offset + codes.astype(float) * (c.vpp / 2.0 / DAC_MAX)

    def _fire(self, n: int) -> None:
        c = self.ch[n]
        if c.function != "ARB" or not c.arb:
            raise ScpiError(-221, f"channel {n}: trigger needs FUNC ARB with a selected arb")
        if not c.output:
            return  # output off: nothing reaches the coil (or the sync line)
        self.shot_times.append((time.monotonic(), n))
        for shot in self._shots(n, c):
            c.shots += 1
            for listener in list(self.listeners):
                listener(shot)

    def _shots(self, n: int, c: _Channel):
        def trig_time(point: int, marker: str = "HIGHATSTARTGOLOW") -> float:
            # The digitizer triggers on the rising edge of Sync: the start of the arb
            # (sync NORMal, or a marker that is high at the start), or the marker point
            # for a marker that is low at the start.
            if self.sync_mode == "MARKER" and marker == "LOWATSTART":
                return point / c.srate
            return 0.0

        if c.arb in self.sequences[n]:
            segs = self.sequences[n][c.arb]
            while True:
                seg = segs[c.seq_pos % len(segs)]
                codes = self.arbs[n][seg.arb]
                volts = self._volts(c, codes)
                for _ in range(seg.repeat):
                    yield Shot(n, volts, c.srate, trig_time(seg.point, seg.marker), seg.arb)
                c.seq_pos = (c.seq_pos + 1) % len(segs)
                if seg.play.endswith("WAITTRIG") or c.seq_pos == 0:
                    return
        codes = self.arbs[n][c.arb]
        volts = self._volts(c, codes)
        for _ in range(c.ncycles if c.burst else 1):
            yield Shot(n, volts, c.srate, trig_time(c.marker_point), c.arb)
