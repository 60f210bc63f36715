"""The lab file: which instrument plays which role, how to reach it, its calibration
and the safety limits. TOML, parsed into :class:`LabConfig` (frozen dataclasses).

.. code-block:: toml

    [lab]
    name = "cryostat 2"

    [limits]                  # checked by the compiler before anything is sent
    max_amplitude_v = 2.0     # peak |V| at the AWG output
    max_duty_cycle = 0.05     # drive-on time / repetition period
    max_pulse_energy = 1e-6   # ∫ V(t)² dt of one pulse, V² s (energy into R ohm = this / R)

    [awg]
    driver = "instruments.drivers.awg:Keysight33500B"
    resource = "TCPIP::127.0.0.1::5025::SOCKET"
    channel = 1
    sample_rate = 250e6       # Sa/s
    volts_per_tesla = 100.0   # V at the AWG output per T of field at the sample
    full_scale_v = 2.5        # V of DAC code 32767 (amplitude 2·full_scale_v Vpp, offset 0)

    [digitizer]
    driver = "instruments.drivers.digitizer:KeysightDSOX"
    resource = "TCPIP::127.0.0.1::5026::SOCKET"

    [lockin]
    driver = "instruments.drivers.lockin:SR830"
    resource = "TCPIP::127.0.0.1::5027::SOCKET"

    [squid]
    volts_per_phi0 = 0.5      # FLL output V per Φ0
    phi0_per_mu_b = 1e-9      # Φ0 through the SQUID per μB of sample moment

Roles (``awg``, ``digitizer``, ``lockin``, ``rf_source``, ``squid``) are optional; a
missing role makes its capability unavailable (:meth:`LabConfig.require` raises a clear
error). Every key is checked: an unknown key, a wrong type or an out-of-range value
raises :class:`~instruments.errors.LabFileError` naming the file and the field.

Driver classes are named ``"package.module:Class"`` (or ``package.module.Class``) and
imported only from an allow-list of packages (:data:`DRIVER_PACKAGES`); nothing else
in the file is ever imported or evaluated.
"""

from __future__ import annotations

import atexit
import importlib
import inspect
import logging
import math
import re
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.errors import InstrumentError, LabFileError
from sequences.config import from_table, setting, validate

#: Packages a lab file may name driver classes from.
DRIVER_PACKAGES = ("instruments.drivers", "pymeasure.instruments")
ROLES = ("awg", "digitizer", "lockin", "rf_source", "squid")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- dataclasses
# Every key, default and range is declared once, with sequences.config.setting; the same
# declarations check a file (from_table) and a config built in Python (__post_init__).
def _check(obj, where: str) -> None:
    validate(obj, where, error=LabFileError)


def _magnitude(obj, where: str, name: str, lo: float, hi: float, unit: str) -> None:
    v = getattr(obj, name)
    if v is not None and not lo <= abs(v) <= hi:
        raise LabFileError(f"{where}.{name}: |value| must be in [{lo:g}, {hi:g}] {unit}, "
                           f"got {v!r}")


@dataclass(frozen=True)
class Limits:
    """Safety limits (see module docstring for units). ``None`` = not limited."""

    max_amplitude_v: float | None = setting(None, gt=0, le=100, unit="V",
                                            doc="peak |V| at the AWG output")
    max_duty_cycle: float | None = setting(None, gt=0, le=1,
                                           doc="drive-on time / repetition period")
    max_pulse_energy: float | None = setting(None, gt=0, le=1e3, unit="V^2 s",
                                             doc="integral of V(t)^2 over one pulse")

    def __post_init__(self):
        _check(self, "limits")


@dataclass(frozen=True)
class InstrumentConfig:
    """Common part of a connected role: driver class path and VISA resource."""

    role: str
    driver: str = setting(doc="'package.module:Class' (from instruments.drivers or pymeasure)")
    resource: str = setting(doc="VISA resource string")
    timeout_s: float = setting(10.0, ge=1e-3, le=3600, unit="s",
                               doc="reply timeout of the session")
    read_termination: str | None = setting(None)
    write_termination: str | None = setting(None)

    def __post_init__(self):
        _check(self, self.role)
        if not self.resource.strip():
            raise LabFileError(f"{self.role}.resource: must be a VISA resource string, "
                               f"got {self.resource!r}")

    def driver_class(self) -> type:
        return resolve_driver(self.driver, field=f"{self.role}.driver")


