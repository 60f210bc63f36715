"""numba kernels of the fast engine (see :mod:`echo.engines.fast` for the physics).

State of a grain: its Bloch vector r (3 reals, ρ = (1 + r·τ)/2 in the integration frame;
kept per block as structure-of-arrays so the rotation loop vectorises), its noise states
and its own random stream (xorshift128+ seeded by splitmix64 from the chunk seed and the
grain's index in the chunk, ``goff`` + local index), so a grain's trajectory depends on
neither threads nor blocks. Grains are processed in fixed blocks of ``block`` grains, in
waves of ``wave`` blocks (prange over the blocks of a wave); each block accumulates its
weighted ⟨τz⟩ sums into its own row of a (wave, n_out) buffer, added to the total in block
order after the wave. The total is therefore the sum over blocks in global block order,
whatever the wave size or thread count (bitwise), and the buffer bounds the memory:
O(grains + wave·n_out), the caller choosing ``wave`` for a fixed buffer size.

Operation table (one row per op, in time order):
* op 0 — evolve over ``dt`` with the drive values (u1, v1) and (u2, v2) at the two
  Gauss–Legendre nodes t_mid ∓ dt/(2√3); the grain's Hamiltonian vector is
  a = A0 + u P + v Q + δε N (H = a·σ in the integration frame, Bloch rotation vector 2a),
  δε the mean bias noise over the step (exact integral of each noise process / dt; the
  OU integral coefficients arrive pre-divided by dt).
  Fourth-order Magnus: a_eff = (a1 + a2)/2 + (√3/6) dt (a2 × a1); rotation by 2|a_eff|dt.
  Dissipative grains: the affine Bloch generator G = [2a×] + M (+ offset b) with the same
  Magnus formula, exponentiated (Taylor + scaling and squaring, error < 1e-12).
  When ``ridx`` > 1 the step is taken ``ridx`` times in a row (from t0 in steps of dt):
  a quiet stretch cut into equal noise steps is one row, so the table does not grow
  with the length of a delay.
* op 1 — ideal rotation by ``angle`` about axis cos φ X' + sin φ Y' (per-grain eigen axes).
* op 2 — record: ⟨τz⟩ = Oz r_z + Ox (r_x c − r_y s) with (c, s) = (cos ωt, sin ωt) of
  the frame, accumulated as Σ w ⟨τz⟩ into acc[block, index].
"""

from __future__ import annotations

import math
import types

import numpy as np
from numba import njit, prange

from echo.engines import kernel_cache  # noqa: F401  (registers the kernels' cache before @njit)
from echo.engines._rng import next_u64, normal_pair, seed_lane, uniform
from echo.engines._vmath import (
    P2_SMALL,
    THETA_MAX,
    rot_coeffs,
    rot_coeffs_libm,
    rot_coeffs_small,
)

_SQ3_6 = math.sqrt(3.0) / 6.0
_SQ3_12 = math.sqrt(3.0) / 12.0
_P2_MAX = (2.0 * THETA_MAX) ** 2
#: flags of the vector passes: no Python zero-division checks (they stop vectorisation)
#: and fused multiply-adds; no reassociation and no NaN/inf assumptions
_VEC = dict(cache=True, error_model="numpy", fastmath={"contract"})


@njit(cache=True, inline="always")
def _ou_lane(s0, s1, xq, k, cf):
    """Lane k of :func:`_ou_pass`: the process's mean over the step (updates xq[k] and the
    lane's stream)."""
    r1, a, b = next_u64(s0[k], s1[k])
    r2, a, b = next_u64(a, b)
    s0[k] = a
    s1[k] = b
    xi1, xi2 = normal_pair(r1, r2)
    x0 = xq[k]
    xq[k] = cf[0] * x0 + cf[1] * xi1
    return cf[2] * x0 + cf[3] * xi1 + cf[4] * xi2


