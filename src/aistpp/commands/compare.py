"""``aistpp compare``: a rebuilt annotation set against a reference (cameras, 3D keypoints, SMPL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from aistpp.commands._common import AnnoDir, SmplDir, console, user_errors
from aistpp.errors import AistppError


@user_errors
def command(
    anno_dir: AnnoDir = None,
    reference_dir: Annotated[Optional[Path], typer.Option("--reference-dir", help="The annotation folder to compare against (e.g. the released AIST++).")] = None,
    smpl_dir: SmplDir = None,
    align: Annotated[bool, typer.Option("--align/--no-align", help="Align each setting's rig to the reference by a similarity transform first.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    from aistpp.pipeline.compare import compare_datasets

    if anno_dir is None or reference_dir is None:
        raise AistppError("--anno-dir and --reference-dir are required")
    res = compare_datasets(anno_dir, reference_dir, smpl_dir, align)
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    cams = Table(title="cameras per setting (after alignment)" if align else "cameras per setting")
    for col in ("setting", "rot deg (med/max)", "centre cm (med/max)", "focal rel max"):
        cams.add_column(col, justify="right")
    for s, r in res["settings"].items():
        if "error" in r:
            cams.add_row(s, f"[red]{r['error']}[/]", "", "")
        else:
            cams.add_row(s, f"{r['rotation_deg_median']:.3f} / {r['rotation_deg_max']:.3f}",
                         f"{r['center_cm_median']:.2f} / {r['center_cm_max']:.2f}", f"{r['focal_rel_max']:.2%}")
    console.print(cams)
    seqs = Table(title="sequences (errors in cm)")
    cols = ("keypoints3d_mpjpe_cm", "keypoints3d_optim_mpjpe_cm", "smpl_joint_error_cm")
    seqs.add_column("sequence")
    for c in cols:
        seqs.add_column(c.removesuffix("_cm"), justify="right")
    for name, r in res["sequences"].items():
        seqs.add_row(name, *(f"{r[c]:.2f}" if c in r else "-" for c in cols))
    console.print(seqs)
    console.print(f"missing from ours: {len(res['missing'])}, extra in ours: {len(res['extra'])}")
