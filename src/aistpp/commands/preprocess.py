"""``aistpp preprocess``: per-frame 2D detections -> multi-view keypoints2d pickles."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aistpp.commands._common import (
    AnnoDir, ConfigFile, KeypointsDir, SaveDir, err_console, print_dry_run, print_report, runner_options,
    user_errors,
)  # fmt: skip
from aistpp.errors import AistppError

FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", help="Detector output: auto (default, from the files), openpose (BODY_25 / COCO-18), "
    "aist (<video>_<timestamp>.json with keypoints + detection_scores), coco (results list per video), "
    "alphapose (alphapose-results.json; COCO-17 or HALPE-26).")]
JointsOpt = Annotated[Optional[str], typer.Option(
    "--joints", help="coco17 (default): keypoints2d in COCO-17. native: also keep the detector's own "
    "joint set as keypoints2d_native (its name in joint_set_native).")]
TrackingOpt = Annotated[Optional[bool], typer.Option(
    "--tracking/--no-tracking", help="Keep one dancer stable over time (default) or the best-scored "
    "person of each frame.")]


@user_errors
@runner_options()
def command(
    keypoints_dir: KeypointsDir = None,
    save_dir: SaveDir = None,
    anno_dir: AnnoDir = None,
    format: FormatOpt = None,
    joints: JointsOpt = None,
    tracking: TrackingOpt = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (keypoints2d, det_scores, timestamps) for each sequence."""
    from aistpp.config import build_config
    from aistpp.pipeline.preprocess import PreprocessConfig, run_preprocess

    values = dict(keypoints_dir=keypoints_dir, save_dir=save_dir, anno_dir=anno_dir, format=format, joints=joints,
                  tracking=tracking, **run)
    if config is None and (keypoints_dir is None or save_dir is None):
        raise AistppError("--keypoints-dir and --save-dir are required")
    cfg = build_config(PreprocessConfig, values, config, "preprocess")
    result = run_preprocess(cfg)
    if cfg.dry_run:
        print_dry_run(result)
        return
    for it in result.items:
        for view in it.info.get("missing_views", []):
            err_console.print(f"[yellow]warning[/] {it.name}: view {view} has no detections; its slot is NaN",
                              highlight=False, soft_wrap=True)
        for view in it.info.get("extra_views", []):
            err_console.print(f"[yellow]warning[/] {it.name}: detections of view {view} not used (not one of "
                              "the setting's cameras)", highlight=False, soft_wrap=True)
        n = it.info.get("corrupt", 0)
        for path in it.info.get("corrupt_files", []):
            err_console.print(f"[yellow]warning[/] {path}: unreadable detection file, frame treated as missing",
                              highlight=False, soft_wrap=True)
        if n > len(it.info.get("corrupt_files", [])):
            err_console.print(f"[yellow]warning[/] {it.name}: {n} unreadable files in all (see --report)")
    print_report(result, columns=("frames", "views", "format", "joint_set", "corrupt", "overrides"), quiet=cfg.quiet)
