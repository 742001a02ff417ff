"""Undistortion: OpenCV's iterative inverse of ``distortion.distort_core`` (``cv2.undistortPoints``).

From distorted normalised coordinates ``(x0, y0)``: undo the sensor tilt (14 coefficients),
then iterate ``x <- (x0 - tangential(x)) / radial(x)`` from ``x = x0`` until the update is below
``TOL`` or ``ITERATIONS`` passes. Where the radial factor turns negative (far outside the
lens's valid field) the iteration stops at the distorted coordinates, as OpenCV does.
``undistort_step`` is written once for numpy arrays and numba scalars (the tilt is undone by
``distortion.tilt_core`` with the inverse matrix).
"""

from __future__ import annotations

import numpy as np

from aistpp.core.camera.distortion import _check, tilt_core, tilts

ITERATIONS = 30
TOL = 1e-15  # |dx| + |dy| between passes (normalised units)


def undistort_step(x, y, x0, y0, k, n):
    """One fixed-point pass: the next (x, y) and the inverse radial factor (negative: invalid).

    x, y current estimate; x0, y0 untilted distorted coordinates; k coefficients indexable
    ``k[0] .. k[n-1]``; n coefficient count (int).
    """
    r2 = x * x + y * y
    icdist = 1.0 / (1.0 + r2 * (k[0] + r2 * (k[1] + r2 * k[4])))
    if n > 5:
        icdist = icdist * (1.0 + r2 * (k[5] + r2 * (k[6] + r2 * k[7])))
    dx = 2.0 * k[2] * x * y + k[3] * (r2 + 2.0 * x * x)
    dy = k[2] * (r2 + 2.0 * y * y) + 2.0 * k[3] * x * y
    if n > 8:
        dx = dx + r2 * (k[8] + r2 * k[9])
        dy = dy + r2 * (k[10] + r2 * k[11])
    return (x0 - dx) * icdist, (y0 - dy) * icdist, icdist


def inverse_tilts(dist: np.ndarray) -> np.ndarray:
    """Inverse tilt matrices (V, 3, 3) of (V, n) coefficients (identity without tx, ty)."""
    return np.linalg.inv(tilts(dist))


def undistort_normalised(xy: np.ndarray, dist: np.ndarray, iterations: int = ITERATIONS,
                         tol: float = TOL) -> np.ndarray:
    """Invert the distortion of each view.

    Args: xy (V, ..., 2) distorted normalised coordinates (NaN allowed: kept); dist (V, n).
    Returns: (V, ..., 2) undistorted normalised coordinates.
    """
    xy, dist = _check(xy, dist)
    n = dist.shape[1]
    Tinv = inverse_tilts(dist)
    out = np.full(xy.shape, np.nan)
    for v in range(len(dist)):  # per view: coefficients are scalars, the points a flat vector
        flat = xy[v].reshape(-1, 2)
        idx = np.flatnonzero(np.isfinite(flat).all(axis=1))
        xd, yd = flat[idx, 0], flat[idx, 1]
        x0, y0 = tilt_core(xd, yd, Tinv[v]) if n > 12 else (xd, yd)
        x, y = x0.copy(), y0.copy()
        res = np.empty((len(idx), 2))
        active = np.arange(len(idx))  # positions still iterating
        k = dist[v]
        for _ in range(iterations):
            if not len(active):
                break
            xa, ya = x[active], y[active]
            nx, ny, icdist = undistort_step(xa, ya, x0[active], y0[active], k, n)
            invalid = icdist < 0
            done = (np.abs(nx - xa) + np.abs(ny - ya) < tol) | invalid
            nx, ny = np.where(invalid, xd[active], nx), np.where(invalid, yd[active], ny)
            x[active], y[active] = nx, ny
            finished = active[done]
            res[finished, 0], res[finished, 1] = x[finished], y[finished]
            active = active[~done]
        res[active, 0], res[active, 1] = x[active], y[active]
        o = np.full(flat.shape, np.nan)
        o[idx] = res
        out[v] = o.reshape(xy[v].shape)
    return out
