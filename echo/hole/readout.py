"""Two read-outs of a burned hole, each as a :class:`HoleSpectrum` (hole = 1 − S_burn/S_ref).

1. **One-shot spectrum** (:func:`one_shot_hole`): an (ideal or short) Hahn probe, a LONG
   detection window centred on the echo, and the Fourier transform of the window:
   every grain i contributes w_i sin 2E_i(t − t_e) to ⟨τz⟩, so the transform about the echo
   centre t_e, apodised by a(t), has a line of weight ∝ w_i at f_i = 2E_i/2π, seen through
   the window's kernel W(f − f_i) (FWHM = :func:`kernel_fwhm_factor` / T_w: 1.21/T_w
   rectangular, 2.00/T_w Hann). Dividing the burned spectrum by the reference spectrum
   (the same sequence with the burn amplitude 0) gives 1 − S_b/S_r = (W ⊛ ρ 2P)/(W ⊛ ρ) →
   W̃ ⊛ 2P where the line density ρ is smooth: the Rabi profile at the window's resolution.
   The window length for a wanted resolution is :func:`window_for_resolution`.
   Spectral convention: S(f) = Σ a_j z_j exp(−i2π (f − f_ref)(t_j − t_c)) / Σ a_j for the
   demodulated signal z(t) = 2V(t) exp(−i2π f_ref t), t_c the window centre. The probe's
   pulse phases follow its carrier (phase-coherent, as the Schedule defines them), so
   with the probe carrier = f_ref the echo of grain i is exp(i2π(f_i − f_ref)(t − t_e))
   whatever the echo time t_e in the shot: runs with different waits divide without a
   phase ramp. (Re-referencing z to the echo time as well would count that phase twice.)
2. **Swept selective probe** (:func:`swept_hole`): the library holeburn.seq with a weak
   probe (π/2 in t90) swept over f_probe; the hole is 1 − A_b/A_r point by point, and its
   resolution is the probe's own excitation profile (:func:`probe_kernel`, the Hahn echo of
   a detuned isochromat with rectangular pulses, averaged over the window).

Frequencies in Hz, times in s. The burn's own expectation: :func:`expected_hole`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from echo.hole.burn import rabi_profile
from echo.model import ModelError, check_number
from sequences.units import TWO_PI

__all__ = ["APODISATIONS", "HoleSpectrum", "echo_spectrum", "expected_hole",
           "kernel_fwhm_factor", "one_shot_hole", "probe_kernel", "swept_hole",
           "window_for_resolution"]

APODISATIONS = ("hann", "rect")


def _apodisation(name: str, n: int) -> np.ndarray:
    if name not in APODISATIONS:
        raise ModelError(f"apodisation: must be one of {APODISATIONS}, got {name!r}")
    if name == "rect" or n < 3:
        return np.ones(n)
    return np.sin(np.pi * (np.arange(n) + 0.5) / n) ** 2  # Hann, no zero end samples


def kernel_fwhm_factor(apodisation: str = "hann") -> float:
    """FWHM of the amplitude kernel |W(f)| of a window of length T, in units of 1/T
    (computed: rectangular 1.2067, Hann 2.0000)."""
    n = 4096
    a = _apodisation(apodisation, n)
    u = (np.arange(n) + 0.5) / n - 0.5  # t/T about the centre
    x = np.linspace(0.0, 3.0, 30001)
    w = np.abs(np.exp(-2j * np.pi * np.outer(x[::10], u)) @ a) / a.sum()
    i = int(np.flatnonzero(w < 0.5)[0])
    lo, hi = x[::10][i - 1], x[::10][i]
    xs = np.linspace(lo, hi, 201)
    ws = np.abs(np.exp(-2j * np.pi * np.outer(xs, u)) @ a) / a.sum()
    j = int(np.flatnonzero(ws < 0.5)[0])
    x0 = xs[j - 1] + (0.5 - ws[j - 1]) * (xs[j] - xs[j - 1]) / (ws[j] - ws[j - 1])
    return float(2.0 * x0)


_KERNEL_FACTORS: dict[str, float] = {}


def _factor(apodisation: str) -> float:
    if apodisation not in _KERNEL_FACTORS:
        _KERNEL_FACTORS[apodisation] = kernel_fwhm_factor(apodisation)
    return _KERNEL_FACTORS[apodisation]


def window_for_resolution(resolution: float, apodisation: str = "hann") -> float:
    """Detection-window length T_w (s) whose Fourier kernel has FWHM ``resolution`` (Hz)."""
    resolution = check_number("resolution", resolution, positive=True)
    return _factor(apodisation) / resolution


@dataclass
class HoleSpectrum:
    """A hole spectrum: ``hole`` (1 − S_burn/S_ref, real part) at frequencies ``f`` (Hz);
    ``hole_imag`` the imaginary part (noise when the read-out is symmetric); ``u`` the 1σ
    uncertainty per point (None if unknown); ``resolution`` the read-out's FWHM (Hz);
    ``kernel`` (offsets Hz, values) the read-out kernel normalised to 1 at 0 (complex for
    the swept probe: its response has an offset-dependent phase); ``readout``
    "spectrum" or "swept"; ``valid`` where the reference spectrum is strong enough to divide
    by (≥ 5 % of its median over the span)."""

    f: np.ndarray
    hole: np.ndarray
    hole_imag: np.ndarray
    f_burn: float
    resolution: float
    kernel: tuple[np.ndarray, np.ndarray]
    readout: str
    valid: np.ndarray
    u: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"f_hz": self.f.tolist(), "hole": self.hole.tolist(),
             "hole_imag": self.hole_imag.tolist(), "f_burn_hz": self.f_burn,
             "resolution_hz": self.resolution, "readout": self.readout,
             "valid": self.valid.astype(int).tolist()}
        if self.u is not None:
            d["u"] = self.u.tolist()
        d["meta"] = json.loads(json.dumps(self.meta, default=float))
        return d


def _window_samples(result, point: int):
    """(absolute times, phase-cycled signal) of the detection window of one point."""
    ds = result.dataset
    win = ds["window"].values
    win = win[point] if win.ndim == 2 else win
    t = ds["shot_time"].values[point] if "shot_time" in ds else ds["time"].values
    sig = ds["signal"].values[point]
    idx = sorted({int(w) for w in win if w >= 0})
    sel = (win == idx[0]) if idx else np.isfinite(t)
    sel &= np.isfinite(t) & np.isfinite(sig)
    if sel.sum() < 2:
        raise ModelError(f"point {point}: fewer than two samples in the detection window")
    return t[sel], sig[sel]


def echo_spectrum(times, signal, f_ref: float, freqs, apodisation: str = "hann"):
    """S(f) of a demodulated window (module docstring), at ``freqs`` (Hz)."""
    t = np.asarray(times, float)
    z = np.asarray(signal, complex)
    a = _apodisation(apodisation, t.size)
    tc = float(t.mean())
    ph = np.exp(-1j * TWO_PI * np.outer(np.asarray(freqs, float) - f_ref, t - tc))
    return ph @ (a * z) / a.sum()


def _kernel_of(times, apodisation, offsets):
    t = np.asarray(times, float)
    a = _apodisation(apodisation, t.size)
    w = np.exp(-1j * TWO_PI * np.outer(offsets, t - t.mean())) @ a / a.sum()
    return w.real


def one_shot_hole(burn, reference, *, f_burn: float, f_ref: float, span: float | None = None,
                  apodisation: str = "hann", point: int = 0, ref_point: int = 0,
                  oversample: int = 4) -> HoleSpectrum:
    """The hole from the Fourier transforms of the echo windows of ``burn`` and ``reference``
    (EchoResults of the same sequence, burn amplitude 0 in the reference), on a grid of
    step resolution/``oversample`` over f_burn ± ``span``/2 (default 12 resolutions)."""
    tb, zb = _window_samples(burn, point)
    tr, zr = _window_samples(reference, ref_point)
    if tb.size != tr.size or not np.allclose(np.diff(tb), np.diff(tr), rtol=1e-6):
        raise ModelError("one-shot hole: the burned and reference runs have different "
                         "detection windows (same sequence, same window and sample rate)")
    length = float(tb[-1] - tb[0] + (tb[1] - tb[0]))
    res = _factor(apodisation) / length
    span = 12 * res if span is None else check_number("span", span, positive=True)
    f = f_burn + np.arange(-span / 2, span / 2 + 1e-9 * span, res / oversample)
    sb = echo_spectrum(tb, zb, f_ref, f, apodisation)
    sr = echo_spectrum(tr, zr, f_ref, f, apodisation)
    valid = np.abs(sr) >= 0.05 * np.median(np.abs(sr))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(valid, 1.0 - sb / np.where(valid, sr, 1.0), np.nan)
    off = np.linspace(-4 * res, 4 * res, 321)
    return HoleSpectrum(f, h.real, h.imag, float(f_burn), res,
                        (off, _kernel_of(tb, apodisation, off)), "spectrum", valid,
                        meta={"window_s": length, "apodisation": apodisation,
                              "f_ref_hz": f_ref})


def probe_kernel(offsets, *, rabi_hz: float, t90: float, tau: float, window: float,
                 t180: float | None = None, n_window: int = 64) -> np.ndarray:
    """Echo response of the library Hahn probe (rectangular π/2 of length t90 and π of
    t180 = 2 t90 at the same amplitude, Rabi frequency ``rabi_hz``, τ centre to centre, a
    window of length ``window`` centred on 2τ) to an isochromat detuned by ``offsets``
    (Hz): the window mean of the transverse magnetisation from the x pulse minus that from
    the −x pulse (the [x, −x] cycle), in the frame of the probe carrier, normalised to 1 at
    offset 0 (complex)."""
    t180 = 2 * t90 if t180 is None else t180
    d = TWO_PI * np.asarray(offsets, float)
    om = TWO_PI * rabi_hz

    def rot(m, ax, ang):  # rotate vectors m (n,3) about unit axes ax (n,3) by ang (n,)
        c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
        return m * c + np.cross(ax, m) * s + ax * np.sum(ax * m, axis=1)[:, None] * (1 - c)

    def pulse(m, dur, sign):
        eff = np.hypot(om, d)
        ax = np.stack([sign * om / eff, np.zeros_like(d), d / eff], axis=1)
        return rot(m, ax, eff * dur)

    def free(m, dur):
        ax = np.tile([0.0, 0.0, 1.0], (d.size, 1))
        return rot(m, ax, d * dur)

    out = 0
    for sign in (1.0, -1.0):
        m = np.tile([0.0, 0.0, 1.0], (d.size, 1))
        m = pulse(m, t90, sign)
        m = free(m, tau - t90 / 2 - t180 / 2)
        m = pulse(m, t180, 1.0)
        m = free(m, tau - t180 / 2 - window / 2)
        acc = 0
        for k in range(n_window):
            mk = free(m, (k + 0.5) * window / n_window)
            acc = acc + (mk[:, 0] + 1j * mk[:, 1])
        out = out + sign * acc / n_window
    zero = probe_kernel([0.0], rabi_hz=rabi_hz, t90=t90, tau=tau, window=window, t180=t180,
                        n_window=n_window)[0] if np.any(d != 0) else out[0]
    return out / zero


def _fwhm_of_kernel(off, k):
    a = np.abs(k)
    c = int(np.argmin(np.abs(off)))
    r = np.flatnonzero(a[c:] < 0.5 * a[c])
    if r.size == 0:
        return float(off[-1] - off[0])
    i = c + r[0]
    x = off[i - 1] + (0.5 * a[c] - a[i - 1]) * (off[i] - off[i - 1]) / (a[i] - a[i - 1])
    return float(2 * x)


def swept_hole(burn, reference, *, f_burn: float, param: str = "f_probe",
               probe: dict | None = None) -> HoleSpectrum:
    """The hole 1 − A_b/A_r point by point from two swept-probe runs (echo amplitude per
    value of ``param``). ``probe``: dict(rabi_hz, t90, tau, window) of the probe, for its
    kernel and resolution (:func:`probe_kernel`); without it the resolution is unknown
    (NaN)."""
    for r, what in ((burn, "burned"), (reference, "reference")):
        if param not in r.swept:
            raise ModelError(f"swept hole: the {what} run does not sweep {param!r} "
                             f"(swept: {r.swept or 'nothing'})")
    fb = np.asarray(burn.dataset[param].values, float)
    fr = np.asarray(reference.dataset[param].values, float)
    if fb.shape != fr.shape or not np.allclose(fb, fr):
        raise ModelError(f"swept hole: the two runs sweep {param} over different values")
    ab = np.asarray(burn.amplitude, complex)
    ar = np.asarray(reference.amplitude, complex)
    valid = np.abs(ar) >= 0.05 * np.median(np.abs(ar))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(valid, 1.0 - ab / np.where(valid, ar, 1.0), np.nan)
    order = np.argsort(fb)
    meta = {"param": param}
    if probe:
        span = max(8 * probe["rabi_hz"], 8 / probe["window"])
        off = np.linspace(-span, span, 801)
        k = probe_kernel(off, **probe)
        res = _fwhm_of_kernel(off, k)
        kernel = (off, k)
        meta["probe"] = dict(probe)
    else:
        res, kernel = float("nan"), (np.zeros(1), np.ones(1))
    return HoleSpectrum(fb[order], h.real[order], h.imag[order], float(f_burn), res, kernel,
                        "swept", valid[order], meta=meta)


def expected_hole(f, *, f_burn: float, duration: float, rabi_hz, kernel=None,
                  weights=None, broadening: float = 0.0) -> np.ndarray:
    """The closed-form hole at frequencies ``f`` (Hz): the Rabi profile 2P(f − f_burn) of a
    rectangular burn of length ``duration`` (s), averaged over the resonant grains' Rabi
    frequencies ``rabi_hz`` (scalar or array, with ``weights``), convolved with a Gaussian of
    rms ``broadening`` (Hz; spectral diffusion) and seen through the read-out ``kernel``
    (offsets Hz, values; normalised to unit sum). A smooth line density is assumed."""
    f = np.asarray(f, float)
    rabi = np.atleast_1d(np.asarray(rabi_hz, float))
    w = np.ones_like(rabi) if weights is None else np.asarray(weights, float)
    w = w / w.sum()
    om_max = float(rabi.max())
    scale = min(om_max, 1.0 / duration)
    kspan = 0.0 if kernel is None else float(np.max(np.abs(kernel[0])))
    ext = kspan + 6 * broadening + 40 * max(om_max, 1 / duration)
    step = min(scale, kspan / 8 if kspan > 0 else scale,
               broadening if broadening > 0 else scale) / 10
    x = np.arange(f.min() - ext, f.max() + ext + step, step)
    prof = sum(wi * rabi_profile(x - f_burn, ri, duration) for wi, ri in zip(w, rabi,
                                                                            strict=True))
    if broadening > 0:
        g = np.arange(-6 * broadening, 6 * broadening + step, step)
        kg = np.exp(-0.5 * (g / broadening) ** 2)
        prof = np.convolve(prof, kg / kg.sum(), mode="same")
    if kernel is not None:
        koff, kval = np.asarray(kernel[0], float), np.asarray(kernel[1])
        g = np.arange(koff.min(), koff.max() + step / 2, step)
        kv = np.interp(g, koff, kval.real) + 1j * np.interp(g, koff, np.imag(kval))
        out = np.empty_like(f)
        for i, fi in enumerate(f):  # a complex kernel (swept probe): the in-phase ratio
            out[i] = (np.sum(kv * np.interp(fi - g, x, prof)) / np.sum(kv)).real
        return out
    return np.interp(f, x, prof)
