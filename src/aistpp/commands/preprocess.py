"""``aistpp preprocess``: per-frame 2D detections -> multi-view keypoints2d pickles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.commands._common import (
    AnnoDir, ConfigFile, SaveDir, VideoDir, err_console, print_dry_run, print_report, runner_options, user_errors,
)  # fmt: skip
from aistpp.errors import AistppError

KeypointsOpt = Annotated[Optional[Path], typer.Option(
    "--keypoints-dir", help="Detections: a folder of AIST-named videos (<gXX_sXX_cNN_...>/ or .json), of "
    "<sequence>/<view>/ (or <sequence>/<view>.json|.npy|.npz), of <view>/ for one sequence, or a TOML file "
    "listing sequences -> views -> files.")]
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", help="auto (default: from the files' content), openpose (people[].pose_keypoints_2d per frame), "
    "aist (keypoints + detection_scores per frame), mmpose (MMPose/RTMPose instances), coco (results list), "
    "alphapose (alphapose-results.json) or array (.npy/.npz of (N, J, 3)).")]
JointSetOpt = Annotated[Optional[str], typer.Option(
    "--joint-set", help="The detector's joint set: coco17, coco18, body25, body25b, halpe26, halpe136, "
    "wholebody133, blazepose33. Default: settled from the data (by count; BODY_25 vs BODY_25B by geometry), "
    "or an error asking for it.")]
PersonOpt = Annotated[Optional[str], typer.Option(
    "--person", help="Which person is the dancer: track (default: stable over time), best (highest score "
    "per frame), largest, central, or index (slot --person-index as the detector lists people).")]
PersonIndexOpt = Annotated[Optional[int], typer.Option(
    "--person-index", min=0, help="Slot for --person index (default 0).")]
TrackingOpt = Annotated[Optional[bool], typer.Option(
    "--tracking/--no-tracking", help="--no-tracking is --person best.")]
SequenceNameOpt = Annotated[Optional[str], typer.Option(
    "--sequence-name", help="Name of the one sequence of a <view>/ layout (default: the folder's name).")]
SettingOpt = Annotated[Optional[str], typer.Option(
    "--setting", help="Camera setting (cameras/<setting>.json under --anno-dir) of sequences mapping.txt does "
    "not list: its camera names order the views.")]
ImageSizeOpt = Annotated[Optional[str], typer.Option(
    "--image-size", help="Image size of the detections, WIDTHxHEIGHT for every view or VIEW=WxH,VIEW=WxH "
    "(default: from the detector file, else the videos of --video-dir).")]


@user_errors
@runner_options()
def command(
    keypoints_dir: KeypointsOpt = None,
    save_dir: SaveDir = None,
    anno_dir: AnnoDir = None,
    video_dir: VideoDir = None,
    format: FormatOpt = None,
    joint_set: JointSetOpt = None,
    person: PersonOpt = None,
    person_index: PersonIndexOpt = None,
    tracking: TrackingOpt = None,
    sequence_name: SequenceNameOpt = None,
    setting: SettingOpt = None,
    image_size: ImageSizeOpt = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (keypoints2d, det_scores, timestamps, view_names, image_sizes,
    joint_set, keypoints2d_full) for each sequence."""
    from aistpp.config import build_config
    from aistpp.pipeline.preprocess import PreprocessConfig, run_preprocess

    values = dict(keypoints_dir=keypoints_dir, save_dir=save_dir, anno_dir=anno_dir, video_dir=video_dir,
                  format=format, joint_set=joint_set, person=person, person_index=person_index, tracking=tracking,
                  sequence_name=sequence_name, setting=setting, image_size=image_size, **run)
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
    print_report(result, columns=("frames", "views", "format", "joint_set", "joint_set_how", "switches", "corrupt"),
                 quiet=cfg.quiet)
