"""``aistpp vis``: draw annotations onto the videos (stub until the vis step lands)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aistpp.commands._common import AnnoDir, ConfigFile, SaveDir, SmplDir, VideoDir, not_implemented, user_errors


@user_errors
def command(
    anno_dir: AnnoDir = None,
    video_dir: VideoDir = None,
    smpl_dir: SmplDir = None,
    save_dir: SaveDir = None,
    video_name: Annotated[Optional[str], typer.Option("--video-name", help="A video name (..._c01_...) or a sequence name with --views.")] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="2d, 3d, smpl or mesh (case-insensitive).")] = None,
    views: Annotated[Optional[str], typer.Option("--views", help="Comma-separated views, or 'all' for one grid video.")] = None,
    config: ConfigFile = None,
) -> None:
    not_implemented("vis")
