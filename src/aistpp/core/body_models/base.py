"""``BodyModel``: what aistpp needs to know about a parametric body model, in one frozen object.

A body model is a kinematic tree of ``J`` joints posed by one axis-angle per joint (``pose_size``
= 3 J numbers, the root's global orientation first), a shape vector (``shape_size``), a mesh of
``num_vertices`` vertices, and "landmarks": named vertices read off the skinned mesh (smplx's extra
joints: nose, ears, toes...). Its *output points* are the joints then the landmarks, in that order
(``output_names``); a keypoint set observes some of them (``observes``).

The description holds facts only (names, tree, sizes, file names, limits); the arrays of one model
file are read by ``load_data`` and posed by ``poser`` (``aistpp.core.fast_smpl``) or by the full
``smplx`` module (``module``, ``aistpp.core.body.smpl_forward``).

Axes: the rest pose faces ``forward_axis``; ``lateral_axis`` is the body's left-right axis, so the
mirror image of a rotation vector keeps its ``lateral_axis`` component and negates the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping

import numpy as np

from aistpp.errors import AistppError

Range = tuple[float, float]


def mirrored_range(axis: int, low: float, high: float, lateral_axis: int = 0) -> Range:
    """The range of axis-angle component ``axis`` on the mirror-image joint: the lateral
    component keeps its sign, the other two change it."""
    return (low, high) if axis == lateral_axis else (-high, -low)


@dataclass(frozen=True)
class Landmark:
    """A named vertex of the mesh, carried mostly by ``joint`` (its dominant skinning joint)."""

    name: str
    vertex: int
    joint: str


@dataclass(frozen=True)
class Limb:
    """A two-bone chain ``root`` -> ``hinge`` -> ``end`` whose ``hinge`` flexes about local
    ``axis`` (0 x, 1 y, 2 z) in the direction ``sign`` (used to initialise a fit)."""

    root: str
    hinge: str
    end: str
    axis: int
    sign: float


@dataclass(frozen=True)
class BodyModel:
    """A body model's facts. Joint indices are positions in ``joint_names``; ``parents[0]`` = -1.

    ``observes``: joint-set name -> per keypoint of that set, the output point observing it
    ('' where none), or None: "each keypoint by the output point of the same name".
    ``limits``: joint name -> three (low, high) rad ranges of its local axis-angle components,
    the anatomical limits a fit enforces softly; ``motion_range``: (joint, axis) -> (low, high) rad,
    the narrower range synthetic motion moves in. ``twist_axes``: joint -> its limb's long axis.
    ``limbs`` and ``torso`` (joints whose keypoints fix the global orientation) start a fit.
    ``floor_points``: output points that stand on the floor (feet joints and landmarks).
    ``file_name``: the model file's name with ``{GENDER}`` for the upper-case gender.
    ``pose_parts``: (smplx argument, first joint, number of joints) covering the pose vector;
    ``smplx_class``: the ``smplx`` module posing the full mesh (``aistpp.core.body.load_smpl``),
    built with ``smplx_options`` (e.g. SMPL-X's ``use_pca=False``).
    """

    name: str
    title: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    shape_size: int
    num_vertices: int
    file_name: str
    landmarks: tuple[Landmark, ...] = ()
    observes: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    limits: Mapping[str, tuple[Range, Range, Range]] = field(default_factory=dict)
    motion_range: Mapping[tuple[str, int], Range] = field(default_factory=dict)
    twist_axes: Mapping[str, int] = field(default_factory=dict)
    limbs: tuple[Limb, ...] = ()
    torso: tuple[str, ...] = ()
    floor_points: tuple[str, ...] = ()
    forward_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    lateral_axis: int = 0
    genders: tuple[str, ...] = ("neutral", "male", "female")
    file_keys: tuple[str, ...] = ("v_template", "f", "J_regressor", "weights", "posedirs", "shapedirs",
                                  "kintree_table")
    pose_parts: tuple[tuple[str, int, int], ...] = ()
    expression_size: int = 0
    smplx_class: str = "SMPL"
    smplx_options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        if len(self.parents) != len(self.joint_names) or self.parents[0] != -1 or not all(
                0 <= p < i for i, p in enumerate(self.parents) if i):
            raise ValueError(f"{self.name}: parents must list each joint's parent before the joint")

    def __hash__(self) -> int:  # frozen, but holds dicts: identity is the name
        return hash(self.name)

    # ---- sizes ---------------------------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def pose_size(self) -> int:
        """Axis-angle numbers per frame: 3 per joint (global orientation first)."""
        return 3 * self.num_joints

    @property
    def pose_blend_size(self) -> int:
        """Pose blend-shape features: 9 (R - I) entries per non-root joint."""
        return 9 * (self.num_joints - 1)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The posed output points: the joints, then the landmarks."""
        return self.joint_names + tuple(lm.name for lm in self.landmarks)

    @property
    def num_outputs(self) -> int:
        return len(self.output_names)

    @property
    def skeleton_name(self) -> str:
        """The name of the skeleton's joint set (``smpl24``), for drawing."""
        return f"{self.name}{self.num_joints}"

    # ---- tree and sides --------------------------------------------------------------------
    def index(self, name: str) -> int:
        """Joint index of ``name`` (a KeyError names the model)."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"{self.name} has no joint {name!r}") from None

    @property
    def parent_array(self) -> np.ndarray:
        """(J,) int parents, -1 for the root."""
        return np.array(self.parents)

    @property
    def bones(self) -> np.ndarray:
        """(J - 1, 2) (parent, child) joint pairs."""
        return np.stack([self.parent_array[1:], np.arange(1, self.num_joints)], axis=1)

    @property
    def sides(self) -> np.ndarray:
        """(J,) 0 centre, 1 left, 2 right, from the names."""
        return np.array([1 if n.startswith("left") else 2 if n.startswith("right") else 0 for n in self.joint_names])

    @cached_property
    def mirror(self) -> np.ndarray:
        """(J,) index of each joint's mirror image (left_x <-> right_x; itself on the centre line)."""
        swap = {"left": "right", "right": "left"}
        out = []
        for n in self.joint_names:
            side = n.split("_", 1)[0]
            out.append(self.index(swap[side] + n[len(side):]) if side in swap else self.index(n))
        return np.array(out)

    def mirror_range(self, axis: int, low: float, high: float) -> Range:
        """The range of axis-angle component ``axis`` on the mirrored joint."""
        return mirrored_range(axis, low, high, self.lateral_axis)

    @cached_property
    def subtree(self) -> np.ndarray:
        """(J, J) bool: [m, k] = joint k is m or a descendant of m."""
        S = np.eye(self.num_joints, dtype=bool)
        for k in range(1, self.num_joints):
            p = self.parents[k]
            while p >= 0:
                S[p, k] = True
                p = self.parents[p]
        return S

    # ---- keypoints ---------------------------------------------------------------------
    def observation(self, joint_set: str) -> tuple[str, ...]:
        """Per keypoint of ``joint_set``, the name of the output point observing it ('' none)."""
        from aistpp.core.joint_sets import REGISTRY

        if joint_set not in self.observes:
            raise AistppError(f"the {self.title} body model observes no '{joint_set}' keypoints "
                              f"(it observes {', '.join(self.observes) or 'none'})")
        names = self.observes[joint_set]
        if names is None:
            names = tuple(n if n in self.output_names else "" for n in REGISTRY[joint_set].names)
        return names

    def observed_index(self, joint_set: str) -> np.ndarray:
        """(K,) index into the output points of each keypoint of ``joint_set`` (-1: unobserved)."""
        where = {n: i for i, n in enumerate(self.output_names)}
        return np.array([where[n] if n else -1 for n in self.observation(joint_set)])

    def observed_vertices(self, joint_set: str) -> tuple[int, ...]:
        """Vertex ids of the landmarks observed by ``joint_set``, in keypoint order."""
        lm = {m.name: m.vertex for m in self.landmarks}
        return tuple(lm[n] for n in self.observation(joint_set) if n in lm)

    def moved_joints(self, joint_set: str) -> tuple[int, ...]:
        """Non-root joints whose rotation moves a keypoint of ``joint_set`` (sorted): the strict
        ancestors of observed joints, and a landmark's carrier joint with its ancestors."""
        carrier = {m.name: self.index(m.joint) for m in self.landmarks}
        moved = set()
        for n in self.observation(joint_set):
            if not n:
                continue
            j = carrier[n] if n in carrier else self.parents[self.index(n)]
            while j > 0:
                moved.add(j)
                j = self.parents[j]
        return tuple(sorted(moved))

    def joint_limits(self, joints) -> np.ndarray:
        """(len(joints), 3, 2) rad: the fit's (low, high) per axis; +-inf where none is set."""
        out = np.tile(np.array([-np.inf, np.inf]), (len(joints), 3, 1))
        for k, j in enumerate(joints):
            name = self.joint_names[j]
            if name in self.limits:
                out[k] = np.array(self.limits[name], float)
        return out

    # ---- files ---------------------------------------------------------------------------
    def model_path(self, model_dir: str | Path, gender: str = "neutral") -> Path:
        """``<model_dir>/<file_name>`` for ``gender``; ``model_dir`` may also be the file itself."""
        model_dir = Path(model_dir)
        if model_dir.suffix == Path(self.file_name).suffix:
            return model_dir
        return model_dir / self.file_name.format(GENDER=gender.upper())

    def require_file(self, model_dir: str | Path, gender: str = "neutral") -> Path:
        """``model_path``, or the one error naming the missing file."""
        path = self.model_path(model_dir, gender)
        if not path.is_file():
            raise AistppError(f"{self.title} model file not found (put {path.name} in --smpl-dir, "
                              "or choose --gender)", path)
        return path

    def file_names(self) -> str:
        """The model files of every gender, for help text: ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl``."""
        return self.file_name.replace("{GENDER}", "{" + ",".join(g.upper() for g in self.genders) + "}")

    def load_data(self, path: str | Path) -> dict:
        """The model file as a dict of arrays, checked against this description."""
        from aistpp.core.body import load_model_data

        return load_model_data(path, self)

    def poser(self, data: dict, joint_set: str = "coco17", **kw):
        """The fast differentiable posing of the joints and the landmarks ``joint_set`` observes
        (``aistpp.core.fast_smpl.FastSMPL``)."""
        from aistpp.core.fast_smpl import FastSMPL

        return FastSMPL(data, model=self, joint_set=joint_set, **kw)