@njit(cache=True, inline="always")
def _rodrigues(rx, ry, rz, k, vx, vy, vz, c, sp, cp, do):
    """r[k] ← c r + sp (w × r) + cp (w·r) w where ``do`` (else r[k] unchanged: a select)."""
    x = rx[k]
    y = ry[k]
    z = rz[k]
    d = (vx * x + vy * y + vz * z) * cp
    nx_ = x * c + (vy * z - vz * y) * sp + vx * d
    ny_ = y * c + (vz * x - vx * z) * sp + vy * d
    nz_ = z * c + (vx * y - vy * x) * sp + vz * d
    rx[k] = nx_ if do else x
    ry[k] = ny_ if do else y
    rz[k] = nz_ if do else z


@njit(cache=True, inline="always")
def _rotate_small_lane(rx, ry, rz, k, vx, vy, vz):
    """Lane k of :func:`_rotate_small`; returns 1 if the lane was left for a larger angle."""
    p2 = vx * vx + vy * vy + vz * vz
    small = p2 <= P2_SMALL
    c, sp, cp = rot_coeffs_small(p2 if small else 0.0)
    _rodrigues(rx, ry, rz, k, vx, vy, vz, c, sp, cp, small)
    return 0 if small else 1


@njit(**_VEC)
def _rotate_small(rx, ry, rz, wx, wy, wz, m):
    """Rotate r[k] by the rotation vector w[k] where |w|² ≤ P2_SMALL (no square root);
    other lanes are left as they are. Returns their number."""
    n_big = 0
    for k in range(m):
        n_big += _rotate_small_lane(rx, ry, rz, k, wx[k], wy[k], wz[k])
    return n_big


@njit(**_VEC)
def _rotate_large(rx, ry, rz, wx, wy, wz, m):
    """Rotate r[k] by w[k] where P2_SMALL < |w|² ≤ (2 THETA_MAX)² (vector sin/cos with
    range reduction); other lanes are left as they are. Returns the number of lanes with a
    still larger angle (left for :func:`_rotate_huge`)."""
    n_huge = 0
    for k in range(m):
        vx = wx[k]
        vy = wy[k]
        vz = wz[k]
        p2 = vx * vx + vy * vy + vz * vz
        huge = p2 > _P2_MAX
        n_huge += 1 if huge else 0
        do = p2 > P2_SMALL and not huge
        c, sp, cp = rot_coeffs(p2 if do else 1.0)
        _rodrigues(rx, ry, rz, k, vx, vy, vz, c, sp, cp, do)
    return n_huge


@njit(cache=True)
def _rotate_huge(rx, ry, rz, wx, wy, wz, m):
    """Rotate r[k] by w[k] where |w|² > (2 THETA_MAX)² (scalar libm: a long quiet step)."""
    for k in range(m):
        vx = wx[k]
        vy = wy[k]
        vz = wz[k]
        p2 = vx * vx + vy * vy + vz * vz
        if p2 > _P2_MAX:
            c, sp, cp = rot_coeffs_libm(p2)
            _rodrigues(rx, ry, rz, k, vx, vy, vz, c, sp, cp, True)


@njit(cache=True)
def _rotate(rx, ry, rz, wx, wy, wz, m):
    """Rotate r[k] by the rotation vector w[k] (any angle), vectorised in the common cases."""
    if _rotate_small(rx, ry, rz, wx, wy, wz, m) > 0:
        if _rotate_large(rx, ry, rz, wx, wy, wz, m) > 0:
            _rotate_huge(rx, ry, rz, wx, wy, wz, m)


@njit(cache=True, inline="always")
def _rot_matrix(R, k, wx, wy, wz):
    """R[k] (row-major 3×3) = rotation by the rotation vector w (any angle)."""
    c, sp, cp = rot_coeffs_libm(wx * wx + wy * wy + wz * wz)
    R[k, 0] = c + wx * wx * cp
    R[k, 1] = -wz * sp + wx * wy * cp
    R[k, 2] = wy * sp + wx * wz * cp
    R[k, 3] = wz * sp + wy * wx * cp
    R[k, 4] = c + wy * wy * cp
    R[k, 5] = -wx * sp + wy * wz * cp
    R[k, 6] = -wy * sp + wz * wx * cp
    R[k, 7] = wx * sp + wz * wy * cp
    R[k, 8] = c + wz * wz * cp


