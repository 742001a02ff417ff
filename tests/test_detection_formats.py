"""Detector files, each written here from its format's documented structure, and rig layouts:
read back equal to what the test wrote; BODY_25 and BODY_25B told apart without --joint-set."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core.detection_layout import find_layout
from aistpp.core.detections import read_video
from aistpp.errors import AistppError
from aistpp.pipeline.preprocess import PreprocessConfig, preprocess_sequence, run_preprocess

import _released as real_data
from _figure import people

# COCO-17 positions in some sets, typed from their documentation (not from aistpp's registry).
COCO_IN = {
    "coco17": list(range(17)),
    "body25": [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11],
    "body25b": list(range(17)),
    "wholebody133": list(range(17)),
    "blazepose33": [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28],
}


def random_people(rng, n, J, size=(1080, 1920)):
    xy = rng.uniform(0, size, (n, J, 2))
    return np.concatenate([xy, rng.uniform(0.2, 1, (n, J, 1))], -1).astype(np.float32)


def openpose_frame(people_xyc) -> str:
    return json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": np.asarray(p, np.float64).ravel().tolist(), "face_keypoints_2d": [],
         "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": []} for p in people_xyc]})


def cfg(tmp_path, keypoints, **kw) -> PreprocessConfig:
    return PreprocessConfig(keypoints_dir=keypoints, save_dir=tmp_path / "out", executor="serial", quiet=True, **kw)


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


# ---- OpenPose per-frame JSON under its naming variants ------------------------------------------
@pytest.mark.parametrize("pattern", ["{video}_{i:012d}_keypoints.json", "cam01.{i:04d}.json", "frame{i}.json",
                                     "{i:06d}_keypoints.json"])
def test_openpose_any_frame_naming_and_gaps(tmp_path, pattern):
    rng = np.random.default_rng(0)
    kp = people("body25", 12, rng)
    d = tmp_path / "cam01"
    d.mkdir()
    frames = [i for i in range(12) if i not in (4, 5)]  # no files for frames 4 and 5
    for i in frames:
        (d / pattern.format(video="take1_cam01", i=i)).write_text(openpose_frame([kp[i]]))
    (d / "notes.txt").write_text("not a frame")
    det = read_video(d)
    assert det.format == "openpose" and det.joint_set == "body25" and "geometry" in det.joint_set_how
    np.testing.assert_array_equal(det.timestamps, frames)
    np.testing.assert_array_equal(det.keypoints[:, 0], kp[frames])


def test_openpose_before_1_2_pose_keypoints(tmp_path):
    rng = np.random.default_rng(13)
    kp = people("body25", 6, rng)
    (tmp_path / "v").mkdir()
    for i in range(6):
        (tmp_path / "v" / f"v_{i:012d}_keypoints.json").write_text(json.dumps(
            {"version": 1.0, "people": [{"pose_keypoints": kp[i].ravel().tolist(), "face_keypoints": []}]}))
    det = read_video(tmp_path / "v")
    assert det.joint_set == "body25"
    np.testing.assert_allclose(det.keypoints[:, 0], kp, rtol=1e-6)


def test_body25_and_body25b_are_each_read_right_without_joint_set(tmp_path):
    """Two rigs, the same figure, one in BODY_25 and one in BODY_25B: both give the figure's COCO points."""
    for name in ("body25", "body25b"):
        rng = np.random.default_rng(1)
        kp = people(name, 30, rng)
        root = tmp_path / name
        for v, view in enumerate(("left", "right")):
            (root / view).mkdir(parents=True)
            for i in range(15):
                (root / view / f"{view}.{i:04d}.json").write_text(openpose_frame([kp[v * 15 + i]]))
        info = preprocess_sequence("take", cfg(tmp_path, root, sequence_name="take"))
        out = load(tmp_path / "out" / "take.pkl")
        assert out["joint_set"] == name and info["joint_set"] == name, info
        want = kp[:, COCO_IN[name]].reshape(2, 15, 17, 3)
        np.testing.assert_array_equal(out["keypoints2d"], want)
        np.testing.assert_array_equal(out["keypoints2d_full"], kp.reshape(2, 15, 25, 3))
        assert out["view_names"] == ["left", "right"]
        other = "body25b" if name == "body25" else "body25"
        with pytest.raises(AistppError, match=f"the file looks like {name}"):  # named wrong: refused, not misread
            read_video(root / "left", joint_set=other)


