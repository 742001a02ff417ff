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
POLICIES = ("track", "best", "largest", "central", "index")


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


def select_dancer(keypoints: np.ndarray, scores: np.ndarray, score_weight: float = 1.0) -> np.ndarray:
    """Choose one person per frame, favouring high scores and small jumps between frames.

    ``keypoints`` (F, P, J, 3) px, ``scores`` (F, P) (NaN = no person). Returns (F,) int, the
    chosen slot or -1 for a frame without people.

    The choice minimises, over the whole video, sum(-score_weight * score) + sum(jump), jump =
    centre distance / person size between the people chosen in consecutive frames with people
    (Viterbi). A frame with one person fixes the choice, so the problem splits at such frames
    and only runs of frames with several people are solved: a passer-by who outscores the
    dancer for a frame or two costs two jumps and is not taken. (A frame where only a
    passer-by is found keeps that person: one candidate is never refused.)
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
    unary = np.where(present, -score_weight * np.nan_to_num(scores), np.inf)[rows]  # (M, P)
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
