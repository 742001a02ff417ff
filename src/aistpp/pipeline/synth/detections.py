"""Ground-truth keypoints from a motion, and noisy 2D detections with realistic faults.

Faults, each recorded in a mask so tests can tell them apart from noise:
- pixel noise (Gaussian, ``noise_px`` per axis; 4x for low-confidence joints);
- low-confidence joints (confidence 0.05-0.45);
- missed frames (short bursts per view: every joint NaN, det_score 0);
- gross outliers: a whole-body left/right swap (``COCO_FLIP``) in one view and frame, or a
  joint put on another limb (e.g. a wrist on a knee), with ordinary confidence.
Joints that project outside the image (or behind the camera) are not detected (NaN).
"""

from __future__ import annotations

import numpy as np

from aistpp.core.cameras import CameraRig
from aistpp.core.body_models import SMPL
from aistpp.core.joints import COCO_FLIP

COCO_TO_SMPL = SMPL.observed_index("coco17")
# smplx output indices of the foot points in OpenPose BODY_25 order (left then right).
FOOT_NAMES = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
FOOT_TO_SMPL = np.array([SMPL.output_names.index(name) for name in FOOT_NAMES])
FOOT_FLIP = np.array([3, 4, 5, 0, 1, 2])
# "Wrong limb" outliers: joint -> a joint on another limb it may be confused with.
_WRONG_LIMB = {9: (10, 13, 15), 10: (9, 14, 16), 7: (8, 13), 8: (7, 14), 15: (16, 9), 16: (15, 10),
               13: (14, 7), 14: (13, 8), 5: (6,), 6: (5,)}


def keypoints3d_from_motion(model, motion: dict) -> np.ndarray:
    """Exact COCO-17 keypoints (N, 17, 3) cm of a motion (``smpl_poses``, ``smpl_trans``, ``smpl_scaling``)."""
    return smpl_points(model, motion)[:, COCO_TO_SMPL]


def smpl_points(model, motion: dict) -> np.ndarray:
    """All smplx output points (N, SMPL.num_outputs, 3) cm of a motion, world frame."""
    from aistpp.core.body import smpl_forward

    return smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"])


def detection_score(conf: np.ndarray) -> np.ndarray:
    """Person detection score from per-joint confidences (..., 17) -> (...): the mean over
    the 17 COCO joints, undetected (NaN) joints counting 0, computed in float64 and
    returned as float32. ``preprocess`` derives ``det_scores`` from OpenPose JSON the same way."""
    return np.nan_to_num(np.asarray(conf, np.float64), nan=0.0).mean(axis=-1).astype(np.float32)


def _burst_mask(shape: tuple[int, int], rate: float, rng: np.random.Generator, max_len: int = 5) -> np.ndarray:
    """(V, N) bool: bursts of 1..max_len frames per view, covering about ``rate`` of all frames."""
    V, N = shape
    mean_len = (1 + max_len) / 2
    starts = np.argwhere(rng.random((V, N)) < rate / mean_len)
    mask = np.zeros((V, N), bool)
    if len(starts):
        lengths = rng.integers(1, max_len + 1, len(starts))
        offs = np.arange(max_len)
        frames = starts[:, 1:2] + offs[None, :]
        keep = (offs[None, :] < lengths[:, None]) & (frames < N)
        views = np.broadcast_to(starts[:, :1], frames.shape)
        mask[views[keep], frames[keep]] = True
    return mask


