"""``aistpp triangulate``: 3D keypoints (plain and temporally optimised) from multi-view 2D keypoints."""

from __future__ import annotations

from aistpp.commands._common import ConfigFile, batch_options, options_from, run_batch, user_errors
from aistpp.config import build_config
from aistpp.pipeline.triangulate import TriangulateConfig

OPTIONS = ("anno_dir", "save_dir", "cameras_dir", "min_confidence", "outlier_px", "optimise")


@user_errors
@options_from(TriangulateConfig, OPTIONS + batch_options())
def command(given: dict, config: ConfigFile = None) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (keypoints3d, keypoints3d_optim) for each sequence."""
    from aistpp.pipeline.triangulate import run_triangulate

    cfg = build_config(TriangulateConfig, given, config, "triangulate")
    run_batch(cfg, run_triangulate,
              columns=("frames", "reproj_px", "reproj_optim_px", "outliers_pct", "worst_view", "missing_pct"))
