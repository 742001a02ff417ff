"""SMPL-H and SMPL-X (smplx's ``SMPLH`` / ``SMPLX``) as body models: the facts of
``aistpp.core.smplx_joints`` in ``BodyModel`` form, their files read by ``core.smplx_files``.

The body (joints 0-21) is SMPL's: the same names, fit limits, synthetic motion ranges, limbs and
floor points. SMPL-H adds 15 joints per hand; SMPL-X also jaw and eyes, and expression
coefficients. The 21 landmarks are smplx's vertex joints of each model (the fingertips carried by
each finger's last joint). Keypoints observed: COCO-17 and COCO-WholeBody-133 (its body, feet
and hands; the face points are not observed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aistpp.core.body_models.base import BodyModel, Landmark
from aistpp.core.body_models.smpl import SMPL
from aistpp.core.smplx_files import CORE_KEYS, FACE_KEYS
from aistpp.core.smplx_joints import (
    JOINT_NAMES, MANO_FINGERS, NUM_VERTICES, VERTEX_IDS, VERTEX_JOINT_NAMES, WHOLEBODY_FINGERS, parents,
)  # fmt: skip

_MODEL_FINGER = dict(zip(WHOLEBODY_FINGERS, ("thumb", "index", "middle", "ring", "pinky")))


def _carrier(name: str) -> str:
    side = name.split("_", 1)[0]
    if name.endswith(("toe",)):
        return f"{side}_foot"
    if name.endswith("heel"):
        return f"{side}_ankle"
    if name.split("_", 1)[-1] in MANO_FINGERS:
        return f"{name}3"
    return "head"


def _wholebody_observation() -> tuple[str, ...]:
    from aistpp.core.joint_sets import WHOLEBODY133

    out = []
    for n in WHOLEBODY133:
        side, _, rest = n.partition("_")
        if rest == "hand_root":
            out.append(f"{side}_wrist")
        elif rest[:-1] in _MODEL_FINGER:
            finger, k = _MODEL_FINGER[rest[:-1]], rest[-1]
            out.append(f"{side}_{finger}" if k == "4" else f"{side}_{finger}{k}")
        elif n.startswith("face_"):
            out.append("")
        else:
            out.append(n)  # COCO-17 and the feet: the outputs of the same name
    return tuple(out)


@dataclass(frozen=True)
class SmplxFamily(BodyModel):
    """A model of smplx's SMPL-H / SMPL-X family: files ``<KIND>_<GENDER>.npz`` or ``.pkl``."""

    @property
    def motion_pose_size(self) -> int:
        """Numbers per frame of a motion's ``smpl_poses``: SMPL's (the AIST++ layout, old readers
        still work); hands, jaw and eyes are in the motion's extra keys (``fast_body.split_pose``)."""
        return SMPL.pose_size

    def model_path(self, model_dir: str | Path, gender: str = "neutral") -> Path:
        from aistpp.core.smplx_files import candidates

        found = [c for c in candidates(model_dir, self.name, gender) if c.is_file()]
        return (found or candidates(model_dir, self.name, gender))[0]

    def require_file(self, model_dir: str | Path, gender: str = "neutral") -> Path:
        from aistpp.core.smplx_files import model_file

        return model_file(model_dir, self.name, gender)

    def load_data(self, path: str | Path) -> dict:
        from aistpp.core.smplx_files import load_model_data

        return load_model_data(path, self.name)

    def smpl_view(self, data: dict) -> dict:
        """The model's body as a file of SMPL's layout (``fast_body.body_view``): what code written for
        SMPL poses (``core.body.load_smpl``: features, compare, view) with the hands, jaw and eyes at
        rest; vis and export pose the whole model (``pipeline.vis_models``, ``pipeline.export``)."""
        from aistpp.core.fast_body import body_view

        return body_view(data, self.name)

    def poser(self, data: dict, joint_set: str = "coco17", **kw):
        """The body stage's poser: the model's body seen as SMPL's 24-joint skeleton
        (``fast_body.body_view``; exact while hands, jaw and eyes are at rest). Hands:
        ``fast_body.BodyFK`` (``pipeline.fit_hands``)."""
        from aistpp.core.fast_body import body_view

        return SMPL.poser(body_view(data, self.name), joint_set=joint_set, **kw)


def _model(kind: str, title: str, file_name: str, pose_parts, expression_size: int, smplx_class: str) -> SmplxFamily:
    names = JOINT_NAMES[kind]
    return SmplxFamily(
        name=kind, title=title, joint_names=names, parents=tuple(int(p) for p in parents(kind)),
        shape_size=10, num_vertices=NUM_VERTICES[kind], file_name=file_name,
        landmarks=tuple(Landmark(n, v, _carrier(n)) for n, v in zip(VERTEX_JOINT_NAMES, VERTEX_IDS[kind])),
        observes={"coco17": None, "wholebody133": _wholebody_observation()},
        limits=SMPL.limits, motion_range=SMPL.motion_range, twist_axes=SMPL.twist_axes, limbs=SMPL.limbs,
        torso=SMPL.torso, floor_points=SMPL.floor_points, pose_parts=pose_parts, expression_size=expression_size,
        smplx_class=smplx_class, smplx_options={"use_pca": False, "flat_hand_mean": True},
        file_keys=CORE_KEYS + (FACE_KEYS if kind == "smplx" else ()),
    )


SMPLH = _model("smplh", "SMPL-H", "SMPLH_{GENDER}.pkl",
               (("global_orient", 0, 1), ("body_pose", 1, 21), ("left_hand_pose", 22, 15),
                ("right_hand_pose", 37, 15)), 0, "SMPLH")
SMPLX = _model("smplx", "SMPL-X", "SMPLX_{GENDER}.npz",
               (("global_orient", 0, 1), ("body_pose", 1, 21), ("jaw_pose", 22, 1), ("leye_pose", 23, 1),
                ("reye_pose", 24, 1), ("left_hand_pose", 25, 15), ("right_hand_pose", 40, 15)), 10, "SMPLX")
