"""examples/rebuild.sh, run as a user runs it, on a dataset put in its place.

The input is the session's shared synthetic dataset (``synth_data``: the same seed, sequence
count, frame count and image size as the script's own ``aistpp synth`` line) plus the one video
the script's vis step draws on, so the 18 videos the script would render are not (the demo
test covers synth's video path). The rebuilt annotations are checked against synth's ground
truth with numpy here (our own similarity alignment, not aistpp's compare), and a second run
must change nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from aistpp.core import formats
from aistpp.core.video import probe

from _geometry import aligned_errors

ROOT = Path(__file__).resolve().parents[1]


def _run(work: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(["bash", str(ROOT / "examples" / "rebuild.sh"), str(work)], env=env,
                          capture_output=True, text=True, timeout=600)


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _script_input(synth_data, data: Path) -> None:
    """The synthetic dataset copied to ``data``, with the video of the first sequence's c01 view."""
    from aistpp.core.body import load_smpl, smpl_forward
    from aistpp.core.names import video_name
    from aistpp.core.render import outward_faces
    from aistpp.pipeline.synth.video import render_view_video

    shutil.copytree(synth_data.root, data)
    seq = next(iter(formats.read_mapping(data / "annotations" / "cameras" / "mapping.txt")))
    model = load_smpl(data / "smpl")
    motion = synth_data.motions[seq]
    _, verts = smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"], vertices=True)
    faces = outward_faces(model.v_template.numpy(), model.faces.astype(np.int64))
    view = synth_data.rig.names.index("c01")
    (data / "videos").mkdir(exist_ok=True)
    render_view_video(data / "videos" / f"{video_name(seq, 'c01')}.mp4", synth_data.rig, view, verts, faces)


def test_rebuild_script_end_to_end(synth_data, tmp_path):
    work = tmp_path / "work"
    _script_input(synth_data, work / "data")
    res = _run(work)
    assert res.returncode == 0, res.stderr[-3000:]
    truth_dir, out = work / "data" / "annotations", work / "rebuilt"
    sequences = sorted(p.stem for p in (truth_dir / "keypoints3d").glob("*.pkl"))
    assert len(sequences) == 2
    for seq in sequences:
        truth = formats.load_keypoints3d(truth_dir / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
        rebuilt = formats.load_keypoints3d(out / "keypoints3d" / f"{seq}.pkl")
        for key in ("keypoints3d", "keypoints3d_optim"):
            pts = rebuilt[key]
            assert pts.shape == truth.shape
            err, s, ok = aligned_errors(pts, truth)
            assert ok.mean() > 0.95
            # calibrated from a default ring (not the true cameras): a few cm, in cm units
            assert np.median(err) < 4.0, (seq, key, np.median(err))
            assert abs(s - 1) < 0.15, (seq, key, s)
        motion = formats.load_motion(out / "motions" / f"{seq}.pkl")
        assert motion["smpl_poses"].shape == (len(truth), 72) and np.isfinite(motion["smpl_poses"]).all()
    # the vis step drew every annotation frame of the first sequence's c01 video
    videos = list((work / "vis").glob("*.mp4"))
    assert len(videos) == 1 and "_c01_" in videos[0].name
    info = probe(videos[0])
    assert info.frames == 120, info
    # resumable: a second run skips every finished step and leaves every output as it was
    before = _snapshot(out)
    res = _run(work)
    assert res.returncode == 0, res.stderr[-3000:]
    done = re.findall(r"^[\w -]+: (\d+) done, (\d+) skipped", res.stdout, flags=re.M)
    assert len(done) == 5 and all(d == "0" and int(k) > 0 for d, k in done), res.stdout
    assert _snapshot(out) == before
