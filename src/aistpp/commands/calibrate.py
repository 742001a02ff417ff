"""``aistpp calibrate``: the cameras of every recording setting from the dancers' 2D keypoints alone."""

from __future__ import annotations

from rich.table import Table

from aistpp.commands._common import (
    ConfigFile, batch_options, console, options_from, run_batch, user_errors,
)  # fmt: skip
from aistpp.config import build_config
from aistpp.pipeline.calibrate import CalibrateConfig

OPTIONS = ("anno_dir", "save_dir", "settings", "init_cameras", "sequences_per_setting", "min_confidence",
           "--fix-intrinsics/--no-fix-intrinsics", "intrinsics", "height_cm", "max_frames", "image_size", "video_dir",
           "max_offset", "frame", "up", "seed")


@user_errors
@options_from(CalibrateConfig, OPTIONS + batch_options(select=False))
def command(given: dict, config: ConfigFile = None) -> None:
    """Write <save-dir>/<setting>.json (cameras, with per-view time offsets: frame_offsets per sequence and
    frame_offset for the setting), a copy of mapping.txt, and the report
    <save-dir>/../reports/calibrate/<setting>.json. A rig failing a plausibility check is refused (nothing written)."""
    from aistpp.pipeline.calibrate import run_calibrate

    cfg = build_config(CalibrateConfig, given, config, "calibrate")
    run_batch(cfg, run_calibrate, notes=lambda report: _per_view(report, cfg.quiet),
              columns=("sequences", "frames", "before_px", "after_px", "after_p90_px", "held_out_px", "weak"))


def _per_view(result, quiet: bool) -> None:
    """Each setting's per-view table (unless quiet; the views not ok are among its warnings)."""
    for it in result.items:
        views = it.info.get("views")
        if not views:
            continue
        if not quiet:
            table = Table(title=f"{it.name}: reprojection error per view (px)")
            for col in ("view", "detections", "inliers", "before med", "before p90", "after med", "after p90",
                        "focal px", "offset (frames)", "status"):
                table.add_column(col, justify="left" if col in ("view", "status") else "right")
            for v in views:
                style = "" if v["status"] == "ok" else "yellow"
                table.add_row(v["name"], str(v["detections"]), str(v["inliers"]), f"{v['before_median_px']:.1f}",
                              f"{v['before_p90_px']:.1f}", f"{v['after_median_px']:.2f}", f"{v['after_p90_px']:.2f}",
                              f"{v['focal_px']:.0f}", f"{v.get('subframe_offset_frames', v.get('offset_frames', 0)):+.2f}",
                              f"[{style}]{v['status']}[/]" if style else v["status"])
            console.print(table)
        it.info = {k: v for k, v in it.info.items() if k != "views"}
