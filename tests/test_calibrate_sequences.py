"""Time offsets per sequence and to a fraction of a frame (issue 21, unsynchronised views).

Each camera of ``<setting>.json`` may carry ``frame_offsets`` {"<sequence>": o}: the sequence's
own offset (view v's frame n + o shows the common instant n), used by triangulate, vis and view
before ``frame_offset`` (the setting's). The synthetic truth is generated here: the dancer's
motion is a smooth function of time, and a view out of sync by a fractional o is that motion
sampled at the instants n - o (not an interpolation between frames, which is what the code does).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from _geometry import aligned_errors
from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.frame_offsets import read_frame_offsets, shift_sequences
from aistpp.errors import AistppError
from aistpp.pipeline.synth.rig import make_layout
from test_calibrate import body_motion
from test_calibrate_layouts import faulty_detections

PAD = 30  # faulty_detections' margin: common frame n shows the dancer's instant n (X[n + PAD])
SEQS = ("gBR_sBM_cAll_d04_mBR0_ch01", "gBR_sBM_cAll_d05_mBR1_ch02")


def recording(truth, offsets, N, seed, faults_seed):
    """Detections (V, N, 17, 2), confidences and the true 3D points (N, 17, 3) of one recording:
    view v's frame n shows the instant n - offsets[v] (any real number of frames)."""
    times = np.arange(N + 2 * PAD) - PAD
    Xv = np.stack([body_motion(len(times), np.random.default_rng(seed), times=times - o) for o in offsets])
    det, conf = faulty_detections(truth, Xv, np.random.default_rng(faults_seed), np.zeros(len(truth), int))
    return det, conf, body_motion(len(times), np.random.default_rng(seed), times=times)[PAD:PAD + N]


def write_dataset(anno, truth, parts):
    """An annotation folder: one keypoints2d file per (name, det, conf) of ``parts``, all in setting1."""
    formats.write_mapping(anno / "cameras" / "mapping.txt", {name: "setting1" for name, _, _ in parts})
    for name, det, conf in parts:
        kp = np.concatenate([det, conf[..., None]], axis=-1)
        formats.save_keypoints2d(anno / "keypoints2d" / f"{name}.pkl", kp, np.ones(kp.shape[:2]),
                                 np.round(np.arange(kp.shape[1]) * 1e6 / 60), view_names=list(truth.names),
                                 image_sizes=truth.sizes)
    return anno


def calibrate(anno, cams, frames=400):
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(cams), "--executor",
                                   "serial", "--max-frames", str(frames), "--quiet"])
    assert res.exit_code == 0, res.output
    return json.loads((cams / "setting1.json").read_text())


def triangulate(anno, cams, out, seq):
    res = CliRunner().invoke(app, ["triangulate", "--anno-dir", str(anno), "--cameras-dir", str(cams), "--save-dir",
                                   str(out), "--executor", "serial", "--quiet", "--no-optimise"])
    assert res.exit_code == 0, res.output
    return formats.load_keypoints3d(out / f"{seq}.pkl")["keypoints3d"]


def error_cm(k3d, X):
    err, _, _ = aligned_errors(k3d.reshape(-1, 3), X.reshape(-1, 3))
    return float(np.mean(err))


def rewrite(cams, src, items):
    """A camera folder ``cams`` with ``items`` as setting1.json and ``src``'s mapping.txt."""
    formats.save_json(cams / "setting1.json", items)
    shutil.copyfile(src / "mapping.txt", cams / "mapping.txt")
    return cams


