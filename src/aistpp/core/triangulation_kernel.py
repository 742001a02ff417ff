"""Compiled (numba) kernel of ``triangulation._robust_chunk``: the same algorithm, point by point.

The numpy version processes all points of a chunk at once, which makes every hypothesis cost
a pass over arrays of all points; here each point is solved in registers: the all-view
solution with f/z reweighting, then (only where a view disagrees) the leave-one-view-out
hypotheses, then (only where two or more still disagree) every pair of views, scored by the
truncated squared reprojection error (MSAC), and the refit on the inliers. Camera coordinates
come from the camera model's compiled core (``camera.compiled.camera_point``); undistortion is
``camera.compiled.undistort_points``. Results agree with
the numpy version to rounding (``tests/test_triangulate.py`` checks it).

numba is a dependency of aniposelib; ``cache=True`` keeps the compiled code on disk so that
each worker process does not compile it again.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from aistpp.core.camera.compiled import camera_point
from aistpp.core.triangulation import MIN_CONDITION, cramer3
# the 9 entries (c, d) of the normal equations kept per view: the 3x3 block and the right side
_C = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2])
_D = np.array([0, 1, 2, 3, 1, 2, 3, 2, 3])


_cramer3 = njit(cache=True, inline="always")(cramer3)


@njit(cache=True, inline="always")
def _solve3(m00, m01, m02, m03, m11, m12, m13, m22, m23, nviews, out):
    """Solve the 3x3 normal equations (Cramer); out[:] = X or NaN. Returns True when solved."""
    x0, x1, x2, det, scale = _cramer3(m00, m01, m02, m03, m11, m12, m13, m22, m23)
    if nviews >= 2 and det > MIN_CONDITION * scale and scale > 0:
        inv = 1.0 / det
        out[0], out[1], out[2] = x0 * inv, x1 * inv, x2 * inv
        return True
    out[0] = out[1] = out[2] = np.nan
    return False


@njit(cache=True)
def _solve_weighted(mu, wv, out):
    """Weighted DLT from the per-view normal entries mu (V, 9) (sum over the view's two rows of
    r_c r_d, unweighted) and weights wv (V,) -> out (3,)."""
    m00 = m01 = m02 = m03 = m11 = m12 = m13 = m22 = m23 = 0.0
    n = 0
    for v in range(mu.shape[0]):
        w = wv[v]
        if w > 0:
            n += 1
        w2 = w * w
        m00 += w2 * mu[v, 0]
        m01 += w2 * mu[v, 1]
        m02 += w2 * mu[v, 2]
        m03 += w2 * mu[v, 3]
        m11 += w2 * mu[v, 4]
        m12 += w2 * mu[v, 5]
        m13 += w2 * mu[v, 6]
        m22 += w2 * mu[v, 7]
        m23 += w2 * mu[v, 8]
    return _solve3(m00, m01, m02, m03, m11, m12, m13, m22, m23, n, out)


@njit(cache=True)
def _refine(mu, wv, R, t, f, X, iterations, tmp_w, tmp_x):
    """Reweight views by f / depth and re-solve ``iterations`` times, X (3,) in place."""
    for _ in range(iterations):
        x0, x1, x2 = X[0], X[1], X[2]
        if np.isnan(x0):
            x0f = x1f = x2f = 0.0
        else:
            x0f, x1f, x2f = x0, x1, x2
        for v in range(mu.shape[0]):
            z = camera_point(R, t, v, x0f, x1f, x2f)[2]
            tmp_w[v] = wv[v] * (f[v] / z) if z > 1e-6 else 0.0
        _solve_weighted(mu, tmp_w, tmp_x)
        if not np.isnan(x0):
            X[0], X[1], X[2] = tmp_x[0], tmp_x[1], tmp_x[2]


@njit(cache=True)
def _errors(R, t, f, xy, X, out):
    """Squared reprojection errors (V,) px^2 of X (3,) (NaN read as 0) against normalised xy
    (V, 2); inf behind a camera. (Squared: comparisons with the threshold need no sqrt.)"""
    x0, x1, x2 = X[0], X[1], X[2]
    if np.isnan(x0):
        x0 = x1 = x2 = 0.0
    for v in range(R.shape[0]):
        cx, cy, cz = camera_point(R, t, v, x0, x1, x2)
        if cz > 1e-6:
            iz = 1.0 / cz
            dx = cx * iz - xy[v, 0]
            dy = cy * iz - xy[v, 1]
            out[v] = f[v] * f[v] * (dx * dx + dy * dy)
        else:
            out[v] = np.inf


@njit(cache=True)
def _fit_inliers(mu, wv, obs, R, t, f, xy, inl, thr, X, tmp_w, tmp_x, err, w1):
    """Refit on the inliers, update them from the refit (keeping at least two), refit again."""
    V = mu.shape[0]
    for v in range(V):
        w1[v] = wv[v] if inl[v] else 0.0
    _solve_weighted(mu, w1, X)
    _refine(mu, w1, R, t, f, X, 1, tmp_w, tmp_x)
    _errors(R, t, f, xy, X, err)
    thr2 = thr * thr
    count = 0
    for v in range(V):
        if obs[v] and err[v] < thr2 and not np.isnan(X[0]):
            count += 1
    if count >= 2:
        for v in range(V):
            inl[v] = obs[v] and err[v] < thr2 and not np.isnan(X[0])
    for v in range(V):
        w1[v] = wv[v] if inl[v] else 0.0
    _solve_weighted(mu, w1, X)
    _refine(mu, w1, R, t, f, X, 2, tmp_w, tmp_x)


@njit(cache=True)
def _best(mv, hyp_a, hyp_b, obs, R, t, f, xy, thr, inl, Xk, err, best_err, total, m):
    """MSAC over hypotheses; hypothesis k uses views ``hyp_a[k]`` (all but one: -1 = leave out
    ``hyp_b[k]``) or the pair (hyp_a[k], hyp_b[k]). Sets inl (V,); returns False when no
    hypothesis is solvable."""
    V = R.shape[0]
    thr2 = thr * thr
    best_cost = np.inf
    total[:] = 0.0
    n_obs = 0
    for v in range(V):
        for i in range(9):
            total[i] += mv[v, i]
        if obs[v]:
            n_obs += 1
    for k in range(hyp_a.shape[0]):
        a, b = hyp_a[k], hyp_b[k]
        if a < 0:  # all views but b
            for i in range(9):
                m[i] = total[i] - mv[b, i]
            n = n_obs - (1 if obs[b] else 0)
        else:
            for i in range(9):
                m[i] = mv[a, i] + mv[b, i]
            n = (1 if obs[a] else 0) + (1 if obs[b] else 0)
        if not _solve3(m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], n, Xk):
            continue
        _errors(R, t, f, xy, Xk, err)
        cost = 0.0
        for v in range(V):
            if obs[v]:
                cost += min(err[v], thr2)
        if cost < best_cost:
            best_cost = cost
            for v in range(V):
                best_err[v] = err[v] if obs[v] else np.inf
    if best_cost == np.inf:
        for v in range(V):
            inl[v] = False
        return False
    for v in range(V):
        inl[v] = best_err[v] < thr2
    return True


@njit(cache=True)
def robust_points(xy, w, R, t, f, thr, pairs_a, pairs_b):
    """xy (V, P, 2) normalised (NaN where w == 0), w (V, P) -> X (3, P), inliers (V, P), errors (V, P)."""
    V, P = w.shape
    X_out = np.full((3, P), np.nan)
    inl_out = np.zeros((V, P), np.bool_)
    err_out = np.full((V, P), np.nan)
    rows = np.zeros((V, 2, 4))
    mu = np.zeros((V, 9))
    xyp = np.zeros((V, 2))
    wv = np.zeros(V)
    obs = np.zeros(V, np.bool_)
    inl = np.zeros(V, np.bool_)
    err = np.zeros(V)
    best_err = np.zeros(V)
    tmp_w = np.zeros(V)
    tmp_x = np.zeros(3)
    X = np.zeros(3)
    Xk = np.zeros(3)
    mv = np.zeros((V, 9))
    total = np.zeros(9)
    m = np.zeros(9)
    w1 = np.zeros(V)
    loo_a = np.full(V, -1)
    loo_b = np.arange(V)
    for p in range(P):
        for v in range(V):
            wv[v] = w[v, p]
            obs[v] = wv[v] > 0
            x = xy[v, p, 0] if obs[v] else 0.0
            y = xy[v, p, 1] if obs[v] else 0.0
            if np.isnan(x) or np.isnan(y):
                x = y = 0.0
            xyp[v, 0], xyp[v, 1] = x, y
            for c in range(4):
                pc = R[v, 2, c] if c < 3 else t[v, 2]
                p0 = R[v, 0, c] if c < 3 else t[v, 0]
                p1 = R[v, 1, c] if c < 3 else t[v, 1]
                rows[v, 0, c] = x * pc - p0
                rows[v, 1, c] = y * pc - p1
            for i in range(9):
                c, d = _C[i], _D[i]
                mu[v, i] = rows[v, 0, c] * rows[v, 0, d] + rows[v, 1, c] * rows[v, 1, d]
        # 1. all views, reweighted by f / depth
        _solve_weighted(mu, wv, X)
        _refine(mu, wv, R, t, f, X, 2, tmp_w, tmp_x)
        finite = not np.isnan(X[0])
        _errors(R, t, f, xyp, X, err)
        n_obs = 0
        n_inl = 0
        for v in range(V):
            inl[v] = obs[v] and err[v] < thr * thr
            n_obs += obs[v]
            n_inl += inl[v]
        if finite and n_inl < n_obs:
            # 2. leave one view out (per-view normal entries with the confidence weights)
            for v in range(V):
                w2 = wv[v] * wv[v]
                for i in range(9):
                    mv[v, i] = w2 * mu[v, i]
            ok = _best(mv, loo_a, loo_b, obs, R, t, f, xyp, thr, inl, Xk, err, best_err, total, m)
            _fit_inliers(mu, wv, obs, R, t, f, xyp, inl, thr, X, tmp_w, tmp_x, err, w1)
            if not ok:
                for v in range(V):
                    inl[v] = False
            n_inl = 0
            for v in range(V):
                n_inl += inl[v]
            # 3. still two or more unexplained: every pair of views
            if n_inl < n_obs - 1:
                _best(mv, pairs_a, pairs_b, obs, R, t, f, xyp, thr, inl, Xk, err, best_err, total, m)
                _fit_inliers(mu, wv, obs, R, t, f, xyp, inl, thr, X, tmp_w, tmp_x, err, w1)
        good = not np.isnan(X[0])
        if good:
            _errors(R, t, f, xyp, X, err)
        for v in range(V):
            inl_out[v, p] = inl[v] and good
            err_out[v, p] = np.sqrt(err[v]) if (obs[v] and good) else np.nan
        X_out[0, p], X_out[1, p], X_out[2, p] = X[0], X[1], X[2]
    return X_out, inl_out, err_out
