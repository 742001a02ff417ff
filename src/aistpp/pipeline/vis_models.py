"""vis for SMPL-H / SMPL-X motions: the model's skeleton with the fingers, and its mesh.

``ModelPoser`` stands in for ``smplx.SMPL`` in ``vis --mode smpl|mesh`` when a motion's
``body_model`` is "smplh" or "smplx": it poses the model with ``fast_body.BodyFK`` (the motion's
extra pose keys, the dataset's scaling) and offers the skeleton to draw, every joint of the model
plus the ten fingertips (``Skeleton``: names, bones, sides, like a registry joint set).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aistpp.core.fast_body import EXTRA_POSE_KEYS, full_pose
from aistpp.core.smplx_joints import JOINT_NAMES, MANO_FINGERS, SIDES, output_names


@dataclass(frozen=True)
class Skeleton:
    """Points to draw: ``names`` (J,), ``bones`` (B, 2) index pairs, ``sides`` (J,) 0/1/2."""

    names: tuple[str, ...]
    bones: np.ndarray
    sides: np.ndarray


def model_skeleton(kind: str) -> Skeleton:
    """The model's joints and its ten fingertips (smplx's output names), bones parent -> child."""
    from aistpp.core.smplx_joints import parents

    joints = JOINT_NAMES[kind]
    tips = tuple(f"{s}_{f}" for s in SIDES for f in MANO_FINGERS)
    names = joints + tips
    par = parents(kind)
    bones = [(int(par[j]), j) for j in range(1, len(joints))]
    bones += [(joints.index(f"{t}3"), len(joints) + k) for k, t in enumerate(tips)]
    sides = np.array([1 if n.startswith("left") else 2 if n.startswith("right") else 0 for n in names])
    return Skeleton(names, np.array(bones), sides)


class ModelPoser:
    """A SMPL-H / SMPL-X model for vis: ``points(motion, s, e)`` (n, J + 10, 3) cm in
    ``skeleton``'s order, ``vertices(motion, s, e)`` (n, V, 3) cm; ``v_template``, ``faces``."""

    def __init__(self, smpl_dir: str | Path, kind: str, gender: str):
        import torch

        from aistpp.pipeline.fit_smplx import load_model

        self.kind = kind
        _, self.fk, _ = load_model(str(smpl_dir), kind, gender, "cpu")
        self.mesh = self.fk.with_all_vertices()
        self.skeleton = model_skeleton(kind)
        out = output_names(kind)
        self._idx = np.array([out.index(n) for n in self.skeleton.names])
        self.v_template = torch.as_tensor(self.mesh.rest()[1].cpu().numpy())
        self.faces = self.fk.faces

    def _pose(self, motion: dict, s: int, e: int):
        extras = {k: None if motion.get(k) is None else np.asarray(motion[k])[s:e] for k in EXTRA_POSE_KEYS[self.kind]}
        return (full_pose(self.kind, np.asarray(motion["smpl_poses"])[s:e], **extras),
                np.asarray(motion["smpl_trans"], np.float64)[s:e], float(motion["smpl_scaling"][0]))

    def points(self, motion: dict, s: int = 0, e: int | None = None) -> np.ndarray:
        pose, trans, scale = self._pose(motion, s, e if e is not None else len(motion["smpl_poses"]))
        return self.fk.pose_numpy(pose, trans, scale, motion.get("betas"))[:, self._idx]

    def vertices(self, motion: dict, s: int, e: int) -> np.ndarray:
        pose, trans, scale = self._pose(motion, s, e)
        return self.mesh.pose_numpy(pose, trans, scale, motion.get("betas"))[:, self.fk.nj:]
