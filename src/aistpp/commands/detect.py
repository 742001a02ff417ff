"""``aistpp detect``: 2D keypoints from the multi-view videos (bundled BlazePose, or an ONNX model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.commands._common import (
    ConfigFile, Device, SaveDir, SequenceNames, VideoDir, print_dry_run, print_report, runner_options,
    split_names, user_errors,
)  # fmt: skip
from aistpp.errors import AistppError

Model = Annotated[Optional[str], typer.Option(
    "--model", help="blazepose (default: MediaPipe BlazePose full, from the optional 'detect' extra of aistpp) "
    "or a top-down .onnx model file (RTMPose-style SimCC or heatmap outputs; 17 or 26 keypoints).")]
JsonDir = Annotated[Optional[Path], typer.Option(
    "--json-dir", help="Also write per-frame OpenPose BODY_25 JSON here (<video>/<video>_<frame>_keypoints.json).")]
MinDetection = Annotated[Optional[float], typer.Option(
    "--min-detection-confidence", min=0.0, max=1.0, help="BlazePose's threshold for finding the person (default 0.5).")]


@user_errors
@runner_options(select=False)
def command(
    video_dir: VideoDir = None,
    save_dir: SaveDir = None,
    sequence_names: SequenceNames = None,
    model: Model = None,
    device: Device = None,
    json_dir: JsonDir = None,
    min_detection_confidence: MinDetection = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (COCO-17 keypoints2d; the detector's full joint set beside) for each
    sequence whose videos are in --video-dir (frames taken at 60 fps by time)."""
    from aistpp.config import build_config
    from aistpp.pipeline.detect import DetectConfig, run_detect

    values = dict(video_dir=video_dir, save_dir=save_dir, sequence_names=split_names(sequence_names), model=model, device=device, json_dir=json_dir,
                  min_detection_confidence=min_detection_confidence, **run)
    if config is None and (video_dir is None or save_dir is None):
        raise AistppError("--video-dir and --save-dir are required")
    cfg = build_config(DetectConfig, values, config, "detect")
    result = run_detect(cfg)
    if cfg.dry_run:
        print_dry_run(result)
        return
    print_report(result, columns=("views", "frames", "detected_pct", "frames_per_s"), quiet=cfg.quiet)
