"""``aistpp synth``: write a synthetic dataset in the AIST++ layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from aistpp.commands._common import ConfigFile, ExecutorOpt, Quiet, Workers, console, user_errors
from aistpp.errors import AistppError


@user_errors
def command(
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder to write the dataset into (must be empty unless --overwrite).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed: the same seed writes the same dataset. Default 0.")] = None,
    sequences: Annotated[Optional[int], typer.Option("--sequences", min=1, help="Number of sequences. Default 2.")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", min=2, help="Frames per sequence (60 fps). Default 240.")] = None,
    settings: Annotated[Optional[int], typer.Option("--settings", min=1, help="Camera settings (rigs); sequences are dealt to them in turn. Default 1.")] = None,
    views: Annotated[Optional[int], typer.Option("--views", min=2, help="Cameras per setting. Default 9 (c01..c09).")] = None,
    image_scale: Annotated[Optional[float], typer.Option("--image-scale", help="Image size and intrinsics relative to 1920x1080 (0.5 = 960x540, focal ~800). Default 0.5.")] = None,
    videos: Annotated[Optional[bool], typer.Option("--videos/--no-videos", help="Render the 60 fps H.264 videos (default) or skip them.")] = None,
    noise_px: Annotated[Optional[float], typer.Option("--noise-px", help="Std of the 2D detection noise in pixels (at the written image size). Default 2.")] = None,
    body_models: Annotated[Optional[str], typer.Option("--body-models", help="Also write synthetic SMPL-H / SMPL-X model files (comma-separated: smplh,smplx) with fingers, in the files' own layout (SMPLH_<GENDER>.pkl, SMPLX_<GENDER>.npz), for fit-smpl --model. Default: none.")] = None,
    hands: Annotated[Optional[str], typer.Option("--hands", help="smplx or smplh: the dancer's hands move (fingers and wrists), posed by that synthetic model (written to the smpl folder): the motions are that model's (with left_hand_pose, right_hand_pose...), keypoints3d also holds the exact WholeBody-133 keypoints3d_full and keypoints2d the detected keypoints2d_full (joint_set wholebody133; face points NaN). Default: no hands (SMPL motions).")] = None,
    overwrite: Annotated[Optional[bool], typer.Option("--overwrite", help="Write into a non-empty --out, replacing what synth wrote there before.")] = None,
    workers: Workers = None,
    executor: ExecutorOpt = None,
    quiet: Quiet = None,
    config: ConfigFile = None,
) -> None:
    from aistpp.config import build_config
    from aistpp.pipeline.synth.generate import SynthConfig, generate

    if out is None and config is None:
        raise AistppError("--out is required: the folder to write the dataset into")
    if executor == "ray":
        raise AistppError("synth runs with --executor serial or processes")
    values = dict(out=out, seed=seed, sequences=sequences, frames=frames, settings=settings, views=views,
                  image_scale=image_scale, videos=videos, noise_px=noise_px, overwrite=overwrite,
                  hands=hands, body_models=None if body_models is None else [m.strip() for m in body_models.split(",") if m.strip()],
                  workers=workers, executor=executor, quiet=quiet)
    cfg = build_config(SynthConfig, values, config, "synth")
    summary = generate(cfg.out, cfg)
    report = summary["report"]
    table = Table(title=f"synthetic AIST++ dataset in {cfg.out}")
    table.add_column("what")
    table.add_column("where", overflow="fold")
    paths = summary["paths"]
    w, h = summary["size"]
    V, N = summary["views"], summary["frames"]
    S = len(summary["sequences"])
    table.add_row("body model (SMPL format)", f"{paths['smpl']}/SMPL_{{NEUTRAL,MALE,FEMALE}}.pkl")
    for kind in dict.fromkeys(cfg.body_models):
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
