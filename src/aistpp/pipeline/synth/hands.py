"""Synthetic hand motion and COCO-WholeBody hand keypoints, with ground truth.

``make_hand_motion`` gives each hand smooth, varied finger motion: every finger joint curls
about its own bend axis (towards the palm) by a drifting amount (fists, open hands, pointing,
each finger on its own timing), with a little sideways spread and twist, and the wrists
flex and deviate. ``hand_keypoints`` reads the 42 WholeBody hand points (left hand then right,
``joint_sets.HANDS42``'s order) off a posed SMPL-H / SMPL-X model: the wrist and finger joints,
and the fingertip vertices.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.smplx_joints import JOINT_NAMES, MANO_FINGERS, SIDES, hand_index

FPS = 60


def _smooth_noise(n: int, rng, fps: float, period_s: tuple[float, float], count: int) -> np.ndarray:
    """(n, count) smooth curves in [-1, 1]: a sum of a few random sinusoids per column."""
    t = np.arange(n)[:, None] / fps
    out = np.zeros((n, count))
    for _ in range(3):
        freq = 1.0 / rng.uniform(*period_s, count)
        out += np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi, count))
    return out / 3.0


def bend_axes(kind: str, rest_joints: np.ndarray) -> np.ndarray:
    """(2, 15, 3) unit axes (left, right hand; model finger order) about which a positive angle
    curls each finger joint towards the palm (the palm faces -y in the rest pose)."""
    names = JOINT_NAMES[kind]
    out = np.zeros((2, 15, 3))
    for s, side in enumerate(SIDES):
        for f, finger in enumerate(MANO_FINGERS):
            for k in range(3):
                j = names.index(f"{side}_{finger}{k + 1}")
                c = j + 1 if k < 2 else j  # the last joint: the direction of the one before
                p = j if k < 2 else j - 1
                d = rest_joints[c] - rest_joints[p]
                axis = np.cross(d, [0.0, -1.0, 0.0])
                out[s, 3 * f + k] = axis / np.linalg.norm(axis)
    return out


def make_hand_motion(num_frames: int, rng, rest_joints: np.ndarray, kind: str, fps: float = FPS) -> dict:
    """Hand poses for ``num_frames``: ``left_hand_pose``, ``right_hand_pose`` (N, 45) rad (full
    rotations of the 15 finger joints, model order) and ``wrists`` (N, 2, 3) rad (left, right;
    to put into smpl_poses' joints 20 and 21). ``rest_joints`` (J, 3): the model's rest joints."""
    axes = bend_axes(kind, rest_joints)
    out = {}
    wrists = np.zeros((num_frames, 2, 3))
    for s, side in enumerate(SIDES):
        curl = 0.5 + 0.5 * _smooth_noise(num_frames, rng, fps, (1.0, 4.0), 5)  # per finger, 0..1
        own = 0.15 * _smooth_noise(num_frames, rng, fps, (0.7, 2.5), 15)
        top = np.array([1.4, 1.5, 1.1])  # rad at full curl: joint 1, 2, 3
        angles = np.clip(np.repeat(curl, 3, axis=1) * np.tile(top, 5) + own, -0.1, 1.7)  # (N, 15)
        angles[:, 12:15] *= 0.6  # the thumb curls less
        pose = angles[:, :, None] * axes[s][None]
        spread = 0.12 * _smooth_noise(num_frames, rng, fps, (1.0, 3.0), 5)
        for f in range(5):  # sideways (about the palm normal) at each finger's first joint
            pose[:, 3 * f, 1] += spread[:, f]
        out[f"{side}_hand_pose"] = pose.reshape(num_frames, 45)
        sign = 1.0 if side == "left" else -1.0
        w = _smooth_noise(num_frames, rng, fps, (1.0, 3.0), 3)
        wrists[:, s] = np.stack([0.25 * w[:, 0], 0.3 * w[:, 1], sign * 0.5 * w[:, 2]], 1)
    out["wrists"] = wrists
    return out


def hand_keypoints(points: np.ndarray, kind: str) -> np.ndarray:
    """(N, 42, 3): the WholeBody hand points (left 21, right 21) from ``BodyFK`` output
    ``points`` (N, J + 21, 3) (joints, then smplx's 21 vertex joints)."""
    idx = np.concatenate([hand_index(kind, side) for side in SIDES])
    return points[:, idx]


def model_keypoints(points: np.ndarray, kind: str, set_name: str) -> np.ndarray:
    """(N, J_set, 3): joint set ``set_name``'s points read off ``BodyFK`` output ``points``
    (N, J + 21, 3): the points the model has by name (COCO-17's, the feet's) and the WholeBody
    hands; NaN for the rest (e.g. the 68 face points)."""
    from aistpp.core.joint_sets import HANDS42, REGISTRY
    from aistpp.core.smplx_joints import output_names

    names = REGISTRY[set_name].names
    have = {n: i for i, n in enumerate(output_names(kind)[: points.shape[1]])}
    hands = dict(zip(HANDS42, np.concatenate([hand_index(kind, side) for side in SIDES])))
    out = np.full((len(points), len(names), 3), np.nan)
    for k, name in enumerate(names):
        i = hands.get(name, have.get(name))
        if i is not None:
            out[:, k] = points[:, i]
    return out


def hand_sequence(smpl_dir, kind: str, motion: dict, rng) -> dict:
    """A synthetic sequence's motion with hands, posed by the synthetic ``kind`` model in
    ``smpl_dir`` (``<KIND>_NEUTRAL``): ``motion`` (the input's keys with the wrists of
    ``smpl_poses`` moved, plus the model's pose keys and ``body_model``), ``points45`` (N, 45, 3)
    cm in ``smplx.SMPL``'s output order (what synth reads COCO-17 and the feet from; each hand
    joint: the middle finger's first joint) and ``wholebody`` (N, 133, 3) cm, WholeBody-133
    (face points NaN)."""
    from aistpp.core.fast_body import BodyFK, full_pose, split_pose
    from aistpp.core.body_models import SMPL
    from aistpp.core.smplx_files import load_model_data, model_file
    from aistpp.core.smplx_joints import output_names

    data = load_model_data(model_file(smpl_dir, kind, "neutral"), kind)
    fk = BodyFK(data, kind)
    n = len(motion["smpl_poses"])
    hands = make_hand_motion(n, rng, fk.rest()[0].cpu().numpy(), kind)
    pose = full_pose(kind, motion["smpl_poses"], **hands)
    pose[:, 20], pose[:, 21] = hands["wrists"][:, 0], hands["wrists"][:, 1]
    points = fk.pose_numpy(pose, motion["smpl_trans"], motion["smpl_scaling"])
    names = output_names(kind)
    alias = {"left_hand": "left_middle1", "right_hand": "right_middle1"}
    points45 = points[:, [names.index(alias.get(n, n)) for n in SMPL.output_names]]
    keys = split_pose(kind, pose)
    out = dict(motion)
    out["smpl_poses"] = keys.pop("smpl_poses").astype(np.float32)
    out.update({k: v.astype(np.float32) for k, v in keys.items()}, body_model=kind, betas=np.zeros(10, np.float32))
    if kind == "smplx":
        out["expression"] = np.zeros((n, 10), np.float32)
    return {"motion": out, "points45": points45, "wholebody": model_keypoints(points, kind, "wholebody133")}


def hand_detections(rig, wholebody: np.ndarray, missing: np.ndarray, rng, noise_px: float = 2.0) -> np.ndarray:
    """(V, N, 133, 3) float32 WholeBody-133 detections: projections with Gaussian pixel noise,
    confidence 0.9; NaN for the face points, points outside the image and ``missing`` (V, N) frames."""
    px = rig.project(wholebody)  # (V, N, 133, 2)
    px = px + rng.normal(0, noise_px, px.shape)
    w, h = rig.sizes[:, 0][:, None, None], rig.sizes[:, 1][:, None, None]
    inside = (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
    ok = inside & np.isfinite(px).all(-1) & ~np.asarray(missing, bool)[:, :, None]
    out = np.concatenate([px, np.full(px.shape[:-1] + (1,), 0.9)], -1)
    out[~ok] = np.nan
    return out.astype(np.float32)
