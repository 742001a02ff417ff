"""Second stage of a SMPL-H / SMPL-X fit: wrists and fingers from 3D hand keypoints.

The body (stage one, ``fit_smpl`` on COCO-17) fixes everything up to the forearms; each hand
then has 16 rotations to find (the wrist and its 15 finger joints, 48 unknowns) from its 21
WholeBody keypoints (cm; NaN = missing). Frames and hands are independent given the body, so
the problem is solved for all of them at once by Levenberg-Marquardt with per-(frame, hand)
damping on 48 x 48 normal equations:

    E = sum_k m_k rho(|p_k - y_k|^2)          robust (Charbonnier, scale ``robust_cm``) point error
        + pose |theta|^2 + twist (theta . a)^2   a small prior; finger twist (about the bone) is
                                               observed by no point and stays near zero

(no temporal term: each frame's hand is fitted on its own, from a closed-form start,
``initial_hands``).

Jacobians are analytic (a point carried by joint m moves by omega x (p - t_m), omega the
world angular velocity of m's rotation), the fingertips' pose correctives included (exact Gauss-Newton).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from aistpp.core.fast_smpl import axis_angle_to_matrix
from aistpp.core.smplx_joints import JOINT_NAMES, SIDES, hand_index


class HandWeights(BaseModel):
    """Loss weights of the hand stage (data in cm^2, rotations in rad)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    robust_cm: float = Field(2.0, gt=0, le=1e4)
    pose: float = Field(0.02, ge=0, le=1e6)  # squared axis-angle of wrist and finger joints
    twist: float = Field(2.0, ge=0, le=1e6)  # extra on finger twist about the bone


def hand_slots(kind: str) -> np.ndarray:
    """(2, 16) joint ids: per hand (left, right) the wrist then the 15 finger joints."""
    names = JOINT_NAMES[kind]
    out = []
    for side in SIDES:
        start = names.index(f"{side}_index1")
        out.append([names.index(f"{side}_wrist")] + list(range(start, start + 15)))
    return np.array(out)


def twist_axes(fk, kind: str) -> np.ndarray:
    """(2, 16, 3) unit bone directions at rest (the wrist: towards the middle finger)."""
    J, V = fk.rest()
    J = J.cpu().numpy()
    slots = hand_slots(kind)
    out = np.zeros((2, 16, 3))
    for s in range(2):
        for k, j in enumerate(slots[s]):
            child = [c for c in range(fk.nj) if fk.parents[c] == j]
            if k == 0:
                target = J[slots[s][4]]  # middle1
            elif child:
                target = J[child[0]]
            else:
                target = 2 * J[j] - J[fk.parents[j]]
            d = target - J[j]
            out[s, k] = d / np.linalg.norm(d)
    return out


def fit_hands(fk, pose: np.ndarray, trans: np.ndarray, scaling: float, targets: np.ndarray,
              weights: HandWeights | None = None, betas=None, iterations: int = 10, chunk: int = 500) -> dict:
    """Fit wrists and fingers.

    fk: ``fast_body.BodyFK`` (its vertex joints include the fingertips); pose (N, J, 3) rad
    from the body stage; trans (N, 3) cm; targets (N, 42, 3) cm, WholeBody's hand points
    (left 21, right 21), NaN = missing. Returns ``pose`` (N, J, 3) with the hands filled (hands
    with no finite target keep the input's), ``hand_error_cm`` (42,) mean distance per point,
    ``iterations`` (the most any chunk took).
    """
    w = weights or HandWeights()
    kind = fk.kind
    pose = np.array(pose, np.float64)
    n = len(pose)
    targets = np.asarray(targets, np.float64).reshape(n, 2, 21, 3)
    idx = np.stack([hand_index(kind, s) for s in SIDES])  # (2, 21)
    slots = hand_slots(kind)
    tw = torch.as_tensor(twist_axes(fk, kind), dtype=fk.dtype, device=fk.device)
    tw[:, 0] *= 0.0  # the wrist's twist is observed (the palm's plane)
    shp = None if betas is None else fk.shape(betas)
    pose = initial_hands(fk, pose, targets, shp)
    its = 0
    for a in range(0, n, chunk):
        sl = slice(a, min(n, a + chunk))
        pose[sl], it = _solve(fk, pose[sl], trans[sl], float(scaling), targets[sl], idx, slots, tw, w, shp, iterations)
        its = max(its, it)
    with torch.no_grad():
        pts = fk.pose_numpy(pose, trans, scaling, betas)
    err = np.linalg.norm(pts[:, idx.reshape(-1)] - targets.reshape(n, 42, 3), axis=-1)
    with np.errstate(invalid="ignore"):
        per_point = np.array([np.nanmean(err[:, k]) if np.isfinite(err[:, k]).any() else np.nan for k in range(42)])
    return {"pose": pose, "hand_error_cm": per_point, "iterations": its}


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors of the smallest rotations taking directions a to b."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = (a * b).sum(-1, keepdims=True)
    return np.where(sin > 1e-9, axis / np.maximum(sin, 1e-12), 0.0) * np.arctan2(sin, cos)


