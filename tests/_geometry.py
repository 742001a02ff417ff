"""Small independent geometry for tests (numpy only, not aistpp's own code)."""

from __future__ import annotations

import numpy as np


def similarity(src: np.ndarray, dst: np.ndarray):
    """s, R, t minimising |s R src + t - dst| (Umeyama), src/dst (N, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    R = U @ D @ Vt
    s = np.trace(np.diag(S) @ D) / a.var(0).sum()
    return s, R, mu_d - s * R @ mu_s


def aligned_errors(pts: np.ndarray, truth: np.ndarray):
    """Per-point distances after the best similarity alignment of ``pts`` onto ``truth`` (finite pairs)."""
    ok = np.isfinite(pts).all(-1) & np.isfinite(truth).all(-1)
    s, R, t = similarity(pts[ok], truth[ok])
    return np.linalg.norm(s * pts[ok] @ R.T + t - truth[ok], axis=-1), s, ok
