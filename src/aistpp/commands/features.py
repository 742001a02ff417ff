"""``aistpp features`` and ``aistpp metrics``: per-motion features as the AIST++ API computes
them, and the published set metrics (definitions in ``aistpp.pipeline.metrics`` and
docs/interoperability.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.core.body_models import SMPL
from aistpp.commands._common import (
    AnnoDir, ConfigFile, MotionGender, SmplDir, console, print_dry_run, print_report, runner_options, user_errors,
)  # fmt: skip
from aistpp.errors import AistppError

FpsOpt = Annotated[Optional[float], typer.Option("--fps", help="Frame rate of the motions (default 60, the reference's frame time 1/60 s).")]


@user_errors
@runner_options()
def features_command(
    anno_dir: AnnoDir = None,
    smpl_dir: SmplDir = None,
    joints_dir: Annotated[Optional[Path], typer.Option("--joints-dir", help=f"Instead of --anno-dir/--smpl-dir: generated joints, <name>.npy (N, {SMPL.num_joints}, 3) or (N, {SMPL.pose_size}), metres at SMPL scale, +y up, SMPL order.")] = None,
    save_dir: Annotated[Optional[Path], typer.Option("--save-dir", help="Output folder (default <anno-dir or joints-dir>/features).")] = None,
    fps: FpsOpt = None,
    gender: MotionGender = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Per motion: the AIST++ API's kinetic (3 per joint) and geometric (32) features on all frames and
    under Bailando's protocol, motion beats and EDGE's PFC (<seq>.*.npy and <seq>.features.json)."""
    from aistpp.config import build_config
    from aistpp.pipeline.features import FeaturesConfig, run_features

    values = dict(anno_dir=anno_dir, smpl_dir=smpl_dir, joints_dir=joints_dir, save_dir=save_dir, fps=fps,
                  gender=gender.lower() if gender else None, **run)
    if config is None and joints_dir is None and (anno_dir is None or smpl_dir is None):
        raise AistppError("--anno-dir and --smpl-dir are required (or --joints-dir for joint arrays)")
    cfg = build_config(FeaturesConfig, values, config, "features")
    result = run_features(cfg)
    if cfg.dry_run:
        print_dry_run(result)
        return
    print_report(result, columns=("frames", "gender", "pfc"), quiet=cfg.quiet)


@user_errors
def metrics_command(
    pred: Annotated[Optional[Path], typer.Option("--pred", help="Feature folder of the generated motions (written by aistpp features).")] = None,
    gt: Annotated[Optional[Path], typer.Option("--gt", help="Feature folder of the ground-truth motions.")] = None,
    protocol: Annotated[Optional[list[str]], typer.Option("--protocol", help="bailando (default: FID_k, FID_g, Div_k, Div_g, GT Div), full (the same on all frames), bas (Beat Alignment Score), pfc (EDGE's Physical Foot Contact); repeat or comma-separate.")] = None,
    beats: Annotated[Optional[Path], typer.Option("--beats", help="For bas: folder of beat files <seq>.txt or <music tag>.txt (beat times in seconds).")] = None,
    music_dir: Annotated[Optional[Path], typer.Option("--music-dir", help="For bas: folder of songs <music tag>.wav|mp3|..., beats tracked with librosa (pip install 'aistpp[music]').")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """FID_k, FID_g (lower is closer to the ground truth), Div_k, Div_g of both sets (Bailando's
    protocol); BAS and PFC when named with --protocol."""
    from rich.table import Table

    from aistpp.pipeline.features import metrics_report

    if pred is None or gt is None:
        raise AistppError("--pred and --gt are required (folders written by 'aistpp features')")
    protocols = tuple(p.strip().lower() for item in (protocol or ["bailando"]) for p in item.split(",") if p.strip())
    result = metrics_report(pred, gt, protocols, beats, music_dir)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"{pred} vs {gt} ({', '.join(protocols)})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)
    if any("GT_constant_dims" in key for key in result):
        console.print("[yellow]note: ground-truth feature dimensions that never vary (GT_constant_dims_*) are "
                      "divided by 1e-10 under Bailando's normalisation and dominate FID: use more ground-truth "
                      "motions[/yellow]")
