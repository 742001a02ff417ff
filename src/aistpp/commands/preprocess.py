"""``aistpp preprocess``: per-frame detections -> keypoints2d pickles (stub until the step lands)."""

from __future__ import annotations

from aistpp.commands._common import AnnoDir, ConfigFile, KeypointsDir, SaveDir, SequenceNames, Workers, not_implemented, user_errors


@user_errors
def command(
    keypoints_dir: KeypointsDir = None,
    save_dir: SaveDir = None,
    anno_dir: AnnoDir = None,
    sequence_names: SequenceNames = None,
    workers: Workers = None,
    config: ConfigFile = None,
) -> None:
    not_implemented("preprocess")