def test_openpose_25_points_refused_when_geometry_does_not_settle(tmp_path):
    rng = np.random.default_rng(2)
    d = tmp_path / "cam01"
    d.mkdir()
    for i in range(10):
        (d / f"x_{i:012d}_keypoints.json").write_text(openpose_frame(random_people(rng, 1, 25)))
    with pytest.raises(AistppError, match="--joint-set body25 or --joint-set body25b"):
        read_video(d)
    assert read_video(d, joint_set="body25b").joint_set == "body25b"
    with pytest.raises(AistppError, match="--joint-set coco17 has 17"):
        read_video(d, joint_set="coco17")


# ---- COCO results, AlphaPose / HALPE, MMPose / RTMPose ------------------------------------------
def test_coco_results_with_image_names(tmp_path):
    rng = np.random.default_rng(3)
    kp = people("coco17", 8, rng)
    res = [{"image_id": f"cam02_{i:06d}.jpg", "category_id": 1, "keypoints": kp[i].ravel().tolist(), "score": 0.5 + i / 20}
           for i in range(8)]
    res.append({"image_id": "cam02_000003.jpg", "category_id": 1, "keypoints": (kp[3] + 1).ravel().tolist(), "score": 0.1})
    (tmp_path / "cam02.json").write_text(json.dumps(res))
    det = read_video(tmp_path / "cam02.json")
    assert det.format == "coco" and det.joint_set == "coco17" and det.keypoints.shape == (8, 2, 17, 3)
    np.testing.assert_array_equal(det.keypoints[:, 0], kp)
    np.testing.assert_allclose(det.scores[:, 0], 0.5 + np.arange(8) / 20)
    np.testing.assert_array_equal(det.keypoints[3, 1], kp[3] + 1)


def test_alphapose_halpe136(tmp_path):
    rng = np.random.default_rng(4)
    kp = random_people(rng, 5, 136)
    (tmp_path / "v").mkdir()
    res = [{"image_id": f"{i}.jpg", "category_id": 1, "keypoints": kp[i].ravel().tolist(), "score": 1.7, "box": [1, 2, 3, 4],
            "idx": [1]} for i in range(5)]
    (tmp_path / "v" / "alphapose-results.json").write_text(json.dumps(res))
    det = read_video(tmp_path / "v")
    assert det.format == "alphapose" and det.joint_set == "halpe136"
    np.testing.assert_array_equal(det.keypoints[:, 0], kp)


def _mm_instance(p, score):
    return {"keypoints": p[:, :2].tolist(), "keypoint_scores": p[:, 2].tolist(), "bbox": [[0.0, 0.0, 10.0, 10.0]],
            "bbox_score": score}


def test_mmpose_per_image_files_and_demo_predictions(tmp_path):
    rng = np.random.default_rng(5)
    kp = random_people(rng, 6, 133)  # RTMPose wholebody
    d = tmp_path / "cam03"
    d.mkdir()
    for i in range(6):  # the inferencer's per-image output: a list of instances per file
        (d / f"{i:06d}.json").write_text(json.dumps([_mm_instance(kp[i], 0.9)]))
    det = read_video(d)
    assert det.format == "mmpose" and det.joint_set == "wholebody133"
    np.testing.assert_allclose(det.keypoints[:, 0], kp, rtol=1e-6)
    np.testing.assert_allclose(det.scores[:, 0], 0.9)
    # the demo's --save-predictions file: frame_id counts from 1
    demo = {"meta_info": {"dataset_name": "coco_wholebody"},
            "instance_info": [{"frame_id": i + 1, "instances": [_mm_instance(kp[i], 0.8)]} for i in range(6) if i != 2]}
    (tmp_path / "cam04.json").write_text(json.dumps(demo))
    det = read_video(tmp_path / "cam04.json")
    assert det.format == "mmpose"
    np.testing.assert_array_equal(det.timestamps, [0, 1, 3, 4, 5])
    np.testing.assert_allclose(det.keypoints[:, 0], kp[[0, 1, 3, 4, 5]], rtol=1e-6)


