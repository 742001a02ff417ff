"""`aistpp info` on a hand-built annotation folder whose contents the test knows."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.rig import aist_like_ring


def build(tmp_path):
    anno = tmp_path / "anno"
    seqs = {"gWA_sFM_cAll_d27_mWA2_ch21": "setting1", "gBR_sBM_cAll_d04_mBR0_ch01": "setting1",
            "gBR_sFM_cAll_d05_mBR1_ch02": "setting2"}
    formats.write_mapping(anno / "cameras" / "mapping.txt", seqs)
    for s in ("setting1", "setting2"):
        formats.save_cameras(anno / "cameras" / f"{s}.json", aist_like_ring())
    formats.write_lines(anno / "splits" / "train.txt", list(seqs)[:2])
    formats.write_lines(anno / "ignore_list.txt", ["gBR_sFM_cAll_d05_mBR1_ch02"])
    kp = np.zeros((30, 17, 3))
    formats.save_keypoints3d(anno / "keypoints3d" / "gWA_sFM_cAll_d27_mWA2_ch21.pkl", kp, kp)
    formats.save_keypoints3d(anno / "keypoints3d" / "gBR_sBM_cAll_d04_mBR0_ch01.pkl", kp[:20], kp[:20])
    formats.save_motion(anno / "motions" / "gBR_sBM_cAll_d04_mBR0_ch01.pkl", np.zeros((25, 72)), np.zeros((25, 3)), 1.0, 0.0)
    videos = tmp_path / "videos"
    videos.mkdir()
    for v in [f"gWA_sFM_c{i:02d}_d27_mWA2_ch21" for i in range(1, 10)] + ["gHO_sBM_c01_d99_mHO0_ch09"]:
        (videos / f"{v}.mp4").write_bytes(b"x")
    return anno, videos


def test_info_counts_what_is_there(tmp_path):
    anno, videos = build(tmp_path)
    res = CliRunner().invoke(app, ["info", "--anno-dir", str(anno), "--video-dir", str(videos), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["sequences"] == 3 and info["ignored"] == 1
    assert info["by_genre"] == {"gBR": 2, "gWA": 1}
    assert info["by_setting"] == {"setting1": 2, "setting2": 1}
    assert info["splits"] == {"train": 2}
    assert info["files"] == {"keypoints2d": 0, "keypoints3d": 2, "motions": 1}
    assert info["frames"] == {"total": 55, "min": 25, "max": 30}
    assert info["frame_mismatch"] == ["gBR_sBM_cAll_d04_mBR0_ch01"]
    assert len(info["missing"]["videos"]) == 18  # two sequences without any of their 9 videos
    assert info["missing"]["annotations_for_videos"] == ["gHO_sBM_c01_d99_mHO0_ch09"]


def test_info_missing_folder_is_exit_2(tmp_path):
    res = CliRunner().invoke(app, ["info", "--anno-dir", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "annotation folder not found" in res.output


def test_info_on_generated_motions_without_mapping(tmp_path):
    """A dance-generation model's output: motions/ alone, no cameras/mapping.txt. It was 'cameras
    folder not found' (exit 2); now the sequences are the files, counted and tagged, and an empty
    folder is still an error naming it."""
    gen = tmp_path / "generated"
    names = ["gBR_sBM_cAll_d04_mBR0_ch01", "gWA_sFM_cAll_d27_mWA2_ch21", "my_sample_007"]
    for name, n in zip(names, (25, 40, 10)):
        formats.save_motion(gen / "motions" / f"{name}.pkl", np.zeros((n, 72)), np.zeros((n, 3)), 1.0, 0.0)
    res = CliRunner().invoke(app, ["info", "--anno-dir", str(gen), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["sequences"] == 3 and info["mapping"] is False and info["by_setting"] == {}
    assert info["by_genre"] == {"gBR": 1, "gWA": 1} and info["files"]["motions"] == 3
    assert info["frames"] == {"total": 75, "min": 10, "max": 40}
    assert info["missing"]["keypoints3d"] == [] and info["missing"]["motions"] == []
    res = CliRunner().invoke(app, ["info", "--anno-dir", str(gen)])
    assert res.exit_code == 0 and "no cameras/mapping.txt" in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["info", "--anno-dir", str(tmp_path / "empty")])
    assert res.exit_code == 2 and "nothing to describe" in res.output and "empty" in res.output


def test_quality_scores_find_the_bad_sequence(synth_data, tmp_path):
    """The ground truth scores well; a sequence whose 3D keypoints are off by 10 cm ranks worst,
    with the reprojection error aniposelib's projection gives and a ~10 cm SMPL error."""
    import json
    import shutil

    import numpy as np
    from typer.testing import CliRunner

    from aistpp.cli import app
    from aistpp.core import formats

    anno = tmp_path / "anno"
    shutil.copytree(synth_data.anno_dir, anno)
    good, bad = synth_data.sequences
    kp = formats.load_keypoints3d(anno / "keypoints3d" / f"{bad}.pkl")
    shifted = kp["keypoints3d_optim"] + np.array([10.0, 0.0, 0.0], np.float32)
    formats.save_keypoints3d(anno / "keypoints3d" / f"{bad}.pkl", kp["keypoints3d"], shifted)
    res = CliRunner().invoke(app, ["info", "--anno-dir", str(anno), "--smpl-dir", str(synth_data.smpl_dir),
                                   "--quality", "--json"])
    assert res.exit_code == 0, res.output
    q = json.loads(res.output)["quality"]
    assert q[good]["reproj_px"] < 5 and q[good]["smpl_cm"] < 1.5
    assert abs(q[bad]["smpl_cm"] - 10.0) < 1.5 and q[bad]["reproj_px"] > 3 * q[good]["reproj_px"]
    # the reprojection error, recomputed with aniposelib's projection
    kp2d = synth_data.keypoints2d[bad]["keypoints2d"]
    proj = synth_data.rig.to_aniposelib().project(shifted.reshape(-1, 3).astype(np.float64))
    proj = proj.reshape(kp2d.shape[:3] + (2,))
    ok = np.nan_to_num(kp2d[..., 2]) >= 0.15
    err = np.linalg.norm(proj - kp2d[..., :2], axis=-1)[ok]
    assert abs(np.median(err[np.isfinite(err)]) - q[bad]["reproj_px"]) < 1e-3
    table = CliRunner().invoke(app, ["info", "--anno-dir", str(anno), "--quality", "--worst", "1"]).output
    assert bad in table and good not in table.split("worst")[-1]
