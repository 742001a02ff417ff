"""Calibrate: the 9 cameras of each recording setting from the dancers' own 2D keypoints.

Pure functions on arrays:
- ``calibrate_views``: pooled keypoints (V, N, J) of one setting -> refined rig + report.
  Initial points by DLT with the initial rig, then rounds of robust bundle adjustment
  (``core.bundle_adjust``, Huber loss); between rounds the points are re-triangulated
  robustly (RANSAC over view pairs) with a threshold shrinking with the residuals, so
  outliers and left/right swaps are rejected and wrongly rejected detections come back.
  A view with fewer than ``min_view_observations`` usable detections is not refined (kept
  as initialised) and flagged in the report.
- ``gauge_transform``: the similarity (s, R, t) that puts the result in the dataset's world:
  the floor (fitted to the lower ankle of each frame, minus the ankle height) is y = 0 with
  +y up, the origin is under the dancers' average hip centre, c01's viewing direction has
  the same heading (horizontal angle) as in the initial rig, and units are cm, set so that
  the dancer's median leg + torso length (ankle-knee-hip-shoulder chain, pose independent)
  is ``LEG_TORSO_PER_HEIGHT`` x ``height_cm``.
The job ``calibrate_setting`` reads a setting's sequences, calls them and writes
``<save_dir>/<setting>.json`` (cameras) and ``<save_dir>/<setting>.report.json``;
``run_calibrate`` maps it over the settings and copies ``mapping.txt``.
"""

from __future__ import annotations

import functools
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from aistpp.core import formats
from aistpp.core.align import transform_rig
from aistpp.core.bundle_adjust import bundle_adjust, reprojection_errors
from aistpp.core.cameras import CameraRig
from aistpp.core.joints import COCO17
from aistpp.core.names import check_name
from aistpp.core.runner import RunOptions, RunReport, report_stage, run_jobs
from aistpp.core.triangulation import triangulate_dlt, triangulate_robust
from aistpp.errors import AistppError

