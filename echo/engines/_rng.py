"""Random numbers of the fast engine's kernels (numba): one stream per grain, drawn for all
grains of a block at once in SIMD lanes.

* Generator: xoroshiro128++ (Blackman & Vigna 2019; 128-bit state, period 2^128 − 1, all
  64 output bits pass BigCrush/PractRand), one per grain, seeded by two splitmix64 outputs
  of (chunk seed, the grain's index in the chunk), so a grain's trajectory depends on
  neither threads nor blocks. The block keeps the states as two uint64 arrays; the update
  is adds, shifts and rotations, so a loop over the lanes vectorises.
  (Measured on the development machine: a counter-based Philox4x32-10 costs 2.3 ns per
  128 bits in the same vector loop, several times this generator's two 64-bit draws.)
* Normals: Box–Muller on two 53-bit uniforms, with branch-free log and sine/cosine
  (:mod:`echo.engines._vmath`): exactly two normals per two draws, no rejection loop, so
  the noise pass of a step is one vector loop. Radius √(−2 ln u1), u1 in (0, 1] on a 2^−53
  grid (|z| up to 8.57); angle 2πu2 taken as q·π/2 + (f − ½)·π/2 (q the top 2 bits of u2,
  f the other 51): the uniform angle shifted by the constant −π/4, still uniform.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from echo.engines import kernel_cache  # noqa: F401  (registers the kernels' cache before @njit)
from echo.engines._vmath import cos_kernel, log_pos, sin_kernel

__all__ = ["seed_lane", "next_u64", "uniform", "normal_pair"]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_U30 = np.uint64(30)
_U27 = np.uint64(27)
_U31 = np.uint64(31)
_U11 = np.uint64(11)
_U17 = np.uint64(17)
_U47 = np.uint64(47)
_U49 = np.uint64(49)
_U15 = np.uint64(15)
_U21 = np.uint64(21)
_U28 = np.uint64(28)
_U36 = np.uint64(36)
_U51 = np.uint64(51)
_U62 = np.uint64(62)
_U1 = np.uint64(1)
_MASK51 = np.uint64((1 << 51) - 1)
_TWO_M53 = 1.0 / 9007199254740992.0
_TWO_M51 = 1.0 / 2251799813685248.0
_PIO2 = 1.5707963267948966


@njit(cache=True, inline="always")
def _splitmix(z):
    z = z + GOLDEN
    z = (z ^ (z >> _U30)) * _M1
    z = (z ^ (z >> _U27)) * _M2
    return z ^ (z >> _U31)


@njit(cache=True, inline="always")
def seed_lane(seed, index):
    """xoroshiro128++ state (s0, s1) of the grain with ``index`` (int) under ``seed``
    (uint64): two splitmix64 outputs, never both zero."""
    s0 = _splitmix(seed ^ (np.uint64(index + 1) * GOLDEN))
    s1 = _splitmix(s0 ^ GOLDEN)
    if s0 == np.uint64(0) and s1 == np.uint64(0):
        s1 = GOLDEN
    return s0, s1


@njit(cache=True, inline="always")
def next_u64(s0, s1):
    """One xoroshiro128++ output and the next state: (r, s0, s1)."""
    r = (((s0 + s1) << _U17) | ((s0 + s1) >> _U47)) + s0
    s1 = s1 ^ s0
    s0 = ((s0 << _U49) | (s0 >> _U15)) ^ s1 ^ (s1 << _U21)
    s1 = (s1 << _U28) | (s1 >> _U36)
    return r, s0, s1


@njit(cache=True, inline="always")
def uniform(r):
    """Uniform in (0, 1] from the top 53 bits of the draw ``r``."""
    return (np.float64(r >> _U11) + 1.0) * _TWO_M53


@njit(cache=True, inline="always")
def normal_pair(r1, r2):
    """Two independent standard normals from two draws (Box–Muller, see the module doc)."""
    rad = np.sqrt(-2.0 * log_pos(uniform(r1)))
    q = r2 >> _U62
    x = (np.float64((r2 >> _U11) & _MASK51) * _TWO_M51 - 0.5) * _PIO2
    z = x * x
    s = sin_kernel(x, z)
    c = cos_kernel(z)
    odd = (q & _U1) != 0
    cc = s if odd else c
    ss = c if odd else s
    q1 = q >> _U1
    cc = -cc if (q1 ^ (q & _U1)) != 0 else cc
    ss = -ss if q1 != 0 else ss
    return rad * cc, rad * ss
