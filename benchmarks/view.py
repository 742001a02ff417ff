"""Benchmark: ``aistpp view`` file size per minute of motion, skeleton only and with the mesh.

Input: the released AIST++ sequences in /work/shared/data/aist-real (motions, keypoints3d,
keypoints2d, cameras; --anno-dir to use another folder), shown with synth's SMPL-format body
model (the real SMPL files cannot be shipped). For each sequence the page is written twice
(``--no-mesh`` and with the mesh) and its size is quoted per minute of motion (60 fps), both
whole and without the page's fixed part (template, styles, the inlined three.js), measured as the
size of a page over an empty scene. The peer is what the mesh would cost sent as raw int16
vertices per frame (6,890 x 3 x 2 bytes, base64), the obvious encoding; the ratio is quoted.
Also the build time and the mesh's worst vertex distance to smplx's output.

    python benchmarks/view.py [--anno-dir DIR] [--frames N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from aistpp.pipeline.view.page import page_html, run_view
from aistpp.pipeline.view.scene import ViewConfig

REAL = Path("/work/shared/data/aist-real")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--anno-dir", type=Path, default=REAL)
    ap.add_argument("--frames", type=int, default=None, help="cut each motion to this many frames")
    args = ap.parse_args()
    from aistpp.core import formats
    from aistpp.pipeline.synth.body_model import make_body_model, write_body_model

    tmp = Path(tempfile.mkdtemp(prefix="aistpp-bench-view-"))
    smpl = tmp / "smpl"
    smpl.mkdir()
    write_body_model(smpl / "SMPL_MALE.pkl", make_body_model("male"))
    anno = args.anno_dir
    if args.frames:  # a cut copy
        import shutil

        shutil.copytree(args.anno_dir, tmp / "anno")
        anno = tmp / "anno"
        for p in (anno / "motions").glob("*.pkl"):
            m = formats.load_motion(p)
            formats.save_motion(p, m["smpl_poses"][: args.frames], m["smpl_trans"][: args.frames], m["smpl_scaling"], 0.0)
        for p in (anno / "keypoints3d").glob("*.pkl"):
            k = formats.load_keypoints3d(p)
            formats.save_keypoints3d(p, k["keypoints3d"][: args.frames], k["keypoints3d_optim"][: args.frames])
    fixed = len(page_html({"fps": 60, "frames": 1, "tracks": [], "settings": [], "pairs": [], "layout": "side",
                           "floor_y": 0.0, "start": 0}).encode())
    seqs = sorted(p.stem for p in (anno / "motions").glob("*.pkl"))
    table = Table(title=f"aistpp view: page size per minute of motion (fixed part {fixed / 1e6:.2f} MB)")
    for col in ("sequence", "frames", "content", "MB", "MB/min", "MB/min w/o fixed", "raw int16 verts MB/min",
                "ratio", "mesh err cm", "build s"):
        table.add_column(col, justify="right")
    rows = []
    for seq in seqs:
        for mesh in (False, True):
            out = tmp / f"{seq}_{mesh}.html"
            cfg = ViewConfig(anno_dir=anno, smpl_dir=smpl, sequence_names=[seq], out=out, mesh=mesh)
            t = time.perf_counter()
            res = run_view(cfg)
            secs = time.perf_counter() - t
            n = res["frames"]
            minutes = n / 3600
            per_min = res["bytes"] / 1e6 / minutes
            data_per_min = (res["bytes"] - fixed) / 1e6 / minutes
            raw = 6890 * 3 * 2 * 4 / 3 / 1e6 * 3600 if mesh else None
            err = res["tracks"][0]["mesh_error_cm"]
            row = {"sequence": seq, "frames": n, "content": "skeleton + mesh" if mesh else "skeleton",
                   "mb": res["bytes"] / 1e6, "mb_per_min": per_min, "data_mb_per_min": data_per_min,
                   "raw_vertices_mb_per_min": raw, "ratio_raw_to_ours": raw / data_per_min if raw else None,
                   "mesh_error_cm": err, "build_s": secs}
            rows.append(row)
            table.add_row(seq, str(n), row["content"], f"{row['mb']:.2f}", f"{per_min:.2f}", f"{data_per_min:.2f}",
                          f"{raw:.0f}" if raw else "-", f"{raw / data_per_min:.0f}x" if raw else "-",
                          f"{err:.2f}" if err is not None else "-", f"{secs:.1f}")
    Console(width=180).print(table)
    with_mesh = [r for r in rows if r["content"] != "skeleton"]
    print(json.dumps({"benchmark": "view", "fixed_mb": fixed / 1e6, "rows": rows,
                      "max_mb_per_min_with_mesh": max(r["mb_per_min"] for r in with_mesh) if with_mesh else None,
                      "max_mb_per_min_skeleton": max(r["mb_per_min"] for r in rows if r["content"] == "skeleton")}))


if __name__ == "__main__":
    main()
