"""The SMPL fit's solver: Levenberg-Marquardt on block-banded normal equations, O(n) per step.

Unknowns of frame t (``P`` = 51): a rotation update of the root (3, rad, applied on the right of
the initial orientation ``root0``), the translation (3, cm) and the local axis-angle of the 15
optimised body joints (45, rad); shared ("globals", stage with ``fit_globals``): the log of the
scale and, when fitted, the betas. The objective, a per-frame average, is

    E = 1/n [ sum_tc m_tc rho(|p_tc - y_tc|^2)                  data; rho: Charbonnier, scale c
              + sum_i h_i (accel |a_i|^2 + rot_accel |A_i|^2)    smoothness, per second
              + sum_t prior(theta_t - mu_t) ]  +  betas |beta|^2

with ``a_i`` the second divided difference in time (cm/s^2) of the 17 COCO points over frames
i-1, i, i+1, ``A_i`` that of the local rotation matrices (1/s^2) and h_i = (t_{i+1} - t_{i-1}) / 2
(s): an integral over time of the squared acceleration, the same at every frame rate. A triple
whose intervals exceed ``max_gap_s`` is left out: frames far apart in time are not smoothed together.
The pose prior (and its twist term) is centred on ``Frames.centre`` mu_t, zero unless given, with
weight ``FitWeights.pose`` or per unknown ``Frames.pose_weight`` (the fit's frames that no smoothing
reaches: ``fit_smpl.prior_centre``, ``fit_smpl.sequence_prior``).

The gradient is exact (autograd); the Hessian is Gauss-Newton with analytic Jacobians (the pose
blend shapes' effect on the face vertices is left out there), IRLS weights for rho, assembled from
residual blocks (``fit_smpl_lm``: data, point acceleration, rotation acceleration; another term is
one more block). Temporal terms couple frames at most two apart, so the Hessian is
block-pentadiagonal (51 x 51 blocks), solved by a block Cholesky (the globals by a Schur complement). Each step costs O(n) and the number of steps
does not grow with n. Stops when an accepted step lowers E by less than ``tol`` (relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.linalg import LinAlgError

from aistpp.core.fast_smpl import _mm, axis_angle_to_matrix_fl
from aistpp.pipeline.fit_smpl_init import fit_layout
from aistpp.pipeline.fit_smpl_lm import ResidualBlock, assemble, lm_step

# The layout of SMPL fitted to COCO-17 (each Solver has its own: ``fit_layout``).
_DEFAULT = fit_layout()
ROTS = _DEFAULT.rots  # rotations with unknowns
P = _DEFAULT.P  # unknowns per frame
COLS = _DEFAULT.cols  # first column of each rotation in ROTS


def temporal_coefficients(times: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Second divided differences over frames (i, i+1, i+2): coefficients (n-2, 3) in 1/s^2 and
    integration weights (n-2,) s (0 where an interval exceeds ``max_gap_s``)."""
    t = np.asarray(times, np.float64)
    if len(t) < 3:
        return np.zeros((0, 3)), np.zeros(0)
    h1, h2 = np.diff(t)[:-1], np.diff(t)[1:]
    c = np.stack([2 / (h1 * (h1 + h2)), -2 / (h1 * h2), 2 / (h2 * (h1 + h2))], 1)
    q = np.where(np.maximum(h1, h2) <= max_gap_s, (h1 + h2) / 2, 0.0)
    return c, q


