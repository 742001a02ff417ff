"""Vectorised bundle adjustment: Levenberg-Marquardt on the Schur complement, robust loss.

Camera model: the one in ``aistpp.core.camera`` (OpenCV's pinhole with skew and 5/8/12/14
distortion coefficients; projections and analytic Jacobians come from there); ``X_cam = R X + t``.

Unknowns: each refined camera's rotation (a left update ``R <- exp([d]x) R``), translation
(cm) and a chosen subset of intrinsics (``f`` scales fx and fy together, keeping their
ratio; ``cx``, ``cy``; any distortion coefficient the rig carries by name, e.g. ``k1``, ``k2``),
and every 3D point (cm). Everything not refined (skew, and whatever is left out of
``intrinsics``) stays at its initial value. Observations behind a camera at the start get zero
weight (``BundleResult.behind`` counts them); a step that moves a weighted one behind is rejected.

One iteration: residuals and analytic Jacobians of all (view, point) observations at once
as (V, P, 2, .) arrays; iteratively reweighted robust loss (Huber or Cauchy, ``scale_px``);
Marquardt damping; the point blocks (3x3 per point) are eliminated, the small dense reduced
camera system (V*C unknowns) is solved, then the points are back-substituted. No Python
loop runs over points or observations.

The solution is defined up to a similarity transform (7 degrees of freedom); the damping
keeps the steps finite and the caller fixes the gauge afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from aistpp.core import camera
from aistpp.core.camera.pinhole import matmul_small as _mul
from aistpp.core.cameras import CameraRig, rodrigues, rotation_to_rodrigues
from aistpp.core.triangulation import reprojection_errors  # noqa: F401  (re-exported: calibrate reports with it)

INTRINSICS = ("f", "k1", "k2", "cx", "cy")
Loss = Literal["linear", "huber", "cauchy"]


@dataclass
class BundleResult:
    """rig: refined cameras; points3d (P, 3) cm; cost: robust cost after each accepted step;
    iterations: accepted LM steps; converged: the relative cost decrease fell below ``tol``
    (or no damped step could lower a finite cost); behind: weighted observations given zero
    weight because their point started behind (or at) the camera."""

    rig: CameraRig
    points3d: np.ndarray
    cost: list[float] = field(default_factory=list)
    iterations: int = 0
    converged: bool = False
    behind: int = 0


# ---- projection with Jacobians (the camera model's, in this solver's parametrisation) -----------------
def project_jacobians(rig: CameraRig, points3d: np.ndarray, intrinsics: tuple[str, ...] = ()):
    """Projections and their derivatives for every view and point.

    points3d (P, 3) cm. Returns ``uv`` (V, P, 2) px, ``jc`` (V, P, 2, 6 + len(intrinsics))
    (d uv / d [rotation update (3), translation (3), intrinsics...]), ``jp`` (V, P, 2, 3)
    (d uv / d point), ``depth`` (V, P) cm (camera z; <= 0 means behind the camera).
    """
    jac = camera.project_jacobians(rig.K, rig.dist, rig.R, rig.tvec, points3d)
    cols = [jac.rotation, jac.translation]
    ratio = (rig.K[:, 1, 1] / rig.K[:, 0, 0])[:, None, None]
    n = rig.dist.shape[1]
    for name in intrinsics:
        if name == "f":  # fx and fy scaled together
            cols.append(jac.intrinsics[..., 0:1] + ratio[..., None] * jac.intrinsics[..., 1:2])
        elif name in ("cx", "cy"):
            i = camera.INTRINSIC_NAMES.index(name)
            cols.append(jac.intrinsics[..., i:i + 1])
        elif name in camera.COEFFICIENT_NAMES[:n]:
            i = camera.COEFFICIENT_NAMES.index(name)
            cols.append(jac.distortion[..., i:i + 1])
        else:
            raise ValueError(f"unknown intrinsic {name!r}; choose from {('f', 'cx', 'cy') + camera.COEFFICIENT_NAMES[:n]}")
    return jac.uv, np.concatenate(cols, axis=-1), jac.point, jac.depth


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
        elif name in ("cx", "cy"):
            K[:, 0 if name == "cx" else 1, 2] += d
        else:
            dist[:, camera.COEFFICIENT_NAMES.index(name)] += d
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
    uv, depth = camera.project(rig.K, rig.dist, rig.R, rig.tvec, points3d)
    err = np.linalg.norm(uv - points2d, axis=-1)
    return np.where(depth > camera.MIN_DEPTH, err, np.inf)


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


@contextmanager
def one_blas_thread():
    """BLAS limited to one thread inside the block or decorated function (threadpoolctl; the
    previous limits come back after). The adjustment's linear
    algebra is many small batched solves: extra BLAS threads only contend, and on a loaded
    machine they made it up to 50x slower (``benchmarks/calibrate.py --blas-threads``)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@one_blas_thread()
def bundle_adjust(rig: CameraRig, points2d: np.ndarray, weights: np.ndarray, points3d: np.ndarray,
                  intrinsics: tuple[str, ...] = ("f", "k1", "k2"), loss: Loss = "huber", scale: float = 5.0,
                  fixed_views: np.ndarray | None = None, max_iterations: int = 50, tol: float = 1e-6,
                  lam: float = 1e-3) -> BundleResult:
    """Refine cameras and points to minimise the robust reprojection cost (one BLAS thread).

    rig: V initial cameras; points2d (V, P, 2) px (anything where ``weights`` is 0 is ignored,
    NaN included); weights (V, P) >= 0 per observation (0 = not observed or rejected);
    points3d (P, 3) cm initial points (each should have at least two weighted views);
    intrinsics: which of ``INTRINSICS`` to refine (``()`` = extrinsics only);
    loss/scale: robust loss and its scale in px; fixed_views (V,) bool: cameras kept as given.
    Stops when an accepted step lowers the cost by less than ``tol`` (relative; ``converged``),
    when no damped step lowers it (``converged``), or after ``max_iterations`` Jacobian
    evaluations (not converged). Observations whose initial point is behind the camera are
    ignored (``behind``); a non-finite initial cost stops at once, not converged.
    """
    points2d = np.nan_to_num(np.asarray(points2d, np.float64))
    weights = np.asarray(weights, np.float64)
    X = np.asarray(points3d, np.float64).copy()
    V = len(rig)
    if points2d.shape[:2] != weights.shape or points2d.shape != (V, len(X), 2):
        raise ValueError(f"points2d {points2d.shape}, weights {weights.shape}, points3d {X.shape} disagree")
    intrinsics = tuple(intrinsics)
    # an observation whose point starts behind its camera has no finite error: zero weight
    # (otherwise the cost is inf and no step can lower it)
    behind = (weights > 0) & ~(camera.project(rig.K, rig.dist, rig.R, rig.tvec, np.nan_to_num(X))[1] > camera.MIN_DEPTH)
    weights = np.where(behind, 0.0, weights)
    free = np.ones(V, bool) if fixed_views is None else ~np.asarray(fixed_views, bool)
    free &= (weights > 0).any(axis=1)
    cost = total_cost(rig, X, points2d, weights, loss, scale)
    result = BundleResult(rig, X, [cost], behind=int(behind.sum()))
    if not np.isfinite(cost):  # e.g. a weighted observation of a NaN point: nothing can be compared
        return result
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
        if not improved:  # even a heavily damped (gradient-like) step cannot lower the cost: a minimum
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
