"""Fit the free parameters of a sample model to measured echoes, the simulator in the loop.

Parameters are named by dotted paths into :class:`echo.model.Model` —
``environment.noise[0].sigma`` (Hz), ``environment.noise[0].tau_c`` (s),
``environment.t1`` (s), ``environment.t_phi`` (s), ``ensemble.bias.std`` (Hz),
``ensemble.delta0.mean`` (Hz), ``ensemble.delta0.median`` (Hz), ... — plus three read-out
parameters that need no new simulation:

* ``amplitude``: N·g·S, the total moment of the detected grains in Bohr magnetons (the
  number of grains × the moment per grain). The simulated signal is linear in it, so
  it rescales the signal simulated with the model's own ``ensemble.n_grains·g·spin``;
* ``phase`` (rad): a receiver phase, the prediction is multiplied by exp(i·phase);
* ``baseline`` (V): a constant complex-plane offset added to the real part.

Short aliases: ``sigma`` and ``tau_c`` (or ``t2``) for noise process 0, ``t1``, ``t_phi``.
Every data set of a joint fit shares every parameter, except those named in
``per_dataset`` (e.g. ``("baseline",)``), which get one copy per data set, named
``baseline@0``, ``baseline@1``, ...

The objective is deterministic (common random numbers): the ensemble seed and chunking of
the model are kept, and the detector noise is switched off in the prediction (it is the
*mean* signal), so the residuals are a smooth function of the parameters and
finite-difference Jacobians work (a continuous parameter such as a Gaussian width moves
every sampled grain continuously). The optimiser is :func:`scipy.optimize.least_squares`
(trust-region reflective, bounds), in parameters scaled by their initial values, with
relative stopping criteria only.

Residuals are scaled by the data's standard error per point: given with the data, else the
phase-cycle estimate of a result file (:mod:`echo.fit.noise`), else a provisional scale;
without given errors the data noise is then taken from the residual scatter (less the
model's Monte-Carlo part). The covariance is (JᵀWJ)⁻¹ at the optimum **plus the model's
Monte-Carlo covariance**: ``mc_seeds`` more ensembles with independent seeds are simulated
at the optimum and each is refitted to first order (one Gauss–Newton step), so the spread
of the fitted values over ensembles — the error of using a finite ensemble, correlated
across points or not — is part of the stated uncertainty. Where two parameters are
strongly correlated, :attr:`FitResult.combinations` gives the combination the data do
constrain (e.g. σ·τc^0.5 in the motional-narrowing limit).

Where that linearisation is not trusted — a positive model parameter (σ, τc, ...) whose
linearised 1σ error exceeds 25 % of its value — each replicate ensemble is refitted to the
data *nonlinearly* from the optimum (a parametric bootstrap over model ensembles, Broyden
Jacobians, at most 20 evaluations each) and the spread of the refitted values replaces the
linearised Monte-Carlo part (the message says so, ``meta["nonlinear"]`` holds the end
points). A flat or curved valley, or a second minimum (issue 14: a 300-grain fit ended in
the motional-narrowing corner with τc 16 stated σ from the truth and reported success),
shows there as a wide spread. A positive parameter whose 1σ error — from the refits or
linearised — still exceeds half its value is *not determined* (its ±2σ interval reaches
zero, no Gaussian interval describes it): the fit is refused, naming it, the range of the
refits and any combination the data do constrain. Well-determined fits (the issue's
joint benchmark: 0.7 % and 2 %) pay nothing for this.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from echo import modelpath as _modelpath
from echo.fit.errors import FitError
from echo.fit.fitresult import (
    FitCurve,
    FitResult,
    ParamValue,
    combination_text,
    constrained_combinations,
    covariance_to_correlation,
    poor_fit,
    undetermined,
)
from echo.fit.loaders import EchoData
from echo.model import Detection, Model, ModelError
from echo.modelpath import ALIASES, resolve_name

__all__ = ["Dataset", "fit_model", "get_path", "set_path", "resolve_name", "READOUT",
           "ALIASES", "engine_simulator", "dataset_from_sequence", "predict"]

READOUT = ("amplitude", "phase", "baseline")
_GTOL = 1e-10  # on the gradient of ½χ² in noise-scaled residuals (see fit_model)
_EARLY_MIN = 300  # grains of the first stage of a staged fit (at least)
#: margin of the steps frozen again for the polishing stage (× the engine's noise step at
#: the first stage's optimum; the first stage freezes ½ of it at the start)
_POLISH_MARGIN = 0.8
_MC_SAMPLES = 2000  # grains of a Monte-Carlo replicate (at least, at most n_samples)
#: a positive model parameter whose linearised 1σ error exceeds this fraction of its value
#: gets its Monte-Carlo error from nonlinear refits of the replicate ensembles (the
#: linearised ±2σ interval would span a factor ≥ 3: the quadratic picture is not trusted)
_LINEAR_REL_MAX = 0.25
#: a positive parameter whose stated 1σ error exceeds this fraction of its value is not
#: determined by the data (its ±2σ interval reaches zero): the fit is refused
_DETERMINED_REL = 0.5
_REFIT_NFEV = 20  # evaluations per nonlinear refit of a replicate ensemble (at most)
#: last path components that must stay > 0
_POSITIVE = {"sigma", "tau_c", "std", "t1", "t_phi", "median", "sigma_ln", "rate",
             "amplitude", "spin", "g", "n_grains", "temperature", "measurement_rate"}
_DISCRETE = {"n_samples", "seed", "chunk_size"}
_UNITS = {"sigma": "Hz", "tau_c": "s", "std": "Hz", "mean": "Hz", "median": "Hz",
          "t1": "s", "t_phi": "s", "rate": "1/s", "low": "Hz", "high": "Hz", "value": "Hz",
          "phase": "rad", "baseline": "V", "amplitude": "μB", "temperature": "K"}


# --------------------------------------------------------------------------- paths
# one dialect for model fields (echo.modelpath), raising FitError here
def get_path(model, path: str) -> float:
    """The value at dotted ``path`` (a short name is resolved) in ``model``
    (:func:`echo.modelpath.get_path`)."""
    return _modelpath.get_path(model, path, error=FitError, short_extra=READOUT)


def set_path(model, path: str, value: float):
    """A copy of ``model`` with the number at dotted ``path`` replaced by ``value``
    (:func:`echo.modelpath.set_path`; discrete settings cannot be fitted)."""
    return _modelpath.set_path(model, path, value, error=FitError, discrete=_DISCRETE)


# ------------------------------------------------------------------------- data sets
@dataclass
class Dataset:
    """One measured data set and how to simulate it.

    * ``data``: the measurement (:class:`EchoData`); only valid points are fitted;
    * ``schedules``: the resolved Schedules — one per data point for ``observable``
      ``"amplitude"`` (a sweep: point i ↔ ``data.x[i]``), or one Schedule whose phase-cycled
      ``signal`` is compared with the data against time for ``"signal"``, or one Schedule
      whose detection windows (in time order) give one point each for ``"windows"`` (the
      mean signal over window k ↔ ``data.x[k]``, e.g. the echoes of a CPMG train);
    * ``label``; ``sigma``: per-point standard errors overriding ``data.sigma``;
    * ``meta``: free-form (e.g. the sequence name; a custom simulator may read it).
    """

    data: EchoData
    schedules: Sequence | None = None
    observable: str = "amplitude"
    label: str = ""
    sigma: np.ndarray | float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.observable not in ("amplitude", "signal", "windows"):
            raise FitError(f"data set {self.label!r}: observable must be 'amplitude', "
                           f"'signal' or 'windows', got {self.observable!r}")
        self.data = self.data.valid()
        if self.data.n_valid == 0:
            raise FitError(f"data set {self.label!r}: no valid data points")
        if self.schedules is not None:
            self.schedules = list(self.schedules)
            if self.observable == "amplitude" and len(self.schedules) != len(self.data):
                raise FitError(f"data set {self.label!r}: {len(self.schedules)} schedules for "
                               f"{len(self.data)} valid data points")
            if self.observable == "windows":
                n_w = len(self.schedules[0].windows) if self.schedules else 0
                if len(self.schedules) != 1 or n_w != len(self.data):
                    raise FitError(f"data set {self.label!r}: 'windows' needs one schedule "
                                   f"with one detection window per data point ({n_w} windows, "
                                   f"{len(self.data)} points)")

    def errors(self) -> np.ndarray | None:
        if self.sigma is not None:
            return np.broadcast_to(np.asarray(self.sigma, float), self.data.x.shape)
        return self.data.sigma


def dataset_from_sequence(data: EchoData, sequence, *, parameter: str | None = None,
                          values: dict | None = None, observable: str = "amplitude",
                          label: str = "", scale: float = 1.0) -> Dataset:
    """Bind a ``sequences`` Sequence at every valid abscissa of ``data``.

    ``parameter``: the swept sequence parameter (default: ``data.x_name``); ``values``:
    the other parameters; ``scale``: factor from the data's x unit to the sequence
    parameter's SI value (1 when the file gives SI values). For ``"signal"`` the sequence
    is bound once with ``values``."""
    d = data.valid()
    values = dict(values or {})
    if observable in ("signal", "windows"):
        schedules = [sequence.bind(**values)]
    else:
        name = parameter or d.x_name
        schedules = [sequence.bind(**{**values, name: float(x) * scale}) for x in d.x]
    return Dataset(d, schedules, observable, label or d.source, meta={"parameter": parameter})


# ----------------------------------------------------------------------- simulators
def engine_simulator(engine: str = "fast", *, executor=None, frame: str = "lab",
                     initial: str = "thermal", margin: float = 0.5,
                     carrier_margin: float | None = None, **opts) -> Callable:
    """A simulator ``(model, dataset) -> complex prediction`` running ``echo.simulate`` with
    the detector noise off. The prediction is the echo ``amplitude`` per sweep point, or the
    phase-cycled ``signal`` interpolated onto the data times. ``opts`` are engine options
    (e.g. ``carrier_phase``). For the ``fast`` engine without ``dt``/``noise_step`` the
    steps that move with the fit parameters are frozen at the first call
    (:func:`frozen_steps`): the bias-noise step of every sweep point (``margin`` × the
    engine's rule), and — only when ``carrier_margin`` is set (``fit_model`` sets ½ once a
    fit frees an ensemble parameter, which moves the largest grain energy) — a carrier
    ``dt``; otherwise the engine's own carrier substeps, which do not move. ``freeze(model,
    ds)`` fixes them, ``refreeze(model, ds, margin)`` fixes them again;
    ``simulate.batch(pairs)`` runs several (model, dataset) pairs with all their tasks
    mapped at once."""

    fixed: dict[int, tuple[float, list[float]]] = {}
    frozen_by_user = engine != "fast" or "dt" in opts or "noise_step" in opts

    def freeze(model: Model, ds: Dataset, margin_: float | None = None,
               force: bool = False) -> None:
        """Fix the engine steps of ``ds`` from ``model`` (if not fixed yet, or ``force``)."""
        if frozen_by_user or ds.schedules is None or (id(ds) in fixed and not force):
            return
        fixed[id(ds)] = frozen_steps(model, ds.schedules, frame=frame,
                                     max_error=opts.get("max_error", 1e-3),
                                     carrier_phase=opts.get("carrier_phase"),
                                     margin=margin if margin_ is None else margin_,
                                     carrier_margin=simulate.carrier_margin)

    def spec(model: Model, ds: Dataset):
        if ds.schedules is None:
            raise FitError(f"data set {ds.label!r}: no schedules to simulate")
        det = Detection(**{**model.detection.to_dict(), "noise_rms": 0.0})
        kw = dict(opts)
        if not frozen_by_user:
            # steps frozen at the first call, so the op table (and the random numbers
            # drawn per step) do not change with the parameters: a smooth objective
            freeze(model, ds)
            dt, noise = fixed[id(ds)]
            if math.isfinite(dt):
                kw["dt"] = dt
            if all(math.isfinite(h) for h in noise):
                kw["point_options"] = [{"noise_step": h} for h in noise]
        return ((ds.schedules, model.ensemble, model.environment, det),
                dict(engine=engine, frame=frame, initial=initial, normalise=False,
                     model=model, **kw))

    def finish(res, ds: Dataset) -> np.ndarray:
        if ds.observable == "amplitude":
            return np.asarray(res.amplitude, complex)
        if ds.observable == "windows":
            return window_means(res, ds.schedules[0])
        t = res.times
        s = np.asarray(res.signal[0], complex)
        ok = np.isfinite(t) & np.isfinite(s)
        return (np.interp(ds.data.x, t[ok], s[ok].real)
                + 1j * np.interp(ds.data.x, t[ok], s[ok].imag))

    def batch(pairs) -> list[np.ndarray]:
        """Predictions of several (model, dataset) pairs, all their tasks mapped at once."""
        from echo.simulate import simulate_many

        pairs = list(pairs)
        specs = [spec(m, ds) for m, ds in pairs]
        results = simulate_many(specs, executor=executor)
        return [finish(r, ds) for r, (_, ds) in zip(results, pairs, strict=True)]

    def simulate(model: Model, ds: Dataset) -> np.ndarray:
        return batch([(model, ds)])[0]

    def resolved(model: Model, ds: Dataset) -> str:
        """'' if the steps frozen for ``ds`` are fine enough for ``model`` (at the fitted
        parameters), else why not."""
        if id(ds) not in fixed or ds.schedules is None:
            return ""
        dt, noise = fixed[id(ds)]
        need_dt, need = frozen_steps(model, ds.schedules, frame=frame,
                                     max_error=opts.get("max_error", 1e-3),
                                     carrier_phase=opts.get("carrier_phase"), margin=1.0,
                                     carrier_margin=None if not math.isfinite(dt) else 1.0)
        h, h_need = dt, need_dt
        for h_p, n_p in zip(noise, need, strict=True):
            if math.isfinite(h_p) and h_p / n_p > h / h_need:
                h, h_need = h_p, n_p
        if math.isfinite(h) and h > h_need * (1 + 1e-9):
            return (f"{ds.label or 'data set'}: the engine step frozen at the start "
                    f"({h:.3g} s) is coarser than the fitted parameters need ({h_need:.3g} s)")
        return ""

    simulate.batch = batch
    simulate.freeze = freeze
    simulate.refreeze = lambda model, ds, margin_: freeze(model, ds, margin_, True)
    simulate.resolved = resolved
    # the carrier step: the engine's own (the largest grain energy is fixed) unless given,
    # or frozen with margin ½ (set by fit_model before the first call when an ensemble
    # parameter is free)
    simulate.carrier_margin = carrier_margin
    simulate.engine = engine
    simulate.stochastic = True  # a Monte-Carlo ensemble: its prediction depends on the seed
    return simulate


def redemodulated_amplitude(result, f_old: float, f_new, window: int = 0) -> np.ndarray:
    """Echo amplitude of each sweep point re-demodulated from ``f_old`` to its own
    ``f_new[p]`` (Hz): the mean over detection window ``window`` of
    signal(t)·exp(−i2π(f_new − f_old)t), t absolute in the shot. Exact for the
    demodulation z = 2V·exp(−i2πf t) (no filter) of the measurement procedure and of
    :func:`echo.detect.to_signal` without ``demod_bandwidth``. Used when a sweep of the
    carrier was demodulated at one fixed frequency (e.g. the burn carrier of a
    hole-burning run); the simulation itself demodulates at each point's ``f_ref``
    (:func:`echo.simulate.point_detection`), so this serves checks and old results."""
    from echo.detect import redemodulate

    ds = result.dataset
    sig = ds["signal"].values
    t = ds["shot_time"].values if "shot_time" in ds else np.broadcast_to(
        ds["time"].values, sig.shape)
    win = np.broadcast_to(ds["window"].values, sig.shape)
    f_new = np.broadcast_to(np.asarray(f_new, float), (sig.shape[0],))
    out = np.empty(sig.shape[0], complex)
    for p in range(sig.shape[0]):
        sel = (win[p] == window) & np.isfinite(sig[p])
        z = redemodulate(sig[p][sel], t[p][sel], f_old, f_new[p])
        out[p] = z.mean() if z.size else np.nan
    return out


def window_means(result, schedule) -> np.ndarray:
    """Mean phase-cycled signal over each detection window of ``schedule`` (time order) of
    sweep point 0 of ``result`` (:func:`echo.detect.window_means`)."""
    from echo.detect import window_means as _means

    win = np.asarray(result.dataset["window"].values)
    return _means(np.asarray(result.signal[0], complex), win[0] if win.ndim == 2 else win,
                  schedule)


def frozen_steps(model: Model, schedules, *, frame: str = "lab", max_error: float = 1e-3,
                 margin: float = 0.5, carrier_phase: float | None = None,
                 carrier_margin: float | None = None) -> tuple[float, list[float]]:
    """Fixed steps (s) for the ``fast`` engine inside a fit: ``(dt, noise_steps)``.

    The engine chooses its bias-noise step from σ and τc (:func:`echo.engines.fast.
    noise_step`) and its carrier substeps from the largest grain energy; letting those
    move with the fit parameters changes the number of steps, hence the random numbers
    each step draws, and makes the objective jump. ``noise_steps``: per schedule (sweep
    point, each with its own shot length), ``margin`` × the engine's noise step at
    ``model`` (so σ may grow by 1/margin² before the engine's rule is reached) — given to
    the engine as its ``noise_step`` option. ``dt``: with ``carrier_margin``,
    ``carrier_margin`` × the lab-frame carrier step at the largest grain energy (a fit
    that moves the grain energies needs it fixed); without, inf (the engine's own carrier
    substeps, fixed as long as the grains are). ``carrier_phase``: the engine option of
    that name (rad per substep), if given. inf where nothing limits the step."""
    from echo.engines import fast
    from sequences.units import angular

    ens, env = model.ensemble, model.environment
    e_max, d_max = 0.0, 0.0
    for chunk in ens.chunks():
        e_max = max(e_max, float(np.max(np.hypot(chunk.delta, chunk.bias))))
        d_max = max(d_max, float(np.max(np.abs(chunk.delta))))
    gamma = abs(ens.moment_rad_per_tesla)
    dt = math.inf
    noise = []
    for sch in schedules:
        amps = [abs(p.amplitude) for p in sch.pulses]
        h0 = max(amps) if amps else 0.0
        carriers = [angular(p.frequency) for p in sch.pulses if p.amplitude and p.frequency]
        if frame == "lab" and carriers and carrier_margin is not None:
            w_fast = max(max(carriers), 2 * e_max, 2 * gamma * h0)
            phase = carrier_phase or fast.default_carrier_phase(max_error)
            dt = min(dt, carrier_margin * phase / w_fast)
        noise.append(margin * fast.option_noise_step(env, d_max, gamma * h0,
                                                     float(sch.duration), max_error, frame))
    return dt, noise


def predict(model: Model, ds: Dataset, simulator: Callable, readout: dict) -> np.ndarray:
    """Simulated data set ``ds`` with read-out parameters applied (see module docstring)."""
    raw = np.asarray(simulator(model, ds), complex)
    return apply_readout(raw, model, readout)


def apply_readout(raw: np.ndarray, model: Model, readout: dict) -> np.ndarray:
    ens = model.ensemble
    ref = ens.n_grains * ens.g * ens.spin
    scale = readout.get("amplitude", ref) / ref
    return raw * scale * np.exp(1j * readout.get("phase", 0.0)) + readout.get("baseline", 0.0)


# ------------------------------------------------------------------------------ fit
@dataclass
class _Free:
    name: str          # display name (alias or path, with @k for per-data-set copies)
    path: str          # resolved path or read-out name
    dataset: int | None
    init: float
    lo: float
    hi: float
    scale: float


def fit_model(datasets, model: Model, free, *, simulator: Callable | None = None,
              engine: str = "fast", executor=None, per_dataset: Sequence[str] = (),
              bounds: dict | None = None, truth: dict | None = None,
              max_nfev: int | None = None, diff_step: float = 1e-3, tol: float = 1e-4,
              progress: Callable | None = None, name: str = "model fit",
              mc_seeds: int | None = None, early: bool = True) -> FitResult:
    """Fit parameters ``free`` of ``model`` to ``datasets`` (a :class:`Dataset` or a list).

    ``free``: names (dotted paths, aliases, ``amplitude``/``phase``/``baseline``) or a dict
    name → initial value (None = the model's value). Everything else stays fixed at the
    model's value. ``simulator``: ``(model, dataset) -> complex`` (default: the ``engine``
    through :func:`engine_simulator`). ``bounds``: name → (low, high). ``truth``: name →
    true value (recorded). ``progress``: called with (n_simulations, cost) after each
    evaluation. ``diff_step``: relative finite-difference step; ``tol``: the optimiser's
    relative tolerances on χ² and on the parameters (1e-4: changes far below any
    Monte-Carlo uncertainty; there is no absolute gradient tolerance). ``mc_seeds``: how
    many more ensembles (independent seeds) are simulated at the optimum to add the
    model's Monte-Carlo error to the uncertainties (default 4 for an engine simulator, 0
    for a deterministic custom one). ``early``: with an engine simulator and at least 1200
    grains, fit first with 1/8 of the grains (at least 300; the same seeds), then polish
    with all of them. Returns a :class:`FitResult` whose ``meta["model"]``
    is the fitted model (as a dict) and ``meta["fitted_model"]`` the :class:`Model` itself.

    A fit that does not move from its start is refused (``success`` False), as is one
    whose final point is not the minimum (a Gauss–Newton step from it of more than 0.5σ).
    """
    if isinstance(datasets, Dataset):
        datasets = [datasets]
    datasets = list(datasets)
    if not datasets:
        raise FitError(f"{name}: no data sets")
    if isinstance(free, str):
        free = [s.strip() for s in free.split(",") if s.strip()]
    if not isinstance(free, dict):
        free = {n: None for n in free}
    if not free:
        raise FitError(f"{name}: no free parameters given")
    simulator = simulator or engine_simulator(engine, executor=executor)
    bounds = dict(bounds or {})
    truth = dict(truth or {})
    for k in per_dataset:
        if k not in free:
            raise FitError(f"{name}: per-data-set parameter {k!r} is not free")

    if getattr(simulator, "carrier_margin", False) is None and any(
            resolve_name(n).startswith("ensemble.") for n in free if n not in READOUT):
        # the largest grain energy moves with the fit: the carrier step needs the margin
        simulator.carrier_margin = 0.5
    model0 = model  # the model at the starting values
    for n, init in free.items():  # validate every name before the first (costly) simulation
        if n not in READOUT:
            v = get_path(model, n) if init is None else float(init)
            model0 = set_path(model0, n, v)
    batch = getattr(simulator, "batch", None)

    def sim_many(pairs) -> list[np.ndarray]:
        if batch is not None:
            return [np.asarray(r, complex) for r in batch(pairs)]
        return [np.asarray(simulator(m, ds), complex) for m, ds in pairs]

    freeze = getattr(simulator, "freeze", None)
    if freeze is not None:  # the step from the full ensemble (largest grain energy)
        for ds in datasets:
            freeze(model0, ds)
    n_full = model.ensemble.n_samples
    any_model_free = any(n not in READOUT for n in free)
    # fewer grains first (common random numbers: the same seeds), the full count to polish
    n_early = (max(n_full // 8, _EARLY_MIN) if early and any_model_free
               and getattr(simulator, "stochastic", False) and n_full >= 4 * _EARLY_MIN
               else n_full)
    model_early = _with_samples(model, n_early)
    # initial read-out values from a linear fit of the data to the initial simulation
    raw0 = sim_many([(_with_samples(model0, n_early), ds) for ds in datasets])
    for i, (r, ds) in enumerate(zip(raw0, datasets, strict=True)):
        if r.shape != ds.data.y.shape:
            raise FitError(f"{name}: simulator returned {r.shape} values for data set "
                           f"{i} ({ds.data.y.shape})")
        if not np.all(np.isfinite(r)):
            raise FitError(f"{name}: the simulation of data set {i} ({ds.label}) with the "
                           "initial parameters is not finite")
    ro_guess = _readout_guess(raw0, datasets, model0, free)

    frees: list[_Free] = []
    for n, init in free.items():
        path = n if n in READOUT else resolve_name(n)
        copies = range(len(datasets)) if n in per_dataset else [None]
        for k in copies:
            disp = n if k is None else f"{n}@{k}"
            if init is not None:
                v0 = float(init)
            elif n in READOUT:
                v0 = ro_guess[n] if k is None else ro_guess.get(f"{n}@{k}", ro_guess[n])
            else:
                v0 = get_path(model, path)
                if n in ALIASES or path:  # validate the path and that it can be set
                    set_path(model, path, v0)
            last = path.rsplit(".", 1)[-1]
            lo, hi = bounds.get(n, bounds.get(disp, (None, None)))
            if lo is None:
                lo = 0.0 if (last in _POSITIVE and n != "phase") else -np.inf
                if last in _POSITIVE and v0 > 0:
                    lo = v0 * 1e-4
            if hi is None:
                hi = np.inf
            if not lo < hi:
                raise FitError(f"{name}: bounds of {disp!r}: low {lo} >= high {hi}")
            if not lo <= v0 <= hi:
                raise FitError(f"{name}: initial value of {disp!r} ({v0:g}) outside its "
                               f"bounds [{lo:g}, {hi:g}]")
            sc = abs(v0) if v0 != 0 else (1.0 if n in ("phase",) else _zero_scale(n, datasets))
            frees.append(_Free(disp, path, k, v0, lo, hi, sc))

    model_frees = [f for f in frees if f.path not in READOUT]
    # the initial simulation is the cache's first entry (read-out-only fits need no other)
    cache: dict[tuple, list[np.ndarray]] = {
        (n_early, model.ensemble.seed, *(f.init for f in model_frees)): raw0}
    counter = {"sims": 1, "evals": 0}
    by_samples = {n_early: 1}  # simulations per ensemble size (the cost: ∝ grains)

    def count(n: int, k: int = 1) -> None:
        counter["sims"] += k
        by_samples[n] = by_samples.get(n, 0) + k
    state = {"base": model_early}
    noise = _data_noise(datasets, raw0, model0, ro_guess)
    known_sigma = noise.known
    weights = [1.0 / s for s in noise.scale]

    def build(u):
        vals = {f.name: float(ui * f.scale) for f, ui in zip(frees, u, strict=True)}
        m = state["base"]
        for f in model_frees:
            m = set_path(m, f.path, vals[f.name])
        return m, vals

    def key_of(m, vals):
        # the seed too: the nonlinear refits of replicate ensembles share this cache
        return (m.ensemble.n_samples, m.ensemble.seed, *(vals[f.name] for f in model_frees))

    def store(key, value):
        if len(cache) > 64:
            cache.pop(next(iter(cache)))
        cache[key] = value

    def raws(m, vals):
        key = key_of(m, vals)
        if key not in cache:
            store(key, sim_many([(m, ds) for ds in datasets]))
            count(m.ensemble.n_samples)
        return cache[key]

    def readout_of(vals, k):
        ro = {}
        for n in READOUT:
            if f"{n}@{k}" in vals:
                ro[n] = vals[f"{n}@{k}"]
            elif n in vals:
                ro[n] = vals[n]
        return ro

    def predictions(m, vals, rs):
        preds = []
        for k, (ds, r) in enumerate(zip(datasets, rs, strict=True)):
            pred = apply_readout(r, m, readout_of(vals, k))
            if not ds.data.is_complex and ds.data.meta.get("signal_kind") == "magnitude":
                pred = np.abs(pred) + 0j  # magnitudes are compared with |model|
            preds.append(pred)
        return preds

    def stack(parts, k_weights=None):
        """Residual-ordered real vector (Re, and Im for complex data, per data set)."""
        out = []
        for k, (ds, z) in enumerate(zip(datasets, parts, strict=True)):
            if k_weights is not None:
                z = z * k_weights[k]
            out.append(np.real(z))
            if ds.data.is_complex:
                out.append(np.imag(z))
        return np.concatenate(out)

    def residuals(u, full=False):
        try:
            m, vals = build(u)
            rs = raws(m, vals)
        except ModelError as exc:
            raise FitError(f"{name}: a trial parameter set is invalid ({exc}); tighten the "
                           "bounds") from None
        preds = predictions(m, vals, rs)
        counter["evals"] += 1
        vec = stack([ds.data.y - p for ds, p in zip(datasets, preds, strict=True)], weights)
        if progress is not None:
            progress(counter["sims"], float(0.5 * vec @ vec))
        return (vec, preds) if full else vec

    u0 = np.array([f.init / f.scale for f in frees])
    lo = np.array([f.lo / f.scale for f in frees])
    hi = np.array([f.hi / f.scale for f in frees])

    model_cols = np.array([f.path not in READOUT for f in frees])
    # quasi-Newton state of the polishing stage: the Jacobian at the last point and the
    # residuals there (``J`` seeded with the first stage's last Jacobian)
    qn = {"on": False, "u": None, "f": None, "J": None}

    def fd_columns(u, f0, cols):
        """Forward-difference columns ``cols`` of the Jacobian at ``u`` (residuals ``f0``);
        the simulations of all model-parameter columns in one batch (they share the
        cores); read-out columns reuse the cached simulation."""
        points = []
        for j in cols:
            h = diff_step * max(abs(u[j]), 1.0)
            uj = u.copy()
            uj[j] = u[j] + h if u[j] + h <= hi[j] else u[j] - h
            points.append(uj)
        todo: dict[tuple, Model] = {}
        for uj in points:
            m, vals = build(uj)
            key = key_of(m, vals)
            if key not in cache:
                todo.setdefault(key, m)
        if todo:
            try:
                outs = sim_many([(m, ds) for m in todo.values() for ds in datasets])
            except ModelError as exc:
                raise FitError(f"{name}: a trial parameter set is invalid ({exc}); tighten "
                               "the bounds") from None
            for i, key in enumerate(todo):
                store(key, outs[i * len(datasets):(i + 1) * len(datasets)])
            count(state["base"].ensemble.n_samples, len(todo))
        out = np.empty((f0.size, len(points)))
        for i, (j, uj) in enumerate(zip(cols, points, strict=True)):
            out[:, i] = (residuals(uj) - f0) / (uj[j] - u[j])
        return out

    def fd_jacobian(u):
        f0 = residuals(u)
        J = fd_columns(u, f0, range(u.size))
        qn.update(u=u.copy(), f=f0, J=J)
        return J

    def jacobian(u):
        """Forward differences; in the polishing stage of a staged fit (``qn["on"]``) the
        model-parameter columns by Broyden's secant update instead (no simulation), the
        read-out columns still exact (their simulations are the cached one at ``u``). The
        end point of that stage gets a forward-difference Jacobian again (for the
        Gauss–Newton check and the covariance)."""
        if not (qn["on"] and qn["J"] is not None and model_cols.any()):
            return fd_jacobian(u)
        f1 = residuals(u)
        J = qn["J"].copy()
        ro = np.flatnonzero(~model_cols)
        if ro.size:
            J[:, ro] = fd_columns(u, f1, ro)
        if qn["u"] is not None:
            du = u - qn["u"]
            dm = du[model_cols]
            if float(dm @ dm) > 0:
                # the secant condition J·du = f1 − f0, the smallest change of the model
                # columns (the read-out part of the step is predicted exactly)
                err = f1 - qn["f"] - J @ du
                J[:, model_cols] += np.outer(err, dm) / float(dm @ dm)
        qn.update(u=u.copy(), f=f1, J=J)
        return J

    t0 = time.perf_counter()
    nfev = 0
    u_start = u0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # relative stopping criteria: ftol (relative change of χ²) and xtol (relative
        # change of the scaled parameters). gtol bounds the gradient in the residuals'
        # units — noise-scaled here, where 1e-10 only catches an exactly flat objective
        # (an absolute 1e-4 on raw µV residuals let fits stop at their start)
        budget = max_nfev or 60 * (len(frees) + 1)
        if n_early < n_full:
            res = least_squares(residuals, u_start, jac=jacobian, bounds=(lo, hi),
                                method="trf", x_scale=1.0, xtol=10 * tol, ftol=10 * tol,
                                gtol=_GTOL, max_nfev=budget)
            nfev += int(res.nfev)
            u_start = res.x
            state["base"] = model
            refreeze = getattr(simulator, "refreeze", None)
            if refreeze is not None:
                # the steps frozen again at the first stage's optimum, closer to the
                # engine's own (the polish moves the parameters by about the Monte-Carlo
                # error of the first stage; "not resolved" below checks the end point)
                m_early, _ = build(res.x)
                for ds in datasets:
                    refreeze(m_early, ds, _POLISH_MARGIN)
            # polishing: the first stage's Jacobian seeds Broyden updates (the
            # read-out columns exact), a full one at the end point only
            qn.update(on=True, u=None, f=None, J=np.asarray(res.jac, float).copy())
        off_minimum = ""
        for _attempt in range(3):
            # the polish (Broyden Jacobians) stops on 10 × tol and is finished by the
            # Gauss–Newton step of the forward-difference Jacobian at its end point
            # (taken when it predicts more than 0.01 noise units, i.e. 0.1σ jointly):
            # the trust region's last small steps on an approximate Jacobian cost one
            # full simulation each and move the point by far less than its error
            p_tol = 10 * tol if qn["on"] else tol
            res = least_squares(residuals, u_start, jac=jacobian, bounds=(lo, hi),
                                method="trf", x_scale=1.0, xtol=p_tol, ftol=p_tol,
                                gtol=_GTOL, max_nfev=max(budget - nfev, 5))
            nfev += int(res.nfev)
            if qn["on"]:
                res.jac = fd_jacobian(res.x)  # the true Jacobian at the end point
            # is the end point the minimum? try the Gauss–Newton step from it: in a curved
            # valley trf can stop on xtol short of the minimum (then it goes on from
            # there); if the step does not really lower χ², the point is kept
            off_minimum, u_next, r_next = _gauss_newton_check(
                res, residuals, lo, hi, known_sigma, finish=0.01 if qn["on"] else None)
            if u_next is None:
                break
            nfev += 1
            if r_next is not None:  # a small step that lowers χ²: the end point
                res.x, res.fun = u_next, r_next
                break
            u_start = u_next
    elapsed = time.perf_counter() - t0
    vec, preds = residuals(res.x, full=True)
    fitted, vals = build(res.x)
    nvary = len(frees)
    ndata = vec.size
    dof = max(ndata - nvary, 1)

    # ---- the model's Monte-Carlo error: K more ensembles at the optimum (other seeds)
    if mc_seeds is None:
        mc_seeds = 4 if getattr(simulator, "stochastic", False) else 0
    # (at most _MC_SAMPLES grains each: the Monte-Carlo covariance of a mean over n grains
    # scales as 1/n, so it is scaled back to the fit's n_full)
    n_rep = n_full if n_full <= _MC_SAMPLES else max(n_full // 4, _MC_SAMPLES)
    reps = [stack(preds)] if n_rep == n_full else []
    if mc_seeds:
        m_reps = [_with_samples(_reseeded(fitted, k), n_rep) for k in range(int(mc_seeds))]
        outs = sim_many([(m_k, ds) for m_k in m_reps for ds in datasets])
        count(n_rep, int(mc_seeds))
        for k, m_k in enumerate(m_reps):
            raw_k = outs[k * len(datasets):(k + 1) * len(datasets)]
            reps.append(stack(predictions(m_k, vals, raw_k)))
    reps = np.array(reps) if reps else np.zeros((0, ndata))  # (K[+1], ndata)
    mc_scale = n_rep / n_full  # variance of n_rep grains → of n_full grains
    var_mc = (reps.var(axis=0, ddof=1) * mc_scale if len(reps) > 1 else np.zeros(ndata))

    # ---- the data's noise: given, or from the residual scatter minus the model's part
    resid_raw = stack([ds.data.y - p for ds, p in zip(datasets, preds, strict=True)])
    sig_rows = _rows(datasets, noise.scale)
    if known_sigma:
        sig_d = sig_rows
        noise_note = "data noise " + noise.source
    else:
        ms = float(resid_raw @ resid_raw) / dof
        var_d = max(ms - float(var_mc.mean()), 0.25 * ms)
        sig_d = np.full(ndata, math.sqrt(var_d)) if var_d > 0 else sig_rows
        noise_note = (f"data noise {math.sqrt(var_d):.3g} per point from the residual "
                      "scatter" + (" less the model's Monte-Carlo part" if mc_seeds else ""))
        if noise.estimate is not None:
            noise_note += f" (phase-cycle estimate {noise.estimate:.3g})"
    var_tot = sig_d**2 + var_mc
    chi2 = float(np.sum(resid_raw**2 / var_tot))
    redchi = chi2 / dof
    J = None if res.jac is None else np.asarray(res.jac, float) * (sig_rows / sig_d)[:, None]
    cov_u, singular = _covariance(J)
    errorbars = cov_u is not None
    D = np.array([f.scale for f in frees])
    cov = mc_cov = None
    data_mc = 0.0
    if errorbars:
        # linearised refit of every replicate ensemble: δu_k = (JᵀJ)⁻¹Jᵀ·δm_k/σ
        A = cov_u @ J.T / sig_d[None, :]
        du = (reps - reps.mean(axis=0)) @ A.T  # (K+1, nvary)
        cov_mc_u = ((du.T @ du) / (len(reps) - 1) * mc_scale if len(reps) > 1
                    else np.zeros_like(cov_u))
        # simulated data carry the Monte-Carlo error of their own ensemble: the same
        # covariance, scaled by the ratio of ensemble sizes
        n_fit = model.ensemble.n_samples
        data_mc = max((n_fit / float(ds.data.meta["simulated_samples"]) for ds in datasets
                       if ds.data.meta.get("simulated_samples")), default=0.0)
        cov = (cov_u + (1.0 + data_mc) * cov_mc_u) * np.outer(D, D)
        mc_cov = cov_mc_u * np.outer(D, D)
    # ---- where the linearisation is not trusted: the replicate ensembles refitted
    nonlinear: dict = {}
    if errorbars and mc_seeds and res.jac is not None:
        suspect = [f.name for i, f in enumerate(frees)
                   if f.path not in READOUT and _is_positive(f.path) and vals[f.name] > 0
                   and math.sqrt(max(cov[i, i], 0.0)) > _LINEAR_REL_MAX * vals[f.name]]
        if suspect:
            linear_rel = {f.name: math.sqrt(max(cov[i, i], 0.0)) / vals[f.name]
                          for i, f in enumerate(frees) if f.name in suspect}
            for k, m_k in enumerate(m_reps):
                raw_k = outs[k * len(datasets):(k + 1) * len(datasets)]
                store(key_of(m_k, vals), raw_k)  # the refit starts from these
            ends, bound_hits, n_ev = _refit_replicates(
                m_reps, res.x, np.asarray(res.jac, float), state, qn, residuals,
                jacobian, lo, hi, tol)
            U = np.vstack(([res.x] if n_rep == n_full else []) + ends)
            dU = U - U.mean(axis=0)
            cov_mc_u = (dU.T @ dU) / (len(U) - 1) * mc_scale
            cov = (cov_u + (1.0 + data_mc) * cov_mc_u) * np.outer(D, D)
            mc_cov = cov_mc_u * np.outer(D, D)
            nonlinear = {"suspect": suspect, "linear_rel": linear_rel, "refits": len(ends),
                         "evaluations": n_ev, "at_bound": bound_hits,
                         "ends": {f.name: [float(e[i] * f.scale) for e in ends]
                                  for i, f in enumerate(frees)}}
    pv: dict[str, ParamValue] = {}
    for i, f in enumerate(frees):
        se = math.sqrt(cov[i, i]) if (cov is not None and cov[i, i] >= 0) else None
        pv[f.name] = ParamValue(f.name, vals[f.name], se, True, f.init,
                                None if not math.isfinite(f.lo) else f.lo,
                                None if not math.isfinite(f.hi) else f.hi,
                                _unit(f.path), truth.get(f.name))
    for n in READOUT:  # fixed read-out parameters are reported too
        if n not in free and not any(f.name.startswith(n + "@") for f in frees):
            v = (model.ensemble.n_grains * model.ensemble.g * model.ensemble.spin
                 if n == "amplitude" else 0.0)
            pv[n] = ParamValue(n, v, None, False, v, unit=_UNITS[n], truth=truth.get(n))
    corr = covariance_to_correlation(cov) if cov is not None else None
    success = bool(res.success) and errorbars
    msg = str(res.message)
    moved = not np.array_equal(res.x, u0)
    if not moved:
        success = False
        msg = ("REFUSED: the fit did not move from its starting values (the optimiser "
               f"stopped after {nfev} evaluation(s): {res.message}); the start is not "
               "shown to be a minimum — try other initial values or check that the data "
               "depend on the free parameters")
    if not errorbars:
        msg += f"; uncertainties could not be estimated ({singular})"
    elif off_minimum and moved:
        success = False
        msg += f"; not at the minimum: {off_minimum}"
    at_bound = [f.name for f, a in zip(frees, res.active_mask, strict=True) if a != 0]
    if at_bound:
        success = False
        msg += f"; parameter(s) at a bound: {', '.join(at_bound)}"
    resolved = getattr(simulator, "resolved", None)
    coarse = [w for w in (resolved(fitted, ds) for ds in datasets) if w] if resolved else []
    if coarse:
        success = False
        msg += ("; not resolved: " + "; ".join(coarse) + " — the result is outside the "
                "range the simulation was set up for; refit starting from it")
    poor = poor_fit(chi2, ndata - nvary, known_sigma=known_sigma)
    if poor:
        success = False
        msg += "; " + poor
    combos = []
    if errorbars:
        # additive read-out parameters are judged against the data's scale (baseline,
        # V) or a radian (phase), not against their value (which may be ~0)
        y_max = max(float(np.max(np.abs(ds.data.y))) for ds in datasets)
        ref = {f.name: (y_max if f.path == "baseline" else 1.0) for f in frees
               if f.path in ("baseline", "phase")}
        loose = undetermined(pv, corr, [f.name for f in frees], scale=ref)
        if loose:
            success = False
            msg += f"; not determined by the data: {loose}"
        combos = constrained_combinations(pv, cov, [f.name for f in frees],
                                          positive=[f.name for f in frees
                                                    if _is_positive(f.path)])
        if nonlinear:
            vague = _vague(pv, frees, nonlinear)
            if vague:
                success = False
                msg += ("; not determined by the data (refitted with other model "
                        f"ensembles): {vague}")
                if combos:
                    msg += "; " + "; ".join(combination_text(c) for c in combos)
    msg += f"; {noise_note}"
    if mc_seeds and mc_cov is not None and nonlinear:
        lin = ", ".join(f"{n} {100 * r:.3g} %" for n, r in nonlinear["linear_rel"].items())
        msg += (f"; uncertainties include the model's Monte-Carlo error from "
                f"{nonlinear['refits']} nonlinear refits of the data with other model "
                f"ensembles ({nonlinear['evaluations']} evaluations; the linearised "
                f"error was not trusted: {lin} of the value)")
    elif mc_seeds and mc_cov is not None:
        msg += (f"; uncertainties include the model's Monte-Carlo error ({int(mc_seeds)} "
                "more ensembles at the optimum)")
        if data_mc:
            msg += (" and that of the simulated data's own ensemble (×"
                    f"{data_mc:.3g} in variance)")
    curves = []
    for k, (ds, pred) in enumerate(zip(datasets, preds, strict=True)):
        e = ds.errors()
        curves.append(FitCurve(ds.label or f"data set {k}", ds.data.x, ds.data.y, pred,
                               None if e is None else np.asarray(e, float), ds.data.x_name,
                               ds.data.x_unit, ds.data.y_unit))
    mc_se = ({f.name: math.sqrt(max(mc_cov[i, i], 0.0)) for i, f in enumerate(frees)}
             if mc_cov is not None else {})
    return FitResult(name=name, params=pv, success=success, message=msg, chi2=chi2,
                     redchi=redchi, ndata=ndata, nvary=nvary, nfev=nfev,
                     correlations=corr, varied=[f.name for f in frees],
                     covar_scaled=not known_sigma, uncertainties=errorbars, curves=curves,
                     combinations=combos,
                     meta={"model": fitted.to_dict(), "fitted_model": fitted,
                           "simulations": counter["sims"], "seconds": elapsed,
                           "simulations_by_samples": dict(sorted(by_samples.items())),
                           "engine": getattr(simulator, "engine", "custom"),
                           "datasets": [ds.label for ds in datasets],
                           "moved": moved, "mc_seeds": int(mc_seeds),
                           "samples": {"early": n_early, "full": n_full,
                                       "mc_replicates": n_rep},
                           "mc_stderr": mc_se, "noise": noise_note,
                           "nonlinear": nonlinear})


def _vague(pv: dict, frees, nonlinear: dict) -> str:
    """The positive parameters (of those whose linearised error was not trusted) that the
    data do not determine: a 1σ error above ``_DETERMINED_REL`` of the value, stated
    (after the nonlinear refits) or linearised at the optimum — either way the ±2σ
    interval reaches zero and no Gaussian interval describes the parameter (the refits
    start at the optimum and may stay in its basin; the local curvature alone already
    says the valley is that long). With the range the refits ended in; '' if none."""
    out = []
    for f in frees:
        if f.name not in nonlinear["suspect"]:
            continue
        p = pv[f.name]
        rel = math.inf if p.stderr is None else p.stderr / abs(p.value)
        rel_lin = nonlinear["linear_rel"][f.name]
        if max(rel, rel_lin) > _DETERMINED_REL:
            ends = nonlinear["ends"][f.name]
            out.append(f"{f.name} = {p.value:.4g} {p.unit}, 1σ = {100 * rel:.3g} % of its "
                       f"value from the refits ({100 * rel_lin:.3g} % linearised), the "
                       f"refits end between {min(ends):.3g} and {max(ends):.3g} {p.unit}")
    if out and nonlinear["at_bound"]:
        out.append(f"{nonlinear['at_bound']} of {nonlinear['refits']} refits ended at a "
                   "bound")
    return "; ".join(out)


def _refit_replicates(m_reps, u_hat, J_hat, state, qn, residuals, jacobian, lo, hi,
                      tol):
    """Each replicate ensemble ``m_reps[k]`` (another seed) fitted to the same data,
    starting from the optimum ``u_hat``: a parametric bootstrap of the model's Monte-Carlo
    error that follows the objective where it is not quadratic (a curved or flat valley, a
    second minimum). The Jacobian: Broyden updates seeded with the optimum's ``J_hat``
    (read-out columns exact), so each refit costs one simulation per evaluation, at most
    ``_REFIT_NFEV``. Returns (end points in scaled parameters, how many ended at a bound,
    evaluations)."""
    ends, at_bound, n_ev = [], 0, 0
    base, qn_saved = state["base"], dict(qn)
    try:
        for m_k in m_reps:
            state["base"] = m_k
            qn.update(on=True, u=None, f=None, J=J_hat.copy())
            r = least_squares(residuals, u_hat, jac=jacobian, bounds=(lo, hi), method="trf",
                              x_scale=1.0, xtol=10 * tol, ftol=10 * tol, gtol=_GTOL,
                              max_nfev=_REFIT_NFEV)
            ends.append(np.asarray(r.x, float))
            at_bound += int(np.any(r.active_mask != 0))
            n_ev += int(r.nfev)
    finally:  # the fit's own model and Jacobian state, as before the refits
        state["base"] = base
        qn.clear()
        qn.update(qn_saved)
    return ends, at_bound, n_ev


def _gauss_newton_check(res, residuals, lo, hi, known_sigma: bool,
                        finish: float | None = None):
    """('', None, None) when ``res`` ends at the minimum; (why, where to go on from, None)
    when not; with ``finish``, ('', u, r) for a better end point u (residuals r).

    The Gauss–Newton step from the end point predicts a decrease of χ² (in units of the
    noise variance: 1 with known errors, else the residual mean square); above ¼ (the
    point is more than ½σ, jointly, from the predicted minimum) — or above ``finish`` —
    the step is evaluated: if it lowers χ² by more than ¼ the fit is not at the minimum;
    with ``finish``, a step that lowers χ² at all is the new end point."""
    J, r = np.asarray(res.jac, float), np.asarray(res.fun, float)
    if J.size == 0 or not np.all(np.isfinite(J)):
        return "", None, None
    dof = max(r.size - J.shape[1], 1)
    unit = 1.0 if known_sigma else max(float(r @ r) / dof, 1e-300)
    step, *_ = np.linalg.lstsq(J, -r, rcond=None)
    u_new = np.clip(res.x + step, lo, hi)
    pred = float(np.sum((J @ (u_new - res.x)) ** 2)) / unit
    if not np.isfinite(pred) or pred <= (0.25 if finish is None else min(finish, 0.25)):
        return "", None, None
    r_new = residuals(u_new)
    gain = (float(r @ r) - float(r_new @ r_new)) / unit
    if gain > 0.25:
        return (f"a Gauss–Newton step from the end point lowers χ² by {gain:.3g} (noise "
                "units)"), u_new, None
    if finish is not None and gain > 0:
        return "", u_new, np.asarray(r_new, float)
    return "", None, None


def _with_samples(model: Model, n: int) -> Model:
    """``model`` with ``n`` simulated grains (the same seed: the same first grains)."""
    if model.ensemble.n_samples == n:
        return model
    return dataclasses.replace(model, ensemble=dataclasses.replace(model.ensemble,
                                                                   n_samples=int(n)))


def _reseeded(model: Model, k: int) -> Model:
    """``model`` with an independent ensemble seed (replicate ``k`` ≥ 0): other grains and
    other noise histories, for the Monte-Carlo error of a prediction."""
    ens = model.ensemble
    ss = np.random.SeedSequence(int(ens.seed), spawn_key=(0x4D43, int(k)))
    seed = int(ss.generate_state(1, np.uint32)[0])
    return dataclasses.replace(model, ensemble=dataclasses.replace(ens, seed=seed))


def _rows(datasets, per_set) -> np.ndarray:
    """Per-point values of each data set laid out as the residual vector (Re rows, then Im
    rows for complex data)."""
    out = []
    for ds, v in zip(datasets, per_set, strict=True):
        v = np.broadcast_to(np.asarray(v, float), ds.data.y.shape)
        out.append(v)
        if ds.data.is_complex:
            out.append(v)
    return np.concatenate(out)


@dataclass
class _Noise:
    scale: list          # per data set: per-point σ (V) that scales the residuals
    known: bool          # every data set's σ given or estimated from the data
    source: str
    estimate: float | None = None


def _data_noise(datasets, raw0, model0, ro_guess) -> _Noise:
    """The standard error per point that scales each data set's residuals: given (a
    ``sigma`` column or ``Dataset.sigma``), else the phase-cycle estimate of a result file
    (``data.meta["noise_estimate"]``, :mod:`echo.fit.noise`), else a provisional common
    scale (1 % of the rms data) — then the uncertainties come from the residual scatter."""
    errs = [ds.errors() for ds in datasets]
    if all(e is not None for e in errs):
        return _Noise([np.asarray(e, float) for e in errs], True, "given with the data")
    ests = [ds.data.meta.get("noise_estimate") for ds in datasets]
    est_ok = [e is not None and math.isfinite(float(e)) and float(e) > 0 for e in ests]
    rms = math.sqrt(float(np.mean(np.concatenate([np.abs(ds.data.y) ** 2
                                                  for ds in datasets]))))
    scale = 0.01 * rms if rms > 0 else 1.0
    out = []
    for e, est, ok in zip(errs, ests, est_ok, strict=True):
        out.append(np.asarray(e, float) if e is not None
                   else np.asarray(float(est) if ok else scale))
    est = max((float(e) for e, ok in zip(ests, est_ok, strict=True) if ok), default=None)
    return _Noise(out, False, "estimated", est)


def _is_positive(path: str) -> bool:
    """A parameter positive by nature (a width, a time, a rate, the amplitude)."""
    return path not in ("phase", "baseline") and path.rsplit(".", 1)[-1] in _POSITIVE


def _unit(path: str) -> str:
    if path in READOUT:
        return _UNITS[path]
    last = path.rsplit(".", 1)[-1]
    return "Hz" if last == "amplitude" else _UNITS.get(last, "")


def _zero_scale(n: str, datasets) -> float:
    if n == "baseline":
        s = max(float(np.max(np.abs(ds.data.y))) for ds in datasets)
        return s * 0.1 if s > 0 else 1.0
    return 1.0


def _readout_guess(raw0, datasets, model: Model, free: dict) -> dict:
    """Least-squares amplitude (complex → magnitude & phase) and baseline(s) given the
    initial simulation: y ≈ c·raw + b."""
    ens = model.ensemble
    ref = ens.n_grains * ens.g * ens.spin
    want_b = "baseline" in free
    rows, ys = [], []
    for r, ds in zip(raw0, datasets, strict=True):
        cols = [r]
        if want_b:
            cols.append(np.ones_like(r))
        rows.append(np.column_stack(cols))
        ys.append(ds.data.y)
    A = np.vstack(rows)
    y = np.concatenate(ys)
    guess = {"amplitude": ref, "phase": 0.0, "baseline": 0.0}
    if not np.any(A[:, 0]):
        return guess
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    c = complex(coef[0])
    if "phase" in free:
        guess["amplitude"] = ref * abs(c) if "amplitude" in free else ref
        guess["phase"] = float(np.angle(c))
    elif "amplitude" in free:
        guess["amplitude"] = ref * max(c.real, 1e-12 * abs(c)) if c.real > 0 else ref * abs(c)
    if want_b:
        guess["baseline"] = float(coef[1].real)
    return guess


def _covariance(J: np.ndarray):
    """(JᵀJ)⁻¹ via SVD, or (None, reason) when J is rank deficient."""
    if J is None or J.size == 0:
        return None, "no Jacobian"
    _, s, vt = np.linalg.svd(np.asarray(J, float), full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return None, "zero Jacobian: the data do not depend on the free parameters"
    tol = np.finfo(float).eps * max(J.shape) * s[0] * 10
    if np.any(s <= tol):
        return None, "singular Jacobian: some free parameters are not constrained by the data"
    cov = (vt.T / s**2) @ vt
    return cov, ""
