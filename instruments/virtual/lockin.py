"""Emulated lock-in amplifier: a Stanford Research SR830 (subset), its sine output
driving the coil and its input on the SQUID flux-locked-loop output.

Emulated (SR830 manual, chapter 5, "Remote programming"): ``FREQ`` (reference frequency,
Hz, 1 mHz … 102 kHz), ``SLVL`` (sine amplitude, V rms, 0.004 … 5), ``PHAS`` (reference
phase, deg), ``HARM``, ``FMOD`` (1 = internal reference), ``ISRC``, ``SENS`` (0 … 26,
2 nV … 1 V), ``OFLT`` (0 … 19, 10 µs … 30 ks), ``OFSL``, ``RMOD``, ``OUTX``,
``OUTP? i`` (1 X, 2 Y, 3 R, 4 θ), ``SNAP? i,j[,…]`` (also 9 = reference frequency),
``*IDN?``, ``*RST``, ``*CLS``, ``*ESR?``, ``LIAS?``, ``ERRS?``. The SR830 accepts SR-style
queries with the parameter after the ``?`` (``OUTP?1``). It has no SCPI error queue
(``SYST:ERR?`` is not an SR830 command; the virtual one answers it for uniform tests).

Response (``response``): ``"ensemble"`` (default) — a simple linear-response model,
documented as such: the coil field h(t) = √2·SLVL/volts_per_tesla · cos ωt drives each grain
(splitting 2E, matrix element of the τz drive ∝ Δ/E) with the susceptibility

    χ(ω) = Σ_g w_g (Δ/E)² p_g [1/(2E − ω − iΓ) + 1/(2E + ω + iΓ)] / Σ_g w_g,

p_g = tanh(E/k_B T) (1 with temperature None: ground state), Γ = 1/T2 with
1/T2 = 1/(2 T1) + 1/Tφ (a 1 kHz floor when neither is set), so ⟨τz⟩ follows
γ·h·χ(ω) and the lock-in reads X + iY = volts_per_tau_z · γ · h_rms · χ(ω) (rms phasor
rotated by −PHAS), i.e. Y ∝ χ''. ``"eq7"`` — the paper's spin-bath absorption
(:func:`echo.theory.spectrum.eq7_chi`, Eq. 7 with A = 1 and Δ0 the ensemble's median
Δ0): χ = i·8Δ0/(ω(ω² − 16Δ0²)^{1/2}) θ(ω − 4Δ0), no dispersive part.
Why the ensemble and not ``echo.theory``'s χ'': the lab answers with the physics of its own
grains (the model file's Δ, ε, weights, T1, Tφ, temperature), and ``compare --kind chi``
holds the measurement against the theory: answering with the theory would make that
comparison circular. For a flat bias density and one Δ0 the ensemble sum is Eq. 7 with
A = 2πΔ0·W(0) (docs/instruments.md, "χ''(ω) by lock-in"); left out are bias noise (a slow
OU shift moves grains along a flat W(ε): no change), saturation and settling.
Noise: the model's white noise density
(noise_rms² per sample at detection.sample_rate) through the output filter's
equivalent noise bandwidth 1/(4τ).
"""

from __future__ import annotations

import math

import numpy as np

from instruments.virtual.scpi import ScpiError, to_float, to_int
from instruments.virtual.server import VirtualInstrument, command
from sequences.units import K_B_OVER_HBAR, angular

SENSITIVITIES = [m * 10.0 ** e for e in range(-9, 1) for m in (1, 2, 5)][1:-2]  # 2 nV … 1 V
TIME_CONSTANTS = [m * 10.0 ** e for e in range(-5, 5) for m in (1, 3)]  # 10 µs … 30 ks


