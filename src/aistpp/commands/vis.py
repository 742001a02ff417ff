"""``aistpp vis``: draw annotations (2D, projected 3D, SMPL joints, SMPL mesh) onto the videos."""

from __future__ import annotations

from aistpp.commands._common import ConfigFile, batch_options, err_console, options_from, run_batch, user_errors
from aistpp.config import build_config
from aistpp.pipeline.vis import VisConfig

OPTIONS = ("anno_dir", "video_dir", "smpl_dir", "save_dir", "video_name", "mode", "views", "start", "end",
           "--labels/--no-labels", "joints", "audio", "music_dir", "any_fps", "min_confidence")


@user_errors
@options_from(VisConfig, OPTIONS + batch_options(select=False))
def command(given: dict, config: ConfigFile = None) -> None:
    """Write <save-dir>/<video_name>.mp4 (H.264, 60 fps, frame i = annotation frame i).

    Without --video-dir the annotations are drawn on a plain background of the camera's size.
    """
    from aistpp.pipeline.vis import run_vis

    cfg = build_config(VisConfig, given, config, "vis")
    report = run_batch(cfg, run_vis, columns=("frames", "views", "video"))
    if report is not None and not cfg.quiet:
        for it in report.items:
            if it.status == "done":
                err_console.print(f"wrote {it.info.get('output')}", highlight=False, soft_wrap=True)
