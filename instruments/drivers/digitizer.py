"""Digitizers: Keysight InfiniiVision DSOX oscilloscopes and the Red Pitaya board.

Both expose one interface used by the measurement procedure:

* ``configure(record_length, trigger_delay=0.0, averages=1, channel=1)`` — record
  ``record_length`` seconds starting ``trigger_delay`` seconds after the external
  trigger (the AWG's Sync/marker output), averaged on the instrument over ``averages``
  triggers where the instrument can;
* ``arm()`` — start one acquisition; ``wait_complete()`` — block until it is done;
* ``read_trace(channel=1) -> (times, volts)`` — float64 arrays, times in s relative
  to the trigger, volts in V, transferred as binary blocks (never ASCII).

Keysight DSOX (pymeasure :class:`KeysightDSOX1102G`, extended; command syntax from the
InfiniiVision 1000/2000/3000 X-Series Programmer's Guide): ``:WAVeform:FORMat WORD``,
``:WAVeform:BYTeorder LSBFirst``, ``:WAVeform:UNSigned 1``, ``:WAVeform:PREamble?``
(format, type, points, count, xincrement, xorigin, xreference, yincrement, yorigin,
yreference), ``:WAVeform:DATA?`` (IEEE 488.2 block); volts = (code − yreference) ·
yincrement + yorigin, time = (i − xreference) · xincrement + xorigin. On-scope
averaging ``:ACQuire:TYPE AVERage`` + ``:ACQuire:COUNt n``; ``:DIGitize CHANnel1``.
pymeasure's own properties keep their long lower-case forms (``:waveform:format WORD``);
new ones use the short forms. SCPI headers are case-insensitive, short = long form.

Red Pitaya (pymeasure :class:`RedPitayaScpi` for acquisition; the generator side added
here; syntax from the Red Pitaya SCPI command list): ``ACQ:DATA:FORMAT BIN`` +
``ACQ:DATA:Units VOLTS`` make ``ACQ:SOUR<n>:DATA?`` answer a block of big-endian
float32 volts; messages end with CR LF. The 16384-sample buffer holds the trigger at
its centre for ``ACQ:TRig:DLY 0``; a delay of d samples moves the trigger d samples
earlier, so d = 8192 puts it at sample 0 (the convention assumed here).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from pymeasure.instruments import Channel, Instrument
from pymeasure.instruments.keysight.keysightDSOX1102G import KeysightDSOX1102G
from pymeasure.instruments.redpitaya.redpitaya_scpi import RedPitayaScpi
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from instruments.drivers.scpi import ScpiErrorQueueMixin, read_ieee_block
from instruments.errors import InstrumentError, ProtocolError

DSOX_POINTS = (100, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 62500)


class KeysightDSOX(ScpiErrorQueueMixin, KeysightDSOX1102G):
    """Keysight InfiniiVision DSOX oscilloscope as a digitizer: binary WORD transfer,
    little-endian, with preamble scaling, and on-scope averaging."""

    MAX_POINTS = 62500
    MAX_AVERAGES = 65536
    N_CHANNELS = 2  # what configure() drives (DSOX1102G: 2 analog inputs)
    IDN_PATTERN = r",\s*[DM]SO-?X?\s*\d"

    def __init__(self, adapter, name="Keysight DSOX", **kwargs):
        with warnings.catch_warnings():  # pymeasure warns it does not know about SCPI
            warnings.simplefilter("ignore", FutureWarning)
            super().__init__(adapter, name, **kwargs)

    waveform_byteorder = Instrument.control(
        ":WAV:BYT?", ":WAV:BYT %s",
        """Control the byte order of WORD data: 'LSBF' (little-endian) or 'MSBF'.""",
        validator=strict_discrete_set, values=["LSBF", "MSBF"],
    )

    waveform_unsigned = Instrument.control(
        ":WAV:UNS?", ":WAV:UNS %d",
        """Control whether waveform codes are sent unsigned (bool).""",
        validator=strict_discrete_set, map_values=True, values={True: 1, False: 0},
    )

    acquisition_count = Instrument.control(
        ":ACQ:COUN?", ":ACQ:COUN %d",
        """Control the number of triggers averaged in AVERage mode (int, 2…65536).""",
        validator=strict_range, values=[2, 65536], cast=int,
    )

    timebase_range = Instrument.control(
        ":TIM:RANG?", ":TIM:RANG %.6e",
        """Control the full-scale horizontal time in s (float).""",
    )

    timebase_reference = Instrument.control(
        ":TIM:REF?", ":TIM:REF %s",
        """Control where the reference point sits on screen: 'LEFT', 'CENT', 'RIGH'.""",
        validator=strict_discrete_set, values=["LEFT", "CENT", "RIGH"],
    )

    timebase_position = Instrument.control(
        ":TIM:POS?", ":TIM:POS %.6e",
        """Control the time in s from the trigger to the reference point (float).""",
    )

    trigger_source = Instrument.control(
        ":TRIG:EDGE:SOUR?", ":TRIG:EDGE:SOUR %s",
        """Control the edge-trigger source: 'CHAN1', 'CHAN2' or 'EXT'.""",
        validator=strict_discrete_set, values=["CHAN1", "CHAN2", "EXT"],
    )

    trigger_slope = Instrument.control(
        ":TRIG:EDGE:SLOP?", ":TRIG:EDGE:SLOP %s",
        """Control the active edge: 'POS' or 'NEG'.""",
        validator=strict_discrete_set, values=["POS", "NEG"],
    )

    trigger_level = Instrument.control(
        ":TRIG:EDGE:LEV?", ":TRIG:EDGE:LEV %.6g",
        """Control the trigger level in V (float).""",
    )

    def configure(self, record_length: float, trigger_delay: float = 0.0,
                  averages: int = 1, channel: int = 1, points: int | None = None,
                  trigger_level: float = 1.0) -> None:
        """Record ``record_length`` s from ``trigger_delay`` s after a rising edge on
        EXT (the AWG marker), averaged over ``averages`` triggers (1 = no averaging),
        transferring ``points`` points (rounded up to an allowed value)."""
        if not (record_length > 0 and math.isfinite(record_length)):
            raise ValueError(f"record length {record_length!r} s must be > 0")
        if channel not in (1, 2):
            raise ValueError("channel must be 1 or 2")
        self.timebase_reference = "LEFT"
        self.timebase_position = trigger_delay
        self.timebase_range = record_length
        self.trigger_source = "EXT"
        self.trigger_slope = "POS"
        self.trigger_level = trigger_level
        if averages > 1:
            self.acquisition_type = "average"
            self.acquisition_count = int(averages)
        else:
            self.acquisition_type = "normal"
        if points is not None:
            allowed = [p for p in DSOX_POINTS if p >= points]
            if not allowed:
                raise ValueError(f"{points} points: the scope transfers at most "
                                 f"{DSOX_POINTS[-1]}")
            self.waveform_points = allowed[0]

    def arm(self, channel: int = 1) -> None:
        """Start one (averaged) acquisition on ``channel``: ``:DIGitize CHAN<n>``."""
        self.digitize(f"channel{channel}")

    def wait_complete(self) -> bool:
        """Block until the acquisition has finished (``*OPC?``)."""
        return self.ask("*OPC?").strip() == "1"

    def read_trace(self, channel: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Transfer ``channel``'s record as little-endian unsigned 16-bit words and
        scale it with the preamble; returns ``(times s, volts V)``."""
        self.waveform_source = f"channel{channel}"
        self.waveform_format = "word"
        self.waveform_byteorder = "LSBF"
        self.waveform_unsigned = True
        pre = self.waveform_preamble
        if pre["format"] != "WORD":
            raise ProtocolError(f"preamble reports format {pre['format']}, expected WORD",
                                self.name)
        self.write(":WAV:DATA?")
        payload = read_ieee_block(self, b"\n")
        if len(payload) % 2:
            raise ProtocolError(f"WORD block of odd length {len(payload)}", self.name)
        codes = np.frombuffer(payload, dtype="<u2").astype(float)
        if pre["points"] and codes.size != pre["points"]:
            raise ProtocolError(f"preamble announced {pre['points']} points, block holds "
                                f"{codes.size}", self.name)
        volts = (codes - pre["yreference"]) * pre["yincrement"] + pre["yorigin"]
        idx = np.arange(codes.size, dtype=float)
        times = (idx - pre["xreference"]) * pre["xincrement"] + pre["xorigin"]
        return times, volts

    def shutdown(self) -> None:
        """Stop acquiring (a scope has no output to switch off)."""
        self.stop()
        super().shutdown()