@njit(**_VEC)
def _ou_pass(s0, s1, xq, deb, cf, first, m):
    """One OU process over one step for the m lanes: two normals per lane (its own stream
    s0/s1), the exact joint update of δε (xq) and of its mean over the step, added into
    deb (set when ``first``). cf: ρ, s1, ib, c, s2 of :func:`echo.engines.fast._ou_coefficients`
    (columns 2–4 divided by the step)."""
    for k in range(m):
        de = _ou_lane(s0, s1, xq, k, cf)
        deb[k] = de if first else deb[k] + de


@njit(**_VEC)
def _ou_start(s0, s1, xq, sigma, m):
    """Stationary start of one OU process: δε = σ ξ per lane."""
    for k in range(m):
        r1, a, b = next_u64(s0[k], s1[k])
        r2, a, b = next_u64(a, b)
        s0[k] = a
        s1[k] = b
        xq[k] = sigma * normal_pair(r1, r2)[0]


@njit(cache=True, inline="always")
def _uniform_lane(s0, s1, k):
    r, a, b = next_u64(s0[k], s1[k])
    s0[k] = a
    s1[k] = b
    return uniform(r)


@njit(cache=True)
def _telegraph_pass(s0, s1, tsgn, tnext, tel_amp, tel_rate, deb, ta, tb, inv_h, m):
    """Random telegraph processes over [ta, tb] (exact switching times per lane): adds
    their mean over the step into deb (scalar: a data-dependent number of switches)."""
    for k in range(m):
        integ = 0.0
        for q in range(tel_amp.shape[0]):
            tc = ta
            sg = tsgn[q, k]
            part = 0.0
            while tnext[q, k] < tb:
                part += sg * (tnext[q, k] - tc)
                tc = tnext[q, k]
                sg = -sg
                tnext[q, k] += -math.log(_uniform_lane(s0, s1, k)) / tel_rate[q]
            part += sg * (tb - tc)
            tsgn[q, k] = sg
            integ += tel_amp[q] * part
        deb[k] += integ * inv_h


@njit(**_VEC)
def _step_driven(rx, ry, rz, wx, wy, wz, a0x, a0y, a0z, px, py, pz, qx, qy, qz, nx, ny, nz,
                 deb, h, uu, vv, du, dv, m):
    """A driven step: w = 2h a_eff, fourth-order Magnus with the drive (u, v) at the first
    Gauss node and (u + du, v + dv) at the second (du = dv = 0: exactly 2h a), and the
    rotation of the lanes with |w|² ≤ P2_SMALL; w is kept for the others (returned: their
    number)."""
    h2 = 2.0 * h
    ch = _SQ3_6 * h
    n_big = 0
    for k in range(m):
        de = deb[k]
        a1x = a0x[k] + uu * px[k] + vv * qx[k] + de * nx[k]
        a1y = a0y[k] + uu * py[k] + vv * qy[k] + de * ny[k]
        a1z = a0z[k] + uu * pz[k] + vv * qz[k] + de * nz[k]
        dax = du * px[k] + dv * qx[k]
        day = du * py[k] + dv * qy[k]
        daz = du * pz[k] + dv * qz[k]
        # a2 × a1 = (a1 + da) × a1 = da × a1
        vx = h2 * (a1x + 0.5 * dax + ch * (day * a1z - daz * a1y))
        vy = h2 * (a1y + 0.5 * day + ch * (daz * a1x - dax * a1z))
        vz = h2 * (a1z + 0.5 * daz + ch * (dax * a1y - day * a1x))
        wx[k] = vx
        wy[k] = vy
        wz[k] = vz
        n_big += _rotate_small_lane(rx, ry, rz, k, vx, vy, vz)
    return n_big


@njit(**_VEC)
def _step_free(rx, ry, rz, wx, wy, wz, a0x, a0y, a0z, nx, ny, nz, deb, h, m):
    """:func:`_step_driven` without drive: w = 2h(A0 + δε N)."""
    h2 = 2.0 * h
    n_big = 0
    for k in range(m):
        de = deb[k]
        vx = h2 * (a0x[k] + de * nx[k])
        vy = h2 * (a0y[k] + de * ny[k])
        vz = h2 * (a0z[k] + de * nz[k])
        wx[k] = vx
        wy[k] = vy
        wz[k] = vz
        n_big += _rotate_small_lane(rx, ry, rz, k, vx, vy, vz)
    return n_big


