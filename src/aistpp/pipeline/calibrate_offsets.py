"""Calibration's time offsets per sequence and to a fraction of a frame, given a rig.

Each AIST++ sequence is its own recording: its views can be synchronised differently from the
setting's other sequences (the released setting4's two sequences differ by a frame in four
views). Offsets are therefore per (sequence, view), ``(S, V)`` frames, rows in the order of
``np.unique(seq_id)``; the rig is shared. Sign as everywhere (``core.frame_offsets``): view
v's frame ``n + o`` shows the common instant ``n``.

- ``offsets_by_sequence``: each sequence's whole-frame offsets, searched (PnP per candidate,
  ``calibrate_init.refine_offsets``) a few frames around the setting's.
- ``subframe_offsets``: each whole-frame offset refined to a fraction of a frame: the residuals
  of the view's whole-frame keypoints against the other views' triangulation, linearised in
  time (the image velocity of the triangulated points), solved by robust least squares (see its
  docstring for why not a parabola through costs, nor a search over time-interpolated keypoints).
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
VELOCITY_HALF_WINDOW = 3  # image velocities from instants n - 3 .. n + 3 (triangulation noise / 3.7)
POSE_ROUNDS = 3  # a view's pose and its sub-frame correction are fitted in turn this many times


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


def _correction(r: np.ndarray, u: np.ndarray, scale: float, delta: float = 0.0) -> tuple[float, np.ndarray]:
    """The sub-frame correction delta (frames) with r + delta u ~ 0: Cauchy-weighted least squares
    (scale px, 5 reweightings from ``delta``), and each residual's Cauchy loss after it (P,).
    r residuals (P, 2) px, u image velocities (P, 2) px / frame; a row with a NaN (a point the
    camera model cannot project) takes no part and the loss of a residual 4 scales long."""
    ok = np.isfinite(r).all(-1) & np.isfinite(u).all(-1)
    rr, uu = r[ok], u[ok]
    for _ in range(5):
        w = 1.0 / (1.0 + np.sum((rr + delta * uu) ** 2, -1) / scale ** 2)
        delta = -float(np.sum(w * np.sum(rr * uu, -1)) / max(np.sum(w * np.sum(uu * uu, -1)), 1e-12))
    loss = np.full(len(r), np.log1p(16.0))
    loss[ok] = np.log1p(np.sum((rr + delta * uu) ** 2, -1) / scale ** 2)
    return delta, loss


def _view_offset(rig: CameraRig, full: np.ndarray, v: int, others: list[int], offsets: np.ndarray,
                 frames: np.ndarray, threshold_px: float):
    """estimate(candidates) for whole frames o: per o, (robust cost, delta, information): view v's
    keypoints of frame n + o against the points of instant n triangulated (robustly) from
    ``others`` at their ``offsets``; delta (frames) the linearised correction (``_correction``,
    see ``subframe_offsets``), fitted in turn with v's pose (``POSE_ROUNDS``; refitted for each o
    on the joints within ``threshold_px`` of the rig's camera: a pose adjusted at one offset
    would favour it); the cost the mean Cauchy loss (scale ``threshold_px`` / 4) after both;
    information 2 x the mean squared image speed (px^2 / frame^2), Cauchy-weighted. Every o is
    measured on one set of joints (detected at every candidate, instants n - h .. n + h
    triangulated). None when fewer than 2 J remain."""
    N, h = full.shape[1], VELOCITY_HALF_WINDOW
    frames = frames[(frames >= h) & (frames < N - h)]
    steps = np.arange(-h, h + 1)
    slope = steps / np.sum(steps ** 2)  # least-squares slope of 2h + 1 equally spaced samples
    around = (frames[None] + steps[:, None]).ravel()
    X = triangulate_robust(rig.subset([rig.names[u] for u in others]),
                           shift_views(full[others], offsets[others])[:, around], None, 0.0,
                           threshold_px).points3d.reshape(len(steps), len(frames), -1, 3)  # instants n - h .. n + h
    cam = rig.subset([rig.names[v]])
    scale = threshold_px / 4

    def estimate(candidates):
        obs = [shift_views(full[v:v + 1], [o])[0, frames] for o in candidates]  # (F, J, 2) each
        keep = np.isfinite(X).all(-1).all(0) & np.stack([np.isfinite(x).all(-1) for x in obs]).all(0)
        if keep.sum() < 2 * full.shape[2]:
            return None
        Xk = X[:, keep]  # (2h + 1, P, 3)
        p_rig = cam.project(Xk[h])[0]  # NaN where the camera model cannot project: never "near"
        out = []
        for x in obs:
            x = x[keep]
            near = np.linalg.norm(x - p_rig, axis=-1) < threshold_px  # the pose from these (PnP is least squares)
            fitted, delta, u = cam, 0.0, np.zeros_like(x)
            for _ in range(POSE_ROUNDS):  # a pose fitted to shifted keypoints absorbs part of the shift
                if near.sum() >= 6:
                    fitted = _refit_pose(fitted, Xk[h][near], (x + delta * u)[near])
                proj = fitted.project(Xk.reshape(-1, 3))[0].reshape(len(steps), -1, 2)
                r, u = x - proj[h], np.einsum("k,kpc->pc", slope, proj)  # residual px, image velocity px / frame
                delta, loss = _correction(r, u, scale, delta)
            w = np.nan_to_num(1.0 / (1.0 + np.sum((r + delta * u) ** 2, -1) / scale ** 2))
            speed2 = np.nan_to_num(np.sum(u * u, -1))
            out.append((float(np.mean(loss)), delta, 2.0 * float(np.sum(w * speed2) / max(np.sum(w), 1e-12))))
        return out
    return estimate


def subframe_offsets(rig: CameraRig, pts: np.ndarray, conf: np.ndarray | None, seq_id: np.ndarray,
                     offsets: np.ndarray, min_confidence: float = 0.5, threshold_px: float = 15.0,
                     max_frames: int = 300, sweeps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (S, V) refined to a fraction of a frame, and the information per (S, V): twice the
    weighted mean squared image speed (px^2 per frame^2, how sharply a squared error would rise
    off the minimum; NaN where not refined).

    Per sequence and view (Gauss-Seidel over the views, ``sweeps`` times; the others at their
    offsets as refined so far, interpolated by ``shift_views``): the view's whole-frame keypoints
    at o - 1, o, o + 1 against the points triangulated from the other views (camera refitted per
    offset, one set of joints, ``_view_offset``), o = the offset rounded. Frame n + o shows the
    instant n - delta, so each joint's residual is linearised in the sub-frame correction
    delta: r ~ e - delta u, u the image velocity of the triangulated points (the least-squares
    slope of their projections over instants n - 3 .. n + 3); delta is the Cauchy-weighted
    least-squares solution, fitted in turn with the pose; the candidate with the lowest robust
    cost after its correction wins; when that is not o, o moves to it (at most three times).
    The offset is o + delta.

    Why: the detections compared are raw (each at a whole frame, never an average of two, which
    would have half their noise variance and bias a cost toward half frames); the velocity comes
    from many views' triangulation over seven instants (a one-step central difference carried
    enough triangulation noise to shrink delta toward the whole frame by 0.1-0.2: errors in the
    regressor attenuate the slope); the pose is refitted to the corrected keypoints (fitted to
    the shifted ones it absorbs part of the shift); the robust weights keep the heavy tail of real
    detector errors (unsure joints, limb swaps within the threshold) from deciding. With the
    TRUE cameras of released rigs seeing eight 200-frame SMPL dances (fractional offsets, the
    released detections' error profile) the error is median 0.017 / p90 0.06 frame against
    0.036 / 0.105 for the parabola through three truncated mean squared errors used before
    (which also once missed by 0.5 on whole-frame offsets); end to end, ``benchmarks/calibrate.py``
    part 4 and ``test_calibrate_released_offsets``.
    Views of a rig of two are left at their whole-frame offsets (nothing to triangulate from).
    pts (V, N, J, 2) px, conf (V, N, J) or None, seq_id (N,), offsets (S, V) frames.
    """
    V = pts.shape[0]
    ok = usable_observations(pts, conf, min_confidence)
    full = np.where(ok[..., None], np.asarray(pts, np.float64), np.nan)
    out = np.array(offsets, np.float64, copy=True)
    information = np.full(out.shape, np.nan)
    if V < 3:
        return out, information
    for k, i in enumerate(np.unique(seq_id)):
        seq = full[:, seq_id == i]
        frames = even_frames(seq.shape[1], max_frames)
        for _ in range(sweeps):
            for v in range(V):
                estimate = _view_offset(rig, seq, v, [u for u in range(V) if u != v], out[k], frames, threshold_px)
                o = int(np.round(out[k, v]))
                for _ in range(3):
                    found = estimate([o - 1, o, o + 1])
                    if found is None:
                        break
                    best = int(np.argmin([f[0] for f in found]))
                    o += best - 1  # the winning whole frame
                    if best == 1:
                        break
                if found is not None:
                    _, delta, info = found[best]
                    out[k, v], information[k, v] = o + delta, info
    return out, information


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