@dataclass(frozen=True)
class AwgConfig(InstrumentConfig):
    """The AWG: ``channel`` plays the field, ``gate_channel`` (optional) the RF gate.

    ``volts_per_tesla`` converts the schedule's field (T) to volts at the output;
    ``full_scale_v`` is the voltage of DAC code +32767 (the channel amplitude is set to
    2·full_scale_v Vpp, offset 0). ``memory``, ``min_points`` and ``granularity`` (in
    samples) and ``dac_bits`` default to the driver's model constants.
    ``field_channel`` names the schedule's field channel (default: its only one);
    ``digitizer_marker`` / ``rf_marker`` name the schedule marker channels that gate the
    digitizer and the RF source. ``gate_level_v`` is the high level of the RF gate.
    """

    channel: int = setting(1, choices=(1, 2, 3, 4), doc="the output that drives the coil")
    sample_rate: float = setting(250e6, ge=1e3, le=1e11, unit="Sa/s")
    volts_per_tesla: float = setting(1.0, unit="V/T", doc="coil calibration (non-zero)")
    full_scale_v: float = setting(1.0, gt=0, le=10, unit="V", doc="V of DAC code +32767")
    memory: int | None = setting(None, gt=0, le=2**31, unit="samples")
    min_points: int | None = setting(None, gt=0, le=2**31, unit="samples")
    granularity: int | None = setting(None, gt=0, le=2**20, unit="samples")
    dac_bits: int | None = setting(None, ge=2, le=16)
    gate_channel: int | None = setting(None, choices=(1, 2, 3, 4))
    gate_level_v: float = setting(2.5, gt=0, le=5, unit="V", doc="RF gate high level (TTL)")
    field_channel: str | None = setting(None)
    digitizer_marker: str = setting("acq")
    rf_marker: str = setting("rf")
    nyquist_fraction: float = setting(0.5, gt=0, le=0.5)

    def __post_init__(self):
        super().__post_init__()
        _magnitude(self, "awg", "volts_per_tesla", 1e-9, 1e12, "V/T")
        if self.gate_channel is not None and self.gate_channel == self.channel:
            raise LabFileError(f"awg.gate_channel: must differ from channel, got "
                               f"{self.gate_channel!r}")


@dataclass(frozen=True)
class DigitizerConfig(InstrumentConfig):
    """The digitizer: input ``channel``, sample ``sample_rate`` (Sa/s), at most
    ``max_points`` per record, ``averages`` on-instrument averages per read."""

    channel: int = setting(1, choices=(1, 2, 3, 4), doc="input of the SQUID signal")
    sample_rate: float = setting(1e9, ge=1e3, le=1e11, unit="Sa/s")
    max_points: int = setting(62500, ge=8, le=2**31, doc="points of one record")
    averages: int = setting(1, ge=1, le=65536, doc="on-instrument averages per read")
    trigger_level_v: float = setting(1.0, ge=-50, le=50, unit="V")


@dataclass(frozen=True)
class LockinConfig(InstrumentConfig):
    """The lock-in amplifier (χ''(ω) sweeps). ``volts_per_tesla``: the coil calibration
    of its sine output (V rms per T rms at the sample); default: the AWG's (the sine
    drives the same coil)."""

    volts_per_tesla: float | None = setting(None, unit="V/T",
                                            doc="sine-output coil calibration (non-zero)")

    def __post_init__(self):
        super().__post_init__()
        if self.volts_per_tesla is not None:
            _magnitude(self, "lockin", "volts_per_tesla", 1e-9, 1e12, "V/T")


@dataclass(frozen=True)
class RfSourceConfig(InstrumentConfig):
    """The RF source: carrier ``frequency`` (Hz), ``power_dbm``, guard ``max_power_dbm``."""

    frequency: float | None = setting(None, gt=0, le=1e12, unit="Hz")
    power_dbm: float | None = setting(None, ge=-200, le=30, unit="dBm")
    max_power_dbm: float = setting(0.0, ge=-200, le=30, unit="dBm")


