"""The fast engine's vector building blocks against numpy/libm and closed forms:
branch-free log, sin/cos and rotation coefficients (echo.engines._vmath), the per-lane
random streams and Box–Muller normals (echo.engines._rng; seeded, bounds ≤ 4 standard
errors) and the rotation of the kernel at every angle range (issue 14)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from echo.engines import _kernels, _rng, _vmath


@njit(error_model="numpy", fastmath={"contract"})
def _logs(x, out):
    for i in range(x.size):
        out[i] = _vmath.log_pos(x[i])


@njit(error_model="numpy", fastmath={"contract"})
def _coeffs(p2, out):
    for i in range(p2.size):
        if p2[i] <= _vmath.P2_SMALL:
            out[i, 0], out[i, 1], out[i, 2] = _vmath.rot_coeffs_small(p2[i])
        else:
            out[i, 0], out[i, 1], out[i, 2] = _vmath.rot_coeffs(p2[i])


@njit(error_model="numpy", fastmath={"contract"})
def _normals(seed, n_lanes, n_draws, out):
    for k in range(n_lanes):
        s0, s1 = _rng.seed_lane(np.uint64(seed), k)
        for j in range(n_draws):
            r1, s0, s1 = _rng.next_u64(s0, s1)
            r2, s0, s1 = _rng.next_u64(s0, s1)
            out[k, 2 * j], out[k, 2 * j + 1] = _rng.normal_pair(r1, r2)


def test_log_matches_numpy_to_an_ulp():
    x = np.exp(np.random.default_rng(0).uniform(-745 * 0.05, 40, 200_000))
    x = np.concatenate([x, 1 + np.linspace(-1e-3, 1e-3, 2001), [2.0 ** -53, 1.0]])
    out = np.empty_like(x)
    _logs(x, out)
    ref = np.log(x)
    assert np.all(np.abs(out - ref) <= 2.3e-16 * np.maximum(np.abs(ref), 1e-300))


def test_rotation_coefficients_match_libm_at_every_angle():
    # φ from 1e-9 rad (the small-angle series) through the range reduction up to 2e5 rad
    phi = np.concatenate([np.geomspace(1e-9, 2 * _vmath.THETA_MAX, 20_000),
                          np.array([0.5, 1.0, 1.5, 2.0]) * math.pi,
                          [math.sqrt(_vmath.P2_SMALL) * (1 + d) for d in (-1e-15, 0, 1e-15)]])
    out = np.empty((phi.size, 3))
    _coeffs(phi * phi, out)
    c = np.cos(phi)
    # (1 − cos φ)/φ² and sin φ/φ in the forms without cancellation: 2 sin²(φ/2)/φ²
    cp = 2 * np.sin(phi / 2) ** 2 / phi ** 2
    sp = np.sinc(phi / np.pi)
    # absolute error of c and φ·sp of a few ulps of φ (the argument's own rounding)
    tol = 4e-16 * np.maximum(phi, 1.0)
    assert np.all(np.abs(out[:, 0] - c) <= tol)
    assert np.all(np.abs(out[:, 1] - sp) * phi <= tol)
    assert np.all(np.abs(out[:, 2] - cp) * phi ** 2 <= tol)


def test_kernel_rotation_at_every_angle_range_matches_rodrigues():
    """_rotate: polynomial lanes, vector sin/cos lanes and libm lanes (> 2e5 rad) mixed in
    one block; each lane against Rodrigues' formula in libm."""
    rng = np.random.default_rng(3)
    m = 257
    angle = np.concatenate([np.geomspace(1e-7, 1.5, 100), np.geomspace(1.6, 4e5, 150),
                            [1e6, 3e7, 1e9, 0.0, math.pi, 2 * math.pi, 1.5708]])
    axis = rng.normal(size=(m, 3))
    axis /= np.linalg.norm(axis, axis=1)[:, None]
    w = axis * angle[:, None]
    r = rng.normal(size=(m, 3))
    r /= np.linalg.norm(r, axis=1)[:, None]
    rx, ry, rz = (np.ascontiguousarray(r[:, i]) for i in range(3))
    wx, wy, wz = (np.ascontiguousarray(w[:, i]) for i in range(3))
    _kernels._rotate(rx, ry, rz, wx, wy, wz, m)
    red = np.mod(angle, 2 * math.pi)
    c, s = np.cos(red)[:, None], np.sin(red)[:, None]
    ref = r * c + np.cross(axis, r) * s + axis * np.sum(axis * r, axis=1)[:, None] * (1 - c)
    got = np.stack([rx, ry, rz], axis=1)
    # the angle itself carries a relative rounding error of ~1e-16 (and 2π k of libm's
    # reduction is rounded at 1e9 rad): allow a few ulps of the angle
    tol = 1e-15 * np.maximum(angle, 1.0)
    assert np.all(np.max(np.abs(got - ref), axis=1) <= tol)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-14)


def test_lane_normals_are_standard_and_independent():
    """10^6 Box–Muller normals from 500 seeded lanes: mean, variance, kurtosis, tails,
    the pair's correlation, the lag-1 correlation along a stream and across lanes, each
    within 4 standard errors of the standard normal's value."""
    lanes, draws = 500, 1000
    z = np.empty((lanes, 2 * draws))
    _normals(12345, lanes, draws, z)
    x = z.ravel()
    n = x.size
    assert abs(x.mean()) < 4 / math.sqrt(n)
    assert abs(x.var() - 1) < 4 * math.sqrt(2 / n)
    m4 = np.mean(x ** 4)
    assert abs(m4 - 3) < 4 * math.sqrt(96 / n)  # Var(x⁴) = 105 − 9
    for t, p in ((2.0, 0.04550026389635842), (3.0, 0.0026997960632601866),
                 (4.0, 6.334248366623996e-05)):
        frac = np.mean(np.abs(x) > t)
        assert abs(frac - p) < 4 * math.sqrt(p * (1 - p) / n), (t, frac)
    se = 1 / math.sqrt(n / 2)
    assert abs(np.mean(z[:, 0::2] * z[:, 1::2])) < 4 * se  # the two of a pair
    assert abs(np.mean(z[:, :-1] * z[:, 1:])) < 4 * se  # along a stream
    assert abs(np.mean(z[:-1] * z[1:])) < 4 * se  # neighbouring lanes (grains)

