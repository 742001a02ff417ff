"""AIST-like camera rings: a generic ring (tests, ``synth``) and the original recipe's hand-made ring;
``perturb_rig``: a known rig moved by known amounts (the demo's and the tests' calibration starts).

World frame: centimetres, +y up, the floor is y = 0, the dancer stands near the origin.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.cameras import CameraRig, rodrigues, rotation_to_rodrigues
from aistpp.core.names import AIST_VIEWS


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R (3, 3), t (3,)) of a camera at ``eye`` looking at ``target``.

    OpenCV camera axes: x right, y down (image rows), z forward.
    """
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)  # right = forward x up, so that image y points down
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ eye


def aist_like_ring(num_views: int = 9, radius: float = 500.0, height: float = 180.0, focal: float = 1600.0,
                   size: tuple[int, int] = (1920, 1080), target_height: float = 90.0,
                   names: tuple[str, ...] | None = None) -> CameraRig:
    """A ring of cameras around the origin, turning the way AIST++'s released settings turn.

    c01 stands at +z looking along -z; seen from above (+y) the next cameras follow clockwise
    about +y, i.e. c02 at (-x, +z) (camera i at azimuth atan2(x, z) = -360 i / ring deg, as in
    every released setting). With 9 views: 8 cameras 45 deg apart on a circle of ``radius`` cm
    at ``height`` cm, and c09 below c01 (``height`` - 90 cm, like the release's low camera).
    Other counts: evenly spaced on the ring.
    """
    ring = num_views - 1 if num_views == 9 else num_views
    eyes = []
    for i in range(ring):
        a = 2 * np.pi * i / ring
        eyes.append([-radius * np.sin(a), height, radius * np.cos(a)])
    if num_views == 9:
        eyes.append([0.0, height - 90.0, radius])
    Rs, ts = zip(*(look_at(np.array(e), np.array([0.0, target_height, 0.0])) for e in eyes))
    w, h = size
    K = np.tile(np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1.0]]), (num_views, 1, 1))
    if names is None:
        names = AIST_VIEWS if num_views == 9 else tuple(f"c{i + 1:02d}" for i in range(num_views))
    return CameraRig(tuple(names), np.tile([w, h], (num_views, 1)), K, np.zeros((num_views, 5)),
                     rotation_to_rodrigues(np.stack(Rs)), np.stack(ts))


def _axis_rotation(axis: int, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    if axis == 1:  # keep the right-handed sense about y: x -> -z
        R[i, j], R[j, i] = s, -s
    return R


def original_ring(size: tuple[int, int] = (1920, 1080), focal: float = 1600.0,
                  names: tuple[str, ...] = AIST_VIEWS) -> CameraRig:
    """The hand-made 9-camera ring the original AIST++ calibration started from.

    Camera i (c01 = 0): R = Ry(180 - 45 i deg) Rz(180 deg), t = (0, 180, 500) cm (c09: yaw
    180 deg, t = (0, 170, 500)), f = ``focal`` px, principal point at the image centre, no
    distortion. Its centres are 500 cm from the y axis, 180 (170) cm up, turning the release's way.
    """
    if len(names) != 9:
        raise ValueError("the original ring has 9 cameras")
    yaws = [180.0 - 45.0 * i for i in range(8)] + [180.0]
    Rs = np.stack([_axis_rotation(1, y) @ _axis_rotation(2, 180.0) for y in yaws])
    ts = np.array([[0.0, 180.0, 500.0]] * 8 + [[0.0, 170.0, 500.0]])
    w, h = size
    K = np.tile(np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1.0]]), (9, 1, 1))
    return CameraRig(tuple(names), np.tile([w, h], (9, 1)), K, np.zeros((9, 5)), rotation_to_rodrigues(Rs), ts)


def perturb_rig(rig: CameraRig, rng: np.random.Generator, rotation_deg: float, center_cm: float,
                focal_rel: float = 0.0) -> CameraRig:
    """``rig`` with every camera turned by ``rotation_deg`` about a random axis and its centre moved
    ``center_cm`` in a random direction (exactly those amounts); with ``focal_rel``, fx and fy are
    scaled together by 1 +- ``focal_rel`` (random sign per camera). Everything else is kept."""
    V = len(rig)
    axes = rng.normal(size=(V, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    R = rodrigues(axes * np.radians(rotation_deg)) @ rig.R
    dirs = rng.normal(size=(V, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    centers = rig.centers + center_cm * dirs
    K = rig.K.copy()
    if focal_rel:
        scale = 1 + focal_rel * rng.choice([-1, 1], V)
        K[:, 0, 0] *= scale
        K[:, 1, 1] *= scale
    return CameraRig(rig.names, rig.sizes, K, rig.dist, rotation_to_rodrigues(R), -np.einsum("vij,vj->vi", R, centers))
