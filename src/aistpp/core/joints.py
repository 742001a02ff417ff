"""Joint sets and maps: the single definition of every joint order used by aistpp.

COCO-17 is the keypoint set of every AIST++ keypoints2d/keypoints3d file. SMPL output
indices refer to the 45 joints returned by ``smplx.SMPL`` (24 skeleton joints, then
joints read off single vertices).
"""

from __future__ import annotations

import numpy as np

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
NUM_COCO = len(COCO17)

SMPL24 = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)  # fmt: skip
NUM_SMPL = len(SMPL24)

# SMPL kinematic tree: parent of each of the 24 joints (-1 for the root).
SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
)

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
SMPLX_OUTPUT = SMPL24 + tuple(name for name, _ in SMPL_VERTEX_JOINTS)  # 45 names

# COCO-17 joint k is SMPL output joint COCO_TO_SMPL[k] (hips are SMPL's hip joints, as in AIST++).
COCO_TO_SMPL = np.array([24, 26, 25, 28, 27, 16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8])

# COCO bones (pairs of COCO-17 indices) used for drawing and for bone-length constraints.
COCO_BONES = np.array(
    [
        [0, 1], [0, 2], [1, 3], [2, 4],          # face
        [5, 6], [5, 11], [6, 12], [11, 12],      # torso
        [5, 7], [7, 9], [6, 8], [8, 10],         # arms
        [11, 13], [13, 15], [12, 14], [14, 16],  # legs
    ]
)  # fmt: skip

# Side of each COCO joint: 0 centre, 1 left, 2 right (for colours and left/right swaps).
COCO_SIDE = np.array([0, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2])
# COCO index of the mirrored joint (left <-> right).
COCO_FLIP = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15])

# SMPL bones for drawing: (parent, child) over the 24 joints.
SMPL_BONES = np.stack([SMPL_PARENTS[1:], np.arange(1, NUM_SMPL)], axis=1)
SMPL_SIDE = np.array(
    [0 if n in ("pelvis", "neck", "head") or n.startswith("spine") else 1 if n.startswith("left") else 2
     for n in SMPL24]
)  # fmt: skip

OPENPOSE_BODY25 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "mid_hip", "right_hip",
    "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe",
    "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip
OPENPOSE_COCO18 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee",
    "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
    "left_eye", "right_ear", "left_ear",
)  # fmt: skip
HALPE26 = COCO17 + (
    "head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe",
    "right_small_toe", "left_heel", "right_heel",
)  # fmt: skip

JOINT_SETS = {
    "coco17": COCO17,
    "body25": OPENPOSE_BODY25,
    "coco18": OPENPOSE_COCO18,
    "halpe26": HALPE26,
    "smpl24": SMPL24,
}


def index_map(source: tuple[str, ...], target: tuple[str, ...] = COCO17) -> np.ndarray:
    """Indices into ``source`` of each joint of ``target`` (``-1`` where ``source`` lacks it)."""
    where = {name: i for i, name in enumerate(source)}
    return np.array([where.get(name, -1) for name in target])
