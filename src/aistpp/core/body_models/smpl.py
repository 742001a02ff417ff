"""SMPL (Loper et al. 2015), the body model of the AIST++ release: every SMPL fact aistpp uses.

24 joints (72 axis-angle numbers per frame, global orientation first), 10 shape coefficients,
6890 vertices, pose blend shapes over 23 x 9 = 207 features; model files ``SMPL_<GENDER>.pkl``.
The 21 landmarks are the vertices ``smplx.SMPL`` appends to its 24 joints (45 outputs).
Rest frame: the body faces +z, +y is up, the body's left is +x.
"""

from __future__ import annotations

from aistpp.core.body_models.base import BodyModel, Landmark, Limb, mirrored_range
from aistpp.core.joint_sets import BLAZEPOSE33

SMPL24 = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)  # fmt: skip
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# smplx's vertex joints: (name, vertex id, the joint carrying it).
_LANDMARKS = (
    ("nose", 332, "head"), ("right_eye", 6260, "head"), ("left_eye", 2800, "head"), ("right_ear", 4071, "head"),
    ("left_ear", 583, "head"), ("left_big_toe", 3216, "left_foot"), ("left_small_toe", 3226, "left_foot"),
    ("left_heel", 3387, "left_ankle"), ("right_big_toe", 6617, "right_foot"),
    ("right_small_toe", 6624, "right_foot"), ("right_heel", 6787, "right_ankle"),
    ("left_thumb", 2746, "left_hand"), ("left_index", 2319, "left_hand"), ("left_middle", 2445, "left_hand"),
    ("left_ring", 2556, "left_hand"), ("left_pinky", 2673, "left_hand"), ("right_thumb", 6191, "right_hand"),
    ("right_index", 5782, "right_hand"), ("right_middle", 5905, "right_hand"), ("right_ring", 6016, "right_hand"),
    ("right_pinky", 6133, "right_hand"),
)  # fmt: skip

# The fit's soft limits (rad) on the local axis-angle (x, y, z) of the left side (the right side
# mirrors them): generous anatomical ranges, hinges nearly pure.
_FIT_LEFT = {
    "left_hip": ((-2.6, 0.7), (-0.9, 0.9), (-0.6, 1.5)),  # flex/extend, twist, abduct
    "left_knee": ((-0.05, 2.7), (-0.15, 0.15), (-0.15, 0.15)),  # hinge about x, flexes +
    "left_shoulder": ((-1.6, 1.6), (-1.8, 1.2), (-1.7, 1.7)),
    "left_elbow": ((-0.8, 0.8), (-2.8, 0.05), (-0.15, 0.15)),  # hinge about y, flexes -
    "left_collar": ((-0.6, 0.6), (-0.6, 0.6), (-0.6, 0.6)),
    "left_ankle": ((-0.9, 0.9), (-0.5, 0.5), (-0.5, 0.5)),  # flex / extend, twist, roll (the feet stage)
    "left_foot": ((-0.6, 0.6), (-0.25, 0.25), (-0.25, 0.25)),  # the toes' base
}
_FIT_CENTRE = {"spine1": 0.7, "spine2": 0.6, "spine3": 0.6, "neck": 0.9, "head": 0.9}

# Synthetic dance moves stay in these (joint, axis, low, high) rad, left side and centre (the right
# side mirrors the left); each lies inside the fit's limits where the fit has one.
_MOTION = (
    ("spine1", 0, -0.15, 0.35), ("spine1", 1, -0.35, 0.35), ("spine1", 2, -0.2, 0.2),  # bend, twist, side
    ("spine2", 0, -0.1, 0.2), ("spine2", 1, -0.2, 0.2), ("spine2", 2, -0.1, 0.1),
    ("spine3", 0, -0.1, 0.2), ("spine3", 1, -0.2, 0.2), ("spine3", 2, -0.1, 0.1),
    ("neck", 0, -0.2, 0.3), ("neck", 1, -0.4, 0.4), ("neck", 2, -0.2, 0.2),
    ("head", 0, -0.2, 0.2), ("head", 1, -0.3, 0.3), ("head", 2, -0.15, 0.15),
    ("left_hip", 0, -1.3, 0.35), ("left_hip", 1, -0.3, 0.4), ("left_hip", 2, -0.05, 0.6),  # flex(-), twist, abduct(+)
    ("left_knee", 0, 0.0, 1.6),  # flex (+) only
    ("left_ankle", 0, -0.35, 0.45), ("left_ankle", 2, -0.15, 0.15),
    ("left_collar", 1, -0.15, 0.15), ("left_collar", 2, -0.2, 0.25),
    # shoulder: twist, forward (-), up (+)
    ("left_shoulder", 0, -0.6, 0.6), ("left_shoulder", 1, -1.2, 0.5), ("left_shoulder", 2, -1.3, 0.9),
    ("left_elbow", 1, -2.2, 0.0),  # flex (-) only
    ("left_wrist", 0, -0.5, 0.5), ("left_wrist", 2, -0.4, 0.4),
)  # fmt: skip


