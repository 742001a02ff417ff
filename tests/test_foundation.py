"""Foundation: names, formats, restricted unpickling, cameras against aniposelib, CLI errors."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp import AISTDataset, AistppError, CameraRig
from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.names import parse_name, split_video_name, video_name
from aistpp.core.safe_pickle import safe_load, safe_loads


def random_rig(rng: np.random.Generator, views: int = 4) -> CameraRig:
    ang = np.linspace(0, 2 * np.pi, views, endpoint=False)
    rvec = np.stack([rng.normal(0, 0.05, views), ang + rng.normal(0, 0.05, views), rng.normal(0, 0.05, views)], 1)
    K = np.tile(np.array([[1600.0, 0, 960], [0, 1590.0, 540], [0, 0, 1]]), (views, 1, 1))
    K[:, 0, 2] += rng.normal(0, 10, views)
    dist = rng.normal(0, 0.02, (views, 5))
    tvec = np.stack([rng.normal(0, 20, views), rng.normal(-100, 10, views), np.full(views, 500.0)], 1)
    return CameraRig(tuple(f"c{i + 1:02d}" for i in range(views)), np.tile([1920, 1080], (views, 1)), K, dist, rvec, tvec)


def test_names_round_trip():
    seq, view = split_video_name("gWA_sFM_c01_d27_mWA2_ch21")
    assert (seq, view) == ("gWA_sFM_cAll_d27_mWA2_ch21", "c01")
    assert video_name(seq, "c07") == "gWA_sFM_c07_d27_mWA2_ch21"
    assert split_video_name("abc_cam3_xyz") == ("abc_cAll_xyz", "cam3")
    tags = parse_name("gWA_sFM_c01_d27_mWA2_ch21")
    assert (tags.genre_name, tags.situation, tags.dancer, tags.music, tags.choreo) == ("waack", "sFM", "d27", "mWA2", "ch21")
    for bad in ("../../x", "a/b_cAll_c", "gWA_sFM"):
        with pytest.raises(AistppError):
            split_video_name(bad)


def test_projection_matches_aniposelib():
    rng = np.random.default_rng(0)
    rig = random_rig(rng)
    pts = rng.normal([0, 100, 0], [40, 50, 40], size=(50, 3))
    ours = rig.project(pts)
    theirs = np.stack([cam.project(pts).reshape(-1, 2) for cam in rig.to_aniposelib().cameras])
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    # undistort inverts the distortion: back to R X + t normalised
    cam = rig.world_to_camera(pts)
    np.testing.assert_allclose(rig.undistort(ours), cam[..., :2] / cam[..., 2:], atol=1e-7)


def test_camera_json_round_trip(tmp_path):
    rig = random_rig(np.random.default_rng(1), 9)
    formats.save_cameras(tmp_path / "setting1.json", rig)
    items = json.loads((tmp_path / "setting1.json").read_text())
    assert [it["name"] for it in items] == list(rig.names) and len(items[0]["distortions"]) == 5
    back = formats.load_cameras(tmp_path / "setting1.json")
    np.testing.assert_allclose(back.project(np.zeros(3)), rig.project(np.zeros(3)))
    again = CameraRig.from_aniposelib(back.to_aniposelib())
    np.testing.assert_allclose(again.tvec, rig.tvec)
    bad = [dict(it) for it in items]
    del bad[3]["matrix"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(AistppError, match="bad.json.*camera 3 lacks key"):
        formats.load_cameras(tmp_path / "bad.json")


def test_annotation_files_round_trip_with_plain_pickle(tmp_path):
    rng = np.random.default_rng(2)
    kp2 = rng.normal(size=(9, 5, 17, 3)).astype(np.float32)
    kp2[2, 1] = np.nan
    formats.save_keypoints2d(tmp_path / "k2.pkl", kp2, np.ones((9, 5)), np.arange(5) * 16)
    with open(tmp_path / "k2.pkl", "rb") as f:  # what code written for AIST++ does
        plain = pickle.load(f)
    np.testing.assert_array_equal(plain["keypoints2d"], kp2)
    back = formats.load_keypoints2d(tmp_path / "k2.pkl")
    np.testing.assert_array_equal(back["keypoints2d"], kp2)
    assert back["timestamps"].tolist() == [0, 16, 32, 48, 64]
    poses = rng.normal(size=(5, 72))
    formats.save_motion(tmp_path / "m.pkl", poses, rng.normal(size=(5, 3)), 93.0, 1.5)
    m = formats.load_motion(tmp_path / "m.pkl")
    np.testing.assert_allclose(m["smpl_poses"], poses, atol=1e-6)
    assert m["smpl_scaling"].shape == (1,) and m["smpl_loss"] == 1.5
    formats.save_keypoints3d(tmp_path / "k3.pkl", kp2[0, :, :, :3], kp2[1, :, :, :3])
    np.testing.assert_array_equal(formats.load_keypoints3d(tmp_path / "k3.pkl")["keypoints3d_optim"], kp2[1, :, :, :3])
    with pytest.raises(AistppError, match="k2.pkl.*keypoints2d file, not an SMPL motion"):
        formats.load_motion(tmp_path / "k2.pkl")


def test_malicious_pickle_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"keypoints3d": Evil()}))
    with pytest.raises(AistppError, match="evil.pkl.*refused"):
        safe_load(path)
    assert not marker.exists()


def test_chumpy_style_pickle_loads(tmp_path):
    import sys
    import types

    import scipy.sparse as sp

    mod = types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy: the array lives in the pickled __dict__ under 'x'
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    mod.Ch = Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = types.ModuleType("chumpy"), mod
    try:
        data = pickle.dumps({"v_template": Ch(np.arange(6.0).reshape(2, 3)), "J": sp.csc_matrix(np.eye(2))}, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    out = safe_loads(data)
    np.testing.assert_array_equal(out["v_template"], np.arange(6.0).reshape(2, 3))
    assert sp.issparse(out["J"])


def test_dataset_mapping_and_selection(tmp_path):
    (tmp_path / "cameras").mkdir()
    (tmp_path / "splits").mkdir()
    (tmp_path / "cameras" / "mapping.txt").write_text("gA_sB_cAll_d1_m1_ch1 setting1\ngA_sB_cAll_d2_m1_ch2 setting2\n")
    (tmp_path / "splits" / "train.txt").write_text("gA_sB_cAll_d2_m1_ch2\n")
    (tmp_path / "ignore_list.txt").write_text("gA_sB_cAll_d1_m1_ch1\n")
    ds = AISTDataset(tmp_path)
    assert ds.settings == {"setting1": ["gA_sB_cAll_d1_m1_ch1"], "setting2": ["gA_sB_cAll_d2_m1_ch2"]}
    assert ds.select() == ["gA_sB_cAll_d2_m1_ch2"]
    assert ds.select(include_ignored=True) == sorted(ds.mapping)
    assert ds.select(split="train") == ["gA_sB_cAll_d2_m1_ch2"]
    with pytest.raises(AistppError, match="not listed in mapping.txt"):
        ds.setting_of("gA_sB_cAll_d9_m1_ch1")


def test_cli_user_error_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["triangulate", "--anno-dir", str(tmp_path / "missing"),
                                      "--save-dir", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "missing" in lines[0]


def test_similarity_alignment_recovers_a_known_gauge():
    from scipy.spatial.transform import Rotation

    from aistpp.core.align import rig_errors, similarity_transform, transform_rig

    rng = np.random.default_rng(3)
    rig = random_rig(rng, 6)
    R = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    s, t = 0.37, np.array([10.0, -4.0, 2.0])
    moved = transform_rig(rig, s, R, t)
    pts = rng.normal(0, 50, (20, 3))
    # the same image from the moved world
    np.testing.assert_allclose(moved.project(s * pts @ R.T + t), rig.project(pts), atol=1e-6)
    s2, R2, t2 = similarity_transform(pts, s * pts @ R.T + t)
    np.testing.assert_allclose([s2], [s])
    np.testing.assert_allclose(R2, R, atol=1e-9)
    np.testing.assert_allclose(t2, t, atol=1e-9)
    errs = rig_errors(moved, rig)
    assert errs["rotation_deg"].max() < 1e-4 and errs["center_cm"].max() < 1e-6
    assert rig_errors(moved, rig, align=False)["center_cm"].min() > 1.0
