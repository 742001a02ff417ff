"""aistpp demo: the whole pipeline on a small synthetic dataset, its table checked against the files.

Without videos here (rendering nine views is most of a demo's time); the demo's video path
(synth's videos, detect, the vis step's two videos) is ``test_detect``'s
``test_demo_from_video_reports_the_detection_error``, and examples/rebuild.sh's vis step is
``test_examples``.
"""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.pipeline.demo import DemoConfig, run_demo

from _geometry import aligned_errors


def test_demo_runs_the_pipeline_and_reports_true_errors(tmp_path):
    out = tmp_path / "demo"
    summary = run_demo(DemoConfig(out=out, sequences=1, frames=90, seed=3, videos=False))
    steps = {s["step"]: s for s in summary["steps"]}
    assert list(steps) == ["synth", "preprocess", "calibrate", "triangulate", "fit-smpl"]
    assert summary["videos"] == []
    assert steps["preprocess"]["numbers"]["equal"] is True
    cams = steps["calibrate"]["numbers"]
    assert cams["rotation_deg"] < 1.0 and cams["center_cm"] < 10.0, cams
    assert cams["offset_frames"] <= 0.15, cams  # synth's views are in sync: the offsets found, as applied
    # one recording of 90 frames is too short to compare its halves: calibrate's warning reaches the
    # summary (the steps run quiet), and it is the only one on this clean synthetic data
    assert len(summary["warnings"]) == 1 and summary["warnings"][0].startswith("calibrate setting1: "), summary
    assert "unjudged" in summary["warnings"][0]

    # the reported MPJPE agrees with an independent computation from the files the demo wrote
    truth_dir, rebuilt = out / "data" / "annotations", out / "rebuilt"
    (seq,) = [p.stem for p in (truth_dir / "keypoints3d").glob("*.pkl")]
    truth = formats.load_keypoints3d(truth_dir / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
    ours = formats.load_keypoints3d(rebuilt / "keypoints3d" / f"{seq}.pkl")
    for key, reported in (("keypoints3d", "keypoints3d_cm"), ("keypoints3d_optim", "keypoints3d_optim_cm")):
        err, scale, _ = aligned_errors(ours[key], truth)
        value = steps["triangulate"]["numbers"][reported]
        assert value < 4.0 and abs(scale - 1) < 0.1
        assert abs(value - err.mean()) < 0.5, (key, value, err.mean())
    assert steps["fit-smpl"]["numbers"]["smpl_joints_cm"] < 4.0
    motion = formats.load_motion(rebuilt / "motions" / f"{seq}.pkl")
    assert motion["smpl_poses"].shape == (90, 72)


def test_demo_table_is_followed_by_the_steps_warnings(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--frames", "60", "--sequences", "1",
                                   "--no-videos", "--workers", "1"])
    assert res.exit_code == 0, res.output
    table, _, after = res.output.partition("total")
    assert "calibrate" in table and "warning calibrate setting1: the rig's stability is unjudged" in after


def test_demo_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--frames", "30", "--no-videos"])
    assert res.exit_code == 2 and "not empty" in res.output and "Traceback" not in res.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
