"""Step 3: 3D keypoints from multi-view 2D keypoints, plain (robust DLT) and temporally optimised.

(1) ``triangulate_keypoints``: arrays in, arrays out (no files);
(2) ``triangulate_sequence``: the per-sequence job (keypoints2d/<seq>.pkl + the setting's
    cameras -> <save_dir>/<seq>.pkl with ``keypoints3d`` and ``keypoints3d_optim``, COCO-17 as
    released; when keypoints2d holds a richer joint set (``keypoints2d_full`` + ``joint_set``: feet,
    hands...) also ``keypoints3d_full`` and ``keypoints3d_full_optim`` in that set's order, its
    bones held at constant length, and ``joint_set``); a camera's ``frame_offset``
    (``core.frame_offsets``) shifts its view onto the setting's common clock first, so frame n of
    the output is the common instant n;
(3) ``run_triangulate``: every selected sequence through the shared runner.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from pydantic import Field

from aistpp.core import formats
from aistpp.core.cameras import CameraRig
from aistpp.core.dataset import AISTDataset
from aistpp.core.files import check_regular_path
from aistpp.core.frame_offsets import shift_views
from aistpp.core.joint_sets import REGISTRY, JointSet
from aistpp.core.names import check_name
from aistpp.core.runner import RunOptions, RunReport, report_stage, run_jobs
from aistpp.core.triangulation import reprojection_errors, triangulate_robust, undistort
from aistpp.errors import AistppError
from aistpp.core.joints import COCO_BONES
from aistpp.pipeline.triangulate_optim import OptimOptions, optimise_keypoints3d

UNDETERMINED_WARNING_PCT = 1.0  # warn when at least this share of the 3D keypoints is undetermined (NaN)
SUSPECT_VIEW_FRACTION = 0.3  # a view with more outliers than this hints at a bad camera or a de-synced video


class TriangulateConfig(RunOptions):
    """Options of ``aistpp triangulate`` (plus the shared runner options)."""

    anno_dir: Path
    save_dir: Path
    cameras_dir: Path | None = Field(None, description="Camera folder (mapping.txt, <setting>.json).",
                                     json_schema_extra={"unset": "<anno-dir>/cameras"})
    sequence_names: list[str] | None = None
    min_confidence: float = Field(0.15, ge=0.0, le=1.0, description="Ignore 2D keypoints below this confidence.")
    outlier_px: float = Field(15.0, gt=0.0, description="A view farther than this (px) from the consensus point is "
                              "an outlier.")
    optimise: bool = Field(True, description="Compute keypoints3d_optim by temporal + bone-length optimisation; "
                           "with --no-optimise it is a copy of keypoints3d.")


def triangulate_keypoints(rig: CameraRig, keypoints2d: np.ndarray, min_confidence: float = 0.15,
                          outlier_px: float = 15.0, optimise: bool = True,
                          options: OptimOptions | None = None, joint_set: str = "coco17",
                          bones: np.ndarray | None = None) -> dict:
    """Plain and optimised 3D keypoints of one sequence, with diagnostics.

    keypoints2d (V, N, J, 3): x, y px and confidence (NaN where missing), in ``joint_set``'s order;
    ``bones`` (B, 2): the skeleton whose lengths the optimisation holds constant (default the
    joint set's, ``JointSet.bones``).
    Returns ``keypoints3d`` and ``keypoints3d_optim`` (N, J, 3) cm; ``inliers`` and ``observed``
    (V, N, J) bool; ``reproj_px`` / ``reproj_optim_px``: mean reprojection error (px, distortion
    included) over the inlier observations; ``outlier_fraction``; ``outliers_per_view`` (V,).
    """
    kp = np.asarray(keypoints2d, dtype=np.float64)
    if kp.ndim != 4 or kp.shape[-1] != 3 or kp.shape[0] != len(rig):
        raise AistppError(f"keypoints2d must have shape ({len(rig)}, N, J, 3), found {kp.shape}")
    pts, conf = kp[..., :2], kp[..., 2]
    tri = triangulate_robust(rig, pts, conf, min_confidence, outlier_px)
    if optimise:
        weights = np.where(tri.inliers, np.nan_to_num(conf), 0.0)
        bones = REGISTRY[joint_set].bones if bones is None else bones
        optim = optimise_keypoints3d(rig, undistort(rig, pts), weights, tri.points3d, options, bones)
    else:
        optim = tri.points3d.copy()

    def mean_error(points3d: np.ndarray) -> float:
        err = reprojection_errors(rig, points3d, pts)[tri.inliers]
        err = err[np.isfinite(err)]
        return float(err.mean()) if err.size else float("nan")

    return {
        "keypoints3d": tri.points3d,
        "keypoints3d_optim": optim,
        "inliers": tri.inliers,
        "observed": tri.observed,
        "reproj_px": mean_error(tri.points3d),
        "reproj_optim_px": mean_error(optim),
        "outlier_fraction": tri.outlier_fraction,
        "outliers_per_view": tri.outliers_per_view,
    }


def output_path(name: str, config: TriangulateConfig) -> Path:
    return config.save_dir / f"{check_name(name)}.pkl"


def _dataset(config: TriangulateConfig) -> AISTDataset:
    return AISTDataset(config.anno_dir, cameras_dir=config.cameras_dir)


def triangulate_sequence(name: str, config: TriangulateConfig) -> dict:
    """Triangulate one sequence and write ``<save_dir>/<name>.pkl``; returns the report metrics."""
    ds = _dataset(config)
    rig = ds.load_cameras(name)
    path = ds.layout.file("keypoints2d", name)
    if not path.is_file():
        if path.exists():
            check_regular_path(path)  # a pipe or a device: refused, never opened
        raise AistppError("keypoints2d file not found (run 'aistpp preprocess' first)", path)
    data = formats.load_keypoints2d(path)
    kp = data["keypoints2d"][formats.keypoints2d_views(data, rig.names, path)]  # in the cameras' order
    formats.check_keypoints_in_images(kp, rig, path)
    offsets = ds.load_frame_offsets(name, rig.names)
    if offsets.any():  # de-synced views put on the setting's common clock (core.frame_offsets)
        kp = shift_views(kp, offsets)
    usable = np.isfinite(kp[..., :2]).all(-1) & (np.nan_to_num(kp[..., 2]) >= config.min_confidence)
    if not (usable.sum(axis=0) >= 2).any():
        raise AistppError(f"no 2D keypoint is seen by two views with confidence >= {config.min_confidence}: "
                          "nothing to triangulate", path)
    report_stage(name, "triangulate + optimise" if config.optimise else "triangulate")
    full_set, full = full_keypoints(data, rig, path)
    if full is not None and offsets.any():
        full = shift_views(full, offsets)
    res = triangulate_keypoints(rig, kp, config.min_confidence, config.outlier_px, config.optimise)
    if np.isnan(res["keypoints3d"]).all():  # never replace an earlier result by nothing
        raise AistppError("every 3D keypoint came out undetermined (NaN): nothing was written", path)
    extra: dict = {}
    if full is not None:
        report_stage(name, f"triangulate {full_set.title}")
        res_full = triangulate_keypoints(rig, full, config.min_confidence, config.outlier_px, config.optimise,
                                         bones=full_set.bones)
        extra = {"keypoints3d_full": res_full["keypoints3d"], "keypoints3d_full_optim": res_full["keypoints3d_optim"],
                 "joint_set": full_set.name}
    formats.save_keypoints3d(output_path(name, config), res["keypoints3d"], res["keypoints3d_optim"], **extra)
    missing = 100.0 * float(np.isnan(res["keypoints3d"][..., 0]).mean())
    observed = res["observed"].sum(axis=(1, 2))
    per_view = res["outliers_per_view"]
    frac = np.where(observed > 0, per_view / np.maximum(observed, 1), 0.0)
    suspect = [v for v, f in zip(rig.names, frac) if f > SUSPECT_VIEW_FRACTION]
    warnings = [f"view {v} is mostly outliers (bad camera or de-synced video?)" for v in suspect]
    if missing >= UNDETERMINED_WARNING_PCT:
        warnings.append(f"{missing:.1f}% of the 3D keypoints are NaN (seen by fewer than two agreeing views, or "
                        "along nearly parallel rays)")
    info = {} if full is None else {"joint_set": full_set.name, "reproj_full_px": res_full["reproj_optim_px"],
                                    "missing_full_pct": 100.0 * float(np.isnan(res_full["keypoints3d"][..., 0]).mean())}
    return info | {
        "frames": int(res["keypoints3d"].shape[0]),
        "reproj_px": res["reproj_px"],
        "reproj_optim_px": res["reproj_optim_px"],
        "outliers_pct": 100.0 * res["outlier_fraction"],
        "outliers_per_view": {v: int(n) for v, n in zip(rig.names, per_view)},
        "worst_view": f"{rig.names[int(np.argmax(frac))]} {100 * frac.max():.0f}%",
        "suspect_views": suspect,
        "missing_pct": missing,
        **({"frame_offsets": {v: float(o) for v, o in zip(rig.names, offsets) if o}} if offsets.any() else {}),
        "warnings": warnings,
    }


def full_keypoints(data: dict, rig: CameraRig, path: Path) -> tuple[JointSet | None, np.ndarray | None]:
    """The richer joint set of a loaded keypoints2d ``data``, if it has one: (its ``JointSet``,
    ``keypoints2d_full`` (V, N, J, 3) px + confidence in the cameras' order), else (None, None).

    A ``keypoints2d_full`` whose ``joint_set`` is not a registered set (``core.joint_sets``), or
    whose point count differs from that set's, is refused (its skeleton would be a guess)."""
    if "keypoints2d_full" not in data:
        return None, None
    name = data.get("joint_set")
    if name not in REGISTRY:
        raise AistppError(f"'keypoints2d_full' is in joint set {name!r}, which aistpp does not know "
                          f"(known: {', '.join(REGISTRY)})", path)
    jset = REGISTRY[name]
    full = data["keypoints2d_full"]
    if full.shape[2] != len(jset):
        raise AistppError(f"'keypoints2d_full' has {full.shape[2]} points per person; {jset.title} has {len(jset)}",
                          path)
    if not jset.beyond_coco:
        return None, None
    full = full[formats.keypoints2d_views(data, rig.names, path)]
    formats.check_keypoints_in_images(full, rig, path)
    return jset, full


def select_sequences(config: TriangulateConfig) -> list[str]:
    """Named sequences, else a split, else every sequence with a keypoints2d file (minus ignored)."""
    return _dataset(config).select_with("keypoints2d", config.sequence_names, config.split, config.include_ignored)


def run_triangulate(config: TriangulateConfig) -> RunReport:
    """Triangulate every selected sequence through the shared runner (resumable, atomic writes)."""
    names = select_sequences(config)
    job = functools.partial(triangulate_sequence, config=config)
    return run_jobs(job, names, config, outputs=lambda n: [output_path(n, config)], title="triangulate")
