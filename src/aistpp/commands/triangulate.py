"""``aistpp triangulate``: 3D keypoints (plain and temporally optimised) from multi-view 2D keypoints."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aistpp.commands._common import (
    AnnoDir, CamerasDir, ConfigFile, SaveDir, err_console, print_dry_run, print_report, runner_options,
    user_errors,
)  # fmt: skip
from aistpp.errors import AistppError

MinConfidence = Annotated[Optional[float], typer.Option(
    "--min-confidence", min=0.0, max=1.0, help="Ignore 2D keypoints below this confidence (default 0.15).")]
OutlierPx = Annotated[Optional[float], typer.Option(
    "--outlier-px", min=0.0, help="A view farther than this (px) from the consensus point is an outlier (default 15).")]
Optimise = Annotated[Optional[bool], typer.Option(
    "--optimise/--no-optimise", help="Compute keypoints3d_optim by temporal + bone-length optimisation "
    "(default); with --no-optimise it is a copy of keypoints3d.")]


@user_errors
@runner_options()
def command(
    anno_dir: AnnoDir = None,
    save_dir: SaveDir = None,
    cameras_dir: CamerasDir = None,
    min_confidence: MinConfidence = None,
    outlier_px: OutlierPx = None,
    optimise: Optimise = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (keypoints3d, keypoints3d_optim) for each sequence."""
    from aistpp.config import build_config
    from aistpp.pipeline.triangulate import TriangulateConfig, run_triangulate

    values = dict(anno_dir=anno_dir, save_dir=save_dir, cameras_dir=cameras_dir, min_confidence=min_confidence,
                  outlier_px=outlier_px, optimise=optimise, **run)
    if config is None and (anno_dir is None or save_dir is None):
        raise AistppError("--anno-dir and --save-dir are required")
    cfg = build_config(TriangulateConfig, values, config, "triangulate")
    result = run_triangulate(cfg)
    if cfg.dry_run:
        print_dry_run(result)
        return
    for it in result.items:
        for warning in it.info.get("warnings", []):
            err_console.print(f"[yellow]warning[/] {it.name}: {warning}", highlight=False, soft_wrap=True)
        for view in it.info.get("suspect_views", []):
            err_console.print(
                f"[yellow]warning[/] {it.name}: view {view} is mostly outliers (bad camera or de-synced video?)",
                highlight=False, soft_wrap=True)
    print_report(result, columns=("frames", "reproj_px", "reproj_optim_px", "outliers_pct", "worst_view", "missing_pct"),
                 quiet=cfg.quiet)
