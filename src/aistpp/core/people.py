"""Which detected person is the dancer: one choice per frame, consistent over time and across views.

Arrays in, arrays out (no files), so ``preprocess`` and ``detect`` share them:

- ``select_dancer``: per view, Viterbi over the frames (high scores, small jumps between frames);
- ``agree_across_views``: with cameras, re-decide the frames with several people by how well each
  candidate agrees (epipolar distance) with the people chosen in the other views;
- ``choose``: the policy of ``--person``: ``track`` (the two above), ``best`` (highest score per
  frame), ``largest``, ``central`` (per frame), ``index`` (slot k of each frame, as the detector
  listed people);
- ``switches``: how often the chosen person jumps (centre moves by more than half a person size
  between consecutive frames with a choice), the number the run's report shows.

Shapes: ``keypoints`` (F, P, J, 3) px + confidence per view, NaN-padded; ``scores`` (F, P), NaN
where no person; a choice is (F,) int, the slot, -1 for a frame without people.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

Policy = Literal["track", "best", "largest", "central", "index"]


def person_centres(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, P, J, 3) px -> centres (F, P, 2) px (mean of found joints) and sizes (F, P) px
    (larger side of the joints' bounding box, at least 1; NaN for an empty slot)."""
    xy = keypoints[..., :2]
    with warnings.catch_warnings():  # all-NaN people: 'mean of empty slice'
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(xy, axis=-2)
        extent = np.nanmax(xy, axis=-2) - np.nanmin(xy, axis=-2)
        size = np.maximum(np.nanmax(extent, axis=-1), 1.0)
    return centre, size


