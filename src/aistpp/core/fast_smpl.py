"""Fast posing for fitting: a body model's skeleton joints and a few skinned vertices, nothing else.

Fitting SMPL to COCO-17 keypoints needs only the skeleton joints and the handful of vertices
that carry the face keypoints (nose, eyes, ears): the landmarks the joint set observes
(``BodyModel.observed_vertices``). This module precomputes, from the model dict
(``BodyModel.load_data``), the rows of the model that those points depend on, and evaluates
exactly what ``smplx.SMPL`` evaluates for them: shape blend shapes (``smplx.lbs.blend_shapes``),
joint regression, pose blend shapes (``posedirs``), forward kinematics and linear blend skinning.
The dataset's convention is applied: world = scaling x body + trans (cm).

Why not ``smplx.lbs.batch_rigid_transform`` for the kinematics: it chains 4 x 4 transforms with
one batched matmul per joint over (N, 4, 4) frames-first blocks, and returns only the posed joints
and the relative transforms. The fit needs, per iteration and for every frame at once, the global
rotations, posed joints, pose-blended vertices and skinning translations (its analytic Jacobians
use them), and 3 x 3 products written elementwise over a frames-last axis are several times faster
on CPU for thousands of frames. ``tests/test_fit_smpl.py`` checks the result against
``smplx.SMPL``'s full forward.

Everything is differentiable torch; use float64 for optimisation.
"""

from __future__ import annotations

import numpy as np
import torch

from smplx.lbs import blend_shapes

from aistpp.core.body_models import SMPL, BodyModel

# The vertices read by COCO-17's face keypoints (SMPL's landmarks nose, eyes, ears).
COCO_VERTEX_IDS = SMPL.observed_vertices("coco17")


def _dense(a) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float64)


def axis_angle_to_matrix(r: torch.Tensor) -> torch.Tensor:
    """Rodrigues: (..., 3) axis-angle (rad) -> (..., 3, 3) rotation; smooth (and exact) at 0.

    R = I + a [r]x + b [r]x^2 with a = sin t / t, b = (1 - cos t) / t^2, and
    [r]x^2 = r r^T - t^2 I; elementwise (no tiny batched matmuls).
    """
    t2 = (r * r).sum(-1)[..., None, None]  # (..., 1, 1)
    small = t2 < 1e-10
    t2s = torch.where(small, torch.ones_like(t2), t2)
    t = torch.sqrt(t2s)
    a = torch.where(small, 1 - t2 / 6, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24, (1 - torch.cos(t)) / t2s)
    x, y, z = r.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*r.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=r.dtype, device=r.device)
    return (1 - b * t2) * eye + a * K + b * (r[..., :, None] * r[..., None, :])


def axis_angle_to_matrix_fl(r: torch.Tensor) -> torch.Tensor:
    """Frames-last Rodrigues: (..., 3, N) axis-angle (rad) -> (..., 3, 3, N) rotations."""
    t2 = (r * r).sum(-2)[..., None, None, :]  # (..., 1, 1, N)
    small = t2 < 1e-10
    t2s = torch.where(small, torch.ones_like(t2), t2)
    t = torch.sqrt(t2s)
    a = torch.where(small, 1 - t2 / 6, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24, (1 - torch.cos(t)) / t2s)
    x, y, z = r.unbind(-2)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -2).reshape(*r.shape[:-2], 3, 3, r.shape[-1])
    eye = torch.eye(3, dtype=r.dtype, device=r.device)[:, :, None]
    return (1 - b * t2) * eye + a * K + b * (r[..., :, None, :] * r[..., None, :, :])