# Anthropometric proportions of stature (Winter, Biomechanics and Motor Control of Human
# Movement): ankle joint 0.039 H, knee 0.285 H, hip 0.530 H, shoulder 0.818 H above the floor.
ANKLE_PER_HEIGHT = 0.039
LEG_TORSO_PER_HEIGHT = 0.818 - 0.039  # ankle -> knee -> hip -> shoulder chain
_J = {name: i for i, name in enumerate(COCO17)}
HEAD = [_J[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
ANKLES = [_J["left_ankle"], _J["right_ankle"]]
KNEES = [_J["left_knee"], _J["right_knee"]]
HIPS = [_J["left_hip"], _J["right_hip"]]
SHOULDERS = [_J["left_shoulder"], _J["right_shoulder"]]


class CalibrateConfig(RunOptions):
    """Options of ``aistpp calibrate`` (plus the shared runner options)."""

    anno_dir: Path
    save_dir: Path
    settings: list[str] | None = None
    init_cameras: str = Field("rig", description="camera JSON file, or 'rig' for the default AIST-like ring")
    sequences_per_setting: int = Field(20, ge=1)
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    fix_intrinsics: bool = False
    intrinsics: list[Literal["f", "k1", "k2", "cx", "cy"]] = ["f", "k1"]
    seed: int = 0
    height_cm: float = Field(170.0, gt=50.0, lt=300.0)
    max_frames: int = Field(1000, ge=10, description="frames sampled from the pooled sequences for the adjustment")
    rounds: int = Field(3, ge=1, le=20)
    min_view_observations: int = Field(100, ge=1)
    image_size: tuple[int, int] | None = Field(None, description="(width, height) of the default ring's images")

    @field_validator("image_size", mode="before")
    @classmethod
    def _parse_size(cls, value):
        if isinstance(value, str):
            try:
                w, h = (int(x) for x in value.lower().split("x"))
            except ValueError:
                raise ValueError(f"image size {value!r} is not WIDTHxHEIGHT (e.g. 1920x1080)") from None
            value = (w, h)
        if value is not None and min(value) < 16:
            raise ValueError(f"image size {value} is too small")
        return value


@dataclass
class Calibration:
    """rig: calibrated cameras (dataset world: cm, +y up, floor y = 0); points3d (N, J, 3) cm:
    the adjusted keypoints of the sampled frames in that world; report: JSON-ready dict."""

    rig: CameraRig
    points3d: np.ndarray
    report: dict


# ---- statistics ----------------------------------------------------------------------------
def _stats(err: np.ndarray, mask: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-view (median, p90) px of err (V, P) where mask (V, P); NaN for an empty view."""
    e = np.where(mask & np.isfinite(err), err, np.nan)
    with warnings.catch_warnings():  # an empty view: 'All-NaN slice'
        warnings.simplefilter("ignore", RuntimeWarning)
        med, p90 = np.nanmedian(e, axis=1), np.nanpercentile(e, 90, axis=1)
    return [float(x) for x in med], [float(x) for x in p90]


def _overall(err: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    e = err[mask & np.isfinite(err)]
    return (float(np.median(e)), float(np.percentile(e, 90))) if e.size else (float("nan"), float("nan"))


# ---- the adjustment --------------------------------------------------------------------------
def calibrate_views(init: CameraRig, points2d: np.ndarray, confidence: np.ndarray | None,
                    min_confidence: float = 0.5, intrinsics: tuple[str, ...] = ("f", "k1"),
                    rounds: int = 3, min_view_observations: int = 100, min_threshold_px: float = 6.0,
                    height_cm: float | None = 170.0, reference: CameraRig | None = None) -> Calibration:
    """Cameras of one setting by robust bundle adjustment on body keypoints.

    init: V initial cameras; points2d (V, N, J, 2) px (NaN = missing; J = 17 COCO joints for
    the gauge); confidence (V, N, J) or None; detections below ``min_confidence`` are unused.
    intrinsics: what to refine besides the extrinsics (see ``core.bundle_adjust.INTRINSICS``).
    height_cm: fix the gauge (see module docstring) with ``reference`` (default ``init``) giving
    c01's heading; None leaves the result in the adjustment's own frame (near ``init``'s).
    """
    V, N, J = np.shape(points2d)[:3]
    if V != len(init):
        raise AistppError(f"keypoints have {V} views, the initial cameras {len(init)}")
    pts = np.asarray(points2d, np.float64).reshape(V, N * J, 2)
    ok = np.isfinite(pts).all(-1)
    if confidence is not None:
        conf = np.asarray(confidence, np.float64).reshape(V, N * J)
        ok &= np.isfinite(conf) & (conf >= min_confidence)
    base = ok.astype(np.float64)
    counts = ok.sum(axis=1)
    fixed = counts < min_view_observations
    if (~fixed).sum() < 2:
        raise AistppError(f"fewer than two views have {min_view_observations} usable detections "
                          f"(counts {dict(zip(init.names, counts.tolist()))}): lower --min-confidence or add sequences")
    # Round 0: plain DLT with the initial cameras.
    X = triangulate_dlt(init, pts[:, :, None], np.where(ok, 1.0, 0.0)[:, :, None], 0.5).reshape(-1, 3)
    before = reprojection_errors(init, X, pts)
    rig, w = init, base * np.isfinite(X).all(-1)[None]
    err0 = before[(w > 0) & np.isfinite(before)]
    scale = float(max(np.median(err0) if err0.size else 10.0, 2.0))
    history = []
    for r in range(rounds):
        res = bundle_adjust(rig, pts, w, np.nan_to_num(X), intrinsics=intrinsics, loss="huber", scale=scale,
                            fixed_views=fixed, max_iterations=40 if r == 0 else 20, tol=1e-5)
        rig = res.rig
        err = reprojection_errors(rig, res.points3d, pts)
        med = float(np.median(err[(w > 0) & np.isfinite(err)]))
        threshold = max(min_threshold_px, 4.0 * med)
        history.append({"round": r, "iterations": res.iterations, "median_px": med,
                        "inliers": float((w > 0).sum() / max(base.sum(), 1)), "threshold_px": threshold})
        if r == rounds - 1:
            X = res.points3d
            break
        tri = triangulate_robust(rig, pts[:, :, None], np.where(ok, 1.0, 0.0)[:, :, None], 0.5, threshold)
        X = tri.points3d.reshape(-1, 3)
        w = base * tri.inliers.reshape(V, -1)
        scale = max(1.2 * med, 1.0)
    after = reprojection_errors(rig, np.where((w > 0).sum(0)[:, None] >= 2, X, np.nan), pts)
    inliers = w > 0
    points3d = np.where(((w > 0).sum(0) >= 2)[:, None], X, np.nan).reshape(N, J, 3)
    gauge = {}
    if height_cm is not None:
        s, R, t, gauge = gauge_transform(rig, points3d, height_cm, reference or init)
        rig = transform_rig(rig, s, R, t)
        points3d = s * points3d @ R.T + t
    report = _report(init, rig, before, after, ok, inliers, fixed, min_view_observations)
    report.update(rounds=history, gauge=gauge, frames=int(N), intrinsics=list(intrinsics))
    return Calibration(rig, points3d, report)


def _report(init, rig, before, after, ok, inliers, fixed, min_obs) -> dict:
    bmed, bp90 = _stats(before, ok)
    amed, ap90 = _stats(after, ok)
    views = []
    for v, name in enumerate(rig.names):
        n, k = int(ok[v].sum()), int(inliers[v].sum())
        if fixed[v]:
            status = f"not refined: only {n} usable detections (< {min_obs}); camera kept as initialised"
        elif k < min_obs:
            status = f"weak: only {k} inlier detections (< {min_obs})"
        else:
            status = "ok"
        views.append({"name": name, "detections": n, "inliers": k, "before_median_px": bmed[v],
                      "before_p90_px": bp90[v], "after_median_px": amed[v], "after_p90_px": ap90[v],
                      "focal_px": float(rig.K[v, 0, 0]), "status": status})
    b, a = _overall(before, ok), _overall(after, ok)
    return {"views": views, "before_median_px": b[0], "before_p90_px": b[1], "after_median_px": a[0],
            "after_p90_px": a[1], "weak_views": [x["name"] for x in views if x["status"] != "ok"]}


# ---- gauge ---------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking unit vector a to unit vector b."""
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-12:  # opposite: turn 180 deg about any axis normal to a
        axis = _unit(np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0]))
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _median_length(a: np.ndarray, b: np.ndarray) -> float:
    d = np.linalg.norm(a - b, axis=-1)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size else float("nan")


def _plane_normal(points: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal (3,) of the least-squares plane of points (M, 3), signed along ``up``; and the
    standard deviations (3,) along the principal axes (smallest first)."""
    centred = points - points.mean(0)
    evals, evecs = np.linalg.eigh(centred.T @ centred / max(len(points) - 1, 1))
    return evecs[:, 0] * np.sign(evecs[:, 0] @ up), np.sqrt(np.clip(evals, 0, None))


def floor_normal(points3d: np.ndarray) -> tuple[np.ndarray, str]:
    """Up direction (3,) of the floor from COCO keypoints (N, 17, 3).

    Each frame's lower ankle; a plane through them, then through the lower half of them,
    twice more (a lower envelope: frames with the foot flat on the floor, not lifted, tiptoe or
    hopping), signed towards the head. Falls back to the median ankle->head direction when
    the ankles do not spread over the floor (dancer standing still).
    """
    head = np.nanmean(points3d[:, HEAD], axis=1)
    feet = np.nanmean(points3d[:, ANKLES], axis=1)
    body = head - feet
    body = body[np.isfinite(body).all(1)]
    if len(body) < 3:
        raise AistppError("too few frames with head and ankles triangulated to find the floor")
    up = _unit(np.median(_unit(body), axis=0))
    size = float(np.median(np.linalg.norm(body, axis=1)))
    ank = points3d[:, ANKLES]  # (N, 2, 3)
    normal = up
    for _ in range(2):  # the lower ankle along the body axis, then along the first plane's normal
        height = np.einsum("nai,i->na", np.nan_to_num(ank, nan=np.inf), normal)
        low = np.take_along_axis(ank, np.argmin(np.where(np.isfinite(height), height, np.inf), 1)[:, None, None],
                                 1)[:, 0]
        low = low[np.isfinite(low).all(1)]
        if len(low) < 20:
            return up, "body axis"
        normal, spread = _plane_normal(low, up)
    if spread[1] < max(5 * spread[0], 0.03 * size) or normal @ up < np.cos(np.radians(30)):
        return up, "body axis"
    dist = (low - low.mean(0)) @ normal  # drop gross outliers (badly triangulated ankles) first
    inlier = np.abs(dist - np.median(dist)) < 3 * 1.4826 * np.median(np.abs(dist - np.median(dist))) + 1e-9
    low = low[inlier]
    keep = np.ones(len(low), bool)
    for _ in range(3):
        dist = (low - low[keep].mean(0)) @ normal
        lower = dist <= np.median(dist[keep])
        if lower.sum() < 20:
            break
        n, spread = _plane_normal(low[lower], up)
        if spread[1] < max(5 * spread[0], 0.03 * size) or n @ up < np.cos(np.radians(30)):
            break
        normal, keep = n, lower
    return normal, "ankle plane"


def gauge_transform(rig: CameraRig, points3d: np.ndarray, height_cm: float,
                    reference: CameraRig) -> tuple[float, np.ndarray, np.ndarray, dict]:
    """The similarity X' = s R X + t putting a reconstruction in the dataset's world.

    rig: cameras of the reconstruction; points3d (N, 17, 3) its COCO keypoints (any unit);
    height_cm: the dancers' stature; reference: a rig already in a +y-up world whose c01
    heading the result keeps. Returns s, R (3, 3), t (3,) and a dict describing the choice.
    """
    up, method = floor_normal(points3d)
    R1 = _rotation_between(up, np.array([0.0, 1.0, 0.0]))
    # heading: c01's optical axis (third row of R, in world coordinates), projected on the floor
    fwd = R1 @ rig.R[0, 2]
    ref = reference.R[0, 2]
    yaw = np.arctan2(ref[0], ref[2]) - np.arctan2(fwd[0], fwd[2])
    c, s_ = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, 0, s_], [0, 1, 0], [-s_, 0, c]]) @ R1
    chain = (np.mean([_median_length(points3d[:, a], points3d[:, k]) for a, k in zip(ANKLES, KNEES)])
             + np.mean([_median_length(points3d[:, k], points3d[:, h]) for k, h in zip(KNEES, HIPS)])
             + _median_length(points3d[:, HIPS].mean(1), points3d[:, SHOULDERS].mean(1)))
    if not np.isfinite(chain) or chain <= 0:
        raise AistppError("cannot measure the dancers' legs and torso (ankles, knees, hips, shoulders missing)")
    s = height_cm * LEG_TORSO_PER_HEIGHT / chain
    P = s * points3d @ R.T
    ank_y = np.nanmin(P[:, ANKLES, 1], axis=1)
    ank_y = ank_y[np.isfinite(ank_y)]
    floor = float(np.percentile(ank_y, 20)) - ANKLE_PER_HEIGHT * height_cm
    centre = np.nanmean(P[:, HIPS].mean(1), axis=0)
    t = np.array([-centre[0], -floor, -centre[2]])
    info = {"up_from": method, "scale": float(s), "leg_torso_cm": float(chain * s), "height_cm": float(height_cm),
            "c01_heading_deg": float(np.degrees(np.arctan2(ref[0], ref[2])))}
    return float(s), R, t, info


# ---- per-setting job ---------------------------------------------------------------------------
def choose_sequences(sequences: list[str], count: int, seed: int, setting: str) -> list[str]:
    """A seeded choice of ``count`` sequences (all when fewer), the same for the same seed and setting."""
    names = sorted(sequences)
    if len(names) <= count:
        return names
    rng = np.random.default_rng([seed, *setting.encode()])
    return sorted(rng.choice(names, size=count, replace=False).tolist())


def pool_keypoints(arrays: list[np.ndarray], max_frames: int, seed: int,
                   min_confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate keypoints2d arrays (V, N_i, J, 3) along frames and keep at most ``max_frames``
    frames (seeded uniform choice among frames where two or more views have a usable joint).
    Returns points (V, M, J, 2) px and confidence (V, M, J)."""
    kp = np.concatenate([np.asarray(a, np.float64) for a in arrays], axis=1)
    usable = np.isfinite(kp).all(-1) & (kp[..., 2] >= min_confidence)
    frames = np.flatnonzero((usable.any(-1)).sum(0) >= 2)
    if len(frames) > max_frames:
        frames = np.sort(np.random.default_rng(seed).choice(frames, size=max_frames, replace=False))
    return kp[:, frames, :, :2], kp[:, frames, :, 2]


def initial_rig(config: CalibrateConfig, setting: str, num_views: int) -> CameraRig:
    """``init_cameras``: 'rig' (the AIST-like ring at ``image_size``, else at the size of the
    setting's existing cameras, else 1920x1080), a camera JSON file, or a folder holding ``<setting>.json``."""
    from aistpp.core.rig import aist_like_ring

    if config.init_cameras != "rig":
        path = Path(config.init_cameras)
        if path.is_dir():
            path = path / f"{setting}.json"
        rig = formats.load_cameras(path)
        if len(rig) != num_views:
            raise AistppError(f"has {len(rig)} cameras, the keypoints {num_views} views", path)
        return rig
    size = config.image_size or (1920, 1080)
    existing = config.anno_dir / "cameras" / f"{setting}.json"
    if config.image_size is None and existing.is_file():
        try:
            size = tuple(int(x) for x in formats.load_cameras(existing).sizes[0])
        except AistppError:
            pass
    return aist_like_ring(num_views=num_views, focal=1600.0 * size[0] / 1920, size=size)


def camera_path(setting: str, config: CalibrateConfig) -> Path:
    return config.save_dir / f"{check_name(setting, 'setting name')}.json"


def report_path(setting: str, config: CalibrateConfig) -> Path:
    return config.save_dir / f"{check_name(setting, 'setting name')}.report.json"


def calibrate_setting(setting: str, config: CalibrateConfig) -> dict:
    """Calibrate one setting from its sequences' keypoints2d; write cameras and report."""
    from aistpp.core.dataset import AISTDataset

    ds = AISTDataset(config.anno_dir)
    if setting not in ds.settings:
        raise AistppError(f"setting {setting!r} is not in mapping.txt", ds.layout.folder("cameras") / "mapping.txt")
    candidates = [s for s in ds.settings[setting] if s not in set(ds.ignore_list)
                  and ds.layout.file("keypoints2d", s).is_file()]
    if not candidates:
        raise AistppError(f"no keypoints2d file for any sequence of {setting}", ds.layout.folder("keypoints2d"))
    chosen = choose_sequences(candidates, config.sequences_per_setting, config.seed, setting)
    report_stage(setting, f"read {len(chosen)} sequences")
    arrays = [ds.load_keypoints2d(s)["keypoints2d"] for s in chosen]
    views = {a.shape[0] for a in arrays}
    if len(views) != 1:
        raise AistppError(f"sequences of {setting} have different numbers of views {sorted(views)}")
    pts, conf = pool_keypoints(arrays, config.max_frames, config.seed, config.min_confidence)
    init = initial_rig(config, setting, pts.shape[0])
    intrinsics = () if config.fix_intrinsics else tuple(dict.fromkeys(config.intrinsics))
    report_stage(setting, f"bundle adjustment ({pts.shape[1]} frames, {config.rounds} rounds)")
    result = calibrate_views(init, pts, conf, config.min_confidence, intrinsics, config.rounds,
                             config.min_view_observations, height_cm=config.height_cm)
    report = {"setting": setting, "sequences": chosen, **result.report}
    formats.save_cameras(camera_path(setting, config), result.rig)
    formats.save_json(report_path(setting, config), report)
    return {"sequences": len(chosen), "frames": int(pts.shape[1]),
            "before_px": report["before_median_px"], "after_px": report["after_median_px"],
            "after_p90_px": report["after_p90_px"], "weak": ",".join(report["weak_views"]) or "-",
            "views": report["views"]}


def run_calibrate(config: CalibrateConfig) -> RunReport:
    """Calibrate every selected setting through the shared runner; copy mapping.txt to save_dir."""
    from aistpp.core.dataset import AISTDataset

    ds = AISTDataset(config.anno_dir)
    settings = list(ds.settings)
    if config.settings:
        unknown = [s for s in config.settings if s not in ds.settings]
        if unknown:
            raise AistppError(f"unknown setting(s) {', '.join(unknown)}; mapping.txt lists {', '.join(settings)}",
                              ds.layout.folder("cameras") / "mapping.txt")
        settings = [check_name(s, "setting name") for s in dict.fromkeys(config.settings)]
    job = functools.partial(calibrate_setting, config=config)
    report = run_jobs(job, settings, config, outputs=lambda s: [camera_path(s, config), report_path(s, config)],
                      title="calibrate")
    if not config.dry_run and report.count("done"):  # a usable cameras/ folder once a setting is written
        src = ds.layout.folder("cameras") / "mapping.txt"
        dst = config.save_dir / "mapping.txt"
        if not (dst.is_file() and dst.read_bytes() == src.read_bytes()):
            with formats.atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
    return report
