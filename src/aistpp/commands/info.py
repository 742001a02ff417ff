"""``aistpp info``: what a dataset holds (sequences by genre, setting, split; frames; missing files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from aistpp.commands._common import console, shared_option, user_errors


@user_errors
def command(
    anno_dir: Annotated[Path, shared_option("anno_dir")],
    video_dir: Annotated[Optional[Path], shared_option("video_dir")] = None,
    smpl_dir: Annotated[Optional[Path], shared_option("smpl_dir")] = None,
    quality: Annotated[bool, typer.Option("--quality", help="Score every sequence: median reprojection error (px) of keypoints3d_optim against the 2D keypoints, and with --smpl-dir the SMPL fit error (cm); lists the worst.")] = False,
    worst: Annotated[int, typer.Option("--worst", min=1, help="With --quality: how many of the worst sequences to list.")] = 10,
    frames: Annotated[bool, typer.Option("--frames/--no-frames", help="Read every annotation file to count frames.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    from aistpp.pipeline.info import dataset_info

    info = dataset_info(anno_dir, video_dir, frames, quality, smpl_dir)
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
    if not info["mapping"]:
        console.print("no cameras/mapping.txt: the sequences are the files' names, their settings unknown",
                      highlight=False)
    if quality:
        _print_quality(info["quality"], worst)


def _print_quality(scores: dict, worst: int) -> None:
    """The sequences with the largest reprojection error (then SMPL error) first."""
    rank = sorted(scores.items(), key=lambda kv: (-kv[1].get("reproj_px", float("inf")), -kv[1].get("smpl_cm", 0)))
    table = Table(title=f"quality: the {min(worst, len(rank))} worst of {len(rank)} sequences")
    table.add_column("sequence", no_wrap=True, min_width=max((len(s) for s in scores), default=8))
    for col in ("reprojection px (median)", "SMPL fit cm (mean)", "note"):
        table.add_column(col, justify="left" if col == "note" else "right")
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for seq, q in rank[:worst]:
        table.add_row(seq, fmt(q.get("reproj_px")), fmt(q.get("smpl_cm")), q.get("error", ""))
    console.print(table)
