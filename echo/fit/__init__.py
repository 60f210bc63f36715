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

Every fit returns a :class:`FitResult`; non-convergence is reported in it, not raised.
"""

from echo.fit.empirical import fit_echo_decay, fit_t1_recovery, stretched_echo, t1_recovery
from echo.fit.errors import DataFileError, FitError
from echo.fit.fitresult import FitCurve, FitResult, ParamValue
from echo.fit.loaders import EchoData, from_arrays, from_result, load

__all__ = ["DataFileError", "EchoData", "FitCurve", "FitError", "FitResult", "ParamValue",
           "fit_echo_decay", "fit_t1_recovery", "from_arrays", "from_result", "load",
           "stretched_echo", "t1_recovery"]