@njit(cache=True, error_model="numpy", fastmath={"contract", "reassoc"})
def _record(rx, ry, rz, oz, ox, wgt, c, s, m):
    """Σ_k wgt[k] (oz[k] r_z + ox[k] (r_x c − r_y s)) over the m lanes. The one place with
    reassociation: the compiler sums in vector partial sums (its fixed interleave over k),
    combined in a fixed order — the same order for every block of the same size, so the
    result does not depend on threads or waves."""
    a = 0.0
    for k in range(m):
        a += wgt[k] * (oz[k] * rz[k] + ox[k] * (rx[k] * c - ry[k] * s))
    return a


@njit(cache=True)
def _expm_affine(A, v, P, p, T, t):
    """(P, p) = exp of the augmented 4×4 matrix [[A, v], [0, 0]] (A 3×3, v 3); T, t
    scratch. Scaling to norm ≤ 1/4, then the Taylor series up to the first degree K with
    norm^(K+1)/(K+1)! < 1e-17 (K ≤ 12), then squaring."""
    norm = 0.0
    for i in range(3):
        s = abs(v[i])
        for j in range(3):
            s += abs(A[i, j])
        if s > norm:
            norm = s
    sq = 0
    if norm > 0.25:
        sq = int(math.ceil(math.log2(norm / 0.25)))
    scale = 1.0 / (2.0 ** sq)
    nrm = norm * scale
    kmax = 1
    term = nrm
    while kmax < 12 and term * nrm / (kmax + 1) > 1e-17:
        kmax += 1
        term *= nrm / kmax
    for i in range(3):
        v[i] *= scale
        for j in range(3):
            A[i, j] *= scale
    for i in range(3):
        p[i] = 0.0
        for j in range(3):
            P[i, j] = 1.0 if i == j else 0.0
    for k in range(kmax, 0, -1):
        inv = 1.0 / k
        for i in range(3):
            acc = v[i]
            for m in range(3):
                acc += A[i, m] * p[m]
            t[i] = acc * inv
            for j in range(3):
                a2 = 0.0
                for m in range(3):
                    a2 += A[i, m] * P[m, j]
                T[i, j] = a2 * inv + (1.0 if i == j else 0.0)
        for i in range(3):
            p[i] = t[i]
            for j in range(3):
                P[i, j] = T[i, j]
    for _ in range(sq):
        for i in range(3):
            acc = p[i]
            for m in range(3):
                acc += P[i, m] * p[m]
            t[i] = acc
            for j in range(3):
                a2 = 0.0
                for m in range(3):
                    a2 += P[i, m] * P[m, j]
                T[i, j] = a2
        for i in range(3):
            p[i] = t[i]
            for j in range(3):
                P[i, j] = T[i, j]


@njit(cache=True, inline="always")
def _cross_mat(W, wx, wy, wz):
    W[0, 0] = 0.0
    W[0, 1] = -wz
    W[0, 2] = wy
    W[1, 0] = wz
    W[1, 1] = 0.0
    W[1, 2] = -wx
    W[2, 0] = -wy
    W[2, 1] = wx
    W[2, 2] = 0.0


