"""The virtual lab: an AWG, a digitizer and a lock-in served on loopback TCP, wired to
one simulated sample.

Wiring: AWG channel ``awg.channel`` (default 1) drives the coil (``volts_per_tesla``);
its Sync/marker output triggers the digitizer (EXT); digitizer channel 1 sees the SQUID
flux-locked-loop output (:class:`~instruments.virtual.sample.VirtualSample`); the lock-in's
sine output drives the same coil and its input sees the same FLL output.

Configuration file (TOML, ``examples/virtual_lab.toml``)::

    host = "127.0.0.1"                     # bind address (loopback unless told otherwise)
    seed = 0                               # digitizer / lock-in noise streams
    engine = "fast"                        # echo engine; frame/initial as in echo.simulate.run
    [model]                                # the sample: a model file or inline tables
    file = "model.toml"                    #   (relative to this file), or
    [model.ensemble] / [model.environment] / [model.detection]   # inline (echo.model)
    [awg]        port = 5025, volts_per_tesla = 1e6, channel = 1, max_points, max_sample_rate
    [digitizer]  port = 5026, model = "dsox" | "redpitaya" (Red Pitaya acquisition),
                 noise_rms = 1e-4 (V per shot; default detection.noise_rms),
                 max_points, max_sample_rate, digitize_timeout (s)
    [lockin]     port = 5027, enabled = true, response = "ensemble" | "eq7"
    [faults.awg] / [faults.digitizer] / [faults.lockin]: see Faults (all off by default)

Unknown keys are errors (a typo must not silently change the lab).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from echo.engines import ENGINES
from echo.engines.frontend import FRAMES
from echo.model import INITIAL_STATES, Model, ModelError
from echo.modelfile import load_model, model_from_dict
from instruments.virtual.awg import MAX_POINTS as AWG_MAX_POINTS
from instruments.virtual.awg import MAX_SRATE as AWG_MAX_SRATE
from instruments.virtual.awg import Keysight33522B
from instruments.virtual.clock import LabClock
from instruments.virtual.digitizer import KeysightDSOX
from instruments.virtual.lockin import SR830
from instruments.virtual.redpitaya import RedPitayaAcq
from instruments.virtual.sample import VirtualSample
from instruments.virtual.server import Faults, SCPIServer
from sequences.config import from_table, setting

DEFAULT_PORTS = {"awg": 5025, "digitizer": 5026, "lockin": 5027}


class VirtualLabError(ModelError):
    """A malformed virtual-lab configuration (file and key named)."""


# ---------------------------------------------------------------------------- config
# One dataclass per table of the file: fields, defaults and ranges are declared once
# (sequences.config) and read by from_table, which names file, field, value and allowed.
@dataclass(frozen=True)
class AwgTable:
    """``[awg]``: the Keysight 33522B emulation and the coil it drives."""

    port: int = setting(DEFAULT_PORTS["awg"], ge=0, le=65535, doc="TCP port")
    volts_per_tesla: float = setting(1e6, gt=0, unit="V/T", doc="coil calibration")
    channel: int = setting(1, choices=(1, 2), doc="the output wired to the drive coil")
    max_points: int = setting(AWG_MAX_POINTS, ge=1, doc="arbitrary-waveform memory")
    max_sample_rate: float = setting(AWG_MAX_SRATE, gt=0, unit="samples/s")


@dataclass(frozen=True)
class DigitizerTable:
    """``[digitizer]``: the DSOX (or Red Pitaya) on the SQUID FLL output."""

    port: int = setting(DEFAULT_PORTS["digitizer"], ge=0, le=65535, doc="TCP port")
    model: str = setting("dsox", choices=("dsox", "redpitaya"))
    noise_rms: float | None = setting(None, ge=0, unit="V",
                                      doc="per shot; default detection.noise_rms")
    max_points: int = setting(62_500, ge=1)
    max_sample_rate: float = setting(2e9, gt=0, unit="samples/s")
    digitize_timeout: float = setting(5.0, gt=0, unit="s")
    flux_jump_rate: float = setting(0.0, ge=0, le=1, doc="probability per shot of an FLL "
                                                         "reset by ±1 Φ0")


@dataclass(frozen=True)
class LockinTable:
    """``[lockin]``: the SR830 emulation (sine out → coil, input ← FLL output)."""

    port: int = setting(DEFAULT_PORTS["lockin"], ge=0, le=65535, doc="TCP port")
    enabled: bool = setting(True)
    response: str = setting("ensemble", choices=("ensemble", "eq7"))


@dataclass(frozen=True)
class TopTable:
    """The top level of a virtual-lab file (tables apart)."""

    host: str = setting("127.0.0.1", doc="bind address (loopback unless told otherwise)")
    seed: int = setting(0, ge=0, doc="digitizer / lock-in noise streams")
    engine: str = setting("fast", choices=tuple(ENGINES))
    frame: str = setting("lab", choices=FRAMES)
    initial: str = setting("thermal", choices=INITIAL_STATES)


@dataclass
class VirtualLabConfig:
    """Parsed virtual-lab configuration (see the module docstring)."""

    model: Model
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    volts_per_tesla: float = AwgTable.volts_per_tesla
    awg_channel: int = AwgTable.channel
    awg_max_points: int = AWG_MAX_POINTS
    awg_max_sample_rate: float = AWG_MAX_SRATE
    digitizer_noise_rms: float | None = None
    digitizer_max_points: int = DigitizerTable.max_points
    digitizer_max_sample_rate: float = DigitizerTable.max_sample_rate
    digitize_timeout: float = DigitizerTable.digitize_timeout
    digitizer_model: str = DigitizerTable.model
    flux_jump_rate: float = 0.0
    lockin: bool = True
    lockin_response: str = LockinTable.response
    engine: str = TopTable.engine
    frame: str = TopTable.frame
    initial: str = TopTable.initial
    seed: int = 0
    faults: dict[str, Faults] = field(default_factory=dict)

    @property
    def noise_rms(self) -> float:
        return (self.model.detection.noise_rms if self.digitizer_noise_rms is None
                else self.digitizer_noise_rms)


_TABLES = {"awg": AwgTable, "digitizer": DigitizerTable, "lockin": LockinTable}


def config_from_dict(d: dict, where: str = "<virtual lab>", base: Path | None = None
                     ) -> VirtualLabConfig:
    """A :class:`VirtualLabConfig` from the parsed tables of a virtual-lab file named
    ``where`` (relative model files are found from ``base``). Every bad field is a
    :class:`VirtualLabError` naming the file, the field, the value and what is allowed."""
    top = from_table(TopTable, d, filename=where, error=VirtualLabError,
                     ignore=("model", "faults", *_TABLES))
    tables = {name: from_table(cls, d.get(name, {}), where=name, filename=where,
                               error=VirtualLabError) for name, cls in _TABLES.items()}
    mod = d.get("model")
    if not isinstance(mod, dict) or not mod:
        raise VirtualLabError(f"{where}: model: a [model] table (file = ... or inline "
                              "tables) is required")
    mod = dict(mod)
    if "file" in mod:
        f = Path(mod.pop("file"))
        if mod:
            raise VirtualLabError(f"{where}: model: has both file and inline tables "
                                  f"({', '.join(sorted(mod))})")
        model = load_model(f if f.is_absolute() or base is None else base / f)
    else:
        try:
            model = model_from_dict(mod, where="model", filename=where)
        except ModelError as exc:
            raise VirtualLabError(str(exc)) from None
    awg, dig, lock = tables["awg"], tables["digitizer"], tables["lockin"]
    cfg = VirtualLabConfig(
        model=model, host=top.host, seed=top.seed, engine=top.engine, frame=top.frame,
        initial=top.initial, ports={name: t.port for name, t in tables.items()},
        volts_per_tesla=awg.volts_per_tesla, awg_channel=awg.channel,
        awg_max_points=awg.max_points, awg_max_sample_rate=awg.max_sample_rate,
        digitizer_noise_rms=dig.noise_rms, digitizer_max_points=dig.max_points,
        digitizer_max_sample_rate=dig.max_sample_rate,
        digitize_timeout=dig.digitize_timeout, digitizer_model=dig.model,
        flux_jump_rate=dig.flux_jump_rate, lockin=lock.enabled,
        lockin_response=lock.response)
    faults = d.get("faults") or {}
    if not isinstance(faults, dict):
        raise VirtualLabError(f"{where}: faults: expected a table, got {faults!r}")
    for role, fd in faults.items():
        if role not in DEFAULT_PORTS:
            raise VirtualLabError(f"{where}: faults.{role}: unknown instrument "
                                  f"(allowed: {', '.join(DEFAULT_PORTS)})")
        try:
            cfg.faults[role] = Faults.from_dict(fd)
        except (TypeError, ValueError) as exc:
            raise VirtualLabError(f"{where}: [faults.{role}] {exc}") from None
    return cfg


#: The built-in configuration served by ``spinecho lab serve`` without ``--config``
#: (the same as ``examples/virtual_lab.toml``; a test keeps them equal).
DEFAULT_TOML = """
# The virtual lab: SCPI servers on loopback backed by the echo engine.
#   spinecho lab serve --config examples/virtual_lab.toml
# Clients reach it with examples/lab_virtual.toml (pyvisa-py TCPIP::127.0.0.1::PORT::SOCKET).
host = "127.0.0.1"      # loopback only unless you say otherwise
seed = 0                # digitizer and lock-in noise streams
engine = "fast"         # echo engine (fast | qutip)
frame = "lab"
initial = "thermal"     # temperature unset -> every grain starts in its ground state

