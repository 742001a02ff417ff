"""OpenCV's lens distortion models: 5, 8, 12 or 14 coefficients, forward and its Jacobians.

Coefficients, in OpenCV's order (``COEFFICIENT_NAMES``)::

    k1 k2 p1 p2 k3 [k4 k5 k6 [s1 s2 s3 s4 [tx ty]]]

For a normalised point ``(x, y)`` (camera frame, divided by depth), ``r2 = x^2 + y^2``::

    radial = (1 + k1 r2 + k2 r2^2 + k3 r2^3) / (1 + k4 r2 + k5 r2^2 + k6 r2^3)
    x' = x radial + 2 p1 x y + p2 (r2 + 2 x^2) + s1 r2 + s2 r2^2
    y' = y radial + p1 (r2 + 2 y^2) + 2 p2 x y + s3 r2 + s4 r2^2

then (14 coefficients) the tilted sensor: ``(a, b, c) = T(tx, ty) (x', y', 1)``, ``x'' = a / c``,
``y'' = b / c`` with ``T`` as OpenCV's ``computeTiltProjectionMatrix`` (angles in radians).
Fewer coefficients mean the later ones are zero; a rig pads its views to one common count.

``distort_core`` and ``tilt_core`` are written once for numpy arrays and for numba scalars
(``compiled.py`` compiles the same functions).
"""

from __future__ import annotations

import numpy as np

from aistpp.errors import AistppError

COEFFICIENT_NAMES = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6", "s1", "s2", "s3", "s4", "tx", "ty")
#: The coefficient counts of OpenCV's models: plumb bob, rational, thin prism, tilted.
MODELS = (5, 8, 12, 14)


def coefficients(dist, num_views: int | None = None) -> np.ndarray:
    """Validated distortion coefficients, one row per view, padded to one OpenCV model.

    Args: dist: (V, n) array or a list of V sequences (lengths may differ); a view with fewer
      than 5 coefficients (some tools write k1 k2 p1 p2 only) is padded with zeros to 5.
      num_views: expected V (checked when given).
    Returns: (V, n) float64, n in ``MODELS`` (the largest model any view needs).
    Raises AistppError for any other count or non-finite values.
    """
    if not isinstance(dist, (list, tuple)):
        dist = np.asarray(dist, dtype=np.float64)
        if dist.ndim != 2:
            raise AistppError(f"camera distortions must hold one row per camera, found shape {dist.shape}")
    rows = [np.asarray(d, dtype=np.float64).reshape(-1) for d in dist]
    if num_views is not None and len(rows) != num_views:
        raise AistppError(f"camera distortions have {len(rows)} rows, expected {num_views}")
    for v, row in enumerate(rows):
        if len(row) > 5 and len(row) not in MODELS:
            raise AistppError(f"camera {v} has {len(row)} distortion coefficients; OpenCV's models have "
                              f"{', '.join(map(str, MODELS))} ({' '.join(COEFFICIENT_NAMES)})")
        if not np.all(np.isfinite(row)):
            raise AistppError(f"camera {v} distortion holds NaN or inf")
    n = max([5] + [len(r) for r in rows])
    out = np.zeros((len(rows), n))
    for v, row in enumerate(rows):
        out[v, :len(row)] = row
    return out