@njit(cache=True)
def _diss_step(rx, ry, rz, a0x, a0y, a0z, px, py, pz, qx, qy, qz, nx, ny, nz, deb,
               M, bvec, lo, m, h, uu, vv, du, dv):
    """One step of dissipative grains: the exact exponential of the Magnus-4 affine Bloch
    generator (scalar: a 4×4 matrix exponential per grain)."""
    W1 = np.empty((3, 3))
    W2 = np.empty((3, 3))
    Am = np.empty((3, 3))
    av = np.empty(3)
    Pm = np.empty((3, 3))
    pv = np.empty(3)
    Tm = np.empty((3, 3))
    tv = np.empty(3)
    c3 = _SQ3_12 * h * h
    for k in range(m):
        g = lo + k
        de = deb[k]
        a1x = a0x[k] + uu * px[k] + vv * qx[k] + de * nx[k]
        a1y = a0y[k] + uu * py[k] + vv * qy[k] + de * ny[k]
        a1z = a0z[k] + uu * pz[k] + vv * qz[k] + de * nz[k]
        a2x = a1x + du * px[k] + dv * qx[k]
        a2y = a1y + du * py[k] + dv * qy[k]
        a2z = a1z + du * pz[k] + dv * qz[k]
        _cross_mat(W1, 2.0 * a1x, 2.0 * a1y, 2.0 * a1z)
        _cross_mat(W2, 2.0 * a2x, 2.0 * a2y, 2.0 * a2z)
        for ii in range(3):
            for jj in range(3):
                W1[ii, jj] += M[g, ii, jj]
                W2[ii, jj] += M[g, ii, jj]
        for ii in range(3):
            s_aff = 0.0
            for jj in range(3):
                comm = 0.0
                for mm in range(3):
                    comm += W2[ii, mm] * W1[mm, jj] - W1[ii, mm] * W2[mm, jj]
                Am[ii, jj] = 0.5 * h * (W1[ii, jj] + W2[ii, jj]) + c3 * comm
                s_aff += (W2[ii, jj] - W1[ii, jj]) * bvec[g, jj]
            av[ii] = h * bvec[g, ii] + c3 * s_aff
        _expm_affine(Am, av, Pm, pv, Tm, tv)
        x = rx[k]
        y = ry[k]
        zz = rz[k]
        rx[k] = Pm[0, 0] * x + Pm[0, 1] * y + Pm[0, 2] * zz + pv[0]
        ry[k] = Pm[1, 0] * x + Pm[1, 1] * y + Pm[1, 2] * zz + pv[1]
        rz[k] = Pm[2, 0] * x + Pm[2, 1] * y + Pm[2, 2] * zz + pv[2]


@njit(cache=True)
def _quiet_step(rx, ry, rz, a0x, a0y, a0z, rc, rc_dt, amax2, h, m):
    """A step without noise, drive or dissipation: each grain's rotation matrix for the
    step length is cached (rc, computed for rc_dt; e.g. the many short steps between
    output samples in a window) and reused while the length stays within rounding of it.
    Returns the step length the cache now holds."""
    dh = h - rc_dt
    if rc_dt < 0.0 or abs(dh) * amax2 > 1e-6:
        h2 = 2.0 * h
        for k in range(m):
            _rot_matrix(rc, k, h2 * a0x[k], h2 * a0y[k], h2 * a0z[k])
        rc_dt = h
        dh = 0.0
    for k in range(m):
        x = rx[k]
        y = ry[k]
        z = rz[k]
        rx[k] = rc[k, 0] * x + rc[k, 1] * y + rc[k, 2] * z
        ry[k] = rc[k, 3] * x + rc[k, 4] * y + rc[k, 5] * z
        rz[k] = rc[k, 6] * x + rc[k, 7] * y + rc[k, 8] * z
    if dh != 0.0:
        # steps that differ from the cached one by rounding (|w| ≤ 1e-6 rad): rotations
        # about one axis add, so apply the small extra rotation w = 2 dh a0 to second
        # order (error O(|w|³) ≤ 1e-18)
        for k in range(m):
            vx = 2.0 * dh * a0x[k]
            vy = 2.0 * dh * a0y[k]
            vz = 2.0 * dh * a0z[k]
            x = rx[k]
            y = ry[k]
            z = rz[k]
            d = vx * x + vy * y + vz * z
            w2 = vx * vx + vy * vy + vz * vz
            rx[k] = x + (vy * z - vz * y) + 0.5 * (vx * d - w2 * x)
            ry[k] = y + (vz * x - vx * z) + 0.5 * (vy * d - w2 * y)
            rz[k] = z + (vx * y - vy * x) + 0.5 * (vz * d - w2 * z)
    return rc_dt