class RedPitayaGeneratorChannel(Channel):
    """One fast analog output (OUT1/OUT2) of a Red Pitaya: 16384-sample arbitrary
    buffer, played at ``frequency`` buffer repetitions per second."""

    BUFFER = 16384

    function = Channel.control(
        "SOUR{ch}:FUNC?", "SOUR{ch}:FUNC %s",
        """Control the waveform: SINE, SQUARE, TRIANGLE, SAWU, SAWD, PWM, ARBITRARY, DC.""",
        validator=strict_discrete_set,
        values=["SINE", "SQUARE", "TRIANGLE", "SAWU", "SAWD", "PWM", "ARBITRARY", "DC"],
    )

    frequency = Channel.control(
        "SOUR{ch}:FREQ:FIX?", "SOUR{ch}:FREQ:FIX %.10g",
        """Control the frequency in Hz (float); for ARBITRARY the buffer repetition
        rate, i.e. sample rate / 16384.""",
        validator=strict_range, values=[0, 62.5e6],
    )

    amplitude = Channel.control(
        "SOUR{ch}:VOLT?", "SOUR{ch}:VOLT %.6g",
        """Control the amplitude in V (float, 0…1): buffer value ±1 → ±amplitude.""",
        validator=strict_range, values=[0, 1],
    )

    offset = Channel.control(
        "SOUR{ch}:VOLT:OFFS?", "SOUR{ch}:VOLT:OFFS %.6g",
        """Control the DC offset in V (float, −1…1).""",
        validator=strict_range, values=[-1, 1],
    )

    output = Channel.control(
        "OUTPUT{ch}:STATE?", "OUTPUT{ch}:STATE %s",
        """Control the output (bool).""",
        validator=strict_discrete_set, map_values=True, values={True: "ON", False: "OFF"},
    )

    burst_state = Channel.control(
        "SOUR{ch}:BURS:STAT?", "SOUR{ch}:BURS:STAT %s",
        """Control burst mode (True) versus continuous output (False).""",
        validator=strict_discrete_set, map_values=True,
        values={True: "BURST", False: "CONTINUOUS"},
    )

    burst_ncycles = Channel.control(
        "SOUR{ch}:BURS:NCYC?", "SOUR{ch}:BURS:NCYC %d",
        """Control the number of buffer periods per burst (int).""",
        validator=strict_range, values=[1, 50000], cast=int,
    )

    burst_repetitions = Channel.control(
        "SOUR{ch}:BURS:NOR?", "SOUR{ch}:BURS:NOR %d",
        """Control the number of bursts per trigger (int).""",
        validator=strict_range, values=[1, 50000], cast=int,
    )

    trigger_source = Channel.control(
        "SOUR{ch}:TRIG:SOUR?", "SOUR{ch}:TRIG:SOUR %s",
        """Control the generator trigger: EXT_PE, EXT_NE, INT or GATED.""",
        validator=strict_discrete_set, values=["EXT_PE", "EXT_NE", "INT", "GATED"],
    )

    def trigger(self) -> None:
        """Trigger this output now (``SOUR<n>:TRIG:INT``)."""
        self.write("SOUR{ch}:TRIG:INT")

    def upload(self, waveform) -> None:
        """Load the arbitrary buffer with ``waveform`` (values in [−1, 1], at most
        16384). The board's SCPI server takes this as ASCII (it has no binary form)."""
        data = np.asarray(waveform, dtype=float)
        if data.ndim != 1 or not 1 <= data.size <= self.BUFFER:
            raise ValueError(f"Red Pitaya arb buffer takes 1..{self.BUFFER} values")
        if not np.all(np.isfinite(data)) or np.max(np.abs(data)) > 1.0:
            raise ValueError("Red Pitaya arb values must be finite and within [-1, 1]")
        self.write("SOUR{ch}:TRAC:DATA:DATA " + ",".join(f"{v:.6f}" for v in data))

    def configure_arb(self, waveform, sample_rate: float, amplitude: float,
                      ncycles: int = 1, source: str = "EXT_PE") -> None:
        """Arbitrary burst: ``waveform`` (16384 values in [−1, 1]) at ``sample_rate``
        Sa/s, ``amplitude`` V, ``ncycles`` buffer periods per trigger from ``source``."""
        self.function = "ARBITRARY"
        self.upload(waveform)
        self.frequency = sample_rate / self.BUFFER
        self.amplitude = amplitude
        self.burst_state = True
        self.burst_ncycles = ncycles
        self.burst_repetitions = 1
        self.trigger_source = source


