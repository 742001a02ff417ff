"""``aistpp features`` and ``aistpp metrics``: per-motion features as the AIST++ API computes
them, and the published set metrics (definitions in ``aistpp.pipeline.metrics`` and
docs/interoperability.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.commands._common import ConfigFile, batch_options, console, options_from, run_batch, user_errors
from aistpp.config import build_config
from aistpp.pipeline.features import PROTOCOLS, FeaturesConfig

OPTIONS = ("anno_dir", "smpl_dir", "joints_dir", "save_dir", "fps", "gender")


@user_errors
@options_from(FeaturesConfig, OPTIONS + batch_options())
def features_command(given: dict, config: ConfigFile = None) -> None:
    """Per motion: the AIST++ API's kinetic (72) and geometric (32) features on all frames and
    under Bailando's protocol, motion beats and EDGE's PFC (<seq>.*.npy and <seq>.features.json)."""
    from aistpp.pipeline.features import run_features

    cfg = build_config(FeaturesConfig, given, config, "features")
    run_batch(cfg, run_features, columns=("frames", "gender", "pfc"))


@user_errors
def metrics_command(
    pred: Annotated[Path, typer.Option("--pred", help="Feature folder of the generated motions (written by aistpp features).")],
    gt: Annotated[Path, typer.Option("--gt", help="Feature folder of the ground-truth motions.")],
    protocol: Annotated[list[str], typer.Option("--protocol", metavar=f"<{'|'.join(PROTOCOLS)}>,...", help="bailando (FID_k, FID_g, Div_k, Div_g, GT Div), full (the same on all frames), bas (Beat Alignment Score), pfc (EDGE's Physical Foot Contact); repeat or comma-separate.")] = ["bailando"],  # noqa: B006
    beats: Annotated[Optional[Path], typer.Option("--beats", help="For bas: folder of beat files <seq>.txt or <music tag>.txt (beat times in seconds).")] = None,
    music_dir: Annotated[Optional[Path], typer.Option("--music-dir", help="For bas: folder of songs <music tag>.wav|mp3|..., beats tracked with librosa (the optional 'music' extra of aistpp).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """FID_k, FID_g (lower is closer to the ground truth), Div_k, Div_g of both sets (Bailando's
    protocol); BAS and PFC when named with --protocol."""
    from rich.table import Table

    from aistpp.pipeline.features import metrics_report

    protocols = tuple(p.strip().lower() for item in protocol for p in item.split(",") if p.strip())
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