# ---- reading -----------------------------------------------------------------------------------
def test_per_sequence_entry_first_then_frame_offset_then_zero(tmp_path):
    rig = make_layout("mixed5", np.random.default_rng(3))
    items = rig.to_json_list()
    items[1].update(frame_offset=-4, frame_offsets={"seqA": 2.25, "seqB": -4})
    items[2]["frame_offsets"] = {"seqB": 0.5}
    items[3]["frame_offset"] = 1
    path = tmp_path / "setting1.json"
    formats.save_json(path, items)
    np.testing.assert_array_equal(read_frame_offsets(path, rig.names, "seqA"), [0, 2.25, 0, 1, 0])
    np.testing.assert_array_equal(read_frame_offsets(path, rig.names, "seqB"), [0, -4, 0.5, 1, 0])
    np.testing.assert_array_equal(read_frame_offsets(path, rig.names, "other"), [0, -4, 0, 1, 0])
    np.testing.assert_array_equal(read_frame_offsets(path, rig.names), [0, -4, 0, 1, 0])  # the setting's
    assert formats.load_cameras(path).names == rig.names  # the rig reader ignores both keys
    # untrusted: every entry is checked, whichever sequence is read
    for bad in ({"seqA": "3"}, {"seqA": True}, {"seqA": None}, {"seqA": 1e9}, {"seqA": [1]}, [2.0], 3, {"": 1},
                {"s" * 300: 1}):
        items[2]["frame_offsets"] = bad
        formats.save_json(path, items)
        with pytest.raises(AistppError, match="frame_offsets") as info:
            read_frame_offsets(path, rig.names, "seqB")
        assert "setting1.json" in str(info.value) and "\n" not in str(info.value)
    items[2]["frame_offsets"] = {"seqA": "NAN"}
    path.write_text(json.dumps(items).replace('"NAN"', "NaN"))  # Python's json reads NaN
    with pytest.raises(AistppError, match="setting1.json"):
        read_frame_offsets(path, rig.names, "seqA")


def test_shift_sequences_uses_each_sequences_row():
    arr = (100.0 * np.arange(2)[:, None] + np.arange(8)[None])[..., None]  # view v, frame k holds 100 v + k
    seq_id = np.array([5, 5, 5, 5, 9, 9, 9, 9])  # rows: np.unique order (5, then 9)
    out = shift_sequences(arr, [[0, 1], [0, -0.5]], seq_id)[1, :, 0]
    np.testing.assert_array_equal(out[:3], [101, 102, 103])  # the first sequence: frame n + 1
    assert np.isnan(out[3]) and np.isnan(out[4])  # never across sequences
    np.testing.assert_allclose(out[5:], [104.5, 105.5, 106.5])  # the second: n - 0.5, interpolated
    with pytest.raises(AistppError, match="2 sequences"):
        shift_sequences(arr, [[0, 1]] * 3, seq_id)


def test_bad_frame_offsets_stop_triangulate_with_one_line(tmp_path):
    rig = make_layout("mixed5", np.random.default_rng(4))
    det, conf, _ = recording(rig, np.zeros(len(rig)), 40, 0, 1)
    anno = write_dataset(tmp_path / "anno", rig, [(SEQS[0], det, conf)])
    items = rig.to_json_list()
    items[0]["frame_offsets"] = {SEQS[0]: "late"}
    formats.save_json(anno / "cameras" / "setting1.json", items)
    res = CliRunner().invoke(app, ["triangulate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "k"),
                                   "--executor", "serial", "--quiet"])
    assert res.exit_code == 2 and "setting1.json" in res.output and "frame_offsets" in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "k" / f"{SEQS[0]}.pkl").exists()


# ---- per sequence: calibrate -> triangulate ----------------------------------------------------
@pytest.fixture(scope="module")
def two_recordings(tmp_path_factory):
    """A 9-camera rig (the release's layout) recording two sequences synchronised differently:
    view 2 is 4 frames late in both, view 5 in sync in the first and 3 frames early in the second,
    view 7 2 frames late in the second only. Calibrated from the keypoints alone."""
    truth = make_layout("aist9", np.random.default_rng(12))
    V, N = len(truth), 200
    first, second = np.zeros(V), np.zeros(V)
    first[2] = second[2] = 4
    second[5], second[7] = -3, 2
    root = tmp_path_factory.mktemp("two")
    parts, X = [], {}
    for name, offs, seed in zip(SEQS, (first, second), (1, 2)):
        det, conf, X[name] = recording(truth, offs, N, seed, seed + 10)
        parts.append((name, det, conf))
    anno = write_dataset(root / "anno", truth, parts)
    items = calibrate(anno, root / "cams")
    return {"root": root, "anno": anno, "cams": root / "cams", "items": items, "X": X, "truth": truth,
            "offsets": {SEQS[0]: first, SEQS[1]: second}}


def test_each_sequence_gets_its_own_offsets(two_recordings):
    w = two_recordings
    items = w["items"]
    for seq, true in w["offsets"].items():
        found = np.array([it["frame_offsets"][seq] for it in items])
        np.testing.assert_array_equal(np.round(found), true)  # whole frames: exact
        assert np.abs(found - true).max() <= 0.15, (seq, found)
    both = np.stack([w["offsets"][s] for s in SEQS])
    np.testing.assert_allclose([it["frame_offset"] for it in items], np.median(both, axis=0), atol=0.15)
    report = json.loads((w["root"] / "reports" / "calibrate" / "setting1.json").read_text())
    names = w["truth"].names
    assert report["offsets_differ_by_sequence"] == [names[5], names[7]]
    assert report["offsets_by_sequence"][SEQS[1]][names[5]] == -3


