"""Arbitrary waveform generators: Keysight/Agilent 33500B and 33600A (and the 81160A
through pymeasure).

pymeasure's :class:`~pymeasure.instruments.agilent.Agilent33500` sends arbitrary
waveforms as comma-separated ASCII only; these subclasses add what a pulse experiment
needs, from the 33500B/33600A programming reference:

* binary DAC upload ``SOURce<n>:DATA:ARBitrary:DAC <name>,#<block>`` of little-endian
  int16 codes, the byte order always set explicitly first with ``FORMat:BORDer SWAPped``
  (SWAPped = least significant byte first; NORMal = big-endian);
* arbitrary sample rate ``SOURce<n>:FUNCtion:ARBitrary:SRATe``;
* arb sequences ``SOURce<n>:DATA:SEQuence #<block>`` whose payload is the documented
  sequence descriptor ``"<seq>","<arb>",<repeat>,<play>,<marker mode>,<marker point>,...``
  (play control once|onceWaitTrig|repeat|repeatInf|repeatTilTrig; marker mode
  maintain|lowAtStart|highAtStart|highAtStartGoLow) — the compiler makes one segment
  per phase-cycle step;
* burst/trigger: ``BURSt:MODE TRIGgered``, ``BURSt:NCYCles``, ``TRIGger<n>:SOURce
  BUS|EXTernal|IMMediate|TIMer``, ``*TRG``;
* sync/marker output: ``MARKer:POINt`` (the sample at which the marker on the Sync
  output falls; it rises at the start of the arb), ``OUTPut<n>:SYNC``,
  ``OUTPut<n>:SYNC:MODE NORMal|CARRier|MARKer``;
* :meth:`Keysight33500B.shutdown` switches both outputs off;
  :meth:`~instruments.drivers.scpi.ScpiErrorQueueMixin.raise_errors` reads ``SYST:ERR?``.

DAC convention (33500B family, ``FUNC ARB``): code ±32767 is ±(Vpp/2) + offset, with
Vpp the channel amplitude ``SOURce<n>:VOLTage`` in VPP units. The compiler uses offset 0
and Vpp = 2 · full_scale_v, so volts = code / 32767 · full_scale_v.

All commands use the short SCPI forms; an instrument accepts short and long forms
case-insensitively (SCPI-99 §6.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pymeasure.instruments import Instrument
from pymeasure.instruments.agilent.agilent33500 import Agilent33500, Agilent33500Channel
from pymeasure.instruments.keysight.keysight81160A import (
    Keysight81160A as _PymeasureKeysight81160A,
)
from pymeasure.instruments.keysight.keysight81160A import Keysight81160AChannel
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from instruments.drivers.scpi import ScpiErrorQueueMixin, as_codes, ieee_block
from instruments.errors import InstrumentError

#: Arb and sequence names: a letter, then letters, digits or '_' (at most 12 characters,
#: the 33500B limit for names in volatile memory).
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,11}$")
PLAY_CONTROLS = ("once", "onceWaitTrig", "repeat", "repeatInf", "repeatTilTrig")
MARKER_MODES = ("maintain", "lowAtStart", "highAtStart", "highAtStartGoLow")


def check_name(name: str, what: str = "arb") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"{what} name {name!r}: a letter then up to 11 letters, digits or _")
    return name


@dataclass(frozen=True)
class SequenceEntry:
    """One segment of an arb sequence (33500B sequence descriptor entry)."""

    arb: str
    repeat: int = 1
    play: str = "onceWaitTrig"
    marker_mode: str = "highAtStartGoLow"
    marker_point: int = 4

    def descriptor(self) -> str:
        check_name(self.arb)
        if self.play not in PLAY_CONTROLS:
            raise ValueError(f"play control {self.play!r} not in {PLAY_CONTROLS}")
        if self.marker_mode not in MARKER_MODES:
            raise ValueError(f"marker mode {self.marker_mode!r} not in {MARKER_MODES}")
        if not 1 <= int(self.repeat) <= 1_000_000:
            raise ValueError(f"repeat count {self.repeat!r} out of 1..1000000")
        return (f'"{self.arb}",{int(self.repeat)},{self.play},{self.marker_mode},'
                f"{int(self.marker_point)}")


def sequence_descriptor(name: str, entries) -> str:
    """The documented sequence descriptor text for ``DATA:SEQuence``."""
    check_name(name, "sequence")
    entries = list(entries)
    if not entries:
        raise ValueError("a sequence needs at least one segment")
    return f'"{name}",' + ",".join(e.descriptor() for e in entries)


class Keysight33500BChannel(Agilent33500Channel):
    """One output of a 33500B/33600A; pymeasure's channel plus binary arbs, sequences,
    marker/sync and per-channel triggering."""

    arb_srate = Instrument.control(
        "SOUR{ch}:FUNC:ARB:SRAT?", "SOUR{ch}:FUNC:ARB:SRAT %.10g",
        """Control the arb sample rate in Sa/s (float; 1 µSa/s up to the model maximum).""",
        validator=strict_range, values=[1e-6, 250e6], dynamic=True,
    )

    amplitude = Instrument.control(
        "SOUR{ch}:VOLT?", "SOUR{ch}:VOLT %.6g",
        """Control the amplitude in Vpp (float). For arbs code ±32767 is ±Vpp/2 + offset.
        The lab may narrow ``amplitude_values`` to its safety limit.""",
        validator=strict_range, values=[1e-3, 10], dynamic=True,
    )

    offset = Instrument.control(
        "SOUR{ch}:VOLT:OFFS?", "SOUR{ch}:VOLT:OFFS %.6g",
        """Control the DC offset in V (float).""",
        validator=strict_range, values=[-5, 5], dynamic=True,
    )

    marker_point = Instrument.control(
        "SOUR{ch}:MARK:POIN?", "SOUR{ch}:MARK:POIN %d",
        """Control the sample index at which the marker on the Sync output falls (int).""",
        validator=strict_range, values=[0, 2**31 - 1], cast=int,
    )

    sync_enabled = Instrument.control(
        "OUTP{ch}:SYNC?", "OUTP{ch}:SYNC %d",
        """Control whether the front-panel Sync output is on (bool).""",
        validator=strict_discrete_set, map_values=True, values={True: 1, False: 0},
    )

    sync_mode = Instrument.control(
        "OUTP{ch}:SYNC:MODE?", "OUTP{ch}:SYNC:MODE %s",
        """Control the Sync signal: 'NORM', 'CARR' or 'MARK' (marker of the arb).""",
        validator=strict_discrete_set, values=["NORM", "CARR", "MARK"],
    )

    trigger_source = Instrument.control(
        "TRIG{ch}:SOUR?", "TRIG{ch}:SOUR %s",
        """Control the trigger source of this channel: 'IMM', 'EXT', 'TIM' or 'BUS'.""",
        validator=strict_discrete_set, values=["IMM", "EXT", "TIM", "BUS"],
    )

    trigger_slope = Instrument.control(
        "TRIG{ch}:SLOP?", "TRIG{ch}:SLOP %s",
        """Control the active edge of the external trigger: 'POS' or 'NEG'.""",
        validator=strict_discrete_set, values=["POS", "NEG"],
    )

    arb_points = Instrument.measurement(
        "SOUR{ch}:FUNC:ARB:POIN?",
        """Get the number of points of the selected arb (int).""",
        cast=int,
    )

    # ------------------------------------------------------------- peak guard
    #: peak |V| this output may reach (the lab's ``max_amplitude_v``); None = only the DAC
    #: range. Set by :func:`instruments.lab.open_instrument`.
    peak_limit_v: float | None = None

    def __setattr__(self, name, value):
        if name in ("amplitude", "offset", "shape") and self.peak_limit_v is not None:
            self._check_peak(**{name: value})
        super().__setattr__(name, value)

    def _state(self) -> dict:
        st = self.__dict__.get("_peak_state")
        if st is None:
            st = {"amplitude": None, "offset": None, "shape": None, "arb": None,
                  "arb_peak": {}, "sequences": {}}
            object.__setattr__(self, "_peak_state", st)
        return st

    def _code_fraction(self, st) -> float:
        """Largest |code|/32767 the selected waveform plays (1 if unknown: worst case)."""
        if str(st["shape"] or "").upper() != "ARB" or st["arb"] is None:
            return 1.0
        name = st["arb"].upper()
        arbs = st["sequences"].get(name, [name])
        peaks = [st["arb_peak"].get(a.upper()) for a in arbs]
        if any(p is None for p in peaks):
            return 1.0
        return max(peaks) / 32767.0

    def _check_peak(self, **new) -> None:
        """Refuse a setting whose output could exceed :attr:`peak_limit_v`:
        |offset| + (largest |code| of the selected waveform)/32767 · Vpp/2 (a built-in
        function or an arb not uploaded by this session counts as full scale)."""
        from instruments.errors import LimitViolation

        st = self._state()
        for key in ("amplitude", "offset", "shape"):
            if key in new:
                continue
            if st[key] is None:  # not set by this session: read it once
                reply = self.ask({"amplitude": "SOUR{ch}:VOLT?", "offset": "SOUR{ch}:VOLT:OFFS?",
                                  "shape": "SOUR{ch}:FUNC?"}[key])
                st[key] = reply.strip() if key == "shape" else float(reply)
        vpp = float(new.get("amplitude", st["amplitude"]))
        offset = float(new.get("offset", st["offset"]))
        shape = str(new.get("shape", st["shape"]))
        trial = dict(st, shape=shape)
        peak = abs(offset) + self._code_fraction(trial) * vpp / 2.0
        limit = float(self.peak_limit_v)
        if peak > limit * (1 + 1e-9):
            what = ", ".join(f"{k} {v!r}" for k, v in new.items())
            raise LimitViolation(
                "max_amplitude_v", self.parent.name,
                f"output {self.id}: {what} would play up to {peak:.6g} V peak "
                f"(|offset| {abs(offset):g} V + {self._code_fraction(trial):.4g} x "
                f"{vpp:g} Vpp / 2), above the lab limit {limit:g} V", value=peak, limit=limit)
        st.update(amplitude=vpp, offset=offset, shape=shape)

    # ------------------------------------------------------------- arb memory
    def upload_dac(self, name: str, codes) -> int:
        """Upload int16 DAC ``codes`` (−32767…32767) as arb ``name`` into volatile
        memory by a binary block, little-endian; returns the number of bytes sent.

        Sends ``FORM:BORD SWAP`` then ``SOUR<n>:DATA:ARB:DAC <name>,#<block>`` + newline.
        """
        check_name(name)
        parent = self.parent
        data = as_codes(codes, -32767, 32767, f"arb {name}", parent.name)
        if not parent.MIN_POINTS <= data.size <= parent.MEMORY:
            raise ValueError(f"arb {name}: {data.size} points, the {parent.name} needs "
                             f"{parent.MIN_POINTS}..{parent.MEMORY}")
        st = self._state()
        peak_code = int(abs(data.astype(int)).max()) if data.size else 0
        if (self.peak_limit_v is not None and st["arb"] is not None
                and st["arb"].upper() == name.upper()):  # replacing what is selected
            st["arb_peak"][name.upper()] = peak_code
            self._check_peak()
        parent.byte_order = "SWAP"
        payload = data.astype("<i2").tobytes()
        message = (f"SOUR{self.id}:DATA:ARB:DAC {name},".encode() + ieee_block(payload) + b"\n")
        self.write_bytes(message)
        st["arb_peak"][name.upper()] = peak_code
        return len(message)

    def define_sequence(self, name: str, entries) -> int:
        """Define arb sequence ``name`` from :class:`SequenceEntry` ``entries`` (the arbs
        must be in volatile memory already): ``SOUR<n>:DATA:SEQ #<block>``."""
        entries = list(entries)
        text = sequence_descriptor(name, entries).encode("ascii")
        message = f"SOUR{self.id}:DATA:SEQ ".encode() + ieee_block(text) + b"\n"
        self.write_bytes(message)
        self._state()["sequences"][name.upper()] = [e.arb for e in entries]
        return len(message)

    def clear_volatile(self) -> None:
        """Erase every arb and sequence of this channel's volatile memory."""
        self.write("SOUR{ch}:DATA:VOL:CLE")
        st = self._state()
        st["arb_peak"].clear()
        st["sequences"].clear()

    def select_arb(self, name: str) -> None:
        """Play arb or sequence ``name`` from volatile memory (``FUNC ARB`` + select)."""
        check_name(name)
        if self.peak_limit_v is not None:
            st = self._state()
            previous = st["arb"]
            st["arb"] = name
            try:
                self._check_peak(shape="ARB")
            except Exception:
                st["arb"] = previous
                raise
        self.shape = "ARB"
        self.arb_file = name
        self._state()["arb"] = name

    def configure_arb(self, name: str, sample_rate: float, amplitude_vpp: float,
                      offset: float = 0.0, filter: str = "OFF") -> None:
        """Select arb/sequence ``name`` at ``sample_rate`` (Sa/s) with amplitude
        ``amplitude_vpp`` (Vpp: code ±32767 ↔ ±Vpp/2 + offset) and ``offset`` (V).
        ``filter`` 'OFF' holds each sample (no interpolation; what the compiler
        assumes), 'STEP' or 'NORM'."""
        self.select_arb(name)
        self.arb_srate = sample_rate
        self.arb_filter = filter
        self.amplitude = amplitude_vpp
        self.offset = offset

    def configure_burst(self, ncycles: int = 1, source: str = "BUS") -> None:
        """Triggered burst: each trigger from ``source`` (BUS = ``*TRG``, EXT = rear
        Trig In) plays ``ncycles`` passes of the selected arb/sequence."""
        self.burst_mode = "TRIG"
        self.burst_ncycles = int(ncycles)
        self.trigger_source = source
        self.burst_state = True

    def configure_marker(self, point: int, sync: bool = True) -> None:
        """Marker on the Sync output: high at the start of the arb, low at sample
        ``point``; Sync output on/off."""
        self.marker_point = int(point)
        self.sync_mode = "MARK"
        self.sync_enabled = sync


