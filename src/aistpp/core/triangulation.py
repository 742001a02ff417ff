"""Multi-view triangulation of 2D keypoints: confidence-weighted DLT and a robust variant.

Everything is vectorised over all frames and joints at once: a point is one (frame, joint),
the ``P = N * J`` points are processed in fixed-size chunks so memory stays flat.

Pixels are first undistorted to normalised image coordinates (``CameraRig.undistort``). For a
view with ``[R | t]`` and an observation ``(x, y)`` the two DLT rows are
``x * P[2] - P[0]`` and ``y * P[2] - P[1]`` (4-vectors); for a world point ``X`` their value
is ``z * (x - x_proj)``, the normalised reprojection error times the depth ``z``. The solver
solves the inhomogeneous 3x3 normal equations, then reweights each view by ``f / z`` so the
minimised error is (approximately) the reprojection error in pixels.

Robust variant (``triangulate_robust``): RANSAC over all pairs of views, scored by the
truncated squared reprojection error (MSAC), then a weighted refit on the inliers, twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from aistpp.core.cameras import CameraRig
from aistpp.errors import AistppError

#: Smallest accepted ratio of the smallest to the largest eigenvalue of the 3x3 normal matrix;
#: below it the rays are (nearly) parallel and the point is NaN (about 0.6 degrees).
MIN_CONDITION = 1e-4
CHUNK = 4096  # points per chunk in the robust solver (bounds its temporaries)


# ---- inputs -----------------------------------------------------------------------
def observation_weights(points2d: np.ndarray, confidence: np.ndarray | None, min_confidence: float) -> np.ndarray:
    """Per-observation weights (V, N, J): the confidence (1 without one), 0 where missing or below threshold."""
    pts = np.asarray(points2d, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[-1] != 2:
        raise AistppError(f"2D points must have shape (V, N, J, 2), found {pts.shape}")
    ok = np.all(np.isfinite(pts), axis=-1)
    if confidence is None:
        return ok.astype(np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.shape != pts.shape[:-1]:
        raise AistppError(f"confidences have shape {conf.shape}, expected {pts.shape[:-1]}")
    ok &= np.isfinite(conf) & (conf >= min_confidence)
    return np.where(ok, np.clip(np.nan_to_num(conf), 1e-3, None), 0.0)


def _check(rig: CameraRig, points2d: np.ndarray) -> None:
    if np.ndim(points2d) != 4 or np.shape(points2d)[0] != len(rig):
        raise AistppError(f"2D points must have shape (V={len(rig)}, N, J, 2), found {np.shape(points2d)}")


def dlt_rows(rig: CameraRig, xy: np.ndarray) -> np.ndarray:
    """DLT rows (V, P, 2, 4) from normalised undistorted points xy (V, P, 2) (NaN rows -> 0)."""
    Pm = rig.projection_matrices()  # (V, 3, 4)
    xy = np.nan_to_num(xy)
    rows = xy[..., None] * Pm[:, None, None, 2, :] - Pm[:, None, :2, :]
    return rows


def focal_px(rig: CameraRig) -> np.ndarray:
    """Mean focal length per view (V,) px: the scale from normalised to pixel errors."""
    return 0.5 * (rig.K[:, 0, 0] + rig.K[:, 1, 1])


# ---- weighted solve -----------------------------------------------------------------
def _solve(rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares of the DLT rows.

    rows (V, P, 2, 4), w (V, P) -> X (P, 3), NaN where fewer than two views have weight or
    the geometry is degenerate.
    """
    M = np.einsum("vp,vpki,vpkj->pij", w * w, rows, rows)  # (P, 4, 4)
    A, b = M[:, :3, :3], -M[:, :3, 3]
    ok = np.count_nonzero(w > 0, axis=0) >= 2
    eig = np.linalg.eigvalsh(A)  # ascending
    ok &= eig[:, 0] > MIN_CONDITION * np.maximum(eig[:, 2], 1e-300)
    A = np.where(ok[:, None, None], A, np.eye(3))
    X = np.linalg.solve(A, np.where(ok[:, None], b, 0.0)[..., None])[..., 0]
    X[~ok] = np.nan
    return X


