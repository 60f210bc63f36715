"""The virtual lab's own clock: simulated time that does not run while the host computes.

A real instrument's time runs at one second per second whatever the computer next to it
does. The virtual lab computes its physics on the host, so the host's speed (a cold numba
cache, a loaded machine) must never show up as instrument time: a digitizer must not
report "no trigger" because the simulation of the triggered shot was slow.

:class:`LabClock` therefore counts only *idle* host time: time during which no instrument
of the lab is executing a command or simulating a shot. Each instrument wraps its work in
:meth:`LabClock.busy`; a wait that is itself the instrument's business (a digitizer
waiting for its trigger) steps out of it with :meth:`LabClock.waiting`. While any
instrument is busy the clock stands still; while the lab waits for the client (or for
nothing), it runs with the host's monotonic clock.

So "no trigger within ``digitize_timeout`` s" means: ``digitize_timeout`` seconds of lab
time passed with the acquisition armed and no shot arriving — a trigger that was sent is
simulated first, however long that takes.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

__all__ = ["LabClock"]


class LabClock:
    """Idle-time clock shared by the instruments of one virtual lab (see the module
    docstring). ``now()`` is in seconds from the clock's creation."""

    def __init__(self):
        self._lock = threading.Lock()
        self._busy = 0
        self._idle_total = 0.0
        self._idle_since: float | None = time.monotonic()

    def now(self) -> float:
        """Lab time (s): the idle host time so far."""
        with self._lock:
            extra = 0.0 if self._idle_since is None else time.monotonic() - self._idle_since
            return self._idle_total + extra

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._busy == 0

    def _enter(self) -> None:
        with self._lock:
            if self._busy == 0 and self._idle_since is not None:
                self._idle_total += time.monotonic() - self._idle_since
                self._idle_since = None
            self._busy += 1

    def _leave(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy == 0:
                self._idle_since = time.monotonic()

    @contextmanager
    def busy(self):
        """The lab is working (executing a command, simulating a shot): time stands still."""
        self._enter()
        try:
            yield self
        finally:
            self._leave()

    @contextmanager
    def waiting(self):
        """Inside :meth:`busy`: step out while waiting for something else (a trigger)."""
        self._leave()
        try:
            yield self
        finally:
            self._enter()
