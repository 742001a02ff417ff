"""The camera model compiled with numba: the scalar cores of ``distortion``, ``undistort`` and
``pinhole`` compiled as they are (one source), plus point-by-point kernels built from them.

``tests/test_camera_model.py`` checks these against the numpy functions. ``cache=True`` keeps
the compiled code on disk so worker processes do not compile it again.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from aistpp.core.camera import distortion, pinhole, undistortion

camera_point = njit(cache=True, inline="always")(pinhole.camera_point)
to_pixel = njit(cache=True, inline="always")(pinhole.to_pixel)
from_pixel = njit(cache=True, inline="always")(pinhole.from_pixel)
distort_core = njit(cache=True, inline="always")(distortion.distort_core)
tilt_core = njit(cache=True, inline="always")(distortion.tilt_core)
undistort_step = njit(cache=True, inline="always")(undistortion.undistort_step)


@njit(cache=True, inline="always")
def _row(d, v):
    """Coefficients of view v as a tuple of 14 scalars (kept in registers, unlike an array row)."""
    return (d[v, 0], d[v, 1], d[v, 2], d[v, 3], d[v, 4], d[v, 5], d[v, 6], d[v, 7], d[v, 8], d[v, 9], d[v, 10],
            d[v, 11], d[v, 12], d[v, 13])


@njit(cache=True)
def _undistort_points(pixels, K, dist, n, Tinv, iterations, tol):
    V, P = pixels.shape[0], pixels.shape[1]
    out = np.empty((V, P, 2))
    for v in range(V):
        fx, fy, cx, cy, s = K[v, 0, 0], K[v, 1, 1], K[v, 0, 2], K[v, 1, 2], K[v, 0, 1]
        k = _row(dist, v)
        Ti = Tinv[v]
        for p in range(P):
            u, w = pixels[v, p, 0], pixels[v, p, 1]
            if np.isnan(u) or np.isnan(w):
                out[v, p, 0] = out[v, p, 1] = np.nan
                continue
            xd, yd = from_pixel(u, w, fx, fy, cx, cy, s)
            x0, y0 = xd, yd
            if n > 12:
                x0, y0 = tilt_core(xd, yd, Ti)
            x, y = x0, y0
            for _ in range(iterations):
                nx, ny, icdist = undistort_step(x, y, x0, y0, k, n)
                if icdist < 0:
                    x, y = xd, yd
                    break
                done = abs(nx - x) + abs(ny - y) < tol
                x, y = nx, ny
                if done:
                    break
            out[v, p, 0], out[v, p, 1] = x, y
    return out


def undistort_points(pixels: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Pixels -> undistorted normalised coordinates, point by point (``pinhole.undistort`` compiled).

    Args: pixels (V, P, 2) (NaN kept), K (V, 3, 3), dist (V, n), n in ``distortion.MODELS``.
    Returns: (V, P, 2).
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.float64)
    dist = np.asarray(dist, dtype=np.float64)
    if pixels.ndim != 3 or pixels.shape[0] != len(dist) or pixels.shape[2] != 2:
        raise ValueError(f"pixels must be (V={len(dist)}, P, 2), got {pixels.shape}")
    n = dist.shape[1]
    padded = np.zeros((len(dist), 14))
    padded[:, :n] = dist
    return _undistort_points(pixels, np.ascontiguousarray(K, dtype=np.float64), padded, n,
                             np.ascontiguousarray(undistortion.inverse_tilts(dist)), undistortion.ITERATIONS, undistortion.TOL)


@njit(cache=True)
def _project_points(points, K, dist, n, T, R, t):
    V, P = R.shape[0], points.shape[0]
    out = np.empty((V, P, 2))
    depth = np.empty((V, P))
    for v in range(V):
        fx, fy, cx, cy, s = K[v, 0, 0], K[v, 1, 1], K[v, 0, 2], K[v, 1, 2], K[v, 0, 1]
        k = _row(dist, v)
        Tv = T[v]
        for p in range(P):
            c0, c1, c2 = camera_point(R, t, v, points[p, 0], points[p, 1], points[p, 2])
            z = c2 if abs(c2) > 1e-9 else 1e-9
            xd, yd = distort_core(c0 / z, c1 / z, k, n)
            if n > 12:
                xd, yd = tilt_core(xd, yd, Tv)
            out[v, p, 0], out[v, p, 1] = to_pixel(xd, yd, fx, fy, cx, cy, s)
            depth[v, p] = c2
    return out, depth


def project_points(K: np.ndarray, dist: np.ndarray, R: np.ndarray, t: np.ndarray,
                   points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pinhole.project`` compiled. Args: K (V, 3, 3), dist (V, n), R (V, 3, 3), t (V, 3) cm,
    points (P, 3) cm. Returns: pixels (V, P, 2), depth (V, P) cm."""
    dist = np.asarray(dist, dtype=np.float64)
    n = dist.shape[1]
    padded = np.zeros((len(dist), 14))
    padded[:, :n] = dist
    return _project_points(np.ascontiguousarray(points, dtype=np.float64), np.ascontiguousarray(K, dtype=np.float64),
                           padded, n, np.ascontiguousarray(distortion.tilts(dist)),
                           np.ascontiguousarray(R, dtype=np.float64), np.ascontiguousarray(t, dtype=np.float64))