[awg]                   # Keysight 33522B (2 ch, 16-bit, 250 MSa/s, 1 MSa per arb)
port = 5025
channel = 1             # the output wired to the drive coil
volts_per_tesla = 1.0e6  # coil calibration, V per T (must match the lab file)

[digitizer]             # Keysight DSOX on the SQUID FLL output; EXT trigger = AWG Sync
port = 5026
model = "dsox"          # or "redpitaya": a Red Pitaya acquisition (16384 samples, CR LF)
noise_rms = 0.01        # V per sample per shot (averaging N shots divides it by sqrt(N))
max_points = 62500      # the DSOX1102G record; raise it to emulate a deeper scope
digitize_timeout = 5.0  # s a :DIGitize waits for AWG triggers
flux_jump_rate = 0.0    # probability per shot of an FLL reset by +-1 Phi0

[lockin]                # SR830: sine out -> coil, input <- FLL output
port = 5027
enabled = true

# The sample: grains with a 4 MHz zero-bias splitting (delta0 = 1 MHz), a bias spread
# that dephases the free induction within ~1 us, and slow spin-diffusion noise (T2).
[model.ensemble]
delta0 = { kind = "gaussian", mean = 1.0e6, std = 0.01e6 }   # Hz
bias = { kind = "gaussian", mean = 0.0, std = 0.3e6 }        # Hz
spin = 100
g = 2.0
n_grains = 1.0e7
n_samples = 256
seed = 1

