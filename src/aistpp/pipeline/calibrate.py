"""Calibrate: each recording setting's cameras from the dancers' own 2D keypoints.

Pure functions on arrays:
- ``calibrate_views``: pooled keypoints (V, N, J) of one setting + starting cameras -> refined
  rig + report. Initial points by DLT with the starting rig, then rounds of robust bundle
  adjustment (``core.bundle_adjust``, Huber loss); between rounds the points are
  re-triangulated robustly (RANSAC over view pairs) with a threshold shrinking with the
  residuals, so outliers and left/right swaps are rejected and wrongly rejected detections
  come back, and each joint's observations are weighted by its own noise, estimated from the
  inliers' residuals (``joint_weights``: a detector places some joints, e.g. the hips, far less
  precisely than others). A view with fewer than ``min_view_observations`` usable detections is not
  refined (kept as initialised) and flagged in the report.
- ``calibrate_solve.solve``: the whole recipe (start from the keypoints alone or from given
  cameras, time offsets, swaps, adjustment, gauge, plausibility checks).
The job ``calibrate_setting`` reads a setting's sequences, calls ``solve`` and, when every
check passed, writes ``<save_dir>/<setting>.json`` (cameras; each camera also carries its time
offsets ``frame_offset`` and ``frame_offsets`` per sequence, see ``save_setting_cameras``) and the report
``<save_dir>/../reports/calibrate/<setting>.json``; a failed check raises (nothing written).
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
from aistpp.core.frame_offsets import KEY, SEQUENCE_KEY
from aistpp.core.names import AIST_VIEWS, check_name
from aistpp.core.runner import RunOptions, RunReport, report_stage, run_jobs
from aistpp.core.triangulation import triangulate_dlt, triangulate_robust, usable_observations
from aistpp.errors import AistppError, AistppWarning
from aistpp.pipeline.calibrate_offsets import SUBFRAME_DIGITS


class CalibrateConfig(RunOptions):
    """Options of ``aistpp calibrate`` (plus the shared runner options)."""

    anno_dir: Path
    save_dir: Path
    settings: list[str] | None = Field(None, description="Settings to calibrate (repeat or comma-separate).",
                                       json_schema_extra={"unset": "every setting of mapping.txt that has keypoints2d"})
    init_cameras: str | None = Field(None, description="Starting cameras: 'rig' (the original AIST++ hand-made "
                                     "9-camera ring), a camera JSON file, or a folder of <setting>.json.",
                                     json_schema_extra={"unset": "none, the rig is found from the keypoints alone"})
    sequences_per_setting: int = Field(20, ge=1, description="Sequences pooled per setting, chosen with --seed.")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="Use 2D keypoints with at least this confidence.")
    fix_intrinsics: bool = Field(False, description="Keep focal length and distortion as initialised (else refine "
                                 "the --intrinsics).")
    intrinsics: list[Literal["f", "k1", "k2", "cx", "cy"]] = Field(
        ["f", "k1"], description="Intrinsics refined unless --fix-intrinsics, comma-separated: f (fx, fy together), "
        "k1, k2, cx, cy. The default set is aniposelib's; k2, cx, cy are weakly determined by body keypoints.")
    seed: int = Field(0, description="Seed of the sequence and frame choice.")
    height_cm: float = Field(170.0, gt=50.0, lt=300.0, description="Dancers' stature in cm: sets the unit. Their "
                             "median ankle-knee-hip-shoulder length is taken as 0.779 x this.")
    max_frames: int = Field(1000, ge=10, description="Frames sampled from the pooled sequences for the adjustment.")
    rounds: int = Field(3, ge=1, le=20)
    min_view_observations: int = Field(100, ge=1)
    image_size: tuple[int, int] | None = Field(
        None, description="WIDTHxHEIGHT of every view's images.", json_schema_extra={
            "metavar": "<WxH>", "unset": "from --video-dir, else the keypoints2d 'image_sizes', else the --init-cameras "
            "file, else the setting's existing camera file; never assumed"})
    video_dir: Path | None = Field(None, description="Folder of the videos (<sequence with cXX>.mp4): image size per "
                                   "view read from them.")
    max_offset: int = Field(30, ge=0, le=120, description="Time offset searched per view, +- frames (0: views in "
                            "sync). Found offsets (to 0.01 frame) are written per camera in <setting>.json: 'frame_offsets' per "
                            "sequence and 'frame_offset' for the setting.")
    frame: Literal["floor", "init"] = Field("floor", description="World frame: 'floor' (floor at 0, origin under the "
                                            "dancer, unit from --height-cm) or 'init' (keep the --init-cameras world "
                                            "and scale).")
    up: Literal["y", "z"] = Field("y", description="Up axis of the 'floor' world.")

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


def joint_weights(err: np.ndarray, inliers: np.ndarray, num_joints: int, min_count: int = 50) -> np.ndarray:
    """Per-observation weights (V, N*J) from the residuals: joint j's weight is (m / m_j)^2 with
    m_j the median inlier error of joint j over all views and frames and m the median of all
    inliers (iteratively reweighted least squares for noise that differs by joint: the weight is
    1 / variance, up to a common factor). err (V, N*J) px, inliers (V, N*J) bool. A joint with
    fewer than ``min_count`` inliers keeps weight 1; the weights are clipped to [0.1, 10]."""
    V = err.shape[0]
    e = np.where(inliers & np.isfinite(err), err, np.nan).reshape(V, -1, num_joints)
    count = np.isfinite(e).sum(axis=(0, 1))
    if not count.sum():
        return np.ones_like(err, dtype=np.float64)
    with warnings.catch_warnings():  # a joint never seen: 'All-NaN slice'
        warnings.simplefilter("ignore", RuntimeWarning)
        per_joint = np.nanmedian(e, axis=(0, 1))
    overall = float(np.nanmedian(e))
    w = np.where((count >= min_count) & (per_joint > 0), (overall / np.where(per_joint > 0, per_joint, 1.0)) ** 2, 1.0)
    w = np.clip(np.nan_to_num(w, nan=1.0), 0.1, 10.0)
    return np.broadcast_to(w, e.shape).reshape(V, -1).astype(np.float64)


# ---- the adjustment --------------------------------------------------------------------------
def calibrate_views(init: CameraRig, points2d: np.ndarray, confidence: np.ndarray | None,
                    min_confidence: float = 0.5, intrinsics: tuple[str, ...] = ("f", "k1"),
                    rounds: int = 3, min_view_observations: int = 100, min_threshold_px: float = 6.0,
                    threshold_factor: float = 4.0,
                    height_cm: float | None = 170.0, reference: CameraRig | None = None) -> Calibration:
    """Cameras of one setting by robust bundle adjustment on body keypoints.

    init: V initial cameras; points2d (V, N, J, 2) px (NaN = missing; J = 17 COCO joints for
    the gauge); confidence (V, N, J) or None; detections below ``min_confidence`` are unused.
    intrinsics: what to refine besides the extrinsics (see ``core.bundle_adjust.INTRINSICS``).
    Between rounds, observations more than ``max(min_threshold_px, threshold_factor x median)``
    px from the robust triangulation are dropped.
    height_cm: fix the gauge (see module docstring) with ``reference`` (default ``init``) giving
    c01's heading; None leaves the result in the adjustment's own frame (near ``init``'s).
    """
    V, N, J = np.shape(points2d)[:3]
    if V != len(init):
        raise AistppError(f"keypoints have {V} views, the initial cameras {len(init)}")
    pts = np.asarray(points2d, np.float64).reshape(V, N * J, 2)
    ok = usable_observations(pts, None if confidence is None else np.reshape(confidence, (V, N * J)), min_confidence)
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
    precision = np.ones_like(base)  # per-joint weights (joint_weights), from the second round on
    for r in range(rounds):
        res = bundle_adjust(rig, pts, w * precision, np.nan_to_num(X), intrinsics=intrinsics, loss="huber", scale=scale,
                            fixed_views=fixed, max_iterations=40 if r == 0 else 20, tol=1e-5)
        rig = res.rig
        err = reprojection_errors(rig, res.points3d, pts)
        med = float(np.median(err[(w > 0) & np.isfinite(err)]))
        threshold = max(min_threshold_px, threshold_factor * med)
        history.append({"round": r, "iterations": res.iterations, "median_px": med,
                        "inliers": float((w > 0).sum() / max(base.sum(), 1)), "threshold_px": threshold})
        if r == rounds - 1:
            X = res.points3d
            break
        tri = triangulate_robust(rig, pts[:, :, None], np.where(ok, 1.0, 0.0)[:, :, None], 0.5, threshold)
        X = tri.points3d.reshape(-1, 3)
        precision = joint_weights(err, (w > 0), J)
        w = base * tri.inliers.reshape(V, -1)
        scale = max(1.2 * med, 1.0)
    after = reprojection_errors(rig, np.where((w > 0).sum(0)[:, None] >= 2, X, np.nan), pts)
    inliers = w > 0
    points3d = np.where(((w > 0).sum(0) >= 2)[:, None], X, np.nan).reshape(N, J, 3)
    gauge = {}
    if height_cm is not None:
        from aistpp.pipeline.calibrate_gauge import gauge_transform

        s, R, t, gauge = gauge_transform(rig, points3d, height_cm, reference or init)
        rig = transform_rig(rig, s, R, t)
        points3d = s * points3d @ R.T + t
    report = _report(init, rig, before, after, ok, inliers, fixed, min_view_observations)
    report.update(rounds=history, gauge=gauge, frames=int(N), intrinsics=list(intrinsics))
    return Calibration(rig, points3d, report)


def _report(init, rig, before, after, ok, inliers, fixed, min_obs) -> dict:
    bmed, bp90 = _stats(before, ok)
    amed, ap90 = _stats(after, ok)
    imed, ip90 = _stats(after, ok & inliers)
    views = []
    for v, name in enumerate(rig.names):
        n, k = int(ok[v].sum()), int(inliers[v].sum())
        if fixed[v]:
            status = f"not refined: only {n} usable detections (< {min_obs}); camera kept as initialised"
        elif k < min_obs:
            status = f"weak: only {k} inlier detections (< {min_obs})"
        elif k < 0.6 * n:
            status = f"weak: only {100 * k / max(n, 1):.0f} % of its detections are inliers"
        else:
            status = "ok"
        views.append({"name": name, "detections": n, "inliers": k, "before_median_px": bmed[v],
                      "before_p90_px": bp90[v], "after_median_px": amed[v], "after_p90_px": ap90[v],
                      "after_inlier_median_px": imed[v], "after_inlier_p90_px": ip90[v],
                      "focal_px": float(rig.K[v, 0, 0]), "status": status})
    b, a, i = _overall(before, ok), _overall(after, ok), _overall(after, ok & inliers)
    return {"views": views, "before_median_px": b[0], "before_p90_px": b[1], "after_median_px": a[0],
            "after_p90_px": a[1], "after_inlier_median_px": i[0], "after_inlier_p90_px": i[1], "weak_views": [x["name"] for x in views if x["status"] != "ok"]}


# ---- per-setting job ---------------------------------------------------------------------------
def choose_sequences(sequences: list[str], count: int, seed: int, setting: str) -> list[str]:
    """A seeded choice of ``count`` sequences (all when fewer), the same for the same seed and setting."""
    names = sorted(sequences)
    if len(names) <= count:
        return names
    rng = np.random.default_rng([seed, *setting.encode()])
    return sorted(rng.choice(names, size=count, replace=False).tolist())


def view_names(data: list[dict], num_views: int) -> tuple[str, ...]:
    """Views named by the keypoints2d extra key ``view_names`` (the same in every file), else
    c01..c09 for 9 views (AIST++), else c01, c02, ..."""
    found = {tuple(str(x) for x in d["view_names"]) for d in data if "view_names" in d}
    if len(found) > 1:
        raise AistppError(f"the sequences name their views differently: {sorted(found)}")
    if found:
        names = found.pop()
        if len(names) != num_views or len(set(names)) != num_views:
            raise AistppError(f"'view_names' {list(names)} does not name {num_views} distinct views")
        return names
    return AIST_VIEWS if num_views == 9 else tuple(f"c{i + 1:02d}" for i in range(num_views))


def _start_cameras(config: CalibrateConfig, setting: str) -> CameraRig | None:
    """``init_cameras`` read: None, the original ring ('rig', sized later), or a file / folder."""
    if config.init_cameras in (None, "", "rig"):
        return None
    path = Path(config.init_cameras)
    if path.is_dir():
        path = path / f"{setting}.json"
    return formats.load_cameras(path)


def image_sizes(config: CalibrateConfig, setting: str, sequences: list[str], names: tuple[str, ...],
                data: list[dict], start: CameraRig | None) -> tuple[np.ndarray, str]:
    """Image size (w, h) per view (V, 2) and where it came from: ``--image-size``, the videos in
    ``--video-dir``, the keypoints2d extra key ``image_sizes``, the starting cameras, or the
    setting's existing camera file. Never assumed: raises AistppError naming the options."""
    V = len(names)
    if config.image_size is not None:
        return np.tile(config.image_size, (V, 1)), "--image-size"
    if config.video_dir is not None:
        from aistpp.core.names import video_name
        from aistpp.core.video import probe

        sizes = []
        for v in names:
            path = Path(config.video_dir) / f"{video_name(sequences[0], v)}.mp4"
            if not path.is_file():
                raise AistppError(f"no video for view {v} of {sequences[0]}", path)
            sizes.append(probe(path).size)
        return np.array(sizes, np.int64), "--video-dir"
    found = [np.asarray(d["image_sizes"]) for d in data if "image_sizes" in d]
    if found:
        sizes = found[0]
        if sizes.shape != (V, 2) or not np.issubdtype(sizes.dtype, np.number) or (sizes < 16).any():
            raise AistppError(f"keypoints2d 'image_sizes' must be {V} (width, height) pairs, found {sizes.tolist()}")
        return sizes.astype(np.int64), "keypoints2d image_sizes"
    if start is not None:
        return start.subset(list(names)).sizes if set(names) <= set(start.names) else start.sizes, "--init-cameras"
    existing = config.anno_dir / "cameras" / f"{setting}.json"
    if existing.is_file():
        rig = formats.load_cameras(existing)
        if len(rig) == V:
            return rig.sizes, str(existing)
    raise AistppError(f"{setting}: the image size of the views is unknown (the keypoints2d files carry no "
                      "'image_sizes'): give --image-size WxH, --video-dir, or --init-cameras with a camera file")


def camera_path(setting: str, config: CalibrateConfig) -> Path:
    return config.save_dir / f"{check_name(setting, 'setting name')}.json"


def report_path(setting: str, config: CalibrateConfig) -> Path:
    """``<save_dir>/../reports/calibrate/<setting>.json``: beside the cameras folder, not in it
    (code that reads every cameras/*.json as a rig must not meet a report)."""
    return config.save_dir.resolve().parent / "reports" / "calibrate" / f"{check_name(setting, 'setting name')}.json"


def _frames_number(o: float) -> int | float:
    """An offset as written: 0.01 frame, an int when whole."""
    o = round(float(o), SUBFRAME_DIGITS) + 0.0
    return int(o) if o.is_integer() else o


def save_setting_cameras(path: Path, rig: CameraRig, offsets: np.ndarray, sequences: list[str] | None = None) -> None:
    """The dataset's camera JSON plus, per camera, its time offsets (see ``core.frame_offsets``):
    ``frame_offsets`` {sequence: o} when ``sequences`` (S,) name the rows of ``offsets`` (S, V),
    and ``frame_offset``, the setting's (the median over the sequences; ``offsets`` (V,): that);
    frames to 0.01, view v's frame ``n + o`` shows the instant the common frame ``n`` shows.
    Readers of the release (the AIST++ API, aniposelib's ``Camera.from_dict``,
    ``formats.load_cameras``) read the keys they know and ignore these."""
    table = np.atleast_2d(np.asarray(offsets, np.float64))
    if sequences is not None and len(sequences) != len(table):
        raise ValueError(f"{len(sequences)} sequences for {len(table)} rows of offsets")
    items = rig.to_json_list()
    for v, item in enumerate(items):
        item[KEY] = _frames_number(np.median(table[:, v]))
        if sequences is not None:
            item[SEQUENCE_KEY] = {seq: _frames_number(o) for seq, o in zip(sequences, table[:, v])}
    formats.save_json(path, items)


def calibrate_setting(setting: str, config: CalibrateConfig) -> dict:
    """Calibrate one setting from its sequences' keypoints2d; check; write cameras and report."""
    from aistpp.core.dataset import AISTDataset
    from aistpp.core.rig import original_ring
    from aistpp.pipeline.calibrate_solve import solve

    ds = AISTDataset(config.anno_dir)
    if setting not in ds.settings:
        raise AistppError(f"setting {setting!r} is not in mapping.txt", ds.layout.folder("cameras") / "mapping.txt")
    candidates = _with_keypoints(ds, setting)
    if not candidates:
        raise AistppError(f"no keypoints2d file for any sequence of {setting}", ds.layout.folder("keypoints2d"))
    chosen = choose_sequences(candidates, config.sequences_per_setting, config.seed, setting)
    report_stage(setting, f"read {len(chosen)} sequences")
    data = [ds.load_keypoints2d(s) for s in chosen]
    arrays = [d["keypoints2d"] for d in data]
    views = {a.shape[0] for a in arrays}
    if len(views) != 1:
        raise AistppError(f"sequences of {setting} have different numbers of views {sorted(views)}")
    V = views.pop()
    names = view_names(data, V)
    start = _start_cameras(config, setting)
    if start is not None:
        if len(start) != V:
            raise AistppError(f"has {len(start)} cameras, the keypoints {V} views",
                              Path(config.init_cameras) if not Path(config.init_cameras).is_dir()
                              else Path(config.init_cameras) / f"{setting}.json")
        if set(start.names) == set(names):
            start = start.subset(list(names))
    sizes, size_source = image_sizes(config, setting, chosen, names, data, start)
    if config.init_cameras == "rig":
        if V != 9:
            raise AistppError(f"--init-cameras rig is the 9-camera AIST++ ring; {setting} has {V} views")
        start = original_ring(tuple(int(x) for x in sizes[0]), 1600.0 * float(sizes[0, 0]) / 1920, names)
    kp = np.concatenate([np.asarray(a, np.float64) for a in arrays], axis=1)
    seq_id = np.concatenate([np.full(a.shape[1], i) for i, a in enumerate(arrays)])
    intrinsics = () if config.fix_intrinsics else tuple(dict.fromkeys(config.intrinsics))
    report_stage(setting, f"solve ({kp.shape[1]} frames, {'given start' if start is not None else 'no start'})")
    sol = solve(kp[..., :2], kp[..., 2], seq_id, sizes, names, start, min_confidence=config.min_confidence,
                intrinsics=intrinsics, rounds=config.rounds, max_frames=config.max_frames, max_offset=config.max_offset,
                height_cm=config.height_cm, frame=config.frame, up=config.up,
                min_view_observations=config.min_view_observations, seed=config.seed)
    if sol.failed:
        raise AistppError(f"{setting}: refused, the rig is implausible (nothing written): "
                          + "; ".join(f"check '{c.name}' failed: {c.detail}" for c in sol.failed))
    report = {"setting": setting, "sequences": chosen, "image_sizes_from": size_source, **sol.report}
    for key in ("offsets_by_sequence", "subframe_offsets_by_sequence"):
        report[key] = {chosen[k]: dict(zip(names, v)) for k, v in sol.report[key].items()}
    save_setting_cameras(camera_path(setting, config), sol.rig, sol.frame_offsets, chosen)
    formats.save_json(report_path(setting, config), report)
    return {"sequences": len(chosen), "frames": int(report["frames"]),
            "before_px": report["before_median_px"], "after_px": report["after_median_px"],
            "after_p90_px": report["after_p90_px"], "held_out_px": report["held_out_median_px"],
            "weak": ",".join(dict.fromkeys(report["weak_views"] + report.get("weak_across_sequences", [])))
            or ("unjudged" if report.get("stability_unjudged") else "-"),
            "views": report["views"], **({"warnings": notes} if (notes := _setting_warnings(report)) else {})}


def _setting_warnings(report: dict) -> list[str]:
    """What the run warns of for a calibrated setting (``calibrate_setting``'s report): each view that
    is not ok, offsets that differ between sequences, a stability that could not be judged."""
    notes = [f"view {v['name']}: {v['status']}" for v in report["views"] if v["status"] != "ok"]
    if report["offsets_differ_by_sequence"]:
        notes.append(f"the time offsets of view(s) {', '.join(report['offsets_differ_by_sequence'])} differ "
                     "between sequences (see offsets_by_sequence in the report): each sequence's own are written "
                     "('frame_offsets'), 'frame_offset' holds the setting's median")
    if report.get("stability_unjudged"):
        notes.append(f"the rig's stability is unjudged: {report['stability_unjudged']}; so little data can be "
                     "fitted better by wrong cameras than by the true ones (add frames or recordings)")
    return notes


def _with_keypoints(ds, setting: str) -> list[str]:
    """The sequences of ``setting`` (mapping.txt) not on the ignore list that have a keypoints2d file."""
    ignored = set(ds.ignore_list)
    return [s for s in ds.settings[setting] if s not in ignored and ds.layout.file("keypoints2d", s).is_file()]


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
    else:  # every setting that has keypoints2d (a partial download, or a rig that recorded some settings)
        have = [s for s in settings if _with_keypoints(ds, s)]
        if not have:
            raise AistppError(f"no keypoints2d file for any sequence of mapping.txt's {len(settings)} setting(s)",
                              ds.layout.folder("keypoints2d"))
        if len(have) < len(settings):
            left = [s for s in settings if s not in have]
            warnings.warn(f"{len(left)} of {len(settings)} settings left out, no sequence of theirs has a keypoints2d "
                          f"file in {ds.layout.folder('keypoints2d')}: {', '.join(left[:5])}"
                          f"{', ...' if len(left) > 5 else ''}", AistppWarning, stacklevel=2)
        settings = have
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
