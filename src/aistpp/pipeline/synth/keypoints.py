"""Richer synthetic keypoints than COCO-17: HALPE-26 / BODY_25 (feet, neck, mid-hip, head top).

Every point is a point of the body model, so its ground truth is exact:
- COCO-17 as ``keypoints3d_from_motion`` (SMPL joints and smplx's face vertices);
- heels, big and small toes: the vertices smplx reads them from (``SMPL.landmarks``; the
  synthetic mesh holds vertices at those landmarks, ``body_model.landmark_vertices``);
- ``neck`` = the midpoint of the shoulders and ``mid_hip`` that of the hips (OpenPose's and the
  synthetic OpenPose files' convention, ``openpose.body25_from_coco``);
- ``head_top``: the highest template vertex skinned mostly to the head joint (``head_top_vertex``).

The 2D detections of the feet come from ``make_detections`` (same noise, misses, swaps as the COCO
points); neck and mid-hip are midpoints of the detected shoulders / hips; the head top is detected
with the same noise, confidences and missed frames (``detect_points``).
"""

from __future__ import annotations

import numpy as np

from aistpp.core.body_models import SMPL
from aistpp.core.joint_sets import COCO17, REGISTRY
from aistpp.pipeline.synth.detections import FOOT_NAMES

SYNTH_JOINT_SETS = ("coco17", "body25", "halpe26")  # the sets synth can write (--joint-set)
_MIDPOINTS = {"neck": ("left_shoulder", "right_shoulder"), "mid_hip": ("left_hip", "right_hip")}


def head_top_vertex(v_template: np.ndarray, weights: np.ndarray) -> int:
    """Vertex id of the top of the head: the highest (+y) template vertex (V, 3) whose largest
    skinning weight (V, 24) is the head joint's."""
    head = np.asarray(weights).argmax(axis=1) == SMPL.index("head")
    ids = np.flatnonzero(head)
    return int(ids[np.argmax(np.asarray(v_template)[ids, 1])])


def set_points_3d(set_name: str, points45: np.ndarray, head_top: np.ndarray | None = None) -> np.ndarray:
    """Exact 3D points (N, J, 3) cm of the joint set ``set_name`` (one of ``SYNTH_JOINT_SETS``).

    points45 (N, 45, 3) cm: smplx's SMPL output points (``smpl_forward``; ``SMPL.output_names``);
    head_top (N, 3) cm the posed ``head_top_vertex`` (needed by sets that have one).
    """
    by_name = {name: points45[:, int(i)] for name, i in zip(COCO17, SMPL.observed_index("coco17"))}
    by_name.update({name: points45[:, SMPL.output_names.index(name)] for name in FOOT_NAMES})
    by_name.update({name: (by_name[a] + by_name[b]) / 2 for name, (a, b) in _MIDPOINTS.items()})
    if head_top is not None:
        by_name["head_top"] = np.asarray(head_top)
    return np.stack([by_name[n] for n in REGISTRY[set_name].names], axis=1)


def detect_points(rig, points3d: np.ndarray, missing: np.ndarray, rng: np.random.Generator,
                  noise_px: float = 2.0, low_conf_rate: float = 0.03) -> np.ndarray:
    """Noisy detections (V, N, K, 3) px + confidence of extra points (N, K, 3) cm, with the
    detector's noise and confidences (``make_detections``' model) and its missed view-frames
    ``missing`` (V, N) bool; NaN where outside the image or missed."""
    pts = np.asarray(points3d, np.float64)
    clean = rig.project(pts)  # (V, N, K, 2)
    V = len(rig)
    size = rig.sizes.reshape(V, 1, 1, 2)
    visible = np.all(np.isfinite(clean) & (clean >= 0) & (clean <= size - 1), axis=-1)
    visible &= rig.world_to_camera(pts)[..., 2] > 0
    low = rng.random(visible.shape) < low_conf_rate
    conf = np.where(low, rng.uniform(0.05, 0.45, visible.shape), rng.uniform(0.6, 0.98, visible.shape))
    det = clean + rng.normal(0.0, 1.0, clean.shape) * (noise_px * np.where(low, 4.0, 1.0))[..., None]
    out = np.concatenate([det, conf[..., None]], axis=-1)
    out[~(visible & ~np.asarray(missing, bool)[..., None])] = np.nan
    return out.astype(np.float32)


def _midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    out[..., :2] = (a[..., :2] + b[..., :2]) / 2
    out[..., 2] = np.minimum(a[..., 2], b[..., 2])  # NaN when either is missing
    return out


def set_detections(set_name: str, keypoints2d: np.ndarray, feet2d: np.ndarray,
                   head_top2d: np.ndarray | None = None) -> np.ndarray:
    """2D detections (V, N, J, 3) of ``set_name`` from the COCO-17 ones (V, N, 17, 3), the feet
    (V, N, 6, 3) (``FOOT_NAMES`` order) and the head top (V, N, 1, 3) when the set has it."""
    by_name = {name: keypoints2d[..., k, :] for k, name in enumerate(COCO17)}
    by_name.update({name: feet2d[..., k, :] for k, name in enumerate(FOOT_NAMES)})
    by_name.update({name: _midpoint(by_name[a], by_name[b]) for name, (a, b) in _MIDPOINTS.items()})
    if head_top2d is not None:
        by_name["head_top"] = head_top2d[..., 0, :]
    return np.stack([by_name[n] for n in REGISTRY[set_name].names], axis=-2).astype(np.float32)
