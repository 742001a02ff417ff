"""``aistpp synth``: write a synthetic dataset in the AIST++ layout."""

from __future__ import annotations

import typer
from rich.table import Table

from aistpp.commands._common import ConfigFile, console, options_from, user_errors
from aistpp.core.body_models import SMPL
from aistpp.config import build_config
from aistpp.pipeline.synth.generate import SynthConfig

OPTIONS = ("out", "seed", "sequences", "frames", "settings", "views", "image_scale", "videos", "noise_px", "joint_set",
           "--planted-feet/--sliding-feet", "body_models", "hands", "overwrite", "workers", "executor", "quiet")


@user_errors
@options_from(SynthConfig, OPTIONS)
def command(given: dict, config: ConfigFile = None) -> None:
    from aistpp.pipeline.synth.generate import generate

    cfg = build_config(SynthConfig, given, config, "synth")
    summary = generate(cfg.out, cfg)
    report = summary["report"]
    table = Table(title=f"synthetic AIST++ dataset in {cfg.out}")
    table.add_column("what")
    table.add_column("where", overflow="fold")
    paths = summary["paths"]
    w, h = summary["size"]
    V, N = summary["views"], summary["frames"]
    S = len(summary["sequences"])
    table.add_row("body model (SMPL format)", f"{paths['smpl']}/{SMPL.file_names()}")
    for kind in dict.fromkeys((cfg.body_models or []) + ([cfg.hands] if cfg.hands else [])):
        table.add_row(f"body model ({kind.upper()} format)", f"{paths['smpl']}/{kind.upper()}_{{NEUTRAL,MALE,FEMALE}}."
                      + ("npz" if kind == "smplx" else "pkl"))
    table.add_row(f"{len(summary['settings'])} camera setting(s), {V} views, {w}x{h} (ground truth)",
                  f"{paths['cameras']}/")
    table.add_row(f"{S} sequences x {N} frames: motions, keypoints3d, keypoints2d, splits",
                  f"{paths['anno']}/")
    table.add_row(f"OpenPose JSON detections of {S * V} videos", f"{paths['detections']}/")
    table.add_row(f"{S * V} videos, 60 fps H.264" if summary["videos"] else "videos: skipped (--no-videos)",
                  f"{paths['videos']}/" if summary["videos"] else "")
    table.add_row("fault masks and exact projections (for tests)", f"{paths['truth']}/")
    if not cfg.quiet:
        console.print(table)
        for name in summary["sequences"]:
            console.print(f"  {name}", highlight=False)
    console.print(f"synth: {report.count('done')} sequences written, {report.count('failed')} failed, "
                  f"{summary['seconds']:.1f} s")
    for it in report.failed:
        console.print(f"[red]failed[/] {it.name}: {it.error}", highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)
