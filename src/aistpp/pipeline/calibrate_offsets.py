"""Calibration's time offsets per sequence and to a fraction of a frame, given a rig.

Each AIST++ sequence is its own recording: its views can be synchronised differently from the
setting's other sequences (the released setting4's two sequences differ by a frame in four
views). Offsets are therefore per (sequence, view), ``(S, V)`` frames, rows in the order of
``np.unique(seq_id)``; the rig is shared. Sign as everywhere (``core.frame_offsets``): view
v's frame ``n + o`` shows the common instant ``n``.

- ``offsets_by_sequence``: each sequence's whole-frame offsets, searched (PnP per candidate,
  ``calibrate_init.refine_offsets``) a few frames around the setting's.
- ``subframe_offsets``: each whole-frame offset refined to a fraction of a frame by a parabola
  through the reprojection cost at o - 1, o, o + 1 (see its docstring for why not a continuous
  search over time-interpolated keypoints).
- ``recentre``: offsets put on the setting's clock (the views whose whole-frame offset is the
  most common one have, per sequence, a median offset of 0).
"""

from __future__ import annotations

import numpy as np

from aistpp.core.cameras import CameraRig
from aistpp.core.frame_offsets import shift_views
from aistpp.core.triangulation import triangulate_robust, usable_observations
from aistpp.pipeline.calibrate_init import even_frames, recentre_offsets, refine_offsets

BY_SEQUENCE_RADIUS = 3  # each sequence's own offsets are searched this many frames around the setting's
SUBFRAME_DIGITS = 2  # sub-frame offsets are written rounded to 0.01 frame


def offsets_by_sequence(rig: CameraRig, pts: np.ndarray, conf: np.ndarray | None, seq_id: np.ndarray,
                        offsets: np.ndarray, min_confidence: float, threshold_px: float, seed: int = 0) -> np.ndarray:
    """Each sequence's own whole-frame offsets (S, V) int, within ``BY_SEQUENCE_RADIUS`` of the
    setting's ``offsets`` (V,), searched with ``rig``; per sequence shifted so that most views
    agree with the setting's (the clock is the setting's, not the sequence's). pts (V, N, J, 2) px,
    conf (V, N, J) or None, seq_id (N,)."""
    ids = np.unique(seq_id)
    out = np.zeros((len(ids), len(offsets)), int)
    for k, i in enumerate(ids):
        m = seq_id == i
        found, _ = refine_offsets(rig, pts[:, m], None if conf is None else np.asarray(conf)[:, m], seq_id[m], offsets,
                                  BY_SEQUENCE_RADIUS, min_confidence, max_frames=200, threshold_px=threshold_px,
                                  seed=seed, anchor=None)
        out[k] = offsets + recentre_offsets(found - offsets)
    return out


