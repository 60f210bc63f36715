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
from echo.engines._rng import _GOLDEN, _next_uniform, _normal, _normal2, _splitmix

_SQ3_6 = math.sqrt(3.0) / 6.0
_SQ3_12 = math.sqrt(3.0) / 12.0
_TWO_PI = 2.0 * math.pi


_TWO_PI_HI = float(np.float32(2.0 * math.pi))  # 24 significant bits: k·HI exact
_TWO_PI_LO = 2.0 * math.pi - _TWO_PI_HI


@njit(cache=True, inline="always")
def _reduce_2pi(phi):
    """φ − 2πk, k = round(φ/2π) (Cody–Waite, two constants; exact product for k < 2^29):
    long quiet delays rotate by 1e4–1e7 rad, where libm's own reduction is slow."""
    if phi < 6.0:
        return phi
    k = np.floor(phi / (2.0 * math.pi) + 0.5)
    return (phi - k * _TWO_PI_HI) - k * _TWO_PI_LO


@njit(cache=True, inline="always")
def _rotate_vec3(rx, ry, rz, k, wx, wy, wz):
    """:func:`_rotate_vec` on structure-of-arrays state (rx[k], ry[k], rz[k])."""
    p2 = wx * wx + wy * wy + wz * wz
    if p2 < 0.0625:
        sp = 1.0 + p2 * (-1.0 / 6 + p2 * (1.0 / 120 + p2 * (-1.0 / 5040 + p2 * (
            1.0 / 362880 + p2 * (-1.0 / 39916800)))))
        cp = 1.0 / 2 + p2 * (-1.0 / 24 + p2 * (1.0 / 720 + p2 * (-1.0 / 40320 + p2 * (
            1.0 / 3628800 + p2 * (-1.0 / 479001600)))))
        c = 1.0 - p2 * cp
    elif p2 > 0.0:
        phi = math.sqrt(p2)
        red = _reduce_2pi(phi)
        c = math.cos(red)
        sp = math.sin(red) / phi
        cp = (1.0 - c) / p2
    else:
        return
    x = rx[k]
    y = ry[k]
    z = rz[k]
    d = (wx * x + wy * y + wz * z) * cp
    rx[k] = x * c + (wy * z - wz * y) * sp + wx * d
    ry[k] = y * c + (wz * x - wx * z) * sp + wy * d
    rz[k] = z * c + (wx * y - wy * x) * sp + wz * d


@njit(cache=True, inline="always")
def _rot_matrix(R, k, wx, wy, wz):
    """R[k] (row-major 3×3) = rotation by the rotation vector w (see :func:`_rotate_vec`)."""
    p2 = wx * wx + wy * wy + wz * wz
    if p2 < 0.0625:
        sp = 1.0 + p2 * (-1.0 / 6 + p2 * (1.0 / 120 + p2 * (-1.0 / 5040 + p2 * (
            1.0 / 362880 + p2 * (-1.0 / 39916800)))))
        cp = 1.0 / 2 + p2 * (-1.0 / 24 + p2 * (1.0 / 720 + p2 * (-1.0 / 40320 + p2 * (
            1.0 / 3628800 + p2 * (-1.0 / 479001600)))))
        c = 1.0 - p2 * cp
    else:
        phi = math.sqrt(p2)
        red = _reduce_2pi(phi)
        c = math.cos(red)
        sp = math.sin(red) / phi
        cp = (1.0 - c) / p2
    R[k, 0] = c + wx * wx * cp
    R[k, 1] = -wz * sp + wx * wy * cp
    R[k, 2] = wy * sp + wx * wz * cp
    R[k, 3] = wz * sp + wy * wx * cp
    R[k, 4] = c + wy * wy * cp
    R[k, 5] = -wx * sp + wy * wz * cp
    R[k, 6] = -wy * sp + wz * wx * cp
    R[k, 7] = wx * sp + wz * wy * cp
    R[k, 8] = c + wz * wz * cp


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


