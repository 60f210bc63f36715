"""The link to one instrument: connection hygiene for message-based VISA sessions.

What a measurement needs from the byte stream between the computer and an instrument,
beyond what pyvisa/pymeasure give:

* **A dropped link is found at once.** pyvisa-py's raw-socket read keeps polling a socket
  that the instrument closed until the full timeout runs out (and pymeasure's
  ``flush_read_buffer`` loops forever on one). :class:`LinkAdapter` waits for a reply
  itself and raises :class:`LinkDropped` the moment the peer closes the connection; a
  write to a closed link raises it before any byte is lost.
* **No stale reply is ever taken as data.** After a timeout the reply of the timed-out
  query may still arrive. :func:`resync` sends a *matched* marker
  (``*ESE <a>;*ESE?;*ESE <b>;*ESE?;*ESE 0``, IEEE 488.2 common commands every SCPI
  instrument and the SR830/SR860 answer) and discards everything up to the line that
  carries ``a;b``; if the marker does not come back the session is reopened
  (:func:`reconnect`: a new socket carries no old bytes).
* **Errors name the command.** The adapter keeps the commands written since the error
  queue was last read (:attr:`LinkAdapter.recent`), so an SCPI error is reported with the
  instrument *and* the command(s) that can have raised it.
* :func:`drain` discards whatever a previous session left unread (at connect).

:func:`attach` turns a connected pymeasure instrument's ``VISAAdapter`` into a
:class:`LinkAdapter` (other adapters, e.g. the protocol tests' ones, are left alone).
"""

from __future__ import annotations

import logging
import random
import select
import socket
import time
from collections import deque

from pymeasure.adapters import VISAAdapter

from instruments.errors import InstrumentError

log = logging.getLogger(__name__)

VI_ERROR_TMO = -1073807339
#: commands remembered for error attribution (the newest last)
RECENT = 8


class LinkDropped(InstrumentError, ConnectionError):
    """The instrument closed the connection (or it broke): nothing more can be read or
    written on this session; :func:`reconnect` opens a new one."""


def is_timeout(exc: BaseException) -> bool:
    """True for a VISA timeout or a :class:`TimeoutError`."""
    return getattr(exc, "error_code", None) == VI_ERROR_TMO or isinstance(exc, TimeoutError)


def _describe(data: bytes | str) -> str:
    """A command as it is reported in an error: text up to a binary block."""
    if isinstance(data, bytes):
        cut = data.find(b"#")
        head = data[:cut if cut >= 0 else 60].decode("latin-1", "replace").strip()
        return head + (" <block>" if cut >= 0 else "")
    return data.strip()[:80]


class LinkAdapter(VISAAdapter):
    """A pymeasure ``VISAAdapter`` that notices a closed link at once and remembers the
    recent commands (see the module docstring). Built by :func:`attach`."""

    recent: deque
    why = ""

    # ----------------------------------------------------------------- socket
    def _socket(self) -> socket.socket | None:
        """The raw socket of a pyvisa-py TCPIP SOCKET session, else None."""
        conn = self.connection
        try:
            sess = conn.visalib.sessions[conn.session]
        except Exception:  # noqa: BLE001 - another backend: no socket-level checks
            return None
        sock = getattr(sess, "interface", None)
        return sock if isinstance(sock, socket.socket) else None

    def _pending(self) -> bool:
        conn = self.connection
        try:
            return bool(conn.visalib.sessions[conn.session]._pending_buffer)
        except Exception:  # noqa: BLE001
            return False

    def alive(self) -> bool:
        """False if the peer has closed the connection (checked without blocking)."""
        sock = self._socket()
        if sock is None:
            return True
        try:
            pending = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if pending:
                import os

                self.why = os.strerror(pending)
                return False
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return True
            if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b"":
                return True
            self.why = self.why or "closed by the instrument"
            return False
        except BlockingIOError:
            return True
        except (OSError, ValueError) as exc:
            self.why = exc.strerror or str(exc) or type(exc).__name__
            return False

    def _dropped(self, what: str) -> LinkDropped:
        return LinkDropped(f"connection to {self.connection.resource_name} lost ({what}); "
                           "the instrument closed it or the link broke",
                           getattr(self, "owner", None))

    def _wait_readable(self) -> None:
        """Block until a reply byte is available (or already buffered); raise
        :class:`LinkDropped` at once if the peer closes, pyvisa's timeout error when
        the session timeout passes without a byte."""
        sock = self._socket()
        if sock is None or self._pending():
            return
        timeout = self.connection.timeout
        deadline = None if timeout is None else time.monotonic() + timeout / 1000.0
        while True:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            try:
                r, _, _ = select.select([sock], [], [], wait)
            except (OSError, ValueError):
                raise self._dropped("socket closed") from None
            if r:
                try:
                    peek = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    raise self._dropped(exc.strerror or str(exc)) from None
                if peek == b"":
                    raise self._dropped("closed while waiting for a reply")
                return
            if deadline is not None and time.monotonic() >= deadline:
                import pyvisa

                raise pyvisa.errors.VisaIOError(pyvisa.constants.StatusCode.error_timeout)

    # ----------------------------------------------------------------- adapter
    def _remember(self, data) -> None:
        if not hasattr(self, "recent"):
            self.recent = deque(maxlen=RECENT)
        self.recent.append(_describe(data))

    def _send(self, send, data, **kwargs) -> None:
        """Remember ``data``, refuse it on a closed link, send it with ``send``."""
        self._remember(data)
        if not self.alive():
            raise self._dropped(f"{self.why}; before writing {_describe(data)!r}")
        try:
            send(data, **kwargs)
        except (BrokenPipeError, ConnectionError) as exc:
            raise self._dropped(str(exc)) from None

    def _write(self, command: str, **kwargs) -> None:
        self._send(super()._write, command, **kwargs)

    def _write_bytes(self, content: bytes, **kwargs) -> None:
        self._send(super()._write_bytes, content, **kwargs)

    def _read(self, **kwargs) -> str:
        self._wait_readable()
        return super()._read(**kwargs)

    def _read_bytes(self, count: int, break_on_termchar: bool = False, **kwargs) -> bytes:
        self._wait_readable()
        return super()._read_bytes(count, break_on_termchar, **kwargs)

    def take_recent(self) -> list[str]:
        """The commands written since the last call (the error-queue check)."""
        out = list(getattr(self, "recent", ()))
        if hasattr(self, "recent"):
            self.recent.clear()
        return out