@dataclass(frozen=True)
class SquidConfig:
    """SQUID read-out calibration: FLL V per Φ0 and Φ0 per μB of sample moment."""

    volts_per_phi0: float = setting(unit="V/Phi0", doc="FLL transfer coefficient (non-zero)")
    phi0_per_mu_b: float = setting(1.0, unit="Phi0/muB", doc="coupling (non-zero)")

    def __post_init__(self):
        _check(self, "squid")
        _magnitude(self, "squid", "volts_per_phi0", 1e-9, 1e3, "V/Phi0")
        _magnitude(self, "squid", "phi0_per_mu_b", 1e-40, 1e3, "Phi0/muB")


@dataclass(frozen=True)
class LabConfig:
    """A parsed lab file."""

    name: str = ""
    path: str | None = None
    limits: Limits = field(default_factory=Limits)
    awg: AwgConfig | None = None
    digitizer: DigitizerConfig | None = None
    lockin: LockinConfig | None = None
    rf_source: RfSourceConfig | None = None
    squid: SquidConfig | None = None

    def roles(self) -> tuple[str, ...]:
        """Roles present in the file."""
        return tuple(r for r in ROLES if getattr(self, r) is not None)

    def require(self, role: str, purpose: str = "this measurement"):
        """The config of ``role``; raise :class:`InstrumentError` if the file lacks it."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        cfg = getattr(self, role)
        if cfg is None:
            raise InstrumentError(f"{purpose} needs a [{role}] section in the lab file "
                                  f"{self.path or '<lab>'}", role)
        return cfg


# ----------------------------------------------------------------------------- drivers
def resolve_driver(path: str, field: str = "driver", filename: str | None = None) -> type:
    """Import a driver class named ``"pkg.module:Class"`` or ``"pkg.module.Class"`` —
    only from :data:`DRIVER_PACKAGES` — and check it is a pymeasure Instrument."""
    from pymeasure.instruments import Instrument

    if not isinstance(path, str):
        raise LabFileError(f"driver must be a string, got {path!r}", filename, field)
    module, sep, name = path.partition(":")
    if not sep:
        module, _, name = path.rpartition(".")
    if not (module and name and _DOTTED.match(module) and _DOTTED.match(name)
            and "." not in name):
        raise LabFileError(f"driver {path!r} is not 'package.module:Class'", filename, field)
    if not any(module == p or module.startswith(p + ".") for p in DRIVER_PACKAGES):
        raise LabFileError(f"driver {path!r}: drivers are imported only from "
                           f"{', '.join(DRIVER_PACKAGES)}", filename, field)
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise LabFileError(f"driver module {module!r} not found ({exc})", filename,
                           field) from None
    cls = getattr(mod, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Instrument)):
        raise LabFileError(f"driver {path!r} is not a pymeasure Instrument class",
                           filename, field)
    return cls


# ----------------------------------------------------------------------------- parsing
#: what a driver class must offer for each role (a digitizer class as the AWG is refused)
ROLE_NEEDS = {"awg": ("trigger",), "digitizer": ("configure", "arm", "read_trace"),
              "lockin": ("sine_voltage",), "rf_source": ("power",)}


def _driver_checks(cfg, cls, filename: str | None) -> None:
    """Checks of a role's settings against its driver class (model constants)."""
    role = cfg.role
    missing = [m for m in ROLE_NEEDS.get(role, ()) if not hasattr(cls, m)]
    if missing:
        raise LabFileError(f"{cls.__name__} is not a {role} driver (it has no "
                           f"{', '.join(missing)})", filename, f"{role}.driver")
    n = getattr(cls, "N_CHANNELS", None)
    for key in ("channel", "gate_channel"):
        value = getattr(cfg, key, None)
        if n is not None and value is not None and value > n:
            raise LabFileError(f"must be 1..{n} (the {cls.__name__} has {n}), got {value!r}",
                               filename, f"{role}.{key}")
    if isinstance(cfg, AwgConfig):
        max_vpp = getattr(cls, "MAX_VPP", None)
        if max_vpp is not None and 2 * cfg.full_scale_v > max_vpp:
            raise LabFileError(f"{cfg.full_scale_v!r} V needs {2 * cfg.full_scale_v:g} Vpp, "
                               f"more than the {max_vpp:g} Vpp of the {cls.__name__}",
                               filename, "awg.full_scale_v")
        max_rate = getattr(cls, "MAX_SAMPLE_RATE", None)
        if max_rate is not None and cfg.sample_rate > max_rate:
            raise LabFileError(f"{cfg.sample_rate:.6g} Sa/s exceeds the {cls.__name__} "
                               f"maximum {max_rate:.6g} Sa/s", filename, "awg.sample_rate")
        max_memory = getattr(cls, "MAX_MEMORY", None)
        if max_memory is not None and cfg.memory is not None and cfg.memory > max_memory:
            raise LabFileError(f"{cfg.memory} samples: no {cls.__name__} memory option holds "
                               f"more than {max_memory}", filename, "awg.memory")
    if isinstance(cfg, DigitizerConfig):
        max_avg = getattr(cls, "MAX_AVERAGES", None)
        if max_avg is not None and cfg.averages > max_avg:
            raise LabFileError(f"the {cls.__name__} averages at most {max_avg} triggers, "
                               f"got {cfg.averages!r}", filename, "digitizer.averages")


