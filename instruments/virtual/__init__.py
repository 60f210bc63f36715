"""The virtual lab: SCPI servers on loopback TCP that speak what the lab's instruments
speak, backed by the ``echo`` engine and a sample model.

* :mod:`~instruments.virtual.scpi` — message parsing (program units, compound headers,
  IEEE 488.2 blocks read by length, short/long header forms), SCPI error numbers;
* :mod:`~instruments.virtual.server` — :class:`VirtualInstrument` (command table,
  common commands, ``SYST:ERR?`` queue, received-command log, :class:`Faults`) and
  :class:`SCPIServer` (one instrument on a TCP port, background threads);
* emulated instruments: :mod:`~instruments.virtual.awg` (Keysight 33522B),
  :mod:`~instruments.virtual.digitizer` (Keysight DSOX, InfiniiVision),
  :mod:`~instruments.virtual.redpitaya` (Red Pitaya acquisition),
  :mod:`~instruments.virtual.lockin` (SR830);
* :mod:`~instruments.virtual.sample` — AWG volts → field → echo engine → SQUID volts;
* :mod:`~instruments.virtual.lab` — :class:`VirtualLab` and its TOML configuration
  (``examples/virtual_lab.toml``; ``spinecho lab serve``).

Clients use pyvisa-py ``TCPIP::127.0.0.1::PORT::SOCKET`` resources, exactly as for real
instruments.
"""

from instruments.virtual.lab import (
    VirtualLab,
    VirtualLabConfig,
    VirtualLabError,
    config_from_dict,
    default_config,
    load_config,
)
from instruments.virtual.sample import VirtualSample, schedule_from_field
from instruments.virtual.server import Faults, SCPIServer, VirtualInstrument, command

__all__ = [
    "Faults", "SCPIServer", "VirtualInstrument", "VirtualLab", "VirtualLabConfig",
    "VirtualLabError", "VirtualSample", "command", "config_from_dict", "default_config",
    "load_config", "schedule_from_field",
]
