"""Temporal optimisation of 3D keypoints: reprojection + smoothness + constant bone lengths.

Minimises over all frames of a sequence (N, J, 3) cm

    sum_obs  huber(|proj(X) - x| / sigma_px)            (inlier observations, weighted by confidence)
  + sum      |X[n+1] - 2 X[n] + X[n-1]|^2 / sigma_accel^2  (per joint and frame)
  + sum      (|X[a] - X[b]| - L_ab)^2 / sigma_bone^2      (the joint set's bones, every frame)

with per-sequence bone lengths ``L`` estimated as the median length over the initial
triangulation. It is solved by Gauss-Newton with iteratively reweighted (Huber) reprojection
terms; each linear system is solved by preconditioned conjugate gradients whose
preconditioner is the exact per-joint block-banded part of the normal matrix (data and
smoothness terms, one banded Cholesky factorisation), so only the bone couplings between joints are
iterated on. No dense Jacobian is ever built: the normal matrix is applied matrix-free.
Sequences are processed in overlapping windows of frames, so working memory does not grow
with the sequence length. Joints missing for at most ``max_gap`` frames are filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve_banded, cholesky_banded

from aistpp.core.camera import normalised_projection
from aistpp.core.cameras import CameraRig
from aistpp.core.gaps import short_gaps_filled
from aistpp.core.joints import COCO_BONES


@dataclass(frozen=True)
class OptimOptions:
    """Weights and solver settings (units in the names)."""

    sigma_px: float = 2.0  # expected detection noise
    huber_px: float = 5.0  # reprojection errors beyond this count linearly
    sigma_accel_cm: float = 0.6  # expected per-frame second difference (60 fps)
    sigma_bone_cm: float = 0.5  # allowed bone-length variation
    max_gap: int = 15  # frames: longer gaps stay NaN
    iterations: int = 6  # Gauss-Newton iterations
    cg_iterations: int = 30
    window: int = 1500  # frames per window
    overlap: int = 60  # frames shared by neighbouring windows (each side)


# ---- initialisation -----------------------------------------------------------------------
def bone_lengths(points3d: np.ndarray, bones: np.ndarray = COCO_BONES) -> np.ndarray:
    """Median length (B,) cm of each bone over the frames where both joints are known. points3d (N, J, 3)."""
    d = np.linalg.norm(points3d[:, bones[:, 0]] - points3d[:, bones[:, 1]], axis=-1)  # (N, B)
    out = np.full(len(bones), np.nan)
    ok = np.isfinite(d).any(axis=0)
    out[ok] = np.nanmedian(d[:, ok], axis=0)
    return out


# ---- the normal equations, applied matrix-free -------------------------------------------------
def _second_diff_t(d: np.ndarray, n: int) -> np.ndarray:
    """D2^T d for second differences d (n-2, ...) -> (n, ...)."""
    out = np.zeros((n,) + d.shape[1:])
    out[2:] += d
    out[1:-1] -= 2 * d
    out[:-2] += d
    return out


def _dtd(x: np.ndarray) -> np.ndarray:
    """D2^T D2 x along axis 0 (frames)."""
    if len(x) < 3:
        return np.zeros_like(x)
    return _second_diff_t(x[2:] - 2 * x[1:-1] + x[:-2], len(x))


def _dtd_bands(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagonal (n,), first (n-1,) and second (n-2,) off-diagonals of D2^T D2."""
    d0, d1, d2 = np.zeros(n), np.zeros(max(n - 1, 0)), np.zeros(max(n - 2, 0))
    if n >= 3:
        d0[:-2] += 1
        d0[1:-1] += 4
        d0[2:] += 1
        d1[:-1] -= 2
        d1[1:] -= 2
        d2[:] = 1
    return d0, d1, d2


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product without BLAS (multithreaded BLAS on tiny vectors is slow on a busy machine)."""
    return float((a * b).sum())


class _System:
    """The Gauss-Newton normal matrix of one window: H = D + S + B (data, smoothness, bones)."""

    def __init__(self, Hd: np.ndarray, lam: float, bone_blocks: np.ndarray, bones: np.ndarray):
        self.Hd = Hd  # (N, J, 3, 3): data + bone diagonal + damping
        self.lam = lam
        self.Bb = bone_blocks  # (N, B, 3, 3): off-diagonal blocks (a, b)
        self.bones = bones
        N, J = Hd.shape[:2]
        # banded preconditioner in (joint, frame, coordinate) order, lower form, bandwidth 8
        ab = np.zeros((9, J, N, 3))
        for c in range(3):
            for cc in range(c + 1):
                ab[c - cc, :, :, cc] = Hd[:, :, c, cc].T
        d0, d1, d2 = _dtd_bands(N)
        ab[0] += lam * d0[None, :, None]
        ab[3, :, :-1] += lam * d1[None, :, None]
        ab[6, :, :-2] += lam * d2[None, :, None]
        self.chol = cholesky_banded(ab.reshape(9, -1), lower=True, check_finite=False)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """H x for x (N, J, 3)."""
        y = np.einsum("njab,njb->nja", self.Hd, x) + self.lam * _dtd(x)
        a, b = self.bones[:, 0], self.bones[:, 1]
        ya = np.einsum("nkab,nkb->nka", self.Bb, x[:, b])
        yb = np.einsum("nkba,nkb->nka", self.Bb, x[:, a])
        for k in range(len(self.bones)):  # a loop over bones (joints may repeat, so no fancy +=)
            y[:, a[k]] += ya[:, k]
            y[:, b[k]] += yb[:, k]
        return y

    def precondition(self, r: np.ndarray) -> np.ndarray:
        N, J, _ = r.shape
        z = cho_solve_banded((self.chol, True), r.transpose(1, 0, 2).reshape(-1), check_finite=False)
        return np.ascontiguousarray(z.reshape(J, N, 3).transpose(1, 0, 2))

    def solve(self, g: np.ndarray, iterations: int, tol: float = 1e-8) -> np.ndarray:
        """PCG for H x = g (x, g (N, J, 3))."""
        x = self.precondition(g)
        r = g - self.apply(x)
        z = self.precondition(r)
        p = z.copy()
        rz = _dot(r, z)
        g2 = _dot(g, g)
        for _ in range(iterations):
            if _dot(r, r) <= tol * tol * g2:
                break
            Hp = self.apply(p)
            alpha = rz / _dot(p, Hp)
            x += alpha * p
            r -= alpha * Hp
            z = self.precondition(r)
            rz_new = _dot(r, z)
            p = z + (rz_new / rz) * p
            rz = rz_new
        return x


# ---- one window ----------------------------------------------------------------------------
def _optimise_window(rig: CameraRig, xy: np.ndarray, w: np.ndarray, X: np.ndarray, active: np.ndarray,
                     lengths: np.ndarray, opt: OptimOptions, bones: np.ndarray = COCO_BONES) -> np.ndarray:
    """Gauss-Newton on one window. xy (V, N, J, 2) normalised, w (V, N, J) confidence weights
    (0 = unused), X (N, J, 3) cm initial (finite), active (N, J), ``bones`` (B, 2) joint pairs
    of ``lengths`` (B,) cm -> optimised X (N, J, 3)."""
    f = 0.5 * (rig.K[:, 0, 0] + rig.K[:, 1, 1])
    s = (f / opt.sigma_px)[:, None, None]  # normalised error -> units of sigma
    delta = opt.huber_px / opt.sigma_px
    lam = 1.0 / opt.sigma_accel_cm**2
    wb = 1.0 / opt.sigma_bone_cm**2
    a, b = bones[:, 0], bones[:, 1]
    bone_on = active[:, a] & active[:, b] & np.isfinite(lengths)[None]  # (N, B)
    L = np.nan_to_num(lengths)[None]
    w = np.where(active[None], w, 0.0)
    X = X.copy()
    V, (N, J) = len(rig), X.shape[:2]
    for _ in range(opt.iterations):
        u, z, du = normalised_projection(rig.R, rig.tvec, X)  # (V, N, J, 2), (V, N, J), (V, N, J, 2, 3)
        front = z > 1e-3
        e = (u - np.nan_to_num(xy)) * s[..., None]  # (V, N, J, 2) in sigmas
        Jw = du * s[..., None, None]  # in sigmas per cm
        r = np.linalg.norm(e, axis=-1)
        omega = w * np.where(front, np.where(r <= delta, 1.0, delta / np.maximum(r, 1e-12)), 0.0)  # IRLS
        sq = np.sqrt(omega)[..., None]
        Js = (Jw * sq[..., None]).transpose(1, 2, 0, 3, 4).reshape(N, J, 2 * V, 3)
        es = (e * sq).transpose(1, 2, 0, 3).reshape(N, J, 2 * V, 1)
        Hd = np.matmul(Js.transpose(0, 1, 3, 2), Js)  # (N, J, 3, 3)
        g = np.matmul(Js.transpose(0, 1, 3, 2), es)[..., 0]  # (N, J, 3)
        g += lam * _dtd(X)
        # bones
        d = X[:, a] - X[:, b]  # (N, B, 3)
        length = np.linalg.norm(d, axis=-1)
        unit = d / np.maximum(length, 1e-6)[..., None]
        res = np.where(bone_on, length - L, 0.0)
        uu = wb * np.where(bone_on[..., None, None], unit[..., :, None] * unit[..., None, :], 0.0)
        gb = wb * res[..., None] * unit
        for k in range(len(bones)):
            Hd[:, a[k]] += uu[:, k]
            Hd[:, b[k]] += uu[:, k]
            g[:, a[k]] += gb[:, k]
            g[:, b[k]] -= gb[:, k]
        Hd += 1e-6 * np.eye(3)
        system = _System(Hd, lam, -uu, bones)
        step = system.solve(-g, opt.cg_iterations)
        X += step
        if np.abs(step).max() < 1e-4:
            break
    return X


def optimise_keypoints3d(rig: CameraRig, xy: np.ndarray, weights: np.ndarray, points3d: np.ndarray,
                         options: OptimOptions | None = None, bones: np.ndarray = COCO_BONES) -> np.ndarray:
    """Temporally optimised keypoints (N, J, 3) cm.

    rig: V cameras; xy (V, N, J, 2) undistorted normalised observations (``CameraRig.undistort``;
    NaN missing); weights (V, N, J) per observation (confidence, 0 for outliers / unused);
    points3d (N, J, 3) cm initial triangulation (NaN where unknown). Joints missing for at most
    ``max_gap`` frames are filled; longer gaps stay NaN. ``bones`` (B, 2): the joint set's skeleton
    (``JointSet.bones``; default COCO-17's), whose lengths are held constant.
    """
    opt = options or OptimOptions()
    N, J, _ = points3d.shape
    bones = np.asarray(bones, np.int64).reshape(-1, 2)
    lengths = bone_lengths(points3d, bones)
    init, active = short_gaps_filled(points3d, opt.max_gap)
    w = np.where(np.isfinite(xy).all(axis=-1), weights, 0.0)
    out = np.full_like(init, np.nan)
    step = max(opt.window, 1)
    for s in range(0, N, step):
        lo, hi = max(0, s - opt.overlap), min(N, s + step + opt.overlap)
        X0 = np.nan_to_num(init[lo:hi])  # inactive points start anywhere; only smoothness sees them
        Xw = _optimise_window(rig, xy[:, lo:hi], w[:, lo:hi], X0, active[lo:hi], lengths, opt, bones)
        keep = slice(s - lo, s - lo + min(step, N - s))
        out[s:s + step] = Xw[keep]
    out[~active] = np.nan
    return out
