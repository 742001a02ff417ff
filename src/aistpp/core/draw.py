"""Skeleton drawing on BGR images: bones coloured by side (centre / left / right), joints, labels.

One ``cv2.polylines`` call per side draws all bones of that side; joints are drawn the same
way as zero-length thick segments (OpenCV gives thick lines round caps, so they are disks).
Coordinates are sub-pixel (fixed point), pixel centres at integer coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np

from aistpp.core.body_models import SMPL
from aistpp.core.joints import COCO17, COCO_BONES, COCO_SIDE

# BGR colours by side (0 centre, 1 left, 2 right), for bones and joints.
BONE_COLORS = ((0, 220, 255), (255, 160, 0), (0, 60, 255))  # yellow, blue, red
JOINT_COLORS = ((0, 255, 255), (255, 255, 0), (180, 0, 255))  # lighter yellow, cyan, magenta
_SHIFT = 4

# Named skeletons: (bones (B, 2), side per joint (J,), joint names).
SKELETONS = {
    "coco17": (COCO_BONES, COCO_SIDE, COCO17),
    SMPL.skeleton_name: (SMPL.bones, SMPL.sides, SMPL.joint_names),
}


def bone_sides(bones: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """Side of each bone (B,): the side its two joints share, else centre (0)."""
    a, b = sides[bones[:, 0]], sides[bones[:, 1]]
    return np.where(a == b, a, 0)


def style_for(height: int) -> tuple[int, int]:
    """(bone thickness, joint diameter) in px for an image ``height`` px tall (4 and 10 at 1080p)."""
    thick = max(2, int(round(height / 270)))
    return thick, max(6, int(round(thick * 2.5)))


def valid_joints(points: np.ndarray, confidence: np.ndarray | None = None, threshold: float = 0.0) -> np.ndarray:
    """(..., J) bool: finite points (..., J, 2) with confidence (..., J) >= threshold (when given)."""
    ok = np.all(np.isfinite(points), axis=-1)
    if confidence is not None:
        conf = np.asarray(confidence)
        ok &= np.isfinite(conf) & (conf >= threshold)
    return ok


def draw_skeleton(image: np.ndarray, points: np.ndarray, bones: np.ndarray, sides: np.ndarray,
                  confidence: np.ndarray | None = None, threshold: float = 0.0,
                  labels: tuple[str, ...] | None = None, thickness: int | None = None,
                  joint_size: int | None = None, antialias: bool = True) -> np.ndarray:
    """Draw one skeleton on ``image`` in place (and return it).

    image uint8 (h, w, 3) BGR; points (J, 2) px; bones (B, 2) joint index pairs; sides (J,)
    0 centre / 1 left / 2 right; confidence (J,) optional, joints below ``threshold`` (or NaN)
    are skipped with their bones; labels (J,) names written beside the joints when given.
    ``thickness``/``joint_size`` px default to ``style_for(image height)``.
    """
    points = np.asarray(points, np.float64)
    bones = np.asarray(bones)
    sides = np.asarray(sides)
    t_default, j_default = style_for(image.shape[0])
    thickness = thickness or t_default
    joint_size = joint_size or j_default
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    ok = valid_joints(points, confidence, threshold)
    # keep coordinates within a sane range for OpenCV's fixed point (points far off-image)
    fixed = np.round(np.clip(np.nan_to_num(points), -1e5, 1e5) * (1 << _SHIFT)).astype(np.int32)
    bone_ok = ok[bones[:, 0]] & ok[bones[:, 1]]
    bside = bone_sides(bones, sides)
    for side in range(3):
        sel = bone_ok & (bside == side)
        if sel.any():
            segs = fixed[bones[sel]]  # (b, 2, 2)
            cv2.polylines(image, list(segs), False, BONE_COLORS[side], thickness, line, _SHIFT)
    for side in range(3):
        sel = ok & (sides == side)
        if sel.any():
            dots = np.repeat(fixed[sel][:, None], 2, axis=1)  # zero-length segments
            cv2.polylines(image, list(dots), False, JOINT_COLORS[side], joint_size, line, _SHIFT)
    if labels is not None:
        scale = max(0.35, image.shape[0] / 2400)
        for j in np.nonzero(ok)[0]:  # text needs one call per label
            org = (int(points[j, 0]) + joint_size, int(points[j, 1]) - joint_size)
            cv2.putText(image, labels[j], org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def draw_named_skeleton(image: np.ndarray, points: np.ndarray, skeleton: str = "coco17",
                        confidence: np.ndarray | None = None, threshold: float = 0.0,
                        labels: bool = False, **style) -> np.ndarray:
    """``draw_skeleton`` with the bones, sides and names of ``coco17`` or ``smpl24``."""
    bones, sides, names = SKELETONS[skeleton]
    return draw_skeleton(image, points, bones, sides, confidence, threshold, names if labels else None, **style)