class SR830(VirtualInstrument):
    """The emulated SR830 (see the module docstring)."""

    idn = ("Stanford_Research_Systems", "SR830", "s/n00000", "ver1.07")
    sr_style = True

    def __init__(self, name: str = "lockin", faults=None, model=None,
                 volts_per_tesla: float = 1.0, seed: int = 0, response: str = "ensemble"):
        if response not in ("ensemble", "eq7"):
            raise ValueError(f"lock-in response {response!r} (ensemble | eq7)")
        self.response = response
        self.model = model
        self.volts_per_tesla = float(volts_per_tesla)
        self.rng = np.random.default_rng(seed)
        self._grains = None
        super().__init__(name, faults)

    def reset(self) -> None:
        self.freq = 1000.0
        self.slvl = 1.0
        self.phase = 0.0
        self.harm = 1
        self.fmod = 1
        self.isrc = 0
        self.sens = 26
        self.oflt = 8
        self.ofsl = 1
        self.rmod = 1
        self.outx = 1

    # ------------------------------------------------------------------ physics
    def chi(self, freq_hz: float) -> complex:
        """The dimensionless ensemble susceptibility χ(ω) of the module docstring."""
        if self.model is None:
            return 0j
        if self._grains is None:
            ens = self.model.ensemble
            chunks = list(ens.chunks())
            self._grains = (np.concatenate([c.delta for c in chunks]),
                            np.concatenate([c.bias for c in chunks]),
                            np.concatenate([c.weight for c in chunks]))
        delta, bias, w = self._grains
        if self.response == "eq7":
            from echo.theory.spectrum import eq7_chi

            delta0 = float(np.median(np.abs(delta))) / (2 * abs(self.model.ensemble.cos_pi_s)
                                                        or 1.0)
            return 1j * float(eq7_chi(angular(freq_hz), 1.0, delta0))
        env = self.model.environment
        e = np.sqrt(delta ** 2 + bias ** 2)
        rate = 0.0
        if env.t1:
            rate += 1.0 / (2 * env.t1)
        if env.t_phi:
            rate += 1.0 / env.t_phi
        gamma = rate if rate > 0 else angular(1e3)
        if env.temperature is None:
            pol = np.ones_like(e)
        else:
            pol = np.tanh(e / (K_B_OVER_HBAR * env.temperature))
        om = angular(freq_hz)
        with np.errstate(divide="ignore", invalid="ignore"):
            m2 = np.where(e > 0, (delta / e) ** 2, 0.0)
        resp = m2 * pol * (1 / (2 * e - om - 1j * gamma) + 1 / (2 * e + om + 1j * gamma))
        return complex(np.sum(w * resp) / np.sum(w))

    def xy(self) -> complex:
        """The demodulated rms phasor X + iY [V]."""
        if self.model is None:
            return 0j
        ens = self.model.ensemble
        h_rms = self.slvl / self.volts_per_tesla
        f = self.freq * self.harm
        z = (self.model.detection.volts_per_tau_z(ens) * ens.moment_rad_per_tesla * h_rms
             * self.chi(f))
        z *= complex(math.cos(math.radians(-self.phase)), math.sin(math.radians(-self.phase)))
        det = self.model.detection
        if det.noise_rms > 0:
            tau = TIME_CONSTANTS[self.oflt]
            density = det.noise_rms ** 2 / (det.sample_rate / 2)
            sd = math.sqrt(density / (4 * tau))
            z += complex(*self.rng.normal(0.0, sd, 2))
        return z

    def _out(self, i: int, z: complex) -> float:
        if i == 1:
            return z.real
        if i == 2:
            return z.imag
        if i == 3:
            return abs(z)
        if i == 4:
            return math.degrees(math.atan2(z.imag, z.real))
        if i == 9:
            return self.freq
        if 5 <= i <= 8:
            return 0.0
        if i in (10, 11):
            return z.real if i == 10 else z.imag
        raise ScpiError(-222, f"output index {i}")

    # ---------------------------------------------------------------- settings
    def _setting(self, u, attr, lo, hi, cast=float, fmt="{:.6g}"):
        if u.query:
            return fmt.format(getattr(self, attr))
        v = to_float(u.params[0] if u.params else None, attr) if cast is float else \
            to_int(u.params[0] if u.params else None, attr)
        if not lo <= v <= hi:
            raise ScpiError(-222, f"{attr.upper()} {v:g} outside {lo:g}..{hi:g}")
        setattr(self, attr, v)

    @command("FREQ")
    def _freq(self, u, s):
        return self._setting(u, "freq", 1e-3, 102e3)

    @command("SLVL")
    def _slvl(self, u, s):
        return self._setting(u, "slvl", 0.004, 5.0, fmt="{:.3f}")

    @command("PHAS")
    def _phas(self, u, s):
        return self._setting(u, "phase", -360.0, 729.99, fmt="{:.2f}")

    @command("HARM")
    def _harm(self, u, s):
        return self._setting(u, "harm", 1, 19999, int, "{:d}")

    @command("FMOD")
    def _fmod(self, u, s):
        return self._setting(u, "fmod", 0, 1, int, "{:d}")

    @command("ISRC")
    def _isrc(self, u, s):
        return self._setting(u, "isrc", 0, 3, int, "{:d}")

    @command("SENS")
    def _sens(self, u, s):
        return self._setting(u, "sens", 0, 26, int, "{:d}")

    @command("OFLT")
    def _oflt(self, u, s):
        return self._setting(u, "oflt", 0, 19, int, "{:d}")

    @command("OFSL")
    def _ofsl(self, u, s):
        return self._setting(u, "ofsl", 0, 3, int, "{:d}")

    @command("RMOD")
    def _rmod(self, u, s):
        return self._setting(u, "rmod", 0, 2, int, "{:d}")

    @command("OUTX")
    def _outx(self, u, s):
        return self._setting(u, "outx", 0, 1, int, "{:d}")

    # ------------------------------------------------------------------ outputs
    @command("OUTP", query=True)
    def _outp(self, u, s):
        i = to_int(u.params[0] if u.params else None, "output")
        if not 1 <= i <= 4:
            raise ScpiError(-222, f"OUTP? {i}: use 1..4")
        return f"{self._out(i, self.xy()):.6e}"

    @command("SNAP", query=True)
    def _snap(self, u, s):
        idx = [to_int(p, "snap index") for p in u.params]
        if not 2 <= len(idx) <= 6:
            raise ScpiError(-109, "SNAP? takes 2 to 6 parameters")
        z = self.xy()
        return ",".join(f"{self._out(i, z):.6e}" for i in idx)

    @command("LIAS", query=True)
    def _lias(self, u, s):
        return "0"

    @command("ERRS", query=True)
    def _errs(self, u, s):
        return "0"

    @command("AGAN", query=False)
    def _agan(self, u, s):
        r = abs(self.xy())
        fits = [k for k, full in enumerate(SENSITIVITIES) if full >= 1.2 * r]
        self.sens = fits[0] if fits else len(SENSITIVITIES) - 1