def parse_lab(data: dict, filename: str | None = None) -> LabConfig:
    """Build a :class:`LabConfig` from a parsed TOML document (every key checked by the
    declarations above, then against the driver classes)."""
    known = {"lab", "limits", *ROLES}
    for key in data:
        if key not in known:
            raise LabFileError(f"unknown section (known: {', '.join(sorted(known))})",
                               filename, key)
    lab = data.get("lab", {})
    if not isinstance(lab, dict) or set(lab) - {"name"}:
        raise LabFileError("only 'name' is allowed in [lab]", filename, "lab")
    name = lab.get("name", "")
    if not isinstance(name, str):
        raise LabFileError("must be a string", filename, "lab.name")
    limits = from_table(Limits, data.get("limits", {}), where="limits", filename=filename,
                        error=LabFileError)
    kinds = {"awg": AwgConfig, "digitizer": DigitizerConfig, "lockin": LockinConfig,
             "rf_source": RfSourceConfig}
    roles: dict[str, Any] = {}
    for role, cls in kinds.items():
        if role in data:
            cfg = from_table(cls, data[role], where=role, filename=filename,
                             error=LabFileError, extra={"role": role})
            driver = resolve_driver(cfg.driver, f"{role}.driver", filename)
            _driver_checks(cfg, driver, filename)
            roles[role] = cfg
    from instruments.lock import normalise

    seen: dict[str, str] = {}
    for role, cfg in roles.items():
        key = normalise(cfg.resource)
        if key in seen:
            raise LabFileError(f"{cfg.resource!r} is also {seen[key]}.resource: one "
                               "instrument cannot play two roles", filename,
                               f"{role}.resource")
        seen[key] = role
    if "squid" in data:
        roles["squid"] = from_table(SquidConfig, data["squid"], where="squid",
                                    filename=filename, error=LabFileError)
    return LabConfig(name=name, path=filename, limits=limits, **roles)


def load_lab(path: str | Path) -> LabConfig:
    """Read and validate a lab file."""
    from sequences.config import read_toml

    path = Path(path)
    return parse_lab(read_toml(path, error=LabFileError), str(path))


# ----------------------------------------------------------------------------- connecting
def _scpi_queue(inst) -> bool:
    """True for drivers that read an SCPI error queue (``SYST:ERR?``, ``*CLS``)."""
    from instruments.drivers.scpi import ScpiErrorQueueMixin

    return isinstance(inst, ScpiErrorQueueMixin)


#: connected labs not closed yet: :func:`_shutdown_at_exit` makes them safe
_OPEN_LABS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _shutdown_at_exit() -> None:
    """Interpreter exit (``sys.exit``, the end of a script, an uncaught exception): every
    lab still connected is shut down (outputs off, verified) and closed."""
    for lab in list(_OPEN_LABS):
        try:
            lab.shutdown()
        except Exception as exc:  # noqa: BLE001 - at exit: say it, never hide it
            log.error("shutdown at interpreter exit: %s", exc)
        finally:
            lab.close()


class UnsafeStateError(InstrumentError):
    """Shutdown could not verify that an instrument's outputs are off."""


