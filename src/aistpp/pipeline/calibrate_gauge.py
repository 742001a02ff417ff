"""Calibration's gauge: the similarity that puts a reconstruction in the dataset's world.

``gauge_transform``: the floor (fitted to the lower ankle of each frame, minus the ankle height)
becomes y = 0 with +y up, the origin is under the dancer's average hip centre, the first
camera's viewing direction gets a chosen heading (that of a reference rig, else looking along
-z like AIST++'s c01), and units are cm, set so that the dancer's median leg + torso length
(ankle-knee-hip-shoulder chain, pose independent) is ``LEG_TORSO_PER_HEIGHT`` x ``height_cm``.
``Y_UP_TO_Z_UP``: the rotation taking that world to a +z-up one (``--up z``).
"""

from __future__ import annotations

import numpy as np

from aistpp.core.cameras import CameraRig
from aistpp.core.joints import COCO17
from aistpp.errors import AistppError

# Anthropometric proportions of stature (Winter, Biomechanics and Motor Control of Human
# Movement): ankle joint 0.039 H, knee 0.285 H, hip 0.530 H, shoulder 0.818 H above the floor.
ANKLE_PER_HEIGHT = 0.039
LEG_TORSO_PER_HEIGHT = 0.818 - 0.039  # ankle -> knee -> hip -> shoulder chain
_J = {name: i for i, name in enumerate(COCO17)}
HEAD = [_J[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
ANKLES = [_J["left_ankle"], _J["right_ankle"]]
KNEES = [_J["left_knee"], _J["right_knee"]]
HIPS = [_J["left_hip"], _J["right_hip"]]
SHOULDERS = [_J["left_shoulder"], _J["right_shoulder"]]
Y_UP_TO_Z_UP = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # (x, y, z) -> (x, -z, y)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking unit vector a to unit vector b."""
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-12:  # opposite: turn 180 deg about any axis normal to a
        axis = _unit(np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0]))
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _median_length(a: np.ndarray, b: np.ndarray) -> float:
    d = np.linalg.norm(a - b, axis=-1)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else float("nan")


def _plane_normal(points: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal (3,) of the least-squares plane of points (M, 3), signed along ``up``; and the
    standard deviations (3,) along the principal axes (smallest first)."""
    centred = points - points.mean(0)
    evals, evecs = np.linalg.eigh(centred.T @ centred / max(len(points) - 1, 1))
    return evecs[:, 0] * np.sign(evecs[:, 0] @ up), np.sqrt(np.clip(evals, 0, None))


def floor_normal(points3d: np.ndarray) -> tuple[np.ndarray, str]:
    """Up direction (3,) of the floor from COCO keypoints (N, 17, 3).

    Each frame's lower ankle; a plane through them, then through the lower half of them,
    twice more (a lower envelope: frames with the foot flat on the floor, not lifted, tiptoe or
    hopping), signed towards the head. Falls back to the median ankle->head direction when
    the ankles do not spread over the floor (dancer standing still).
    """
    head = np.nanmean(points3d[:, HEAD], axis=1)
    feet = np.nanmean(points3d[:, ANKLES], axis=1)
    body = head - feet
    body = body[np.isfinite(body).all(1)]
    if len(body) < 3:
        raise AistppError("too few frames with head and ankles triangulated to find the floor")
    up = _unit(np.median(_unit(body), axis=0))
    size = float(np.median(np.linalg.norm(body, axis=1)))
    ank = points3d[:, ANKLES]  # (N, 2, 3)
    normal = up
    for _ in range(2):  # the lower ankle along the body axis, then along the first plane's normal
        height = np.einsum("nai,i->na", np.nan_to_num(ank, nan=np.inf), normal)
        low = np.take_along_axis(ank, np.argmin(np.where(np.isfinite(height), height, np.inf), 1)[:, None, None],
                                 1)[:, 0]
        low = low[np.isfinite(low).all(1)]
        if len(low) < 20:
            return up, "body axis"
        normal, spread = _plane_normal(low, up)
    if spread[1] < max(5 * spread[0], 0.03 * size) or normal @ up < np.cos(np.radians(30)):
        return up, "body axis"
    dist = (low - low.mean(0)) @ normal  # drop gross outliers (badly triangulated ankles) first
    inlier = np.abs(dist - np.median(dist)) < 3 * 1.4826 * np.median(np.abs(dist - np.median(dist))) + 1e-9
    low = low[inlier]
    keep = np.ones(len(low), bool)
    for _ in range(3):
        dist = (low - low[keep].mean(0)) @ normal
        lower = dist <= np.median(dist[keep])
        if lower.sum() < 20:
            break
        n, spread = _plane_normal(low[lower], up)
        if spread[1] < max(5 * spread[0], 0.03 * size) or n @ up < np.cos(np.radians(30)):
            break
        normal, keep = n, lower
    return normal, "ankle plane"


def gauge_transform(rig: CameraRig, points3d: np.ndarray, height_cm: float,
                    reference: CameraRig | None = None) -> tuple[float, np.ndarray, np.ndarray, dict]:
    """The similarity X' = s R X + t putting a reconstruction in the dataset's world.

    rig: cameras of the reconstruction; points3d (N, 17, 3) its COCO keypoints (any unit);
    height_cm: the dancers' stature; reference: a rig already in a +y-up world whose first
    camera's heading the result keeps (None: the first camera looks along -z, like AIST++'s c01). Returns s, R (3, 3), t (3,) and a dict describing the choice.
    """
    up, method = floor_normal(points3d)
    R1 = _rotation_between(up, np.array([0.0, 1.0, 0.0]))
    # heading: c01's optical axis (third row of R, in world coordinates), projected on the floor
    fwd = R1 @ rig.R[0, 2]
    ref = reference.R[0, 2] if reference is not None else np.array([0.0, 0.0, -1.0])
    yaw = np.arctan2(ref[0], ref[2]) - np.arctan2(fwd[0], fwd[2])
    c, s_ = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, 0, s_], [0, 1, 0], [-s_, 0, c]]) @ R1
    chain = (np.mean([_median_length(points3d[:, a], points3d[:, k]) for a, k in zip(ANKLES, KNEES)])
             + np.mean([_median_length(points3d[:, k], points3d[:, h]) for k, h in zip(KNEES, HIPS)])
             + _median_length(points3d[:, HIPS].mean(1), points3d[:, SHOULDERS].mean(1)))
    if not np.isfinite(chain) or chain <= 0:
        raise AistppError("cannot measure the dancers' legs and torso (ankles, knees, hips, shoulders missing)")
    s = height_cm * LEG_TORSO_PER_HEIGHT / chain
    P = s * points3d @ R.T
    ank_y = np.nanmin(P[:, ANKLES, 1], axis=1)
    ank_y = ank_y[np.isfinite(ank_y)]
    floor = float(np.percentile(ank_y, 20)) - ANKLE_PER_HEIGHT * height_cm
    centre = np.nanmean(P[:, HIPS].mean(1), axis=0)
    t = np.array([-centre[0], -floor, -centre[2]])
    info = {"up_from": method, "scale": float(s), "leg_torso_cm": float(chain * s), "height_cm": float(height_cm),
            "c01_heading_deg": float(np.degrees(np.arctan2(ref[0], ref[2])))}
    return float(s), R, t, info
