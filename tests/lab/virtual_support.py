"""Helpers for the virtual-lab tests: a small sample model, a lab started on ephemeral
loopback ports (self-stopping), and a client lab file pointing at it."""

from __future__ import annotations

from pathlib import Path

from instruments.virtual.lab import VirtualLab, config_from_dict, default_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_LAB = ROOT / "examples" / "lab_virtual.toml"
DEFAULT_PORTS = {"awg": 5025, "digitizer": 5026, "lockin": 5027}

#: Coil calibration used by the tests (1 µT ↔ 1 V: the hahn pulses use ~0.9 V of the
#: 2.5 V DAC full scale).
VOLTS_PER_TESLA = 1.0e6


def small_config(n_samples: int = 64, noise_rms: float = 0.0,
                 digitize_timeout: float = 30.0, **top):
    """The example virtual lab with a smaller ensemble.

    ``digitize_timeout`` is lab time a :DIGitize waits for a trigger. Lab time runs while
    the lab is idle, and on a loaded machine the client may need seconds of host time
    between :DIGitize and its *TRG (test and lab share one process here). So the default
    is long. A test whose subject is the no-trigger error passes a short one itself.
    """
    d = default_config()
    d["model"]["ensemble"]["n_samples"] = n_samples
    d["awg"]["volts_per_tesla"] = VOLTS_PER_TESLA
    d["digitizer"]["noise_rms"] = noise_rms
    d["digitizer"]["digitize_timeout"] = digitize_timeout
    d.update(top)
    return config_from_dict(d, "<test>")


def start_lab(config=None, lifetime: float = 110.0) -> VirtualLab:
    """A running virtual lab on ephemeral 127.0.0.1 ports; stops itself after
    ``lifetime`` s even if a test forgets to."""
    return VirtualLab(config or small_config(), ephemeral=True, lifetime=lifetime).start()


def lab_file(lab: VirtualLab, path: Path, **overrides) -> Path:
    """Write the client lab file of ``lab`` (:meth:`VirtualLab.client_lab_file`) with
    test-friendly timeouts and ``overrides`` (``key=value`` replaced wherever it appears)."""
    lab.client_lab_file(path, **{"timeout_s": 3, **overrides})
    return path
