"""Playing a compiled program on the lab: :func:`play_program` uploads it, arms the
digitizer, triggers every phase-cycle step (paced by one real-time duty-cycle guard,
:class:`TriggerPacer`) and reads the records back, with resync, reconnect and retries on
timeouts and dropped links. Times in s."""

from __future__ import annotations

import logging
import time

import numpy as np

from instruments.errors import InstrumentError

log = logging.getLogger(__name__)


class TriggerPacer:
    """Real-time duty-cycle guard: every bus trigger of a run goes through :meth:`fire`,
    which waits until at least ``period`` s (the repetition period the program's duty
    cycle was checked against) plus a margin have passed since the previous trigger —
    across steps, software averages, on-scope averages, retries and sweep points alike.
    The margin (``margin_s`` + ``margin_fraction`` · period, default 2 ms + 2 %) covers
    the variation of the delay between sending ``*TRG`` and the instrument acting on it
    (network and host scheduling), so the shots the instrument plays keep the period too.
    ``times`` keeps the monotonic time of every trigger sent."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep, margin_s: float = 0.002,
                 margin_fraction: float = 0.02):
        self.clock = clock
        self.sleep = sleep
        self.margin_s = margin_s
        self.margin_fraction = margin_fraction
        self.last: float | None = None
        self.times: list[float] = []

    def fire(self, awg, period: float) -> None:
        if self.last is not None:
            period = period * (1.0 + self.margin_fraction) + self.margin_s
            wait = self.last + period - self.clock()
            while wait > 0:
                self.sleep(wait)
                wait = self.last + period - self.clock()
        self.last = self.clock()
        self.times.append(self.last)
        awg.trigger()


def _paced_triggers(awg, count: int, period: float, pacer: TriggerPacer | None = None) -> None:
    """Send ``count`` bus triggers at least ``period`` (s) apart (and that far from the
    previous trigger of ``pacer``): the repetition period the duty-cycle limit was
    checked against, and no trigger lands while a burst still plays (a 33500B ignores
    those)."""
    pacer = pacer or TriggerPacer()
    for _ in range(count):
        pacer.fire(awg, period)


def _pacer(lab) -> TriggerPacer:
    pacer = getattr(lab, "pacer", None)
    if pacer is None:
        pacer = TriggerPacer()
        try:
            lab.pacer = pacer
        except AttributeError:
            pass
    return pacer


def _timeout_s(inst) -> float:
    conn = getattr(getattr(inst, "adapter", None), "connection", None)
    return (getattr(conn, "timeout", None) or 10_000) / 1000.0


def _resync_timeout(inst) -> float:
    """How long a resync waits for the marker: twice the session timeout, at least 2 s
    (a late reply can come up to one timeout after the one that expired)."""
    return max(2.0, 2.0 * _timeout_s(inst))


def play_program(lab, program, *, averages: int = 1, retries: int = 2,
                 arm_settle: float = 0.02, on_cycle=None):
    """Play a :class:`instruments.compiler.CompiledProgram` on ``lab`` (AWG +
    digitizer) and read one record per phase-cycle step.

    The program is uploaded with :func:`instruments.compiler.upload_program` (outputs
    off, binary segments, sequence, ``SYST:ERR?`` checked; an upload refused once is
    uploaded again, a second refusal raises), the digitizer configured for the
    program's acquisition (trigger delay, record length, points, on-scope averages),
    the field output switched on. Each step's segment is then selected explicitly
    (``FUNC:ARB step<k>``) and triggered (``*TRG``) as many times as the digitizer
    averages, every trigger paced by the lab's :class:`TriggerPacer` (never closer than
    the program's repetition period), and the AWG's error queue read at once (a refused
    trigger is reported as the AWG's, with the command). ``averages`` software
    repetitions of the whole cycle are co-added; ``arm_settle`` (s) is waited between
    arming the digitizer and triggering.

    A timeout is followed by a matched resync of that instrument
    (:func:`instruments.link.resync`; a reconnect if the marker never comes back), so a
    late reply is never read as data, and by both error queues (an SCPI error found
    there is raised, naming instrument and command); a dropped link is reopened and the
    program set up again; a malformed reply is resynced. Each is retried ``retries``
    times (the same step again), then raised.

    With a ``[squid]`` section in the lab file, flux jumps (FLL resets by whole Φ0) are
    removed from every record (:meth:`SquidReadout.correct_flux_jumps`) before
    co-adding. ``on_cycle(k, times, volts)``, if given, is called after each complete
    repetition k = 1, 2, ... of the cycle with that repetition's records alone (n_steps,
    n_points) V; a true return ends the repetitions there (``averages`` is then the most
    played: :mod:`instruments.averaging`). Returns ``(times, volts, hw_averages)``: record
    times (s from the start of the step), volts (n_steps, n_points) averaged over the
    repetitions played.
    """
    from instruments.compiler import upload_program
    from instruments.errors import ProtocolError, ScpiError
    from instruments.link import LinkDropped, alive, is_timeout, reconnect, resync

    awg, dig = lab.awg, lab.digitizer
    acq = program.acquisition
    hw_avg = max(1, int(acq.averages))
    pacer = _pacer(lab)
    role = ["awg"]  # the instrument being talked to, for error messages
    insts = {"awg": awg, "digitizer": dig}

    def on(name: str) -> None:
        role[0] = name

    def setup() -> None:
        on("awg")
        for attempt in range(2):
            try:
                upload_program(awg, program, output=False)
                break
            except ScpiError as exc:
                if attempt:
                    raise
                log.warning("upload refused once (%s); uploading again", exc)
        on("digitizer")
        dig.configure(acq.record_length, trigger_delay=acq.trigger_delay, averages=hw_avg,
                      channel=acq.channel, points=acq.n_points)
        dig.raise_errors()
        on("awg")
        awg.channels[program.field.channel].output = True
        if program.gate is not None:
            awg.channels[program.gate.channel].output = True

    def set_up() -> None:
        """:func:`setup`, again on a reopened link if one drops (uploading is safe to
        repeat: it starts by clearing the AWG's volatile memory)."""
        for attempt in range(retries + 1):
            try:
                setup()
                return
            except LinkDropped as exc:
                if attempt == retries:
                    raise
                log.warning("set-up: %s; reconnecting", exc)
                reconnect(insts[role[0]])

    def queued_errors() -> None:
        """Raise the first SCPI error either instrument holds (named, with command)."""
        for name in ("awg", "digitizer"):
            on(name)
            insts[name].raise_errors()

    try:
        set_up()
        ch = awg.channels[program.field.channel]
        sums = None
        times = None
        played = 0
        for _ in range(averages):
            cycle = None
            for step in program.steps:
                for attempt in range(retries + 1):
                    try:
                        on("awg")
                        ch.select_arb(step.segment)
                        on("digitizer")
                        dig.arm(acq.channel)
                        time.sleep(arm_settle)  # a scope needs a moment to arm
                        on("awg")
                        _paced_triggers(awg, hw_avg, program.safety.period, pacer)
                        awg.raise_errors()  # a refused trigger: the AWG's error, at once
                        on("digitizer")
                        try:
                            dig.wait_complete()
                        except InstrumentError as exc:  # a polling driver's own timeout
                            if type(exc) is not InstrumentError:
                                raise
                            raise TimeoutError(str(exc)) from exc
                        t, v = dig.read_trace(acq.channel)
                        break
                    except LinkDropped as exc:
                        failed = role[0]
                        log.warning("step %d: %s (attempt %d of %d); reconnecting",
                                    step.index, exc, attempt + 1, retries + 1)
                        if attempt == retries:
                            raise
                        reconnect(insts[failed])
                        set_up()  # the instrument may have lost what it was told
                    except (ProtocolError, Exception) as exc:
                        if isinstance(exc, ScpiError) or not (
                                is_timeout(exc) or isinstance(exc, ProtocolError)):
                            raise
                        failed = role[0]
                        log.warning("step %d: %s: %s (attempt %d of %d)", step.index, failed,
                                    exc, attempt + 1, retries + 1)
                        inst = insts[failed]
                        wait = _resync_timeout(inst)
                        if not resync(inst, wait):
                            if alive(inst):  # connected but silent: busy or hung
                                raise InstrumentError(
                                    f"no reply within the {_timeout_s(inst):g} s timeout, nor "
                                    f"to a resync marker in {wait:g} s more: the instrument "
                                    "is busy or hung (if it is only slow, raise timeout_s "
                                    "in the lab file)", failed) from exc
                            log.warning("%s: link closed during the resync; reconnecting",
                                        failed)
                            reconnect(inst)
                            set_up()
                        queued_errors()  # an SCPI error behind the timeout is the cause
                        if attempt == retries:
                            if isinstance(exc, ProtocolError):
                                raise
                            raise InstrumentError(
                                f"no record for phase-cycle step {step.index} after "
                                f"{retries + 1} attempts (timeouts; no SCPI error queued "
                                "on the AWG or the digitizer); aborting", failed
                            ) from exc
                squid = getattr(lab, "squid", None)
                if squid is not None:  # FLL resets by whole flux quanta
                    v, jumps = squid.correct_flux_jumps(v)
                    if len(jumps):
                        log.info("step %d: removed %d flux jump(s) %s", step.index,
                                 len(jumps), list(jumps.size))
                        lab.flux_jumps_corrected = getattr(lab, "flux_jumps_corrected",
                                                           0) + len(jumps)
                if cycle is None:
                    cycle = np.zeros((program.n_steps, t.size))
                    if times is None:
                        times = t
                cycle[step.index] = v
            sums = cycle if sums is None else sums + cycle
            played += 1
            if on_cycle is not None and on_cycle(played, times, cycle):
                break
    except InstrumentError:
        raise
    except Exception as exc:
        if isinstance(exc, OSError) or type(exc).__module__.startswith("pyvisa"):
            raise InstrumentError(f"communication failed ({type(exc).__name__}: {exc}); "
                                  "connection lost?", role[0]) from exc
        raise
    return times, sums / played, hw_avg