class Keysight33500B(ScpiErrorQueueMixin, Agilent33500):
    """Keysight 33500B (e.g. 33522B: 2 channels, 16-bit DAC, ±32767 codes, 250 MSa/s,
    1 MSa arb memory per channel standard, min 8 points, 1-point granularity).

    .. code-block:: python

        awg = Keysight33500B("TCPIP::127.0.0.1::5025::SOCKET", visa_library="@py")
        ch = awg.ch_1
        ch.clear_volatile()
        ch.upload_dac("step0", codes)                  # binary block, little-endian
        ch.configure_arb("step0", 250e6, amplitude_vpp=2.0)
        ch.configure_marker(1000)
        ch.configure_burst(1, "BUS")
        awg.raise_errors()
        ch.output = True
        awg.trigger()
        awg.shutdown()                                 # outputs off
    """

    MAX_SAMPLE_RATE = 250e6
    MEMORY = 1_048_576
    MIN_POINTS = 8
    GRANULARITY = 1
    DAC_MAX = 32767
    DAC_BITS = 16
    MAX_VPP = 10.0  # into 50 Ω
    N_CHANNELS = 2
    MAX_MEMORY = 16_777_216  # with the largest memory option (MEM: 16 MSa per channel)
    #: what ``*IDN?`` of an instrument this driver fits says (the model field)
    IDN_PATTERN = r",\s*335\d\d[AB]\s*,"

    ch_1 = Instrument.ChannelCreator(Keysight33500BChannel, 1)
    ch_2 = Instrument.ChannelCreator(Keysight33500BChannel, 2)

    def __init__(self, adapter, name="Keysight 33500B", **kwargs):
        super().__init__(adapter, name, **kwargs)
        for ch in self.channels.values():
            ch.arb_srate_values = [1e-6, self.MAX_SAMPLE_RATE]
            ch.amplitude_values = [1e-3, self.MAX_VPP]

    byte_order = Instrument.control(
        "FORM:BORD?", "FORM:BORD %s",
        """Control the byte order of binary blocks: 'NORM' (big-endian) or 'SWAP'
        (little-endian, what :meth:`Keysight33500BChannel.upload_dac` uses).""",
        validator=strict_discrete_set, values=["NORM", "SWAP"],
    )

    def trigger(self) -> None:
        """Software (bus) trigger ``*TRG`` (channels whose trigger source is BUS)."""
        self.write("*TRG")

    def wait_complete(self) -> bool:
        """Block until pending operations finish (``*OPC?`` answers 1)."""
        return self.ask("*OPC?").strip() == "1"

    def shutdown(self) -> None:
        """Switch every output off (each attempted even if one fails), then mark the
        instrument shut down. Raises :class:`InstrumentError` if any write failed."""
        failures = []
        for ch in self.channels.values():
            try:
                ch.output = False
            except Exception as exc:  # noqa: BLE001 - try every channel, report after
                failures.append(f"OUTP{ch.id} 0: {exc}")
        super().shutdown()
        if failures:
            raise InstrumentError("could not switch outputs off: " + "; ".join(failures),
                                  self.name)

    def verify_safe(self) -> list[str]:
        """Read every output state back (``OUTP<n>?``); returns what is not safe
        (empty: every output reads off)."""
        problems = []
        for ch in self.channels.values():
            reply = self.ask(f"OUTP{ch.id}?").strip()
            if reply not in ("0", "+0", "OFF"):
                problems.append(f"OUTP{ch.id}? answers {reply!r} (output on)")
        return problems

    def force_safe(self) -> None:
        """Last resort when an output cannot be switched off by ``OUTP<n> 0``: ``*RST``
        (the 33500B/33600A reset state has every output off)."""
        self.write("*RST")


