"""``export``: AIST++ SMPL motions as BVH or AMASS-style npz, in other units and axes.

AIST++ convention: world (cm, +y up) = ``smpl_scaling`` x SMPL(poses, betas = 0) + ``smpl_trans``,
with SMPL in metres and ``smpl_scaling`` about 100 (the cm conversion times the dancer's size).

- ``bvh``: the SMPL skeleton at the motion's scale, so the file's joints are the dataset's
  world joints (in ``units``, with ``up`` as the vertical axis). See ``aistpp.core.bvh``.
- ``npz`` (AMASS-style): body-model parameters with no scale: ``poses`` (N, 3 J), ``trans`` (N, 3)
  metres, ``betas`` (shape size,) zeros, ``gender``, ``mocap_framerate``. The scale is folded in by
  dividing the translation by ``smpl_scaling``: SMPL(poses) + trans / s = world / s, the same
  motion with a standard-size SMPL body (translation is *not* simply cm / 100).

SMPL-H / SMPL-X motions (``body_model`` "smplh" / "smplx", their model file in ``smpl_dir``) are
exported with every joint of the model, fingers included (52 / 55: ``smplx_joints.JOINT_NAMES``):
the BVH skeleton has them all; the npz holds ``poses`` (N, 3 J) in the model's joint order and
smplx's keys (``global_orient``, ``body_pose``, ``left_hand_pose``, ``right_hand_pose``, and for SMPL-X
``jaw_pose``, ``leye_pose``, ``reye_pose``, ``expression``), ``betas`` the motion's, ``surface_model_type``.

``up = "z"`` turns the world by +90 deg about x (y up -> z up, z -> -y), as AMASS does.
``floor``: shift vertically so the lowest mesh vertex over the whole sequence is at 0.
``fps``: 60 (as recorded), or 30 / 20 by keeping every 2nd / 3rd frame.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field

from aistpp.core import formats
from aistpp.core.body_models import SMPL, BodyModel
from aistpp.core.body import load_smpl, motion_body_model, motion_gender, require_smpl_model
from aistpp.core.bvh import bvh_text, write_bvh
from aistpp.core.cameras import rodrigues
from aistpp.core.runner import RunOptions, RunReport, run_jobs
from aistpp.errors import AistppError

Z_UP = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # +90 deg about x: y -> z, z -> -y


class ExportConfig(RunOptions):
    """Options of ``aistpp export`` (plus the shared runner options)."""

    anno_dir: Path
    smpl_dir: Path
    save_dir: Path
    format: Literal["bvh", "npz"] = Field("bvh", description="bvh (SMPL skeleton at the motion's scale, root "
                                          "position + Euler rotations) or npz (AMASS-style: poses, trans in metres = "
                                          "smpl_trans / smpl_scaling, betas, gender, mocap_framerate).")
    fps: Literal[60, 30, 20] = Field(60, description="Frame rate: as recorded, or every 2nd / 3rd frame.")
    up: Literal["y", "z"] = Field("y", description="Vertical axis of the output: y (AIST++) or z (AMASS).")
    units: Literal["m", "cm"] = Field("cm", description="bvh lengths: cm (AIST++) or m. npz is always metres.")
    floor: bool = Field(True, description="Shift vertically so the lowest mesh vertex over the sequence is at 0.")
    order: Literal["ZXY", "XYZ"] = Field("ZXY", description="bvh rotation channel order; R = R1 R2 R3 in the "
                                         "listed order.")
    gender: Optional[Literal["neutral", "male", "female"]] = None  # None: the motion's smpl_gender, else male
    sequence_names: list[str] | None = None
    batch: int = Field(1024, ge=1)


def _rest_joints(smpl_dir: Path, gender: str, body_model: BodyModel = SMPL) -> np.ndarray:
    """The body model's rest joints (J, 3), metres, betas = 0."""
    data = body_model.load_data(body_model.require_file(smpl_dir, gender))
    return np.asarray(data["J_regressor"] @ np.asarray(data["v_template"], np.float64), np.float64)


