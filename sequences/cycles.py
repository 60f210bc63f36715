"""Phase cycles: per-pulse phase lists and the receiver phase list → steps and weights.

Rules (also in docs/sequences.md):

* Every phase list (a pulse's ``phase``, an ideal pulse's ``phase``, the ``receiver``) is
  cycled: in step k it takes entry ``k mod len``. The number of steps is the least common
  multiple of all list lengths (a single phase counts as length 1). To nest two cycles
  (e.g. a 2-step cycle on the π/2 pulse inside EXORCYCLE = 8 steps) write the full lists.
* Axes: ``x`` = 0, ``y`` = 90°, ``-x`` = 180°, ``-y`` = 270°; other phases are angles
  (``45 deg``). Phases are stored modulo 2π in [0, 2π).
* The receiver weight of step k is exp(−i ψ_k) for receiver phase ψ_k, and the cycled
  signal is S = (1/n) Σ_k weight_k · s_k (see :mod:`sequences.schedule`). A signal
  component whose phase follows ψ_k survives; one whose phase does not is cancelled when
  Σ_k exp(i(φ_k − ψ_k)) = 0 over the cycle.
* ``loop_phase`` lists are per iteration of the innermost enclosing ``repeat`` (entry
  ``i mod len`` in iteration i) and are added to the step phase.

Standard cycles (receiver ψ for a pulse phase list φ):

* 2-step on the π/2 pulse: φ = [x, −x], ψ = [x, −x] — cancels receiver offsets and any
  signal not created by the π/2 pulse (e.g. the FID of an imperfect π pulse).
* EXORCYCLE on the π pulse: φ = [x, y, −x, −y], ψ = [x, −x, x, −x] — the echo phase goes
  as 2φ_π, so it follows ψ; the π-pulse FID (phase ±φ_π) and offsets cancel.
"""

from __future__ import annotations

import cmath
import math

from sequences.errors import SequenceError
from sequences.expr import ANGLE, AXES, Axis, Expr, Quantity, error, evaluate, expect
from sequences.model import IdealEl, PulseEl, Sequence, iter_elements

TWO_PI = 2.0 * math.pi
#: refuse phase cycles with more steps than this (before allocating anything)
MAX_STEPS = 4096


def n_steps(seq: Sequence) -> int:
    """Number of phase-cycle steps: lcm of the lengths of all phase lists."""
    n = max(1, len(seq.receiver))
    for el in iter_elements(seq.body):
        if isinstance(el, PulseEl | IdealEl):
            n = math.lcm(n, len(el.phase))
            if n > MAX_STEPS:
                raise error(f"the phase cycle would have {n} steps (limit {MAX_STEPS})",
                            el.pos, hint="phase-list lengths multiply unless they divide "
                            "each other; use lengths like 1, 2, 4, 8")
    return n


def phase_value(e: Expr, env: dict[str, Quantity], what: str = "phase") -> float:
    """A phase in rad, in [0, 2π)."""
    if isinstance(e, Axis):
        return AXES[e.axis]
    v = expect(evaluate(e, env), ANGLE, what, e)
    return math.fmod(math.fmod(v, TWO_PI) + TWO_PI, TWO_PI)


def phase_list(ph: tuple[Expr, ...], env: dict[str, Quantity], n: int,
               what: str = "phase") -> tuple[float, ...]:
    """The phase list expanded to ``n`` steps (cycled)."""
    vals = [phase_value(e, env, what) for e in ph]
    if n % len(vals):
        raise SequenceError(f"{what}: list of {len(vals)} does not divide {n} steps")
    return tuple(vals) * (n // len(vals))


def receiver_weights(seq: Sequence, env: dict[str, Quantity], n: int) -> tuple[complex, ...]:
    """exp(−i ψ_k) for the receiver phases ψ_k (all 1 without a receiver list)."""
    if not seq.receiver:
        return (1.0 + 0.0j,) * n
    psi = phase_list(seq.receiver, env, n, "receiver phase")
    out = []
    for p in psi:
        w = cmath.exp(-1j * p)
        # exact values for the axes (cos/sin of multiples of π/2 are not exact in floats)
        out.append(complex(_snap(w.real), _snap(w.imag)))
    return tuple(out)


def _snap(x: float) -> float:
    if abs(x) < 1e-15:
        return 0.0
    if abs(abs(x) - 1.0) < 1e-15:
        return math.copysign(1.0, x)
    return x