[model.environment]
noise = [{ kind = "ou", sigma = 30.0e3, tau_c = 20.0e-6 }]  # Hz, s

[model.detection]
kind = "squid"
flux_per_moment = 1.0e-9    # Phi0 per muB (= [squid] phi0_per_mu_b of the lab file)
volts_per_flux = 0.5        # V per Phi0 (FLL; = [squid] volts_per_phi0)
noise_rms = 0.01            # V
sample_rate = 250.0e6

# Fault injection (tests): uncomment to try
# [faults.digitizer]
# drop_after = 40          # close the connection after 40 commands (once)
# reply_delay = 0.0        # s before every reply
# corrupt_blocks = "header"
# [faults.awg]
# errors = { "DATA:ARBitrary:DAC" = -222 }
"""


def default_config() -> dict:
    """The built-in virtual-lab configuration as TOML tables."""
    return tomllib.loads(DEFAULT_TOML)


def load_config(path: str | Path) -> VirtualLabConfig:
    """Read a virtual-lab TOML file."""
    from sequences.config import read_toml

    path = Path(path)
    data = read_toml(path, error=VirtualLabError)
    return config_from_dict(data, str(path), path.parent)


# ----------------------------------------------------------------------- client file
#: The client lab file (instruments.lab format) of a virtual lab: ``examples/lab_virtual.toml``
#: is this text for the default ports and the example sample (a test keeps them equal).
CLIENT_TEMPLATE = """\
# Lab file for the virtual lab (`spinecho lab serve` listens on these loopback ports).
# Units: V, s, Sa/s, Hz, T. See docs/instruments.md for every key.

[lab]
name = "virtual lab (loopback)"

[limits]
max_amplitude_v = 2.0       # peak |V| at the AWG output
max_duty_cycle = 0.2        # drive-on time / repetition period
max_pulse_energy = 1e-3     # ∫ V² dt of one pulse, V² s (energy into R Ω is this / R)