def _check(xy: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xy = np.asarray(xy, dtype=np.float64)
    dist = np.asarray(dist, dtype=np.float64)
    if dist.ndim != 2 or dist.shape[1] not in MODELS:
        raise ValueError(f"dist must be (V, n) with n in {MODELS}, got {dist.shape}")
    if xy.ndim < 2 or xy.shape[0] != dist.shape[0] or xy.shape[-1] != 2:
        raise ValueError(f"points must be (V={dist.shape[0]}, ..., 2), got {xy.shape}")
    return xy, dist


def _per_view(a: np.ndarray, ndim: int) -> np.ndarray:
    """(V, *shape) -> (*shape, V, 1, ..., 1) so that a[i] broadcasts against (V, ...) with ``ndim`` dims."""
    return np.moveaxis(a, 0, -1).reshape(*a.shape[1:], a.shape[0], *([1] * (ndim - 1)))


# ---- the tilted sensor ---------------------------------------------------------------------------
def _rot_xy(tau: np.ndarray):
    cx, sx, cy, sy = np.cos(tau[..., 0]), np.sin(tau[..., 0]), np.cos(tau[..., 1]), np.sin(tau[..., 1])
    one, zero = np.ones_like(cx), np.zeros_like(cx)
    rx = np.stack([one, zero, zero, zero, cx, sx, zero, -sx, cx], -1).reshape(*cx.shape, 3, 3)
    ry = np.stack([cy, zero, -sy, zero, one, zero, sy, zero, cy], -1).reshape(*cx.shape, 3, 3)
    drx = np.stack([zero, zero, zero, zero, -sx, cx, zero, -cx, -sx], -1).reshape(*cx.shape, 3, 3)
    dry = np.stack([-sy, zero, -cy, zero, zero, zero, cy, zero, -sy], -1).reshape(*cx.shape, 3, 3)
    return ry @ rx, np.stack([ry @ drx, dry @ rx], axis=-3)


def _proj_z(m: np.ndarray, translation: bool = True) -> np.ndarray:
    """OpenCV's matProjZ from matRotXY entries (``translation`` False: the derivative's linear part)."""
    out = np.zeros(m.shape)
    out[..., 0, 0] = out[..., 1, 1] = m[..., 2, 2]
    out[..., 0, 2], out[..., 1, 2] = -m[..., 0, 2], -m[..., 1, 2]
    out[..., 2, 2] = 1.0 if translation else 0.0
    return out


def tilt_matrices(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's tilted-sensor projection and its derivative.

    Args: tau (..., 2) rad (tx, ty).
    Returns: T (..., 3, 3) and dT/d(tx, ty) (..., 2, 3, 3).
    """
    rxy, drxy = _rot_xy(np.asarray(tau, dtype=np.float64))
    pz = _proj_z(rxy)
    dpz = _proj_z(drxy, translation=False)
    return pz @ rxy, dpz @ rxy[..., None, :, :] + pz[..., None, :, :] @ drxy


def tilts(dist: np.ndarray) -> np.ndarray:
    """Tilt matrices (V, 3, 3) of a (V, n) coefficient array (identity without tx, ty)."""
    dist = np.asarray(dist, dtype=np.float64)
    if dist.shape[1] < 14:
        return np.broadcast_to(np.eye(3), (len(dist), 3, 3)).copy()
    return tilt_matrices(dist[:, 12:14])[0]


# ---- forward distortion -------------------------------------------------------------------------------
def distort_core(x, y, k, n):
    """Radial, tangential and thin-prism distortion of normalised coordinates (not the tilt:
    ``tilt_core``); numpy arrays or (compiled) scalars.

    Args: x, y: normalised coordinates (broadcastable arrays, or floats); k: coefficients
      indexable ``k[0] .. k[n-1]`` (each broadcastable against x); n: coefficient count (5, 8,
      12, 14), a plain int.
    Returns: (x', y').
    """
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k[0] + r2 * (k[1] + r2 * k[4]))
    if n > 5:
        radial = radial / (1.0 + r2 * (k[5] + r2 * (k[6] + r2 * k[7])))
    xd = x * radial + 2.0 * k[2] * x * y + k[3] * (r2 + 2.0 * x * x)
    yd = y * radial + k[2] * (r2 + 2.0 * y * y) + 2.0 * k[3] * x * y
    if n > 8:
        xd = xd + r2 * (k[8] + r2 * k[9])
        yd = yd + r2 * (k[10] + r2 * k[11])
    return xd, yd


def tilt_core(x, y, T):
    """The homography ``(a, b, c) = T (x, y, 1)`` -> ``(a / c, b / c)``: the tilted sensor with
    ``T = tilt_matrices(..)``, its inverse with the inverse matrix. T indexable ``T[i, j]``."""
    c = T[2, 0] * x + T[2, 1] * y + T[2, 2]
    return (T[0, 0] * x + T[0, 1] * y + T[0, 2]) / c, (T[1, 0] * x + T[1, 1] * y + T[1, 2]) / c


def distort(xy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Apply each view's distortion to normalised coordinates.

    Args: xy (V, ..., 2) normalised; dist (V, n), n in ``MODELS``.
    Returns: (V, ..., 2) distorted normalised coordinates.
    """
    xy, dist = _check(xy, dist)
    n, nd = dist.shape[1], xy.ndim - 1
    xd, yd = distort_core(xy[..., 0], xy[..., 1], _per_view(dist, nd), n)
    if n > 12:
        xd, yd = tilt_core(xd, yd, _per_view(tilts(dist), nd))
    return np.stack([xd, yd], axis=-1)


def distort_jacobians(xy: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distortion and its derivatives w.r.t. the normalised point and the coefficients.

    Args: xy (V, ..., 2) normalised; dist (V, n).
    Returns: distorted (V, ..., 2); d distorted / d xy (V, ..., 2, 2);
      d distorted / d coefficients (V, ..., 2, n) (columns in ``COEFFICIENT_NAMES`` order).
    """
    xy, dist = _check(xy, dist)
    n, nd = dist.shape[1], xy.ndim - 1
    k = _per_view(dist, nd)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    r4 = r2 * r2
    num = 1.0 + r2 * (k[0] + r2 * (k[1] + r2 * k[4]))
    dnum = k[0] + r2 * (2.0 * k[1] + 3.0 * k[4] * r2)
    den = 1.0 + r2 * (k[5] + r2 * (k[6] + r2 * k[7])) if n > 5 else np.ones_like(r2)
    dden = k[5] + r2 * (2.0 * k[6] + 3.0 * k[7] * r2) if n > 5 else np.zeros_like(r2)
    rad = num / den
    drad = (dnum - rad * dden) / den  # d radial / d r2
    sx = k[8] + 2.0 * k[9] * r2 if n > 8 else 0.0  # d (s1 r2 + s2 r4) / d r2
    sy = k[10] + 2.0 * k[11] * r2 if n > 8 else 0.0
    xd = x * rad + 2.0 * k[2] * x * y + k[3] * (r2 + 2.0 * x * x)
    yd = y * rad + k[2] * (r2 + 2.0 * y * y) + 2.0 * k[3] * x * y
    if n > 8:
        xd = xd + r2 * (k[8] + r2 * k[9])
        yd = yd + r2 * (k[10] + r2 * k[11])
    jxy = np.empty(x.shape + (2, 2))
    jxy[..., 0, 0] = rad + 2.0 * x * x * drad + 2.0 * k[2] * y + 6.0 * k[3] * x + 2.0 * x * sx
    jxy[..., 0, 1] = 2.0 * x * y * drad + 2.0 * k[2] * x + 2.0 * k[3] * y + 2.0 * y * sx
    jxy[..., 1, 0] = 2.0 * x * y * drad + 2.0 * k[2] * x + 2.0 * k[3] * y + 2.0 * x * sy
    jxy[..., 1, 1] = rad + 2.0 * y * y * drad + 6.0 * k[2] * y + 2.0 * k[3] * x + 2.0 * y * sy
    jk = np.zeros(x.shape + (2, n))
    powers = (r2, r4, None, None, r4 * r2)
    for i in (0, 1, 4):  # k1 k2 k3
        jk[..., 0, i], jk[..., 1, i] = x * powers[i] / den, y * powers[i] / den
    jk[..., 0, 2], jk[..., 1, 2] = 2.0 * x * y, r2 + 2.0 * y * y  # p1
    jk[..., 0, 3], jk[..., 1, 3] = r2 + 2.0 * x * x, 2.0 * x * y  # p2
    if n > 5:
        for i, p in zip((5, 6, 7), (r2, r4, r4 * r2)):  # k4 k5 k6
            jk[..., 0, i], jk[..., 1, i] = -x * rad * p / den, -y * rad * p / den
    if n > 8:
        jk[..., 0, 8], jk[..., 0, 9], jk[..., 1, 10], jk[..., 1, 11] = r2, r4, r2, r4  # s1 s2 s3 s4
    out = np.stack([xd, yd], axis=-1)
    if n > 12:
        T, dT = tilt_matrices(dist[:, 12:14])
        T, dT = _per_view(T, nd), _per_view(dT, nd)  # (3, 3, V, 1..), (2, 3, 3, V, 1..)
        c = T[2, 0] * xd + T[2, 1] * yd + T[2, 2]
        xt, yt = tilt_core(xd, yd, T)
        jt = np.empty(x.shape + (2, 2))  # d (x'', y'') / d (x', y')
        for j in (0, 1):
            jt[..., 0, j] = (T[0, j] - xt * T[2, j]) / c
            jt[..., 1, j] = (T[1, j] - yt * T[2, j]) / c
        jxy = jt @ jxy
        jk[..., :12] = jt @ jk[..., :12]
        for i in (0, 1):  # tx, ty
            d = [dT[i, r, 0] * xd + dT[i, r, 1] * yd + dT[i, r, 2] for r in range(3)]
            jk[..., 0, 12 + i] = (d[0] - xt * d[2]) / c
            jk[..., 1, 12 + i] = (d[1] - yt * d[2]) / c
        out = np.stack([xt, yt], axis=-1)
    return out, jxy, jk