def make_detections(rig: CameraRig, keypoints3d: np.ndarray, rng: np.random.Generator, noise_px: float = 2.0,
                    outlier_rate: float = 0.004, missing_frame_rate: float = 0.01, low_conf_rate: float = 0.03,
                    feet3d: np.ndarray | None = None) -> dict:
    """Simulated 2D detections of COCO-17 keypoints in every view.

    keypoints3d (N, 17, 3) cm (world) -> dict:
    ``keypoints2d`` (V, N, 17, 3) float32 px + confidence (NaN where not detected);
    ``det_scores`` (V, N) float32 (``detection_score`` of the confidences, 0 for missed frames);
    ``clean`` (V, N, 17, 2) exact projections (distortion included);
    masks ``missing`` (V, N) missed frames, ``swapped`` (V, N) left/right swaps,
    ``outlier`` (V, N, 17) joints far from their true place (swaps and wrong-limb joints),
    ``low_conf`` (V, N, 17), ``visible`` (V, N, 17) projected inside the image.
    With ``feet3d`` (N, 6, 3) cm (BODY_25 toes and heels, left then right) also ``feet2d``
    (V, N, 6, 3), detected with the same noise, misses and swaps.
    ``outlier_rate`` is per view and frame (about 60 % swaps, 40 % wrong-limb joints);
    ``missing_frame_rate`` the share of missed view-frames; ``low_conf_rate`` per joint.
    """
    kp3 = np.asarray(keypoints3d, np.float64)
    N, J = kp3.shape[:2]
    pts = kp3 if feet3d is None else np.concatenate([kp3, np.asarray(feet3d, np.float64)], axis=1)
    clean = rig.project(pts)  # (V, N, P, 2)
    V, P = len(rig), pts.shape[1]
    size = rig.sizes.reshape(V, 1, 1, 2)
    visible = np.all(np.isfinite(clean) & (clean >= 0) & (clean <= size - 1), axis=-1)
    # Far outside the field of view the distortion polynomial folds points back into the
    # image: such points are not seen either.
    cam = rig.world_to_camera(pts)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.abs(cam[..., :2] / cam[..., 2:3])
    half_fov = np.maximum(rig.K[:, [0, 1], 2], rig.sizes - rig.K[:, [0, 1], 2]) / rig.K[:, [0, 1], [0, 1]]
    visible &= np.all(normalised < 1.3 * half_fov[:, None, None, :], axis=-1)
    low = rng.random((V, N, P)) < low_conf_rate
    conf = np.where(low, rng.uniform(0.05, 0.45, (V, N, P)), rng.uniform(0.6, 0.98, (V, N, P)))
    sigma = noise_px * np.where(low, 4.0, 1.0)[..., None]
    det = clean + rng.normal(0.0, 1.0, clean.shape) * sigma
    outlier = np.zeros((V, N, P), bool)
    # Whole-body left/right swaps.
    events = rng.random((V, N)) < outlier_rate
    swapped = events & (rng.random((V, N)) < 0.6)
    flip = COCO_FLIP if feet3d is None else np.concatenate([COCO_FLIP, J + FOOT_FLIP])
    det[swapped] = det[swapped][:, flip]
    conf[swapped] = conf[swapped][:, flip]
    visible[swapped] = visible[swapped][:, flip]
    low[swapped] = low[swapped][:, flip]
    outlier[swapped] = flip != np.arange(P)
    # One joint on the wrong limb.
    wrong = np.argwhere(events & ~swapped)
    if len(wrong):
        sources = np.array(list(_WRONG_LIMB))
        joint = sources[rng.integers(0, len(sources), len(wrong))]
        other = np.array([rng.choice(_WRONG_LIMB[j]) for j in joint])
        v, n = wrong[:, 0], wrong[:, 1]
        det[v, n, joint] = clean[v, n, other] + rng.normal(0, noise_px, (len(wrong), 2))
        visible[v, n, joint] = visible[v, n, other]
        outlier[v, n, joint] = True
    missing = _burst_mask((V, N), missing_frame_rate, rng)
    found = visible & ~missing[..., None]
    out = np.concatenate([det, conf[..., None]], axis=-1)
    out[~found] = np.nan
    out = out.astype(np.float32)
    # A gross outlier is an affected joint that lands far from the truth (a swap in a
    # nearly sideways view may not move a joint much: that one counts as noise).
    far = np.linalg.norm(np.nan_to_num(out[..., :2].astype(np.float64) - clean, nan=0.0), axis=-1) > 8 * noise_px + 5
    outlier &= found & far
    result = {
        "keypoints2d": out[:, :, :J],
        "det_scores": np.where(missing, 0.0, detection_score(out[:, :, :J, 2])).astype(np.float32),
        "clean": clean[:, :, :J],
        "missing": missing,
        "swapped": swapped & ~missing,
        "outlier": outlier[:, :, :J],
        "low_conf": low[:, :, :J] & found[:, :, :J],
        "visible": visible[:, :, :J],
    }
    if feet3d is not None:
        result["feet2d"] = out[:, :, J:]
    return result