[awg]
driver = "instruments.drivers.awg:Keysight33500B"
resource = "{awg}"
channel = {awg_channel}
sample_rate = 250e6         # Sa/s
volts_per_tesla = {volts_per_tesla}     # V at the AWG output per T at the sample (1 µT ↔ 1 V)
full_scale_v = 2.5          # V of DAC code +32767 (amplitude 5 Vpp, offset 0)
digitizer_marker = "acq"    # schedule marker channel that gates the digitizer
timeout_s = 60              # s per reply (host time: a first shot may compile the engine)

[digitizer]
driver = "instruments.drivers.digitizer:{digitizer_driver}"
resource = "{digitizer}"
channel = 1
sample_rate = 1e9           # Sa/s
max_points = {max_points}
averages = 1
timeout_s = 60

[lockin]
driver = "instruments.drivers.lockin:SR830"
resource = "{lockin}"
timeout_s = 60

[squid]
volts_per_phi0 = {volts_per_phi0}        # FLL output V per Φ0
phi0_per_mu_b = {phi0_per_mu_b}        # Φ0 through the SQUID per μB of sample moment
"""


def client_lab_text(resources: dict[str, str], config: VirtualLabConfig, *,
                    roles=("awg", "digitizer", "lockin", "squid"), **values) -> str:
    """The client lab file of a virtual lab with ``config`` reached at ``resources``
    (role → VISA resource): the coil calibration, AWG channel, digitizer model and depth
    and the SQUID calibration are the lab's own, so a measurement sees the sample as the
    simulation does. ``roles`` keeps those tables (``[lab]``, ``[limits]`` always);
    ``values`` replace keys: ``timeout_s=3`` in every table, ``awg__sample_rate=100e6``
    (``table__key``) in one; a key the file does not hold is an error."""
    import re

    det = config.model.detection
    text = CLIENT_TEMPLATE.format(
        awg=resources.get("awg", ""), digitizer=resources.get("digitizer", ""),
        lockin=resources.get("lockin", ""), awg_channel=config.awg_channel,
        volts_per_tesla=repr(float(config.volts_per_tesla)),
        digitizer_driver="RedPitaya" if config.digitizer_model == "redpitaya"
        else "KeysightDSOX", max_points=config.digitizer_max_points,
        volts_per_phi0=repr(float(det.volts_per_flux)),
        phi0_per_mu_b=repr(float(det.flux_per_moment)))
    if "lockin" not in resources or not config.lockin:
        roles = tuple(r for r in roles if r != "lockin")
    parts = re.split(r"(?m)^(?=\[)", text)
    text = "".join(p for p in parts
                   if not p.startswith("[") or p[1:p.index("]")] in ("lab", "limits", *roles))
    for key, value in values.items():
        table, _, name = key.rpartition("__")
        val = json_value(value)
        if table:
            head = f"[{table}]"
            i = text.find(head)
            j = text.find("\n[", i + 1)
            j = len(text) if j < 0 else j
            seg, n = re.subn(rf"(?m)^{name}\s*=\s*[^#\n]*", f"{name} = {val} ",
                             text[i:j]) if i >= 0 else ("", 0)
            text = text[:i] + seg + text[j:] if n else text
        else:
            text, n = re.subn(rf"(?m)^{name}\s*=\s*[^#\n]*", f"{name} = {val} ", text)
        if not n:
            raise VirtualLabError(f"client lab file: no key {key.replace('__', '.')!r}")
    return text


def json_value(value) -> str:
    """A TOML value of a Python str/bool/number (strings quoted, floats exact)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value) if isinstance(value, str) else str(value)


