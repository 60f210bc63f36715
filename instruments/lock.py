"""One run per lab: an exclusive lock per instrument resource.

Two runs that share an AWG delete or play each other's waveforms. :func:`acquire` takes
an advisory lock (``fcntl.flock``) on a small file named after the resource, in
:func:`lock_dir` (``$SPINECHO_LOCK_DIR``, else ``$XDG_RUNTIME_DIR/spinecho-locks``, else
the temporary directory), and writes who holds it: the owner (the run directory), the
process id, the host and the time. The operating system releases the lock when the
process ends, however it ends (SIGKILL, a power cut of the computer), so a stale file
never blocks the next run. A second run asking for the same resource is refused with
:class:`InstrumentBusy`: "awg: TCPIP::…::SOCKET is in use by run RUN (pid 123 on host)
since 2026-…".

Resources are compared after normalisation (``TCPIP0::`` = ``TCPIP::``, host names
case-insensitive, ``localhost`` = ``127.0.0.1``). On systems without ``fcntl`` (Windows)
no lock is taken (a warning is logged).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
from pathlib import Path

from instruments.errors import InstrumentError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

log = logging.getLogger(__name__)


class InstrumentBusy(InstrumentError):
    """The instrument is in use by another run (the message says which, since when)."""


def lock_dir() -> Path:
    env = os.environ.get("SPINECHO_LOCK_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / "spinecho-locks"


def normalise(resource: str) -> str:
    """A canonical form of a VISA resource string, for comparing two of them."""
    parts = [p.strip() for p in str(resource).split("::")]
    if parts:
        parts[0] = re.sub(r"^(TCPIP|GPIB|USB|ASRL)0$", r"\1", parts[0].upper())
    if len(parts) > 1 and parts[0] == "TCPIP":
        host = parts[1].lower()
        parts[1] = "127.0.0.1" if host in ("localhost", "::1") else host
    return "::".join(p.upper() if i != 1 else p for i, p in enumerate(parts))


class ResourceLock:
    """A held lock (see :func:`acquire`); :meth:`release` (or closing the process)
    frees it."""

    def __init__(self, resource: str, path: Path, fh):
        self.resource = resource
        self.path = path
        self._fh = fh

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.seek(0)
            fh.truncate()
            fh.flush()
        except OSError:
            pass
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        except OSError:
            pass
        finally:
            fh.close()


def _path(resource: str) -> Path:
    key = hashlib.sha1(normalise(resource).encode()).hexdigest()[:16]  # noqa: S324 - a name
    return lock_dir() / f"{key}.lock"


def _make_dir(d: Path) -> None:
    """The lock directory, shared by every user of the machine (one lab, whoever runs):
    world-writable with the sticky bit, like /tmp."""
    if not d.is_dir():
        d.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(d, 0o1777)
        except OSError:
            pass


def _open(path: Path):
    """The lock file, created readable and writable by every user; another user's file
    is opened read-only (flock works on it all the same)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        return open(path)  # noqa: SIM115 - held open while the lock is held
    try:
        os.fchmod(fd, 0o666)
    except OSError:
        pass
    return os.fdopen(fd, "r+")


def holder(resource: str) -> dict | None:
    """Who holds the lock of ``resource`` (the JSON written by :func:`acquire`), or None
    when it is free."""
    if fcntl is None:
        return None
    path = _path(resource)
    if not path.exists():
        return None
    with _open(path) as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            try:
                return json.loads(fh.read() or "{}")
            except ValueError:
                return {}
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return None


def busy_message(resource: str, info: dict) -> str:
    who = info.get("owner") or "another run"
    where = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
    since = info.get("since", "an unknown time")
    return (f"{resource} is in use by {who} ({where}) since {since}; one run per lab: "
            "wait for it to end or stop it first")


def acquire(resource: str, owner: str = "", role: str | None = None) -> ResourceLock | None:
    """Lock ``resource`` for this process; raise :class:`InstrumentBusy` (naming the
    holder) if another process holds it. ``owner`` says who we are (e.g. "run RUN")."""
    if fcntl is None:  # pragma: no cover - Windows
        log.warning("no fcntl: %s is not locked against a second run", resource)
        return None
    path = _path(resource)
    _make_dir(path.parent)
    fh = _open(path)
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        try:
            info = json.loads(fh.read() or "{}")
        except ValueError:
            info = {}
        fh.close()
        raise InstrumentBusy(busy_message(resource, info), role) from None
    info = {"owner": owner or f"a spinecho session (pid {os.getpid()})",
            "pid": os.getpid(), "host": socket.gethostname(), "resource": resource,
            "role": role or "",
            "since": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(info))
        fh.flush()
    except OSError:  # another user's file: locked, but who holds it cannot be said
        pass
    return ResourceLock(resource, path, fh)
