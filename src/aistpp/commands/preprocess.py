"""``aistpp preprocess``: per-frame 2D detections -> multi-view keypoints2d pickles."""

from __future__ import annotations

from aistpp.commands._common import ConfigFile, batch_options, err_console, options_from, run_batch, user_errors
from aistpp.config import build_config
from aistpp.pipeline.preprocess import PreprocessConfig

OPTIONS = ("keypoints_dir", "save_dir", "anno_dir", "video_dir", "format", "joint_set", "person", "person_index",
           "tracking", "sequence_name", "setting", "image_size")


@user_errors
@options_from(PreprocessConfig, OPTIONS + batch_options())
def command(given: dict, config: ConfigFile = None) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (keypoints2d, det_scores, timestamps, view_names, image_sizes,
    joint_set, keypoints2d_full) for each sequence."""
    from aistpp.pipeline.preprocess import run_preprocess

    cfg = build_config(PreprocessConfig, given, config, "preprocess")
    run_batch(cfg, run_preprocess, notes=_warnings,
              columns=("frames", "views", "format", "joint_set", "joint_set_how", "switches", "corrupt"))


def _warnings(result) -> None:
    for it in result.items:
        for view in it.info.get("missing_views", []):
            err_console.print(f"[yellow]warning[/] {it.name}: view {view} has no detections; its slot is NaN",
                              highlight=False, soft_wrap=True)
        for view in it.info.get("extra_views", []):
            err_console.print(f"[yellow]warning[/] {it.name}: detections of view {view} not used (not one of "
                              "the setting's cameras)", highlight=False, soft_wrap=True)
        unknown = [v for v, s in it.info.get("image_sizes", {}).items() if s.endswith("(unknown)")]
        if unknown:
            err_console.print(f"[yellow]warning[/] {it.name}: image size unknown for {', '.join(unknown)} (pass "
                              "--video-dir or --image-size)", highlight=False, soft_wrap=True)
        n = it.info.get("corrupt", 0)
        for path in it.info.get("corrupt_files", []):
            err_console.print(f"[yellow]warning[/] {path}: unreadable detection file, frame treated as missing",
                              highlight=False, soft_wrap=True)
        if n > len(it.info.get("corrupt_files", [])):
            err_console.print(f"[yellow]warning[/] {it.name}: {n} unreadable files in all (see --report)")
