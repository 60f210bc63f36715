"""Shared SCPI helpers for the drivers: IEEE 488.2 definite-length binary blocks and a
strict reading of the ``SYST:ERR?`` queue.

IEEE 488.2 definite-length arbitrary block: ``#`` then one digit *n* (1–9), then *n*
ASCII digits giving the byte count *L*, then *L* bytes of payload. A message that
carries a block is terminated by the instrument's newline after the payload.
"""

from __future__ import annotations

import logging

import numpy as np

from instruments.errors import ProtocolError, ScpiError

log = logging.getLogger(__name__)


def ieee_block(payload: bytes) -> bytes:
    """Wrap ``payload`` in an IEEE 488.2 definite-length block header."""
    length = str(len(payload))
    if len(length) > 9:
        raise ProtocolError(f"block of {len(payload)} bytes is too long for IEEE 488.2")
    return b"#" + str(len(length)).encode() + length.encode() + payload


def parse_ieee_block(data: bytes, instrument: str | None = None) -> bytes:
    """Payload of a complete block ``data`` (header + payload, trailing terminator
    allowed). Raises :class:`ProtocolError` for anything malformed."""
    if len(data) < 2 or data[:1] != b"#" or not data[1:2].isdigit() or data[1:2] == b"0":
        raise ProtocolError(f"not an IEEE 488.2 definite-length block: {data[:12]!r}",
                            instrument)
    n = int(data[1:2])
    digits = data[2:2 + n]
    if len(digits) != n or not digits.isdigit():
        raise ProtocolError(f"malformed block length field {digits!r}", instrument)
    length = int(digits)
    payload = data[2 + n:2 + n + length]
    if len(payload) != length:
        raise ProtocolError(f"block announced {length} bytes, got {len(payload)}", instrument)
    return payload


def read_ieee_block(instr, terminator: bytes = b"\n") -> bytes:
    """Read one block reply from ``instr`` (a pymeasure Instrument/Channel) after the
    query was written, with exact byte counts (a payload may contain newlines), then
    consume the message ``terminator``."""
    name = getattr(instr, "name", None)
    head = instr.read_bytes(2)
    if len(head) != 2 or head[:1] != b"#" or not head[1:2].isdigit() or head[1:2] == b"0":
        raise ProtocolError(f"expected an IEEE 488.2 block, got {head!r}", name)
    n = int(head[1:2])
    digits = instr.read_bytes(n)
    if not digits.isdigit():
        raise ProtocolError(f"malformed block length field {digits!r}", name)
    length = int(digits)
    try:
        payload = instr.read_bytes(length) if length else b""
    except Exception as exc:
        from instruments.link import is_timeout

        if not is_timeout(exc):
            raise
        raise ProtocolError(f"block announced {length} bytes but the reply stopped short "
                            "(truncated block; timed out waiting for the rest)", name) from exc
    if len(payload) != length:
        raise ProtocolError(f"block announced {length} bytes, got {len(payload)}", name)
    if terminator:
        end = instr.read_bytes(len(terminator))
        if end != terminator:
            raise ProtocolError(f"block not followed by the terminator {terminator!r} "
                                f"(got {end!r})", name)
    return payload


def parse_scpi_error(reply: str, instrument: str | None = None) -> tuple[int, str]:
    """``'-113,"Undefined header"'`` → ``(-113, "Undefined header")``."""
    text = reply.strip()
    code_text, _, message = text.partition(",")
    try:
        code = int(float(code_text))
    except ValueError:
        raise ProtocolError(f"malformed SYST:ERR? reply {reply[:80]!r} (a stale reply or "
                            "not an SCPI instrument?)", instrument) from None
    return code, message.strip().strip('"')


class ScpiErrorQueueMixin:
    """Read the SCPI error queue strictly: ``next_error`` → ``(code, message)``;
    :meth:`check_errors` (pymeasure's name) returns all queued errors;
    :meth:`raise_errors` raises :class:`ScpiError` on the first one. Mix in before
    pymeasure's ``SCPIMixin`` so these win."""

    #: Maximum number of queue entries read in one go (a dead instrument that keeps
    #: answering garbage must not trap the caller).
    MAX_ERRORS = 32

    @property
    def next_error(self) -> tuple[int, str]:
        """Get the next error of the queue as ``(code, message)`` (``SYST:ERR?``)."""
        return parse_scpi_error(self.ask("SYST:ERR?"), self.name)

    def check_errors(self) -> list[tuple[int, str]]:
        """Read every queued error (``SYST:ERR?`` until ``0``); return them, log each
        with the commands sent since the previous check (:attr:`last_commands`)."""
        from instruments.link import recent_commands

        # the queries of the error check and of a resync cannot have raised an error
        sent = [c for c in recent_commands(self)
                if c != "SYST:ERR?" and not c.startswith("*ESE ")]
        errors = []
        for _ in range(self.MAX_ERRORS):
            code, message = self.next_error
            if code == 0:
                break
            log.error("%s: %d, %s (after %s)", self.name, code, message, "; ".join(sent))
            errors.append((code, message))
        recent_commands(self)  # the SYST:ERR? queries themselves
        #: the commands that can have raised the errors of the last check
        self.last_commands = sent
        return errors

    def raise_errors(self) -> None:
        """Empty the error queue; raise :class:`ScpiError` for the first error found,
        naming the instrument and the command(s) sent since the previous check."""
        errors = self.check_errors()
        if errors:
            code, message = errors[0]
            raise ScpiError.from_queue(code, message, self.name,
                                       getattr(self, "last_commands", []))

    def check_set_errors(self) -> list[tuple[int, str]]:
        """Used by properties declared with ``check_set_errors=True``: raise on error."""
        self.raise_errors()
        return []


def as_codes(codes, lo: int, hi: int, what: str, instrument: str) -> np.ndarray:
    """Validate integer DAC ``codes`` (1-d) in [lo, hi]; return them as int16."""
    from instruments.errors import LimitViolation

    arr = np.asarray(codes)
    if arr.ndim != 1:
        raise ValueError(f"{what}: DAC codes must be a 1-d array")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{what}: DAC codes must be integers")
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise LimitViolation("dac_range", instrument,
                             f"{what}: DAC code outside [{lo}, {hi}]",
                             value=float(max(-arr.min(), arr.max())), limit=float(hi))
    return arr.astype(np.int16)