def lowest_point(model, poses: np.ndarray, trans: np.ndarray, scaling: float, axis: np.ndarray,
                 batch: int = 1024) -> float:
    """Lowest value of ``vertices @ axis`` over all frames (world units), in batches."""
    from aistpp.core.body import smpl_forward

    low = np.inf
    for s in range(0, len(poses), batch):
        _, verts = smpl_forward(model, poses[s:s + batch], trans[s:s + batch], scaling, vertices=True, batch=batch)
        low = min(low, float((verts @ axis).min()))
    return low


def export_arrays(poses: np.ndarray, trans: np.ndarray, scaling: float, rest_joints: np.ndarray,
                  fmt: str, up: str = "y", units: str = "cm", floor_offset: float = 0.0) -> dict:
    """The exported arrays of one motion (frames already chosen).

    poses (N, 3 J) axis-angle, trans (N, 3) cm, scaling: AIST++'s; rest_joints (J, 3) m.
    ``floor_offset``: the lowest vertex height (world cm, along the up axis after turning),
    subtracted. Returns for ``bvh``: ``rest`` (J, 3), ``root`` (N, 3), ``rotations``
    (N, J, 3, 3) in ``units``; for ``npz``: ``poses``, ``trans`` (metres, unscaled).
    """
    A = Z_UP if up == "z" else np.eye(3)
    R = rodrigues(poses.reshape(-1, 3)).reshape(len(poses), len(rest_joints), 3, 3)
    up_axis = A @ np.array([0.0, 1.0, 0.0])
    if fmt == "bvh":
        k = 0.01 if units == "m" else 1.0
        R = A @ R @ A.T  # conjugate every local rotation: the rest pose stands along the new up axis
        rest = (A @ (scaling * rest_joints).T).T  # cm
        root = (A @ (scaling * rest_joints[0] + trans).T).T - floor_offset * up_axis  # cm
        return {"rest": k * rest, "root": k * root, "rotations": R}
    # npz: world / s = SMPL(poses) + trans / s; turning the world by A turns the root about J0:
    # A (R0 (v - J0) + J0 + t) = (A R0)(v - J0) + J0 + [A (J0 + t) - J0]
    J0 = rest_joints[0]
    t = trans / scaling
    root = A @ R[:, 0]
    t_new = (A @ (J0 + t).T).T - J0 - (floor_offset / scaling) * up_axis
    from scipy.spatial.transform import Rotation

    out_poses = poses.copy()
    out_poses[:, :3] = Rotation.from_matrix(root).as_rotvec()
    return {"poses": out_poses, "trans": t_new}


def output_path(name: str, config: ExportConfig) -> Path:
    return config.save_dir / f"{name}.{config.format}"


@functools.lru_cache(maxsize=2)
def _model(smpl_dir: str, gender: str, body_model: str = "smpl"):
    return load_smpl(smpl_dir, gender, body_model=body_model)


def export_sequence(name: str, config: ExportConfig) -> dict:
    """Export ``motions/<name>.pkl``; returns the report metrics."""
    from aistpp.core.dataset import AISTDataset

    ds = AISTDataset(config.anno_dir)
    path = ds.layout.file("motions", name)
    motion = formats.load_motion(path)
    step = formats.ANNOTATION_FPS // config.fps
    poses = np.asarray(motion["smpl_poses"], np.float64)[::step]
    trans = np.asarray(motion["smpl_trans"], np.float64)[::step]
    scaling = float(motion["smpl_scaling"][0])
    gender, bm = motion_gender(motion, config.gender), motion_body_model(motion)
    if bm.name != "smpl":  # SMPL-H / SMPL-X: every joint of the model, fingers included
        return _export_model_x(name, motion, step, gender, config)
    rest = _rest_joints(config.smpl_dir, gender, bm)
    offset = 0.0
    if config.floor:
        # height is measured along the source's +y, which the turn maps onto the new up axis
        offset = lowest_point(_model(str(config.smpl_dir), gender, bm.name), poses, trans, scaling,
                              np.array([0.0, 1.0, 0.0]), config.batch)
    arrays = export_arrays(poses, trans, scaling, rest, config.format, config.up, config.units, offset)
    out = output_path(name, config)
    if config.format == "bvh":
        write_bvh(out, bvh_text(arrays["rest"], arrays["root"], arrays["rotations"], config.fps, config.order,
                                bm.joint_names, bm.parent_array))
    else:
        with formats.atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, poses=arrays["poses"].astype(np.float32), trans=arrays["trans"].astype(np.float32),
                         betas=np.zeros(bm.shape_size, np.float32), gender=np.array(gender),
                         mocap_framerate=np.array(float(config.fps)),
                         source_scaling=np.array(scaling, np.float32))
    return {"frames": len(poses), "fps": config.fps, "scaling": scaling, "floor_cm": offset, "output": str(out)}


