"""EDGE's Physical Foot Contact score (PFC).

For joints (N, 24, 3) (SMPL order; metres at SMPL scale) at ``fps`` with up axis ``up``:
  - root acceleration a_t = second difference of the root joint (SMPL 0) times fps^2, for
    t = 1 .. N-2; its up component clamped at >= 0; |a_t| normalised by its maximum;
  - each foot's horizontal speed as the smaller of its ankle and toe joints (SMPL 7 / 10
    left, 8 / 11 right), from the one-frame displacement between frames t and t+1 (EDGE uses
    the displacement itself, not divided by the frame time);
  - PFC = mean over t of (left x right x normalised root acceleration) x 10,000.
EDGE computes it on 30 fps motions with z up: those are the defaults, so numbers compare.
AIST++'s world is y up at 60 fps: ``physical_foot_contact(joints[::2], 30, "y")`` is EDGE's
number for a released motion (EDGE turns y up into z up, which leaves the score unchanged).
"""

from __future__ import annotations

import numpy as np

from aistpp.pipeline.metrics.kinetic import UP_AXES

FEET = ((7, 10), (8, 11))  # (ankle, toe) of the left and right foot, SMPL indices


def physical_foot_contact(joints: np.ndarray, fps: float = 30.0, up: str = "z") -> float:
    """(N >= 3, >= 12, 3) joints -> PFC (dimensionless x 10,000; lower is more plausible)."""
    P = np.asarray(joints, np.float64)
    if P.ndim != 3 or P.shape[1] < 12 or P.shape[2] != 3 or len(P) < 3:
        raise ValueError(f"joints must be (N >= 3, 24, 3), got {P.shape}")
    u = UP_AXES[up]
    flat = [a for a in range(3) if a != u]
    root = P[:, 0]
    acc = (root[2:] - 2 * root[1:-1] + root[:-2]) * fps * fps
    acc[:, u] = np.maximum(acc[:, u], 0)
    acc = np.linalg.norm(acc, axis=-1)
    top = acc.max()
    acc = acc / top if top > 0 else acc
    step = np.linalg.norm(P[2:, :12][..., flat] - P[1:-1, :12][..., flat], axis=-1)  # (N-2, 12)
    left = np.minimum(step[:, FEET[0][0]], step[:, FEET[0][1]])
    right = np.minimum(step[:, FEET[1][0]], step[:, FEET[1][1]])
    return float((left * right * acc).mean() * 10_000)
