"""Posing SMPL-H and SMPL-X ourselves: every joint and selected vertices (or all of them).

``BodyFK(data, kind)`` evaluates what ``smplx.SMPLH`` / ``smplx.SMPLX`` evaluate (shape and
expression blend shapes, joint regression, pose correctives, forward kinematics along the
file's tree, linear blend skinning) with full hand poses (``use_pca=False``,
``flat_hand_mean=True``) and the dataset's convention: world = scaling x body + trans (cm).
Torch, differentiable, float64 by default. ``body_view(data, kind)`` is the model seen as
SMPL's 24-joint skeleton (each hand one joint) for the unchanged COCO-17 body fit.

Pose layout (``full_pose``): (N, J, 3) axis-angle in the model files' joint order
(``smplx_joints.JOINT_NAMES``), assembled from AIST++'s ``smpl_poses`` (N, ``SMPL.pose_size``: the
22 body joints, then SMPL's two hand joints, unused here) and smplx's extra keys.
"""

from __future__ import annotations

import numpy as np
import torch

from aistpp.core.fast_smpl import _dense, _mm, axis_angle_to_matrix
from aistpp.core.body_models.smpl import SMPL
from aistpp.core.smplx_joints import JOINT_NAMES, SMPLX55, VERTEX_IDS

SHAPE_SPACE = 300  # smplx: files with fewer shape directions give at most 10 betas
EXPRESSION_SPACE = 100
EXTRA_POSE_KEYS = {"smplh": ("left_hand_pose", "right_hand_pose"),
                   "smplx": ("jaw_pose", "leye_pose", "reye_pose", "left_hand_pose", "right_hand_pose")}
_POSE_JOINTS = {"jaw_pose": ("jaw",), "leye_pose": ("left_eye_smplhf",), "reye_pose": ("right_eye_smplhf",),
                "left_hand_pose": 15, "right_hand_pose": 15}


def shape_columns(kind: str, num_dirs: int, num_betas: int, num_expression: int) -> tuple[slice, slice]:
    """Which ``shapedirs`` columns are betas and which expressions (smplx's rule)."""
    nb = min(num_betas, 10 if num_dirs < SHAPE_SPACE else SHAPE_SPACE)
    if kind != "smplx":
        return slice(0, nb), slice(0, 0)
    start = 10 if num_dirs < SHAPE_SPACE + EXPRESSION_SPACE else SHAPE_SPACE
    ne = min(num_expression, 10 if start == 10 else EXPRESSION_SPACE)
    return slice(0, nb), slice(start, start + ne)


def full_pose(kind: str, smpl_poses: np.ndarray, **extra: np.ndarray) -> np.ndarray:
    """(N, J, 3) axis-angle from ``smpl_poses`` (N, ``SMPL.pose_size``) and the extra keys
    (``left_hand_pose`` (N, 45) ..., missing ones zero)."""
    names = JOINT_NAMES[kind]
    p = np.asarray(smpl_poses, np.float64).reshape(len(smpl_poses), -1, 3)
    out = np.zeros((len(p), len(names), 3))
    out[:, :22] = p[:, :22]
    for key in EXTRA_POSE_KEYS[kind]:
        if extra.get(key) is None:
            continue
        value = np.asarray(extra[key], np.float64).reshape(len(p), -1, 3)
        if key.endswith("hand_pose"):
            side = key.split("_")[0]
            start = names.index(f"{side}_index1")
            out[:, start:start + 15] = value
        else:
            out[:, names.index(_POSE_JOINTS[key][0])] = value[:, 0]
    return out


def split_pose(kind: str, pose: np.ndarray) -> dict:
    """Inverse of ``full_pose``: ``smpl_poses`` (N, ``SMPL.pose_size``; SMPL's hand slots zero) and
    the extra keys."""
    names = JOINT_NAMES[kind]
    n = len(pose)
    body = np.zeros((n, SMPL.num_joints, 3))
    body[:, :22] = pose[:, :22]
    out = {"smpl_poses": body.reshape(n, -1)}
    for key in EXTRA_POSE_KEYS[kind]:
        if key.endswith("hand_pose"):
            start = names.index(f"{key.split('_')[0]}_index1")
            out[key] = pose[:, start:start + 15].reshape(n, 45)
        else:
            out[key] = pose[:, names.index(_POSE_JOINTS[key][0])].copy()
    return out