def _export_model_x(name: str, motion: dict, step: int, gender: str, config: ExportConfig) -> dict:
    """``export_sequence`` for a SMPL-H / SMPL-X motion: every joint of the model, fingers included."""
    from aistpp.core.fast_body import EXTRA_POSE_KEYS, full_pose
    from aistpp.core.smplx_joints import JOINT_NAMES, parents
    from aistpp.pipeline.fit_smplx import load_model

    kind = motion_body_model(motion).name
    _, fk, _ = load_model(str(config.smpl_dir), kind, gender, "cpu")
    extras = {k: None if motion.get(k) is None else np.asarray(motion[k])[::step] for k in EXTRA_POSE_KEYS[kind]}
    pose = full_pose(kind, np.asarray(motion["smpl_poses"])[::step], **extras)  # (N, J, 3)
    trans = np.asarray(motion["smpl_trans"], np.float64)[::step]
    scaling = float(motion["smpl_scaling"][0])
    betas = motion.get("betas")
    expression = None if kind != "smplx" or motion.get("expression") is None else np.asarray(motion["expression"])
    with __import__("torch").no_grad():
        rest = fk.rest(fk.shape(betas))[0].cpu().numpy()
    offset = 0.0
    if config.floor:  # the lowest vertex over the sequence (expressions move the face only: left out)
        mesh = fk.with_all_vertices()
        offset = min(float(mesh.pose_numpy(pose[a:a + config.batch], trans[a:a + config.batch], scaling,
                                           betas)[:, fk.nj:, 1].min()) for a in range(0, len(pose), config.batch))
    flat = pose.reshape(len(pose), -1)
    arrays = export_arrays(flat, trans, scaling, rest, config.format, config.up, config.units, offset)
    out = output_path(name, config)
    if config.format == "bvh":
        write_bvh(out, bvh_text(arrays["rest"], arrays["root"], arrays["rotations"], config.fps, config.order,
                                names=JOINT_NAMES[kind], parents=parents(kind)))
    else:
        full = arrays["poses"].reshape(pose.shape)
        keys = {k: np.zeros((len(pose), 3)) if v is None else v for k, v in extras.items()}
        names = JOINT_NAMES[kind]
        for side in ("left", "right"):
            start = names.index(f"{side}_index1")
            keys[f"{side}_hand_pose"] = full[:, start:start + 15].reshape(len(pose), 45)
        if kind == "smplx":
            keys["expression"] = np.zeros((len(pose), fk.num_expression)) if expression is None else expression[::step]
        b = np.zeros(fk.num_betas) if betas is None else np.asarray(betas, np.float64)
        with formats.atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, poses=arrays["poses"].astype(np.float32), trans=arrays["trans"].astype(np.float32),
                         global_orient=full[:, 0].astype(np.float32),
                         body_pose=full[:, 1:22].reshape(len(pose), 63).astype(np.float32),
                         **{k: np.asarray(v, np.float32) for k, v in keys.items()},
                         betas=b.astype(np.float32), gender=np.array(gender), surface_model_type=np.array(kind),
                         mocap_framerate=np.array(float(config.fps)), source_scaling=np.array(scaling, np.float32))
    return {"frames": len(pose), "fps": config.fps, "scaling": scaling, "floor_cm": offset, "output": str(out)}


def run_export(config: ExportConfig) -> RunReport:
    from aistpp.core.dataset import AISTDataset

    if config.gender is not None:  # one error before any work; else each motion's own model
        require_smpl_model(config.smpl_dir, config.gender)
    names = AISTDataset(config.anno_dir).select_with("motions", config.sequence_names, config.split,
                                                     config.include_ignored)
    job = functools.partial(export_sequence, config=config)
    return run_jobs(job, names, config, outputs=lambda n: [output_path(n, config)], title=f"export {config.format}")
