"""Random numbers of the fast engine's kernels (numba): one xorshift128+ stream per grain,
seeded by splitmix64 from the chunk seed and the grain's index, and standard normals by the
Marsaglia–Tsang ziggurat (see :mod:`echo.engines._kernels` for how the streams are used)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from echo.engines import kernel_cache  # noqa: F401  (registers the kernels' cache before @njit)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S23 = np.uint64(23)
_S17 = np.uint64(17)
_S26 = np.uint64(26)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0
_S32 = np.uint64(32)
_MASK7 = np.uint64(127)


def _ziggurat_tables():
    """Marsaglia–Tsang (2000) ziggurat tables for the standard normal, 128 layers."""
    m1 = 2147483648.0
    dn = 3.442619855899
    tn = dn
    vn = 9.91256303526217e-3
    kn = np.zeros(128)
    wn = np.zeros(128)
    fn = np.zeros(128)
    q = vn / math.exp(-0.5 * dn * dn)
    kn[0] = (dn / q) * m1
    kn[1] = 0.0
    wn[0] = q / m1
    wn[127] = dn / m1
    fn[0] = 1.0
    fn[127] = math.exp(-0.5 * dn * dn)
    for i in range(126, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        kn[i + 1] = (dn / tn) * m1
        tn = dn
        fn[i] = math.exp(-0.5 * dn * dn)
        wn[i] = dn / m1
    return kn, wn, fn


_KN, _WN, _FN = _ziggurat_tables()
_ZR = 3.442619855899


@njit(cache=True, inline="always")
def _splitmix(z):
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _next_uniform(st, g):
    """Uniform in (0, 1] from grain g's xorshift128+ state st[g, :]."""
    s1 = st[g, 0]
    s0 = st[g, 1]
    res = s0 + s1
    st[g, 0] = s0
    s1 = s1 ^ (s1 << _S23)
    st[g, 1] = s1 ^ s0 ^ (s1 >> _S17) ^ (s0 >> _S26)
    return (np.float64(res >> _S11) + 1.0) * _TWO_M53


@njit(cache=True, inline="always")
def _next_u64(st, g):
    s1 = st[g, 0]
    s0 = st[g, 1]
    res = s0 + s1
    st[g, 0] = s0
    s1 = s1 ^ (s1 << _S23)
    st[g, 1] = s1 ^ s0 ^ (s1 >> _S17) ^ (s0 >> _S26)
    return res


@njit(cache=True)
def _normal_slow(st, g, hz, iz):
    kn = _KN
    wn = _WN
    fn = _FN
    while True:
        x = hz * wn[iz]
        if iz == 0:
            while True:
                x = -math.log(_next_uniform(st, g)) / _ZR
                y = -math.log(_next_uniform(st, g))
                if y + y >= x * x:
                    break
            return _ZR + x if hz > 0 else -_ZR - x
        if fn[iz] + _next_uniform(st, g) * (fn[iz - 1] - fn[iz]) < math.exp(-0.5 * x * x):
            return x
        u = _next_u64(st, g)
        hz = np.float64(np.int64(u >> _S32)) - 2147483648.0
        iz = np.int64(u & _MASK7)
        if abs(hz) < kn[iz]:
            return hz * wn[iz]


@njit(cache=True, inline="always")
def _normal(st, g):
    """Standard normal variate (ziggurat; sign/magnitude from the high 32 bits, layer
    from the low 7 bits of one 64-bit draw)."""
    u = _next_u64(st, g)
    hz = np.float64(np.int64(u >> _S32)) - 2147483648.0
    iz = np.int64(u & _MASK7)
    if abs(hz) < _KN[iz]:
        return hz * _WN[iz]
    return _normal_slow(st, g, hz, iz)


@njit(cache=True, inline="always")
def _normal2(st, g):
    """Two standard normal variates, the xorshift state kept in registers on the fast
    path (same stream as two calls of :func:`_normal`)."""
    s1 = st[g, 0]
    s0 = st[g, 1]
    u = s0 + s1
    s1 = s1 ^ (s1 << _S23)
    s1 = s1 ^ s0 ^ (s1 >> _S17) ^ (s0 >> _S26)
    # state now (s0, s1)
    hz = np.float64(np.int64(u >> _S32)) - 2147483648.0
    iz = np.int64(u & _MASK7)
    if abs(hz) < _KN[iz]:
        x1 = hz * _WN[iz]
    else:
        st[g, 0] = s0
        st[g, 1] = s1
        x1 = _normal_slow(st, g, hz, iz)
        s0 = st[g, 0]
        s1 = st[g, 1]
    a = s0
    b = s1
    u = b + a
    a2 = b
    a = a ^ (a << _S23)
    b2 = a ^ b ^ (a >> _S17) ^ (b >> _S26)
    st[g, 0] = a2
    st[g, 1] = b2
    hz = np.float64(np.int64(u >> _S32)) - 2147483648.0
    iz = np.int64(u & _MASK7)
    if abs(hz) < _KN[iz]:
        return x1, hz * _WN[iz]
    return x1, _normal_slow(st, g, hz, iz)
