"""Vectorised bundle adjustment: Levenberg-Marquardt on the Schur complement, robust loss.

Camera model: OpenCV's / aniposelib's (``CameraRig``): intrinsics ``K`` (fx, fy, cx, cy, skew),
distortion (k1, k2, p1, p2, k3), rotation, translation; ``X_cam = R X + t``.

Unknowns: each refined camera's rotation (a left update ``R <- exp([d]x) R``), translation
(cm) and a chosen subset of intrinsics (``f`` scales fx and fy together, keeping their
ratio; ``k1``, ``k2``; ``cx``, ``cy``), and every 3D point (cm). Everything not refined
(p1, p2, k3, skew, and whatever is left out of ``intrinsics``) stays at its initial value.

One iteration: residuals and analytic Jacobians of all (view, point) observations at once
as (V, P, 2, .) arrays; iteratively reweighted robust loss (Huber or Cauchy, ``scale_px``);
Marquardt damping; the point blocks (3x3 per point) are eliminated, the small dense reduced
camera system (V*C unknowns) is solved, then the points are back-substituted. No Python
loop runs over points or observations.

The solution is defined up to a similarity transform (7 degrees of freedom); the damping
keeps the steps finite and the caller fixes the gauge afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from aistpp.core.cameras import CameraRig, rodrigues, rotation_to_rodrigues

INTRINSICS = ("f", "k1", "k2", "cx", "cy")
Loss = Literal["linear", "huber", "cauchy"]


@dataclass
class BundleResult:
    """rig: refined cameras; points3d (P, 3) cm; cost: robust cost after each accepted step;
    iterations: accepted LM steps; converged: the relative cost decrease fell below ``tol``."""

    rig: CameraRig
    points3d: np.ndarray
    cost: list[float] = field(default_factory=list)
    iterations: int = 0
    converged: bool = False


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched a @ b for tiny matrices (..., m, k) @ (..., k, n): k broadcast multiply-adds
    (numpy's matmul calls BLAS once per tiny matrix, far slower here)."""
    out = a[..., :, 0, None] * b[..., 0, None, :]
    for i in range(1, a.shape[-1]):
        out = out + a[..., :, i, None] * b[..., i, None, :]
    return out


# ---- projection with Jacobians -----------------------------------------------------------
def _distortion(x: np.ndarray, y: np.ndarray, dist: np.ndarray):
    """x, y (V, ...) normalised; dist (V, 5) -> xd, yd (V, ...) and d(xd, yd)/d(x, y) (V, ..., 2, 2)."""
    k1, k2, p1, p2, k3 = (dist[:, i].reshape((-1,) + (1,) * (x.ndim - 1)) for i in range(5))
    r2 = x * x + y * y
    rad = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    drad = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d rad / d r2
    xd = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    j = np.empty(x.shape + (2, 2))
    j[..., 0, 0] = rad + 2 * x * x * drad + 2 * p1 * y + 6 * p2 * x
    j[..., 0, 1] = 2 * x * y * drad + 2 * p1 * x + 2 * p2 * y
    j[..., 1, 0] = j[..., 0, 1]
    j[..., 1, 1] = rad + 2 * y * y * drad + 6 * p1 * y + 2 * p2 * x
    return xd, yd, r2, j