def _right(name: str) -> str:
    return "right" + name[len("left"):]


def _fit_limits(lateral_axis: int) -> dict:
    out = {}
    for name, ranges in _FIT_LEFT.items():
        out[name] = ranges
        out[_right(name)] = tuple(mirrored_range(a, lo, hi, lateral_axis) for a, (lo, hi) in enumerate(ranges))
    out.update({name: ((-r, r),) * 3 for name, r in _FIT_CENTRE.items()})
    return out


def _motion_range(lateral_axis: int) -> dict:
    out = {}
    for name, axis, lo, hi in _MOTION:
        out[(name, axis)] = (lo, hi)
        if name.startswith("left"):
            out[(_right(name), axis)] = mirrored_range(axis, lo, hi, lateral_axis)
    return out


# BlazePose's points by name (nose, eyes, ears, the limbs' joints, heels); its foot tip ("foot_index",
# at the second toe) is observed by the big toe's tip, a centimetre or two off; its inner / outer eye
# corners, mouth corners and three hand points have no SMPL counterpart.
_OUTPUTS = set(SMPL24) | {lm[0] for lm in _LANDMARKS}
_BLAZEPOSE = tuple({"left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe"}.get(n, n if n in _OUTPUTS else "")
                   for n in BLAZEPOSE33)

SMPL = BodyModel(
    name="smpl",
    title="SMPL",
    joint_names=SMPL24,
    parents=PARENTS,
    shape_size=10,
    num_vertices=6890,
    file_name="SMPL_{GENDER}.pkl",
    landmarks=tuple(Landmark(*lm) for lm in _LANDMARKS),
    # every COCO-17 keypoint has an SMPL output of its name (hips: the hip joints); the sets with feet add
    # heels and toes (smplx's foot landmarks; the feet stage, pipeline/fit_smpl_feet.py, reads only those:
    # by name a detector's "neck", the shoulders' midpoint, would meet SMPL's neck joint, which is higher)
    observes={"coco17": None, "halpe26": None, "body25": None, "body25b": None, "wholebody133": None,
              "halpe136": None, "blazepose33": _BLAZEPOSE},
    limits=_fit_limits(0),
    motion_range=_motion_range(0),
    twist_axes={"left_hip": 1, "right_hip": 1, "left_knee": 1, "right_knee": 1,
                "left_shoulder": 0, "right_shoulder": 0, "left_elbow": 0, "right_elbow": 0},
    limbs=(Limb("left_hip", "left_knee", "left_ankle", 0, 1.0), Limb("right_hip", "right_knee", "right_ankle", 0, 1.0),
           Limb("left_shoulder", "left_elbow", "left_wrist", 1, -1.0),
           Limb("right_shoulder", "right_elbow", "right_wrist", 1, 1.0)),
    torso=("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    floor_points=("left_ankle", "right_ankle", "left_foot", "right_foot", "left_big_toe", "left_small_toe", "left_heel",
                  "right_big_toe", "right_small_toe", "right_heel"),
    pose_parts=(("global_orient", 0, 1), ("body_pose", 1, 23)),
)


# aistpp.core.joints' older names of these facts (joints.py serves them by name).
OLDER_NAMES = {
    "NUM_SMPL": lambda: SMPL.num_joints,
    "SMPL_PARENTS": lambda: SMPL.parent_array,
    "SMPL_VERTEX_JOINTS": lambda: tuple((lm.name, lm.vertex) for lm in SMPL.landmarks),  # smplx's vertex joints
    "SMPL_BONES": lambda: SMPL.bones,  # (parent, child) for drawing
    "SMPL_SIDE": lambda: SMPL.sides,
}
