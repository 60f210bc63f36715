"""pymeasure drivers for the instruments of a spin-echo lab.

Each module holds one kind of instrument: :mod:`~instruments.drivers.awg` (Keysight
33500B/33600A, 81160A), :mod:`~instruments.drivers.digitizer` (Keysight DSOX,
Red Pitaya), :mod:`~instruments.drivers.lockin` (SR830/SR860),
:mod:`~instruments.drivers.rf_source` (Agilent 8257D) and
:mod:`~instruments.drivers.squid` (the SQUID read-out chain, pure Python).
"""
