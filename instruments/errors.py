"""Errors of the instrument layer.

Every error carries the name of the instrument (lab role such as ``"awg"`` or the
driver's name) so that a message read in a log says *which* box refused *what*.
All derive from :class:`InstrumentError`, which the command line prints as a one-line
user error (exit code 2; see ``spinecho.cli._is_user_error``).
"""

from __future__ import annotations


class InstrumentError(Exception):
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
        where = filename or "<lab>"
        if field:
            where = f"{where}: [{field}]" if "." not in field else f"{where}: {field}"
        super().__init__(f"{where}: {message}")


class ScpiError(InstrumentError):
    """The instrument reported an error in its SCPI error queue (``SYST:ERR?``).

    ``code`` is the SCPI error number (e.g. -113), ``scpi_message`` its text
    (e.g. ``"Undefined header"``).
    """

    def __init__(self, code: int, message: str, instrument: str | None = None):
        self.code = int(code)
        self.scpi_message = message
        super().__init__(f"SCPI error {self.code}, \"{message}\"", instrument)


class ProtocolError(InstrumentError):
    """A reply could not be parsed (malformed binary block, wrong length, garbage)."""
