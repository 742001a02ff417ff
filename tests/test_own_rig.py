"""examples/own_rig.sh, run as a user runs it: a 4-camera portrait rig (two widths, cameras
named cam01..cam04, a sequence name of ~60 characters) from detections to drawn videos with no
renaming; checked against the synthetic truth with numpy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from aistpp.core import formats
from aistpp.core.video import probe

from _geometry import aligned_errors

ROOT = Path(__file__).resolve().parents[1]


def test_own_rig_script_end_to_end(tmp_path):
    work = tmp_path / "work"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("COLUMNS", None)
    res = subprocess.run(["bash", str(ROOT / "examples" / "own_rig.sh"), str(work)], env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    data, out = work / "data", work / "rebuilt"
    (seq,) = [line.split()[0] for line in (data / "cameras" / "mapping.txt").read_text().splitlines()]
    assert len(seq) > 55  # longer than an 80-column table leaves for it
    kp2d = formats.load_keypoints2d(out / "keypoints2d" / f"{seq}.pkl")
    views = ["cam01", "cam02", "cam03", "cam04"]
    assert kp2d["view_names"] == views and kp2d["joint_set"] == "body25"
    sizes = [probe(data / "videos" / seq / f"{v}.mp4").size for v in views]
    assert [tuple(s) for s in kp2d["image_sizes"].tolist()] == [tuple(s) for s in sizes]
    assert len({w for w, _ in sizes}) == 2 and all(h > w for w, h in sizes)  # portrait, two widths
    assert kp2d["keypoints2d_full"].shape[2] == 25
    # 3D keypoints with the true cameras: within a couple of cm of the truth
    truth = formats.load_keypoints3d(data / "truth" / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
    got = formats.load_keypoints3d(out / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
    assert got.shape == truth.shape
    err, s, ok = aligned_errors(got, truth)
    assert ok.mean() > 0.95 and np.median(err) < 2.0 and abs(s - 1) < 0.02, (np.median(err), s)
    # the piped triangulate table shows the whole sequence name
    log = (work / "triangulate.log").read_text()
    assert any(line.startswith("│ " + seq + " ") for line in log.splitlines()), log
    # vis: one grid of the four views, and cam03 alone at its own size, every frame
    grid, single = work / "vis" / f"{seq}.mp4", work / "vis" / f"{seq}_cam03.mp4"
    assert probe(grid).frames == len(truth) and probe(single).frames == len(truth)
    assert tuple(probe(single).size) == tuple(sizes[2])