def held_out_reprojection(rig: CameraRig, keypoints2d: np.ndarray, min_confidence: float = 0.5,
                          threshold_px: float = 15.0) -> dict:
    """How well ``rig`` explains one recording's detections (V, N, K, 3) px + confidence, e.g.
    a recording it was not calibrated on: the recording's sub-frame offsets found with the rig
    held (``subframe_offsets`` from zero, recentred on their median), the views shifted onto that
    clock, robust triangulation, then the reprojection error of every detection with confidence
    >= ``min_confidence``. Returns ``median_px``, ``p90_px``, ``inlier_share`` (within
    ``threshold_px`` of the triangulation) and ``offsets`` (V,) frames.

    A rig's parameters can differ from a reference's along directions the dancer hardly constrains
    (focal length against distance and distortion); how it reprojects detections it never saw is the
    check a user can make without the truth."""
    from aistpp.core.triangulation import reprojection_errors

    kp = np.asarray(keypoints2d, np.float64)
    if kp.ndim != 4 or kp.shape[0] != len(rig) or kp.shape[-1] != 3:
        raise ValueError(f"expected keypoints (V={len(rig)}, N, K, 3), got {kp.shape}")
    seq_id = np.zeros(kp.shape[1], np.int64)
    found, _ = subframe_offsets(rig, kp[..., :2], kp[..., 2], seq_id, np.zeros((1, len(rig))),
                                min_confidence, threshold_px)
    off = found[0] - np.median(found[0])
    shifted = shift_views(kp, off)
    conf = np.nan_to_num(shifted[..., 2])
    tri = triangulate_robust(rig, shifted[..., :2], conf, min_confidence, threshold_px)
    err = reprojection_errors(rig, tri.points3d, shifted[..., :2])
    seen = np.isfinite(err) & (conf >= min_confidence)
    if not seen.any():
        return {"median_px": float("nan"), "p90_px": float("nan"), "inlier_share": 0.0, "offsets": off}
    return {"median_px": float(np.median(err[seen])), "p90_px": float(np.percentile(err[seen], 90)),
            "inlier_share": float((seen & tri.inliers).sum() / seen.sum()), "offsets": off}
