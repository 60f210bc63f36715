"""RF source: Agilent/Keysight 8257D PSG (pymeasure) as a carrier gated by an AWG
marker through its rear PULSE input (external pulse modulation).

Commands (PSG SCPI reference; frequency/power/pulse-source properties are
pymeasure's): ``:FREQ <f> Hz;``, ``:POW <p> dBm;``, ``:SOUR:PULM:SOUR EXT``,
``:SOUR:PULM:STAT ON|OFF``, ``:OUTPUT:MOD ON|OFF;``, ``:OUTPUT ON|OFF;``.
:meth:`Agilent8257D.shutdown` switches the RF output off *first*, then the modulation.
The lab's ``max_power_dbm`` narrows ``power_values`` so a higher power is refused
before anything is sent.
"""

from __future__ import annotations

import warnings

from pymeasure.instruments import Instrument
from pymeasure.instruments.agilent.agilent8257D import Agilent8257D as _Agilent8257D
from pymeasure.instruments.validators import strict_range

from instruments.drivers.scpi import ScpiErrorQueueMixin
from instruments.errors import InstrumentError


class Agilent8257D(ScpiErrorQueueMixin, _Agilent8257D):
    """8257D with external pulse modulation, a power guard and a safe shutdown."""

    IDN_PATTERN = r",\s*E82[56]7D\s*,"

    power = Instrument.control(
        ":POW?;", ":POW %g dBm;",
        """Control the output power in dBm (float); limited by ``power_values``.""",
        validator=strict_range, values=[-135.0, 25.0], dynamic=True,
    )

    def __init__(self, adapter, name="Agilent 8257D", **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            super().__init__(adapter, name, **kwargs)

    def configure_pulsed_carrier(self, frequency: float, power_dbm: float) -> None:
        """Carrier at ``frequency`` (Hz) and ``power_dbm``, gated by the external
        PULSE input (TTL high = RF on); the RF output itself stays off until
        :meth:`enable` (``:OUTPUT ON;``)."""
        self.power = power_dbm
        self.frequency = frequency
        self.pulse_source = "external"
        self.enable_pulse_modulation()
        self.write(":OUTPUT:MOD ON;")

    def shutdown(self) -> None:
        """RF output off, then pulse modulation and modulation off (each attempted)."""
        failures = []
        for command in (":OUTPUT OFF;", ":SOUR:PULM:STAT OFF", ":OUTPUT:MOD OFF;"):
            try:
                self.write(command)
            except Exception as exc:  # noqa: BLE001 - attempt all, report after
                failures.append(f"{command} {exc}")
        Instrument.shutdown(self)
        if failures:
            raise InstrumentError("shutdown incomplete: " + "; ".join(failures), self.name)

    def verify_safe(self) -> list[str]:
        """Read the RF output state back (``:OUTP?``)."""
        reply = self.ask(":OUTP?").strip()
        return [] if reply in ("0", "+0", "OFF") else [f":OUTP? answers {reply!r} (RF on)"]