def project_jacobians(rig: CameraRig, points3d: np.ndarray, intrinsics: tuple[str, ...] = ()):
    """Projections and their derivatives for every view and point.

    points3d (P, 3) cm. Returns ``uv`` (V, P, 2) px, ``jc`` (V, P, 2, 6 + len(intrinsics))
    (d uv / d [rotation update (3), translation (3), intrinsics...]), ``jp`` (V, P, 2, 3)
    (d uv / d point), ``depth`` (V, P) cm (camera z; <= 0 means behind the camera).
    """
    X = np.asarray(points3d, np.float64)
    Xr = X[None] @ np.swapaxes(rig.R, 1, 2)  # (V, P, 3) rotated, before translation
    Xc = Xr + rig.tvec[:, None, :]
    z = Xc[..., 2]
    zs = np.where(np.abs(z) > 1e-9, z, 1e-9)
    x, y = Xc[..., 0] / zs, Xc[..., 1] / zs
    xd, yd, r2, dd = _distortion(x, y, rig.dist)
    fx, fy, skew = rig.K[:, 0, 0, None], rig.K[:, 1, 1, None], rig.K[:, 0, 1, None]
    uv = np.stack([fx * xd + skew * yd + rig.K[:, 0, 2, None], fy * yd + rig.K[:, 1, 2, None]], axis=-1)
    # d uv / d (xd, yd) @ d (xd, yd) / d (x, y)
    duv = np.empty_like(dd)
    duv[..., 0, :] = fx[..., None] * dd[..., 0, :] + skew[..., None] * dd[..., 1, :]
    duv[..., 1, :] = fy[..., None] * dd[..., 1, :]
    # d (x, y) / d Xc = [[1/z, 0, -x/z], [0, 1/z, -y/z]]
    inv = 1.0 / zs
    A = np.empty(x.shape + (2, 3))  # d uv / d Xc
    A[..., :, 0] = duv[..., :, 0] * inv[..., None]
    A[..., :, 1] = duv[..., :, 1] * inv[..., None]
    A[..., :, 2] = -(duv[..., :, 0] * x[..., None] + duv[..., :, 1] * y[..., None]) * inv[..., None]
    jp = _mul(A, rig.R[:, None])
    cols = [np.cross(Xr[..., None, :], A), A]  # rotation update: d Xc = d x Xr -> row g: Xr x g
    ratio = (fy / fx)[..., None]
    for name in intrinsics:
        c = np.zeros(x.shape + (2, 1))
        if name == "f":
            c[..., 0, 0], c[..., 1, 0] = xd, ratio[..., 0] * yd
        elif name in ("k1", "k2"):
            p = r2 if name == "k1" else r2 * r2
            c[..., 0, 0], c[..., 1, 0] = (fx * x + skew * y) * p, fy * y * p
        elif name == "cx":
            c[..., 0, 0] = 1.0
        elif name == "cy":
            c[..., 1, 0] = 1.0
        else:
            raise ValueError(f"unknown intrinsic {name!r}; choose from {INTRINSICS}")
        cols.append(c)
    return uv, np.concatenate(cols, axis=-1), jp, z


def update_rig(rig: CameraRig, delta: np.ndarray, intrinsics: tuple[str, ...]) -> CameraRig:
    """Apply camera updates delta (V, 6 + len(intrinsics)) (see ``project_jacobians``)."""
    R = rodrigues(delta[:, :3]) @ rig.R
    K, dist = rig.K.copy(), rig.dist.copy()
    for i, name in enumerate(intrinsics):
        d = delta[:, 6 + i]
        if name == "f":
            scale = (K[:, 0, 0] + d) / K[:, 0, 0]
            K[:, 0, 0] *= scale
            K[:, 1, 1] *= scale
        elif name in ("k1", "k2"):
            dist[:, INTRINSICS.index(name) - 1] += d
        else:
            K[:, 0 if name == "cx" else 1, 2] += d
    return CameraRig(rig.names, rig.sizes, K, dist, rotation_to_rodrigues(R), rig.tvec + delta[:, 3:6])


# ---- robust loss ----------------------------------------------------------------------------
def robust_cost(err: np.ndarray, loss: Loss, scale: float) -> np.ndarray:
    """rho(e) for pixel errors e (any shape): e^2 (linear), Huber, or Cauchy with ``scale`` px."""
    if loss == "linear":
        return err * err
    if loss == "huber":
        return np.where(err <= scale, err * err, 2 * scale * err - scale * scale)
    return scale * scale * np.log1p((err / scale) ** 2)


def robust_weight(err: np.ndarray, loss: Loss, scale: float) -> np.ndarray:
    """IRLS weight rho'(e^2) for pixel errors e (any shape)."""
    if loss == "linear":
        return np.ones_like(err)
    if loss == "huber":
        return np.where(err <= scale, 1.0, scale / np.maximum(err, 1e-12))
    return 1.0 / (1.0 + (err / scale) ** 2)


