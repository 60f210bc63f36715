"""Spectral hole burning: burns designed from the sample (:mod:`echo.hole.burn`), the two
read-outs of a hole and its analysis (:mod:`echo.hole.readout`, :mod:`echo.hole.analysis`)
and the spectral-diffusion fit of a refilling series (:mod:`echo.hole.diffusion`).
See docs/holeburning.md."""

from echo.hole.burn import (
    BurnDesign,
    RabiCalibration,
    burn_angles,
    design_burn,
    parse_burn,
    rabi_frequency,
    rabi_profile,
    resonant_grains,
)

__all__ = ["BurnDesign", "RabiCalibration", "burn_angles", "design_burn", "parse_burn",
           "rabi_frequency", "rabi_profile", "resonant_grains"]
