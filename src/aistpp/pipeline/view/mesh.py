"""SMPL meshes for the page: posed in Python, sent as skinning, a few hundred KB a minute.

Sending every posed vertex would cost 41 KB a frame (6,890 x 3 int16), 150 MB a minute.
Instead the bone transforms are computed here, with smplx's own forward kinematics
(``smplx.lbs.batch_rigid_transform``), and the page skins the rest mesh on the CPU with them
(``static/viewer.js: skinFrame``), exactly as ``skin`` below does:

    world_v = sum_k w[v, k] * (s * R[n, b_k] @ rest_v + p[n, b_k])        (cm)

rest (V, 3) is the template with betas = 0 (the dataset's convention) scaled by nothing;
``s`` is ``smpl_scaling``; R[n, b] and p[n, b] = s * t[n, b] + smpl_trans[n] are bone b's
rotation and world offset at frame n; each vertex keeps its four largest skinning weights.
Not sent: SMPL's pose-corrective blend shapes. ``error_cm`` reports what that costs, the
worst vertex distance to smplx's full output over the frames checked.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.body import smpl_forward
from aistpp.pipeline.view.pack import pack, quantise, quaternion_to_rotation, read_quantised, rotation_to_quaternion, unpack

INFLUENCES = 4


def top_weights(weights: np.ndarray, k: int = INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """Skinning weights (V, B) -> the k largest per vertex: bone ids (V, k) uint8 and weights
    (V, k) uint8 summing to 255 (renormalised)."""
    w = np.asarray(weights, np.float64)
    idx = np.argsort(-w, axis=1)[:, :k]
    top = np.take_along_axis(w, idx, 1)
    top /= np.maximum(top.sum(1, keepdims=True), 1e-12)
    q = np.floor(top * 255).astype(np.int64)
    rest = 255 - q.sum(1)  # give the rounding remainder to the largest weight
    q[:, 0] += rest
    return idx.astype(np.uint8), q.astype(np.uint8)


def bone_transforms(model, poses: np.ndarray, trans: np.ndarray, scaling: float, batch: int = 1024):
    """smplx forward kinematics: bone rotations (N, B, 3, 3) and world offsets (N, B, 3) cm
    such that a rest vertex v bound to bone b lands at ``s * R @ v + p``."""
    import torch
    from smplx.lbs import batch_rigid_transform, batch_rodrigues, vertices2joints

    poses = np.asarray(poses, np.float32).reshape(len(poses), -1, 3)
    nb = poses.shape[1]
    s = float(np.asarray(scaling).reshape(-1)[0])
    rots, offs = [], []
    with torch.no_grad():
        rest_joints = vertices2joints(model.J_regressor, model.v_template[None])[0]  # (B, 3)
        for a in range(0, len(poses), batch):
            p = torch.from_numpy(poses[a:a + batch])
            n = len(p)
            rot = batch_rodrigues(p.reshape(-1, 3)).reshape(n, nb, 3, 3)
            _, A = batch_rigid_transform(rot, rest_joints.expand(n, -1, -1), model.parents, dtype=torch.float32)
            rots.append(A[..., :3, :3].numpy())
            offs.append(A[..., :3, 3].numpy() * s + np.asarray(trans[a:a + batch], np.float32)[:, None])
    return np.concatenate(rots), np.concatenate(offs)


def skin(rest: np.ndarray, bone_ids: np.ndarray, weights: np.ndarray, rotations: np.ndarray,
         offsets: np.ndarray, scale: float) -> np.ndarray:
    """Rest vertices (V, 3), bone ids / uint8 weights (V, 4), rotations (N, B, 3, 3), offsets
    (N, B, 3) cm -> world vertices (N, V, 3) cm (the page's skinning, in numpy)."""
    w = np.asarray(weights, np.float64) / 255.0
    out = np.zeros((len(rotations), len(rest), 3))
    for k in range(bone_ids.shape[1]):
        b = bone_ids[:, k].astype(np.int64)
        moved = scale * np.einsum("nvij,vj->nvi", rotations[:, b], rest) + offsets[:, b]
        out += w[None, :, k, None] * moved
    return out


def pack_mesh(model, motion: dict, check_frames: int = 120) -> dict:
    """A motion's SMPL mesh animation for the page (see the module docstring), with
    ``error_cm``: the worst vertex distance to smplx's vertices over ``check_frames`` frames
    spread over the sequence (what the page draws against the exact mesh), and ``lowest_cm``,
    the lowest vertex height over those frames."""
    poses, trans = motion["smpl_poses"], motion["smpl_trans"]
    scale = float(np.asarray(motion["smpl_scaling"]).reshape(-1)[0])
    rest = model.v_template.detach().cpu().numpy().astype(np.float64)
    ids, w = top_weights(model.lbs_weights.detach().cpu().numpy())
    R, p = bone_transforms(model, poses, trans, scale)
    mesh = {
        "frames": len(poses), "scale": scale,
        "rest": quantise(rest), "bone_ids": pack(ids), "weights": pack(w),
        "quaternions": pack(np.round(rotation_to_quaternion(R) * 32767).astype(np.int16)),
        "offsets": quantise(p),
    }
    n = len(poses)
    frames = np.unique(np.linspace(0, n - 1, min(n, check_frames)).round().astype(int)) if n else np.zeros(0, int)
    if len(frames):
        _, exact = smpl_forward(model, poses[frames], trans[frames], scale, vertices=True)
        drawn = unpack_mesh(mesh, frames)
        mesh["error_cm"] = float(np.sqrt(((drawn - exact) ** 2).sum(-1)).max())
        mesh["lowest_cm"] = float(exact[..., 1].min())  # the floor's height, as export --floor finds it
    else:
        mesh["error_cm"], mesh["lowest_cm"] = 0.0, None
    return mesh


def unpack_mesh(mesh: dict, frames: np.ndarray | None = None) -> np.ndarray:
    """World vertices (F, V, 3) cm of ``frames`` (default all) as the page computes them."""
    q = unpack(mesh["quaternions"]).astype(np.float64) / 32767
    p = read_quantised(mesh["offsets"])
    if frames is not None:
        q, p = q[frames], p[frames]
    R = quaternion_to_rotation(q)
    return skin(read_quantised(mesh["rest"]), unpack(mesh["bone_ids"]), unpack(mesh["weights"]), R, p, mesh["scale"])


def faces_of(model) -> np.ndarray:
    """The model's triangles (F, 3) as uint16 (SMPL has 6,890 vertices) or uint32."""
    f = np.asarray(model.faces, np.int64)
    return f.astype(np.uint16 if f.max() < 65535 else np.uint32)