# ---- per-video arrays -------------------------------------------------------------------------
def test_npy_and_npz_arrays(tmp_path):
    rng = np.random.default_rng(6)
    kp = random_people(rng, 9, 33)  # MediaPipe landmarks in pixels
    np.save(tmp_path / "cam01.npy", kp)
    det = read_video(tmp_path / "cam01.npy")
    assert det.format == "array" and det.joint_set == "blazepose33"
    np.testing.assert_array_equal(det.keypoints[:, 0], kp)
    np.testing.assert_allclose(det.scores[:, 0], kp[:, COCO_IN["blazepose33"], 2].mean(-1), rtol=1e-6)
    two = np.stack([kp, kp + 3], axis=1)
    two[4, 1] = np.nan  # nobody in slot 1 of frame 4
    np.savez(tmp_path / "cam02.npz", keypoints=two, scores=np.full((9, 2), 0.5), frames=np.arange(9) * 2,
             image_size=np.array([1080, 1920]))
    det = read_video(tmp_path / "cam02.npz")
    assert det.image_size == (1080, 1920) and det.keypoints.shape == (9, 2, 33, 3)
    np.testing.assert_array_equal(det.timestamps, np.arange(9) * 2)
    assert np.isnan(det.scores[4, 1]) and det.scores[3, 1] == 0.5
    np.save(tmp_path / "norm.npy", kp / [1080, 1920, 1])  # MediaPipe's normalised coordinates
    with pytest.raises(AistppError, match="normalised image coordinates"):
        read_video(tmp_path / "norm.npy")
    np.save(tmp_path / "bad.npy", np.array(["a", "b"]))
    with pytest.raises(AistppError, match="numbers of shape"):
        read_video(tmp_path / "bad.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AistppError, match="not a readable numpy array"):
        read_video(tmp_path / "obj.npy")  # never unpickled


def test_17_points_in_another_order_are_refused_not_read_as_coco(tmp_path):
    """Real released AIST++ detections (COCO-17; tests/data, see NOTICE) are read as COCO-17; the
    same people in Human3.6M's 17-point order (pelvis, right hip, knee, foot, left hip, ... - built
    here from the COCO points) are refused, named or not, instead of being taken as COCO by count."""
    kp = real_data.keypoints2d(real_data.SEQS[0])[0, :200]
    np.save(tmp_path / "c01.npy", kp.astype(np.float32))
    det = read_video(tmp_path / "c01.npy")
    assert det.joint_set == "coco17"
    np.testing.assert_allclose(det.keypoints[:, 0], kp, rtol=1e-6)
    hips, shoulders = (kp[:, 11] + kp[:, 12]) / 2, (kp[:, 5] + kp[:, 6]) / 2
    h36m = np.stack([hips, kp[:, 12], kp[:, 14], kp[:, 16], kp[:, 11], kp[:, 13], kp[:, 15], (hips + shoulders) / 2,
                     shoulders, kp[:, 0], (kp[:, 1] + kp[:, 2]) / 2, kp[:, 5], kp[:, 7], kp[:, 9], kp[:, 6], kp[:, 8],
                     kp[:, 10]], axis=1)
    np.save(tmp_path / "c02.npy", h36m.astype(np.float32))
    for named in (None, "coco17"):
        with pytest.raises(AistppError, match="not in COCO-17 order") as e:
            read_video(tmp_path / "c02.npy", joint_set=named)
        assert "c02.npy" in str(e.value)


# ---- layouts ------------------------------------------------------------------------------------
def _write_view(folder, kp):
    folder.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(kp):
        (folder / f"{folder.name}.{i:04d}.json").write_text(openpose_frame([p]))


def test_layout_sequence_view_with_own_names(tmp_path):
    rng = np.random.default_rng(7)
    k = tmp_path / "K"
    truth = {}
    for seq in ("session-1", "session_2b"):
        for view in ("cam01", "cam02", "side.left"):
            truth[seq, view] = people("body25", 6, rng)
            _write_view(k / seq / view, truth[seq, view])
    lay = find_layout(k)
    assert lay.scheme == "sequence/view" and sorted(lay.sequences) == ["session-1", "session_2b"]
    report = run_preprocess(cfg(tmp_path, k, image_size="cam01=1080x1920,cam02=720x1280,side.left=1080x1920"))
    assert [it.status for it in report.items] == ["done", "done"], [it.error for it in report.items]
    for seq in ("session-1", "session_2b"):
        out = load(tmp_path / "out" / f"{seq}.pkl")
        assert out["view_names"] == ["cam01", "cam02", "side.left"]
        np.testing.assert_array_equal(out["image_sizes"], [[1080, 1920], [720, 1280], [1080, 1920]])
        for v, view in enumerate(out["view_names"]):
            np.testing.assert_array_equal(out["keypoints2d"][v], truth[seq, view][:, COCO_IN["body25"]])


def test_layout_results_files_per_view_in_sequence_folders(tmp_path):
    rng = np.random.default_rng(8)
    for view in ("cam01", "cam02"):  # cam01.json: a number in the name, yet a results file, not a frame
        kp = people("coco17", 4, rng)
        res = [{"image_id": i, "keypoints": kp[i].ravel().tolist(), "score": 0.9} for i in range(4)]
        (tmp_path / "K" / "take").mkdir(parents=True, exist_ok=True)
        (tmp_path / "K" / "take" / f"{view}.json").write_text(json.dumps(res))
    lay = find_layout(tmp_path / "K")
    assert lay.scheme == "sequence/view" and sorted(lay.sequences["take"]) == ["cam01", "cam02"]


def test_layout_views_of_one_sequence_and_toml(tmp_path):
    rng = np.random.default_rng(9)
    kp = {v: people("body25b", 5, rng) for v in ("cam01", "cam02")}
    for v in kp:
        _write_view(tmp_path / "rigA" / v, kp[v])
    lay = find_layout(tmp_path / "rigA")
    assert lay.scheme == "view" and list(lay.sequences) == ["rigA"]
    assert list(find_layout(tmp_path / "rigA", "dance_01").sequences) == ["dance_01"]
    toml = tmp_path / "rig.toml"
    toml.write_text('[sequences.dance_01]\nsetting = "studio"\nviews = { cam02 = "rigA/cam02", cam01 = "rigA/cam01" }\n'
                    'image_sizes = { cam01 = [1080, 1920], cam02 = [1088, 1920] }\n')
    lay = find_layout(toml)
    assert lay.scheme == "toml" and lay.settings == {"dance_01": "studio"}
    preprocess_sequence("dance_01", cfg(tmp_path, toml, joint_set="body25b"))
    out = load(tmp_path / "out" / "dance_01.pkl")
    assert out["view_names"] == ["cam01", "cam02"] and out["joint_set"] == "body25b"
    np.testing.assert_array_equal(out["image_sizes"], [[1080, 1920], [1088, 1920]])
    np.testing.assert_array_equal(out["keypoints2d"][1], kp["cam02"][:, :17])
    toml.write_text('[sequences.x]\nviews = { cam01 = "rigA/cam09" }\n')
    with pytest.raises(AistppError, match="rigA/cam09: detections not found"):
        preprocess_sequence("x", cfg(tmp_path, toml))
    toml.write_text('[sequences.x]\nviews = { cam01 = 3 }\n')
    with pytest.raises(AistppError, match="expected views"):
        find_layout(toml)


def test_own_names_with_underscores_are_not_read_as_aist_names(tmp_path):
    rng = np.random.default_rng(12)
    for view in ("take_1_cam01", "take_1_cam02"):  # three '_'-separated tags, no camera tag in the middle
        _write_view(tmp_path / "K" / view, people("body25", 2, rng))
    lay = find_layout(tmp_path / "K", "take_1")
    assert lay.scheme == "view" and lay.sequences["take_1"].keys() == {"take_1_cam01", "take_1_cam02"}
    (tmp_path / "A").mkdir()
    for view in ("gWA_sFM_c01_d27_mWA2_ch21", "gWA_sFM_c02_d27_mWA2_ch21"):
        _write_view(tmp_path / "A" / view, people("body25", 2, rng))
    assert find_layout(tmp_path / "A").sequences == {"gWA_sFM_cAll_d27_mWA2_ch21": {
        "c01": tmp_path / "A" / "gWA_sFM_c01_d27_mWA2_ch21", "c02": tmp_path / "A" / "gWA_sFM_c02_d27_mWA2_ch21"}}


def test_layout_errors_name_the_schemes_and_what_was_found(tmp_path):
    k = tmp_path / "K"
    _write_view(k / "cam01", people("body25", 2, np.random.default_rng(10)))
    _write_view(k / "take2" / "cam01", people("body25", 2, np.random.default_rng(11)))
    with pytest.raises(AistppError) as exc:
        find_layout(k)
    msg = str(exc.value)
    assert "<sequence>/<view>/" in msg and "AIST" in msg and ".toml" in msg
    assert "1 view entry (cam01)" in msg and "1 sequence entry (take2)" in msg
    res = CliRunner().invoke(app, ["preprocess", "--keypoints-dir", str(k), "--save-dir", str(tmp_path / "o")])
    assert res.exit_code == 2 and "understood" in res.output


# ---- untrusted files: mutated bytes give a clear error or a reading, never a crash ---------------
def _mutations(data: bytes, rng, count: int):
    for _ in range(count):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            op, pos = int(rng.integers(4)), int(rng.integers(max(1, len(b))))
            if op == 0 and b:
                b[pos] = int(rng.integers(256))
            elif op == 1:
                b[pos:pos] = bytes(rng.integers(0, 256, int(rng.integers(1, 6))).astype(np.uint8))
            elif op == 2 and b:
                del b[pos:pos + int(rng.integers(1, 8))]
            else:
                del b[pos:]
        yield bytes(b)


@pytest.mark.parametrize("kind", ["coco", "mmpose", "npz", "openpose"])
def test_mutated_detection_files(tmp_path, kind):
    rng = np.random.default_rng(20)
    kp = people("coco17", 3, rng)
    if kind == "coco":
        name, data = "v.json", json.dumps([{"image_id": i, "keypoints": kp[i].ravel().tolist(), "score": 0.5}
                                            for i in range(3)]).encode()
    elif kind == "mmpose":
        name, data = "v.json", json.dumps({"instance_info": [{"frame_id": i + 1, "instances": [_mm_instance(kp[i], 0.5)]}
                                                              for i in range(3)]}).encode()
    elif kind == "npz":
        np.savez(tmp_path / "seed.npz", keypoints=kp, scores=np.ones(3), image_size=np.array([640, 480]))
        name, data = "v.npz", (tmp_path / "seed.npz").read_bytes()
    else:
        name, data = "v/000001.json", openpose_frame([kp[0]]).encode()
        (tmp_path / "v").mkdir()
        (tmp_path / "v" / "000000.json").write_text(openpose_frame([kp[1]]))
    target = tmp_path / name
    entry = target.parent if kind == "openpose" else target
    for bad in _mutations(data, rng, 150):
        target.write_bytes(bad)
        try:
            det = read_video(entry, joint_set="coco17")
        except AistppError:
            continue
        assert det.keypoints.ndim == 4 and det.keypoints.dtype == np.float32


def test_a_stray_frame_number_is_refused_not_filled(tmp_path):
    rng = np.random.default_rng(30)
    kp = people("body25", 3, rng)
    _write_view(tmp_path / "K" / "cam01", kp)
    (tmp_path / "K" / "cam01" / "cam01.999999999.json").write_text(openpose_frame([kp[0]]))
    with pytest.raises(AistppError, match="run to 999999999"):
        preprocess_sequence("s", cfg(tmp_path, tmp_path / "K", sequence_name="s", joint_set="body25"))
