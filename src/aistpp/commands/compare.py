"""``aistpp compare``: a rebuilt annotation set against a reference (cameras, 3D keypoints, SMPL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from aistpp.commands._common import console, shared_option, user_errors


@user_errors
def command(
    anno_dir: Annotated[Path, shared_option("anno_dir")],
    reference_dir: Annotated[Path, typer.Option("--reference-dir", help="The annotation folder to compare against (e.g. the released AIST++).")],
    smpl_dir: Annotated[Optional[Path], shared_option("smpl_dir")] = None,
    align: Annotated[bool, typer.Option("--align/--no-align", help="Align each setting's rig to the reference by a similarity transform first.")] = True,
    view_map: Annotated[Optional[str], typer.Option("--view-map", help="How our views map to the reference's, OURS=THEIRS,... (e.g. c01=cam01,c02=cam02); without it rigs with differently named views are refused.")] = None,
    reprojection: Annotated[int, typer.Option("--reprojection", min=0, max=1000, help="Also reproject the 2D keypoints of up to this many of our sequences per setting with both rigs (median px each; offsets found per sequence with the rig held): judges cameras without the truth, fairest on recordings neither was calibrated on. 0: off.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Compare what both annotation sets hold: cameras per setting, 3D keypoints and SMPL joints per sequence."""
    from aistpp.pipeline.compare import compare_datasets, parse_view_map

    res = compare_datasets(anno_dir, reference_dir, smpl_dir, align, parse_view_map(view_map), reprojection)
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    cams = Table(title="cameras per setting (after alignment)" if align else "cameras per setting")
    cols = ["setting", "rot deg (med/max)", "centre cm (med/max)", "focal rel max"]
    if reprojection:
        cols.append("reprojection px (ours / reference)")
    for col in cols:
        cams.add_column(col, justify="right")
    rows = {s: r for s, r in res["settings"].items() if "cameras" not in r}  # "cameras": none on our side
    for s, r in rows.items():
        if "error" in r:
            cams.add_row(s, f"[red]{r['error']}[/]", *[""] * (len(cols) - 2))
        else:
            rep = r.get("reprojection")
            extra = [f"{rep['ours_px']:.2f} / {rep['reference_px']:.2f} ({len(rep['sequences'])} seq)" if rep else "-"] \
                if reprojection else []
            cams.add_row(s, f"{r['rotation_deg_median']:.3f} / {r['rotation_deg_max']:.3f}",
                         f"{r['center_cm_median']:.2f} / {r['center_cm_max']:.2f}", f"{r['focal_rel_max']:.2%}", *extra)
    if rows:
        console.print(cams)
    none = [s for s, r in res["settings"].items() if "cameras" in r]
    if none:
        console.print(f"cameras not compared for {len(none)} setting(s), none on our side: {', '.join(none[:10])}"
                      f"{' ...' if len(none) > 10 else ''}", highlight=False, soft_wrap=True)
    elif not rows:
        console.print("cameras not compared: no setting on both sides (by name or by the sequences they hold)",
                      highlight=False)
    seqs = Table(title="sequences (errors in cm)")
    cols = ("keypoints3d_mpjpe_cm", "keypoints3d_pa_mpjpe_cm", "keypoints3d_optim_mpjpe_cm", "smpl_joint_error_cm")
    seqs.add_column("sequence")
    for c in cols:
        seqs.add_column(c.removesuffix("_cm"), justify="right")
    for name, r in res["sequences"].items():
        seqs.add_row(name, *(f"{r[c]:.2f}" if c in r else "-" for c in cols))
    if res["sequences"]:
        console.print(seqs)
    else:
        console.print("no sequence compared: none has 3D keypoints (or motions, with --smpl-dir) on both sides",
                      highlight=False)
    if res["motions_not_compared"]:
        console.print(f"{len(res['motions_not_compared'])} sequence(s) hold motions on both sides: pass --smpl-dir to "
                      "compare their SMPL joints", highlight=False, soft_wrap=True)
    if res["refused"]:
        console.print(f"not compared (their setting's cameras refused, see the table): {len(res['refused'])} "
                      f"sequence(s): {', '.join(res['refused'][:10])}"
                      f"{' ...' if len(res['refused']) > 10 else ''}", highlight=False, soft_wrap=True)
    for sa, sbs in res["settings_by_sequences"].items():
        console.print(f"setting {sa} (ours) holds the reference's sequences of {', '.join(sbs)}: its 3D is aligned on "
                      f"their keypoints3d, its cameras are compared with theirs (row {', '.join(f'{sa}={b}' for b in sbs)})",
                      highlight=False, soft_wrap=True)
    if res["unaligned"]:
        console.print(f"not compared (nothing to align them by: no keypoints3d on both sides): {len(res['unaligned'])} "
                      f"sequence(s): {', '.join(res['unaligned'][:10])}{' ...' if len(res['unaligned']) > 10 else ''}",
                      highlight=False, soft_wrap=True)
    console.print(f"missing from ours: {len(res['missing'])}, extra in ours: {len(res['extra'])}")