def _errors(rig: CameraRig, points3d: np.ndarray, points2d: np.ndarray) -> np.ndarray:
    """Pixel errors (V, P); inf for a point behind (or at) a camera."""
    uv, depth = _project(rig, points3d)
    err = np.linalg.norm(uv - points2d, axis=-1)
    return np.where(depth > 1e-6, err, np.inf)


def _project(rig: CameraRig, points3d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """points3d (..., 3) cm -> pixels (V, ..., 2) (distortion included), depth (V, ...) cm."""
    Xc = rig.world_to_camera(points3d)
    z = Xc[..., 2]
    zs = np.where(np.abs(z) > 1e-9, z, 1e-9)
    xd, yd, _, _ = _distortion(Xc[..., 0] / zs, Xc[..., 1] / zs, rig.dist)
    K = rig.K.reshape((len(rig),) + (1,) * (z.ndim - 1) + (3, 3))
    u = K[..., 0, 0] * xd + K[..., 0, 1] * yd + K[..., 0, 2]
    v = K[..., 1, 1] * yd + K[..., 1, 2]
    return np.stack([u, v], axis=-1), z


def total_cost(rig: CameraRig, points3d: np.ndarray, points2d: np.ndarray, weights: np.ndarray,
               loss: Loss = "huber", scale: float = 5.0) -> float:
    """sum of weights * rho(reprojection error) over observations with weight > 0."""
    err = _errors(rig, points3d, points2d)
    w = weights > 0
    if np.any(~np.isfinite(err[w])):
        return np.inf
    return float(np.sum(np.where(w, weights * robust_cost(np.where(w, err, 0.0), loss, scale), 0.0)))


# ---- the solver -------------------------------------------------------------------------------
def _normal_equations(rig, points3d, points2d, weights, intrinsics, loss, scale):
    """Gauss-Newton blocks: U (V, C, C), W (V, P, C, 3), Vp (P, 3, 3), gc (V, C), gp (P, 3)."""
    uv, jc, jp, _ = project_jacobians(rig, points3d, intrinsics)
    r = np.where(weights[..., None] > 0, uv - points2d, 0.0)  # (V, P, 2)
    err = np.linalg.norm(r, axis=-1)
    w = weights * robust_weight(err, loss, scale)  # (V, P)
    V, P, _, C = jc.shape
    wjcT = np.swapaxes(w[..., None, None] * jc, -1, -2)  # (V, P, C, 2)
    wjpT = np.swapaxes(w[..., None, None] * jp, -1, -2)  # (V, P, 3, 2)
    U = np.swapaxes(wjcT, 1, 2).reshape(V, C, P * 2) @ jc.reshape(V, P * 2, C)
    W = _mul(wjcT, jp)  # (V, P, C, 3)
    Vp = _mul(wjpT, jp).sum(axis=0)  # (P, 3, 3)
    gc = -np.einsum("vpck,vpk->vc", wjcT, r)
    gp = -_mul(wjpT, r[..., None])[..., 0].sum(axis=0)
    return U, W, Vp, gc, gp


def _solve_step(U, W, Vp, gc, gp, lam: float, free: np.ndarray):
    """Damped Schur-complement solve -> camera step (V, C) (0 for fixed views), point step (P, 3)."""
    V, C = gc.shape
    eye3 = np.eye(3)
    Vd = Vp + lam * Vp * eye3 + 1e-9 * eye3
    Vinv = np.linalg.inv(Vd)  # (P, 3, 3)
    P = len(Vp)
    Y = _mul(W, Vinv[None])  # (V, P, C, 3): W V^-1
    S = -np.tensordot(Y, W, axes=([1, 3], [1, 3])).reshape(V * C, V * C)
    diag = np.einsum("vii->vi", U)
    Ud = U + (lam * diag + 1e-9 * (diag.mean(axis=0) + 1e-12))[..., None] * np.eye(C)
    blocks = np.arange(V)
    S = S.reshape(V, C, V, C)
    S[blocks, :, blocks, :] += Ud
    S = S.reshape(V * C, V * C)
    rhs = (gc - np.tensordot(Y, gp, axes=([1, 3], [0, 1]))).reshape(-1)
    keep = np.repeat(free, C)
    dc = np.zeros(V * C)
    if keep.any():
        Sk = S[np.ix_(keep, keep)]
        try:
            dc[keep] = np.linalg.solve(Sk, rhs[keep])
        except np.linalg.LinAlgError:
            dc[keep] = np.linalg.lstsq(Sk, rhs[keep], rcond=None)[0]
    dc = dc.reshape(V, C)
    Wtdc = np.einsum("vpci,vc->pi", W, dc)  # (P, 3)
    dp = _mul(Vinv, (gp - Wtdc)[..., None])[..., 0]
    return dc, dp


def bundle_adjust(rig: CameraRig, points2d: np.ndarray, weights: np.ndarray, points3d: np.ndarray,
                  intrinsics: tuple[str, ...] = ("f", "k1", "k2"), loss: Loss = "huber", scale: float = 5.0,
                  fixed_views: np.ndarray | None = None, max_iterations: int = 50, tol: float = 1e-6,
                  lam: float = 1e-3) -> BundleResult:
    """Refine cameras and points to minimise the robust reprojection cost.

    rig: V initial cameras; points2d (V, P, 2) px (anything where ``weights`` is 0 is ignored,
    NaN included); weights (V, P) >= 0 per observation (0 = not observed or rejected);
    points3d (P, 3) cm initial points (each should have at least two weighted views);
    intrinsics: which of ``INTRINSICS`` to refine (``()`` = extrinsics only);
    loss/scale: robust loss and its scale in px; fixed_views (V,) bool: cameras kept as given.
    Stops when an accepted step lowers the cost by less than ``tol`` (relative) or after
    ``max_iterations`` Jacobian evaluations.
    """
    points2d = np.nan_to_num(np.asarray(points2d, np.float64))
    weights = np.asarray(weights, np.float64)
    X = np.asarray(points3d, np.float64).copy()
    V = len(rig)
    if points2d.shape[:2] != weights.shape or points2d.shape != (V, len(X), 2):
        raise ValueError(f"points2d {points2d.shape}, weights {weights.shape}, points3d {X.shape} disagree")
    intrinsics = tuple(intrinsics)
    free = np.ones(V, bool) if fixed_views is None else ~np.asarray(fixed_views, bool)
    free &= (weights > 0).any(axis=1)
    cost = total_cost(rig, X, points2d, weights, loss, scale)
    result = BundleResult(rig, X, [cost])
    for _ in range(max_iterations):
        blocks = _normal_equations(rig, X, points2d, weights, intrinsics, loss, scale)
        improved = False
        for _attempt in range(10):
            dc, dp = _solve_step(*blocks, lam, free)
            try:
                new_rig = update_rig(rig, dc, intrinsics)
            except Exception:  # a step so wild it breaks the camera (e.g. singular K): shrink it
                lam *= 10
                continue
            new_X = X + dp
            new_cost = total_cost(new_rig, new_X, points2d, weights, loss, scale)
            if new_cost < cost:
                improved = True
                break
            lam *= 10
        if not improved:
            result.converged = True
            break
        rel = (cost - new_cost) / max(cost, 1e-300)
        rig, X, cost = new_rig, new_X, new_cost
        lam = max(lam / 5, 1e-9)
        result.cost.append(cost)
        result.iterations += 1
        if rel < tol:
            result.converged = True
            break
    result.rig, result.points3d = rig, X
    return result


def reprojection_errors(rig: CameraRig, points3d: np.ndarray, points2d: np.ndarray) -> np.ndarray:
    """Pixel errors (V, ...) of points3d (..., 3) cm against points2d (V, ..., 2) px (NaN where either
    is missing or the point is behind the camera)."""
    uv, depth = _project(rig, np.nan_to_num(np.asarray(points3d, np.float64)))
    err = np.linalg.norm(uv - np.asarray(points2d, np.float64), axis=-1)
    bad = ~np.isfinite(np.asarray(points3d)).all(axis=-1)[None] | (depth <= 1e-6)
    return np.where(bad, np.nan, err)