def _read_back(inst, timeout: float) -> list[str]:
    """The driver's ``verify_safe()`` problems plus the SCPI error queue, each read with
    at most ``timeout`` s per reply (an unanswered read-back is itself a problem; the
    session is resynced before the error queue is read)."""
    from instruments.link import is_timeout, resync

    conn = getattr(getattr(inst, "adapter", None), "connection", None)
    old = getattr(conn, "timeout", None)
    problems: list[str] = []
    try:
        if conn is not None and old is not None:
            conn.timeout = min(old, max(1, int(timeout * 1000)))
        if hasattr(inst, "verify_safe"):
            try:
                problems += list(inst.verify_safe())
            except Exception as exc:
                if not is_timeout(exc):
                    raise
                sent = list(getattr(inst.adapter, "recent", []))[-1:]
                waited = (conn.timeout / 1000) if conn is not None else timeout
                problems.append(f"no answer to {'; '.join(sent) or 'the read-back'} within "
                                f"{waited:g} s: the output state is unknown")
                resync(inst, timeout)
        if _scpi_queue(inst):
            for code, message in inst.check_errors():
                sent = "; ".join(getattr(inst, "last_commands", [])[-3:])
                problems.append(f"error queue: {code}, \"{message}\""
                                + (f" (after {sent})" if sent else ""))
        return problems
    finally:
        if conn is not None and old is not None:
            conn.timeout = old


def _problem(exc: Exception, inst) -> str:
    from instruments.link import is_timeout

    if is_timeout(exc):
        conn = getattr(getattr(inst, "adapter", None), "connection", None)
        ms = getattr(conn, "timeout", None)
        within = f" within {ms / 1000:g} s" if ms else ""
        return f"no reply{within} (the instrument is busy or unreachable)"
    return f"{type(exc).__name__}: {exc}"


def _make_safe(inst, driving: bool, timeout: float) -> str:
    """Shut ``inst`` down and (``driving``) verify it; see :meth:`Lab.shutdown`. A second
    attempt reopens a closed link, or, on a link that is up but silent (a busy
    instrument), waits for it patiently: resync within max(10 s, 3 × its timeout)."""
    from instruments.link import alive, drain, reconnect, resync

    problems: list[str] = []
    conn = getattr(getattr(inst, "adapter", None), "connection", None)
    for attempt in range(2):
        again = ""
        if attempt:
            if alive(inst):
                patience = max(10.0, 3.0 * (getattr(conn, "timeout", None) or 0) / 1000)
                try:
                    if not resync(inst, patience):
                        problems.append(f"no reply to a resync within {patience:g} s")
                        break
                except Exception as exc:  # noqa: BLE001
                    problems.append(_problem(exc, inst))
                    break
                again = " after waiting for the instrument"
            else:
                try:
                    reconnect(inst)
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"reconnect failed: {exc}")
                    break
                again = " after reconnecting"
        try:
            if not alive(inst):
                problems = ["connection lost"]
                continue
            drain(inst)
            if driving and _scpi_queue(inst):
                inst.check_errors()  # what the run left: the read-back judges shutdown only
            inst.shutdown()
            if not driving:
                return "shut down"
            problems = _read_back(inst, timeout)
            if not problems:
                return "safe state verified" + again
        except Exception as exc:  # noqa: BLE001 - try again
            problems = [_problem(exc, inst)]
    if driving and hasattr(inst, "force_safe"):
        try:
            inst.force_safe()
            more = _read_back(inst, timeout)
            if not more:
                return "safe state verified after *RST (" + "; ".join(problems) + ")"
            problems += [f"after *RST: {p}" for p in more]
        except Exception as exc:  # noqa: BLE001
            problems.append(f"after *RST: {_problem(exc, inst)}")
    raise InstrumentError("; ".join(problems) or "could not shut down")


