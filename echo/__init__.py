"""echo: simulation of spin echoes in ensembles of giant spins, and the paper's theory.

Submodules: :mod:`echo.model` (Ensemble, Environment, Detection), :mod:`echo.theory`
(the spin-bath closed forms of Prokof'ev & Stamp), the engines, :mod:`echo.fit`.
The simulation core imports nothing from ``instruments``.
"""

__version__ = "0.1.0"
