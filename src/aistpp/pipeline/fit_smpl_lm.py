"""Block-banded Levenberg-Marquardt pieces of the SMPL fit: residual blocks -> normal equations -> step.

Unknowns: ``P`` per frame (frames couple through residuals that span a few consecutive frames)
and ``G`` shared ("globals": scale, betas). A ``ResidualBlock`` is m residual groups of R rows;
group i touches frames ``start + i + k`` for each k in ``offsets`` (at most 2 apart) and,
optionally, the globals. ``assemble`` adds every block's Gauss-Newton term J^T W J into

    D (n, P, P) = H[t, t],  U1 (n-1, P, P) = H[t, t+1],  U2 (n-2, P, P) = H[t, t+2],
    B (n, P, G) = H[t, globals],  C (G, G) = H[globals, globals]

so a new residual (e.g. foot keypoints) is one more block, with no change to the solver.
``lm_step`` solves (H + damping diag H) delta = -g with a block Cholesky of the frame part,
frame by frame (O(n P^3); measured faster here than LAPACK's banded ``pbtrf`` on the same matrix,
bandwidth 3P - 1) and the globals by a Schur complement.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from numpy.linalg import LinAlgError
from scipy.linalg.lapack import dpotrf as potrf, dtrtri as trtri


@dataclass
class ResidualBlock:
    """m residual groups of R rows: group i = sum_k coef[i, k] f(frame start + i + k) of a per-frame
    quantity f (R rows) with Jacobian ``J`` (n, R, P) in its frame's unknowns and ``Jg`` (n, R, G) in
    the globals (or None). ``coef`` None: one frame per group (m = n, start 0) weighted by
    ``weight(X)``, which applies each frame's (R, R) weight matrix to X (n, R, k); else ``weight``
    (m,) scales each group. ``gram(d)`` -> (n - d, P, P) J[t]^T J[t + d] may replace J (e.g. when J
    is sparse)."""

    J: torch.Tensor | None
    weight: torch.Tensor | Callable[[torch.Tensor], torch.Tensor]
    coef: torch.Tensor | None = None
    start: int = 0
    Jg: torch.Tensor | None = None
    gram: Callable[[int], torch.Tensor] | None = None


def assemble(blocks: list[ResidualBlock], n: int, P: int, G: int, kw: dict) -> dict:
    """Sum of the blocks' J^T W J as the block-banded D, U1, U2 and, when G > 0, B and C."""
    D = torch.zeros(n, P, P, **kw)
    U = [D, torch.zeros(max(n - 1, 0), P, P, **kw), torch.zeros(max(n - 2, 0), P, P, **kw)]
    B = torch.zeros(n, P, G, **kw) if G else None
    C = torch.zeros(G, G, **kw) if G else None
    for blk in blocks:
        Jg = blk.Jg if G else None
        if blk.coef is None:  # one frame per group, a weight matrix per frame
            WJ = blk.weight(blk.J)
            D += torch.einsum("nrp,nrq->npq", blk.J, WJ)
            if Jg is not None:
                WJg = blk.weight(Jg)
                B += torch.einsum("nrp,nrg->npg", blk.J, WJg)
                C += torch.einsum("nrg,nrh->gh", Jg, WJg)
            continue
        m, K = blk.coef.shape
        if m == 0:
            continue
        c, w, s = blk.coef, blk.weight, blk.start
        for d in range(K):  # frame pairs d apart: the product J[t]^T J[t + d] once, then weighted
            X = blk.gram(d) if blk.gram is not None else torch.einsum("nrp,nrq->npq", blk.J[: n - d], blk.J[d:])
            for a in range(K - d):
                U[d][s + a:s + a + m] += (w * c[:, a] * c[:, a + d])[:, None, None] * X[s + a:s + a + m]
        if Jg is not None:
            Ag = sum(c[:, k, None, None] * Jg[s + k:s + k + m] for k in range(K))  # (m, R, G)
            for a in range(K):
                B[s + a:s + a + m] += (w * c[:, a])[:, None, None] * torch.einsum(
                    "mrp,mrg->mpg", blk.J[s + a:s + a + m], Ag)
            C += torch.einsum("m,mrg,mrh->gh", w, Ag, Ag)
    out = {"D": D, "U1": U[1], "U2": U[2]}
    if G:
        out.update(B=B, C=C)
    return out


def block_cholesky(D: np.ndarray, U1: np.ndarray, U2: np.ndarray, damping: float):
    """Cholesky factor of the block-pentadiagonal H (blocks D[t] = H[t, t], U1[t] = H[t, t+1],
    U2[t] = H[t, t+2]) with the diagonal scaled by (1 + damping): per frame the diagonal block
    L0[t] (stored inverted) and the blocks L1[t] = L[t, t-1], L2[t] = L[t, t-2]. O(n) in time and memory."""
    n, P = len(D), D.shape[1]
    L0, L12 = np.zeros_like(D), np.zeros((n, P, 2 * P))
    L1, L2 = L12[:, :, :P], L12[:, :, P:]  # views: L[t, t-1], L[t, t-2]
    idx = np.arange(P)
    for t in range(n):
        S = D[t].copy()
        S[idx, idx] *= 1 + damping
        S[idx, idx] += 1e-9
        if t >= 2:
            S -= L12[t] @ L12[t].T  # [L1 L2] [L1 L2]^T in one product
        elif t == 1:
            S -= L1[t] @ L1[t].T
        c, info = potrf(S, lower=1)
        if info:
            raise LinAlgError(f"not positive definite (frame {t})")
        L0[t], info = trtri(c, lower=1)  # stored inverted (triangular inverse)
        if t + 1 < n:
            rhs = U1[t].T - (L2[t + 1] @ L1[t].T if t >= 1 else 0.0)
            L1[t + 1] = rhs @ L0[t].T
        if t + 2 < n:
            L2[t + 2] = U2[t].T @ L0[t].T
    return L0, L1, L2


def block_solve(factor, b: np.ndarray) -> np.ndarray:
    """Solve H x = b with ``block_cholesky``'s factor; b (n, P, k)."""
    L0, L1, L2 = factor
    n = len(b)
    z = np.zeros_like(b)
    for t in range(n):
        r = b[t] - (L1[t] @ z[t - 1] if t >= 1 else 0.0) - (L2[t] @ z[t - 2] if t >= 2 else 0.0)
        z[t] = L0[t] @ r
    x = np.zeros_like(b)
    for t in range(n - 1, -1, -1):
        r = z[t] - (L1[t + 1].T @ x[t + 1] if t + 1 < n else 0.0) - (L2[t + 2].T @ x[t + 2] if t + 2 < n else 0.0)
        x[t] = L0[t].T @ r
    return x


def lm_step(H: dict, g: np.ndarray, gg: np.ndarray | None, damping: float):
    """Solve (H + damping diag H) delta = -g; g (n, P), gg (G,) for the globals (or None).
    Returns (delta (n, P), delta_globals (G,) or None); raises LinAlgError if not positive."""
    factor = block_cholesky(H["D"], H["U1"], H["U2"], damping)
    solve = functools.partial(block_solve, factor)
    if gg is None:
        return -solve(g[..., None])[..., 0], None
    B, C = H["B"], H["C"].copy()
    C[np.diag_indices_from(C)] *= 1 + damping
    sol = solve(np.concatenate([g[..., None], B], -1))  # (n, P, 1 + G)
    S = C - np.einsum("npg,nph->gh", B, sol[..., 1:])
    dg = np.linalg.solve(S, -(gg - np.einsum("npg,np->g", B, sol[..., 0])))
    return -(sol[..., 0] + sol[..., 1:] @ dg), dg
