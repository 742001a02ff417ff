"""SMPL joints and the COCO <-> SMPL maps; the detector joint sets live in ``joint_sets`` (re-exported here).

COCO-17 is the keypoint set of every AIST++ keypoints2d/keypoints3d file. SMPL output
indices refer to the 45 joints returned by ``smplx.SMPL`` (24 skeleton joints, then
joints read off single vertices).
"""

from __future__ import annotations

import numpy as np

from aistpp.core.joint_sets import (  # noqa: F401  (the detector sets are defined there)
    BLAZEPOSE33, COCO17, HALPE26, HALPE136, JOINT_SETS, OPENPOSE_BODY25, OPENPOSE_BODY25B, OPENPOSE_COCO18,
    REGISTRY, SMPL24, SMPL_PARENTS, WHOLEBODY133, index_map, joint_set,
)  # fmt: skip

NUM_SMPL = len(SMPL24)

# Joints appended by smplx.SMPL after the 24 skeleton joints, with the vertex each is read off.
SMPL_VERTEX_JOINTS = (
    ("nose", 332), ("right_eye", 6260), ("left_eye", 2800), ("right_ear", 4071),
    ("left_ear", 583), ("left_big_toe", 3216), ("left_small_toe", 3226),
    ("left_heel", 3387), ("right_big_toe", 6617), ("right_small_toe", 6624),
    ("right_heel", 6787), ("left_thumb", 2746), ("left_index", 2319),
    ("left_middle", 2445), ("left_ring", 2556), ("left_pinky", 2673),
    ("right_thumb", 6191), ("right_index", 5782), ("right_middle", 5905),
    ("right_ring", 6016), ("right_pinky", 6133),
)  # fmt: skip

# COCO-17 joint k is SMPL output joint COCO_TO_SMPL[k] (hips are SMPL's hip joints, as in AIST++).
COCO_TO_SMPL = np.array([24, 26, 25, 28, 27, 16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8])

# COCO bones (pairs of COCO-17 indices) used for drawing and for bone-length constraints.
COCO_BONES = REGISTRY["coco17"].bones
# Side of each COCO joint: 0 centre, 1 left, 2 right (for colours and left/right swaps).
COCO_SIDE = REGISTRY["coco17"].sides
# COCO index of the mirrored joint (left <-> right).
COCO_FLIP = REGISTRY["coco17"].flip

# SMPL bones for drawing: (parent, child) over the 24 joints.
SMPL_BONES = np.stack([SMPL_PARENTS[1:], np.arange(1, NUM_SMPL)], axis=1)
SMPL_SIDE = np.array(
    [0 if n in ("pelvis", "neck", "head") or n.startswith("spine") else 1 if n.startswith("left") else 2
     for n in SMPL24]
)  # fmt: skip

