"""Averaging until a target (``measure --target-snr X`` and/or ``--time-budget T``).

Each sweep point plays its whole phase cycle again and again (one *block* = one software
repetition of the cycle, each step with the digitizer's on-scope averages); after every
block the echo amplitude a_k of that block alone is computed (the same demodulation,
phase-cycle sum and window mean as the point's amplitude, :func:`instruments.readout.
reduce_records`) and the point's SNR is estimated from the blocks' scatter — model-free,
so drifts, flux jumps and any noise the read-out adds are counted:

    ā = mean a_k,   s² = Σ|a_k − ā|² / (2(K − 1))   (pooled variance of one quadrature),
    SNR = |ā| / (s/√K),   stderr(SNR) ≈ SNR·√(1/(4(K − 1)) + 1/SNR²)

(s has 2(K−1) degrees of freedom; the second term is the noise of |ā| itself). The point
stops adding blocks once K ≥ ``min_averages`` and SNR ≥ ``target_snr``, or when its share
of the time budget is spent, or at ``max_averages`` blocks. ``min_averages`` (default 8)
keeps the scatter estimate from stopping on a lucky small s: with K blocks s is uncertain
by 1/(2√(K−1)) (19 % at K = 8).

Time budget: ``time_budget`` s for the averaging of this session of the run (a resumed run
gets its own); each point may use (budget left)/(points left), so the run ends near the
budget; a point that starts with the budget spent is not measured — the run stops with the
points measured so far on disk and ``--resume`` continues it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SnrTracker", "block_snr"]


def block_snr(blocks) -> tuple[float, float]:
    """(SNR, its standard error) of the mean of complex block amplitudes (module
    docstring); (nan, nan) with fewer than 2 blocks, (inf, nan) with no scatter."""
    z = np.asarray(blocks, complex)
    k = z.size
    if k < 2:
        return math.nan, math.nan
    s2 = float(np.sum(np.abs(z - z.mean()) ** 2)) / (2 * (k - 1))
    if s2 <= 0:
        return math.inf, math.nan
    snr = abs(complex(z.mean())) / math.sqrt(s2 / k)
    return snr, snr * math.sqrt(1.0 / (4 * (k - 1)) + (1.0 / snr ** 2 if snr > 0 else 0.0))


@dataclass
class SnrTracker:
    """Decides, block by block, when a point has averaged enough (module docstring).
    ``deadline``: a ``clock()`` time after which the point stops (None: no budget)."""

    target_snr: float = 0.0
    min_averages: int = 8
    max_averages: int = 10_000
    deadline: float | None = None
    clock: object = time.monotonic
    blocks: list = field(default_factory=list)
    reason: str = ""

    def add(self, amplitude: complex) -> bool:
        """Record one block's amplitude; True when the point should stop."""
        self.blocks.append(complex(amplitude))
        k = len(self.blocks)
        if k >= self.max_averages:
            self.reason = "max_averages"
            return True
        if k < self.min_averages:
            return False
        if self.target_snr > 0 and self.snr[0] >= self.target_snr:
            self.reason = "target"
            return True
        if self.deadline is not None and self.clock() >= self.deadline:
            self.reason = "time"
            return True
        return False

    @property
    def snr(self) -> tuple[float, float]:
        return block_snr(self.blocks)
