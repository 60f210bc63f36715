"""The Python face of spinecho: ``import spinecho`` gives the functions the command line
runs, with the same rules (the CLI sub-commands are thin wrappers over these).

    >>> import spinecho
    >>> hahn = spinecho.load_sequence("hahn")
    >>> model = spinecho.load_model("examples/simple.toml")
    >>> result = spinecho.simulate(hahn, model, sweep={"tau": ["2 us", "4 us"]})

The shared rules:

* ``values`` fixes parameters: sequence parameters (a number in SI units, or a text with
  units such as ``"5 us"``) and model fields named in the one dialect of
  :mod:`echo.modelpath` (short names ``sigma``, ``tau_c``, ``t1`` … or dotted paths
  ``environment.noise[0].sigma``); a sequence parameter of the same name wins. A swept
  parameter given a value is fixed: its declared sweep is dropped
  (:func:`sequences.sweep.apply_options`); setting and sweeping one parameter is an error.
* ``sweep`` sweeps sequence parameters: a dict name → list of values, or ``--sweep``
  specs (``"tau=lin(1us, 5us, 5)"``, ``"tau=1us:5us:1us"``).
* Every error a user can cause is a :class:`spinecho.SpinechoError` subclass whose
  message names the file, field or parameter and the value.
"""

from __future__ import annotations

import json

__all__ = ["load_sequence", "load_model", "simulate", "measure", "measure_run", "measure_chi",
           "fit", "split_sets"]


def load_sequence(source):
    """A pulse sequence (template).

    Parameters
    ----------
    source : str, path or sequences.Sequence
        A library name (``"hahn"``, ``"cpmg"``, …), a ``.seq`` file, or a Sequence
        (returned as is).

    Returns
    -------
    sequences.Sequence
        Bind it with ``.bind(**values)`` or sweep it with ``.sweep()``.
    """
    if hasattr(source, "bind"):
        return source
    from sequences.parser import load

    return load(str(source))


def load_model(source):
    """A sample model (ensemble, environment, detection) from a TOML model file.

    Parameters
    ----------
    source : str, path or echo.model.Model
        A model file (format: :mod:`echo.modelfile`), or a Model (returned as is).

    Returns
    -------
    echo.model.Model
    """
    from echo.model import Model

    if isinstance(source, Model):
        return source
    from echo.modelfile import load_model as _load

    return _load(source)


def split_sets(values, sequence) -> tuple[dict, object]:
    """Split ``values`` (a dict, or ``"name=value"`` texts as given to ``--set``) into the
    model fields and the sequence parameters: ``(model_values, sequence_values)``, the
    latter in the form given (dict or list). A name the sequence declares is the
    sequence's; else a short name or a path into the model is the model's; anything else
    is left to the sequence (which names the unknown parameter)."""
    from echo.modelpath import is_model_path

    params = {p.name for p in getattr(sequence, "params", ())}
    if isinstance(values, dict):
        items = list(values.items())
        as_dict = True
    else:
        items = []
        for text in values or ():
            if "=" not in text:
                from sequences.errors import SequenceError

                raise SequenceError(f"--set {text!r}: expected NAME=VALUE, e.g. tau=2us")
            k, v = text.split("=", 1)
            items.append((k.strip(), v.strip()))
        as_dict = False
    model, seq = {}, []
    for k, v in items:
        if k not in params and is_model_path(k):
            model[k] = v
        else:
            seq.append((k, v))
    return model, (dict(seq) if as_dict else [f"{k}={v}" for k, v in seq])


def apply_model_values(model, values: dict):
    """``model`` with the fields named in ``values`` (model-path dialect) set; a text
    value is read as JSON (numbers, lists) when it parses, else kept as text."""
    from echo.model import ModelError
    from echo.modelpath import set_path

    for name, raw in values.items():
        value = raw
        if isinstance(raw, str):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        try:
            model = set_path(model, name, value)
        except ModelError as exc:
            raise ModelError(f"set {name}={raw}: {exc}") from None
    return model


