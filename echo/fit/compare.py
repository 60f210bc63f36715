"""Measured run(s) + sequence(s) + model file → fitted parameters and a report (what
``spinecho compare`` runs).

A RUN is a run directory of ``spinecho measure`` (``result.nc`` if present, else
``results.csv``; ``run.json`` supplies the ``--set`` values the run was measured with) or
any data file :func:`echo.fit.loaders.load` reads. Each run is bound to its sequence at
every valid abscissa (the swept parameter: the run's swept name, or ``parameter``), the
model file is loaded with :func:`echo.modelfile.load_model`, and the free parameters are
fitted jointly over all runs with :func:`echo.fit.model_fit.fit_model`.

If the model's detection has no ``reference_frequency`` but the data are complex
(demodulated), the reference is set to the schedule's carrier
(:meth:`sequences.Schedule.carrier`) — the measurement procedure's default — and the
report says so. A sequence that binds ``f_ref`` is simulated at each point's own
reference (:func:`echo.simulate.point_detection`), as it was measured.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

from echo.fit.errors import DataFileError, FitError
from echo.fit.loaders import EchoData, load
from echo.fit.model_fit import Dataset, dataset_from_sequence, fit_model
from echo.fit.report import write_report
from echo.simulate import REFERENCE_PARAMETER  # noqa: E402  (per-point reference)

__all__ = ["load_run", "parse_free", "compare"]


def load_run(run, *, observable: str = "auto") -> tuple[EchoData, dict]:
    """(data, sets) of a run directory or data file; ``sets`` maps parameter → value text
    (from ``run.json``)."""
    p = Path(run)
    sets: dict[str, str] = {}
    if p.is_dir():
        meta = p / "run.json"
        if meta.exists():
            try:
                cfg = json.loads(meta.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataFileError(meta, f"not valid JSON ({exc})") from None
            cfg = cfg.get("config", cfg) if isinstance(cfg, dict) else {}
            for item in str(cfg.get("sets", "") or "").split(";"):
                if "=" in item:
                    k, v = item.split("=", 1)
                    sets[k.strip()] = v.strip()
        for name in ("result.nc", "results.csv"):
            if (p / name).exists():
                return load(p / name, observable=observable), sets
        raise DataFileError(p, "run directory holds neither result.nc nor results.csv")
    return load(p, observable=observable), sets


def parse_free(spec) -> dict[str, float | None]:
    """``"sigma=5e4,tau_c,amplitude"`` (or a list) → {name: initial value or None}."""
    items = spec if isinstance(spec, (list, tuple)) else str(spec).split(",")
    out: dict[str, float | None] = {}
    for it in items:
        it = it.strip()
        if not it:
            continue
        name, sep, val = it.partition("=")
        name = name.strip()
        if sep:
            try:
                v = float(val)
            except ValueError:
                raise FitError(f"--fit {it!r}: initial value {val.strip()!r} is not a number "
                               "(SI units, e.g. sigma=5e4)") from None
            if not math.isfinite(v):
                raise FitError(f"--fit {it!r}: initial value must be finite")
            out[name] = v
        else:
            out[name] = None
    if not out:
        raise FitError("--fit: no parameter names (e.g. --fit sigma,tau_c,amplitude)")
    return out


def compare(runs, sequences, model, free, out_dir=None, *, parameter: str | None = None,
            observable: str = "auto", engine: str = "fast", n_samples: int | None = None,
            per_dataset=(), truth: dict | None = None, sets: dict | None = None,
            progress=None):
    """Fit ``free`` parameters of ``model`` (a Model or a model file path) to ``runs``
    measured with ``sequences`` (one per run, or one for all; paths, library names or
    Sequence objects). Returns (FitResult, written files or {})."""
    from echo.model import Model
    from echo.modelfile import load_model

    runs = [runs] if isinstance(runs, (str, Path)) else list(runs)
    if not runs:
        raise FitError("compare: no runs given")
    seqs = sequences if isinstance(sequences, (list, tuple)) else [sequences]
    if len(seqs) == 1:
        seqs = list(seqs) * len(runs)
    if len(seqs) != len(runs):
        raise FitError(f"compare: {len(seqs)} sequences for {len(runs)} runs (give one for "
                       "all, or one per run)")
    m = model if isinstance(model, Model) else load_model(model)
    notes = []
    if n_samples is not None:
        if n_samples < 1:
            raise FitError(f"--samples must be >= 1, got {n_samples}")
        m = replace(m, ensemble=replace(m.ensemble, n_samples=int(n_samples)))
        notes.append(f"ensemble.n_samples = {n_samples} for the fit")
    datasets = []
    for run, seq in zip(runs, seqs, strict=True):
        data, run_sets = load_run(run, observable=observable)
        seq_obj = _sequence(seq)
        values = {**run_sets, **(sets or {})}
        if observable == "windows":
            obs = "windows"
        elif data.x_name == "time" and observable in ("auto", "signal"):
            obs = "signal"
        else:
            obs = "amplitude"
        name = parameter or data.x_name
        if obs == "amplitude" and name not in seq_obj.param_names:
            raise FitError(f"{run}: the data are swept in {name!r}, which is not a parameter "
                           f"of sequence {getattr(seq_obj, 'name', seq)!r} (parameters: "
                           f"{', '.join(seq_obj.param_names)}); name it with --parameter")
        ds = dataset_from_sequence(data, seq_obj, parameter=name, values=values,
                                   observable=obs, label=str(run))
        datasets.append(ds)
    if m.detection.reference_frequency is None and any(d.data.is_complex for d in datasets):
        f_ref = _carrier(datasets[0])
        if f_ref:
            m = replace(m, detection=replace(m.detection, reference_frequency=f_ref))
            notes.append(f"detection.reference_frequency = {f_ref:g} Hz (the carrier; the "
                         "model file gives none)")
    for ds in datasets:  # echo.simulate demodulates these at each point's f_ref
        refs = [sch.param_values().get(REFERENCE_PARAMETER) for sch in ds.schedules or []]
        if refs and None not in refs and ds.observable == "amplitude":
            notes.append(f"{ds.label}: simulated echoes demodulated at each point's "
                         f"{REFERENCE_PARAMETER} ({min(refs):g}–{max(refs):g} Hz), as measured")
    fit = fit_model(datasets, m, parse_free(free) if not isinstance(free, dict) else free,
                    engine=engine, per_dataset=per_dataset, truth=truth, progress=progress,
                    name="model fit")
    fit.meta["notes"] = notes
    files = {}
    if out_dir is not None:
        extra = {"inputs": {"runs": [str(r) for r in runs], "sequences": [str(s) for s in seqs],
                            "model": str(model) if not isinstance(model, Model) else "<Model>",
                            "engine": engine, "notes": notes},
                 "fitted_model": fit.meta.get("model")}
        files = write_report({"model fit": fit}, out_dir, extra=extra,
                             text_extra="\n".join(notes))
    return fit, files


def _sequence(spec):
    if hasattr(spec, "bind"):
        return spec
    from sequences.model import Sequence

    return Sequence.load(str(spec))


def _carrier(ds: Dataset) -> float:
    """The carrier of the data set's first schedule (:meth:`sequences.Schedule.carrier`)."""
    return ds.schedules[0].carrier() if ds.schedules else 0.0


def dataset_for(data: EchoData, sequence, **kw) -> Dataset:
    """Shortcut: :func:`dataset_from_sequence` with a sequence spec or object."""
    return dataset_from_sequence(data, _sequence(sequence), **kw)
