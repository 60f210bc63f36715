"""echo.fit: hold measured echoes against models.

* :mod:`echo.fit.loaders` — :func:`load` result files, pymeasure CSV, plain CSV/TXT →
  :class:`EchoData` (NaNs masked with a warning, malformed files → :class:`DataFileError`).
* :mod:`echo.fit.empirical` — :func:`fit_echo_decay` (A·exp(−(2τ/T_M)^n)+c),
  :func:`fit_t1_recovery`.
* :mod:`echo.fit.chi_fit` — :func:`fit_chi` χ''(ω) against :mod:`echo.theory`.
* :mod:`echo.fit.model_fit` — :func:`fit_model`: free parameters of a model file (dotted
  paths) against one or several data sets, with the ``fast`` engine in the loop.
* :mod:`echo.fit.moment` — :func:`moment_from_echo`: magnetic moment per grain from the echo
  amplitude and the SQUID calibration, compared with susceptibility.
* :mod:`echo.fit.report` — :func:`write_report`: table, overlay + residual plots, JSON.
* :mod:`echo.fit.compare` — :func:`compare`: runs + sequence + model file → fit + report
  (what ``spinecho compare`` runs).

See docs/fitting.md.

Every fit returns a :class:`FitResult`; non-convergence is reported in it, not raised.
"""

from echo.fit.chi_fit import chi_model, fit_chi
from echo.fit.compare import compare, load_run
from echo.fit.empirical import fit_echo_decay, fit_t1_recovery, stretched_echo, t1_recovery
from echo.fit.errors import DataFileError, FitError
from echo.fit.fitresult import FitCurve, FitResult, ParamValue
from echo.fit.loaders import EchoData, from_arrays, from_result, load
from echo.fit.model_fit import (
    Dataset,
    dataset_from_sequence,
    engine_simulator,
    fit_model,
    get_path,
    set_path,
)
from echo.fit.moment import (
    compare_moments,
    moment_from_echo,
    moment_from_fit,
    moment_from_susceptibility,
)
from echo.fit.report import plot_fit, write_report

__all__ = ["DataFileError", "Dataset", "EchoData", "FitCurve", "FitError", "FitResult",
           "ParamValue", "chi_model", "compare", "compare_moments", "dataset_from_sequence",
           "engine_simulator", "fit_chi", "fit_echo_decay", "fit_model", "fit_t1_recovery",
           "from_arrays", "from_result", "get_path", "load", "load_run", "moment_from_echo",
           "moment_from_fit", "moment_from_susceptibility", "plot_fit", "set_path",
           "stretched_echo", "t1_recovery", "write_report"]