@njit(cache=True)
def _run_block(b, row, acc, ops, t0, dt, u1, v1, u2, v2, dflag, ang, cph, sph, ridx,
               ou_coef, tel_amp, tel_rate,
               A0, P, Q, N, Xp, Yp, Oz, Ox, weight, r_init,
               diss, M, bvec, seed, goff, block, n_out):
    """Run the op table on block ``b`` of grains, adding into acc[row].

    Block-local state is kept as structure-of-arrays (rx, ry, rz, ...), and each stage of a
    step is a loop over the grains of the block that the compiler vectorises: the noise
    (random numbers, normals, OU update), the rotation vectors, the rotation (polynomial
    below π/2 rad, vector sin/cos with range reduction up to 2e5 rad, libm beyond) and the
    recording of ⟨τz⟩. Telegraph noise and dissipative steps are scalar loops."""
    n = A0.shape[0]
    n_ops = ops.shape[0]
    n_ou = ou_coef.shape[1]
    n_tel = tel_amp.shape[0]
    noisy = n_ou + n_tel > 0
    useed = np.uint64(seed)
    lo = b * block
    hi = min(n, lo + block)
    m = hi - lo
    r0 = np.ascontiguousarray(r_init[lo:hi].T)
    rx, ry, rz = r0[0], r0[1], r0[2]
    gv = np.empty((12, m))  # A0, P, Q, N of the block's grains, one row per component
    for j in range(3):
        for k in range(m):
            gv[j, k] = A0[lo + k, j]
            gv[3 + j, k] = P[lo + k, j]
            gv[6 + j, k] = Q[lo + k, j]
            gv[9 + j, k] = N[lo + k, j]
    a0x, a0y, a0z = gv[0], gv[1], gv[2]
    px, py, pz = gv[3], gv[4], gv[5]
    qx, qy, qz = gv[6], gv[7], gv[8]
    nx, ny, nz = gv[9], gv[10], gv[11]
    w3 = np.empty((3, m))
    wx, wy, wz = w3[0], w3[1], w3[2]
    deb = np.zeros(m)
    s0 = np.empty(m, dtype=np.uint64)
    s1 = np.empty(m, dtype=np.uint64)
    xou = np.zeros((max(n_ou, 1), m))
    tsgn = np.ones((max(n_tel, 1), m))
    tnext = np.zeros((max(n_tel, 1), m))
    oz = Oz[lo:hi]
    ox = Ox[lo:hi]
    wgt = weight[lo:hi]
    for k in range(m):
        s0[k], s1[k] = seed_lane(useed, goff + lo + k)
    # stationary initial noise states
    for q in range(n_ou):
        _ou_start(s0, s1, xou[q], ou_coef[0, q, 5], m)
    for k in range(m):
        for q in range(n_tel):
            if _uniform_lane(s0, s1, k) < 0.5:
                tsgn[q, k] = -1.0
            if tel_rate[q] > 0:
                tnext[q, k] = -math.log(_uniform_lane(s0, s1, k)) / tel_rate[q]
            else:
                tnext[q, k] = np.inf
    # quiet steps (no noise, drive or dissipation) of equal length reuse each grain's
    # rotation matrix
    quiet_ok = not noisy and not diss
    rc = np.empty((m, 9))
    rc_dt = -1.0
    amax2 = 0.0  # 2 max|a0| over the block: bounds the correction rotation angle
    for k in range(m):
        amax2 = max(amax2, 2.0 * math.sqrt(a0x[k] ** 2 + a0y[k] ** 2 + a0z[k] ** 2))
    for i in range(n_ops):
        op = ops[i]
        if op == 0:
            h = dt[i]
            nrep = ridx[i] if ridx[i] > 1 else 1
            inv_h = 1.0 / h if h > 0 else 0.0
            du = u2[i] - u1[i]
            dv = v2[i] - v1[i]
            mag = dflag[i] != 0
            uu = u1[i]
            vv = v1[i]
            drv = mag or uu != 0.0 or vv != 0.0
            for rep in range(nrep):
                if quiet_ok and not drv:
                    rc_dt = _quiet_step(rx, ry, rz, a0x, a0y, a0z, rc, rc_dt, amax2, h, m)
                    continue
                # bias noise: exact update of each process and of its mean over the step
                if n_ou == 0:
                    deb[:] = 0.0
                for q in range(n_ou):
                    _ou_pass(s0, s1, xou[q], deb, ou_coef[i, q], q == 0, m)
                if n_tel > 0:
                    ta = t0[i] + rep * h
                    _telegraph_pass(s0, s1, tsgn, tnext, tel_amp, tel_rate, deb, ta, ta + h,
                                    inv_h, m)
                if diss:
                    _diss_step(rx, ry, rz, a0x, a0y, a0z, px, py, pz, qx, qy, qz, nx, ny, nz,
                               deb, M, bvec, lo, m, h, uu, vv, du, dv)
                    continue
                if drv:
                    n_big = _step_driven(rx, ry, rz, wx, wy, wz, a0x, a0y, a0z, px, py, pz,
                                         qx, qy, qz, nx, ny, nz, deb, h, uu, vv, du, dv, m)
                else:
                    n_big = _step_free(rx, ry, rz, wx, wy, wz, a0x, a0y, a0z, nx, ny, nz, deb,
                                       h, m)
                if n_big > 0 and _rotate_large(rx, ry, rz, wx, wy, wz, m) > 0:
                    _rotate_huge(rx, ry, rz, wx, wy, wz, m)
        elif op == 1:
            a = ang[i]
            for k in range(m):
                g = lo + k
                ex = cph[i] * Xp[g, 0] + sph[i] * Yp[g, 0]
                ey = cph[i] * Xp[g, 1] + sph[i] * Yp[g, 1]
                ez = cph[i] * Xp[g, 2] + sph[i] * Yp[g, 2]
                f = a / math.sqrt(ex * ex + ey * ey + ez * ez)
                wx[k] = f * ex
                wy[k] = f * ey
                wz[k] = f * ez
            _rotate(rx, ry, rz, wx, wy, wz, m)
        else:
            acc[row, ridx[i]] += _record(rx, ry, rz, oz, ox, wgt, cph[i], sph[i], m)


