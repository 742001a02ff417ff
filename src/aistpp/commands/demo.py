"""``aistpp demo``: synthetic dataset -> preprocess (or detect) -> calibrate -> triangulate -> fit-smpl -> vis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from aistpp.commands._common import Workers, console, user_errors


@user_errors
def command(
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the demo's outputs (default demo_out).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the synthetic dataset (default 0).")] = None,
    sequences: Annotated[Optional[int], typer.Option("--sequences", min=1, help="Synthetic sequences (default 2).")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", min=30, help="Frames per sequence at 60 fps (default 240).")] = None,
    videos: Annotated[Optional[bool], typer.Option("--videos/--no-videos", help="Render videos and run vis (default yes).")] = None,
    overwrite: Annotated[Optional[bool], typer.Option("--overwrite", help="Replace the outputs of an earlier demo in --out.")] = None,
    from_video: Annotated[Optional[bool], typer.Option(
        "--from-video", help="Detect 2D keypoints on the rendered videos (aistpp detect with BlazePose, from the "
        "optional 'detect' extra) instead of preprocessing synth's detections; reports the 2D error.")] = None,
    workers: Workers = None,
) -> None:
    from aistpp.config import build_config
    from aistpp.pipeline.demo import DemoConfig, run_demo

    cfg = build_config(DemoConfig, dict(out=out, seed=seed, sequences=sequences, frames=frames, videos=videos,
                                        overwrite=overwrite, from_video=from_video, workers=workers))
    with console.status("demo") as status:
        summary = run_demo(cfg, on_step=lambda s: status.update(f"demo: {s}"))
    table = Table(title=f"aistpp demo in {cfg.out} (errors against the synthetic ground truth)")
    for col in ("step", "seconds", "check", "result"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for s in summary["steps"]:
        table.add_row(s["step"], f"{s['seconds']:.1f}", s.get("metric", ""), s.get("value", ""))
    table.add_row("total", f"{summary['total_seconds']:.1f}", "", "")
    console.print(table)
    for path in summary["videos"]:
        console.print(f"video: {path}")
