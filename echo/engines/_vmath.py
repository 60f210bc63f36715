"""Branch-free elementary functions for the fast engine's vector loops (numba).

numba's ``math.sin``/``math.log`` are calls into libm, which stop LLVM from vectorising a
loop; these are selects and polynomials only (fdlibm's kernels: < 1 ulp on the reduced
argument), so a loop over the grains of a block compiles to SIMD code. Callers compile with
``error_model="numpy"`` (no Python zero-division checks) and ``fastmath={"contract"}``
(fused multiply-adds; no reassociation, no assumption about NaN or infinity).

* :func:`log_pos`: natural logarithm of a positive normal float64.
* :func:`sin_kernel`, :func:`sinc_kernel`, :func:`cos_kernel`: sin x, sin x / x, cos x for
  |x| ≤ π/4, given z = x².
* :func:`rot_coeffs`: the coefficients (c, s/φ, (1 − c)/φ²) of the rotation by the angle
  φ = |w| from p2 = |w|² (Rodrigues' formula r' = c r + (s/φ) w×r + ((1 − c)/φ²)(w·r) w),
  through the half angle θ = φ/2 (so no cancellation at small angles): c = 1 − 2 sin²θ,
  s/φ = (sin θ/θ) cos θ, (1 − c)/φ² = (sin θ/θ)²/2; θ reduced by Cody–Waite (π/2 in three
  parts, exact products for θ < 2^19·π/2). Valid for θ ≤ :data:`THETA_MAX` — callers route
  larger angles (a long quiet step) to :func:`rot_coeffs_libm`.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from echo.engines import kernel_cache  # noqa: F401  (registers the kernels' cache before @njit)

__all__ = ["log_pos", "sin_kernel", "sinc_kernel", "cos_kernel", "rot_coeffs",
           "rot_coeffs_small", "rot_coeffs_libm", "P2_SMALL", "THETA_MAX"]

_U52 = np.uint64(52)
_MANT = np.uint64(0x000FFFFFFFFFFFFF)
_EXP1 = np.uint64(0x3FF0000000000000)

# fdlibm e_log.c, k_sin.c, k_cos.c
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2 = math.sqrt(2.0)
_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11
# π/2 in three 33-bit parts and a tail (fdlibm e_rem_pio2.c)
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624871116645580e-21
_PIO2_3T = 8.47842766036889956997e-32
_INV_PIO2 = 2.0 / math.pi
_TWO_PI_HI = float(np.float32(2.0 * math.pi))  # 24 significant bits: k·HI exact
_TWO_PI_LO = 2.0 * math.pi - _TWO_PI_HI

#: largest half angle θ = φ/2 (rad) of :func:`rot_coeffs` (Cody–Waite exact below 2^19·π/2)
THETA_MAX = 1.0e5
#: p2 = φ² up to which :func:`rot_coeffs_small` holds (θ ≤ π/4)
P2_SMALL = (0.5 * math.pi) ** 2


@intrinsic
def f64_from_bits(typingctx, u):
    """The float64 whose IEEE bits are the uint64 ``u``."""
    if not isinstance(u, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@intrinsic
def bits_from_f64(typingctx, x):
    """The IEEE bits (uint64) of the float64 ``x``."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@njit(cache=True, inline="always")
def log_pos(x):
    """ln x of a positive normal float64 (fdlibm e_log: x = 2^k m, m in [√½, √2),
    ln m = f − (f²/2 − s(f²/2 + R(s²))), s = f/(2 + f))."""
    b = bits_from_f64(x)
    k = np.float64(np.int64(b >> _U52)) - 1023.0
    m = f64_from_bits((b & _MANT) | _EXP1)
    big = m > _SQRT2
    m = 0.5 * m if big else m
    k = k + 1.0 if big else k
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


@njit(cache=True, inline="always")
def sinc_kernel(z):
    """sin x / x for |x| ≤ π/4, z = x²."""
    return 1.0 + z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))


@njit(cache=True, inline="always")
def sin_kernel(x, z):
    """sin x for |x| ≤ π/4, z = x²."""
    return x * sinc_kernel(z)


@njit(cache=True, inline="always")
def cos_kernel(z):
    """cos x for |x| ≤ π/4, z = x² (1 − z/2 rounded with fdlibm's correction)."""
    r = z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + z * r)


@njit(cache=True, inline="always")
def rot_coeffs_small(p2):
    """(c, s/φ, (1 − c)/φ²) for p2 = φ² ≤ :data:`P2_SMALL` (no square root)."""
    z = 0.25 * p2
    sc = sinc_kernel(z)
    cp = 0.5 * sc * sc
    return 1.0 - p2 * cp, sc * cos_kernel(z), cp


@njit(cache=True, inline="always")
def rot_coeffs(p2):
    """(c, s/φ, (1 − c)/φ²) for p2 = φ², half angle θ = φ/2 ≤ :data:`THETA_MAX`."""
    th = 0.5 * math.sqrt(p2)
    kf = np.floor(th * _INV_PIO2 + 0.5)
    r = ((th - kf * _PIO2_1) - kf * _PIO2_2) - kf * _PIO2_3
    r = r - kf * _PIO2_3T
    z = r * r
    sc0 = sinc_kernel(z)
    sr = r * sc0
    cr = cos_kernel(z)
    q = np.int64(kf) & 3
    odd = (q & 1) != 0
    sin_t = cr if odd else sr
    cos_t = sr if odd else cr
    sin_t = -sin_t if q >= 2 else sin_t
    cos_t = -cos_t if (q == 1 or q == 2) else cos_t
    sc = sc0 if kf == 0.0 else sin_t / th
    cp = 0.5 * sc * sc
    return 1.0 - p2 * cp, sc * cos_t, cp


@njit(cache=True)
def rot_coeffs_libm(p2):
    """:func:`rot_coeffs` for any angle (scalar libm; φ reduced modulo 2π by Cody–Waite
    with two constants, exact for φ/2π < 2^29: long quiet delays rotate by 1e4–1e7 rad)."""
    if p2 <= P2_SMALL:
        return rot_coeffs_small(p2)
    phi = math.sqrt(p2)
    k = np.floor(phi / (2.0 * math.pi) + 0.5)
    red = (phi - k * _TWO_PI_HI) - k * _TWO_PI_LO
    c = math.cos(red)
    return c, math.sin(red) / phi, (1.0 - c) / p2
