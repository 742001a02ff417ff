"""The default AIST-like camera ring, used as calibration's initial rig and by ``synth``.

World frame: centimetres, +y up, the floor is y = 0, the dancer stands near the origin.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.cameras import CameraRig, rotation_to_rodrigues
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
    """A ring of cameras around the origin, like AIST++'s rig.

    With 9 views: 8 cameras 45 deg apart on a circle of ``radius`` cm at ``height`` cm, and a
    9th above and behind c01 (higher and further out). Other counts: evenly spaced on the ring.
    c01 looks along -z (it stands at +z).
    """
    ring = num_views - 1 if num_views == 9 else num_views
    eyes = []
    for i in range(ring):
        a = 2 * np.pi * i / ring
        eyes.append([radius * np.sin(a), height, radius * np.cos(a)])
    if num_views == 9:
        eyes.append([0.0, height + 150.0, radius + 150.0])
    Rs, ts = zip(*(look_at(np.array(e), np.array([0.0, target_height, 0.0])) for e in eyes))
    w, h = size
    K = np.tile(np.array([[focal, 0, w / 2], [0, focal, h / 2], [0, 0, 1.0]]), (num_views, 1, 1))
    if names is None:
        names = AIST_VIEWS if num_views == 9 else tuple(f"c{i + 1:02d}" for i in range(num_views))
    return CameraRig(tuple(names), np.tile([w, h], (num_views, 1)), K, np.zeros((num_views, 5)),
                     rotation_to_rodrigues(np.stack(Rs)), np.stack(ts))
