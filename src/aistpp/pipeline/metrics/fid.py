"""Set metrics between generated and ground-truth feature sets: Bailando's FID and diversity.

Bailando's protocol (followed by its successors; ``bailando_joints`` prepares the input):
  - features per motion on its first 1,200 frames, every joint minus the first frame's root;
  - both sets normalised with the ground-truth set's per-dimension mean and standard
    deviation (population std, ``+ 1e-10``): x' = (x - mu_gt) / (sd_gt + 1e-10);
  - FID = |mu_1 - mu_2|^2 + tr S_1 + tr S_2 - 2 tr (S_1 S_2)^(1/2), covariances
    ``np.cov(rowvar=False)`` (N - 1);
  - Div = the mean Euclidean distance over all pairs of distinct motions of a set.
"""

from __future__ import annotations

import numpy as np

BAILANDO_FRAMES = 1200


def bailando_joints(joints: np.ndarray, frames: int = BAILANDO_FRAMES) -> np.ndarray:
    """(N, J, 3) -> (min(N, frames), J, 3): the first ``frames`` frames minus the first frame's root joint."""
    P = np.asarray(joints, np.float64)[:frames]
    return P - P[:1, :1]


def normalise(pred: np.ndarray, gt: np.ndarray, eps: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """(K_p, D), (K_g, D) -> both z-scored with the ground truth's mean and population std (+ eps)."""
    mu, sd = gt.mean(0), gt.std(0)
    return (pred - mu) / (sd + eps), (gt - mu) / (sd + eps)


def _psd(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with round-off removed: those below D eps max|w| are 0
    (their square roots, ~1e-8 each, would otherwise add up over the null space)."""
    w = np.asarray(w, np.float64)
    tol = len(w) * np.finfo(np.float64).eps * max(float(np.abs(w).max(initial=0.0)), 1e-300)
    return np.where(w > tol, w, 0.0)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` (K_a, D) and ``b`` (K_b, D).

    tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of the symmetric
    S_a^(1/2) S_b S_a^(1/2) (the same eigenvalues as S_a S_b), which stays real and finite
    when the covariances are singular (fewer motions than dimensions, the usual case).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, V = np.linalg.eigh(ca)
    root_a = (V * np.sqrt(_psd(w))) @ V.T
    cross = float(np.sqrt(_psd(np.linalg.eigvalsh(root_a @ cb @ root_a))).sum())
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(ca) + np.trace(cb) - 2.0 * cross)


def diversity(x: np.ndarray) -> float:
    """(K, D) -> the mean Euclidean distance over all K (K - 1) / 2 pairs of distinct rows."""
    x = np.asarray(x, np.float64)
    if len(x) < 2:
        return float("nan")
    sq = (x * x).sum(1)
    gram = x @ x.T
    d2 = np.clip(sq[:, None] + sq[None] - 2 * gram, 0, None)
    iu = np.triu_indices(len(x), 1)
    # the Gram form loses digits for near-identical rows: recompute those pairs directly
    close = d2[iu] < 1e-6 * (sq[iu[0]] + sq[iu[1]] + 1e-300)
    d = np.sqrt(d2[iu])
    if close.any():
        d[close] = np.linalg.norm(x[iu[0][close]] - x[iu[1][close]], axis=1)
    return float(d.mean())


def bailando_metrics(pred: dict[str, np.ndarray], gt: dict[str, np.ndarray]) -> dict:
    """``pred``/``gt``: {"kinetic": (K, 3 J), "geometric": (K, 32)} -> FID_k, FID_g, Div_k,
    Div_g of the generated set and Div_k, Div_g of the ground truth (Bailando's protocol)."""
    out: dict = {}
    for kind, key in (("kinetic", "k"), ("geometric", "g")):
        p, g = normalise(pred[kind], gt[kind])
        out[f"FID_{key}"] = frechet_distance(p, g)
        out[f"Div_{key}"] = diversity(p)
        out[f"GT_Div_{key}"] = diversity(g)
    return out