def attach(inst) -> None:
    """Give ``inst`` (a connected pymeasure instrument) a :class:`LinkAdapter`."""
    adapter = getattr(inst, "adapter", None)
    if type(adapter) is VISAAdapter:
        adapter.__class__ = LinkAdapter
        adapter.recent = deque(maxlen=RECENT)
    if isinstance(adapter, LinkAdapter):
        adapter.owner = getattr(inst, "name", None)


def recent_commands(inst) -> list[str]:
    """Commands written to ``inst`` since its error queue was last read (and forget
    them); empty for adapters that do not remember."""
    take = getattr(getattr(inst, "adapter", None), "take_recent", None)
    return take() if take is not None else []


def alive(inst) -> bool:
    fn = getattr(getattr(inst, "adapter", None), "alive", None)
    return True if fn is None else bool(fn())


def drain(inst, quiet: float = 0.05) -> int:
    """Discard every byte already sent by the instrument (waits ``quiet`` s for more);
    returns the number of bytes discarded. Never blocks on a closed link."""
    adapter = getattr(inst, "adapter", None)
    sock = adapter._socket() if isinstance(adapter, LinkAdapter) else None
    if sock is None:
        return 0
    n = 0
    conn = adapter.connection
    try:
        sess = conn.visalib.sessions[conn.session]
        n += len(sess._pending_buffer)
        sess._pending_buffer.clear()
    except Exception:  # noqa: BLE001
        pass
    while True:
        try:
            r, _, _ = select.select([sock], [], [], quiet)
            if not r:
                return n
            data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except (OSError, ValueError) as exc:
            adapter.why = getattr(exc, "strerror", None) or str(exc)
            raise adapter._dropped(f"{adapter.why}; while draining") from None
        if not data:
            raise adapter._dropped("while draining")
        n += len(data)


def resync(inst, timeout: float = 5.0) -> bool:
    """Re-align request and reply after a timeout: write a matched marker and discard
    every reply up to it (see the module docstring). Returns True when the marker came
    back within ``timeout`` s; False when it did not (the caller reconnects). Raises
    :class:`LinkDropped` if the link is closed."""
    a, b = random.randint(1, 127), random.randint(128, 255)  # noqa: S311 - not crypto
    adapter = inst.adapter
    conn = adapter.connection
    old = conn.timeout
    deadline = time.monotonic() + timeout
    try:
        adapter.write(f"*ESE {a};*ESE?;*ESE {b};*ESE?;*ESE 0")
        while time.monotonic() < deadline:
            conn.timeout = max(1, int(1000 * (deadline - time.monotonic())))
            try:
                line = adapter.read()
            except LinkDropped:
                raise
            except Exception as exc:  # noqa: BLE001 - a timeout: the marker never came
                if is_timeout(exc):
                    return False
                continue  # undecodable bytes of a stale block: keep discarding
            parts = [p.strip().lstrip("+") for p in line.strip().split(";")]
            if parts[-2:] == [str(a), str(b)]:
                return True
            log.info("%s: discarded a stale reply %r", getattr(inst, "name", "?"), line[:60])
        return False
    finally:
        conn.timeout = old


def reconnect(inst) -> None:
    """Close the session of ``inst`` and open a new one on the same resource (same
    timeout and terminations); the instrument object, its channels and guards stay."""
    adapter = inst.adapter
    conn = adapter.connection
    resource = conn.resource_name
    settings = {"timeout": conn.timeout, "read_termination": conn.read_termination,
                "write_termination": conn.write_termination}
    try:
        conn.close()
    except Exception:  # noqa: BLE001, S110 - the old session may be broken already
        pass
    try:
        adapter.connection = adapter.manager.open_resource(resource, **settings)
    except Exception as exc:
        raise LinkDropped(f"cannot reconnect to {resource}: {exc}",
                          getattr(inst, "name", None)) from exc
    log.info("%s: reconnected to %s", getattr(inst, "name", "?"), resource)
    drain(inst)
