"""The pinhole camera: world -> camera -> normalised -> distorted -> pixels, its inverse, and Jacobians.

Conventions (OpenCV's): ``X_cam = R X + t`` (cm), normalised ``(x, y) = X_cam[:2] / z``, pixels
``u = fx x'' + s y'' + cx``, ``v = fy y'' + cy`` with ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]``
and ``(x'', y'')`` the distorted normalised point (``distortion.py``). The skew ``s = K[0, 1]`` is
honoured both ways (OpenCV's ``projectPoints`` / ``undistortPoints`` ignore it; with s = 0 they agree).
The scalar cores (``camera_point``, ``to_pixel``, ``from_pixel``) are shared with ``compiled.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from aistpp.core.camera.distortion import COEFFICIENT_NAMES, _per_view, distort, distort_jacobians
from aistpp.core.camera.undistortion import undistort_normalised

#: Depths (cm) at or below this are "behind the camera".
MIN_DEPTH = 1e-6
INTRINSIC_NAMES = ("fx", "fy", "cx", "cy", "skew")


def matmul_small(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched a @ b for tiny matrices (..., m, k) @ (..., k, n): k broadcast multiply-adds
    (numpy's matmul calls BLAS once per tiny matrix, far slower here)."""
    out = a[..., :, 0, None] * b[..., 0, None, :]
    for i in range(1, a.shape[-1]):
        out = out + a[..., :, i, None] * b[..., i, None, :]
    return out


def _check_rt(R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    R, t = np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64)
    if R.ndim != 3 or R.shape[1:] != (3, 3) or t.shape != (len(R), 3):
        raise ValueError(f"R must be (V, 3, 3) and t (V, 3), got {R.shape} and {t.shape}")
    return R, t


# ---- scalar cores (numpy arrays or numba scalars) ------------------------------------------------
def camera_point(R, t, v, x0, x1, x2):
    """Camera coordinates of world point (x0, x1, x2) in view v: rows of ``R[v] X + t[v]``."""
    c0 = R[v, 0, 0] * x0 + R[v, 0, 1] * x1 + R[v, 0, 2] * x2 + t[v, 0]
    c1 = R[v, 1, 0] * x0 + R[v, 1, 1] * x1 + R[v, 1, 2] * x2 + t[v, 1]
    c2 = R[v, 2, 0] * x0 + R[v, 2, 1] * x1 + R[v, 2, 2] * x2 + t[v, 2]
    return c0, c1, c2


def to_pixel(x, y, fx, fy, cx, cy, s):
    """Distorted normalised (x, y) -> pixels (u, v)."""
    return fx * x + s * y + cx, fy * y + cy


def from_pixel(u, v, fx, fy, cx, cy, s):
    """Pixels (u, v) -> distorted normalised (x, y) (the inverse of ``to_pixel``)."""
    y = (v - cy) / fy
    return (u - cx - s * y) / fx, y


def _intrinsics(K: np.ndarray, ndim: int):
    Kv = _per_view(np.asarray(K, dtype=np.float64), ndim)  # (3, 3, V, 1, ...)
    return Kv[0, 0], Kv[1, 1], Kv[0, 2], Kv[1, 2], Kv[0, 1]


