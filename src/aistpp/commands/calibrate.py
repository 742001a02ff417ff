"""``aistpp calibrate``: the cameras of every recording setting from the dancers' 2D keypoints alone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from aistpp.commands._common import (
    AnnoDir, ConfigFile, SaveDir, console, err_console, print_dry_run, print_report, runner_options, split_names,
    user_errors,
)  # fmt: skip
from aistpp.errors import AistppError

SettingsOpt = Annotated[Optional[list[str]], typer.Option(
    "--settings", help="Settings to calibrate (repeat or comma-separate); default every setting of mapping.txt.")]
InitOpt = Annotated[Optional[str], typer.Option(
    "--init-cameras", help="Starting cameras (optional; default: none, the rig is found from the keypoints "
    "alone): 'rig' (the original AIST++ hand-made 9-camera ring), a camera JSON file, or a folder of <setting>.json.")]
PerSettingOpt = Annotated[Optional[int], typer.Option(
    "--sequences-per-setting", min=1, help="Sequences pooled per setting, chosen with --seed (default 20).")]
MinConfOpt = Annotated[Optional[float], typer.Option(
    "--min-confidence", min=0.0, max=1.0, help="Use 2D keypoints with at least this confidence (default 0.5).")]
FixIntrOpt = Annotated[Optional[bool], typer.Option(
    "--fix-intrinsics/--no-fix-intrinsics", help="Keep focal length and distortion as initialised "
    "(default: refine the --intrinsics).")]
IntrinsicsOpt = Annotated[Optional[str], typer.Option(
    "--intrinsics", help="Intrinsics refined unless --fix-intrinsics, comma-separated among f (fx, fy "
    "together), k1, k2, cx, cy. Default f,k1 (as aniposelib); k2, cx, cy are weakly determined by body keypoints.")]
HeightOpt = Annotated[Optional[float], typer.Option(
    "--height-cm", help="Dancers' stature in cm: sets the unit (default 170). Their median ankle-knee-hip-"
    "shoulder length is taken as 0.779 x this.")]
MaxFramesOpt = Annotated[Optional[int], typer.Option(
    "--max-frames", min=10, help="Frames sampled from the pooled sequences for the adjustment (default 1000).")]
ImageSizeOpt = Annotated[Optional[str], typer.Option(
    "--image-size", help="WIDTHxHEIGHT of every view's images. Default: from --video-dir, else the keypoints2d "
    "'image_sizes', else the --init-cameras file, else the setting's existing camera file; never assumed.")]
VideoDirOpt = Annotated[Optional[Path], typer.Option(
    "--video-dir", help="Folder of the videos (<sequence with cXX>.mp4): image size per view read from them.")]
MaxOffsetOpt = Annotated[Optional[int], typer.Option(
    "--max-offset", min=0, max=120, help="Time offset searched per view, +- frames (default 30; 0: views in sync). "
    "Found offsets are written per camera as 'frame_offset' in <setting>.json.")]
FrameOpt = Annotated[Optional[str], typer.Option(
    "--frame", help="World frame: 'floor' (default: floor at 0, origin under the dancer, unit from --height-cm) "
    "or 'init' (keep the --init-cameras world and scale).")]
UpOpt = Annotated[Optional[str], typer.Option("--up", help="Up axis of the 'floor' world: y (default) or z.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Seed of the sequence and frame choice (default 0).")]


@user_errors
@runner_options(select=False)
def command(
    anno_dir: AnnoDir = None,
    save_dir: SaveDir = None,
    settings: SettingsOpt = None,
    init_cameras: InitOpt = None,
    sequences_per_setting: PerSettingOpt = None,
    min_confidence: MinConfOpt = None,
    fix_intrinsics: FixIntrOpt = None,
    intrinsics: IntrinsicsOpt = None,
    height_cm: HeightOpt = None,
    max_frames: MaxFramesOpt = None,
    image_size: ImageSizeOpt = None,
    video_dir: VideoDirOpt = None,
    max_offset: MaxOffsetOpt = None,
    frame: FrameOpt = None,
    up: UpOpt = None,
    seed: SeedOpt = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write <save-dir>/<setting>.json (cameras, with per-view frame_offset), a copy of mapping.txt, and the report
    <save-dir>/../reports/calibrate/<setting>.json. A rig failing a plausibility check is refused (nothing written)."""
    from aistpp.config import build_config
    from aistpp.pipeline.calibrate import CalibrateConfig, run_calibrate

    values = dict(
        anno_dir=anno_dir, save_dir=save_dir, settings=split_names(settings), init_cameras=init_cameras,
        sequences_per_setting=sequences_per_setting, min_confidence=min_confidence, fix_intrinsics=fix_intrinsics,
        intrinsics=split_names([intrinsics]) if intrinsics else None, height_cm=height_cm, max_frames=max_frames, seed=seed,
        image_size=image_size, video_dir=video_dir, max_offset=max_offset, frame=frame, up=up, **run,
    )  # fmt: skip
    if config is None and (anno_dir is None or save_dir is None):
        raise AistppError("--anno-dir and --save-dir are required")
    cfg = build_config(CalibrateConfig, values, config, "calibrate")
    result = run_calibrate(cfg)
    if cfg.dry_run:
        print_dry_run(result)
        return
    for it in result.items:
        for warning in it.info.get("warnings", []):
            err_console.print(f"[yellow]warning[/] {it.name}: {warning}", highlight=False, soft_wrap=True)
        views = it.info.get("views")
        if not views:
            continue
        if not cfg.quiet:
            table = Table(title=f"{it.name}: reprojection error per view (px)")
            for col in ("view", "detections", "inliers", "before med", "before p90", "after med", "after p90",
                        "focal px", "offset", "status"):
                table.add_column(col, justify="left" if col in ("view", "status") else "right")
            for v in views:
                style = "" if v["status"] == "ok" else "yellow"
                table.add_row(v["name"], str(v["detections"]), str(v["inliers"]), f"{v['before_median_px']:.1f}",
                              f"{v['before_p90_px']:.1f}", f"{v['after_median_px']:.2f}", f"{v['after_p90_px']:.2f}",
                              f"{v['focal_px']:.0f}", f"{v.get('offset_frames', 0):+d}",
                              f"[{style}]{v['status']}[/]" if style else v["status"])
            console.print(table)
        for v in views:
            if v["status"] != "ok":
                err_console.print(f"[yellow]warning[/] {it.name} {v['name']}: {v['status']}", highlight=False,
                                  soft_wrap=True)
        it.info = {k: v for k, v in it.info.items() if k != "views"}
    print_report(result, columns=("sequences", "frames", "before_px", "after_px", "after_p90_px", "held_out_px", "weak"),
                 quiet=cfg.quiet)