def initial_hands(fk, pose: np.ndarray, targets: np.ndarray, shape=None) -> np.ndarray:
    """Closed-form start: each wrist by Kabsch of its five first finger joints (about the wrist)
    onto the targets, then each finger joint by the smallest rotation pointing its bone at the
    next target point (no twist). Missing targets leave a joint as it is. pose (N, J, 3),
    targets (N, 2, 21, 3) cm (WholeBody order per hand)."""
    from scipy.spatial.transform import Rotation

    kind = fk.kind
    names = JOINT_NAMES[kind]
    pose = pose.copy()
    n = len(pose)
    with torch.no_grad():
        kw = dict(dtype=fk.dtype, device=fk.device)
        rot = axis_angle_to_matrix(torch.as_tensor(pose, **kw))
        _, Rg, _, _, _ = fk.forward_matrices(rot, shape, parts=True)
        J, V = fk.rest(shape)
    Rg, J, V = Rg.cpu().numpy(), J.cpu().numpy(), V.cpu().numpy()
    nj = fk.nj
    rest = np.concatenate([J, V])  # rest positions of the model's output points
    for h, side in enumerate(SIDES):
        idx = hand_index(kind, side)
        y = targets[:, h]  # (N, 21, 3)
        wrist = names.index(f"{side}_wrist")
        Rp = Rg[:, fk.parents[wrist]]  # (N, 3, 3) the forearm's global rotation
        firsts = [1, 5, 9, 13, 17]  # WholeBody: the first point of each finger
        a = rest[idx[firsts]] - rest[idx[0]]  # (5, 3) rest, about the wrist
        b = np.einsum("nba,nkb->nka", Rp, y[:, firsts] - y[:, :1])  # in the forearm's frame
        ok = np.isfinite(b).all((-1, -2))
        for t in np.flatnonzero(ok):
            r, _ = Rotation.align_vectors(b[t], a)
            pose[t, wrist] = r.as_rotvec()
        Rw = Rp @ Rotation.from_rotvec(pose[:, wrist]).as_matrix()
        for f in range(5):
            G = Rw
            for k in range(3):
                j = idx[1 + 4 * f + k]  # the joint, then its child point
                c = idx[2 + 4 * f + k]
                d_rest = rest[c] - rest[j]
                d_obs = np.einsum("nba,nb->na", G, y[:, 2 + 4 * f + k] - y[:, 1 + 4 * f + k])
                good = np.isfinite(d_obs).all(-1)
                rv = np.where(good[:, None], _swing(np.broadcast_to(d_rest, d_obs.shape), np.nan_to_num(d_obs)),
                              pose[:, j])
                pose[:, j] = rv
                G = G @ Rotation.from_rotvec(rv).as_matrix()
    return pose


