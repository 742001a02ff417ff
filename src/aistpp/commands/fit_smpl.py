"""``aistpp fit-smpl``: SMPL motion (poses, translation, scaling) from 3D keypoints."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aistpp.commands._common import (
    AnnoDir, ConfigFile, Device, SaveDir, SmplDir, console, err_console, print_dry_run, print_report, runner_options,
    user_errors,
)  # fmt: skip
from aistpp.core.body_models import SMPL
from aistpp.errors import AistppError

Gender = Annotated[Optional[str], typer.Option("--gender", help="neutral (default), male or female: which SMPL_<GENDER>.pkl.")]
ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", help=f"smpl (default): {SMPL.file_name.replace('{GENDER}', '<GENDER>')}; smplh / smplx: "
    "SMPLH_ / SMPLX_<GENDER>.npz or .pkl in --smpl-dir (wrists and fingers fitted where keypoints3d_full holds WholeBody hand points; writes left_hand_pose, "
    "right_hand_pose, betas, and for smplx jaw_pose, leye_pose, reye_pose, expression at zero).")]
KeypointsOpt = Annotated[Optional[str], typer.Option(
    "--keypoints", help="optim (default): fit keypoints3d_optim; raw: fit the plain triangulation keypoints3d.")]
FitBetas = Annotated[Optional[bool], typer.Option(
    "--fit-betas/--no-fit-betas", help="Also fit body shape; writes smpl_betas (10,). Default: betas = 0, as in AIST++.")]
Iterations = Annotated[Optional[int], typer.Option(
    "--iterations", min=1, help="Cap on solver steps per solve (default 200); the fit stops earlier once converged "
    "(relative objective change < 1e-5) and warns when it hits the cap.")]
Fps = Annotated[Optional[float], typer.Option(
    "--fps", min=0.001, help="Frame rate of the keypoints (uniform). Default: their timestamps (keypoints3d, else "
    "keypoints2d/<seq>.pkl, microseconds), else 60.")]


@user_errors
@runner_options(gpus=True)
def command(
    anno_dir: AnnoDir = None,
    smpl_dir: SmplDir = None,
    save_dir: SaveDir = None,
    gender: Gender = None,
    model: ModelOpt = None,
    device: Device = None,
    keypoints: KeypointsOpt = None,
    fit_betas: FitBetas = None,
    iterations: Iterations = None,
    fps: Fps = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write ``<save-dir>/<seq>.pkl`` (smpl_poses, smpl_trans, smpl_scaling, smpl_loss) per sequence."""
    from aistpp.config import build_config
    from aistpp.pipeline.fit_smpl import FitSmplConfig, run_fit_smpl

    values = dict(
        anno_dir=anno_dir, smpl_dir=smpl_dir, save_dir=save_dir, gender=gender, body_model=model, device=device,
        keypoints=keypoints,
        fit_betas=fit_betas, iterations=iterations, fps=fps, **run,
    )  # fmt: skip
    if config is None and (anno_dir is None or smpl_dir is None or save_dir is None):
        raise AistppError("--anno-dir, --smpl-dir and --save-dir are required")
    cfg = build_config(FitSmplConfig, values, config, "fit-smpl")
    result = run_fit_smpl(cfg)
    if cfg.dry_run:
        print_dry_run(result)
        return
    for it in result.items:  # before print_report, which exits on failures
        if it.status == "done" and it.info.get("warning"):
            err_console.print(f"[yellow]warning[/] {it.name}: {it.info['warning']} (raise --iterations)",
                              highlight=False, soft_wrap=True)
    print_report(result, columns=("frames", "fps", "error_cm", "converged", "iterations", "loss", "scaling"),
                 quiet=cfg.quiet)
    if not cfg.quiet:
        _print_joint_errors(result)


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
