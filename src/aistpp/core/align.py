"""Similarity alignment (Umeyama): compare reconstructions that are defined up to a gauge."""

from __future__ import annotations

import numpy as np

from aistpp.core.cameras import CameraRig, rotation_to_rodrigues


def similarity_transform(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None,
                         with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares (s, R, t) with ``dst ~ s R src + t``.

    src, dst (P, 3) (NaN rows ignored), weights (P,) -> s float, R (3, 3), t (3,).
    """
    src = np.asarray(src, np.float64).reshape(-1, 3)
    dst = np.asarray(dst, np.float64).reshape(-1, 3)
    ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    w = np.where(ok, w, 0.0)
    if w.sum() <= 0 or ok.sum() < 3:
        raise ValueError("similarity_transform needs at least 3 finite point pairs")
    w = w / w.sum()
    src0, dst0 = np.where(ok[:, None], src, 0.0), np.where(ok[:, None], dst, 0.0)
    mu_s, mu_d = w @ src0, w @ dst0
    xs, xd = src0 - mu_s, dst0 - mu_d
    cov = (xd * w[:, None]).T @ xs
    U, S, Vt = np.linalg.svd(cov)
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U @ Vt)) or 1.0
    R = U @ D @ Vt
    var_s = (w * (xs**2).sum(1)).sum()
    s = float((S * np.diag(D)).sum() / var_s) if with_scale else 1.0
    return s, R, mu_d - s * R @ mu_s


def transform_rig(rig: CameraRig, s: float, R: np.ndarray, t: np.ndarray) -> CameraRig:
    """The rig expressed in a new world frame X' = s R X + t (intrinsics unchanged).

    A camera (Rc, tc) seeing X sees X' through Rc' = Rc R^T, tc' = s tc - Rc' t.
    """
    Rc = rig.R @ R.T
    tc = s * rig.tvec - np.einsum("vij,j->vi", Rc, t)
    return CameraRig(rig.names, rig.sizes, rig.K, rig.dist, rotation_to_rodrigues(Rc), tc)


def rig_errors(estimate: CameraRig, truth: CameraRig, align: bool = True) -> dict[str, np.ndarray]:
    """Per-view errors of ``estimate`` against ``truth`` after similarity alignment of the centres.

    Returns ``rotation_deg`` (V,), ``center_cm`` (V,), ``focal_rel`` (V,) and the alignment scale.
    """
    est = estimate
    if align:
        s, R, t = similarity_transform(estimate.centers, truth.centers)
        est = transform_rig(estimate, s, R, t)
    rel = np.einsum("vij,vkj->vik", est.R, truth.R)
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)
    focal = (est.K[:, 0, 0] + est.K[:, 1, 1]) / (truth.K[:, 0, 0] + truth.K[:, 1, 1])
    return {
        "rotation_deg": np.degrees(np.arccos(cos)),
        "center_cm": np.linalg.norm(est.centers - truth.centers, axis=1),
        "focal_rel": np.abs(focal - 1),
    }


def procrustes_errors(est: np.ndarray, ref: np.ndarray, with_scale: bool = True) -> np.ndarray:
    """Per-point distances after aligning each frame of ``est`` to ``ref`` by its own similarity
    (rotation, translation and, ``with_scale``, scale; the PA-MPJPE of 3D pose estimation).

    est, ref (N, J, 3) -> (N, J); NaN where either point is NaN, and for frames with fewer than
    3 finite pairs.
    """
    a, b = np.asarray(est, np.float64), np.asarray(ref, np.float64)
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)  # (N, J)
    n = ok.sum(1)
    w = ok / np.maximum(n, 1)[:, None]
    a0, b0 = np.where(ok[..., None], a, 0.0), np.where(ok[..., None], b, 0.0)
    mu_a, mu_b = np.einsum("nj,njk->nk", w, a0), np.einsum("nj,njk->nk", w, b0)
    xa, xb = (a0 - mu_a[:, None]) * ok[..., None], (b0 - mu_b[:, None]) * ok[..., None]
    cov = np.einsum("nj,nji,njk->nik", w, xb, xa)
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    d[d == 0] = 1.0
    D = np.ones((len(a), 3))
    D[:, 2] = d
    R = np.einsum("nij,nj,njk->nik", U, D, Vt)
    var_a = np.einsum("nj,nj->n", w, (xa**2).sum(-1))
    s = (S * D).sum(1) / np.where(var_a > 0, var_a, 1.0) if with_scale else np.ones(len(a))
    moved = s[:, None, None] * np.einsum("nik,njk->nji", R, xa) + mu_b[:, None]
    err = np.linalg.norm(moved - b, axis=-1)
    return np.where(ok & (n >= 3)[:, None], err, np.nan)
