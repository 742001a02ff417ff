"""Feet in the SMPL fit: ankles and feet from heel and toe keypoints, and a foot-contact prior.

COCO-17 observes no rotation below the knee, so the body fit (``fit_smpl``) leaves SMPL's
ankles and feet (joints 7, 8, 10, 11) at zero. The joints and the foot landmarks come from the
body model by name (``feet_layout``). With heel, big-toe and small-toe keypoints (a
richer joint set triangulated into ``keypoints3d_full``: HALPE-26, BODY_25, WholeBody-133; or
BlazePose-33's heel and foot tip, no small toe) this
stage refines each leg after the body fit, the pelvis (root orientation, translation, scale,
betas) held: the unknowns per frame are the local axis-angles of hip, knee, ankle and foot of
both legs (24, rad), and the objective, over all frames of a window,

    sum_tk m_tk rho(|p_tk - y_tk|^2)                   data: knee, ankle (COCO) and heel, big toe,
                                                       small toe (the body model's foot vertices)
  + sum_i h_i accel |a_i|^2                            the points' acceleration (cm/s^2), per second
  + sum_tk c_tk c_t+1,k contact |p_t+1,k - p_tk|^2 / dt   a planted foot point does not move
  + pose |theta_ankle,foot|^2 + keep |theta_hip,knee - theta_body|^2 + limits |excess|^2

with rho the body fit's Charbonnier loss. A point is planted (``contacts``) where its target is
near the floor (within ``contact_height_cm`` of the sequence's lowest foot level) and slow
(below ``contact_speed_cm_s`` over about a sixth of a second). Solved by Levenberg-Marquardt on
the block-banded normal equations (24 x 24 blocks, frames coupled at most two apart: a banded
Cholesky, O(n)); Jacobians by central differences of ``FastSMPL`` in one batch (pose blend
shapes included). The residual blocks and their Jacobians live here, outside the body fit's solver.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from aistpp.core.body_models import SMPL, BodyModel
from aistpp.core.joint_sets import COCO17
from aistpp.errors import AistppError

SIDES = ("left", "right")
LEG = ("hip", "knee", "ankle", "foot")  # the joints solved per side, from the pelvis down
FOOT_POINTS = ("heel", "big_toe", "small_toe")  # keypoints observed by the body model's foot landmarks
U = 3 * len(SIDES) * len(LEG)  # unknowns per frame
# Observed points per frame: per side knee and ankle joints, then its three foot landmarks.
POINT_NAMES = tuple(n for s in SIDES for n in (f"{s}_knee", f"{s}_ankle") + tuple(f"{s}_{p}" for p in FOOT_POINTS))
FOOT_NAMES = tuple(f"{s}_{p}" for s in SIDES for p in FOOT_POINTS)
FOOT_POINT_ORDER = {n: k for k, n in enumerate(FOOT_NAMES)}


@dataclass(frozen=True)
class FeetLayout:
    """What the feet stage needs of a body model (by joint and landmark names, so SMPL-H / SMPL-X
    bodies fit too): ``joints`` (8,) the solved joints, ``vertex_ids`` (6,) the foot landmarks'
    vertices (``FOOT_NAMES`` order), ``point_index`` (10,) each ``POINT_NAMES`` point in the poser's
    outputs (joints, then ``vertex_ids``), ``distal`` (U,) bool: ankle and foot unknowns,
    ``limits`` (U, 2) rad (the model's ``limits``; +-inf where it has none)."""

    joints: tuple[int, ...]
    vertex_ids: tuple[int, ...]
    point_index: np.ndarray
    distal: np.ndarray
    limits: np.ndarray


@lru_cache(maxsize=8)
def feet_layout(bm: BodyModel = SMPL) -> FeetLayout:
    names = [f"{s}_{j}" for s in SIDES for j in LEG]
    missing = [n for n in names if n not in bm.joint_names]
    marks = {lm.name: lm.vertex for lm in bm.landmarks}
    missing += [n for n in FOOT_NAMES if n not in marks]
    if missing:
        raise AistppError(f"the {bm.title} body model has no {', '.join(missing)}: its feet cannot be fitted")
    joints = tuple(bm.index(n) for n in names)
    vids = tuple(marks[n] for n in FOOT_NAMES)
    index = np.array([bm.index(n) if n in bm.joint_names else bm.num_joints + FOOT_NAMES.index(n) for n in POINT_NAMES])
    distal = np.repeat([n.split("_", 1)[1] in ("ankle", "foot") for n in names], 3)
    limits = bm.joint_limits(joints).reshape(U, 2)
    return FeetLayout(joints, vids, index, distal, limits)


class FeetWeights(BaseModel):
    """Weights of the feet stage (data in cm^2, rotations in rad, time in s) and its contact rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    robust_cm: float = Field(5.0, gt=0, le=1e4)
    accel: float = Field(1e-5, ge=0, le=1e6)  # per (cm/s^2)^2 s (the targets are already smoothed by triangulate)
    contact: float = Field(15.0, ge=0, le=1e6)  # per (cm/s)^2 s of a planted point's speed
    pose: float = Field(2.0, ge=0, le=1e6)  # squared axis-angle of ankles and feet
    keep: float = Field(0.5, ge=0, le=1e6)  # squared change of hips and knees from the body fit
    limits: float = Field(2000.0, ge=0, le=1e9)
    contact_height_cm: float = Field(3.0, gt=0, le=100)
    contact_speed_cm_s: float = Field(15.0, gt=0, le=1000)
    iterations: int = Field(100, ge=1, le=1000)
    tol: float = Field(1e-5, gt=0, lt=1)  # converged: an accepted step lowers the objective by less (relative)


def foot_targets(full: np.ndarray, joint_set: str, bm: BodyModel = SMPL) -> np.ndarray | None:
    """(N, 6, 3) cm the keypoints of ``joint_set`` (points ``full`` (N, J, 3) in its order) that
    the body model's foot landmarks observe (``BodyModel.observation``), in ``FOOT_NAMES`` order,
    NaN for a point the set lacks (BlazePose has a heel and one toe tip per foot); None when the
    model observes no such set or the set lacks a foot's heel or both of its toes."""
    if joint_set not in bm.observes:
        return None
    seen = bm.observation(joint_set)
    for side in SIDES:
        toes = [f"{side}_{p}" in seen for p in FOOT_POINTS if p != "heel"]
        if f"{side}_heel" not in seen or not any(toes):
            return None
    full = np.asarray(full, np.float64)
    out = np.full((len(full), len(FOOT_NAMES), 3), np.nan)
    for k, name in enumerate(FOOT_NAMES):
        if name in seen:
            out[:, k] = full[:, seen.index(name)]
    return out


SPEED_FRAMES = 6  # frames over which a planted point's speed is measured (a tenth of a second at 60 fps)
GAP_FRAMES = 4  # a contact broken for at most this many frames (while low) is one contact


def contacts(points: np.ndarray, times: np.ndarray, height_cm: float, speed_cm_s: float,
             floor: float | None = None) -> np.ndarray:
    """(N, K) bool: each point (N, K, 3) cm planted, i.e. within ``height_cm`` of the floor and
    moving slower than ``speed_cm_s`` over the ``SPEED_FRAMES`` frames before it or those after it
    (displacement over the time it took: one side may hold the lift-off or the landing); gaps of
    at most ``GAP_FRAMES`` in a low point's contact are closed.
    ``floor``: the floor's height (cm); default the 5th percentile of the lowest point per frame."""
    p = np.asarray(points, np.float64)
    n = len(p)
    if floor is None:
        low = np.nanmin(np.where(np.isfinite(p[..., 1]), p[..., 1], np.inf), axis=1)
        low = low[np.isfinite(low)]
        floor = float(np.percentile(low, 5)) if len(low) else 0.0
    k = min(SPEED_FRAMES, max(n - 1, 0))
    t = np.arange(n)
    slow = np.zeros(p.shape[:2], bool)
    for a, b in ((np.clip(t - k, 0, n - 1), t), (t, np.clip(t + k, 0, n - 1))):  # before or after: lift-off, landing
        dt = np.maximum(times[b] - times[a], 1e-9)[:, None]
        with np.errstate(invalid="ignore"):
            slow |= (np.linalg.norm(p[b] - p[a], axis=-1) / dt < speed_cm_s) & (b > a)[:, None]
    with np.errstate(invalid="ignore"):
        low = (p[..., 1] - floor < height_cm) & np.isfinite(p).all(-1)
    return low & _close(slow, GAP_FRAMES, p, times, speed_cm_s)


def support_points(feet: np.ndarray, planted: np.ndarray, smooth: int = 3, level_cm: float = 1.0) -> np.ndarray:
    """(N, 6) bool: per foot and frame only the lowest of its planted points (``feet`` (N, 6, 3)
    cm, three per foot; heights averaged over +-``smooth`` frames) and those within ``level_cm``
    of it stay planted: a foot pivots about the point(s) it stands on, so its other points may
    move while those hold."""
    n = len(feet)
    h = np.nan_to_num(feet[..., 1], nan=np.inf)
    pad = np.pad(h, ((smooth, smooth), (0, 0)), mode="edge")
    h = np.stack([pad[i:i + n] for i in range(2 * smooth + 1)]).mean(axis=0)
    out = np.zeros_like(planted)
    for f in range(2):
        cols = slice(3 * f, 3 * f + 3)
        cand = np.where(planted[:, cols], h[:, cols], np.inf)
        out[:, cols] = np.isfinite(cand) & (cand <= cand.min(axis=1, keepdims=True) + level_cm)
    return out


def _close(mask: np.ndarray, gap: int, p: np.ndarray, times: np.ndarray, speed_cm_s: float) -> np.ndarray:
    """(N, K) bool with runs of at most ``gap`` False frames between True frames set True where
    the point (N, K, 3) did not move across the run (slower than ``speed_cm_s`` from its first
    to its last planted frame): noise in the measured speed does not split one contact in two."""
    out = mask.copy()
    for k in range(mask.shape[1]):
        on = np.flatnonzero(mask[:, k])
        if len(on) > 1:
            for a, b in zip(on[:-1], on[1:]):
                if 1 < b - a <= gap + 1 and np.linalg.norm(p[b, k] - p[a, k]) < speed_cm_s * (times[b] - times[a]):
                    out[a:b, k] = True
    return out


# ---- the residual blocks --------------------------------------------------------------------
def points_and_jacobian(feet_model, poses: torch.Tensor, trans: torch.Tensor, scale: float,
                        betas: torch.Tensor | None, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """The observed points (n, 10, 3) cm (``POINT_NAMES``) and their Jacobian (n, 10, 3, U) in the
    leg rotations (``FeetLayout.joints``): central differences (step ``eps`` rad, float64: about 1e-9 relative),
    every unknown's pair of poses posed in one batch. ``feet_model``: a ``FastSMPL`` whose
    vertices are the layout's (``feet_model``)."""
    lay = feet_layout(feet_model.model)
    n = len(poses)
    cols = torch.as_tensor([3 * j + c for j in lay.joints for c in range(3)], device=poses.device)
    batch = poses[None].repeat(2 * U + 1, 1, 1)  # base, then +eps / -eps of each unknown
    k = torch.arange(U, device=poses.device)
    batch[1 + k, :, cols] += eps
    batch[1 + U + k, :, cols] -= eps
    with torch.no_grad():
        out = feet_model.forward(batch.reshape(-1, poses.shape[1]), trans.repeat(2 * U + 1, 1), scale, betas)
    out = out[:, lay.point_index].reshape(2 * U + 1, n, len(POINT_NAMES), 3).cpu().numpy()
    jac = (out[1:U + 1] - out[U + 1:]) / (2 * eps)  # (U, n, 10, 3)
    return out[0], np.moveaxis(jac, 0, -1)


class FeetTerms:
    """Objective, gradient and Gauss-Newton blocks of the feet stage for one window.

    y (n, 10, 3) cm targets (NaN missing), planted (n, 10) bool, coef (n-2, 3) 1/s^2 and q (n-2,) s
    (``fit_smpl_solve.temporal_coefficients``), dt (n-1,) s, theta0 (n, U) the body fit's angles.
    """

    def __init__(self, w: FeetWeights, y, planted, coef, q, dt, theta0, layout: FeetLayout):
        self.w, self.coef, self.q, self.theta0 = w, coef, q, theta0
        self.mask = np.isfinite(y).all(-1)
        self.y = np.where(self.mask[..., None], y, 0.0)
        self.pair = planted[1:] & planted[:-1]  # (n-1, 10) both ends planted
        self.cw = w.contact / np.maximum(dt, 1e-9)  # (n-1,) per (cm)^2 of displacement
        self.lim = np.where(layout.distal[:, None], layout.limits, [-np.inf, np.inf])  # hips, knees: ``keep``
        self.prior = np.where(layout.distal, w.pose, w.keep)
        self.prior_at = np.where(layout.distal, 0.0, 1.0)

    def _prior_res(self, theta):
        ref = self.theta0 * self.prior_at  # ankles and feet towards zero, hips and knees towards the body fit
        excess = np.maximum(theta - self.lim[:, 1], 0) + np.minimum(theta - self.lim[:, 0], 0)
        return theta - ref, excess

    def value(self, pts: np.ndarray, theta: np.ndarray) -> float:
        w = self.w
        c2 = w.robust_cm**2
        d2 = ((pts - self.y) ** 2).sum(-1)
        E = float((2 * c2 * (np.sqrt(1 + d2 / c2) - 1) * self.mask).sum())
        if len(self.q):
            c = self.coef
            a = c[:, 0, None, None] * pts[:-2] + c[:, 1, None, None] * pts[1:-1] + c[:, 2, None, None] * pts[2:]
            E += float((w.accel * self.q[:, None, None] * a**2).sum())
        d = pts[1:] - pts[:-1]
        E += float((self.cw[:, None] * self.pair * (d**2).sum(-1)).sum())
        r, excess = self._prior_res(theta)
        return E + float((self.prior * np.square(r)).sum() + (w.limits * excess**2).sum())

    def normal_equations(self, pts: np.ndarray, J: np.ndarray, theta: np.ndarray):
        """Gradient g (n, U) (halved) and blocks D (n, U, U), U1 (n-1, U, U), U2 (n-2, U, U)."""
        w = self.w
        n = len(pts)
        c2 = w.robust_cm**2
        r = pts - self.y
        irls = self.mask / np.sqrt(1 + np.square(r).sum(-1) / c2)  # (n, 10)
        Jf = J.reshape(n, -1, U)  # (n, 30, U)
        wr = (irls[..., None] * np.ones(3)).reshape(n, -1)  # (n, 30)
        D = _jtwj(Jf, wr, Jf)
        g = np.einsum("nrp,nr->np", Jf, wr * r.reshape(n, -1))
        U1, U2 = np.zeros((max(n - 1, 0), U, U)), np.zeros((max(n - 2, 0), U, U))
        blocks = (D, U1, U2)
        if len(self.q):  # acceleration: a_i = sum_a c_ia p_{i+a}
            c, q = self.coef, self.q * w.accel
            a = c[:, 0, None, None] * pts[:-2] + c[:, 1, None, None] * pts[1:-1] + c[:, 2, None, None] * pts[2:]
            a = a.reshape(n - 2, 3 * len(POINT_NAMES))
            for s in range(3):
                g[s:n - 2 + s] += (q * c[:, s])[:, None] * np.einsum("nrp,nr->np", Jf[s:n - 2 + s], a)
                for t in range(s, 3):
                    X = np.matmul(Jf[s:n - 2 + s].transpose(0, 2, 1), Jf[t:n - 2 + t])
                    blocks[t - s][s:n - 2 + s] += (q * c[:, s] * c[:, t])[:, None, None] * X
        # contact: d_t = p_{t+1} - p_t for planted pairs
        pw = (self.cw[:, None] * self.pair)[..., None] * np.ones(3)  # (n-1, 10, 3)
        pw = pw.reshape(n - 1, 3 * len(POINT_NAMES))
        d = (pts[1:] - pts[:-1]).reshape(n - 1, 3 * len(POINT_NAMES))
        g[1:] += np.einsum("nrp,nr->np", Jf[1:], pw * d)
        g[:-1] -= np.einsum("nrp,nr->np", Jf[:-1], pw * d)
        D[1:] += _jtwj(Jf[1:], pw, Jf[1:])
        D[:-1] += _jtwj(Jf[:-1], pw, Jf[:-1])
        U1 -= _jtwj(Jf[:-1], pw, Jf[1:])
        res, excess = self._prior_res(theta)
        g += self.prior * res + w.limits * excess
        idx = np.arange(U)
        D[:, idx, idx] += self.prior + w.limits * (excess != 0)
        return g, D, U1, U2


def _jtwj(A: np.ndarray, w: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per frame A^T diag(w) B: A, B (n, R, U), w (n, R) -> (n, U, U)."""
    return np.matmul((A * w[..., None]).transpose(0, 2, 1), B)


def banded_solve(D: np.ndarray, U1: np.ndarray, U2: np.ndarray, g: np.ndarray, damping: float) -> np.ndarray:
    """Solve H x = -g for the block-pentadiagonal H (blocks D[t] = H[t, t], U1[t] = H[t, t+1],
    U2[t] = H[t, t+2]; the diagonal scaled by 1 + damping) with the body fit's block Cholesky
    (``fit_smpl_lm.block_cholesky``). g (n, U)."""
    from aistpp.pipeline.fit_smpl_lm import block_cholesky, block_solve

    return -block_solve(block_cholesky(D, U1, U2, damping), np.asarray(g)[..., None])[..., 0]


# ---- the stage ---------------------------------------------------------------------------------
def feet_model(data: dict, bm: BodyModel = SMPL, device: str = "cpu"):
    """A ``FastSMPL`` of the model dict ``data`` (of body model ``bm``) posing its joints and the
    six foot landmarks (``feet_layout``)."""
    from aistpp.core.fast_smpl import FastSMPL

    return FastSMPL(data, vertex_ids=feet_layout(bm).vertex_ids, device=device, model=bm)


def fit_feet(model, poses: np.ndarray, trans: np.ndarray, scaling: float, coco: np.ndarray, feet: np.ndarray,
             times: np.ndarray, betas: np.ndarray | None = None, weights: FeetWeights | None = None,
             max_gap_s: float = 0.12, window: int = 600, overlap: int = 40) -> dict:
    """Refine the legs of a body fit with foot keypoints.

    model: ``feet_model``; poses (N, pose_size) rad, trans (N, 3) cm, scaling, betas: the body fit;
    coco (N, 17, 3) cm the COCO-17 targets it was fitted to; feet (N, 6, 3) cm heel, big toe,
    small toe of each side (``foot_targets``; NaN missing); times (N,) s. Returns ``smpl_poses``
    (N, pose_size) with hips, knees, ankles and feet refined, ``planted`` (N, 10) bool (``POINT_NAMES``),
    ``points`` (N, 10, 3) cm the fitted points, ``foot_error_cm`` (6,) mean distance to the foot
    targets, ``iterations`` (the most a window took) and ``converged``.
    """
    from aistpp.pipeline.fit_smpl import windows
    from aistpp.pipeline.fit_smpl_solve import temporal_coefficients

    w = weights or FeetWeights()
    lay = feet_layout(model.model)
    n = len(poses)
    where = {name: k for k, name in enumerate(COCO17)}
    y = np.full((n, len(POINT_NAMES), 3), np.nan)
    for k, name in enumerate(POINT_NAMES):
        y[:, k] = coco[:, where[name]] if name in where else feet[:, FOOT_POINT_ORDER[name]]
    planted = np.zeros((n, len(POINT_NAMES)), bool)
    is_foot = np.array([name not in where for name in POINT_NAMES])
    planted[:, is_foot] = support_points(y[:, is_foot], contacts(y[:, is_foot], times, w.contact_height_cm,
                                                                 w.contact_speed_cm_s))
    kw = dict(dtype=model.dtype, device=model.device)
    cols = np.array([3 * j + c for j in lay.joints for c in range(3)])
    out = np.asarray(poses, np.float64).copy()
    theta_all = np.zeros((n, U))
    iters, converged = 0, True
    bt = None if betas is None else torch.as_tensor(betas, **kw)
    for a, b, wt in windows(n, window, overlap):
        idx = np.arange(a, b)
        coef, q = temporal_coefficients(times[idx], max_gap_s)
        terms = FeetTerms(w, y[idx], planted[idx], coef, q, np.diff(times[idx]), out[idx][:, cols], lay)
        theta, it, ok = _lm(model, terms, out[idx], trans[idx], scaling, bt, cols, kw, w)
        theta_all[idx] += wt[:, None] * theta
        iters, converged = max(iters, it), converged and ok
    out[:, cols] = theta_all
    pts, _ = _points(model, out, trans, scaling, bt, kw)
    err = np.linalg.norm(pts[:, is_foot] - y[:, is_foot], axis=-1)
    with warnings.catch_warnings():  # a foot point missing in every frame: NaN, no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        foot_err = np.nanmean(err, axis=0)
    return {"smpl_poses": out.astype(np.float32), "planted": planted, "points": pts, "foot_error_cm": foot_err,
            "iterations": iters, "converged": converged}


def _points(model, poses, trans, scaling, betas, kw):
    with torch.no_grad():
        p = model.forward(torch.as_tensor(poses, **kw), torch.as_tensor(trans, **kw), scaling, betas)
    return p[:, feet_layout(model.model).point_index].cpu().numpy(), None


def _lm(model, terms: FeetTerms, poses, trans, scaling, betas, cols, kw, w: FeetWeights):
    """Levenberg-Marquardt on one window: (theta (n, U), iterations, converged)."""
    from numpy.linalg import LinAlgError

    P = torch.as_tensor(poses, **kw).clone()
    T = torch.as_tensor(trans, **kw)
    theta = poses[:, cols].copy()

    def evaluate(th):
        P[:, cols] = torch.as_tensor(th, **kw)
        return points_and_jacobian(model, P, T, scaling, betas)

    pts, J = evaluate(theta)
    E = terms.value(pts, theta)
    damping, it = 1e-3, 0
    while it < w.iterations:
        it += 1
        g, D, U1, U2 = terms.normal_equations(pts, J, theta)
        while True:
            try:
                step = banded_solve(D, U1, U2, g, damping)
            except LinAlgError:
                damping *= 10
                continue
            th_new = theta + step
            P[:, cols] = torch.as_tensor(th_new, **kw)
            pts_new, _ = _points(model, P.cpu().numpy(), trans, scaling, betas, kw)
            E_new = terms.value(pts_new, th_new)
            if E_new <= E:
                break
            damping *= 10
            if damping > 1e8:
                return theta, it, True
        done = E - E_new <= w.tol * max(E_new, 1e-12)
        theta, E = th_new, E_new
        pts, J = evaluate(theta)
        damping = max(damping / 10, 1e-9)
        if done:
            return theta, it, True
    return theta, it, False