# ------------------------------------------------------------------------------- lab
class VirtualLab:
    """The three servers and the sample. ``ports`` overrides the configured ports
    (``{"awg": 0, ...}``, or ``ephemeral=True`` for all 0 — what tests use);
    ``lifetime`` (s) makes every server stop itself."""

    def __init__(self, config: VirtualLabConfig, *, ephemeral: bool = False,
                 host: str | None = None, lifetime: float | None = None):
        self.config = config
        self.host = host or config.host
        self.sample = VirtualSample(config.model, config.volts_per_tesla, engine=config.engine,
                                    frame=config.frame, initial=config.initial)
        f = config.faults
        self.awg = Keysight33522B("awg", f.get("awg"), max_points=config.awg_max_points,
                                  max_sample_rate=config.awg_max_sample_rate)
        digitizer_cls = RedPitayaAcq if config.digitizer_model == "redpitaya" else KeysightDSOX
        self.digitizer = digitizer_cls("digitizer", f.get("digitizer"), record=self._record,
                                      noise_rms=config.noise_rms, seed=config.seed,
                                      digitize_timeout=config.digitize_timeout,
                                      max_sample_rate=config.digitizer_max_sample_rate,
                                      max_points=config.digitizer_max_points)
        self.digitizer.flux_jump_rate = config.flux_jump_rate
        self.digitizer.volts_per_phi0 = config.model.detection.volts_per_flux
        self.awg.listeners.append(self._on_shot)
        self.instruments = {"awg": self.awg, "digitizer": self.digitizer}
        #: the lab's own time (instruments.virtual.clock), shared by every instrument
        self.clock = LabClock()
        if config.lockin:
            self.lockin = SR830("lockin", f.get("lockin"), model=config.model,
                                volts_per_tesla=config.volts_per_tesla, seed=config.seed + 1,
                                response=config.lockin_response)
            self.instruments["lockin"] = self.lockin
        for inst in self.instruments.values():
            inst.clock = self.clock
        self.servers = {
            role: SCPIServer(inst, self.host, 0 if ephemeral else config.ports[role],
                             lifetime=lifetime)
            for role, inst in self.instruments.items()}

    @classmethod
    def for_sample(cls, model_tables: dict, *, seed: int = 0, awg: dict | None = None,
                   digitizer: dict | None = None, name: str = "<virtual lab>",
                   **kwargs) -> VirtualLab:
        """A virtual lab (the built-in configuration, :func:`default_config`) whose sample
        is ``model_tables`` (model-file tables, :mod:`echo.modelfile`), with ``seed`` and
        the ``awg`` / ``digitizer`` table entries overridden (e.g. ``volts_per_tesla``,
        ``noise_rms``); checked as a virtual-lab file would be (errors name ``name``).
        ``kwargs`` go to the constructor (``ephemeral``, ``lifetime``, ``host``)."""
        cfg = default_config()
        cfg["model"] = model_tables
        cfg["seed"] = int(seed)
        cfg["awg"].update(awg or {})
        cfg["digitizer"].update(digitizer or {})
        return cls(config_from_dict(cfg, name), **kwargs)

    def _on_shot(self, shot) -> None:
        if shot.channel == self.config.awg_channel:
            self.digitizer.on_shot(shot)

    def _record(self, shot, times):
        return self.sample.record(shot, times)

    def client_lab_file(self, path=None, *, roles=("awg", "digitizer", "lockin", "squid"),
                        **values) -> str:
        """The client lab file (instruments.lab TOML) that reaches this running lab, with
        its calibrations (:func:`client_lab_text`: ``roles``, ``values`` overrides);
        written to ``path`` too when given. Returns the text."""
        text = client_lab_text(self.resources, self.config, roles=roles, **values)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @property
    def resources(self) -> dict[str, str]:
        """pyvisa-py resource strings by role."""
        return {role: srv.resource for role, srv in self.servers.items()}

    def bind(self) -> VirtualLab:
        """Bind every server's port (a clash raises OSError at once, before any warm-up);
        nothing is served yet."""
        bound = []
        try:
            for srv in self.servers.values():
                srv.bind()
                bound.append(srv)
        except OSError:
            for srv in bound:
                srv.stop()
            raise
        return self

    def warm_up(self) -> None:
        """Compile the engine (both fast kernels, or load them from numba's cache) so
        that no shot pays for it."""
        if self.config.engine == "fast":
            from echo.engines import fast

            fast.warm_up()
        self.sample.warm_up()

    def start(self) -> VirtualLab:
        """Bind, warm the engine up, then serve: when this returns the lab is ready."""
        self.bind()
        try:
            self.warm_up()
            for srv in self.servers.values():
                srv.start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def loopback_only(self) -> bool:
        """True if the servers are reachable from this machine only."""
        import ipaddress

        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def stop(self) -> None:
        for srv in self.servers.values():
            srv.stop()

    def __enter__(self) -> VirtualLab:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
