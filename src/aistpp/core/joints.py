"""COCO-17 facts and the older names of the SMPL facts; joint sets live in ``joint_sets``, body
models (SMPL's joints, parents, landmarks) in ``body_models`` (both re-exported here).

COCO-17 is the keypoint set of every AIST++ keypoints2d/keypoints3d file. SMPL output
indices refer to the 45 points returned by ``smplx.SMPL`` (the skeleton joints, then
joints read off single vertices): ``SMPL.output_names``.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.body_models import SMPL
from aistpp.core.joint_sets import (  # noqa: F401  (the detector sets are defined there)
    BLAZEPOSE33, COCO17, HALPE26, HALPE136, JOINT_SETS, OPENPOSE_BODY25, OPENPOSE_BODY25B, OPENPOSE_COCO18,
    REGISTRY, WHOLEBODY133, index_map, joint_set,
)  # fmt: skip

# COCO bones (pairs of COCO-17 indices) used for drawing and for bone-length constraints.
COCO_BONES = REGISTRY["coco17"].bones
# Side of each COCO joint: 0 centre, 1 left, 2 right (for colours and left/right swaps).
COCO_SIDE = REGISTRY["coco17"].sides
# COCO index of the mirrored joint (left <-> right).
COCO_FLIP = REGISTRY["coco17"].flip

# ---- older names of SMPL facts (defined in aistpp.core.body_models.smpl) ----------------------
SMPL24 = SMPL.joint_names
NUM_SMPL = SMPL.num_joints
SMPL_PARENTS = SMPL.parent_array
SMPL_VERTEX_JOINTS = tuple((lm.name, lm.vertex) for lm in SMPL.landmarks)  # smplx's vertex joints
COCO_TO_SMPL = SMPL.observed_index("coco17")  # COCO-17 joint k is SMPL output point COCO_TO_SMPL[k]
SMPL_BONES = SMPL.bones  # (parent, child) for drawing
SMPL_SIDE = SMPL.sides