def _sweep_specs(sweep, sequence=None) -> list[str]:
    """``--sweep`` specs from specs or a dict name → values (numbers in SI units get the
    parameter's unit, :func:`sequences.bind.value_text`)."""
    if not sweep:
        return []
    if isinstance(sweep, str):
        return [sweep]
    if isinstance(sweep, dict):
        from sequences.bind import value_text
        from sequences.errors import SequenceError

        out = []
        for name, vals in sweep.items():
            vals = list(vals)
            if not vals:
                raise SequenceError(f"sweep {name!r}: no values")
            out.append(f"{name}=" + ",".join(value_text(sequence, name, v) if
                                             sequence is not None or isinstance(v, str)
                                             else repr(float(v)) for v in vals))
        return out
    return list(sweep)


def bind_points(sequence, values=None, sweep=None):
    """``(sequence, schedules, params)``: every sweep point of ``sequence`` with the rules
    of the module docstring (model fields in ``values`` are ignored here)."""
    from sequences.sweep import apply_options

    seq = load_sequence(sequence)
    _, seq_values = split_sets(values or {}, seq)
    seq, fixed = apply_options(seq, seq_values, _sweep_specs(sweep, seq))
    schedules, params = [], []
    for point, sched in seq.sweep(**fixed):
        schedules.append(sched)
        params.append({k: float(v) for k, v in point.items()})
    return seq, schedules, params


def simulate(sequence, model, *, values=None, sweep=None, engine: str = "fast",
             frame: str = "lab", initial: str = "thermal", max_error: float = 1e-3,
             normalise: bool = True, keep_tau_z: bool = False, workers: int | None = None,
             scheduler: str | None = None, executor=None, progress: bool = False,
             **engine_options):
    """Simulate the echo of a sequence on a sample model (``spinecho simulate``).

    Parameters
    ----------
    sequence : str, path, sequences.Sequence or sequences.Schedule
        Library name, ``.seq`` file, template, or one resolved Schedule.
    model : str, path or echo.model.Model
        Model file or Model.
    values : dict or list of str, optional
        Fixed sequence parameters and model fields (see the module docstring).
    sweep : dict or list of str, optional
        Sweeps (see the module docstring); the sequence's declared sweeps otherwise.
    engine : {"fast", "qutip"}
        Simulation engine.
    frame : {"lab", "rwa"}
        Lab frame (exact) or rotating wave (warns where invalid).
    initial : {"thermal", "ground", "up"}
        Initial state of every grain.
    max_error : float
        Engine accuracy parameter (0 < max_error < 1).
    normalise : bool
        Also run the quiet reference and report the normalised echo amplitude.
    keep_tau_z : bool
        Store the ensemble-mean ⟨τz⟩(t).
    workers, scheduler, executor : optional
        A local process pool of ``workers``, a Dask scheduler address, or any
        ``concurrent.futures.Executor`` (results do not depend on the choice).
    progress : bool
        Show a progress bar.
    **engine_options
        Options of the engine's settings dataclass (:mod:`echo.engines.frontend`).

    Returns
    -------
    echo.result.EchoResult
        Traces, phase-cycled signal, echo amplitude per point (and the normalised one).
    """
    from echo.parallel import make_executor
    from echo.simulate import simulate_schedules
    from sequences.schedule import Schedule

    mod = load_model(model)
    if isinstance(sequence, Schedule):
        if sweep:
            from echo.model import ModelError

            raise ModelError("simulate: a resolved Schedule cannot be swept; pass the "
                             "sequence (template)")
        model_values, seq_values = split_sets(values or {}, None)
        if seq_values:
            from echo.model import ModelError

            raise ModelError(f"simulate: a resolved Schedule has no parameters to set "
                             f"({', '.join(seq_values)})")
        schedules, params, source = [sequence], None, sequence.source
    else:
        seq = load_sequence(sequence)
        model_values, _ = split_sets(values or {}, seq)
        seq, schedules, params = bind_points(seq, values, sweep)
        source = seq.source
    mod = apply_model_values(mod, model_values)
    if not schedules:
        from echo.model import ModelError

        raise ModelError("simulate: no sweep points")
    cm = make_executor(workers, scheduler) if executor is None else _Given(executor)
    with cm as ex:
        return simulate_schedules(
            schedules, mod.ensemble, mod.environment, mod.detection, engine=engine,
            frame=frame, initial=initial, executor=ex, progress=True if progress else None,
            keep_tau_z=keep_tau_z, params=params, normalise=normalise, source=source,
            model=mod, max_error=max_error, **engine_options)


