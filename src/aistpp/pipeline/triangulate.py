"""Step 3: 3D keypoints from multi-view 2D keypoints, plain (robust DLT) and temporally optimised.

(1) ``triangulate_keypoints``: arrays in, arrays out (no files);
(2) ``triangulate_sequence``: the per-sequence job (keypoints2d/<seq>.pkl + the setting's
    cameras -> <save_dir>/<seq>.pkl with ``keypoints3d`` and ``keypoints3d_optim``);
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
from aistpp.core.names import check_name
from aistpp.core.runner import RunOptions, RunReport, report_stage, run_jobs
from aistpp.core.triangulation import reprojection_errors, triangulate_robust, undistort
from aistpp.errors import AistppError
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
                          options: OptimOptions | None = None) -> dict:
    """Plain and optimised 3D keypoints of one sequence, with diagnostics.

    keypoints2d (V, N, J, 3): x, y px and confidence (NaN where missing).
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
        optim = optimise_keypoints3d(rig, undistort(rig, pts), weights, tri.points3d, options)
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
    usable = np.isfinite(kp[..., :2]).all(-1) & (np.nan_to_num(kp[..., 2]) >= config.min_confidence)
    if not (usable.sum(axis=0) >= 2).any():
        raise AistppError(f"no 2D keypoint is seen by two views with confidence >= {config.min_confidence}: "
                          "nothing to triangulate", path)
    report_stage(name, "triangulate + optimise" if config.optimise else "triangulate")
    res = triangulate_keypoints(rig, kp, config.min_confidence, config.outlier_px, config.optimise)
    if np.isnan(res["keypoints3d"]).all():  # never replace an earlier result by nothing
        raise AistppError("every 3D keypoint came out undetermined (NaN): nothing was written", path)
    formats.save_keypoints3d(output_path(name, config), res["keypoints3d"], res["keypoints3d_optim"])
    missing = 100.0 * float(np.isnan(res["keypoints3d"][..., 0]).mean())
    observed = res["observed"].sum(axis=(1, 2))
    per_view = res["outliers_per_view"]
    frac = np.where(observed > 0, per_view / np.maximum(observed, 1), 0.0)
    return {
        "frames": int(res["keypoints3d"].shape[0]),
        "reproj_px": res["reproj_px"],
        "reproj_optim_px": res["reproj_optim_px"],
        "outliers_pct": 100.0 * res["outlier_fraction"],
        "outliers_per_view": {v: int(n) for v, n in zip(rig.names, per_view)},
        "worst_view": f"{rig.names[int(np.argmax(frac))]} {100 * frac.max():.0f}%",
        "suspect_views": [v for v, f in zip(rig.names, frac) if f > SUSPECT_VIEW_FRACTION],
        "missing_pct": missing,
        "warnings": [f"{missing:.1f}% of the 3D keypoints are NaN (seen by fewer than two agreeing views, or "
                     "along nearly parallel rays)"] if missing >= UNDETERMINED_WARNING_PCT else [],
    }


def select_sequences(config: TriangulateConfig) -> list[str]:
    """Named sequences, else a split, else every sequence with a keypoints2d file (minus ignored)."""
    ds = _dataset(config)
    available = None
    if not config.sequence_names and not config.split:
        folder = ds.layout.folder("keypoints2d")
        available = [p.stem for p in folder.glob("*.pkl")]
        if not available:
            raise AistppError("no keypoints2d/<seq>.pkl files found", folder)
    return ds.select(config.sequence_names, config.split, config.include_ignored, available,
                     available_from=folder if available is not None else None)


def run_triangulate(config: TriangulateConfig) -> RunReport:
    """Triangulate every selected sequence through the shared runner (resumable, atomic writes)."""
    names = select_sequences(config)
    job = functools.partial(triangulate_sequence, config=config)
    return run_jobs(job, names, config, outputs=lambda n: [output_path(n, config)], title="triangulate")