def _mm(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Frame-last products: A (3, 3, N) @ B (3, 3, N) -> (3, 3, N) (or B (3, N) -> (3, N))."""
    if B.dim() == 2:
        return (A * B[None]).sum(1)
    return (A[:, :, None] * B[None]).sum(1)


class FastSMPL:
    """A body model's joints (J) plus selected skinned vertices, agreeing with ``smplx.SMPL``.

    ``data``: the model dict (metres). ``model``: its description (default SMPL); ``joint_set``:
    the keypoints it is fitted to (``observed_index``). ``vertex_ids``: vertices to skin (default
    the landmarks ``joint_set`` observes: SMPL's five COCO face vertices). ``num_betas``: shape
    coefficients used (<= shapedirs' count; default the model's shape size).
    """

    def __init__(self, data: dict, vertex_ids=None, num_betas: int | None = None,
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu",
                 model: BodyModel = SMPL, joint_set: str = "coco17"):
        self.model, self.joint_set = model, joint_set
        vids = np.asarray(model.observed_vertices(joint_set) if vertex_ids is None else vertex_ids, dtype=int)
        num_betas = model.shape_size if num_betas is None else num_betas
        nj = model.num_joints
        v_template = _dense(data["v_template"])
        shapedirs = _dense(data["shapedirs"])
        num_betas = min(num_betas, shapedirs.shape[2])
        shapedirs = shapedirs[:, :, :num_betas]
        jreg = data["J_regressor"]
        jreg = jreg.tocsr() if hasattr(jreg, "tocsr") else np.asarray(jreg, np.float64)
        nv = len(v_template)
        j_template = np.asarray(jreg @ v_template, np.float64)  # (J, 3)
        j_shapedirs = np.asarray(jreg @ shapedirs.reshape(nv, -1), np.float64).reshape(nj, 3, num_betas)
        posedirs = _dense(data["posedirs"])[vids]  # (K, 3, 9 (J - 1))
        parents = np.asarray(data["kintree_table"])[0].astype(int).copy()
        parents[0] = -1
        kw = dict(dtype=dtype, device=device)
        self.num_betas = num_betas
        self.vertex_ids = tuple(int(v) for v in vids)
        self.parents = parents
        self.j_template = torch.as_tensor(j_template, **kw)
        self.j_shapedirs = torch.as_tensor(j_shapedirs, **kw)
        self.v_template = torch.as_tensor(v_template[vids], **kw)  # (K, 3)
        self.v_shapedirs = torch.as_tensor(shapedirs[vids], **kw)  # (K, 3, B)
        self.v_posedirs = torch.as_tensor(posedirs.reshape(len(vids) * 3, -1).T.copy(), **kw)  # (9 (J-1), K*3)
        self.weights = torch.as_tensor(_dense(data["weights"])[vids], **kw)  # (K, J)
        self.dtype, self.device = dtype, torch.device(device)

    # ---- shape -----------------------------------------------------------------------
    def rest(self, betas: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest joints (J, 3) and rest vertices (K, 3), metres, for ``betas`` (B,) or zeros."""
        if betas is None:
            return self.j_template, self.v_template
        b = betas[None]
        return (self.j_template + blend_shapes(b, self.j_shapedirs)[0],
                self.v_template + blend_shapes(b, self.v_shapedirs)[0])

    # ---- pose ------------------------------------------------------------------------
    def forward_matrices(self, rotmats: torch.Tensor, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Body-frame points (N, J + K, 3), metres, from local rotations (N, J, 3, 3).

        Identical to ``smplx.SMPL``'s joints (first J) and vertices ``vertex_ids`` with no
        translation.
        """
        return self.forward_frames_last(rotmats.permute(1, 2, 3, 0).contiguous(), betas).permute(2, 0, 1)

    def forward_frames_last(self, rot: torch.Tensor, betas: torch.Tensor | None = None, parts: bool = False):
        """Body-frame points (J + K, 3, N), metres, from local rotations (J, 3, 3, N).

        ``parts``: also return the global joint rotations ``Rg`` (J, 3, 3, N), the posed joints
        ``tg`` (J, 3, N), the vertices with pose blend shapes ``v_posed`` (K, 3, N) and the
        joints' skinning translations ``t_rel`` (J, 3, N) (what analytic Jacobians need).
        """
        J, V = self.rest(betas)
        n = rot.shape[-1]
        rel = J.clone()
        rel[1:] = J[1:] - J[self.parents[1:]]
        # Frames last: (3, 3, N) blocks make the 3x3 products elementwise over frames.
        local = rot.unbind(0)
        Rg, tg = [local[0]], [J[0][:, None].expand(3, n)]
        nj = len(self.parents)
        for i in range(1, nj):  # J - 1 products, each over all frames at once
            p = self.parents[i]
            Rg.append(_mm(Rg[p], local[i]))
            tg.append(_mm(Rg[p], rel[i][:, None].expand(3, n)) + tg[p])
        Rg_all, tg_all = torch.stack(Rg), torch.stack(tg)  # (J, 3, 3, N), (J, 3, N)
        # Skinning of the K vertices: pose blend shapes, then blended rigid transforms.
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)[:, :, None]
        pose_feature = (rot[1:] - eye).permute(3, 0, 1, 2).reshape(n, -1)  # (N, 9 (J - 1))
        v_posed = V[:, :, None] + (pose_feature @ self.v_posedirs).T.reshape(-1, 3, n)  # (K, 3, N)
        t_rel = tg_all - (Rg_all * J[:, None, :, None]).sum(2)  # (J, 3, N)
        k = len(self.vertex_ids)
        Rb = (self.weights @ Rg_all.reshape(nj, -1)).reshape(k, 3, 3, n)
        tb = (self.weights @ t_rel.reshape(nj, -1)).reshape(k, 3, n)
        verts = (Rb * v_posed[:, None]).sum(2) + tb  # (K, 3, N)
        points = torch.cat([tg_all, verts])
        return (points, Rg_all, tg_all, v_posed, t_rel) if parts else points

    def forward(self, poses: torch.Tensor, trans: torch.Tensor, scaling: torch.Tensor | float,
                betas: torch.Tensor | None = None) -> torch.Tensor:
        """World points (N, J + K, 3) cm from poses (N, 3 J) rad, trans (N, 3) cm, scaling."""
        rot = axis_angle_to_matrix(poses.reshape(-1, len(self.parents), 3))
        return self.forward_matrices(rot, betas) * scaling + trans[:, None]

    __call__ = forward

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    def observed_index(self, joint_set: str | None = None) -> np.ndarray:
        """Index into this poser's output (J + K points) of each keypoint of ``joint_set``
        (default the one it was built for); a keypoint must be observed."""
        joint_set = joint_set or self.joint_set
        nj, vertex_of = self.num_joints, {lm.name: lm.vertex for lm in self.model.landmarks}
        where = {vid: nj + k for k, vid in enumerate(self.vertex_ids)}
        out = []
        for name in self.model.observation(joint_set):
            if name in vertex_of:
                out.append(where[vertex_of[name]])
            elif name:
                out.append(self.model.index(name))
            else:
                raise ValueError(f"{self.model.title} does not observe every '{joint_set}' keypoint")
        return np.array(out)

    def coco_index(self) -> np.ndarray:
        """Index into this model's output of each COCO-17 joint (``observed_index("coco17")``)."""
        return self.observed_index("coco17")
