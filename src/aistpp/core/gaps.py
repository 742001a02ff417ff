"""Missing frames of keypoint tracks: linear interpolation in time and the length of each gap.

One definition used by triangulate's temporal optimisation (which fills short gaps only) and by
fit-smpl's initialisation (which needs every frame). A point is known when all its coordinates
are finite.
"""

from __future__ import annotations

import numpy as np


def interpolate_gaps(points: np.ndarray, times: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill each joint's missing frames linearly in time.

    points (N, J, D) any unit, NaN where missing; ``times`` (N,) increasing (default: the frame
    index). Returns ``(filled (N, J, D) float64, run (N, J) int)``: in ``filled`` every joint
    seen at least once is interpolated (runs touching the start or end hold the nearest known
    value), a joint never seen stays NaN; ``run`` is the length in frames of the missing run
    each frame belongs to (0 where known, N for a joint never seen).
    """
    out = np.array(points, np.float64)
    N, J = out.shape[:2]
    t = np.arange(N, dtype=np.float64) if times is None else np.asarray(times, np.float64)
    known = np.isfinite(out).all(axis=-1)  # (N, J)
    miss = ~known
    for j in np.flatnonzero(known.any(axis=0) & miss.any(axis=0)):  # one loop over joints, vectorised over frames
        k = known[:, j]
        for c in range(out.shape[2]):
            out[~k, j, c] = np.interp(t[~k], t[k], out[k, j, c])
    # length of the missing run of each frame: +len at its start, -len after its end, cumulated
    edges = np.diff(np.concatenate([np.zeros((1, J), np.int8), miss.astype(np.int8), np.zeros((1, J), np.int8)]),
                    axis=0).T  # (J, N + 1), joint-major so starts and ends pair up in order
    (js, starts), (_, ends) = np.nonzero(edges == 1), np.nonzero(edges == -1)
    run = np.zeros((J, N + 1), int)
    np.add.at(run, (js, starts), ends - starts)
    np.add.at(run, (js, ends), starts - ends)
    return out, np.cumsum(run, axis=1)[:, :N].T


def fill_gaps(points: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
    """(N, J, D) with NaN -> the same with every NaN filled: ``interpolate_gaps``, and a joint
    missing in every frame takes the mean of the other joints of its frame. ``times`` (N,)
    increasing (default: the frame index)."""
    y, _ = interpolate_gaps(points, times)
    bad = ~np.isfinite(y)
    if bad.any():
        mean = np.nanmean(np.where(bad, np.nan, y), axis=1, keepdims=True)
        y = np.where(bad, np.broadcast_to(mean, y.shape), y)
    return y


def short_gaps_filled(points: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """``interpolate_gaps`` over frames and ``active`` (N, J) bool: known, or inside a run of at
    most ``max_gap`` missing frames of a joint seen at least once. points (N, J, D)."""
    out, run = interpolate_gaps(points)
    known = run == 0
    return out, known | ((run <= max_gap) & known.any(axis=0))
