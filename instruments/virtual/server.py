"""A small SCPI-over-TCP server framework for the virtual lab.

* :class:`VirtualInstrument` — the base of every emulated instrument: a command table of
  :class:`~instruments.virtual.scpi.HeaderPattern` → handler (declared with the
  :func:`command` decorator), the IEEE 488.2 common commands (``*IDN?``, ``*RST``,
  ``*CLS``, ``*OPC?``, ``*OPC``, ``*ESR?``, ``*WAI``, ``*TRG``), an SCPI error queue read by
  ``SYSTem:ERRor[:NEXT]?`` (real error numbers, ``0,"No error"`` when empty), a log of every
  received program unit (:attr:`VirtualInstrument.log`) and :class:`Faults`.
* :class:`SCPIServer` — serves one instrument on a TCP port from a background thread
  (``127.0.0.1`` by default, port 0 = an ephemeral port), one thread per connection,
  commands of all connections serialised by the instrument lock. ``stop()`` closes the
  listening socket and every connection; a ``lifetime`` (s) makes the server stop itself
  (tests use it so that a crashed test never leaves a server behind).

Replies are terminated by ``\\n``; the replies of several queries in one message are joined
by ``;`` (IEEE 488.2 response message). A block reply is sent as bytes.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from instruments.virtual.clock import LabClock
from instruments.virtual.scpi import (
    HeaderPattern,
    MessageParser,
    ScpiError,
    Unit,
    header_tokens,
)

log = logging.getLogger(__name__)

ERROR_QUEUE_SIZE = 20
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


@dataclass
class Faults:
    """Fault injection for tests (all off by default).

    * ``drop_after``: close the connection after this many received program units
      (counted from when the fault was set; fires once, then the instrument accepts new
      connections normally).
    * ``reply_delay``: seconds to wait before sending each reply (slow instrument).
    * ``errors``: header → SCPI error number; a unit whose header matches (manual
      notation, e.g. ``"DATA:ARBitrary:DAC"``) is not executed and the error is queued.
      ``error_count`` limits how many units are hit (None = every one).
    * ``corrupt_blocks``: outgoing binary blocks are corrupted — ``"header"`` (the ``#``
      is replaced so the block header is unparseable) or ``"truncate"`` (fewer bytes than
      declared; the client times out).
    * ``malformed_replies``: non-block replies are replaced by this text (e.g. ``"garbage"``).
    * ``slow``: header → seconds; the reply to a matching query is held back that long
      (after it was computed: a late reply, as from an instrument busy past the client's
      timeout). ``slow_count`` limits how many replies are delayed (None = every one).
    """

    drop_after: int | None = None
    reply_delay: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    error_count: int | None = None
    corrupt_blocks: str | None = None
    malformed_replies: str | None = None
    slow: dict[str, float] = field(default_factory=dict)
    slow_count: int | None = None

    @classmethod
    def from_dict(cls, d: dict | None) -> Faults:
        d = dict(d or {})
        known = {"drop_after", "reply_delay", "errors", "error_count", "corrupt_blocks",
                 "malformed_replies", "slow", "slow_count"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"faults: unknown keys {sorted(unknown)} (known: {sorted(known)})")
        if d.get("corrupt_blocks") not in (None, "header", "truncate"):
            raise ValueError(f"faults.corrupt_blocks: {d['corrupt_blocks']!r} "
                             "(use 'header' or 'truncate')")
        return cls(**d)


@dataclass(frozen=True)
class LoggedUnit:
    """A received program unit: connection number, time (monotonic s), text form."""

    connection: int
    time: float
    text: str
    query: bool


class _Dropped(Exception):
    pass


def command(pattern: str, *, query: bool | None = None):
    """Declare a handler for ``pattern`` (manual notation). ``query``: True = query only,
    False = set only, None = both (the handler gets ``unit.query``).

    The handler is called as ``handler(self, unit, suffixes)`` and returns the reply
    (str, bytes, or None for no reply)."""

    def deco(fn):
        fn._scpi = (*getattr(fn, "_scpi", ()), (pattern, query))
        return fn

    return deco


class VirtualInstrument:
    """Base class of the emulated instruments (see the module docstring)."""

    idn = ("Spinecho", "Virtual", "0", "0.1")
    #: True for SR830-style headers (parameters may follow the mnemonic without a space)
    sr_style = False
    #: reply terminator (the Red Pitaya ends its replies with CR LF)
    terminator = b"\n"
    #: input bounds per connection (bytes): the largest binary block accepted and the most
    #: held while a message is incomplete (-363 beyond; see MessageParser)
    max_block = 1 << 20
    max_message = 2 << 20

    def __init__(self, name: str = "instrument", faults: Faults | None = None):
        self.name = name
        self.faults = faults or Faults()
        #: the lab's clock (:mod:`instruments.virtual.clock`); a VirtualLab shares one
        self.clock = LabClock()
        self.lock = threading.RLock()
        self.errors: deque[ScpiError] = deque()
        self.log: list[LoggedUnit] = []
        self.esr = 0
        self.ese = 0
        self._units_since_fault = 0
        #: extra seconds the replies of the message being executed are held back
        #: (the ``slow`` fault), set by :meth:`execute`
        self.hold = 0.0
        self._commands: list[tuple[HeaderPattern, bool | None, object]] = []
        for cls in reversed(type(self).__mro__):
            for attr, fn in vars(cls).items():
                for pattern, q in getattr(fn, "_scpi", ()):
                    self._commands.append((HeaderPattern(pattern), q, getattr(self, attr)))
        self.reset()

    # --------------------------------------------------------------- to override
    def reset(self) -> None:
        """``*RST`` state."""

    def before_unit(self, unit: Unit) -> None:
        """Hook run before each received unit (e.g. a scope finishing :DIGitize)."""

    # ------------------------------------------------------------------- errors
    def push_error(self, err: ScpiError) -> None:
        self.esr |= 0x20 if -199 <= err.code <= -100 else 0x10 if err.code <= -200 else 0
        if len(self.errors) >= ERROR_QUEUE_SIZE:
            self.errors[-1] = ScpiError(-350)
            return
        self.errors.append(err)

    def set_faults(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self._units_since_fault = 0

    def received(self) -> list[str]:
        """Text of every received unit, in order (for tests)."""
        with self.lock:
            return [u.text for u in self.log]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    # ----------------------------------------------------------------- dispatch
    def execute(self, units: list[Unit], connection: int = 0) -> list[str | bytes]:
        """Execute one program message; returns the replies of its queries."""
        replies: list[str | bytes] = []
        prev_path: list[str] = []
        self.hold = 0.0
        with self.lock:
            for unit in units:
                self.log.append(LoggedUnit(connection, time.monotonic(), unit.describe(),
                                           unit.query))
                self._units_since_fault += 1
                drop = self.faults.drop_after
                if drop is not None and self._units_since_fault > drop:
                    self.faults.drop_after = None
                    raise _Dropped
                self.before_unit(unit)
                if unit.error is not None:
                    self.push_error(unit.error)
                    continue
                tokens = header_tokens(unit.header)
                try:
                    found = self._lookup(unit, tokens, prev_path)
                    if found is None:
                        raise ScpiError(-113, unit.header + ("?" if unit.query else ""))
                    pattern, handler, suffixes, used = found
                    if not unit.header.startswith("*"):
                        prev_path = used[:-1]
                    hit = self._fault_hit("errors", "error_count", used)
                    if hit is not None:
                        raise ScpiError(hit[1], f"injected fault on {hit[0]}")
                    reply = handler(unit, suffixes)
                    if unit.query:
                        hit = self._fault_hit("slow", "slow_count", used)
                        if hit is not None:  # the reply is sent that much later
                            self.hold = max(self.hold, float(hit[1]))
                        if reply is None:
                            raise ScpiError(-113, unit.header + "? (no query form)")
                        replies.append(reply)
                except ScpiError as err:
                    self.push_error(err)
                except Exception as exc:  # a bug in an emulation: report, keep serving
                    log.exception("%s: handler failed on %s", self.name, unit.describe())
                    self.push_error(ScpiError(-200, f"{type(exc).__name__}: {exc}"))
        return replies

    def _fault_hit(self, table: str, count: str, used: list[str]):
        """The first ``(pattern, value)`` of the fault table ``table`` (header pattern →
        value) that matches the header ``used``, counted against ``count`` (None: every
        time); None when nothing fires."""
        for fpat, value in getattr(self.faults, table).items():
            fp = HeaderPattern(fpat)
            if any(fp.match(used[k:]) is not None for k in range(len(used))):
                left = getattr(self.faults, count)
                if left is not None:
                    if left <= 0:
                        continue
                    setattr(self.faults, count, left - 1)
                return fpat, value
        return None

    def _lookup(self, unit: Unit, tokens: list[str], prev_path: list[str]):
        candidates = [tokens]
        if prev_path and not unit.header.startswith((":", "*")):
            candidates.insert(0, prev_path + tokens)
        for toks in candidates:
            for pattern, q, handler in self._commands:
                if q is not None and q != unit.query:
                    continue
                suffixes = pattern.match(toks)
                if suffixes is not None:
                    return pattern, handler, suffixes, toks
        return None

    # ---------------------------------------------------------- common commands
    @command("*IDN", query=True)
    def _idn(self, unit, s):
        return ",".join(self.idn)

    @command("*RST", query=False)
    def _rst(self, unit, s):
        self.reset()

    @command("*CLS", query=False)
    def _cls(self, unit, s):
        self.errors.clear()
        self.esr = 0

    @command("*OPC")
    def _opc(self, unit, s):
        if unit.query:
            self.wait_complete()
            return "1"
        self.esr |= 0x01

    @command("*WAI", query=False)
    def _wai(self, unit, s):
        self.wait_complete()

    @command("*ESR", query=True)
    def _esr(self, unit, s):
        value, self.esr = self.esr, 0
        return str(value)

    @command("*ESE")
    def _ese(self, unit, s):
        if unit.query:
            return str(self.ese)
        from instruments.virtual.scpi import to_int

        value = to_int(unit.params[0] if unit.params else None, "*ESE mask")
        if not 0 <= value <= 255:
            raise ScpiError(-222, f"*ESE {value} outside 0..255")
        self.ese = value

    @command("*TRG", query=False)
    def _trg(self, unit, s):
        self.trigger()

    @command("SYSTem:ERRor[:NEXT]", query=True)
    def _syst_err(self, unit, s):
        if not self.errors:
            return '+0,"No error"'
        return self.errors.popleft().reply()

    def wait_complete(self) -> None:
        """Block until pending operations are complete (``*OPC?``/``*WAI``)."""

    def trigger(self) -> None:
        """``*TRG``: a bus trigger. Instruments without one report -200."""
        raise ScpiError(-200, "no bus trigger on this instrument")


class SCPIServer:
    """Serve a :class:`VirtualInstrument` on TCP (see the module docstring)."""

    def __init__(self, instrument: VirtualInstrument, host: str = "127.0.0.1", port: int = 0,
                 lifetime: float | None = None):
        self.instrument = instrument
        self.host = host
        self.port = port
        self.lifetime = lifetime
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: dict[int, socket.socket] = {}
        self._conn_lock = threading.Lock()
        self._stop = threading.Event()
        self._next_conn = 0
        self._timer: threading.Timer | None = None

    @property
    def resource(self) -> str:
        """The pyvisa-py resource string of this server (a wildcard bind is reached on
        loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "": "127.0.0.1"}.get(self.host,
                                                                              self.host)
        return f"TCPIP::{host}::{self.port}::SOCKET"

    def bind(self) -> SCPIServer:
        """Bind and listen (a port clash raises OSError here, at once); connections are
        accepted only after :meth:`start`. ``host`` may be IPv4 or IPv6 (``"::"`` binds
        every interface, IPv4 included)."""
        if self._sock is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and self.host == "::":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((self.host, self.port))
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        return self

    def start(self) -> SCPIServer:
        self.bind()
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._serve, name=f"scpi-{self.instrument.name}",
                                        daemon=True)
        self._thread.start()
        if self.lifetime is not None:
            self._timer = threading.Timer(self.lifetime, self.stop)
            self._timer.daemon = True
            self._timer.start()
        log.info("%s listening on %s:%d", self.instrument.name, self.host, self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self.drop_connections()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def drop_connections(self) -> None:
        """Close every open client connection (the listener keeps accepting)."""
        with self._conn_lock:
            conns = list(self._conns.values())
            self._conns.clear()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def __enter__(self) -> SCPIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    # ---------------------------------------------------------------- internals
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._conn_lock:
                self._next_conn += 1
                cid = self._next_conn
                self._conns[cid] = conn
            threading.Thread(target=self._handle, args=(conn, cid), daemon=True,
                             name=f"scpi-{self.instrument.name}-{cid}").start()

    def _handle(self, conn: socket.socket, cid: int) -> None:
        parser = MessageParser(sr_style=self.instrument.sr_style,
                               max_block=self.instrument.max_block,
                               max_message=self.instrument.max_message)
        conn.settimeout(0.2)
        inst = self.instrument
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(1 << 20)
                except TimeoutError:
                    continue
                if not data:
                    break
                if _QUICKACK is not None:
                    # ACK at once (Linux delays ACKs by up to 40 ms, which with the
                    # client's Nagle algorithm holds back its next small command)
                    try:
                        conn.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                    except OSError:
                        pass
                with inst.clock.busy():  # lab time stands still while it works
                    for units in parser.feed(data):
                        replies = inst.execute(units, cid)
                        if replies:
                            out = self._format(replies)
                            if inst.faults.reply_delay > 0:
                                time.sleep(inst.faults.reply_delay)
                            if inst.hold > 0:
                                time.sleep(inst.hold)
                            conn.sendall(out)
        except _Dropped:
            log.info("%s: injected fault, dropping connection %d", inst.name, cid)
        except OSError:
            pass
        finally:
            with self._conn_lock:
                self._conns.pop(cid, None)
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _format(self, replies: list[str | bytes]) -> bytes:
        faults = self.instrument.faults
        parts = []
        for r in replies:
            if isinstance(r, bytes):
                if faults.corrupt_blocks == "header":
                    r = b"?" + r[1:]
                elif faults.corrupt_blocks == "truncate":
                    r = r[: max(2, len(r) // 2)]
                parts.append(r)
            else:
                if faults.malformed_replies is not None:
                    r = faults.malformed_replies
                parts.append(r.encode("latin-1"))
        return b";".join(parts) + self.instrument.terminator