class BodyFK:
    """SMPL-H / SMPL-X joints (J) plus the vertices ``vertex_ids`` (default smplx's 21 vertex
    joints), agreeing with ``smplx``'s forward pass. ``data``: ``smplx_files.load_model_data``."""

    def __init__(self, data: dict, kind: str, vertex_ids=None, num_betas: int = 10, num_expression: int = 10,
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"):
        self.kind = kind
        vids = np.asarray(VERTEX_IDS[kind] if vertex_ids is None else vertex_ids, dtype=np.int64)
        sd = _dense(data["shapedirs"])
        bcols, ecols = shape_columns(kind, sd.shape[2], num_betas, num_expression)
        self.num_betas, self.num_expression = bcols.stop, ecols.stop - ecols.start
        dirs = np.concatenate([sd[:, :, bcols], sd[:, :, ecols]], axis=2)  # (V, 3, B + E)
        v_template = _dense(data["v_template"])
        jreg = data["J_regressor"]
        jreg = jreg.tocsr() if hasattr(jreg, "tocsr") else np.asarray(jreg, np.float64)
        nv, nj = v_template.shape[0], jreg.shape[0]
        kw = dict(dtype=dtype, device=device)
        self.nj, self.vertex_ids = nj, tuple(int(v) for v in vids)
        self.parents = np.asarray(data["kintree_table"])[0].astype(np.int64)
        self.parents[0] = -1
        self.j_template = torch.as_tensor(np.asarray(jreg @ v_template), **kw)
        self.j_dirs = torch.as_tensor(np.asarray(jreg @ dirs.reshape(nv, -1)).reshape(nj, 3, -1), **kw)
        self._all = dict(v_template=v_template, dirs=dirs, posedirs=_dense(data["posedirs"]),
                         weights=_dense(data["weights"]), faces=np.asarray(data["f"], np.int64))
        self.dtype, self.device = dtype, torch.device(device)
        self._select(vids)

    def _select(self, vids: np.ndarray) -> None:
        kw = dict(dtype=self.dtype, device=self.device)
        a = self._all
        self.v_template = torch.as_tensor(a["v_template"][vids], **kw)
        self.v_dirs = torch.as_tensor(a["dirs"][vids], **kw)
        self.v_posedirs = torch.as_tensor(a["posedirs"][vids].reshape(len(vids) * 3, -1).T.copy(), **kw)
        self.weights = torch.as_tensor(a["weights"][vids], **kw)

    @property
    def faces(self) -> np.ndarray:
        return self._all["faces"]

    def with_all_vertices(self) -> "BodyFK":
        """A copy whose points are the joints and every vertex (for meshes)."""
        import copy

        other = copy.copy(self)
        other.vertex_ids = tuple(range(len(self._all["v_template"])))
        other._select(np.arange(len(self._all["v_template"])))
        return other

    def shape(self, betas=None, expression=None) -> torch.Tensor | None:
        """(B + E,) shape components, or None (all zero)."""
        if betas is None and expression is None:
            return None
        kw = dict(dtype=self.dtype, device=self.device)
        out = torch.zeros(self.num_betas + self.num_expression, **kw)
        if betas is not None:
            b = torch.as_tensor(betas, **kw).reshape(-1)[: self.num_betas]
            out[: len(b)] = b
        if expression is not None and self.num_expression:
            e = torch.as_tensor(expression, **kw).reshape(-1)[: self.num_expression]
            out[self.num_betas:self.num_betas + len(e)] = e
        return out

    def rest(self, shape: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest joints (J, 3) and rest vertices (K, 3), metres."""
        if shape is None:
            return self.j_template, self.v_template
        return self.j_template + self.j_dirs @ shape, self.v_template + self.v_dirs @ shape

    def forward_matrices(self, rot: torch.Tensor, shape: torch.Tensor | None = None,
                         parts: bool = False):
        """Body-frame points (N, J + K, 3) m from local rotations (N, J, 3, 3); with ``parts``
        also the global rotations ``Rg`` (N, J, 3, 3), joint positions ``tg`` (N, J, 3), the
        vertices with pose correctives ``v_posed`` (N, K, 3) and the joints' skinning
        translations ``t_rel`` (N, J, 3) (a vertex carried by joint k alone: Rg_k v_posed + t_rel_k)."""
        J, V = self.rest(shape)
        r = rot.permute(1, 2, 3, 0)  # (J, 3, 3, N): frames last, 3x3 products elementwise
        n = r.shape[-1]
        rel = torch.cat([J[:1], J[1:] - J[self.parents[1:]]])
        Rg, tg = [r[0]], [J[0][:, None].expand(3, n)]
        for i in range(1, self.nj):
            p = self.parents[i]
            Rg.append(_mm(Rg[p], r[i]))
            tg.append(_mm(Rg[p], rel[i][:, None].expand(3, n)) + tg[p])
        Rg_all, tg_all = torch.stack(Rg), torch.stack(tg)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)[:, :, None]
        feat = (r[1:] - eye).permute(3, 0, 1, 2).reshape(n, -1)
        v_posed = V[:, :, None] + (feat @ self.v_posedirs).T.reshape(-1, 3, n)
        t_rel = tg_all - (Rg_all * J[:, None, :, None]).sum(2)
        k = len(self.vertex_ids)
        Rb = (self.weights @ Rg_all.reshape(self.nj, -1)).reshape(k, 3, 3, n)
        tb = (self.weights @ t_rel.reshape(self.nj, -1)).reshape(k, 3, n)
        verts = (Rb * v_posed[:, None]).sum(2) + tb
        points = torch.cat([tg_all, verts]).permute(2, 0, 1)
        if parts:
            return (points, Rg_all.permute(3, 0, 1, 2), tg_all.permute(2, 0, 1), v_posed.permute(2, 0, 1),
                    t_rel.permute(2, 0, 1))
        return points

    def forward(self, pose: torch.Tensor, trans: torch.Tensor, scaling, betas=None, expression=None) -> torch.Tensor:
        """World points (N, J + K, 3) cm from ``pose`` (N, J, 3) rad, trans (N, 3) cm, scaling."""
        rot = axis_angle_to_matrix(pose.reshape(len(pose), self.nj, 3))
        return self.forward_matrices(rot, self.shape(betas, expression)) * scaling + trans[:, None]

    __call__ = forward

    def pose_numpy(self, pose: np.ndarray, trans: np.ndarray, scaling, betas=None, expression=None,
                   batch: int = 1024) -> np.ndarray:
        """``forward`` on numpy arrays, batched, no gradients: (N, J + K, 3) cm."""
        out = []
        kw = dict(dtype=self.dtype, device=self.device)
        s = float(np.asarray(scaling).reshape(-1)[0])
        with torch.no_grad():
            for a in range(0, len(pose), batch):
                p = torch.as_tensor(np.asarray(pose[a:a + batch], np.float64), **kw)
                t = torch.as_tensor(np.asarray(trans[a:a + batch], np.float64), **kw)
                out.append(self.forward(p, t, s, betas, expression).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.nj + len(self.vertex_ids), 3))


def body_view(data: dict, kind: str) -> dict:
    """The model as a file of ``SMPL``'s layout (its joints, its vertex ids for the face and feet
    landmarks): joints 0-21 as they are, each SMPL hand joint at its middle finger's first joint
    carrying all of the hand's weights, the jaw's and eyes' weights on the head, pose correctives
    of joints 1-21 (exact while hands, jaw and eyes are at rest). ``SMPL.poser`` poses it exactly
    like ``BodyFK`` poses the model with those at rest."""
    from aistpp.core.smplx_joints import VERTEX_IDS as VIDS

    names = JOINT_NAMES[kind]
    hand = {"left": SMPL.index("left_hand"), "right": SMPL.index("right_hand")}
    W = _dense(data["weights"])
    w24 = np.zeros((len(W), SMPL.num_joints))
    w24[:, :22] = W[:, :22]
    for j, name in enumerate(names[22:], start=22):
        col = SMPL.index("head") if name in SMPLX55[22:25] else hand[name.split("_", 1)[0]]
        w24[:, col] += W[:, j]
    jreg = data["J_regressor"]
    jreg = jreg.toarray() if hasattr(jreg, "toarray") else np.asarray(jreg, np.float64)
    rows = list(range(22)) + [names.index("left_middle1"), names.index("right_middle1")]
    pd = _dense(data["posedirs"])
    posedirs = np.concatenate([pd[:, :, : 21 * 9], np.zeros((len(W), 3, SMPL.pose_blend_size - 21 * 9))], axis=2)
    out = {"v_template": _dense(data["v_template"]), "J_regressor": jreg[rows], "weights": w24,
           "posedirs": posedirs, "shapedirs": _dense(data["shapedirs"])[:, :, :SMPL.shape_size],
           "kintree_table": np.stack([SMPL.parent_array, np.arange(SMPL.num_joints)]), "f": np.asarray(data["f"])}
    if VIDS[kind] != VIDS["smplh"]:  # SMPL-X: move its vertex joints to SMPL's ids
        order = np.arange(len(W))
        src, dst = np.array(VIDS[kind]), np.array(VIDS["smplh"])
        order[dst] = src
        order[np.setdiff1d(np.arange(len(W)), dst)] = np.setdiff1d(np.arange(len(W)), src)
        for key in ("v_template", "weights", "posedirs", "shapedirs"):
            out[key] = out[key][order]
        out["J_regressor"] = out["J_regressor"][:, order]
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        out["f"] = inv[out["f"]]
    return out