def test_triangulate_uses_the_sequences_own_entry(two_recordings):
    """With each sequence's entry: as good as in sync; with the entries removed (the setting's
    frame_offset only: -1.5 and 1 frames in views 5 and 7, right for neither sequence): worse."""
    w = two_recordings
    root, anno = w["root"], w["anno"]
    own = {s: error_cm(triangulate(anno, w["cams"], root / "k_own", s), w["X"][s]) for s in SEQS}
    stripped = rewrite(root / "stripped", w["cams"], [{k: v for k, v in it.items() if k != "frame_offsets"}
                                                      for it in w["items"]])
    setting = {s: error_cm(triangulate(anno, stripped, root / "k_setting", s), w["X"][s]) for s in SEQS}
    for s in SEQS:
        assert own[s] < 2.0 and own[s] < 0.9 * setting[s], (s, own, setting)
    from aistpp.pipeline.triangulate import TriangulateConfig, triangulate_sequence

    cfg = TriangulateConfig(anno_dir=anno, cameras_dir=w["cams"], save_dir=root / "k_check", optimise=False)
    assert triangulate_sequence(SEQS[1], cfg)["frame_offsets"][w["truth"].names[5]] == pytest.approx(-3, abs=0.15)


# ---- sub-frame ---------------------------------------------------------------------------------
def test_subframe_offsets_recovered_and_triangulation_beats_whole_frames(tmp_path):
    """An 8-camera ring, two views out of sync by 3.4 and -6.7 frames (the motion sampled at those
    instants), 2 px noise, outliers, swaps: offsets to 0.15 frame, and the triangulation with
    them is closer to the truth than with the offsets rounded to whole frames."""
    truth = make_layout("ring8_ccw", np.random.default_rng(77))
    V, N = len(truth), 200
    true = np.zeros(V)
    true[2], true[5] = 3.4, -6.7
    det, conf, X = recording(truth, true, N, 9, 5)
    anno = write_dataset(tmp_path / "anno", truth, [(SEQS[0], det, conf)])
    items = calibrate(anno, tmp_path / "cams", frames=N)
    found = np.array([it["frame_offsets"][SEQS[0]] for it in items])
    assert np.abs(found - true).max() <= 0.15, found
    np.testing.assert_array_equal([it["frame_offset"] for it in items], found)  # one sequence: the same
    sub = error_cm(triangulate(anno, tmp_path / "cams", tmp_path / "k_sub", SEQS[0]), X)
    whole = rewrite(tmp_path / "whole", tmp_path / "cams", [
        dict(it, frame_offset=round(it["frame_offset"]), frame_offsets={SEQS[0]: round(it["frame_offsets"][SEQS[0]])})
        for it in items])
    rounded = error_cm(triangulate(anno, whole, tmp_path / "k_whole", SEQS[0]), X)
    assert sub < rounded, (sub, rounded)


# ---- view ----------------------------------------------------------------------------------------
def test_view_reprojection_colour_uses_the_sequences_offsets(synth_data, tmp_path):
    """Five of nine views' detections 3 frames late in one sequence, said so by that sequence's
    ``frame_offsets`` entry (the setting's ``frame_offset`` says -2): the page's per-joint
    reprojection error is that of exact detections (~0 px); with the entry removed it is not."""
    from aistpp.pipeline.view.pack import unpack
    from aistpp.pipeline.view.scene import ViewConfig, build_scene

    anno = tmp_path / "anno"
    shutil.copytree(synth_data.anno_dir, anno)
    seq = sorted(synth_data.sequences)[0]
    clean = synth_data.truth[seq]["clean"]  # (V, N, 17, 2): the true 3D points projected
    N = clean.shape[1]
    late = [0, 2, 4, 6, 8]
    det = np.concatenate([clean, np.ones(clean.shape[:3] + (1,))], -1)
    det[late, 3:] = det[late, :-3].copy()  # frame n shows the instant n - 3
    det[late, :3] = np.nan
    kp = synth_data.keypoints2d[seq]
    formats.save_keypoints2d(anno / "keypoints2d" / f"{seq}.pkl", det, kp["det_scores"], kp["timestamps"])
    items = json.loads((anno / "cameras" / "setting1.json").read_text())
    for v in late:
        items[v].update(frame_offset=-2, frame_offsets={seq: 3, "other": 7})
    formats.save_json(anno / "cameras" / "setting1.json", items)

    def error_px(tag):
        cfg = ViewConfig(anno_dir=anno, out=tmp_path / f"{tag}.html", sequence_names=[seq], keypoints="plain",
                         mesh=False, joint_colour="reprojection")
        (track,) = build_scene(cfg)["tracks"]
        jv = track["joint_values"]
        return unpack(jv["codes"]).astype(float)[: N - 3] * jv["max"] / 254

    assert np.median(error_px("own")) < 0.2 and np.percentile(error_px("own"), 99) < 0.5
    for it in items:
        it.pop("frame_offsets", None)
    formats.save_json(anno / "cameras" / "setting1.json", items)
    assert np.median(error_px("setting")) > 1.0  # 5 views 5 frames off: the median view is one of them


