"""``aistpp fit-smpl``: SMPL motion (poses, translation, scaling) from 3D keypoints."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from aistpp.commands._common import (
    ConfigFile, batch_options, console, options_from, run_batch, user_errors,
)  # fmt: skip
from aistpp.config import build_config
from aistpp.pipeline.fit_smpl import FitSmplConfig

OPTIONS = ("anno_dir", "smpl_dir", "save_dir", "gender", "device", "keypoints", "--fit-betas/--no-fit-betas",
           "iterations", "fps", "feet")
# --model sets the config's body_model (its TOML key); the flag is the issue's, shorter than the field
ModelOpt = Annotated[Optional[Literal["smpl", "smplh", "smplx"]], typer.Option(
    "--model", case_sensitive=False, metavar="<smpl|smplh|smplx>", show_default="smpl",
    help=FitSmplConfig.model_fields["body_model"].description)]


@user_errors
@options_from(FitSmplConfig, OPTIONS + batch_options(gpus=True))
def command(given: dict, config: ConfigFile = None, model: ModelOpt = None) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (smpl_poses, smpl_trans, smpl_scaling, smpl_loss) per sequence."""
    from aistpp.pipeline.fit_smpl import run_fit_smpl

    if model is not None:
        given = dict(given, body_model=model.lower())
    cfg = build_config(FitSmplConfig, given, config, "fit-smpl")
    report = run_batch(cfg, run_fit_smpl,
                       columns=("frames", "fps", "error_cm", "converged", "iterations", "iterations_median", "loss", "scaling"))
    if report is not None and not cfg.quiet:
        _print_joint_errors(report)


def _print_joint_errors(result) -> None:
    """Per-COCO-joint mean error (cm) of each fitted sequence."""
    from rich.table import Table

    from aistpp.core.joints import COCO17

    done = [it for it in result.items if it.status == "done"]
    if not done:
        return
    table = Table(title="mean joint error per COCO joint (cm)")
    table.add_column("joint")
    for it in done:
        table.add_column(it.name, justify="right")
    for j in COCO17:
        table.add_row(j, *(f"{it.info.get(f'error_{j}', float('nan')):.2f}" for it in done))
    console.print(table)