class Lab:
    """Connected instruments of a lab file, by role (``lab.awg``, ``lab.digitizer``,
    ...; ``None`` for roles not connected), plus ``lab.squid`` (a
    :class:`~instruments.drivers.squid.SquidReadout`) and ``lab.config``.

    A context manager: leaving the block calls :meth:`shutdown` (every output off, on
    every path) and :meth:`close`.
    """

    def __init__(self, config: LabConfig, instruments: dict[str, Any]):
        self.config = config
        self.instruments = dict(instruments)
        self.safe_report: list[str] = []
        _OPEN_LABS.add(self)  # shut down at interpreter exit if nobody else does
        # atexit runs the last registered first: ours must run before pyvisa's own hook
        # (registered when the sessions were opened) closes every session
        atexit.unregister(_shutdown_at_exit)
        atexit.register(_shutdown_at_exit)
        for role in ("awg", "digitizer", "lockin", "rf_source"):
            setattr(self, role, self.instruments.get(role))
        self.squid = None
        if config.squid is not None:
            from instruments.drivers.squid import SquidReadout

            self.squid = SquidReadout(config.squid.volts_per_phi0, config.squid.phi0_per_mu_b)

    #: roles whose outputs can drive the sample: their safe state is read back
    DRIVING = ("rf_source", "awg", "lockin")

    def shutdown(self, verify_timeout: float = 1.0) -> list[str]:
        """Bring every instrument to its safe state and verify it, on every path.

        Each role in turn (RF first: highest power; each attempted even if another
        fails): a dropped link is reopened (:func:`instruments.link.reconnect`), stale
        replies drained, the driver's ``shutdown()`` run (outputs off, lock-in sine to
        its minimum); for the roles that drive the sample the state is then read back
        (the driver's ``verify_safe()``: ``OUTP<n>?``, ``SLVL?``) and the error queue
        (``SYST:ERR?``) emptied. When that fails once the link is reopened and
        everything repeated; an AWG that still refuses is reset (``*RST``, outputs off)
        and read back again. Each read-back waits at most ``verify_timeout`` s.

        Returns one line per role saying what was verified. Raises
        :class:`UnsafeStateError` (listing every role whose safe state could not be
        verified, and why) otherwise.
        """
        report, failures = [], []
        for role in ("rf_source", "awg", "lockin", "digitizer"):
            inst = self.instruments.get(role)
            if inst is None:
                continue
            try:
                report.append(f"{role}: " + _make_safe(inst, role in self.DRIVING,
                                                        verify_timeout))
            except Exception as exc:  # noqa: BLE001 - shut down the others regardless
                failures.append(f"{role}: {exc}")
        self.safe_report = report
        if failures:
            raise UnsafeStateError("SAFE STATE NOT VERIFIED: " + "; ".join(failures)
                                   + " -- check the instrument's front panel and switch its "
                                   "output off by hand")
        return report

    def close(self) -> None:
        """Close every VISA session and release the instruments' locks."""
        _OPEN_LABS.discard(self)
        for inst in self.instruments.values():
            try:
                inst.adapter.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
        for lock in getattr(self, "locks", ()):
            lock.release()
        self.locks = []

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.shutdown()
        finally:
            self.close()


def open_instrument(cfg: InstrumentConfig, visa_library: str = "@py", clear: bool = True,
                    limits: Limits | None = None):
    """Open one role's driver on its VISA resource (pyvisa-py by default) and apply
    the lab's guards: AWG amplitude within the DAC range and, with ``limits``, every
    setting that drives the coil (AWG amplitude/offset/waveform: peak ≤
    ``max_amplitude_v``; lock-in sine ≤ ``max_amplitude_v``/√2 V rms), RF power;
    ``inst.lab_limits`` keeps ``limits`` (a program compiled for looser ones is refused
    at upload). Discard stale bytes and (``clear``) clear the status and error queue
    (``*CLS``)."""
    cls = cfg.driver_class()
    kwargs: dict[str, Any] = {"visa_library": visa_library}
    own = inspect.signature(cls.__init__).parameters  # e.g. Red Pitaya sets CR LF itself
    for key in ("read_termination", "write_termination"):
        value = getattr(cfg, key)
        if value is None and key not in own and cfg.resource.upper().endswith("::SOCKET"):
            value = "\n"  # raw sockets have no END: messages end with a newline
        if value is not None:
            kwargs[key] = value
    try:
        inst = cls(cfg.resource, **kwargs)
    except Exception as exc:
        raise InstrumentError(f"cannot open {cfg.resource}: {exc}", cfg.role) from exc
    try:
        inst.adapter.connection.timeout = int(cfg.timeout_s * 1000)
    except AttributeError:
        pass
    if hasattr(inst, "poll_timeout"):  # a polling driver's own wait (Red Pitaya)
        inst.poll_timeout = float(cfg.timeout_s)
    inst.name = f"{cfg.role} ({inst.name})"
    inst.lab_role = cfg.role
    from instruments.link import attach, drain

    attach(inst)
    _fresh_session(inst, drain, clear)
    inst.lab_limits = limits
    peak = limits.max_amplitude_v if limits is not None else None
    if isinstance(cfg, AwgConfig):
        max_vpp = min(getattr(cls, "MAX_VPP", math.inf), 2.0 * cfg.full_scale_v)
        for ch in getattr(inst, "channels", {}).values():
            if "amplitude_values" in getattr(ch, "_special_names", ()):
                ch.amplitude_values = [1e-3, max_vpp]  # dynamic property: write-only
            if peak is not None and hasattr(type(ch), "peak_limit_v") and ch.id == cfg.channel:
                ch.peak_limit_v = float(peak)  # the output that drives the coil
    if (isinstance(cfg, LockinConfig) and peak is not None
            and "sine_voltage_values" in getattr(inst, "_special_names", ())):
        lo = getattr(cls, "MIN_SINE_V", 0.0)
        inst.sine_voltage_values = [lo, max(lo, float(peak) / math.sqrt(2.0))]
    if isinstance(cfg, RfSourceConfig) and "power_values" in getattr(inst, "_special_names",
                                                                     ()):
        inst.power_values = [-135.0, cfg.max_power_dbm]
    return inst


