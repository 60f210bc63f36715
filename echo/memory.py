"""Memory estimate of a simulation, checked before it runs.

What a simulation holds (bytes, a deliberately generous upper estimate):

* per sweep point, per output sample (:func:`echo.detect.output_times`: only inside the
  detection windows; a Schedule without windows is sampled over the whole shot): the
  time and window index (16), the demodulated complex trace per phase step (16), the
  ensemble-mean ⟨τz⟩ per phase step and variant (8, ×2 with the normalising quiet run),
  and the same again for the result's labelled copy; the per-batch sums the tasks return
  (8 per phase step, variant, component — 5 with Bloch observables — and batch, the
  ensemble's ``batches`` plus one per chunk for batches split between chunks);
* the fast engine's op table for the largest task: one row per output sample, per pulse
  substep (a carrier of angular frequency ω over a pulse of length T takes ≈ ωT/0.27 rad
  substeps at the default ``max_error``) and per segment edge, ~200 bytes a row (13
  columns + the OU coefficients); a quiet delay is one row whatever its length;
* the grain state of one sub-chunk (≤ 2^17 grains × ~60 doubles) and the kernel's
  partial-sum buffer (≤ 64 MiB).

The budget is ``SPINECHO_MEMORY_BUDGET`` (bytes, or with a unit: ``"8 GB"``,
``"512MiB"``) or, unset, half of the machine's physical memory. A simulation whose
estimate exceeds it is refused with a :class:`~echo.model.ModelError` that says where the
memory goes and what to change, before any array is allocated.
"""

from __future__ import annotations

import math
import os
import re

from echo.model import Detection, Ensemble, ModelError

__all__ = ["memory_budget", "output_sample_count", "estimate_bytes", "check_memory"]

_ROW_BYTES = 200
_GRAIN_BYTES = 60 * 8
_SUB_CHUNK = 1 << 17
_WAVE_BYTES = 64 << 20
_PHASE_PER_SUBSTEP = 0.27  # rad, default_carrier_phase(1e-3)
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
          "t": 1e12, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str, where: str = "SPINECHO_MEMORY_BUDGET") -> float:
    """``"8 GB"`` → 8e9; ``"512MiB"`` → 2^29; a bare number is bytes."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).lower() if m else ""
    try:
        value = float(m.group(1)) if m else math.nan
    except ValueError:
        value = math.nan
    if not m or unit not in _UNITS or not (math.isfinite(value) and value > 0):
        raise ModelError(f"{where}: {text!r} is not a memory size (e.g. '8 GB', '512 MiB')")
    return value * _UNITS[unit]


def memory_budget() -> float:
    """Bytes a simulation may use (see the module docstring)."""
    text = os.environ.get("SPINECHO_MEMORY_BUDGET")
    if text:
        return parse_bytes(text)
    try:
        return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * 2.0**30


def output_sample_count(schedule, detection: Detection) -> int:
    """Number of output samples :func:`echo.detect.output_times` would return (no array
    is made; the same rounding rule)."""
    rate = float(detection.sample_rate)
    if not (rate > 0 and math.isfinite(rate)):
        raise ModelError(f"detection.sample_rate: must be > 0, got {detection.sample_rate!r}")
    spans = [w.duration for w in schedule.windows] or [schedule.duration]
    total = 0
    for d in spans:
        x = d * rate * (1 + 1e-9) + 1e-9
        if not math.isfinite(x):
            raise ModelError(f"a detection span of {d!r} s at {rate:g} Sa/s has no finite "
                             "number of samples")
        total += math.floor(x)
    return total


def _pulse_rows(schedule, gamma: float = 0.0) -> float:
    rows = 0.0
    for p in schedule.pulses:
        w = 2 * math.pi * abs(float(getattr(p, "frequency", 0.0) or 0.0))
        w = max(w, 2 * abs(gamma * float(p.amplitude))) if w else 0.0
        rows += 2 + w * float(p.duration) / _PHASE_PER_SUBSTEP
    return rows + 2 * len(getattr(schedule, "ideal_pulses", ()))


def estimate_bytes(schedules, ensemble: Ensemble, detection: Detection, *,
                   variants: int = 1, components: int = 1) -> dict:
    """The estimate of the module docstring, as a dict of parts (bytes) and ``total``."""
    outputs = 0.0
    table = 0.0
    samples = 0
    pulse_rows = 0.0
    for sch in schedules:
        n = output_sample_count(sch, detection)
        samples += n
        steps = max(1, int(sch.n_steps))
        outputs += 2 * n * (16 + 16 * steps + 8 * steps * variants)
        outputs += 8 * n * steps * variants * components * (ensemble.batches
                                                            + ensemble.n_chunks)
        rows = _pulse_rows(sch, ensemble.moment_rad_per_tesla)
        pulse_rows = max(pulse_rows, rows)
        table = max(table, _ROW_BYTES * (n + rows))
    grains = min(ensemble.chunk_size, ensemble.n_samples, _SUB_CHUNK) * _GRAIN_BYTES
    buffer = min(_WAVE_BYTES, 8.0 * max(1, max(output_sample_count(s, detection)
                                               for s in schedules)) * 128)
    return {"outputs": outputs, "op_table": table, "grains": grains, "buffer": buffer,
            "samples": samples, "pulse_rows": pulse_rows,
            "total": outputs + table + grains + buffer}


def _fmt(b: float) -> str:
    for unit, f in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= f:
            return f"{b / f:.3g} {unit}"
    return f"{b:.0f} B"


def check_memory(schedules, ensemble: Ensemble, detection: Detection, *, variants: int = 1,
                 budget: float | None = None, components: int = 1) -> dict:
    """Refuse (ModelError) a simulation whose estimate exceeds ``budget`` (default
    :func:`memory_budget`); returns the estimate."""
    schedules = list(schedules)
    est = estimate_bytes(schedules, ensemble, detection, variants=variants,
                         components=components)
    limit = memory_budget() if budget is None else float(budget)
    if est["total"] > limit:
        windowless = [s for s in schedules if not s.windows]
        if _ROW_BYTES * est["pulse_rows"] > est["outputs"]:
            hint = (f"the pulses need ~{est['pulse_rows']:.3g} engine substeps (is a carrier "
                    "frequency or field amplitude far too large for its pulse length?), ")
        elif windowless:
            hint = ("the sequence has no detect(...) window, so the whole shot of "
                    f"{windowless[0].duration:.6g} s is sampled: add a detection window, ")
        else:
            hint = "shorten the detection windows, "
        raise ModelError(
            f"simulation needs about {_fmt(est['total'])} (output samples "
            f"{est['samples']:,} at {detection.sample_rate:g} Sa/s: {_fmt(est['outputs'])}; "
            f"engine table {_fmt(est['op_table'])}), over the memory budget of "
            f"{_fmt(limit)}. To fit: {hint}lower detection.sample_rate, simulate fewer sweep "
            "points at a time, or raise the budget with SPINECHO_MEMORY_BUDGET (e.g. "
            "'16 GB')")
    return est
