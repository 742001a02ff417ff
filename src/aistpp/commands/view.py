"""``aistpp view``: one self-contained HTML file with the motions, keypoints and cameras in 3D."""

from __future__ import annotations

from aistpp.commands._common import ConfigFile, console, options_from, user_errors
from aistpp.config import build_config
from aistpp.pipeline.view.scene import ViewConfig

OPTIONS = ("anno_dir", "smpl_dir", "sequence_names", "compare_dir", "music_dir", "out", "keypoints", "mesh",
           "joint_colour", "layout", "start", "end", "gender")


@user_errors
@options_from(ViewConfig, OPTIONS)
def command(given: dict, config: ConfigFile = None) -> None:
    """Write one HTML file (no server, no network: three.js is inside) that shows the dancer in 3D.

    Floor, the setting's cameras (named), the skeleton and/or the SMPL mesh; orbit, pan and zoom;
    a timeline at 60 fps with play/pause, frame steps, speed and the music.
    """
    from aistpp.pipeline.view.page import run_view

    cfg = build_config(ViewConfig, given, config, "view")
    res = run_view(cfg)
    for t in res["tracks"]:
        what = ", ".join(x for x in (t["skeleton"], f"mesh (max {t['mesh_error_cm']:.2f} cm from smplx)" if t["mesh_error_cm"] is not None else None, t["joint_colour"]) if x)
        console.print(f"{t['sequence']} ({t['source']}): {t['frames']} frames, {what}", highlight=False, soft_wrap=True)
    for p in res["pairs"]:
        if p["mean_joint_error_cm"] is not None:
            aligned, raw = p["aligned_joint_error_cm"], p["mean_joint_error_cm"]
            note = (f" ({aligned:.2f} cm after one similarity transform: the two folders' world frames differ, "
                    "and the page shows them as they are; aistpp compare aligns)"
                    if aligned is not None and aligned < 0.5 * raw and raw > 1.0 else "")
            console.print(f"{p['sequence']}: mean joint error {raw:.2f} cm{note}", highlight=False, soft_wrap=True)
    console.print(f"wrote {res['output']} ({res['bytes'] / 1e6:.2f} MB)", highlight=False, soft_wrap=True)