def _fresh_session(inst, drain, clear: bool = True) -> None:
    """Connection hygiene at connect: discard what a previous session left unread and
    clear the status/error queue of an SCPI instrument (``*CLS``), so a new run never
    inherits the errors of a dead one."""
    try:
        stale = drain(inst)
        if stale:
            log.info("%s: discarded %d stale byte(s) at connect", inst.name, stale)
        if clear and _scpi_queue(inst):
            inst.write("*CLS")
    except Exception as exc:  # noqa: BLE001 - the first real command reports for real
        log.warning("%s: could not clear at connect: %s", inst.name, exc)


def connect(config: LabConfig, roles: tuple[str, ...] | None = None,
            visa_library: str = "@py", owner: str = "") -> Lab:
    """Open the instruments of ``config`` (all roles with a driver, or ``roles``).

    Each instrument's resource is locked first (:mod:`instruments.lock`: one run per
    lab; ``owner`` names this run in the refusal another run gets), then opened
    (:func:`open_instrument`). The locks are released by :meth:`Lab.close`."""
    from instruments.lock import acquire

    wanted = roles if roles is not None else config.roles()
    opened: dict[str, Any] = {}
    locks = []
    try:
        for role in wanted:
            cfg = config.require(role, "connect")
            if isinstance(cfg, InstrumentConfig):
                lock = acquire(cfg.resource, owner, role)
                if lock is not None:
                    locks.append(lock)
        for role in wanted:
            cfg = config.require(role, "connect")
            if isinstance(cfg, InstrumentConfig):
                opened[role] = open_instrument(cfg, visa_library, limits=config.limits)
    except BaseException:
        for inst in opened.values():
            try:
                inst.adapter.close()
            except Exception:  # noqa: BLE001, S110
                pass
        for lock in locks:
            lock.release()
        raise
    lab = Lab(config, opened)
    lab.locks = locks
    return lab


# ----------------------------------------------------------------------------- checking
@dataclass
class RoleCheck:
    role: str
    driver: str = ""
    resource: str = ""
    idn: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class LabReport:
    """Result of :func:`check_lab`; ``format()`` gives the printed report."""

    name: str
    path: str | None
    roles: list[RoleCheck] = field(default_factory=list)
    limit_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.limit_problems and all(r.ok for r in self.roles)

    def format(self) -> str:
        lines = [f"lab {self.name or '(unnamed)'} ({self.path or '<lab>'})"]
        for r in self.roles:
            status = "ok" if r.ok else "FAIL"
            lines.append(f"  {r.role:10s} {status:4s} {r.driver} @ {r.resource}")
            if r.idn:
                lines.append(f"             *IDN? {r.idn}")
            lines.extend(f"             problem: {p}" for p in r.problems)
        lines.append("  limits     " + ("ok" if not self.limit_problems else "FAIL"))
        lines.extend(f"             problem: {p}" for p in self.limit_problems)
        lines.extend(f"             note: {n}" for n in self.notes)
        lines.append("OK" if self.ok else "NOT OK")
        return "\n".join(lines)