@njit(cache=True, fastmath=False)
def _run_block(b, row, acc, ops, t0, dt, u1, v1, u2, v2, dflag, ang, cph, sph, ridx,
               ou_coef, tel_amp, tel_rate,
               A0, P, Q, N, Xp, Yp, Oz, Ox, weight, r_init,
               diss, M, bvec, seed, goff, block, n_out):
    """Run the op table on block ``b`` of grains, adding into acc[row].

    Block-local state is kept as structure-of-arrays (rx, ry, rz, ...), so that the
    rotation of all grains of a block in a non-dissipative step is a branch-free loop
    the compiler vectorises; the noise (random numbers) is drawn in a separate scalar
    pass and the rare large rotation angles (φ ≥ 1/4) are redone with libm afterwards."""
    n = A0.shape[0]
    n_ops = ops.shape[0]
    n_ou = ou_coef.shape[1]
    n_tel = tel_amp.shape[0]
    noisy = n_ou + n_tel > 0
    useed = np.uint64(seed)
    lo = b * block
    hi = min(n, lo + block)
    m = hi - lo
    rx = np.empty(m)
    ry = np.empty(m)
    rz = np.empty(m)
    a0x = np.empty(m)
    a0y = np.empty(m)
    a0z = np.empty(m)
    px = np.empty(m)
    py = np.empty(m)
    pz = np.empty(m)
    qx = np.empty(m)
    qy = np.empty(m)
    qz = np.empty(m)
    nx = np.empty(m)
    ny = np.empty(m)
    nz = np.empty(m)
    wx = np.empty(m)
    wy = np.empty(m)
    wz = np.empty(m)
    deb = np.zeros(m)
    st = np.empty((m, 2), dtype=np.uint64)
    xou = np.zeros((m, max(n_ou, 1)))
    tsgn = np.ones((m, max(n_tel, 1)))
    tnext = np.zeros((m, max(n_tel, 1)))
    W1 = np.empty((3, 3))
    W2 = np.empty((3, 3))
    Am = np.empty((3, 3))
    av = np.empty(3)
    Pm = np.empty((3, 3))
    pv = np.empty(3)
    Tm = np.empty((3, 3))
    tv = np.empty(3)
    # quiet steps (no noise, drive or dissipation) of equal length reuse each grain's
    # rotation matrix (e.g. the many short steps between output samples in a window)
    quiet_ok = not noisy and not diss
    rc = np.empty((m, 9))
    rc_dt = -1.0
    amax2 = 0.0  # 2 max|a0| over the block: bounds the correction rotation angle
    for k in range(m):
        g = lo + k
        amax2 = max(amax2, 2.0 * math.sqrt(A0[g, 0] ** 2 + A0[g, 1] ** 2 + A0[g, 2] ** 2))
    for k in range(m):
        g = lo + k
        rx[k] = r_init[g, 0]
        ry[k] = r_init[g, 1]
        rz[k] = r_init[g, 2]
        a0x[k] = A0[g, 0]
        a0y[k] = A0[g, 1]
        a0z[k] = A0[g, 2]
        px[k] = P[g, 0]
        py[k] = P[g, 1]
        pz[k] = P[g, 2]
        qx[k] = Q[g, 0]
        qy[k] = Q[g, 1]
        qz[k] = Q[g, 2]
        nx[k] = N[g, 0]
        ny[k] = N[g, 1]
        nz[k] = N[g, 2]
        z = useed ^ (np.uint64(goff + g + 1) * _GOLDEN)
        s0 = _splitmix(z)
        s1 = _splitmix(s0 ^ _GOLDEN)
        if s0 == np.uint64(0) and s1 == np.uint64(0):
            s1 = _GOLDEN
        st[k, 0] = s0
        st[k, 1] = s1
        # stationary initial noise states
        for q in range(n_ou):
            xi = _normal(st, k)
            xou[k, q] = ou_coef[0, q, 5] * xi
        for q in range(n_tel):
            if _next_uniform(st, k) < 0.5:
                tsgn[k, q] = -1.0
            if tel_rate[q] > 0:
                tnext[k, q] = -math.log(_next_uniform(st, k)) / tel_rate[q]
            else:
                tnext[k, q] = np.inf
    for i in range(n_ops):
        op = ops[i]
        if op == 0:
            h = dt[i]
            nrep = ridx[i] if ridx[i] > 1 else 1
            for rep in range(nrep):
                inv_h = 1.0 / h if h > 0 else 0.0
                ta = t0[i] + rep * h
                tb = ta + h
                du = u2[i] - u1[i]
                dv = v2[i] - v1[i]
                mag = dflag[i] != 0
                uu = u1[i]
                vv = v1[i]
                drv = mag or uu != 0.0 or vv != 0.0
                if quiet_ok and not drv:
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
                        # steps that differ from the cached one by rounding (|w| ≤ 1e-6 rad):
                        # rotations about one axis add, so apply the small extra rotation
                        # w = 2 dh a0 to second order (error O(|w|³) ≤ 1e-18)
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
                    continue
                # ---- pass 1 (scalar): bias noise, exact update of each process and of its
                # integral; deb[k] = mean δε over the step (OU columns 2–4 pre-divided by h)
                if noisy:
                    cf = ou_coef[i]
                    for k in range(m):
                        de = 0.0
                        for q in range(n_ou):
                            xi1, xi2 = _normal2(st, k)
                            x0 = xou[k, q]
                            de += cf[q, 2] * x0 + cf[q, 3] * xi1 + cf[q, 4] * xi2
                            xou[k, q] = cf[q, 0] * x0 + cf[q, 1] * xi1
                        integ = 0.0
                        for q in range(n_tel):
                            tc = ta
                            sg = tsgn[k, q]
                            part = 0.0
                            while tnext[k, q] < tb:
                                part += sg * (tnext[k, q] - tc)
                                tc = tnext[k, q]
                                sg = -sg
                                tnext[k, q] += -math.log(_next_uniform(st, k)) / tel_rate[q]
                            part += sg * (tb - tc)
                            tsgn[k, q] = sg
                            integ += tel_amp[q] * part
                        deb[k] = de + integ * inv_h
                if not diss:
                    # ---- pass 2: rotation vectors w = 2h a_eff (Magnus-4 when the drive varies)
                    h2 = 2.0 * h
                    if mag:
                        ch = _SQ3_6 * h
                        for k in range(m):
                            de = deb[k]
                            a1x = a0x[k] + uu * px[k] + vv * qx[k] + de * nx[k]
                            a1y = a0y[k] + uu * py[k] + vv * qy[k] + de * ny[k]
                            a1z = a0z[k] + uu * pz[k] + vv * qz[k] + de * nz[k]
                            dax = du * px[k] + dv * qx[k]
                            day = du * py[k] + dv * qy[k]
                            daz = du * pz[k] + dv * qz[k]
                            # a2 × a1 = (a1 + da) × a1 = da × a1
                            wx[k] = h2 * (a1x + 0.5 * dax + ch * (day * a1z - daz * a1y))
                            wy[k] = h2 * (a1y + 0.5 * day + ch * (daz * a1x - dax * a1z))
                            wz[k] = h2 * (a1z + 0.5 * daz + ch * (dax * a1y - day * a1x))
                    elif drv:
                        for k in range(m):
                            de = deb[k]
                            wx[k] = h2 * (a0x[k] + uu * px[k] + vv * qx[k] + de * nx[k])
                            wy[k] = h2 * (a0y[k] + uu * py[k] + vv * qy[k] + de * ny[k])
                            wz[k] = h2 * (a0z[k] + uu * pz[k] + vv * qz[k] + de * nz[k])
                    else:
                        for k in range(m):
                            de = deb[k]
                            wx[k] = h2 * (a0x[k] + de * nx[k])
                            wy[k] = h2 * (a0y[k] + de * ny[k])
                            wz[k] = h2 * (a0z[k] + de * nz[k])
                    # ---- pass 3: rotate (polynomial branch-free; large angles redone below)
                    n_large = 0
                    for k in range(m):
                        vx = wx[k]
                        vy = wy[k]
                        vz = wz[k]
                        p2 = vx * vx + vy * vy + vz * vz
                        small = p2 < 0.0625
                        n_large += 0 if small else 1
                        sp = 1.0 + p2 * (-1.0 / 6 + p2 * (1.0 / 120 + p2 * (-1.0 / 5040 + p2 * (
                            1.0 / 362880 + p2 * (-1.0 / 39916800)))))
                        cp = 1.0 / 2 + p2 * (-1.0 / 24 + p2 * (1.0 / 720 + p2 * (
                            -1.0 / 40320 + p2 * (1.0 / 3628800 + p2 * (-1.0 / 479001600)))))
                        c = 1.0 - p2 * cp
                        x = rx[k]
                        y = ry[k]
                        z = rz[k]
                        d = (vx * x + vy * y + vz * z) * cp
                        nxv = x * c + (vy * z - vz * y) * sp + vx * d
                        nyv = y * c + (vz * x - vx * z) * sp + vy * d
                        nzv = z * c + (vx * y - vy * x) * sp + vz * d
                        rx[k] = nxv if small else x
                        ry[k] = nyv if small else y
                        rz[k] = nzv if small else z
                    if n_large > 0:
                        for k in range(m):
                            vx = wx[k]
                            vy = wy[k]
                            vz = wz[k]
                            p2 = vx * vx + vy * vy + vz * vz
                            if p2 >= 0.0625:
                                _rotate_vec3(rx, ry, rz, k, vx, vy, vz)
                else:
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
                        c3 = _SQ3_12 * h * h
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
        elif op == 1:
            for k in range(m):
                g = lo + k
                ex = cph[i] * Xp[g, 0] + sph[i] * Yp[g, 0]
                ey = cph[i] * Xp[g, 1] + sph[i] * Yp[g, 1]
                ez = cph[i] * Xp[g, 2] + sph[i] * Yp[g, 2]
                nn = math.sqrt(ex * ex + ey * ey + ez * ez)
                f = ang[i] / nn
                _rotate_vec3(rx, ry, rz, k, f * ex, f * ey, f * ez)
        else:
            s = 0.0
            c = cph[i]
            sn = sph[i]
            for k in range(m):
                g = lo + k
                tz = Oz[g] * rz[k] + Ox[g] * (rx[k] * c - ry[k] * sn)
                s += weight[g] * tz
            acc[row, ridx[i]] += s


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
