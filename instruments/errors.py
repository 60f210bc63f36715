"""Errors of the instrument layer.

Every error carries the name of the instrument (lab role such as ``"awg"`` or the
driver's name) so that a message read in a log says *which* box refused *what*.
All derive from :class:`InstrumentError`, itself a :class:`sequences.errors.SpinechoError`,
which the command line prints as a one-line user error (exit status 2).
"""

from __future__ import annotations

from sequences.errors import SpinechoError

#: Standard SCPI error texts (IEEE 488.2 / SCPI-99 chapter 21) by error number.
SCPI_ERROR_MESSAGES = {
    0: "No error",
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -103: "Invalid separator",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -160: "Block data error",
    -161: "Invalid block data",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -350: "Queue overflow",
    -363: "Input buffer overrun",
    -410: "Query INTERRUPTED",
}


class InstrumentError(SpinechoError):
    """Any instrument-side failure: configuration, communication, refusal.

    ``instrument`` names the instrument (lab role or driver name), ``message`` says
    what went wrong.
    """

    def __init__(self, message: str, instrument: str | None = None):
        self.message = message
        self.instrument = instrument
        super().__init__(f"{instrument}: {message}" if instrument else message)


class LimitViolation(InstrumentError):
    """A program breaks a safety limit or a hardware constraint; nothing was sent.

    ``constraint`` is the name of the violated limit as written in the lab file or the
    hardware profile (``"max_amplitude_v"``, ``"max_duty_cycle"``, ``"max_pulse_energy"``,
    ``"dac_range"``, ``"memory"``, ...); ``value`` and ``limit`` are the offending value
    and the bound in the constraint's units.
    """

    def __init__(self, constraint: str, instrument: str, message: str,
                 value: float | None = None, limit: float | None = None):
        self.constraint = constraint
        self.value = value
        self.limit = limit
        super().__init__(f"{constraint}: {message}", instrument)


class CompileError(InstrumentError):
    """A schedule cannot be turned into a hardware program (not a limit: e.g. ideal
    pulses, a missing field channel, a role missing from the lab file)."""


class LabFileError(InstrumentError):
    """A lab file is malformed; the message names the file and the field."""

    def __init__(self, message: str, filename: str | None = None, field: str | None = None):
        self.filename = filename
        self.field = field
        if filename is None and field is None:  # a complete message (sequences.config)
            super().__init__(message)
            return
        where = filename or "<lab>"
        if field:
            where = f"{where}: [{field}]" if "." not in field else f"{where}: {field}"
        super().__init__(f"{where}: {message}")


class ScpiError(InstrumentError):
    """An SCPI error, on either side of the wire (one class for both).

    * An emulated instrument of the virtual lab raises ``ScpiError(code, detail)`` from a
      command handler; the server puts it on the ``SYST:ERR?`` queue, whose reply is
      :meth:`reply` (``-113,"Undefined header; FOO"``).
    * A driver reading that queue raises :meth:`from_queue` ``(code, text, instrument)``.

    ``code`` is the SCPI error number (e.g. -113), ``scpi_message`` the queue text (the
    standard text for ``code`` followed by ``; detail`` when there is a detail), ``detail``
    the instrument-specific part.
    """

    def __init__(self, code: int, detail: str = "", instrument: str | None = None, *,
                 scpi_message: str | None = None, commands=()):
        self.code = int(code)
        self.detail = detail
        if scpi_message is None:
            scpi_message = SCPI_ERROR_MESSAGES.get(self.code, "Error")
            if detail:
                scpi_message += f"; {detail}"
        self.scpi_message = scpi_message
        #: the command(s) sent since the error queue was last read (the culprit is one)
        self.commands = list(commands)
        text = f"SCPI error {self.code}, \"{scpi_message}\""
        if self.commands:
            shown = self.commands[-3:]
            text += (" after " + "; ".join(shown) if len(shown) == 1
                     else " after one of: " + "; ".join(shown))
        super().__init__(text, instrument)

    @classmethod
    def from_queue(cls, code: int, text: str, instrument: str | None = None,
                   commands=()) -> ScpiError:
        """The error read back from an instrument's ``SYST:ERR?`` queue: ``text`` as sent;
        ``commands``: those sent since the queue was last read."""
        return cls(code, text, instrument, scpi_message=text, commands=commands)

    def reply(self) -> str:
        """The ``SYST:ERR?`` reply, printable ASCII of at most 255 characters:
        ``-113,"Undefined header; FOO"``."""
        text = self.scpi_message.replace('"', "'").replace("±", "+/-").replace("µ", "u")
        text = text.encode("ascii", "replace").decode("ascii")[:255]
        return f'{self.code:+d},"{text}"'


class ProtocolError(InstrumentError):
    """A reply could not be parsed (malformed binary block, wrong length, garbage)."""