def verify_limits(config: LabConfig) -> tuple[list[str], list[str]]:
    """Static consistency of limits and calibration with the driver models:
    returns (problems, notes)."""
    problems: list[str] = []
    notes: list[str] = []
    lim = config.limits
    if lim.max_amplitude_v is None:
        problems.append("limits.max_amplitude_v is not set (required to drive hardware)")
    for key in ("max_duty_cycle", "max_pulse_energy"):
        if getattr(lim, key) is None:
            notes.append(f"limits.{key} not set: not limited")
    awg = config.awg
    if awg is not None:
        cls = awg.driver_class()  # (ranges and driver fits were checked by parse_lab)
        memory = getattr(cls, "MEMORY", None)
        if memory is not None and awg.memory is not None and awg.memory > memory:
            notes.append(f"awg.memory {awg.memory} exceeds the {cls.__name__} standard "
                         f"{memory} samples (needs the memory option)")
        if lim.max_amplitude_v is not None and lim.max_amplitude_v > awg.full_scale_v:
            notes.append(f"limits.max_amplitude_v {lim.max_amplitude_v} V is above the DAC "
                         f"full scale {awg.full_scale_v} V: the DAC range binds first")
    rf = config.rf_source
    if rf is not None:
        if rf.max_power_dbm > 25:
            problems.append(f"rf_source.max_power_dbm {rf.max_power_dbm} dBm above the "
                            "8257D maximum (25 dBm)")
        if rf.power_dbm is not None and rf.power_dbm > rf.max_power_dbm:
            problems.append(f"rf_source.power_dbm {rf.power_dbm} dBm above "
                            f"rf_source.max_power_dbm {rf.max_power_dbm} dBm")
    return problems, notes


def idn_problem(cls: type, idn: str) -> str | None:
    """Why ``*IDN?`` reply ``idn`` does not fit the driver class ``cls`` (its
    ``IDN_PATTERN``), or None (a fit, or a driver that declares no pattern)."""
    pattern = getattr(cls, "IDN_PATTERN", None)
    if not pattern or re.search(pattern, idn or ""):
        return None
    parts = [p.strip() for p in (idn or "").split(",")]
    model = " ".join(parts[:2]) if len(parts) > 1 else (idn or "(empty)")
    return (f"*IDN? answers {model!r}, not an instrument the configured driver "
            f"{cls.__name__} drives (wrong resource, or the wrong driver in the lab file?)")


def check_lab(config: LabConfig, visa_library: str = "@py") -> LabReport:
    """For ``spinecho lab check``: verify limits, then connect to each role, read
    ``*IDN?`` and (SCPI instruments) empty the error queue; nothing is switched on.
    Never raises for an unreachable instrument: the report says what failed."""
    from pymeasure.instruments.generic_types import SCPIMixin

    report = LabReport(config.name, config.path)
    report.limit_problems, report.notes = verify_limits(config)
    for role in config.roles():
        cfg = getattr(config, role)
        if not isinstance(cfg, InstrumentConfig):
            report.roles.append(RoleCheck(role, "(calibration only)", "-"))
            continue
        check = RoleCheck(role, cfg.driver, cfg.resource)
        report.roles.append(check)
        from instruments.lock import busy_message, holder

        info = holder(cfg.resource)
        if info is not None:  # not a byte to an instrument a run is using
            check.problems.append(busy_message(cfg.resource, info))
            continue
        try:
            inst = open_instrument(cfg, visa_library, clear=False)  # report the queue
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            check.problems.append(str(exc))
            continue
        try:
            check.idn = str(inst.id).strip()
            if not check.idn:
                check.problems.append("empty *IDN? reply")
            else:
                problem = idn_problem(type(inst), check.idn)
                if problem:
                    check.problems.append(problem)
            if isinstance(inst, SCPIMixin):
                for code, message in inst.check_errors():
                    check.problems.append(f"error queue: {code}, \"{message}\"")
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            check.problems.append(f"no reply: {exc}")
        finally:
            try:
                inst.adapter.close()
            except Exception:  # noqa: BLE001, S110
                pass
    return report
