"""SMPL meshes for the page: posed in Python, sent as skinning, a few hundred KB a minute.

Sending every posed vertex would cost 41 KB a frame (6,890 x 3 int16), 150 MB a minute.
Instead the bone transforms are computed here, with smplx's own forward kinematics
(``smplx.lbs.batch_rigid_transform``), and the page skins the rest mesh on the CPU with them
(``static/viewer.js: skinFrame``), exactly as ``skin`` below does:

    world_v = sum_k w[v, k] * (s * R[n, b_k] @ rest_v + p[n, b_k])        (cm)

rest_v = template_v + sum_c coeff[n, c] * corrective[c, v]            (cm, body units)

The template has betas = 0 (the dataset's convention); ``s`` is ``smpl_scaling``; R[n, b] and
p[n, b] = s * t[n, b] + smpl_trans[n] are bone b's rotation and world offset at frame n; each
vertex keeps its four largest skinning weights. SMPL's pose-corrective blend shapes
(``posedirs`` times the 9 (J - 1) pose features, linear, exact) are sent as their principal
components over the sequence, as few as keep every vertex within ``CORRECTIVE_TOLERANCE`` of
them on the frames checked (none for a model without them, like synth's). ``error_cm``
reports the worst vertex distance to smplx's full output over the frames checked.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.body import smpl_forward
from aistpp.pipeline.view.pack import pack, quantise, quaternion_to_rotation, read_quantised, rotation_to_quaternion, unpack

INFLUENCES = 4
CORRECTIVE_TOLERANCE = 0.2  # cm
MAX_CORRECTIVES = 48


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


def pose_features(poses: np.ndarray) -> np.ndarray:
    """The pose features (N, 9 (J - 1)) of poses (N, 3 J): the non-root joints' (R - I),
    flattened as smplx does (SMPL: 23 joints)."""
    import torch
    from smplx.lbs import batch_rodrigues

    p = torch.from_numpy(np.asarray(poses, np.float32).reshape(len(poses), -1, 3))
    rot = batch_rodrigues(p.reshape(-1, 3)).reshape(len(p), -1, 3, 3)
    return (rot[:, 1:] - torch.eye(3)).reshape(len(p), -1).numpy().astype(np.float64)


def corrective_components(features: np.ndarray, posedirs: np.ndarray, check: np.ndarray,
                          tolerance: float = CORRECTIVE_TOLERANCE, most: int = MAX_CORRECTIVES):
    """Principal components of the pose correctives ``features @ posedirs`` (N, V*3) without
    forming them: with posedirs posedirs^T = V L V^T (P x P), posedirs^T = Q R where
    R = L^1/2 V^T and Q = posedirs^T V L^-1/2 has orthonormal columns, so the correctives are
    (F R^T) Q^T and their components are Q times the right singular vectors of F R^T (N, P).

    features (N, P), posedirs (P, V*3) -> components (K, V*3), coefficients (N, K): the fewest
    K whose reconstruction keeps every vertex of the frames ``check`` within ``tolerance`` (in
    the model's units)."""
    if not np.any(posedirs):
        return np.zeros((0, posedirs.shape[1])), np.zeros((len(features), 0))
    lam, vec = np.linalg.eigh(posedirs @ posedirs.T)  # (P,), (P, P): cheaper than a QR of (D, P)
    keep = lam > lam.max() * 1e-12
    lam, vec = lam[keep], vec[:, keep]
    R = np.sqrt(lam)[:, None] * vec.T  # (r, P)
    Q = posedirs.T @ (vec / np.sqrt(lam))  # (D, r)
    small = features @ R.T  # (N, P)
    _, sv, wt = np.linalg.svd(small[check], full_matrices=False)
    exact = small[check] @ Q.T  # (C, D)

    def good(k: int) -> bool:
        approx = (small[check] @ wt[:k].T @ wt[:k]) @ Q.T
        return np.sqrt(((approx - exact).reshape(len(check), -1, 3) ** 2).sum(-1)).max() <= tolerance

    lo, hi = 0, min(most, len(sv))  # the fewest k that is good (the error falls as k grows): bisection
    if not good(hi):
        lo = hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if good(mid) else (mid, hi)
    k = hi
    comps = (Q @ wt[:k].T).T  # (K, D), orthonormal rows
    return comps, small @ wt[:k].T


def skin(rest: np.ndarray, bone_ids: np.ndarray, weights: np.ndarray, rotations: np.ndarray,
         offsets: np.ndarray, scale: float, correctives: np.ndarray | None = None) -> np.ndarray:
    """Rest vertices (V, 3), bone ids / uint8 weights (V, 4), rotations (N, B, 3, 3), offsets
    (N, B, 3) cm, per-frame corrective offsets (N, V, 3) or None -> world vertices (N, V, 3) cm
    (the page's skinning, in numpy)."""
    w = np.asarray(weights, np.float64) / 255.0
    out = np.zeros((len(rotations), len(rest), 3))
    posed = rest[None] + (correctives if correctives is not None else 0.0)
    for k in range(bone_ids.shape[1]):
        b = bone_ids[:, k].astype(np.int64)
        moved = scale * np.einsum("nvij,nvj->nvi", rotations[:, b], np.broadcast_to(posed, (len(rotations),) + rest.shape)) + offsets[:, b]
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
    n = len(poses)
    frames = np.unique(np.linspace(0, n - 1, min(n, check_frames)).round().astype(int)) if n else np.zeros(0, int)
    posedirs = model.posedirs.detach().cpu().numpy().astype(np.float64)  # (9 (J - 1), V*3)
    # the correctives are in body units (metres for SMPL); the tolerance is in world cm
    comps, coeffs = corrective_components(pose_features(poses), posedirs, frames, CORRECTIVE_TOLERANCE / scale) if n else (np.zeros((0, 1)), np.zeros((0, 0)))
    c_step = np.maximum(np.abs(comps).max(1), 1e-12) / 32767 if len(comps) else np.zeros(0)
    k_step = np.maximum(np.abs(coeffs).max(0), 1e-12) / 32767 if len(comps) else np.zeros(0)
    mesh = {
        "frames": n, "scale": scale,
        "rest": quantise(rest), "bone_ids": pack(ids), "weights": pack(w),
        "quaternions": pack(np.round(rotation_to_quaternion(R) * 32767).astype(np.int16)),
        "offsets": quantise(p),
        "correctives": len(comps), "corrective_step": c_step.tolist(), "coeff_step": k_step.tolist(),
        "corrective_codes": pack(np.round(comps / c_step[:, None]).astype(np.int16) if len(comps) else np.zeros((0, 0), np.int16)),
        "coeff_codes": pack(np.round(coeffs / k_step).astype(np.int16) if len(comps) else np.zeros((n, 0), np.int16)),
    }
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
    frames = np.arange(mesh["frames"]) if frames is None else np.asarray(frames)
    rest = read_quantised(mesh["rest"])
    corr = None
    if mesh["correctives"]:
        comps = unpack(mesh["corrective_codes"]) * np.asarray(mesh["corrective_step"])[:, None]
        coeffs = unpack(mesh["coeff_codes"])[frames] * np.asarray(mesh["coeff_step"])
        corr = (coeffs @ comps).reshape(len(frames), -1, 3)
    R = quaternion_to_rotation(q[frames])
    return skin(rest, unpack(mesh["bone_ids"]), unpack(mesh["weights"]), R, p[frames], mesh["scale"], corr)


def faces_of(model) -> np.ndarray:
    """The model's triangles (F, 3) as uint16 (SMPL has 6,890 vertices) or uint32."""
    f = np.asarray(model.faces, np.int64)
    return f.astype(np.uint16 if f.max() < 65535 else np.uint32)
