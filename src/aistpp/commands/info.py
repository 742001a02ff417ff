"""``aistpp info``: what a dataset holds (sequences by genre, setting, split; frames; missing files)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from aistpp.commands._common import AnnoDir, VideoDir, console, user_errors
from aistpp.errors import AistppError


@user_errors
def command(
    anno_dir: AnnoDir = None,
    video_dir: VideoDir = None,
    frames: Annotated[bool, typer.Option("--frames/--no-frames", help="Read every annotation file to count frames.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    from aistpp.pipeline.info import dataset_info

    if anno_dir is None:
        raise AistppError("--anno-dir is required")
    info = dataset_info(anno_dir, video_dir, frames)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    table = Table(title=f"AIST++ annotations: {anno_dir}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("sequences", str(info["sequences"]))
    table.add_row("ignored", str(info["ignored"]))
    for group in ("by_genre", "by_situation", "by_setting", "splits"):
        for key, n in info[group].items():
            table.add_row(f"{group.removeprefix('by_')}: {key}", str(n))
    for kind, n in info["files"].items():
        table.add_row(f"{kind} files", str(n))
    if "frames" in info:
        f = info["frames"]
        table.add_row("frames (total / min / max)", f"{f['total']} / {f['min']} / {f['max']}")
        table.add_row("frame counts differ between files", str(len(info["frame_mismatch"])))
    if "videos" in info:
        table.add_row("videos", str(info["videos"]))
    for kind, names in info["missing"].items():
        if names:
            table.add_row(f"[yellow]missing {kind}[/]", f"{len(names)} (e.g. {names[0]})")
    console.print(table)
