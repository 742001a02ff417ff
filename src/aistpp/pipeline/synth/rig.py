"""Synthetic camera settings: an AIST-like 9-camera ring, varied per setting.

Starts from ``aistpp.core.rig.aist_like_ring`` and perturbs it the way real settings differ:
ring radius, height and rotation, each camera's position, aim and roll, focal length,
principal point, and a small lens distortion.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.cameras import CameraRig, rodrigues, rotation_to_rodrigues
from aistpp.core.rig import aist_like_ring, look_at

FULL_SIZE = (1920, 1080)


def make_rig(setting_index: int, rng: np.random.Generator, num_views: int = 9,
             size: tuple[int, int] = FULL_SIZE) -> CameraRig:
    """An AIST-like rig of ``num_views`` cameras (world in cm, +y up, dancer near the origin).

    ``setting_index`` (0, 1, ...) turns the whole ring a little per setting; ``rng`` draws
    the rest. Focal lengths ~1,600 px at 1920x1080, principal points within ~15 px of the
    centre, distortion k1 in [-0.08, 0.02], |k2| <= 0.03, |p1|, |p2| <= 5e-4, k3 = 0.
    """
    base = aist_like_ring(num_views=num_views, radius=rng.uniform(470, 540), height=rng.uniform(160, 200),
                          focal=1600.0, size=size, target_height=rng.uniform(80, 100))
    V = len(base)
    centers = base.centers
    # Turn the ring about the vertical axis, then jitter each camera.
    turn = np.deg2rad(7.0 * setting_index + rng.uniform(-5, 5))
    c, s = np.cos(turn), np.sin(turn)
    yaw = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    centers = centers @ yaw.T + rng.normal(0, [12.0, 6.0, 12.0], (V, 3))
    targets = np.array([0.0, 90.0, 0.0]) + rng.normal(0, [15.0, 10.0, 15.0], (V, 3))
    Rs = []
    for v in range(V):
        R, _ = look_at(centers[v], targets[v])
        roll = rodrigues(np.array([0.0, 0.0, rng.normal(0, np.deg2rad(1.0))]))
        Rs.append(roll @ R)
    R = np.stack(Rs)
    tvec = -np.einsum("vij,vj->vi", R, centers)
    w, h = size
    scale = w / FULL_SIZE[0]
    K = np.zeros((V, 3, 3))
    f = rng.uniform(1520, 1680, V) * scale
    K[:, 0, 0] = f
    K[:, 1, 1] = f * rng.uniform(0.998, 1.002, V)
    K[:, 0, 2] = w / 2 + rng.uniform(-15, 15, V) * scale
    K[:, 1, 2] = h / 2 + rng.uniform(-15, 15, V) * scale
    K[:, 2, 2] = 1.0
    dist = np.zeros((V, 5))
    dist[:, 0] = rng.uniform(-0.08, 0.02, V)
    dist[:, 1] = rng.uniform(-0.03, 0.03, V)
    dist[:, 2:4] = rng.uniform(-5e-4, 5e-4, (V, 2))
    return CameraRig(base.names, base.sizes, K, dist, rotation_to_rodrigues(R), tvec)


def scale_rig(rig: CameraRig, image_scale: float) -> CameraRig:
    """The same cameras imaging at ``image_scale`` x the resolution.

    Sizes are rounded to even numbers (H.264 4:2:0 needs them); fx, cx scale by the
    width ratio actually reached and fy, cy by the height ratio, so projections scale exactly.
    """
    if image_scale <= 0:
        raise ValueError("image_scale must be > 0")
    sizes = np.maximum(2, 2 * np.round(rig.sizes * image_scale / 2)).astype(np.int64)
    ratio = sizes / rig.sizes  # (V, 2)
    K = rig.K.copy()
    K[:, 0, :] *= ratio[:, :1]
    K[:, 1, :] *= ratio[:, 1:]
    return CameraRig(rig.names, sizes, K, rig.dist, rig.rvec, rig.tvec)