def _refit_pose(cam: CameraRig, X: np.ndarray, x: np.ndarray) -> CameraRig:
    """The one-camera rig ``cam`` with its pose refitted (least squares, intrinsics and distortion
    kept; OpenCV's iterative PnP from the current pose) to points X (P, 3) seen at pixels x (P, 2)."""
    import cv2

    rvec, tvec = cam.rvec[0].reshape(3, 1).copy(), cam.tvec[0].reshape(3, 1).copy()
    ok, rvec, tvec = cv2.solvePnP(np.ascontiguousarray(X, np.float64), np.ascontiguousarray(x, np.float64),
                                  cam.K[0], cam.dist[0], rvec, tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return cam
    return CameraRig(cam.names, cam.sizes, cam.K, cam.dist, rvec.reshape(1, 3), tvec.reshape(1, 3))


def _view_costs(rig: CameraRig, full: np.ndarray, v: int, others: list[int], offsets: np.ndarray, frames: np.ndarray,
                threshold_px: float):
    """cost(candidates) for whole frames o: mean squared reprojection error (px^2) of view v's
    keypoints of frame n + o against the points of instant n triangulated (robustly) from
    ``others`` at their ``offsets``, v's pose refitted for each o (a pose adjusted at one offset
    would favour it), on one set of joints: those within ``threshold_px`` of the rig's camera at
    every offset asked for (so each cost averages the same detections, the same noise)."""
    sub = rig.subset([rig.names[u] for u in others])
    X = triangulate_robust(sub, shift_views(full[others], offsets[others])[:, frames], None, 0.0,
                           threshold_px).points3d  # (F, J, 3)
    cam = rig.subset([rig.names[v]])
    proj = cam.project(X)[0]  # (F, J, 2)

    def costs(candidates):
        obs = [shift_views(full[v:v + 1], [o])[0, frames] for o in candidates]  # (F, J, 2) each
        errs = np.stack([np.linalg.norm(x - proj, axis=-1) for x in obs])  # (C, F, J), NaN missing
        keep = np.isfinite(errs).all(0) & (np.nan_to_num(errs, nan=np.inf) < threshold_px).all(0)
        if keep.sum() < 2 * full.shape[2]:
            return None
        return np.array([np.mean(np.sum((_refit_pose(cam, X[keep], x[keep]).project(X[keep])[0] - x[keep]) ** 2, -1))
                         for x in obs])
    return costs


def _vertex(c_minus: float, c_0: float, c_plus: float) -> float | None:
    """The minimum of the parabola through (-1, c_minus), (0, c_0), (1, c_plus), in [-0.5, 0.5]
    when c_0 is the lowest; None when the three are not convex."""
    curvature = c_minus - 2 * c_0 + c_plus
    if not curvature > 0:
        return None
    return float(np.clip(0.5 * (c_minus - c_plus) / curvature, -0.5, 0.5))


def subframe_offsets(rig: CameraRig, pts: np.ndarray, conf: np.ndarray | None, seq_id: np.ndarray,
                     offsets: np.ndarray, min_confidence: float = 0.5, threshold_px: float = 15.0,
                     max_frames: int = 300, sweeps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (S, V) refined to a fraction of a frame, and the cost curvature per (S, V) (px^2 per
    frame^2: how sharply the cost rises off the minimum; NaN where not refined).

    Per sequence and view (Gauss-Seidel over the views, ``sweeps`` times; the others at their
    offsets as refined so far, interpolated by ``shift_views``): the cost of the view's whole-frame
    keypoints at o - 1, o, o + 1 against the points triangulated from the other views (camera
    refitted per offset, one set of joints, ``_view_costs``), o = the offset rounded; when o is not the lowest of
    the three, o moves to the lowest (at most three times); the offset is then the vertex of the
    parabola through the three costs.

    Why a parabola through whole-frame costs, not a continuous search over keypoints interpolated
    in time: for motion that is locally linear (over +-1.5 frames at 60 fps) the squared error is
    exactly quadratic in the offset, so the vertex is exact; and each of the three costs compares
    raw detections with the same noise, whereas a keypoint interpolated halfway between two frames
    averages two detections, halving their noise variance: the interpolated cost dips toward
    half frames by about the noise variance, a bias as large as the signal of slow joints.
    Views of a rig of two are left at their whole-frame offsets (nothing to triangulate from).
    pts (V, N, J, 2) px, conf (V, N, J) or None, seq_id (N,), offsets (S, V) frames.
    """
    V = pts.shape[0]
    ok = usable_observations(pts, conf, min_confidence)
    full = np.where(ok[..., None], np.asarray(pts, np.float64), np.nan)
    out = np.array(offsets, np.float64, copy=True)
    curvature = np.full(out.shape, np.nan)
    if V < 3:
        return out, curvature
    for k, i in enumerate(np.unique(seq_id)):
        seq = full[:, seq_id == i]
        frames = even_frames(seq.shape[1], max_frames)
        for _ in range(sweeps):
            for v in range(V):
                costs = _view_costs(rig, seq, v, [u for u in range(V) if u != v], out[k], frames, threshold_px)
                o = int(np.round(out[k, v]))
                for _ in range(3):
                    c = costs([o - 1, o, o + 1])
                    if c is None or c[1] <= c.min():
                        break
                    o += -1 if c[0] < c[2] else 1
                delta = None if c is None else _vertex(*c)
                if delta is not None:
                    out[k, v], curvature[k, v] = o + delta, c[0] - 2 * c[1] + c[2]
    return out, curvature


def recentre(offsets: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """Sub-frame offsets (S, V) on the setting's clock: per sequence, minus the median of the views
    whose whole-frame offset ``whole`` (S, V) is 0 (the setting's most common one, see
    ``recentre_offsets``), rounded to ``SUBFRAME_DIGITS``."""
    out = np.array(offsets, np.float64, copy=True)
    for k in range(len(out)):
        ref = out[k, whole[k] == 0]
        if ref.size:
            out[k] -= np.median(ref)
    return np.round(out, SUBFRAME_DIGITS) + 0.0  # no -0.0
