"""A 3D stick figure (cm, y up) posed, turned and projected by random cameras, in any joint set:
ground truth for the joint-set and detector-format tests, built here from body proportions, not
from aistpp's own code (only the joint names of each set come from the registry under test)."""

from __future__ import annotations

import numpy as np

from aistpp.core.joint_sets import REGISTRY

FIGURE = {
    "nose": (0, 160, 10), "left_eye": (3.2, 164, 8), "right_eye": (-3.2, 164, 8), "left_ear": (7.5, 162, 0),
    "right_ear": (-7.5, 162, 0), "head_top": (0, 178, 0), "upper_neck": (0, 152, 1), "neck": (0, 143, 0),
    "left_shoulder": (19, 142, 0), "right_shoulder": (-19, 142, 0), "left_elbow": (24, 114, 0),
    "right_elbow": (-24, 114, 0), "left_wrist": (27, 88, 4), "right_wrist": (-27, 88, 4), "left_hip": (10, 94, 0),
    "right_hip": (-10, 94, 0), "mid_hip": (0, 94, 0), "left_knee": (11, 50, 2), "right_knee": (-11, 50, 2),
    "left_ankle": (11, 8, -2), "right_ankle": (-11, 8, -2), "left_heel": (11, 2, -6), "right_heel": (-11, 2, -6),
    "left_big_toe": (9, 1, 16), "right_big_toe": (-9, 1, 16), "left_small_toe": (15, 1, 13),
    "right_small_toe": (-15, 1, 13),
}


def people(set_name: str, n: int, rng) -> np.ndarray:
    """(n, J, 3) px + confidence of the figure in ``set_name``, each posed, turned and projected anew."""
    names = REGISTRY[set_name].names
    base = np.array([FIGURE[k] for k in names], np.float64)
    out = []
    for _ in range(n):
        pts = base.copy()
        for side, sign in (("left", 1), ("right", -1)):  # raise an arm a random amount
            a = rng.uniform(0, 2.5)
            sh = pts[names.index(f"{side}_shoulder")]
            for j in (f"{side}_elbow", f"{side}_wrist"):
                d = pts[names.index(j)] - sh
                c, s = np.cos(sign * a), np.sin(sign * a)  # about the z axis, outward
                pts[names.index(j)] = sh + np.array([c * d[0] - s * d[1], s * d[0] + c * d[1], d[2]])
        yaw, pitch = rng.uniform(-np.pi, np.pi), rng.uniform(-0.3, 0.3)
        ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
        cam = (rx @ ry @ (pts - [0, 100, 0]).T).T + [0, 0, rng.uniform(300, 900)]
        f = rng.uniform(800, 1800)
        px = np.stack([f * cam[:, 0] / cam[:, 2] + 540, -f * cam[:, 1] / cam[:, 2] + 960], -1)
        px += rng.normal(0, 1.0, px.shape)
        out.append(np.concatenate([px, rng.uniform(0.4, 1, (len(names), 1))], -1))
    return np.array(out, np.float32)


