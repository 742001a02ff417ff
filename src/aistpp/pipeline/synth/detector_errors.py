"""Synthetic detections with a real detector's errors, measured on released detections.

``make_detections`` adds 2 px of i.i.d. noise to exact projections: far better than a real
detector, so it is no fair reference for ``aistpp detect``. Here the errors come from data we do
not render ourselves, the released AIST++ 2D detections (``measure_errors``):

- per COCO joint, the distance between the released 2D keypoint and the projection of the
  released 3D keypoint (triangulated from those detections, 9 views), over the person's size
  (the diagonal of the box of the projected 3D keypoints in that view and frame);
- split by the detector's confidence (``CONFIDENT``: score >= 0.5, else unsure), because the
  large errors come with low scores and triangulation weighs points by score: each class keeps
  its share, its distance quantiles and its score quantiles (``ErrorProfile``).

This is the part of a detector's error that differs between views (what triangulation averages
away, or not); an error common to all views (where a detector's convention puts a joint) is not
in it, and the projection of the triangulated points sits a little closer to the detections
than the truth would (3 unknowns from 18 coordinates per joint): both make the reference a
slightly better detector than the real one, never a worse one.

``realistic_detections`` draws detections from a profile: ``make_detections``' faults (missed
frames, swaps, wrong limbs, points outside the image) with no pixel noise, then per found joint
a class by its share, a distance by the class's quantiles x the person's size in that view and
frame, a direction uniformly, and a score by the class's score quantiles.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from aistpp.core.cameras import CameraRig

CONFIDENT = 0.5  # a detection score at or above this is "confident"
LEVELS = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0])


@dataclass
class ErrorProfile:
    """A detector's per-view errors: per joint (J,) the share of confident points, and per joint
    and class (J, 2, L) (class 0 confident, 1 unsure) the quantiles at ``LEVELS`` of the error
    distance over the person's box diagonal and of the score."""

    confident_share: np.ndarray
    distance: np.ndarray
    score: np.ndarray

    def to_json(self) -> dict:
        return {"levels": LEVELS.tolist(), "confident_share": self.confident_share.round(4).tolist(),
                "median_distance": self.distance[:, :, np.searchsorted(LEVELS, 0.5)].round(4).tolist()}


def box_diagonal(points: np.ndarray) -> np.ndarray:
    """(..., J, 2) px -> (...,) px: the diagonal of the box of the finite points (NaN if none)."""
    with warnings.catch_warnings():  # all-NaN rows: 'All-NaN slice encountered'
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.linalg.norm(np.nanmax(points, axis=-2) - np.nanmin(points, axis=-2), axis=-1)


def measure_errors(keypoints2d: np.ndarray, projected: np.ndarray) -> ErrorProfile:
    """The profile of detections ``keypoints2d`` (V, N, J, 3) px + score against the projections
    ``projected`` (V, N, J, 2) px of the 3D points they should show (NaN: not found / unknown)."""
    kp = np.asarray(keypoints2d, np.float64)
    proj = np.asarray(projected, np.float64)
    size = box_diagonal(proj)[..., None]  # (V, N, 1)
    rel = np.linalg.norm(kp[..., :2] - proj, axis=-1) / size
    score = kp[..., 2]
    J = kp.shape[-2]
    share = np.zeros(J)
    dist = np.zeros((J, 2, len(LEVELS)))
    sc = np.zeros((J, 2, len(LEVELS)))
    for j in range(J):
        ok = np.isfinite(rel[..., j]) & np.isfinite(score[..., j])
        r, s = rel[..., j][ok], score[..., j][ok]
        if not len(r):
            raise ValueError(f"no detection of joint {j} to measure")
        confident = s >= CONFIDENT
        share[j] = confident.mean()
        for c, m in enumerate((confident, ~confident)):
            if not m.any():  # an empty class is never drawn (share 0 or 1); give it the other's numbers
                m = ~m
            dist[j, c] = np.quantile(r[m], LEVELS)
            sc[j, c] = np.quantile(s[m], LEVELS)
    return ErrorProfile(share, dist, sc)


def _draw(quantiles: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: ``quantiles`` (..., L) at ``LEVELS``, ``u`` (...) uniform in [0, 1]
    (the level interval of each draw, then linear within it)."""
    q = quantiles.reshape(-1, len(LEVELS))
    x = u.reshape(-1)
    k = np.clip(np.searchsorted(LEVELS, x, side="right") - 1, 0, len(LEVELS) - 2)
    t = (x - LEVELS[k]) / (LEVELS[k + 1] - LEVELS[k])
    rows = np.arange(len(x))
    return (q[rows, k] + t * (q[rows, k + 1] - q[rows, k])).reshape(u.shape)


def realistic_detections(rig: CameraRig, keypoints3d: np.ndarray, rng: np.random.Generator,
                         profile: ErrorProfile, **faults) -> dict:
    """``make_detections`` of COCO-17 ``keypoints3d`` (N, 17, 3) cm with its faults (``faults``:
    its rate arguments) and the errors of ``profile`` instead of i.i.d. pixel noise (see the
    module docstring). Returns ``make_detections``' dict; ``unsure`` (V, N, 17) marks the points
    drawn from the unsure class."""
    from aistpp.pipeline.synth.detections import detection_score, make_detections

    det = make_detections(rig, keypoints3d, rng, noise_px=0.0, **faults)
    kp = det["keypoints2d"].astype(np.float64)
    V, N, J = kp.shape[:3]
    found = np.isfinite(kp[..., 0])
    size = box_diagonal(det["clean"])  # (V, N) px, the person's size in each view
    unsure = rng.random((V, N, J)) >= profile.confident_share
    cls = unsure.astype(np.int64)
    joint = np.broadcast_to(np.arange(J), (V, N, J))
    dist = _draw(profile.distance[joint, cls], rng.random((V, N, J))) * size[..., None]
    angle = rng.uniform(0.0, 2 * np.pi, (V, N, J))
    kp[..., 0] += dist * np.cos(angle)
    kp[..., 1] += dist * np.sin(angle)
    kp[..., 2] = np.clip(_draw(profile.score[joint, cls], rng.random((V, N, J))), 0.0, 1.0)
    kp[~found] = np.nan
    det["keypoints2d"] = kp.astype(np.float32)
    det["det_scores"] = np.where(det["missing"], 0.0, detection_score(det["keypoints2d"][..., 2])).astype(np.float32)
    det["unsure"] = unsure & found
    return det
