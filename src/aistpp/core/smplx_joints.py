"""Joints of SMPL-H and SMPL-X as the ``smplx`` package orders them, and their hand keypoints.

Facts (from the model files' layout that ``smplx`` reads):

- SMPL-H: 52 joints: SMPL's first 22 (pelvis ... right_wrist), then 15 per hand, left then
  right, each hand as index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3 (MANO's order); the
  first joint of each finger hangs from its wrist. SMPL's mesh (vertices and vertex joints);
  pose correctives for 51 joints (459 = 51 x 9).
- SMPL-X: 55 joints: the same 22 body joints, jaw, left and right eye (all three hang from
  the head), then the two hands as in SMPL-H. 10475 vertices; 486 = 54 x 9 pose correctives;
  ``shapedirs`` hold the body shape coefficients and then the expression coefficients.
- ``smplx`` appends 21 vertex joints to both (nose, eyes, ears, toes, heels, then the five
  fingertips of the left and of the right hand), read off fixed vertex ids per model; SMPL-X
  also appends 51 face landmarks (barycentric points on faces).

The hand keypoints are COCO-WholeBody's 21 per hand (``joint_sets.HANDS42``): the hand root is
the wrist joint, finger points 1-3 the model's finger joints 1-3, point 4 the fingertip vertex.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.body_models.smpl import SMPL

BODY22 = SMPL.joint_names[:22]  # SMPL's body without its two hand joints
MANO_FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # the model files' finger order
WHOLEBODY_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
_MODEL_FINGER = dict(zip(WHOLEBODY_FINGERS, ("thumb", "index", "middle", "ring", "pinky")))
SIDES = ("left", "right")


def hand_joint_names(side: str) -> tuple[str, ...]:
    """The 15 joints of one hand in the model files' order, e.g. ``left_index1``."""
    return tuple(f"{side}_{f}{k}" for f in MANO_FINGERS for k in (1, 2, 3))


HAND_JOINTS = hand_joint_names("left") + hand_joint_names("right")  # 30
SMPLH52 = BODY22 + HAND_JOINTS
SMPLX55 = BODY22 + ("jaw", "left_eye_smplhf", "right_eye_smplhf") + HAND_JOINTS
JOINT_NAMES = {"smplh": SMPLH52, "smplx": SMPLX55}

# Vertex joints smplx appends (output order) and the vertex each is read off, per model.
VERTEX_JOINT_NAMES = (
    "nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel", "left_thumb", "left_index", "left_middle", "left_ring",
    "left_pinky", "right_thumb", "right_index", "right_middle", "right_ring", "right_pinky",
)  # fmt: skip
_LANDMARK_VERTEX = {lm.name: lm.vertex for lm in SMPL.landmarks}
VERTEX_IDS = {
    "smplh": tuple(_LANDMARK_VERTEX[n] for n in VERTEX_JOINT_NAMES),  # SMPL-H has SMPL's mesh and vertex joints
    "smplx": (9120, 9929, 9448, 616, 6, 5770, 5780, 8846, 8463, 8474, 8635,
              5361, 4933, 5058, 5169, 5286, 8079, 7669, 7794, 7905, 8022),
}  # fmt: skip
NUM_VERTICES = {"smplh": SMPL.num_vertices, "smplx": 10475}
NUM_LANDMARKS = 51  # SMPL-X's static face landmarks
NUM_DYNAMIC_LANDMARKS = (79, 17)  # SMPL-X's face-contour table: (yaw bins, points)


def parents(kind: str) -> np.ndarray:
    """(J,) int: each joint's parent (-1 for the root) in the model files' order."""
    names = JOINT_NAMES[kind]
    out = np.full(len(names), -1)
    out[:22] = SMPL.parent_array[:22]
    for j, name in enumerate(names[22:], start=22):
        if name in ("jaw", "left_eye_smplhf", "right_eye_smplhf"):
            out[j] = names.index("head")
            continue
        side, rest = name.split("_", 1)
        k = int(rest[-1])
        out[j] = names.index(f"{side}_wrist") if k == 1 else j - 1
    return out


def output_names(kind: str) -> tuple[str, ...]:
    """Names of ``smplx``'s joint output (skeleton joints, vertex joints; SMPL-X's landmarks
    as ``landmark_<i>``)."""
    extra = tuple(f"landmark_{i}" for i in range(NUM_LANDMARKS)) if kind == "smplx" else ()
    return JOINT_NAMES[kind] + VERTEX_JOINT_NAMES + extra


def hand_index(kind: str, side: str) -> np.ndarray:
    """(21,) index into the model's output (joints then vertex joints) of each WholeBody
    keypoint of one hand (root, then points 1-4 of thumb, fore, middle, ring, pinky finger)."""
    names = output_names(kind)
    out = [names.index(f"{side}_wrist")]
    for finger in WHOLEBODY_FINGERS:
        model = _MODEL_FINGER[finger]
        out += [names.index(f"{side}_{model}{k}") for k in (1, 2, 3)] + [names.index(f"{side}_{model}")]
    return np.array(out)


def wholebody_hand_names(side: str) -> tuple[str, ...]:
    """The 21 WholeBody names of one hand (as in ``joint_sets.HANDS42``)."""
    from aistpp.core.joint_sets import HANDS42  # here: joint_sets imports the body models, which import this module

    return tuple(n for n in HANDS42 if n.startswith(f"{side}_"))
