"""``aistpp detect``: 2D keypoints from the multi-view videos (bundled BlazePose, or an ONNX model)."""

from __future__ import annotations

from aistpp.commands._common import ConfigFile, batch_options, options_from, run_batch, user_errors
from aistpp.config import build_config
from aistpp.pipeline.detect import DetectConfig

OPTIONS = ("video_dir", "save_dir", "sequence_names", "model", "device", "json_dir", "min_detection_confidence")


@user_errors
@options_from(DetectConfig, OPTIONS + batch_options(select=False))
def command(given: dict, config: ConfigFile = None) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (COCO-17 keypoints2d; the detector's full joint set beside) for each
    sequence whose videos are in --video-dir (frames taken at 60 fps by time)."""
    from aistpp.pipeline.detect import run_detect

    cfg = build_config(DetectConfig, given, config, "detect")
    run_batch(cfg, run_detect, columns=("views", "frames", "detected_pct", "frames_per_s"))