class Keysight33600A(Keysight33500B):
    """Keysight 33600A (e.g. 33622A): as the 33500B with 1 GSa/s, 4 MSa standard arb
    memory, 14-bit DAC (codes still ±32767 on the bus, LSBs below 2² not resolved)
    and a 32-point minimum arb (check the data sheet of your options)."""

    MAX_SAMPLE_RATE = 1e9
    MEMORY = 4_194_304
    MAX_MEMORY = 67_108_864  # with the largest memory option (64 MSa per channel)
    MIN_POINTS = 32
    DAC_BITS = 14
    IDN_PATTERN = r",\s*336\d\dA\s*,"

    def __init__(self, adapter, name="Keysight 33600A", **kwargs):
        super().__init__(adapter, name, **kwargs)


class Keysight81160A(_PymeasureKeysight81160A):
    """Keysight 81160A pulse/function/arb generator — pymeasure's driver, plus a
    :meth:`shutdown` that switches both outputs off.

    Note: pymeasure's ``waveform_volatile`` normalises a waveform to its own maximum
    (14-bit, ±8191), so absolute scaling must come from the channel amplitude; the
    compiler targets the 33500B/33600A family (sequences, markers) and does not emit
    81160A programs. :meth:`upload_dac` sends ±8191 codes unnormalised
    (``:DATA<n>:DAC VOLATILE,#<block>``, big-endian as pymeasure sends them).
    """

    MAX_SAMPLE_RATE = 2.5e9
    DAC_MAX = 8191
    IDN_PATTERN = r",\s*81160A\s*,"

    def __init__(self, adapter, name="Keysight 81160A", **kwargs):
        kwargs.setdefault("includeSCPI", False)
        super().__init__(adapter, name, **kwargs)

    def upload_dac(self, channel: int, codes) -> None:
        """Upload ±8191 DAC ``codes`` to channel ``channel``'s volatile waveform."""
        if channel not in (1, 2):
            raise ValueError("81160A channel must be 1 or 2")
        data = as_codes(codes, -self.DAC_MAX, self.DAC_MAX, "81160A waveform", self.name)
        message = (f":DATA{channel}:DAC VOLATILE,".encode()
                   + ieee_block(data.astype(">i2").tobytes()) + b"\n")
        self.write_bytes(message)

    def shutdown(self) -> None:
        """Switch both outputs off."""
        for ch in self.channels.values():
            ch.output = False
        super().shutdown()

    def verify_safe(self) -> list[str]:
        """Read both output states back (``:OUTP<n>?``)."""
        problems = []
        for n in (1, 2):
            reply = self.ask(f":OUTP{n}?").strip()
            if reply not in ("0", "+0", "OFF"):
                problems.append(f":OUTP{n}? answers {reply!r} (output on)")
        return problems


__all__ = ["Keysight33500B", "Keysight33500BChannel", "Keysight33600A", "Keysight81160A",
           "Keysight81160AChannel", "SequenceEntry", "sequence_descriptor"]
