"""Simulated detections as OpenPose BODY_25 per-frame JSON files.

Conventions ``preprocess`` inverts exactly:
- the COCO-17 joints of BODY_25 hold the very float32 values of ``keypoints2d`` (JSON
  floats written at full precision); a joint not detected (NaN in ``keypoints2d``) is
  written ``0, 0, 0``;
- neck = mid-shoulders and mid_hip = mid-hips (x, y averaged, confidence the smaller of
  the two; not detected when either is missing); toes and heels are their own detections;
- a missed frame is ``"people": []``;
- the dancer is the person whose ``detection_score`` (mean COCO-17 confidence) is highest:
  a few frames also hold a low-confidence distractor (a small figure elsewhere in the
  image), sometimes listed first.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from aistpp.core.joints import COCO17, OPENPOSE_BODY25, index_map

BODY25_FROM_COCO = index_map(COCO17, OPENPOSE_BODY25)  # (25,) COCO index or -1
_NECK, _MID_HIP = OPENPOSE_BODY25.index("neck"), OPENPOSE_BODY25.index("mid_hip")
_FEET = np.array([OPENPOSE_BODY25.index(n) for n in
                  ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")])


def _midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3) x, y, c of two detections -> their midpoint with the smaller confidence (NaN if either is)."""
    out = np.empty_like(a)
    out[..., :2] = (a[..., :2] + b[..., :2]) / 2
    out[..., 2] = np.minimum(a[..., 2], b[..., 2])
    return out


def body25_from_coco(keypoints2d: np.ndarray, feet2d: np.ndarray) -> np.ndarray:
    """COCO-17 detections (..., 17, 3) and feet (..., 6, 3) (toes, heel; left then right)
    -> OpenPose BODY_25 (..., 25, 3) px + confidence, NaN where not detected."""
    kp = np.asarray(keypoints2d, np.float32)
    out = np.full(kp.shape[:-2] + (25, 3), np.nan, np.float32)
    has = BODY25_FROM_COCO >= 0
    out[..., has, :] = kp[..., BODY25_FROM_COCO[has], :]
    out[..., _NECK, :] = _midpoint(kp[..., 5, :], kp[..., 6, :])
    out[..., _MID_HIP, :] = _midpoint(kp[..., 11, :], kp[..., 12, :])
    out[..., _FEET, :] = feet2d
    return out


def make_distractor(body25: np.ndarray, size: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A low-confidence bystander: ``body25`` (25, 3) shrunk to ~40 % and placed elsewhere in an
    image of ``size`` (w, h); confidences 0.05-0.3. Returns (25, 3) float32."""
    xy = body25[:, :2]
    ok = np.isfinite(xy).all(axis=1)
    centre = xy[ok].mean(axis=0)
    scale = rng.uniform(0.3, 0.5)
    small = (xy - centre) * scale
    lo, hi = np.nanmin(small, axis=0), np.nanmax(small, axis=0)
    place = rng.uniform(-lo, np.maximum(-lo + 1, size - 1 - hi))
    out = np.full((25, 3), np.nan, np.float32)
    out[ok, :2] = small[ok] + place
    out[ok, 2] = rng.uniform(0.05, 0.3, ok.sum())
    return out


def _person(body25: np.ndarray) -> dict:
    flat = np.nan_to_num(np.asarray(body25, np.float32), nan=0.0).astype(np.float64).reshape(-1)
    return {
        "person_id": [-1], "pose_keypoints_2d": flat.tolist(), "face_keypoints_2d": [],
        "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [], "pose_keypoints_3d": [],
        "face_keypoints_3d": [], "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": [],
    }  # fmt: skip


def write_openpose_video(folder: Path, video: str, body25: np.ndarray, missing: np.ndarray,
                         distractors: dict[int, tuple[np.ndarray, bool]]) -> int:
    """Write ``<folder>/<video>/<video>_<frame:012d>_keypoints.json`` for every frame.

    body25 (N, 25, 3) px + confidence; missing (N,) bool (frame written with no people);
    distractors {frame: ((25, 3), listed_first)}. The folder is written beside its final
    place and renamed into it, so a crash never leaves half a video. Returns files written.
    """
    final = Path(folder) / video
    tmp = Path(folder) / f".{video}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i in range(len(body25)):
        people = [] if missing[i] else [_person(body25[i])]
        if i in distractors and people:
            other, first = distractors[i]
            people.insert(0 if first else 1, _person(other))
        (tmp / f"{video}_{i:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return len(body25)
