"""``fit-smpl --model smplh|smplx``: the body fit on the model's body, then wrists and fingers.

Stage one is the SMPL fit unchanged (``fit_smpl.fit_smpl``), run on the model seen as SMPL's
24-joint skeleton (``fast_body.body_view``: exact while hands, jaw and eyes are at rest).
Stage two (``fit_hands``) fits wrists and fingers where the keypoints3d file carries hand
points (``keypoints3d_full(_optim)`` in a joint set with WholeBody hands: ``wholebody133``,
``halpe136``). Jaw, eyes and expression stay at zero (no face keypoints are fitted).

The motion written keeps the AIST++ layout (``smpl_poses`` (N, SMPL's pose size): the 22 body joints, wrists
included, then SMPL's two hand joints at zero; ``smpl_trans``; ``smpl_scaling``) and adds the
model's own keys as ``smplx`` names them: ``left_hand_pose`` / ``right_hand_pose`` (N, 45) full
axis-angle of the 15 finger joints (``use_pca=False, flat_hand_mean=True``), for SMPL-X
``jaw_pose``, ``leye_pose``, ``reye_pose`` (N, 3) and ``expression`` (N, 10), ``betas`` (B,), and
``body_model`` ("smplh" / "smplx").
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from aistpp.core.joint_sets import HANDS42, REGISTRY, index_map
from aistpp.errors import AistppError

HAND_SETS = tuple(name for name, s in REGISTRY.items() if set(HANDS42) <= set(s.names))


def hand_targets(data: dict, keypoints: str, path: Path | None = None) -> np.ndarray | None:
    """(N, 42, 3) cm: the WholeBody hand points (left 21, right 21) of a keypoints3d file, from
    ``keypoints3d_full_optim`` (``keypoints`` "optim", when present) or ``keypoints3d_full``;
    None when the file's ``joint_set`` has no hands."""
    key = "keypoints3d_full_optim" if keypoints == "optim" and "keypoints3d_full_optim" in data else "keypoints3d_full"
    if key not in data or data.get("joint_set") not in HAND_SETS:
        return None
    full = np.asarray(data[key], np.float64)
    names = REGISTRY[data["joint_set"]].names
    if full.ndim != 3 or full.shape[1:] != (len(names), 3) or len(full) != len(data["keypoints3d"]):
        raise AistppError(f"'{key}' has shape {full.shape}, expected ({len(data['keypoints3d'])}, {len(names)}, 3) "
                          f"for joint set {data['joint_set']}", path)
    return full[:, index_map(names, HANDS42)]


@functools.lru_cache(maxsize=4)
def load_model(smpl_dir: str, kind: str, gender: str, device: str):
    """(model dict, ``BodyFK``, ``FastSMPL`` of its body view) of ``<smpl_dir>/<KIND>_<GENDER>.npz|pkl``."""
    from aistpp.core.fast_body import BodyFK, body_view
    from aistpp.core.fast_smpl import FastSMPL
    from aistpp.core.smplx_files import load_model_data, model_file

    data = load_model_data(model_file(smpl_dir, kind, gender), kind)
    return data, BodyFK(data, kind, device=device), FastSMPL(body_view(data, kind), device=device)


def fit_extras(kind: str, fk, res: dict, hands: np.ndarray | None, weights=None,
               iterations: int = 10) -> tuple[dict, dict]:
    """Stage two on a body fit ``res`` (``fit_smpl``'s result): the motion's keys (see the module
    docstring; ``smpl_poses`` with the fitted wrists) and metrics (``hand_error_cm`` per point,
    ``hand_frames``)."""
    from aistpp.core.fast_body import full_pose, split_pose
    from aistpp.pipeline.fit_hands import fit_hands

    n = len(res["smpl_poses"])
    betas = res.get("smpl_betas")
    pose = full_pose(kind, res["smpl_poses"])
    info: dict = {"hand_frames": 0}
    if hands is not None and np.isfinite(hands).any():
        out = fit_hands(fk, pose, res["smpl_trans"], float(res["smpl_scaling"][0]), hands, weights,
                        betas=betas, iterations=iterations)
        pose = out["pose"]
        info.update(hand_error_cm=out["hand_error_cm"], hand_frames=int(np.isfinite(hands).all(-1).any(-1).sum()))
    keys = split_pose(kind, pose)
    motion = {k: v.astype(np.float32) for k, v in keys.items()}
    if kind == "smplx":
        motion["expression"] = np.zeros((n, fk.num_expression), np.float32)
    b = np.zeros(fk.num_betas, np.float32)
    if betas is not None:
        b[: min(len(betas), fk.num_betas)] = betas[: fk.num_betas]
    motion["betas"] = b
    if not all(np.isfinite(v).all() for v in motion.values()):
        raise AistppError("the hand fit diverged (NaN or inf poses): nothing was written")
    return motion, info