def _depths(rig: CameraRig, X: np.ndarray) -> np.ndarray:
    """Depth of points X (..., 3) in every view -> (V, ...)."""
    return np.einsum("vj,...j->v...", rig.R[:, 2], X) + rig.tvec[:, 2].reshape(-1, *([1] * (X.ndim - 1)))


def _refine(rig: CameraRig, rows: np.ndarray, w: np.ndarray, X: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Reweight views by f / depth (pixel-like error) and re-solve, ``iterations`` times."""
    f = focal_px(rig)[:, None]
    for _ in range(iterations):
        z = _depths(rig, np.nan_to_num(X))  # (V, P)
        scale = np.where(z > 1e-6, f / np.where(z > 1e-6, z, 1.0), 0.0)
        Xn = _solve(rows, w * scale)
        X = np.where(np.isfinite(X), Xn, X)
    return X


def _errors_px(rig: CameraRig, rows: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Reprojection error (V, P) px (in undistorted coordinates, times the focal) of points X (P, 3).

    Also works for hypotheses X (K, P, 3) -> (K, V, P). Points behind a camera get inf.
    """
    Xh = np.concatenate([X, np.ones(X.shape[:-1] + (1,))], axis=-1)
    num = np.einsum("vpkc,...pc->...vpk", rows, Xh)
    z = _depths(rig, X)  # (V, ...P) for X (..., P, 3)
    if X.ndim == 3:
        z = np.moveaxis(z, 0, 1)  # (K, V, P)
    err = np.linalg.norm(num, axis=-1) / np.where(z > 1e-6, z, np.nan)
    err = err * focal_px(rig)[:, None]
    return np.where(z > 1e-6, err, np.inf)


# ---- public API -------------------------------------------------------------------------
def triangulate_dlt(rig: CameraRig, points2d: np.ndarray, confidence: np.ndarray | None = None,
                    min_confidence: float = 0.15) -> np.ndarray:
    """Confidence-weighted DLT of every frame and joint at once.

    rig: V cameras; points2d (V, N, J, 2) px (NaN = missing); confidence (V, N, J) or None
    (all ones). Observations with confidence below ``min_confidence`` are ignored.
    Returns (N, J, 3) cm, NaN where fewer than two views see a joint or the rays are
    (nearly) parallel. Not robust to outliers: see ``triangulate_robust``.
    """
    _check(rig, points2d)
    w = observation_weights(points2d, confidence, min_confidence)
    V, N, J = w.shape
    xy = rig.undistort(np.asarray(points2d, dtype=np.float64)).reshape(V, N * J, 2)
    w = w.reshape(V, N * J)
    out = np.empty((N * J, 3))
    for s in range(0, N * J, CHUNK * 4):
        sl = slice(s, s + CHUNK * 4)
        rows = dlt_rows(rig, xy[:, sl])
        out[sl] = _refine(rig, rows, w[:, sl], _solve(rows, w[:, sl]))
    return out.reshape(N, J, 3)


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


def _ransac_chunk(rig: CameraRig, rows: np.ndarray, w: np.ndarray, threshold_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust triangulation of one chunk: rows (V, P, 2, 4), w (V, P) -> X (P, 3), inliers (V, P), errors (V, P)."""
    V, P = w.shape
    obs = w > 0
    pairs = np.array(list(combinations(range(V), 2)))  # (K, 2)
    # Per-view 4x4 blocks, then every pair's normal equations at once.
    Mv = np.einsum("vp,vpki,vpkj->vpij", w * w, rows, rows)  # (V, P, 4, 4)
    M = Mv[pairs[:, 0]] + Mv[pairs[:, 1]]  # (K, P, 4, 4)
    A, b = M[..., :3, :3], -M[..., :3, 3]
    ok = obs[pairs[:, 0]] & obs[pairs[:, 1]]
    eig = np.linalg.eigvalsh(A)
    ok &= eig[..., 0] > MIN_CONDITION * np.maximum(eig[..., 2], 1e-300)
    A = np.where(ok[..., None, None], A, np.eye(3))
    Xk = np.linalg.solve(A, np.where(ok[..., None], b, 0.0)[..., None])[..., 0]  # (K, P, 3)
    err = _errors_px(rig, rows, Xk)  # (K, V, P)
    err = np.where(obs[None], err, np.inf)
    cost = np.where(obs[None], np.minimum(np.nan_to_num(err, nan=np.inf), threshold_px) ** 2, 0.0).sum(axis=1)
    cost = np.where(ok, cost, np.inf)  # (K, P)
    best = np.argmin(cost, axis=0)
    inl = np.take_along_axis(err, best[None, None, :], axis=0)[0] < threshold_px  # (V, P)
    inl &= np.isfinite(cost.min(axis=0))[None]
    X = np.full((P, 3), np.nan)
    for _ in range(2):
        wi = np.where(inl, w, 0.0)
        X = _refine(rig, rows, wi, _solve(rows, wi))
        e = _errors_px(rig, rows, np.nan_to_num(X))
        new = obs & (e < threshold_px) & np.isfinite(X[:, 0])[None]
        # never fall below two views where the hypothesis had two: keep the hypothesis' inliers then
        inl = np.where((new.sum(axis=0) >= 2)[None], new, inl)
    wi = np.where(inl, w, 0.0)
    X = _refine(rig, rows, wi, _solve(rows, wi))
    e = _errors_px(rig, rows, np.nan_to_num(X))
    e = np.where(obs & np.isfinite(X[:, 0])[None], e, np.nan)
    return X, inl & np.isfinite(X[:, 0])[None], e


def triangulate_robust(rig: CameraRig, points2d: np.ndarray, confidence: np.ndarray | None = None,
                       min_confidence: float = 0.15, threshold_px: float = 15.0) -> Triangulation:
    """Outlier-robust triangulation: views that disagree with the consensus are dropped.

    For every point, each pair of observing views proposes a 3D point; the proposal with the
    lowest truncated squared reprojection error over all views wins (MSAC), observations within
    ``threshold_px`` of it are inliers, and the point is re-solved by confidence-weighted DLT on
    the inliers (twice, updating the inlier set). points2d (V, N, J, 2) px, confidence (V, N, J).
    Returns a ``Triangulation`` (points3d (N, J, 3) cm, NaN where fewer than two views agree).
    """
    _check(rig, points2d)
    w = observation_weights(points2d, confidence, min_confidence)
    V, N, J = w.shape
    xy = rig.undistort(np.asarray(points2d, dtype=np.float64)).reshape(V, N * J, 2)
    w = w.reshape(V, N * J)
    X = np.full((N * J, 3), np.nan)
    inl = np.zeros((V, N * J), bool)
    err = np.full((V, N * J), np.nan)
    chunk = max(256, CHUNK * 9 // max(V, 1) // max(1, V - 1) * 4)
    for s in range(0, N * J, chunk):
        sl = slice(s, s + chunk)
        X[sl], inl[:, sl], err[:, sl] = _ransac_chunk(rig, dlt_rows(rig, xy[:, sl]), w[:, sl], threshold_px)
    return Triangulation(X.reshape(N, J, 3), (w > 0).reshape(V, N, J), inl.reshape(V, N, J), err.reshape(V, N, J))


def reprojection_errors(rig: CameraRig, points3d: np.ndarray, points2d: np.ndarray) -> np.ndarray:
    """Pixel distance (V, N, J) between projected points3d (N, J, 3) cm (distortion included)
    and observed points2d (V, N, J, 2) px; NaN where either is missing."""
    proj = rig.project(np.asarray(points3d, dtype=np.float64))
    return np.linalg.norm(proj - np.asarray(points2d, dtype=np.float64), axis=-1)
