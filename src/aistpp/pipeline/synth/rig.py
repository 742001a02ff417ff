"""Synthetic camera settings.

``make_rig``: an AIST-like 9-camera ring (the release's handedness, ``core.rig.aist_like_ring``)
perturbed the way real settings differ: ring radius, height and rotation, each camera's
position, aim and roll, focal length, principal point, and a small lens distortion.
``make_layout``: other real-world layouts (either handedness, 4 portrait phones, 12 cameras,
cameras near the floor and overhead, mixed image sizes) with focal lengths far from a guess.
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


# ---- other real-world layouts ------------------------------------------------------------------
LAYOUTS = ("aist9", "ring8_ccw", "portrait4", "ring12", "above_below6", "mixed5")


def _camera(center: np.ndarray, target: np.ndarray, rng: np.random.Generator, roll_deg: float = 1.5,
            up=(0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    R, _ = look_at(center, target, up)
    R = rodrigues(np.array([0.0, 0.0, rng.normal(0, np.deg2rad(roll_deg))])) @ R
    return R, -R @ center


def make_layout(layout: str, rng: np.random.Generator, focal_factors: tuple[float, float] = (0.6, 1.4),
                focal_per_size: float = 0.8) -> CameraRig:
    """A rig of one of ``LAYOUTS`` (world cm, +y up, floor y = 0, dancer near the origin).

    - ``aist9``: ``make_rig`` (the release's layout and handedness), re-focused as below;
    - ``ring8_ccw``: 8 cameras turning the other way round, random heading, names ``cam1..``;
    - ``portrait4``: 4 phones in portrait (1080x1920 and 1088x1920) on a 100-160 deg arc in front;
    - ``ring12``: 12 cameras, alternately high (250-300 cm, looking down) and low (60-100 cm);
    - ``above_below6``: 6 cameras, two of them near the floor (30-50 cm) and two overhead-ish (330-380 cm);
    - ``mixed5``: 5 cameras of mixed sizes (1920x1080, 1280x720, 1080x1920, 3840x2160, 1440x1080).
    Focal lengths are ``focal_per_size`` x the larger image side x a factor drawn in
    ``focal_factors`` (the first view gets the low end, the second the high end, so a start at
    ``focal_per_size`` x size is that far off); each camera stands where the dancer (2.2 m with
    margins) fills about 80 % of the shorter image side; small radial distortion (k1, k2).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {LAYOUTS}")
    if layout == "aist9":
        base = make_rig(int(rng.integers(0, 10)), rng)
        return _refocus(base, rng, focal_factors, focal_per_size, base.names, base.sizes, base.centers,
                        np.array([0.0, 90.0, 0.0]) + rng.normal(0, 10, (9, 3)))
    heading = rng.uniform(0, 2 * np.pi)
    if layout == "ring8_ccw":
        V, az = 8, heading + np.arange(8) * 2 * np.pi / 8  # counter-clockwise seen from above
        heights, names = rng.uniform(140, 200, V), tuple(f"cam{i + 1}" for i in range(V))
        sizes = np.tile([1920, 1080], (V, 1))
    elif layout == "portrait4":
        V = 4
        span = np.deg2rad(rng.uniform(100, 160))
        az = heading + np.linspace(-span / 2, span / 2, V) + rng.normal(0, 0.05, V)
        heights, names = rng.uniform(100, 160, V), ("phone_left", "phone_a", "phone_b", "phone_right")
        sizes = np.array([[1080, 1920], [1088, 1920], [1080, 1920], [1088, 1920]])
    elif layout == "ring12":
        V = 12
        az = heading - np.arange(V) * 2 * np.pi / V + rng.normal(0, 0.04, V)
        heights = np.where(np.arange(V) % 2 == 0, rng.uniform(250, 300, V), rng.uniform(60, 100, V))
        names, sizes = tuple(f"v{i:02d}" for i in range(V)), np.tile([1280, 720], (V, 1))
    elif layout == "above_below6":
        V = 6
        az = heading + np.arange(V) * 2 * np.pi / V + rng.normal(0, 0.05, V)
        heights = np.array([40.0, 350.0, 160.0, 30.0, 380.0, 150.0]) + rng.normal(0, 5, V)
        names, sizes = ("low_a", "high_a", "mid_a", "low_b", "high_b", "mid_b"), np.tile([1920, 1080], (V, 1))
    else:  # mixed5
        V = 5
        az = heading - np.arange(V) * 2 * np.pi / V + rng.normal(0, 0.08, V)
        heights, names = rng.uniform(120, 220, V), ("main", "wide", "phone", "uhd", "side")
        sizes = np.array([[1920, 1080], [1280, 720], [1080, 1920], [3840, 2160], [1440, 1080]])
    targets = np.array([0.0, 90.0, 0.0]) + rng.normal(0, [10.0, 8.0, 10.0], (V, 3))
    centers = np.stack([np.sin(az), np.zeros(V), np.cos(az)], 1)  # unit directions; distance set below
    centers[:, 1] = heights
    return _refocus(None, rng, focal_factors, focal_per_size, names, sizes, centers, targets, place=True)


def _refocus(base, rng, focal_factors, focal_per_size, names, sizes, centers, targets, place=False) -> CameraRig:
    V = len(names)
    sizes = np.asarray(sizes, np.int64)
    lo, hi = focal_factors
    factor = rng.uniform(lo, hi, V)
    factor[0] = lo + 0.02 * (hi - lo)
    if V > 1:
        factor[1] = hi - 0.02 * (hi - lo)
    f = focal_per_size * sizes.max(axis=1) * factor
    Rs, ts = [], []
    for v in range(V):
        c = centers[v].copy()
        if place:  # horizontal distance so that 220 cm fill ~80 % of the short side
            dist = f[v] * 220.0 / (0.8 * sizes[v].min())
            horiz = np.array([c[0], 0.0, c[2]])
            horiz /= np.linalg.norm(horiz)
            d_h = np.sqrt(max(dist ** 2 - (c[1] - targets[v, 1]) ** 2, 150.0 ** 2))
            c = targets[v] * [1, 0, 1] + horiz * d_h + [0.0, c[1], 0.0]
        else:  # keep the position's direction, move out so the dancer still fits
            dist = max(np.linalg.norm(c - targets[v]), f[v] * 220.0 / (0.8 * sizes[v].min()))
            c = targets[v] + (c - targets[v]) / np.linalg.norm(c - targets[v]) * dist
        R, t = _camera(c, targets[v], rng)
        Rs.append(R)
        ts.append(t)
    K = np.zeros((V, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = sizes[:, 0] / 2, sizes[:, 1] / 2, 1.0
    dist = np.zeros((V, 5))
    dist[:, 0], dist[:, 1] = rng.uniform(-0.05, 0.02, V), rng.uniform(-0.01, 0.01, V)
    return CameraRig(tuple(names), sizes, K, dist, rotation_to_rodrigues(np.stack(Rs)), np.stack(ts))
