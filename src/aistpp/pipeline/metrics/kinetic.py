"""Kinetic features of the AIST++ API (``extract_kinetic_features``), vectorised.

Input: joint positions (N, J, 3) in metres at SMPL scale, +y up (the 24 SMPL joints give 72
values). Per joint, in this order:
  1. average horizontal kinetic energy: mean over frames i = 1 .. N-1 of |v_i,horizontal|^2;
  2. average vertical kinetic energy: mean of v_i,up^2;
  3. average energy expenditure: mean of |a_i|.
(No factor 0.5 and no mass: the reference's definitions.) v_i is the mean of the one-frame
differences P_k - P_(k-1) over k = i-2 .. i+2 (a sliding window of 2, clipped to
1 <= k <= N-1) divided by the frame time; a_i the mean of the second differences
P_(k+1) - 2 P_k + P_(k-1) over k = i-2 .. i+2 clipped to 1 <= k <= N-2, divided by the frame
time squared. Frame time 1/60 s. The velocity's window sum telescopes: the sum of the
one-frame differences over k = lo .. hi is P_hi - P_(lo-1), so every frame costs O(1).

The published numbers (the AIST++ API, Bailando and its successors) come from a reference
whose acceleration term has a misplaced parenthesis: v1 = P_k - P_(k-1) / dt instead of
(P_k - P_(k-1)) / dt, so each window term is ((P_(k+1) - P_k) / dt - P_k + P_(k-1) / dt) / dt.
``reference_acceleration=True`` (the default) computes exactly that, so FID_k compares with
published tables; ``False`` computes the true second difference above.
"""

from __future__ import annotations

import numpy as np

from aistpp.core.body_models import SMPL

KINETIC = tuple(f"{j}_{k}" for j in SMPL.joint_names for k in ("ke_horizontal", "ke_vertical", "energy_expenditure"))
UP_AXES = {"x": 0, "y": 1, "z": 2}


def _window(i: np.ndarray, lo_min: int, hi_max: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = np.maximum(i - w, lo_min)
    hi = np.minimum(i + w, hi_max)
    return lo, hi, hi - lo + 1


def window_velocity(P: np.ndarray, frame_time: float = 1 / 60, window: int = 2) -> np.ndarray:
    """(N, J, 3) -> (N-1, J, 3): the reference's windowed mean velocity at frames 1 .. N-1."""
    n = len(P)
    lo, hi, count = _window(np.arange(1, n), 1, n - 1, window)
    return (P[hi] - P[lo - 1]) / (count * frame_time)[:, None, None]


def window_acceleration(P: np.ndarray, frame_time: float = 1 / 60, window: int = 2,
                        reference: bool = True) -> np.ndarray:
    """(N, J, 3) -> (N-1, J, 3): the windowed mean acceleration at frames 1 .. N-1 (the
    reference's term when ``reference``, see the module docstring; NaN where the clipped
    window is empty, as the reference's 0/0, i.e. when N < 3)."""
    n = len(P)
    if n < 3:
        return np.full((n - 1,) + P.shape[1:], np.nan)
    dt = frame_time
    k = np.arange(1, n - 1)  # centres with both neighbours
    if reference:
        term = ((P[k + 1] - P[k]) / dt - (P[k] - P[k - 1] / dt)) / dt
    else:
        term = (P[k + 1] - 2 * P[k] + P[k - 1]) / (dt * dt)
    # padded[w + k] = term of centre k (zero outside 1 <= k <= n-2): frame i's window sum is
    # padded[i - w + w .. i + w + w], added in the reference's order (adding the zeros is exact)
    padded = np.zeros((n + 2 * window,) + P.shape[1:])
    padded[window + 1: window + n - 1] = term
    valid = np.zeros(n + 2 * window)
    valid[window + 1: window + n - 1] = 1
    total = np.zeros((n - 1,) + P.shape[1:])
    count = np.zeros(n - 1)
    for j in range(-window, window + 1):
        total += padded[1 + j + window: n + j + window]
        count += valid[1 + j + window: n + j + window]
    return total / count[:, None, None]


def kinetic_features(joints: np.ndarray, frame_time: float = 1 / 60, up: str = "y", window: int = 2,
                     reference_acceleration: bool = True) -> np.ndarray:
    """(N, J, 3) metres -> (3 J,) float64: per joint [horizontal KE, vertical KE, energy
    expenditure] as the AIST++ API defines them (module docstring). N >= 2."""
    P = np.asarray(joints, np.float64)
    if P.ndim != 3 or P.shape[-1] != 3 or len(P) < 2:
        raise ValueError(f"joints must be (N >= 2, J, 3), got {P.shape}")
    u = UP_AXES[up]
    flat = [a for a in range(3) if a != u]
    v = window_velocity(P, frame_time, window)
    a = window_acceleration(P, frame_time, window, reference_acceleration)
    ke_h = (v[..., flat] ** 2).sum(-1).mean(0)
    ke_v = (v[..., u] ** 2).mean(0)
    expenditure = np.linalg.norm(a, axis=-1).mean(0)
    return np.stack([ke_h, ke_v, expenditure], axis=1).reshape(-1)