def _jump(ca: np.ndarray, sa: np.ndarray, cb: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """Cost of going from people a (..., Pa) to people b (..., Pb): centre distance in person sizes."""
    d = np.linalg.norm(ca[..., :, None, :] - cb[..., None, :, :], axis=-1)
    d = d / np.maximum(sa[..., :, None], sb[..., None, :])
    return np.nan_to_num(d, nan=1.0)


def select_dancer(keypoints: np.ndarray, scores: np.ndarray, score_weight: float = 1.0,
                  extra_cost: np.ndarray | None = None) -> np.ndarray:
    """Choose one person per frame, favouring high scores and small jumps between frames.

    ``keypoints`` (F, P, J, 3) px, ``scores`` (F, P) (NaN = no person). Returns (F,) int, the
    chosen slot or -1 for a frame without people.

    The choice minimises, over the whole video, sum(-score_weight * score) + sum(jump), jump =
    centre distance / person size between the people chosen in consecutive frames with people
    (Viterbi). A frame with one person fixes the choice, so the problem splits at such frames
    and only runs of frames with several people are solved: a passer-by who outscores the
    dancer for a frame or two costs two jumps and is not taken. (A frame where only a
    passer-by is found keeps that person: one candidate is never refused.) ``extra_cost`` (F, P)
    is added to each person's cost (``agree_across_views`` passes the disagreement with other views).
    """
    F = len(scores)
    present = np.isfinite(scores)
    count = present.sum(axis=1)
    choice = np.full(F, -1, np.int64)
    rows = np.flatnonzero(count > 0)  # frames with people, in order
    if len(rows) == 0:
        return choice
    best = np.argmax(np.where(present, scores, -np.inf), axis=1)
    choice[rows] = best[rows]
    multi = count[rows] > 1
    if not multi.any():
        return choice
    M, P = len(rows), scores.shape[1]
    unary = np.where(present, -score_weight * np.nan_to_num(scores), np.inf)
    if extra_cost is not None:
        unary = unary + np.where(present, np.nan_to_num(extra_cost), 0.0)
    unary = unary[rows]  # (M, P)
    # Jump costs between consecutive frames with people where one of them has several: (M-1, P, P).
    near = multi.copy()
    near[1:] |= multi[:-1]
    near[:-1] |= multi[1:]
    centre, size = np.zeros((M, P, 2)), np.ones((M, P))
    centre[near], size[near] = person_centres(keypoints[rows[near]])
    pairs = np.flatnonzero(multi[:-1] | multi[1:])
    trans = np.zeros((max(M - 1, 0), P, P))
    trans[pairs] = _jump(centre[pairs], size[pairs], centre[pairs + 1], size[pairs + 1])
    cost = unary.copy()  # add the anchors: the single person before / after each run
    single = ~multi
    into = np.flatnonzero(multi[1:] & single[:-1]) + 1  # run starts with an anchor before
    cost[into] += trans[into - 1, choice[rows[into - 1]], :]
    out = np.flatnonzero(multi[:-1] & single[1:])  # run ends with an anchor after
    cost[out] += trans[out, :, choice[rows[out + 1]]]
    edges = np.diff(np.concatenate([[0], multi.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    short = stops - starts == 1  # one-frame runs: no chain, decide all at once
    choice[rows[starts[short]]] = np.argmin(cost[starts[short]], axis=1)
    for a, b in zip(starts[~short], stops[~short]):  # Viterbi over each longer run
        back = np.zeros((b - a, cost.shape[1]), np.int64)
        acc = cost[a]
        cols = np.arange(cost.shape[1])
        for i in range(1, b - a):
            total = acc[:, None] + trans[a + i - 1]
            back[i] = np.argmin(total, axis=0)
            acc = total[back[i], cols] + cost[a + i]
        k = int(np.argmin(acc))
        for i in range(b - a - 1, -1, -1):
            choice[rows[a + i]] = k
            k = back[i, k]
    return choice


def pick(keypoints: np.ndarray, scores: np.ndarray, choice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, P, J, 3), (F, P), (F,) -> the chosen (F, J, 3) and scores (F,) (NaN / 0 where -1)."""
    idx = np.maximum(choice, 0)
    kp = np.take_along_axis(keypoints, idx[:, None, None, None], axis=1)[:, 0].copy()
    sc = np.take_along_axis(scores, idx[:, None], axis=1)[:, 0].copy()
    kp[choice < 0] = np.nan
    sc[choice < 0] = 0.0
    return kp, np.nan_to_num(sc, nan=0.0)


# ---- agreement across views --------------------------------------------------------------------
def essential(rig, a: int, b: int) -> np.ndarray:
    """(3, 3) E with y_b^T E y_a = 0 for normalised undistorted coordinates y (homogeneous) of
    views a and b of ``rig`` (X_cam = R X + t)."""
    R = rig.R[b] @ rig.R[a].T
    t = rig.tvec[b] - R @ rig.tvec[a]
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    return tx @ R


def epipolar_distance(xa: np.ndarray, xb: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Symmetric point-to-epipolar-line distance of points xa (..., 2) in view a and xb (..., 2)
    in view b, in the units of the points (NaN where either is). ``E`` maps a's points to b's lines."""
    ha = np.concatenate([xa, np.ones(xa.shape[:-1] + (1,))], -1)
    hb = np.concatenate([xb, np.ones(xb.shape[:-1] + (1,))], -1)
    lb = ha @ E.T  # lines in b
    la = hb @ E  # lines in a
    num = np.abs((hb * lb).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * num * (1 / np.linalg.norm(lb[..., :2], axis=-1) + 1 / np.linalg.norm(la[..., :2], axis=-1))


def _normalised(rig, view: int, xy: np.ndarray) -> np.ndarray:
    """Pixels (..., 2) of ``view`` -> normalised undistorted coordinates (the rig's camera model)."""
    cam = rig.subset([rig.names[view]])
    return cam.undistort(np.asarray(xy, np.float64).reshape(1, -1, 2))[0].reshape(xy.shape)


def disagreement(rig, timestamps: list[np.ndarray], coco: list[np.ndarray], chosen: list[np.ndarray],
                 view: int) -> np.ndarray:
    """(F, P) how badly each candidate of ``view`` fits the people chosen in the other views at
    the same timestamps: median over COCO joints of the symmetric epipolar distance, over the
    candidate's size, capped at 1, averaged over the other views (NaN where no view tells).

    ``timestamps`` (F_v,) per view, ``coco`` (F_v, P_v, 17, 3) candidates in COCO-17,
    ``chosen`` (F_v, 17, 3) the person chosen in each view (NaN where none).
    """
    cand = coco[view]
    Fv, P = cand.shape[:2]
    xa = _normalised(rig, view, cand[..., :2])
    _, size = person_centres(np.concatenate([xa, cand[..., 2:]], -1))  # in normalised units too
    size = np.where(np.isfinite(size), np.maximum(size, 1e-6), np.nan)
    total, count = np.zeros((Fv, P)), np.zeros((Fv, P))
    for u in range(len(coco)):
        if u == view or coco[u] is None or not len(timestamps[u]):
            continue
        at = np.searchsorted(timestamps[u], timestamps[view])
        at = np.minimum(at, len(timestamps[u]) - 1)
        same = timestamps[u][at] == timestamps[view]
        other = np.where(same[:, None, None], chosen[u][at], np.nan)  # (Fv, 17, 3)
        xb = _normalised(rig, u, other[..., :2])
        d = epipolar_distance(xa, xb[:, None], essential(rig, view, u))  # (Fv, P, 17), normalised units
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(d, axis=-1) / size
        ok = np.isfinite(med)
        total[ok] += np.minimum(med[ok], 1.0)
        count[ok] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def agree_across_views(rig, timestamps: list[np.ndarray], keypoints: list[np.ndarray | None],
                       scores: list[np.ndarray | None], coco: list[np.ndarray | None], choices: list[np.ndarray],
                       weight: float = 5.0, rounds: int = 2) -> tuple[list[np.ndarray], int]:
    """Re-decide each view's tracked choice with ``weight`` x ``disagreement`` added to every
    candidate's cost, the other views' current choices as reference (``rounds`` times).

    Per view v: ``keypoints`` (F_v, P, J, 3) and ``scores`` (F_v, P) for tracking, ``coco`` the
    same people in COCO-17, ``choices`` (F_v,) the per-view choices (None entries: missing views).
    Returns the new choices and the number of (view, frame) choices that changed.
    """
    V = len(keypoints)
    out = [None if c is None else c.copy() for c in choices]
    for _ in range(rounds):
        chosen = [None if keypoints[v] is None else pick(coco[v], scores[v], out[v])[0] for v in range(V)]
        new = list(out)
        for v in range(V):
            if keypoints[v] is None or (np.isfinite(scores[v]).sum(1) <= 1).all():
                continue
            cost = disagreement(rig, timestamps, [c if c is not None else None for c in coco], chosen, v)
            new[v] = select_dancer(keypoints[v], scores[v], extra_cost=weight * np.nan_to_num(cost, nan=0.0))
        out = new
    changed = sum(int(np.count_nonzero(a != b)) for a, b in zip(out, choices) if a is not None)
    return out, changed


def best_scored(scores: np.ndarray) -> np.ndarray:
    """(F, P) -> (F,) slot of the highest score per frame (-1 where nobody)."""
    present = np.isfinite(scores)
    return np.where(present.any(1), np.argmax(np.where(present, scores, -np.inf), 1), -1)


def largest(keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(F,) slot of the person with the largest box per frame."""
    _, size = person_centres(keypoints)
    size = np.where(np.isfinite(scores), np.nan_to_num(size, nan=-1.0), -np.inf)
    return np.where(np.isfinite(scores).any(1), np.argmax(size, 1), -1)


def central(keypoints: np.ndarray, scores: np.ndarray, image_size: tuple[int, int] | None) -> np.ndarray:
    """(F,) slot of the person nearest the image centre (``image_size`` (w, h); else the centre
    of all people seen)."""
    centre, _ = person_centres(keypoints)
    if image_size is not None and min(image_size) > 0:
        mid = np.array(image_size, np.float64) / 2
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mid = np.nanmean(centre.reshape(-1, 2), axis=0)
    d = np.linalg.norm(centre - mid, axis=-1)
    d = np.where(np.isfinite(scores), np.nan_to_num(d, nan=np.inf), np.inf)
    return np.where(np.isfinite(scores).any(1), np.argmin(d, 1), -1)


def by_index(scores: np.ndarray, index: int) -> np.ndarray:
    """(F,) slot ``index`` where the frame has that many people, else -1."""
    ok = index < scores.shape[1]
    present = np.isfinite(scores[:, index]) if ok else np.zeros(len(scores), bool)
    return np.where(present, index, -1)


def switches(keypoints: np.ndarray, choice: np.ndarray) -> int:
    """Times the chosen person's centre moves by more than half a person size between
    consecutive frames with a choice (a likely change of person)."""
    kp, _ = pick(keypoints, np.zeros(keypoints.shape[:2], np.float32), choice)
    centre, size = person_centres(kp[:, None])
    centre, size = centre[:, 0], size[:, 0]
    rows = np.flatnonzero((choice >= 0) & np.isfinite(centre).all(-1))
    if len(rows) < 2:
        return 0
    jump = np.linalg.norm(np.diff(centre[rows], axis=0), axis=-1) / np.maximum(size[rows][1:], size[rows][:-1])
    return int(np.count_nonzero(jump > 0.5))


def choose(keypoints: np.ndarray, scores: np.ndarray, policy: Policy = "track", index: int = 0,
           image_size: tuple[int, int] | None = None) -> np.ndarray:
    """The choice (F,) of one view under ``policy`` (see the module docstring)."""
    if policy == "track":
        return select_dancer(keypoints, scores)
    if policy == "best":
        return best_scored(scores)
    if policy == "largest":
        return largest(keypoints, scores)
    if policy == "central":
        return central(keypoints, scores, image_size)
    if policy == "index":
        return by_index(scores, index)
    raise ValueError(f"unknown policy {policy!r}")
