"""Multi-view triangulation of 2D keypoints: confidence-weighted DLT and a robust variant.

Everything is vectorised over all frames and joints at once: a point is one (frame, joint),
the ``P = N * J`` points are processed in fixed-size chunks so memory stays flat.

Pixels are first undistorted to normalised image coordinates (``CameraRig.undistort``). For a
view with ``[R | t]`` and an observation ``(x, y)`` the two DLT rows are
``x * P[2] - P[0]`` and ``y * P[2] - P[1]`` (4-vectors); for a world point ``X`` their value
is ``z * (x - x_proj)``, the normalised reprojection error times the depth ``z``. The solver
solves the inhomogeneous 3x3 normal equations, then reweights each view by ``f / z`` so the
minimised error is (approximately) the reprojection error in pixels. Projection, distortion
and undistortion come from the one camera model (``aistpp.core.camera``).

Robust variant (``triangulate_robust``): where the all-view solution misses a view, hypotheses
from all-views-but-one, then (if needed) from every pair of views, scored by the truncated
squared reprojection error (MSAC), then a weighted refit on the inliers, twice. By default it
runs point by point in a numba kernel (``triangulation_kernel``); the vectorised numpy code
here is the reference it is tested against (``compiled=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import numpy as np

from aistpp.core import camera
from aistpp.core.camera import pinhole
from aistpp.core.cameras import CameraRig
from aistpp.errors import AistppError

#: Smallest accepted ratio of the smallest to the largest eigenvalue of the 3x3 normal matrix;
#: below it the rays are (nearly) parallel and the point is NaN (about 0.6 degrees).
MIN_CONDITION = 1e-4
CHUNK = 4096  # points per chunk in the robust solver (bounds its temporaries)


# ---- inputs -----------------------------------------------------------------------
def usable_observations(points2d: np.ndarray, confidence: np.ndarray | None, min_confidence: float) -> np.ndarray:
    """Which observations are usable (..., ) bool: points2d (..., 2) finite and, with a
    ``confidence`` (...), that finite and >= ``min_confidence``."""
    ok = np.all(np.isfinite(np.asarray(points2d, dtype=np.float64)), axis=-1)
    if confidence is not None:
        conf = np.asarray(confidence, dtype=np.float64)
        ok &= np.isfinite(conf) & (conf >= min_confidence)
    return ok


def observation_weights(points2d: np.ndarray, confidence: np.ndarray | None, min_confidence: float) -> np.ndarray:
    """Per-observation weights (V, N, J): the confidence (1 without one), 0 where missing or below
    threshold (``usable_observations``)."""
    pts = np.asarray(points2d, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[-1] != 2:
        raise AistppError(f"2D points must have shape (V, N, J, 2), found {pts.shape}")
    if confidence is not None and np.shape(confidence) != pts.shape[:-1]:
        raise AistppError(f"confidences have shape {np.shape(confidence)}, expected {pts.shape[:-1]}")
    ok = usable_observations(pts, confidence, min_confidence)
    if confidence is None:
        return ok.astype(np.float64)
    return np.where(ok, np.clip(np.nan_to_num(np.asarray(confidence, dtype=np.float64)), 1e-3, None), 0.0)


def _check(rig: CameraRig, points2d: np.ndarray) -> None:
    if np.ndim(points2d) != 4 or np.shape(points2d)[0] != len(rig):
        raise AistppError(f"2D points must have shape (V={len(rig)}, N, J, 2), found {np.shape(points2d)}")


def dlt_rows(rig: CameraRig, xy: np.ndarray) -> np.ndarray:
    """DLT rows, component first: (4, V, 2, P) from normalised points xy (V, P, 2) (NaN -> 0).

    ``rows[:, v, k, p]`` is the 4-vector ``xy[v, p, k] * P_v[2] - P_v[k]``.
    """
    Pm = rig.projection_matrices()  # (V, 3, 4)
    xy = np.moveaxis(np.nan_to_num(xy), -1, 1)  # (V, 2, P)
    return xy[None] * Pm.transpose(2, 0, 1)[:, :, 2:3, None] - Pm.transpose(2, 0, 1)[:, :, :2, None]


def focal_px(rig: CameraRig) -> np.ndarray:
    """Mean focal length per view (V,) px: the scale from normalised to pixel errors."""
    return 0.5 * (rig.K[:, 0, 0] + rig.K[:, 1, 1])


_PAIRS = ((0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3), (2, 2), (2, 3))


def _normal_per_view(rows: np.ndarray, w: np.ndarray) -> dict:
    """Per-view normal-equation entries {(c, d): (V, P)}: sum over the two rows of w^2 r_c r_d."""
    w2 = w * w
    return {(c, d): w2 * (rows[c, :, 0] * rows[d, :, 0] + rows[c, :, 1] * rows[d, :, 1]) for c, d in _PAIRS}


def cramer3(a00, a01, a02, a03, a11, a12, a13, a22, a23):
    """Closed-form (Cramer) solve of the symmetric 3x3 normal equations ``A X = -b`` with
    ``A = [[a00, a01, a02], [a01, a11, a12], [a02, a12, a22]]``, ``b = (a03, a13, a23)``:
    numpy arrays or (compiled, ``triangulation_kernel``) scalars.

    Returns ``det * X`` (three values), ``det`` and ``scale``: ``det / scale`` (determinant over
    trace times the sum of principal minors) ~ smallest / largest eigenvalue.
    """
    b0, b1, b2 = -a03, -a13, -a23
    c00 = a11 * a22 - a12 * a12
    c01 = a02 * a12 - a01 * a22
    c02 = a01 * a12 - a02 * a11
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    det = a00 * c00 + a01 * c01 + a02 * c02
    scale = (a00 + a11 + a22) * (c00 + c11 + c22)
    return (c00 * b0 + c01 * b1 + c02 * b2, c01 * b0 + c11 * b1 + c12 * b2, c02 * b0 + c12 * b1 + c22 * b2,
            det, scale)


def _solve_normal(m: dict, nviews: np.ndarray) -> np.ndarray:
    """Solve the 3x3 normal equations in closed form (Cramer). m: {(c, d): (...)} -> X (3, ...).

    NaN where ``nviews < 2`` or the system is ill-conditioned (rays nearly parallel).
    """
    x0, x1, x2, det, scale = cramer3(m[0, 0], m[0, 1], m[0, 2], m[0, 3], m[1, 1], m[1, 2], m[1, 3], m[2, 2], m[2, 3])
    ok = (nviews >= 2) & (det > MIN_CONDITION * scale) & (scale > 0)
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), np.nan)
    return np.stack([x0 * inv, x1 * inv, x2 * inv])


def _solve(rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares of the DLT rows (4, V, 2, P) with weights w (V, P) -> X (3, P)."""
    m = {cd: v.sum(axis=0) for cd, v in _normal_per_view(rows, w).items()}
    return _solve_normal(m, np.count_nonzero(w > 0, axis=0))


