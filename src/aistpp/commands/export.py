"""``aistpp export``: SMPL motions as BVH or AMASS-style npz, in other units, axes and frame rates."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aistpp.commands._common import (
    AnnoDir, ConfigFile, MotionGender, SaveDir, SmplDir, print_dry_run, print_report, runner_options, user_errors,
)  # fmt: skip
from aistpp.errors import AistppError

FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", help="bvh (SMPL skeleton at the motion's scale, root position + Euler rotations) or npz "
    "(AMASS-style: poses, trans in metres = smpl_trans / smpl_scaling, betas, gender, mocap_framerate).")]
FpsOpt = Annotated[Optional[int], typer.Option("--fps", help="60 (as recorded, default), 30 or 20 (every 2nd / 3rd frame).")]
UpOpt = Annotated[Optional[str], typer.Option("--up", help="Vertical axis of the output: y (AIST++, default) or z (AMASS).")]
UnitsOpt = Annotated[Optional[str], typer.Option("--units", help="bvh lengths: cm (AIST++, default) or m. npz is always metres.")]
FloorOpt = Annotated[Optional[bool], typer.Option("--floor/--no-floor", help="Shift vertically so the lowest mesh vertex over the sequence is at 0 (default).")]
OrderOpt = Annotated[Optional[str], typer.Option("--order", help="bvh rotation channel order: ZXY (default) or XYZ; R = R1 R2 R3 in the listed order.")]


@user_errors
@runner_options()
def command(
    anno_dir: AnnoDir = None,
    smpl_dir: SmplDir = None,
    save_dir: SaveDir = None,
    format: FormatOpt = None,
    fps: FpsOpt = None,
    up: UpOpt = None,
    units: UnitsOpt = None,
    floor: FloorOpt = None,
    order: OrderOpt = None,
    gender: MotionGender = None,
    config: ConfigFile = None,
    run: dict | None = None,
) -> None:
    """Write ``<save-dir>/<seq>.bvh`` or ``<seq>.npz`` for each motion of ``<anno-dir>/motions``."""
    from aistpp.config import build_config
    from aistpp.pipeline.export import ExportConfig, run_export

    values = dict(
        anno_dir=anno_dir, smpl_dir=smpl_dir, save_dir=save_dir, format=format, fps=fps, up=up, units=units,
        floor=floor, order=order.upper() if order else None, gender=gender.lower() if gender else None, **run,
    )  # fmt: skip
    if config is None and (anno_dir is None or smpl_dir is None or save_dir is None):
        raise AistppError("--anno-dir, --smpl-dir and --save-dir are required")
    cfg = build_config(ExportConfig, values, config, "export")
    result = run_export(cfg)
    if cfg.dry_run:
        print_dry_run(result)
        return
    print_report(result, columns=("frames", "fps", "scaling", "floor_cm"), quiet=cfg.quiet)