class _Carry:
    """How each hand point moves with each hand joint: ``Wsub[h, c, m, k]`` = the weight with
    which joint k (a slot of hand h) carries point c, if k is slot m or below it."""

    def __init__(self, fk, kind: str, idx: np.ndarray, slots: np.ndarray):
        nj = fk.nj
        sub = np.eye(nj, dtype=bool)  # sub[m, k]: k is m or a descendant of m
        for k in range(nj):
            p = fk.parents[k]
            while p >= 0:
                sub[p, k] = True
                p = fk.parents[p]
        weights = fk.weights.cpu().numpy()
        W = np.zeros((2, 21, 16))
        self.is_vertex = idx >= nj  # (2, 21)
        for h in range(2):
            for c, i in enumerate(idx[h]):
                if i < nj:
                    par = fk.parents[i]
                    if par in slots[h]:
                        W[h, c, list(slots[h]).index(par)] = 1.0
                else:
                    W[h, c] = weights[i - nj][slots[h]]
        S = np.stack([sub[np.ix_(slots[h], slots[h])] for h in range(2)])  # (2, m, k)
        kw = dict(dtype=fk.dtype, device=fk.device)
        self.Wsub = torch.as_tensor(W[:, :, None, :] * S[:, None], **kw)  # (2, 21, 16, 16)
        self.vert = torch.as_tensor(idx - nj, device=fk.device).clamp(min=0)  # (2, 21)
        self.joint_parent = torch.as_tensor(np.where(idx < nj, fk.parents[np.minimum(idx, nj - 1)], 0),
                                            device=fk.device)
        self.idx = torch.as_tensor(np.minimum(idx, nj - 1), device=fk.device)
        self.is_vertex_t = torch.as_tensor(self.is_vertex, device=fk.device)
        # per point's vertex: posedirs of the hand joints (2, 21, 3, 16, 9), skinning weights (2, 21, J)
        k = len(fk.vertex_ids)
        P = fk.v_posedirs.T.reshape(k, 3, nj - 1, 9)
        vert = np.minimum(np.maximum(idx - nj, 0), k - 1)
        self.posedirs = torch.stack([P[vert[h]][:, :, torch.as_tensor(slots[h] - 1)] for h in range(2)])
        self.skin = torch.stack([fk.weights[vert[h]] for h in range(2)])


def _jacobian(fk, carry: _Carry, x, base, slot_t, slots, s, shape):
    """Points (n, 2, 21, 3) cm and their Jacobian (n, 2, 63, 48) in the 48 unknowns per hand
    (exact: the fingertip vertices' pose correctives included)."""
    from aistpp.pipeline.fit_smpl_solve import right_jacobian

    n = x.shape[0]
    full = torch.index_copy(base, 1, slot_t, x.reshape(n, 32, 3))
    rot = axis_angle_to_matrix(full)
    points, Rg, tg, v_posed, t_rel = fk.forward_matrices(rot, shape, parts=True)
    hs = torch.as_tensor(slots, device=fk.device)  # (2, 16)
    Rh, th = Rg[:, hs], tg[:, hs]  # (n, 2, 16, 3, 3), (n, 2, 16, 3)
    # carried position of point c by hand joint k: joints -> their own position; vertices -> G_k v
    vp = v_posed[:, carry.vert]  # (n, 2, 21, 3)
    Gv = torch.einsum("nhkab,nhcb->nhcka", Rh, vp) + t_rel[:, hs][:, :, None]  # (n, 2, 21, 16, 3)
    jpos = tg[:, carry.idx]  # (n, 2, 21, 3)
    Y = torch.where(carry.is_vertex_t[None, :, :, None, None], Gv, jpos[:, :, :, None].expand_as(Gv))
    A = torch.einsum("hcmk,nhcka->nhcma", carry.Wsub, Y) - carry.Wsub.sum(-1)[None, ..., None] * th[:, :, None]
    th_x = x.reshape(n, 2, 16, 3)
    Jr = right_jacobian(th_x.permute(1, 2, 3, 0)).permute(4, 0, 1, 2, 3)  # (n, 2, 16, 3, 3)
    B = torch.einsum("nhmab,nhmbi->nhmai", Rh, Jr)  # world angular velocity per unknown
    J = torch.linalg.cross(B.permute(0, 1, 2, 4, 3)[:, :, None], A[:, :, :, :, None].expand(-1, -1, -1, -1, 3, -1),
                           dim=-1)  # (n, 2, 21, 16, 3i, 3x)
    # pose correctives: the tip vertices' v_posed moves with each hand joint's rotation matrix
    from aistpp.pipeline.fit_smpl_solve import _skew

    Rl = rot[:, hs]  # (n, 2, 16, 3, 3) local rotations
    dR = torch.stack([torch.einsum("nhmab,nhmbc->nhmac", Rl, _skew(Jr[..., i].permute(1, 2, 3, 0)).permute(
        4, 0, 1, 2, 3)) for i in range(3)], 3).reshape(n, 2, 16, 3, 9)  # d R_m / d theta_mi
    dvp = torch.einsum("hcame,nhmie->nhcmia", carry.posedirs, dR)  # (n, 2, 21, 16, 3i, 3)
    Rb = torch.einsum("hcj,njab->nhcab", carry.skin, Rg)  # blended rotation of each point's vertex
    J = J + torch.einsum("nhcab,nhcmib->nhcmia", Rb, dvp) * carry.is_vertex_t[None, :, :, None, None, None]
    J = (s * J).permute(0, 1, 2, 5, 3, 4).reshape(n, 2, 63, 48)
    return points, J


