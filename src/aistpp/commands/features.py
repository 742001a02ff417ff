"""``aistpp features`` and ``aistpp metrics``: motion features per sequence, and FID_k / FID_g /
diversity between two sets (definitions in ``aistpp.pipeline.features`` and docs/interoperability.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.commands._common import (
    AnnoDir, ConfigFile, SmplDir, console, print_dry_run, print_report, runner_options, user_errors,
)  # fmt: skip
from aistpp.errors import AistppError

FpsOpt = Annotated[Optional[float], typer.Option("--fps", help="Frame rate of the motions (default 60): sets the time step of velocities.")]


@user_errors
@runner_options()
def features_command(
    anno_dir: AnnoDir = None,
    smpl_dir: SmplDir = None,
    save_dir: Annotated[Optional[Path], typer.Option("--save-dir", help="Output folder (default <anno-dir>/features).")] = None,
    fps: FpsOpt = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write <seq>.kinetic.npy (72), <seq>.geometric.npy and <seq>.features.json (named values) per motion."""
    from aistpp.config import build_config
    from aistpp.pipeline.features import FeaturesConfig, run_features

    values = dict(anno_dir=anno_dir, smpl_dir=smpl_dir, save_dir=save_dir, fps=fps, **run)
    if config is None and (anno_dir is None or smpl_dir is None):
        raise AistppError("--anno-dir and --smpl-dir are required")
    cfg = build_config(FeaturesConfig, values, config, "features")
    result = run_features(cfg)
    if cfg.dry_run:
        print_dry_run(result)
        return
    print_report(result, columns=("frames", "ke_mean"), quiet=cfg.quiet)


@user_errors
def metrics_command(
    pred: Annotated[Optional[Path], typer.Option("--pred", help="Feature folder of the generated motions (written by aistpp features).")] = None,
    gt: Annotated[Optional[Path], typer.Option("--gt", help="Feature folder of the ground-truth motions.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """FID_k, FID_g (lower is closer) and diversity of both sets."""
    from rich.table import Table

    from aistpp.pipeline.features import metrics_report

    if pred is None or gt is None:
        raise AistppError("--pred and --gt are required (folders written by 'aistpp features')")
    result = metrics_report(pred, gt)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"{pred} vs {gt}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