# ---- numpy API ---------------------------------------------------------------------------------
def world_to_camera(R: np.ndarray, t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Args: R (V, 3, 3), t (V, 3) cm, points (..., 3) cm (world).
    Returns: camera-frame points (V, ..., 3) cm."""
    R, t = _check_rt(R, t)
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[-1:] != (3,):
        raise ValueError(f"points must be (..., 3), got {pts.shape}")
    cam = np.einsum("vij,pj->vpi", R, pts.reshape(-1, 3)) + t[:, None, :]
    return cam.reshape(len(R), *pts.shape[:-1], 3)


def camera_coordinates(R: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Component-first variant of ``world_to_camera`` (for solvers that keep coordinates first).

    Args: R (V, 3, 3), t (V, 3) cm, X (3, ...) cm.
    Returns: (3, V, ...) cm.
    """
    R, t = _check_rt(R, t)
    nd = X.ndim - 1
    Rv = R.reshape(R.shape + (1,) * nd)
    tv = t.reshape(t.shape + (1,) * nd)
    return np.stack(camera_point(Rv, tv, slice(None), X[0][None], X[1][None], X[2][None]))


def safe_depth(z: np.ndarray) -> np.ndarray:
    """Depths usable as divisors: |z| <= 1e-9 replaced by 1e-9 (callers mask by depth)."""
    return np.where(np.abs(z) > 1e-9, z, 1e-9)


def apply_intrinsics(xy: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Args: xy (V, ..., 2) distorted normalised, K (V, 3, 3). Returns: pixels (V, ..., 2)."""
    u, v = to_pixel(xy[..., 0], xy[..., 1], *_intrinsics(K, xy.ndim - 1))
    return np.stack([u, v], axis=-1)


def remove_intrinsics(uv: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Args: uv (V, ..., 2) pixels, K (V, 3, 3). Returns: distorted normalised (V, ..., 2)."""
    x, y = from_pixel(uv[..., 0], uv[..., 1], *_intrinsics(K, uv.ndim - 1))
    return np.stack([x, y], axis=-1)


def project(K: np.ndarray, dist: np.ndarray, R: np.ndarray, t: np.ndarray,
            points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points into every view, distortion included.

    Args: K (V, 3, 3); dist (V, n); R (V, 3, 3); t (V, 3) cm; points (..., 3) cm.
    Returns: pixels (V, ..., 2) (finite also behind a camera: mask with the depth) and
      depth (V, ...) cm (camera z; <= ``MIN_DEPTH`` is behind the camera).
    """
    cam = world_to_camera(R, t, points)
    z = cam[..., 2]
    xy = cam[..., :2] / safe_depth(z)[..., None]
    return apply_intrinsics(distort(xy, dist), K), z


def undistort(K: np.ndarray, dist: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Pixels -> undistorted normalised coordinates (the inverse of ``project`` after the division
    by depth). Args: K (V, 3, 3), dist (V, n), pixels (V, ..., 2) (NaN kept).
    Returns: (V, ..., 2)."""
    pixels = np.asarray(pixels, dtype=np.float64)
    return undistort_normalised(remove_intrinsics(pixels, K), dist)


def normalised_projection(R: np.ndarray, t: np.ndarray, points: np.ndarray):
    """Undistorted normalised projection and its derivative w.r.t. the world point.

    Args: R (V, 3, 3), t (V, 3) cm, points (..., 3) cm.
    Returns: xy (V, ..., 2), depth (V, ...) cm, d xy / d point (V, ..., 2, 3) per cm.
    """
    cam = world_to_camera(R, t, points)
    z = cam[..., 2]
    zi = 1.0 / safe_depth(z)
    xy = cam[..., :2] * zi[..., None]
    Rb = R.reshape(len(R), *([1] * (cam.ndim - 2)), 3, 3)
    jac = (Rb[..., :2, :] - xy[..., None] * Rb[..., 2:3, :]) * zi[..., None, None]
    return xy, z, jac


class Jacobians(NamedTuple):
    """Projections of P points into V views and their derivatives (see ``project_jacobians``)."""

    uv: np.ndarray  # (V, P, 2) px
    depth: np.ndarray  # (V, P) cm
    point: np.ndarray  # (V, P, 2, 3) px / cm
    rotation: np.ndarray  # (V, P, 2, 3) px / rad, left update R <- exp([d]x) R
    translation: np.ndarray  # (V, P, 2, 3) px / cm
    intrinsics: np.ndarray  # (V, P, 2, 5) w.r.t. INTRINSIC_NAMES
    distortion: np.ndarray  # (V, P, 2, n) w.r.t. COEFFICIENT_NAMES[:n]
    distorted: np.ndarray  # (V, P, 2) distorted normalised coordinates


def project_jacobians(K: np.ndarray, dist: np.ndarray, R: np.ndarray, t: np.ndarray,
                      points: np.ndarray) -> Jacobians:
    """Projections and analytic derivatives for every view and point.

    Args: K (V, 3, 3); dist (V, n); R (V, 3, 3); t (V, 3) cm; points (P, 3) cm.
    Returns: ``Jacobians``. For the derivative w.r.t. a Rodrigues vector ``r`` use
      ``rotation @ rotation.left_jacobian(r)[:, None]``.
    """
    R, t = _check_rt(R, t)
    X = np.asarray(points, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 3:
        raise ValueError(f"points must be (P, 3), got {X.shape}")
    Xr = X[None] @ np.swapaxes(R, 1, 2)  # (V, P, 3) rotated, before translation
    Xc = Xr + t[:, None, :]
    z = Xc[..., 2]
    zs = safe_depth(z)
    xy = Xc[..., :2] / zs[..., None]
    dxy, dd, dk = distort_jacobians(xy, dist)
    fx, fy, cx, cy, s = _intrinsics(K, 2)
    u, v = to_pixel(dxy[..., 0], dxy[..., 1], fx, fy, cx, cy, s)
    Kj = np.zeros(z.shape + (2, 2))  # d uv / d distorted
    Kj[..., 0, 0], Kj[..., 0, 1], Kj[..., 1, 1] = fx, s, fy
    duv = matmul_small(Kj, dd)  # d uv / d (x, y)
    inv = 1.0 / zs
    A = np.empty(z.shape + (2, 3))  # d uv / d Xc: (x, y) = Xc[:2] / z
    A[..., :, 0] = duv[..., :, 0] * inv[..., None]
    A[..., :, 1] = duv[..., :, 1] * inv[..., None]
    A[..., :, 2] = -(duv[..., :, 0] * xy[..., 0, None] + duv[..., :, 1] * xy[..., 1, None]) * inv[..., None]
    ji = np.zeros(z.shape + (2, 5))
    ji[..., 0, 0], ji[..., 1, 1], ji[..., 0, 2], ji[..., 1, 3], ji[..., 0, 4] = dxy[..., 0], dxy[..., 1], 1.0, 1.0, dxy[..., 1]
    return Jacobians(np.stack([u, v], axis=-1), z, matmul_small(A, R[:, None]), np.cross(Xr[..., None, :], A), A,
                     ji, matmul_small(Kj, dk), dxy)


__all__ = ["COEFFICIENT_NAMES", "INTRINSIC_NAMES", "MIN_DEPTH", "Jacobians", "apply_intrinsics", "camera_coordinates",
           "camera_point", "from_pixel", "matmul_small", "normalised_projection", "project", "project_jacobians",
           "remove_intrinsics", "safe_depth", "to_pixel", "undistort", "world_to_camera"]
