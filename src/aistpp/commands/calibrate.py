"""``aistpp calibrate``: cameras from body keypoints (stub until the step lands)."""

from __future__ import annotations

from aistpp.commands._common import AnnoDir, ConfigFile, SaveDir, Workers, not_implemented, user_errors


@user_errors
def command(anno_dir: AnnoDir = None, save_dir: SaveDir = None, workers: Workers = None, config: ConfigFile = None) -> None:
    not_implemented("calibrate")
