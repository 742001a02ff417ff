"""``aistpp vis``: draw annotations (2D, projected 3D, SMPL joints, SMPL mesh) onto the videos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.commands._common import (
    AnnoDir, ConfigFile, SaveDir, SmplDir, VideoDir, err_console, print_dry_run, print_report, runner_options,
    user_errors,
)  # fmt: skip
from aistpp.errors import AistppError


@user_errors
@runner_options(select=False)
def command(
    anno_dir: AnnoDir = None,
    video_dir: VideoDir = None,
    smpl_dir: SmplDir = None,
    save_dir: SaveDir = None,
    video_name: Annotated[Optional[str], typer.Option("--video-name", help="A video name (..._c01_..., or <sequence>_<view> for other names) or a sequence name with --views.")] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="2d, 3d, smpl or mesh (case-insensitive).")] = None,
    views: Annotated[Optional[str], typer.Option("--views", help="Comma-separated views (one video each), or 'all' for one grid video.")] = None,
    start: Annotated[Optional[int], typer.Option("--start", min=0, help="First annotation frame to draw (default 0).")] = None,
    end: Annotated[Optional[int], typer.Option("--end", min=1, help="Stop before this annotation frame (default: the last).")] = None,
    labels: Annotated[Optional[bool], typer.Option("--labels/--no-labels", help="Write joint names beside the joints.")] = None,
    joints: Annotated[Optional[str], typer.Option("--joints", help="2d / 3d modes: coco17 (default) or full: every point of the detector's own joint set (keypoints2d_full; in 3d the triangulated keypoints3d_full: feet, hands) with its skeleton.")] = None,
    audio: Annotated[Optional[Path], typer.Option("--audio", help="Music to carry in the output MP4 (AAC), aligned so that audio time 0 plays with video frame 0, trimmed to the video.")] = None,
    music_dir: Annotated[Optional[Path], typer.Option("--music-dir", help="Folder of the music named by tag (mWA2.wav, .mp3, ...): the sequence's music goes into the output.")] = None,
    any_fps: Annotated[Optional[bool], typer.Option("--any-fps", help="Draw on videos whose frame rate is far from 60 fps (frames still taken by time); default: refuse them.")] = None,
    min_confidence: Annotated[Optional[float], typer.Option("--min-confidence", min=0.0, max=1.0, help="2d mode: skip joints below this confidence (default 0.15).")] = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write <save-dir>/<video_name>.mp4 (H.264, 60 fps, frame i = annotation frame i).

    Without --video-dir the annotations are drawn on a plain background of the camera's size.
    """
    from aistpp.config import build_config
    from aistpp.pipeline.vis import VisConfig, run_vis

    values = dict(
        anno_dir=anno_dir, video_dir=video_dir, smpl_dir=smpl_dir, save_dir=save_dir, video_name=video_name,
        mode=mode, views=views, start=start, end=end, labels=labels, joints=joints, min_confidence=min_confidence, any_fps=any_fps,
        audio=audio, music_dir=music_dir, **run,
    )  # fmt: skip
    if run["workers"] is not None and run["executor"] is None:
        values["executor"] = "processes"
    if config is None and (anno_dir is None or save_dir is None or video_name is None):
        raise AistppError("--anno-dir, --save-dir and --video-name are required")
    cfg = build_config(VisConfig, values, config, "vis")
    if cfg.end is not None and cfg.end <= cfg.start:
        raise AistppError(f"--end ({cfg.end}) must be after --start ({cfg.start})")
    report = run_vis(cfg)
    if cfg.dry_run:
        print_dry_run(report)
        return
    for it in report.items:
        for warning in it.info.get("warnings", []):
            err_console.print(f"[yellow]warning[/] {it.name}: {warning}", highlight=False, soft_wrap=True)
    print_report(report, columns=("frames", "views", "video"), quiet=cfg.quiet)
    if not cfg.quiet:
        for it in report.items:
            if it.status == "done":
                err_console.print(f"wrote {it.info.get('output')}", highlight=False, soft_wrap=True)