class _Given:
    def __init__(self, executor):
        self.executor = executor

    def __enter__(self):
        return self.executor

    def __exit__(self, *exc):
        return False


def measure(sequence, lab, run_dir, *, values=None, sweep=None, averages: int = 1,
            retries: int = 2, reference_frequency: float | None = None,
            repetition_time: float = 0.0, target_snr: float = 0.0,
            time_budget: float = 0.0, min_averages: int = 8, max_averages: int = 10_000,
            resume: bool = False, progress: bool = False, live=None):
    """Measure the echo of a sequence on the instruments of a lab file
    (``spinecho measure``): every point is compiled and checked against the lab's safety
    limits before any byte is sent; outputs are switched off on every path.

    Parameters
    ----------
    sequence : str or path
        Library name or ``.seq`` file (the run records it to be resumable).
    lab : str or path
        Lab file (TOML) naming the instruments and their limits.
    run_dir : str or path
        Run folder: one file per point as it arrives, ``results.csv``, ``result.nc``.
    values : dict or list of str, optional
        Fixed sequence parameters (module docstring; model fields do not apply).
    sweep : dict or list of str, optional
        Sweeps (module docstring).
    averages, retries : int
        Shots averaged per point and phase step; retries of a timed-out point.
    reference_frequency : float, optional
        Demodulation reference (Hz); default (None or -1) the sequence's ``f_ref``, else
        :meth:`sequences.Schedule.carrier`.
    repetition_time : float
        Shot period (s) for the duty-cycle limit and trigger pacing (0: the lab's).
    target_snr, time_budget : float
        Average each point until its echo SNR reaches ``target_snr`` or its share of
        ``time_budget`` (s) is spent (:mod:`instruments.averaging`; 0: off; with either,
        ``averages`` stays 1 and ``min_averages`` ≤ blocks ≤ ``max_averages``); the SNR
        estimate is saved per point.
    resume : bool
        Continue an interrupted run in ``run_dir``.
    progress : bool
        Show a progress bar.
    live : str or path, optional
        A PNG updated with |echo amplitude| against the swept parameter after every
        point (:class:`instruments.live.LivePlot`; a window too with a display).

    Returns
    -------
    echo.result.EchoResult
        The measured echoes (``kind = "measured"``), as saved in the run folder.
    """
    return measure_run(sequence, lab, run_dir, values=values, sweep=sweep, averages=averages,
                       retries=retries, reference_frequency=reference_frequency,
                       repetition_time=repetition_time, target_snr=target_snr,
                       time_budget=time_budget, min_averages=min_averages,
                       max_averages=max_averages, resume=resume, progress=progress,
                       live=live).echo_result()


