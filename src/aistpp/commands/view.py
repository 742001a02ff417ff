"""``aistpp view``: one self-contained HTML file with the motions, keypoints and cameras in 3D."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.commands._common import AnnoDir, ConfigFile, SequenceNames, SmplDir, console, split_names, user_errors
from aistpp.errors import AistppError


@user_errors
def command(
    anno_dir: AnnoDir = None,
    smpl_dir: SmplDir = None,
    sequence_names: SequenceNames = None,
    compare_dir: Annotated[Optional[Path], typer.Option("--compare-dir", help="A second annotation folder (rebuilt, generated, ...): its tracks are overlaid in another colour, with the per-frame joint error where both have the sequence.")] = None,
    music_dir: Annotated[Optional[Path], typer.Option("--music-dir", help="Folder of the music named by tag (mWA2.wav, .mp3, ...): the first sequence's music is embedded and plays in sync.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="The HTML file to write.")] = None,
    keypoints: Annotated[Optional[str], typer.Option("--keypoints", help="Skeleton from keypoints3d_optim (optim, default; plain triangulation when absent) or keypoints3d (plain).")] = None,
    mesh: Annotated[Optional[bool], typer.Option("--mesh/--no-mesh", help="Show the SMPL mesh of each motion (needs --smpl-dir; default on).")] = None,
    joint_colour: Annotated[Optional[str], typer.Option("--joint-colour", help="Colour joints by per-frame reprojection error (px) or detection confidence, from keypoints2d: auto (default: reprojection when the cameras are there), reprojection, confidence or none.")] = None,
    layout: Annotated[Optional[str], typer.Option("--layout", help="side (sequences side by side, default) or overlay (all at their own place).")] = None,
    start: Annotated[Optional[int], typer.Option("--start", min=0, help="First frame to show (default 0); the music starts at start/60 s.")] = None,
    end: Annotated[Optional[int], typer.Option("--end", min=1, help="Stop before this frame (default: the last).")] = None,
    gender: Annotated[Optional[str], typer.Option("--gender", help="Body model of the mesh: neutral, male or female (default: the motion's smpl_gender, else male as for the released AIST++ motions).")] = None,
    config: ConfigFile = None,
) -> None:
    """Write one HTML file (no server, no network: three.js is inside) that shows the dancer in 3D.

    Floor, the setting's cameras (named), the skeleton and/or the SMPL mesh; orbit, pan and zoom;
    a timeline at 60 fps with play/pause, frame steps, speed and the music.
    """
    from aistpp.config import build_config
    from aistpp.pipeline.view.page import run_view
    from aistpp.pipeline.view.scene import ViewConfig

    values = dict(anno_dir=anno_dir, smpl_dir=smpl_dir, sequence_names=split_names(sequence_names),
                  compare_dir=compare_dir, music_dir=music_dir, out=out, keypoints=keypoints, mesh=mesh,
                  joint_colour=joint_colour, layout=layout, start=start, end=end, gender=gender.lower() if gender else None)
    if config is None and (anno_dir is None or out is None):
        raise AistppError("--anno-dir and --out are required")
    cfg = build_config(ViewConfig, values, config, "view")
    if cfg.end is not None and cfg.end <= cfg.start:
        raise AistppError(f"--end ({cfg.end}) must be after --start ({cfg.start})")
    res = run_view(cfg)
    for t in res["tracks"]:
        what = ", ".join(x for x in (t["skeleton"], f"mesh (max {t['mesh_error_cm']:.2f} cm from smplx)" if t["mesh_error_cm"] is not None else None, t["joint_colour"]) if x)
        console.print(f"{t['sequence']} ({t['source']}): {t['frames']} frames, {what}", highlight=False, soft_wrap=True)
    for p in res["pairs"]:
        if p["mean_joint_error_cm"] is not None:
            console.print(f"{p['sequence']}: mean joint error {p['mean_joint_error_cm']:.2f} cm", highlight=False)
    console.print(f"wrote {res['output']} ({res['bytes'] / 1e6:.2f} MB)", highlight=False, soft_wrap=True)