def _solve(fk, pose, trans, s, targets, idx, slots, tw, w: HandWeights, shape, iterations, tol: float = 1e-5):
    kw = dict(dtype=fk.dtype, device=fk.device)
    n = len(pose)
    y = torch.as_tensor(np.nan_to_num(targets), **kw)  # (n, 2, 21, 3)
    mask = torch.as_tensor(np.isfinite(targets).all(-1), **kw)  # (n, 2, 21)
    active = mask.sum(-1) > 0  # (n, 2): hands with data
    base = torch.as_tensor(pose, **kw)
    tr = torch.as_tensor(np.asarray(trans, np.float64), **kw)
    slot_t = torch.as_tensor(slots.reshape(-1))
    idx_t = torch.as_tensor(idx)
    carry = _Carry(fk, fk.kind, idx, slots)
    x = base[:, slot_t].reshape(n, 2, 48).clone()

    def points(xx):  # (n, 2, 48) -> (n, 2, 21, 3) cm
        full = torch.index_copy(base, 1, slot_t, xx.reshape(n, 32, 3))
        pts = fk.forward_matrices(axis_angle_to_matrix(full), shape) * s + tr[:, None]
        return pts[:, idx_t]

    c2 = w.robust_cm**2
    T = tw.reshape(2, 16, 3)
    Tm = torch.zeros(2, 48, 48, **kw)
    for k in range(16):
        Tm[:, 3 * k:3 * k + 3, 3 * k:3 * k + 3] = T[:, k, :, None] * T[:, k, None, :]
    eye48 = torch.eye(48, **kw)

    def cost(p, xx):  # per (frame, hand)
        d2 = ((p - y) ** 2).sum(-1)
        data = (2 * c2 * (torch.sqrt(1 + d2 / c2) - 1) * mask).sum(-1)
        tdot = (xx.reshape(n, 2, 16, 3) * T[None]).sum(-1)
        return data + w.pose * (xx**2).sum(-1) + w.twist * (tdot**2).sum(-1)

    lam = torch.full((n, 2), 1e-3, **kw)
    live = active.clone()  # (frame, hand) pairs still iterating
    with torch.no_grad():
        p = points(x)
        E = cost(p, x)
        it = 0
        for it in range(1, iterations + 1):
            _, Jm = _jacobian(fk, carry, x, base, slot_t, slots, s, shape)
            r = (p - y).reshape(n, 2, 21, 3)
            d2 = r.square().sum(-1, keepdim=True)
            wt = (1 / torch.sqrt(1 + d2 / c2)) * mask[..., None]  # IRLS weights (n, 2, 21, 1)
            wr = wt.expand(-1, -1, -1, 3).reshape(n, 2, 63)
            H = torch.einsum("nhrp,nhr,nhrq->nhpq", Jm, wr, Jm) + w.pose * eye48 + w.twist * Tm[None]
            g = torch.einsum("nhrp,nhr->nhp", Jm, wr * r.reshape(n, 2, 63)) + w.pose * x \
                + w.twist * torch.einsum("hpq,nhq->nhp", Tm, x)
            diag = torch.diagonal(H, dim1=-2, dim2=-1)
            improved = torch.zeros(n, 2, dtype=torch.bool, device=fk.device)
            for _ in range(8):  # per (frame, hand): raise the damping until the step helps
                todo = live & ~improved
                if not bool(todo.any()):
                    break
                sel = todo.nonzero(as_tuple=True)
                A = H[sel] + torch.diag_embed(lam[sel][:, None] * diag[sel] + 1e-9)
                step = torch.zeros_like(x)
                step[sel] = -torch.cholesky_solve(g[sel][..., None], torch.linalg.cholesky(A))[..., 0]
                x_new = x + step
                p_new = points(x_new)
                E_new = cost(p_new, x_new)
                ok = (E_new <= E) & todo
                live &= ~(ok & (E - E_new <= tol * E + 1e-3))  # converged (to 0.001 cm^2 per hand)
                x = torch.where(ok[..., None], x_new, x)
                p = torch.where(ok[..., None, None], p_new, p)
                E = torch.where(ok, E_new, E)
                lam = torch.where(ok, torch.clamp(lam / 3, min=1e-7), torch.where(todo, lam * 10, lam))
                improved |= ok
            live &= improved  # no descent at any damping: at the minimum, to rounding
            if not bool(live.any()):
                break
    out = pose.copy()  # hands with no data never moved: they keep the input
    out[:, slots.reshape(-1)] = x.reshape(n, 32, 3).cpu().numpy()
    return out, it