def _run_ops(ops, t0, dt, u1, v1, u2, v2, dflag, ang, cph, sph, ridx,
             ou_coef, tel_amp, tel_rate,
             A0, P, Q, N, Xp, Yp, Oz, Ox, weight, r_init,
             diss, M, bvec, seed, goff, block, n_out, wave):
    """Run the op table on all grains (threads over the blocks of a wave of ``wave``
    blocks); returns the (n_out,) array of Σ_grains w ⟨τz⟩, summed block by block in
    order. Compiled twice (below): ``run_ops`` with a thread per block of a wave, and
    ``run_ops_serial`` on one thread (small problems: no thread start-up cost; nogil, for
    in-process worker threads) — the same summation order, so the same result to the
    last bit."""
    n = A0.shape[0]
    n_blocks = (n + block - 1) // block
    total = np.zeros(n_out)
    buf = np.zeros((wave, n_out))
    for w0 in range(0, n_blocks, wave):
        nb = min(wave, n_blocks - w0)
        buf[:, :] = 0.0
        for j in prange(nb):  # a plain range in the serial compilation
            _run_block(w0 + j, j, buf, ops, t0, dt, u1, v1, u2, v2, dflag, ang, cph, sph, ridx,
                       ou_coef, tel_amp, tel_rate, A0, P, Q, N, Xp, Yp, Oz, Ox, weight,
                       r_init, diss, M, bvec, seed, goff, block, n_out)
        for j in range(nb):
            for o in range(n_out):
                total[o] += buf[j, o]
    return total


def _named(fn, name: str):
    """A copy of the plain function ``fn`` named ``name``: numba keys its on-disk cache by
    the function's qualified name, so the parallel and the serial compilation of one body
    need two names."""
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    out = types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    out.__qualname__ = name
    out.__module__ = fn.__module__
    out.__doc__ = fn.__doc__
    return out


run_ops = njit(parallel=True, cache=True, fastmath=False)(_named(_run_ops, "run_ops"))
run_ops_serial = njit(cache=True, fastmath=False, nogil=True)(_named(_run_ops, "run_ops_serial"))