def test_bad_frame_offsets_stop_vis_and_view_with_one_line(tmp_path):
    from test_vis import SEQ as VIS_SEQ, make_mini

    rig, kp3d, kp2d, anno, video_dir = make_mini(tmp_path)
    items = rig.to_json_list()
    items[1]["frame_offsets"] = {VIS_SEQ: float("inf")}
    (anno / "cameras" / "setting1.json").write_text(json.dumps(items))  # Python's json writes Infinity
    res = CliRunner().invoke(app, ["vis", "--anno-dir", str(anno), "--video-dir", str(video_dir), "--save-dir",
                                   str(tmp_path / "v"), "--video-name", VIS_SEQ.replace("cAll", "c01"), "--mode", "3d"])
    assert res.exit_code == 2 and "frame_offsets" in res.output and "setting1.json" in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "v").exists()
    res = CliRunner().invoke(app, ["view", "--anno-dir", str(anno), "--sequence-names", VIS_SEQ, "--out",
                                   str(tmp_path / "x.html"), "--joint-colour", "reprojection"])
    assert res.exit_code == 2 and "frame_offsets" in res.output and "setting1.json" in res.output, res.output
    assert not (tmp_path / "x.html").exists()


def test_vis_draws_3d_points_at_the_instant_a_subframe_offset_video_frame_shows(tmp_path):
    """Offset 2.4 frames (the sequence's entry): output frame i shows video frame i + 2, which shows
    the instant i - 0.4, and the projected 3D points are those of that instant (interpolated), not
    of instant i: with the body moving 15 cm a frame they would be ~6 px apart."""
    from test_vis import COCO_SIDE, JOINT_COLORS, SEQ as VIS_SEQ, decode, isolated, make_mini, near
    from aistpp.pipeline.vis import VisConfig, vis_video

    rig, kp3d, _, anno, video_dir = make_mini(tmp_path)
    fast = kp3d[:1] + np.arange(len(kp3d))[:, None, None] * np.array([15.0, 0, 0])
    formats.save_keypoints3d(anno / "keypoints3d" / f"{VIS_SEQ}.pkl", fast, fast)
    items = rig.to_json_list()
    items[2].update(frame_offset=0, frame_offsets={VIS_SEQ: 2.4})
    formats.save_json(anno / "cameras" / "setting1.json", items)
    name = VIS_SEQ.replace("cAll", "c03")
    vis_video(name, VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path / "o", video_name=name,
                              mode="3d", start=2, end=7))
    _, frames = decode(tmp_path / "o" / f"{name}.mp4")
    proj = rig.project(fast)[2]  # (N, 17, 2)
    w, h = rig.sizes[2]
    for k, i in enumerate(range(2, 7)):
        assert round(frames[k][8:24, 8:24, 1].mean() / 16) == i + 2  # video frame i + round(2.4)
        shown = 0.6 * proj[i] + 0.4 * proj[i - 1]  # instant i - 0.4
        assert np.linalg.norm(shown - proj[i], axis=-1).min() > 5  # far enough to tell apart
        inside = [j for j in isolated(shown, range(5, 17)) if 4 <= shown[j, 0] < w - 4 and 4 <= shown[j, 1] < h - 4]
        assert len(inside) >= 4
        for j in inside:
            x, y = np.round(shown[j]).astype(int)
            assert near(frames[k][y, x], JOINT_COLORS[COCO_SIDE[j]]), (i, j)