def measure_run(sequence, lab, run_dir, *, values=None, sweep=None, averages: int = 1,
                retries: int = 2, reference_frequency: float | None = None,
                repetition_time: float = 0.0, target_snr: float = 0.0,
                time_budget: float = 0.0, min_averages: int = 8,
                max_averages: int = 10_000, resume: bool = False, progress: bool = False,
                live=None):
    """:func:`measure`, returning the finished :class:`instruments.procedure.EchoProcedure`
    (its ``schedules``, ``data``, ``n_measured``, ``store`` and ``echo_result()``): what
    ``spinecho measure`` reports from. Parameters as :func:`measure`."""
    from instruments.measure import run_measurement
    from sequences.bind import assignment_text

    seq = load_sequence(sequence)
    if values and not isinstance(values, dict):
        sets = list(values)
    else:
        sets = [assignment_text(seq, k, v) for k, v in (values or {}).items()]
    f_ref = -1.0 if reference_frequency is None else float(reference_frequency)
    plot = None
    if live is not None:
        from instruments.live import LivePlot, echo_point, echo_x_label

        plot = LivePlot(live, title=str(sequence), y_label="|echo amplitude| (V)")
    try:
        return run_measurement(str(sequence), lab, run_dir, sets=sets,
                               sweeps=_sweep_specs(sweep, seq), averages=averages,
                               retries=retries, reference_frequency=f_ref,
                               repetition_time=repetition_time, target_snr=target_snr,
                               time_budget=time_budget, min_averages=min_averages,
                               max_averages=max_averages, resume=resume,
                               progress=progress, on_point=None if plot is None else
                               (lambda pd: plot.add(*echo_point(pd),
                                                    x_label=echo_x_label(pd))))
    finally:
        if plot is not None:
            plot.close()


def measure_chi(lab, model, run_dir, *, progress: bool = False, on_point=None, **options):
    """χ''(ω) by lock-in (``spinecho measure-chi``): ``options`` are the fields of
    :class:`instruments.chi.ChiOptions` (``f_start``, ``f_stop``, ``points``, ``spacing``,
    ``amplitude_v`` in V rms, ``time_constant`` in s, ``settle``, ``reads``,
    ``read_interval``, ``phase_deg``, ``sensitivity_v``), checked before anything
    connects (the sine amplitude against the lab's limit). ``model``: the sample's model
    file (n_grains, g, spin enter the calibration). Returns an
    :class:`instruments.chi.ChiRun` (``.chi`` in s, ``.chi_sigma``, ``.fit()``: Eq. 7)."""
    from instruments.chi import check_options
    from instruments.chi import measure_chi as _measure_chi

    return _measure_chi(lab, model, run_dir, check_options(**options), progress=progress,
                        on_point=on_point)


def fit(runs, sequence, model, free, *, out_dir=None, values=None, parameter=None,
        observable: str = "auto", engine: str = "fast", n_samples: int | None = None,
        per_run=(), progress: bool = False):
    """Fit model parameters to measured echoes with the simulator in the loop
    (``spinecho compare``).

    Parameters
    ----------
    runs : str, path or list
        Run folders of :func:`measure` or data files (result .nc, CSV, BES3T).
    sequence : str, path, Sequence or list
        The sequence of each run (one for all, or one per run).
    model : str, path or echo.model.Model
        Starting model.
    free : str, list or dict
        Parameters to fit, in the model-path dialect (``"sigma,tau_c,amplitude"``,
        ``["environment.noise[0].sigma"]``, or name → starting value).
    out_dir : str or path, optional
        Report folder (parameters.txt, plots, summary.json).
    values : dict, optional
        Sequence parameter values added to each run's own.
    parameter : str, optional
        The swept sequence parameter (default: the run's).
    observable : {"auto", "amplitude", "signal", "windows"}
        What is compared.
    engine : str
        Simulation engine.
    n_samples : int, optional
        Grains simulated per evaluation.
    per_run : sequence of str
        Read-out parameters with one copy per run.
    progress : bool or callable
        Show progress (True: the simulation count and cost on stderr), or a function
        called with ``(n_simulations, cost)``.

    Returns
    -------
    echo.fit.FitResult
        Parameters with uncertainties, curves, convergence report; with ``out_dir``,
        ``meta["files"]`` names the report files written.
    """
    from echo.fit.compare import compare

    if progress is True:
        import sys

        def progress(n_sims, cost):
            print(f"\rsimulations: {n_sims}, cost {cost:.4g}", end="", file=sys.stderr,
                  flush=True)
    result, files = compare(runs, sequence, model, free, out_dir, parameter=parameter,
                            observable=observable, engine=engine, n_samples=n_samples,
                            per_dataset=tuple(per_run), sets=dict(values or {}),
                            progress=progress or None)
    if files:
        result.meta["files"] = files
    return result
