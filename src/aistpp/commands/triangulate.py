"""``aistpp triangulate``: 3D keypoints from 2D keypoints (stub until the step lands)."""

from __future__ import annotations

from aistpp.commands._common import AnnoDir, CamerasDir, ConfigFile, SaveDir, SequenceNames, Workers, not_implemented, user_errors


@user_errors
def command(
    anno_dir: AnnoDir = None,
    save_dir: SaveDir = None,
    cameras_dir: CamerasDir = None,
    sequence_names: SequenceNames = None,
    workers: Workers = None,
    config: ConfigFile = None,
) -> None:
    not_implemented("triangulate")