def _refine(rig: CameraRig, rows: np.ndarray, w: np.ndarray, X: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Reweight views by f / depth (pixel-like error) and re-solve, ``iterations`` times. X (3, P)."""
    f = focal_px(rig)[:, None]
    for _ in range(iterations):
        z = pinhole.camera_coordinates(rig.R, rig.tvec, np.nan_to_num(X))[2]
        scale = np.where(z > 1e-6, f / np.where(z > 1e-6, z, 1.0), 0.0)
        Xn = _solve(rows, w * scale)
        X = np.where(np.isfinite(X[0]), Xn, X)
    return X


def _errors_px(rig: CameraRig, xy: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Reprojection errors (V, ...) px (undistorted, times the focal) of points X (3, ...) against
    normalised observations xy (2, V, P) (broadcast over leading hypothesis axes); inf behind a camera."""
    cam = pinhole.camera_coordinates(rig.R, rig.tvec, X)  # (3, V, ...)
    z = cam[2]
    front = z > 1e-6
    zs = np.where(front, z, 1.0)
    if X.ndim == 3:  # hypotheses (3, K, P): move V first
        xy = xy[:, :, None]
    d = np.hypot(cam[0] / zs - xy[0], cam[1] / zs - xy[1])
    f = focal_px(rig).reshape((-1,) + (1,) * (d.ndim - 1))
    return np.where(front, d * f, np.inf)


def undistort(rig: CameraRig, points2d: np.ndarray, compiled: bool = True) -> np.ndarray:
    """Pixels (V, ..., 2) -> normalised undistorted coordinates, NaN kept: the camera model's
    compiled kernel, or its numpy version (``CameraRig.undistort``) when not ``compiled``."""
    pts = np.asarray(points2d, dtype=np.float64)
    if not compiled:
        return rig.undistort(pts)
    from aistpp.core.camera.compiled import undistort_points

    V = pts.shape[0]
    return undistort_points(pts.reshape(V, -1, 2), rig.K, rig.dist).reshape(pts.shape)


def _prepare(rig, points2d, confidence, min_confidence, compiled: bool = True):
    """Weights (V, P) and undistorted normalised points (V, P, 2); ``compiled``: undistort with
    the camera model's compiled kernel instead of its numpy version."""
    _check(rig, points2d)
    w = observation_weights(points2d, confidence, min_confidence)
    V, N, J = w.shape
    xy = undistort(rig, points2d, compiled).reshape(V, N * J, 2)
    return w.reshape(V, N * J), xy, (V, N, J)


# ---- public API -------------------------------------------------------------------------
def triangulate_dlt(rig: CameraRig, points2d: np.ndarray, confidence: np.ndarray | None = None,
                    min_confidence: float = 0.15) -> np.ndarray:
    """Confidence-weighted DLT of every frame and joint at once.

    rig: V cameras; points2d (V, N, J, 2) px (NaN = missing); confidence (V, N, J) or None
    (all ones). Observations with confidence below ``min_confidence`` are ignored.
    Returns (N, J, 3) cm, NaN where fewer than two views see a joint or the rays are
    (nearly) parallel. Not robust to outliers: see ``triangulate_robust``.
    """
    w, xy, (V, N, J) = _prepare(rig, points2d, confidence, min_confidence)
    out = np.empty((3, N * J))
    for s in range(0, N * J, CHUNK * 4):
        sl = slice(s, s + CHUNK * 4)
        rows = dlt_rows(rig, xy[:, sl])
        out[:, sl] = _refine(rig, rows, w[:, sl], _solve(rows, w[:, sl]))
    return out.T.reshape(N, J, 3)


@dataclass
class Triangulation:
    """Result of ``triangulate_robust``.

    points3d (N, J, 3) cm (NaN where fewer than two views agree); observed (V, N, J) bool
    (usable detections); inliers (V, N, J) bool (observations kept); errors (V, N, J) px
    (reprojection error of every observation against points3d, NaN where unobserved).
    """

    points3d: np.ndarray
    observed: np.ndarray
    inliers: np.ndarray
    errors: np.ndarray

    @property
    def outlier_fraction(self) -> float:
        n = int(self.observed.sum())
        return float((self.observed & ~self.inliers).sum() / n) if n else 0.0

    @property
    def outliers_per_view(self) -> np.ndarray:
        """(V,) number of rejected observations per view."""
        return (self.observed & ~self.inliers).sum(axis=(1, 2))


def _best_hypothesis(rig: CameraRig, xyT: np.ndarray, obs: np.ndarray, m: dict, nviews: np.ndarray,
                     threshold_px: float) -> np.ndarray:
    """Inlier mask (V, P) of the best of K hypotheses per point (MSAC: lowest truncated squared error).

    m: normal-equation entries {(c, d): (K, P)} of each hypothesis; nviews (K, P) views it uses.
    """
    Xk = _solve_normal(m, nviews)  # (3, K, P)
    err = np.moveaxis(_errors_px(rig, xyT, np.nan_to_num(Xk, nan=0.0)), 0, 1)  # (K, V, P)
    err = np.where(obs[None], err, np.inf)
    cost = np.where(obs[None], np.minimum(err, threshold_px) ** 2, 0.0).sum(axis=1)
    cost = np.where(np.isfinite(Xk[0]), cost, np.inf)  # (K, P)
    best = np.argmin(cost, axis=0)
    inl = np.take_along_axis(err, best[None, None, :], axis=0)[0] < threshold_px  # (V, P)
    return inl & np.isfinite(cost.min(axis=0))[None]


def _fit_inliers(rig: CameraRig, rows: np.ndarray, xyT: np.ndarray, w: np.ndarray, inl: np.ndarray,
                 threshold_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Refit on the inliers, update them from the refit (keeping at least two views), refit again."""
    obs = w > 0
    X = _refine(rig, rows, np.where(inl, w, 0.0), _solve(rows, np.where(inl, w, 0.0)), iterations=1)
    new = obs & (_errors_px(rig, xyT, np.nan_to_num(X)) < threshold_px) & np.isfinite(X[0])
    inl = np.where((new.sum(axis=0) >= 2)[None], new, inl)
    X = _refine(rig, rows, np.where(inl, w, 0.0), _solve(rows, np.where(inl, w, 0.0)))
    return X, inl


def _irls_chunk(rig: CameraRig, xy: np.ndarray, w: np.ndarray, threshold_px: float,
                iterations: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iteratively reweighted DLT (Cauchy weights, scale threshold / 3) from the all-view solution."""
    rows = dlt_rows(rig, xy)
    xyT = np.moveaxis(np.nan_to_num(xy), -1, 0)
    obs = w > 0
    X = _refine(rig, rows, w, _solve(rows, w))
    c = threshold_px / 3.0
    for _ in range(iterations):
        err = _errors_px(rig, xyT, np.nan_to_num(X))
        X = _refine(rig, rows, w / (1.0 + (err / c) ** 2), X, iterations=1)
    good = np.isfinite(X[0])
    err = np.where(obs & good[None], _errors_px(rig, xyT, np.nan_to_num(X)), np.nan)
    return X, obs & (err < threshold_px), err


def _robust_chunk(rig: CameraRig, xy: np.ndarray, w: np.ndarray, threshold_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chunk: xy (V, P, 2), w (V, P) -> X (3, P), inliers (V, P), errors (V, P) px."""
    rows = dlt_rows(rig, xy)
    xyT = np.moveaxis(np.nan_to_num(xy), -1, 0)  # (2, V, P)
    obs = w > 0
    # 1. all views; points whose every observation fits are done.
    X = _refine(rig, rows, w, _solve(rows, w))
    err = _errors_px(rig, xyT, np.nan_to_num(X))
    inl = obs & (err < threshold_px)
    bad = np.isfinite(X[0]) & (inl.sum(axis=0) < obs.sum(axis=0))
    # 2. the others, leave one view out: resolves points with a single outlier.
    if bad.any():
        idx = np.flatnonzero(bad)
        r, wb, xb, ob = rows[..., idx], w[:, idx], xyT[..., idx], obs[:, idx]
        mv = _normal_per_view(r, wb)
        m = {cd: v.sum(axis=0)[None] - v for cd, v in mv.items()}  # (V, P): all views but one
        ib = _best_hypothesis(rig, xb, ob, m, ob.sum(axis=0)[None] - ob, threshold_px)
        Xb, ib = _fit_inliers(rig, r, xb, wb, ib, threshold_px)
        X[:, idx], inl[:, idx] = Xb, ib
        # 3. still two or more outliers: RANSAC over view pairs.
        hard = ib.sum(axis=0) < ob.sum(axis=0) - 1
        if hard.any():
            idx, r, wb, xb, ob = idx[hard], r[..., hard], wb[:, hard], xb[..., hard], ob[:, hard]
            pairs = np.array(list(combinations(range(len(rig)), 2)))  # (K, 2)
            mv = {cd: v[:, hard] for cd, v in mv.items()}
            m = {cd: v[pairs[:, 0]] + v[pairs[:, 1]] for cd, v in mv.items()}  # (K, P)
            ib = _best_hypothesis(rig, xb, ob, m, ob[pairs[:, 0]].astype(int) + ob[pairs[:, 1]], threshold_px)
            X[:, idx], inl[:, idx] = _fit_inliers(rig, r, xb, wb, ib, threshold_px)
    good = np.isfinite(X[0])
    err = np.where(obs & good[None], _errors_px(rig, xyT, np.nan_to_num(X)), np.nan)
    return X, inl & good[None], err


def triangulate_robust(rig: CameraRig, points2d: np.ndarray, confidence: np.ndarray | None = None,
                       min_confidence: float = 0.15, threshold_px: float = 15.0,
                       method: Literal["ransac", "irls"] = "ransac", compiled: bool = True) -> Triangulation:
    """Outlier-robust triangulation: views that disagree with the consensus are dropped.

    Each point is first solved from all its views; when some view misses the result by more
    than ``threshold_px``, hypotheses compete: first "all views but one" (one per view), and
    where that leaves two or more views unexplained, every pair of observing views. The
    hypothesis with the lowest truncated squared reprojection error over all views wins
    (MSAC), observations within ``threshold_px`` of it are the inliers, and the point is
    re-solved by confidence-weighted DLT on them (twice, updating the inliers).
    ``method="irls"`` instead reweights all views (Cauchy) from the all-view solution; it is
    faster but a swap in two or more views can hold the start point (see benchmarks/triangulate.py).
    ``compiled``: run ``ransac`` point by point in the numba kernel
    (``triangulation_kernel``, the same algorithm, about 3x faster); False runs the vectorised
    numpy version (the reference the kernel is tested against).
    points2d (V, N, J, 2) px, confidence (V, N, J) or None.
    Returns a ``Triangulation`` (points3d (N, J, 3) cm, NaN where fewer than two views agree).
    """
    w, xy, (V, N, J) = _prepare(rig, points2d, confidence, min_confidence, compiled)
    if method == "ransac" and compiled:
        from aistpp.core.triangulation_kernel import robust_points

        pairs = np.array(list(combinations(range(V), 2)), dtype=np.int64).reshape(-1, 2)
        X, inl, err = robust_points(np.ascontiguousarray(xy), np.ascontiguousarray(w), np.ascontiguousarray(rig.R),
                                    np.ascontiguousarray(rig.tvec), focal_px(rig).astype(np.float64), float(threshold_px),
                                    np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1]))
        return Triangulation(X.T.reshape(N, J, 3), (w > 0).reshape(V, N, J), inl.reshape(V, N, J),
                             err.reshape(V, N, J))
    X = np.full((3, N * J), np.nan)
    inl = np.zeros((V, N * J), bool)
    err = np.full((V, N * J), np.nan)
    solver = {"ransac": _robust_chunk, "irls": _irls_chunk}[method]
    for s in range(0, N * J, CHUNK):
        sl = slice(s, s + CHUNK)
        X[:, sl], inl[:, sl], err[:, sl] = solver(rig, xy[:, sl], w[:, sl], threshold_px)
    return Triangulation(X.T.reshape(N, J, 3), (w > 0).reshape(V, N, J), inl.reshape(V, N, J), err.reshape(V, N, J))


def reprojection_errors(rig: CameraRig, points3d: np.ndarray, points2d: np.ndarray) -> np.ndarray:
    """Pixel distance (V, ...) between projected points3d (..., 3) cm (distortion included) and
    observed points2d (V, ..., 2) px; NaN where either is missing or the point is behind the camera."""
    points3d = np.asarray(points3d, np.float64)
    uv, depth = camera.project(rig.K, rig.dist, rig.R, rig.tvec, np.nan_to_num(points3d))
    err = np.linalg.norm(uv - np.asarray(points2d, np.float64), axis=-1)
    bad = ~np.isfinite(points3d).all(axis=-1)[None] | (depth <= camera.MIN_DEPTH)
    return np.where(bad, np.nan, err)