class RedPitaya(ScpiErrorQueueMixin, RedPitayaScpi):
    """Red Pitaya STEMlab 125-14: two 125 MSa/s 14-bit inputs (16384-sample buffer),
    two outputs; pymeasure's acquisition plus the generator (``gen_1``, ``gen_2``)."""

    BUFFER = 16384
    MAX_AVERAGES = 1
    N_CHANNELS = 2
    IDN_PATTERN = r"(?i)^\s*RED\s*PITAYA|STEMLAB"

    gen = Instrument.MultiChannelCreator(RedPitayaGeneratorChannel, (1, 2), prefix="gen_")

    def __init__(self, adapter=None, name="Red Pitaya", **kwargs):
        super().__init__(adapter, name=name, **kwargs)

    def generator_reset(self) -> None:
        """Reset both generator outputs (``GEN:RST``)."""
        self.write("GEN:RST")

    @property
    def sample_rate(self) -> float:
        """Acquisition sample rate in Sa/s (125 MSa/s / decimation; queries ACQ:DEC?)."""
        return self.CLOCK / self.decimation

    def configure(self, record_length: float, trigger_delay: float = 0.0,
                  averages: int = 1, channel: int = 1, points: int | None = None,
                  trigger: str = "EXT_PE") -> None:
        """Smallest decimation whose 16384-sample buffer covers ``trigger_delay`` +
        ``record_length`` after the trigger; trigger at buffer sample 0. The whole
        buffer is always transferred (``points`` only checked: at most 16384)."""
        if points is not None and points > self.BUFFER:
            raise ValueError(f"{points} points: the Red Pitaya buffer holds {self.BUFFER}")
        if averages != 1:
            raise InstrumentError("the Red Pitaya does not average triggers on board; "
                                  "co-add in software (averages=1)", self.name)
        if not (record_length > 0 and trigger_delay >= 0):
            raise ValueError("record length must be > 0 and trigger delay >= 0")
        need = record_length + trigger_delay
        for k in range(17):
            if self.BUFFER * 2**k / self.CLOCK >= need:
                break
        else:
            raise InstrumentError(f"record of {need:.3g} s exceeds the longest buffer "
                                  f"({self.BUFFER * 2**16 / self.CLOCK:.3g} s)", self.name)
        self._trigger = trigger
        self._trigger_delay = trigger_delay
        self.acquisition_reset()
        self.decimation = 2**k
        self.acq_trigger_delay_samples = self.BUFFER // 2

    def arm(self, channel: int = 1) -> None:
        """Start acquiring and wait for the configured trigger (``ACQ:START``, then
        ``ACQ:TRig <source>``: the board needs the start first)."""
        self.acquisition_start()
        self.acq_trigger_source = getattr(self, "_trigger", "EXT_PE")

    #: seconds :meth:`wait_complete` polls before giving up (the lab file's ``timeout_s``
    #: when connected through :func:`instruments.lab.connect`)
    poll_timeout = 10.0

    def wait_complete(self, timeout: float | None = None, poll: float = 0.01) -> bool:
        """Poll ``ACQ:TRig:STAT?`` until the trigger fired (TD) and the buffer is full
        (at most ``timeout`` s, default :attr:`poll_timeout`)."""
        timeout = self.poll_timeout if timeout is None else timeout
        t0 = time.monotonic()
        while not self.acq_trigger_status:
            if time.monotonic() - t0 > timeout:
                raise InstrumentError(f"no trigger within {timeout} s", self.name)
            time.sleep(poll)
        while not self.acq_buffer_filled:
            if time.monotonic() - t0 > timeout:
                raise InstrumentError(f"buffer not filled within {timeout} s", self.name)
            time.sleep(poll)
        return True

    def read_trace(self, channel: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Transfer the buffer of input ``channel`` as big-endian float32 volts;
        returns ``(times s after the trigger, volts V)``."""
        if channel not in (1, 2):
            raise ValueError("channel must be 1 or 2")
        self.acq_format = "BIN"
        self.acq_units = "VOLTS"
        decimation = self.decimation
        delay = self.acq_trigger_delay_samples
        self.write(f"ACQ:SOUR{channel}:DATA?")
        payload = read_ieee_block(self, b"\r\n")
        if len(payload) % 4:
            raise ProtocolError(f"float32 block of length {len(payload)}", self.name)
        volts = np.frombuffer(payload, dtype=">f4").astype(float)
        fs = self.CLOCK / decimation
        trigger_index = self.BUFFER // 2 - delay
        times = (np.arange(volts.size) - trigger_index) / fs
        return times, volts

    def shutdown(self) -> None:
        """Switch both generator outputs off and stop acquiring."""
        failures = []
        for ch in (self.gen_1, self.gen_2):
            try:
                ch.output = False
            except Exception as exc:  # noqa: BLE001 - try both, report after
                failures.append(f"OUTPUT{ch.id}:STATE OFF: {exc}")
        try:
            self.acquisition_stop()
        except Exception as exc:  # noqa: BLE001
            failures.append(f"ACQ:STOP: {exc}")
        super().shutdown()
        if failures:
            raise InstrumentError("shutdown incomplete: " + "; ".join(failures), self.name)

    def verify_safe(self) -> list[str]:
        """Read both generator output states back (``OUTPUT<n>:STATE?``)."""
        problems = []
        for n in (1, 2):
            reply = self.ask(f"OUTPUT{n}:STATE?").strip().upper()
            if reply not in ("OFF", "0"):
                problems.append(f"OUTPUT{n}:STATE? answers {reply!r} (generator on)")
        return problems
