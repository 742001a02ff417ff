"""``aistpp fit-smpl``: SMPL motion from 3D keypoints (stub until the step lands)."""

from __future__ import annotations

from aistpp.commands._common import AnnoDir, ConfigFile, Device, SaveDir, SequenceNames, SmplDir, Workers, not_implemented, user_errors


@user_errors
def command(
    anno_dir: AnnoDir = None,
    smpl_dir: SmplDir = None,
    save_dir: SaveDir = None,
    device: Device = None,
    sequence_names: SequenceNames = None,
    workers: Workers = None,
    config: ConfigFile = None,
) -> None:
    not_implemented("fit-smpl")