def right_jacobian(r: torch.Tensor) -> torch.Tensor:
    """SO(3) right Jacobian of axis-angle r (..., 3, N): R(r + d) ~ R(r) Exp(Jr d); (..., 3, 3, N)."""
    t2 = (r * r).sum(-2)[..., None, None, :]
    small = t2 < 1e-8
    t2s = torch.where(small, torch.ones_like(t2), t2)
    t = torch.sqrt(t2s)
    b = torch.where(small, 0.5 - t2 / 24, (1 - torch.cos(t)) / t2s)
    c = torch.where(small, 1 / 6 - t2 / 120, (t - torch.sin(t)) / (t2s * t))
    K = _skew(r)
    eye = torch.eye(3, dtype=r.dtype, device=r.device)[:, :, None]
    KK = (K[..., :, :, None, :] * K[..., None, :, :, :]).sum(-3)  # K @ K
    return eye - b * K + c * KK


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3, N) -> (..., 3, 3, N) cross-product matrices."""
    x, y, z = v.unbind(-2)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -2).reshape(*v.shape[:-2], 3, 3, v.shape[-1])


@dataclass
class Frames:
    """The data of the frames being solved (frames last, on the model's device)."""

    y: torch.Tensor  # (17, 3, n) cm, 0 where missing
    mask: torch.Tensor  # (17, n)
    root0: torch.Tensor  # (3, 3, n) initial global orientation
    coef: torch.Tensor  # (n-2, 3) 1/s^2
    q: torch.Tensor  # (n-2,) s
    centre: torch.Tensor | None = None  # (3 O, n) rad: the pose prior's centre (None: zero)
    pose_weight: torch.Tensor | None = None  # (3 O, n) the pose prior's weight per unknown (None: FitWeights.pose)


class Solver:
    """Objective, Jacobians and LM iterations for one model, one set of weights."""

    def __init__(self, fast, weights, lim: np.ndarray, twist_axis: np.ndarray):
        self.fast, self.w = fast, weights
        kw = dict(dtype=fast.dtype, device=fast.device)
        self.kw = kw
        layout = fit_layout(fast.model, fast.joint_set)
        self.opt, self.rots, self.P, self.cols = layout.opt_joints, layout.rots, layout.P, layout.cols
        self.cidx = fast.observed_index()
        self.lim = torch.as_tensor(lim, **kw)[..., None]  # (O, 3, 2, 1) for the O optimised joints
        self.twist = torch.as_tensor(twist_axis, **kw)[..., None]  # (O, 3, 1)
        # How each keypoint is carried by each joint's rigid transform: joints by their parent,
        # vertices by their skinning weights; Wsub[c, m, k] = weight of k if k is in m's subtree.
        nj, parents = fast.num_joints, fast.parents
        Wc = torch.zeros(len(self.cidx), nj, **kw)  # on the model's device (no copy back to the host)
        for c, i in enumerate(self.cidx):
            if i < nj:
                Wc[c, parents[i]] = 1.0
            else:
                Wc[c] = fast.weights[i - nj]
        S = torch.as_tensor(fast.model.subtree[list(self.rots)], **kw)
        self.Wsub = Wc[:, None, :] * S[None]  # (K, O + 1, J)
        self.eye = torch.eye(3, **kw)[:, :, None]

    # ---- model ---------------------------------------------------------------------
    def rotations(self, theta: torch.Tensor, fr: Frames) -> torch.Tensor:
        """(O + 1, 3, 3, n) local rotations of ``rots`` (root: root0 Exp(droot))."""
        body = theta[6:].reshape(len(self.opt), 3, -1)
        root = _mm(fr.root0, axis_angle_to_matrix_fl(theta[:3]))
        return torch.cat([root[None], axis_angle_to_matrix_fl(body)])

    def _full(self, R16: torch.Tensor) -> torch.Tensor:
        n = R16.shape[-1]
        slots = {j: k for k, j in enumerate(self.rots)}
        eye = self.eye.expand(3, 3, n)
        return torch.stack([R16[slots[j]] if j in slots else eye for j in range(self.fast.num_joints)])

    def model(self, theta, log_s, betas, fr: Frames, s0: float) -> tuple[torch.Tensor, torch.Tensor]:
        """World keypoints (K, 3, n) cm and the local rotations R16 (O + 1, 3, 3, n)."""
        R16 = self.rotations(theta, fr)
        body_pts = self.fast.forward_frames_last(self._full(R16), betas)[self.cidx]
        return body_pts * (s0 * torch.exp(log_s)) + theta[3:6][None], R16

    def cost(self, pts, R16, theta, betas, fr: Frames) -> torch.Tensor:
        """E from the model's points and rotations (and theta for the priors)."""
        w = self.w
        n = theta.shape[-1]
        c2 = w.robust_cm**2
        d2 = ((pts - fr.y) ** 2).sum(1)
        total = (2 * c2 * (torch.sqrt(1 + d2 / c2) - 1) * fr.mask).sum()
        if len(fr.q):
            c = fr.coef.T[:, None, None]  # (3, 1, 1, n-2)
            a = c[0] * pts[..., :-2] + c[1] * pts[..., 1:-1] + c[2] * pts[..., 2:]
            cr = c[:, None]
            A = cr[0] * R16[..., :-2] + cr[1] * R16[..., 1:-1] + cr[2] * R16[..., 2:]
            total = total + (fr.q * (w.accel * (a**2).sum((0, 1)) + w.rot_accel * (A**2).sum((0, 1, 2)))).sum()
        body = theta[6:].reshape(len(self.opt), 3, n)
        excess = torch.relu(body - self.lim[:, :, 1]) + torch.relu(self.lim[:, :, 0] - body)
        dev = body if fr.centre is None else body - fr.centre.reshape(body.shape)
        pw = w.pose if fr.pose_weight is None else fr.pose_weight.reshape(body.shape)
        total = total + (pw * dev**2 + w.twist * (dev * self.twist) ** 2 + w.limits * excess**2).sum()
        total = total / n
        if betas is not None:
            total = total + w.betas * (betas**2).sum()
        return total

    def objective(self, theta, log_s, betas, fr: Frames, s0: float) -> torch.Tensor:
        return self.cost(*self.model(theta, log_s, betas, fr, s0), theta, betas, fr)

    # ---- Gauss-Newton pieces ---------------------------------------------------------
    @torch.no_grad()
    def jacobians(self, theta, log_s, betas, fr: Frames, s0: float):
        """Jacobians and data weights: Jd (n, 17, 3, P) d(points)/d(theta) cm, Jg (n, 17, 3, G)
        d(points)/d(globals), JR (n, 16, 9, 3) d(local rotation)/d(own 3 unknowns), M (n, 17, 3, 3)
        the robust loss' Hessian in each point's residual (0 where missing)."""
        n = theta.shape[-1]
        s = s0 * torch.exp(log_s)  # a tensor: no host round trip
        R16 = self.rotations(theta, fr)
        points, Rg, tg, v_posed, t_rel = self.fast.forward_frames_last(self._full(R16), betas, parts=True)
        carried = (Rg[None] * v_posed[:, None, None]).sum(3) + t_rel[None]  # (K, J, 3, n)
        nj = self.fast.num_joints
        Y = torch.zeros(len(self.cidx), nj, 3, n, **self.kw)
        for c, i in enumerate(self.cidx):
            if i < nj:
                Y[c, self.fast.parents[i]] = tg[i]
            else:
                Y[c] = carried[i - nj]
        rots = list(self.rots)
        A = torch.einsum("cmk,ckxn->cmxn", self.Wsub, Y) - self.Wsub.sum(-1)[..., None, None] * tg[rots][None]
        r16 = torch.cat([theta[:3][None], theta[6:].reshape(len(self.opt), 3, n)])
        Jr = right_jacobian(r16)  # (16, 3, 3, n)
        GJ = (Rg[rots][:, :, :, None] * Jr[:, None]).sum(2)  # (16, 3x, 3i, n)
        # d p_c / d delta_mi = s * (GJ[m, :, i] x A[c, m])
        cross = torch.linalg.cross(GJ.permute(0, 2, 1, 3)[None], A[:, :, None], dim=3)  # (17, 16, 3i, 3x, n)
        Jd = torch.zeros(n, len(self.cidx), 3, self.P, **self.kw)
        for m, col in enumerate(self.cols):
            Jd[..., col:col + 3] = s * cross[:, m].permute(3, 0, 2, 1)
        Jd[..., 3:6] = torch.eye(3, **self.kw)
        body_pts = points[self.cidx]
        pts = body_pts * s + theta[3:6][None]
        gl = [(body_pts * s).permute(2, 0, 1).reshape(n, -1, 1)]  # d/d log_s
        if betas is not None:
            gl.append(self._betas_jacobian(R16, betas) * s)
        Jg = torch.cat(gl, -1)  # (n, 51, G)
        dR = []
        for i in range(3):  # d R_m / d delta_mi = R_m [Jr_m e_i]x
            K = _skew(Jr[:, :, i])
            dR.append((R16[:, :, :, None] * K[:, None]).sum(2))  # (16, 3, 3, n)
        JR = torch.stack(dR, -2).permute(4, 0, 1, 2, 3).reshape(n, len(self.rots), 9, 3)
        # Hessian of rho(|r|^2) in r (halved): rho' across, rho' + 2 s rho'' = (1 + s/c^2)^-1.5 along r
        c2 = self.w.robust_cm**2
        r = (pts - fr.y).permute(2, 0, 1)  # (n, 17, 3)
        d2 = r.square().sum(-1, keepdim=True)
        u = 1 + d2 / c2
        across, along = 1 / torch.sqrt(u), u**-1.5
        rhat = r / torch.sqrt(torch.clamp(d2, min=1e-24))
        eye = torch.eye(3, **self.kw)
        M = across[..., None] * eye + (along - across)[..., None] * rhat[..., :, None] * rhat[..., None, :]
        M = (M * fr.mask.T[:, :, None, None]).reshape(n, len(self.cidx), 3, 3)
        return Jd, Jg.reshape(n, len(self.cidx), 3, -1), JR, M

    def _betas_jacobian(self, R16, betas) -> torch.Tensor:
        """(n, 51, B) d(body points)/d(betas) m, by forward-mode autograd (one pass per beta)."""
        import torch.autograd.forward_ad as fwAD

        full = self._full(R16)
        cols = []
        for b in range(betas.numel()):
            with fwAD.dual_level():
                tan = torch.zeros_like(betas)
                tan[b] = 1.0
                out = self.fast.forward_frames_last(full, fwAD.make_dual(betas.detach(), tan))
                cols.append(fwAD.unpack_dual(out).tangent[self.cidx])
        return torch.stack(cols, -1).permute(2, 0, 1, 3).reshape(R16.shape[-1], -1, betas.numel())

    def residual_blocks(self, theta, log_s, betas, fr: Frames, s0: float, fit_globals: bool) -> list[ResidualBlock]:
        """E's least-squares terms as residual blocks (``fit_smpl_lm``): the data (one frame,
        IRLS weights of the robust loss), the points' and the rotations' acceleration (three
        frames each, globals included: the scale and the betas move the points too)."""
        w = self.w
        n = theta.shape[-1]
        Jd4, Jg4, JR, M = self.jacobians(theta, log_s, betas, fr, s0)
        Jd, Jg = Jd4.reshape(n, -1, self.P), Jg4.reshape(n, -1, Jg4.shape[-1]) if fit_globals else None
        nc = len(self.cidx)

        def robust(X):  # (n, 51, k): each point's 3 x 3 IRLS Hessian
            return torch.einsum("ncxy,ncyk->ncxk", M, X.reshape(n, nc, 3, -1)).reshape(X.shape)

        blocks = [ResidualBlock(Jd, robust, Jg=Jg)]
        if len(fr.q):
            c, q = fr.coef, fr.q
            blocks.append(ResidualBlock(Jd, w.accel * q, c, Jg=Jg))

            def rot_gram(d):  # each rotation moves with its own 3 unknowns only: 16 (3 x 3) blocks
                X = torch.einsum("nmrp,nmrq->nmpq", JR[: n - d], JR[d:])
                out = torch.zeros(n - d, self.P, self.P, **self.kw)
                for r, col in enumerate(self.cols):
                    out[:, col:col + 3, col:col + 3] = X[:, r]
                return out

            blocks.append(ResidualBlock(None, w.rot_accel * q, c, gram=rot_gram))
        return blocks

    @torch.no_grad()
    def normal_equations(self, theta, log_s, betas, fr: Frames, s0: float, fit_globals: bool):
        """Gauss-Newton Hessian of E: diagonal blocks D (n, P, P), the blocks one and two frames
        off the diagonal U1 (n-1, P, P) = H[t, t+1], U2 (n-2, P, P) = H[t, t+2], and with
        ``fit_globals`` the border B (n, P, G) and corner C (G, G)."""
        w = self.w
        n = theta.shape[-1]
        G = (1 + (0 if betas is None else betas.numel())) if fit_globals else 0
        out = assemble(self.residual_blocks(theta, log_s, betas, fr, s0, fit_globals), n, self.P, G, self.kw)
        body = theta[6:].reshape(len(self.opt), 3, n)
        outside = ((body > self.lim[:, :, 1]) | (body < self.lim[:, :, 0])).to(body.dtype)
        pw = w.pose if fr.pose_weight is None else fr.pose_weight.reshape(len(self.opt), 3, n)
        prior = (pw + w.twist * self.twist**2 + w.limits * outside).reshape(-1, n).T  # (n, 45)
        out["D"][:, 6:, 6:] += torch.diag_embed(prior)
        scale = 2.0 / n
        out = {k: v * scale for k, v in out.items()}
        if fit_globals and betas is not None:
            out["C"][1:, 1:] += 2 * w.betas * torch.eye(betas.numel(), **self.kw)
        return out


def solve(solver: Solver, theta0: np.ndarray, log_s0: float, betas0, fr: Frames, s0: float,
          fit_globals: bool, max_iter: int, tol: float) -> dict:
    """Levenberg-Marquardt from theta0 (P, n). Returns ``theta`` (P, n), ``log_s``, ``betas``,
    ``loss`` (E at the end), ``iterations``, ``converged`` (an accepted step lowered E by less
    than ``tol`` relative, with little damping)."""
    kw = solver.kw
    theta = torch.as_tensor(theta0, **kw).clone()
    log_s = torch.tensor(float(log_s0), **kw)
    betas = None if betas0 is None else torch.as_tensor(betas0, **kw).clone()

    def value_grad(th, ls, bt):
        params = [th.requires_grad_(True)]
        if fit_globals:
            params += [ls.requires_grad_(True)] + ([bt.requires_grad_(True)] if bt is not None else [])
        E = solver.objective(th, ls, bt, fr, s0)
        grads = torch.autograd.grad(E, params)
        for p in params:
            p.requires_grad_(False)
        return float(E.detach()), grads

    def value(th, ls, bt):
        with torch.no_grad():
            return float(solver.objective(th, ls, bt, fr, s0))

    E, grads = value_grad(theta, log_s, betas)
    damping, converged, it = 1e-4, False, 0
    while it < max_iter and not converged:
        it += 1
        H = {k: v.cpu().numpy() for k, v in solver.normal_equations(theta, log_s, betas, fr, s0, fit_globals).items()}
        g = grads[0].T.cpu().numpy()
        gg = torch.cat([x.reshape(-1) for x in grads[1:]]).cpu().numpy() if fit_globals else None
        while True:
            try:
                d, dg = lm_step(H, g, gg, damping)
            except LinAlgError:
                damping *= 10
                continue
            th_new = theta + torch.as_tensor(d.T, **kw)
            ls_new, bt_new = log_s, betas
            if dg is not None:
                ls_new = log_s + float(dg[0])
                if betas is not None:
                    bt_new = betas + torch.as_tensor(dg[1:], **kw)
            E_new = value(th_new, ls_new, bt_new)
            if E_new <= E:
                converged = (E - E_new) <= tol * max(E_new, 1e-12) and damping <= 1e-2
                break
            damping *= 10
            if damping > 1e8:  # no descent at any damping: at the minimum, to rounding
                th_new, ls_new, bt_new, E_new, converged = theta, log_s, betas, E, True
                break
        theta, log_s, betas = th_new.detach(), ls_new.detach() if torch.is_tensor(ls_new) else ls_new, bt_new
        E, grads = value_grad(theta, log_s, betas)
        damping = max(damping / 10, 1e-9)
    return {"theta": theta.cpu().numpy(), "log_s": float(log_s), "betas": None if betas is None else betas.cpu().numpy(),
            "loss": E, "iterations": it, "converged": converged}


def globals_response(solver: Solver, theta: np.ndarray, log_s: float, betas, fr: Frames, s0: float) -> dict:
    """At a window's solution ``theta`` (P, n), solved with the globals (log scale, betas) held:
    how E responds to the globals with the frames following them. With H the frames' block of the
    Gauss-Newton Hessian, B its border and C its corner (``normal_equations``) and g the gradient
    of E in the globals, the frames' optimum moves by d theta = -Y d globals with Y = H^-1 B, and
    E changes by g d + d^T S d / 2 with S = C - B^T Y. Windows' g and S add (each weighted by its
    share of the sequence): the Newton step of the globals over every frame. Returns ``g`` (G,),
    ``S`` (G, G), ``Y`` (P, n, G)."""
    from aistpp.pipeline.fit_smpl_lm import block_cholesky, block_solve

    kw = solver.kw
    th = torch.as_tensor(theta, **kw)
    ls = torch.tensor(float(log_s), **kw).requires_grad_(True)
    bt = None if betas is None else torch.as_tensor(betas, **kw).clone().requires_grad_(True)
    params = [ls] + ([bt] if bt is not None else [])
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(solver.objective(th, ls, bt, fr, s0), params)])
    ls, bt = ls.detach(), None if bt is None else bt.detach()
    H = {k: v.cpu().numpy() for k, v in solver.normal_equations(th, ls, bt, fr, s0, True).items()}
    Y = block_solve(block_cholesky(H["D"], H["U1"], H["U2"], 0.0), H["B"])  # (n, P, G)
    return {"g": g.cpu().numpy(), "S": H["C"] - np.einsum("npg,nph->gh", H["B"], Y), "Y": Y.transpose(1, 0, 2)}
