"""`aistpp preprocess`: detector JSON of each format -> keypoints2d pickles equal to the truth
the test wrote; dancer tracking against a passer-by; missing frames, views and corrupt files."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from _figure import people

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.detections import pack, read_video
from aistpp.core.rig import aist_like_ring
from aistpp.core.people import select_dancer
from aistpp.pipeline.preprocess import PreprocessConfig, preprocess_sequence, run_preprocess

SEQ = "gWA_sFM_cAll_d27_mWA2_ch21"
COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
        "right_knee", "left_ankle", "right_ankle"]
# OpenPose's own orders, spelled out here (short names) independently of aistpp.core.joints.
BODY25 = ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
          "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
          "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
          "left_heel", "right_big_toe", "right_small_toe", "right_heel"]
COCO18 = [n for n in BODY25[:15] if n != "mid_hip"] + ["right_eye", "left_eye", "right_ear", "left_ear"]


def vid(view: str, seq: str = SEQ) -> str:
    return seq.replace("cAll", view)


def truth(rng, V=3, N=40, drop_joints=0.1):
    """(V, N, 17, 3) COCO keypoints (float32, some joints NaN) and their det scores: a stick figure
    posed, turned and projected anew in every frame (tests/_figure.py; random points are not a
    person, and a 17-point file whose points 0-4 are not a head is refused as not COCO-17)."""
    kp = people("coco17", V * N, rng).reshape(V, N, 17, 3).astype(np.float32)
    kp[rng.random((V, N, 17)) < drop_joints] = np.nan
    score = np.nan_to_num(kp[..., 2].astype(np.float64)).mean(-1).astype(np.float32)
    return kp, score


def to_set(coco: np.ndarray, names: list[str], rng) -> np.ndarray:
    """COCO (..., 17, 3) -> another joint order, NaN written as OpenPose's 0, 0, 0. Points COCO
    lacks sit where they belong on the figure (neck between the shoulders, mid hip between the
    hips, heels and toes a few pixels from the ankles: the BODY_25 / BODY_25B geometry check reads
    them), with random confidences."""
    out = np.concatenate([np.zeros(coco.shape[:-2] + (len(names), 2)),
                          rng.uniform(0.1, 1, coco.shape[:-2] + (len(names), 1))], -1)
    at = {n: coco[..., COCO.index(n), :2] for n in COCO}
    for j, n in enumerate(names):
        if n in COCO:
            out[..., j, :] = coco[..., COCO.index(n), :]
        elif n == "neck":
            out[..., j, :2] = (at["left_shoulder"] + at["right_shoulder"]) / 2
        elif n == "mid_hip":
            out[..., j, :2] = (at["left_hip"] + at["right_hip"]) / 2
        else:  # heels and toes
            side = "left" if n.startswith("left") else "right"
            out[..., j, :2] = at[f"{side}_ankle"] + rng.uniform(-8, 8, coco.shape[:-2] + (2,))
    return np.nan_to_num(out.astype(np.float32), nan=0.0)


def write_openpose(folder, video, people_per_frame):
    """people_per_frame: list (frames) of lists of (J, 3) arrays; None = no file for that frame."""
    d = folder / video
    d.mkdir(parents=True, exist_ok=True)
    for i, people in enumerate(people_per_frame):
        if people is None:
            continue
        obj = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": np.asarray(p, np.float64).ravel().tolist(),
                                            "face_keypoints_2d": []} for p in people]}
        (d / f"{video}_{i:012d}_keypoints.json").write_text(json.dumps(obj))


def cfg(tmp_path, **kw) -> PreprocessConfig:
    base = dict(keypoints_dir=tmp_path / "K", save_dir=tmp_path / "out", executor="serial", quiet=True)
    base.update(kw)
    return PreprocessConfig(**base)


def load(tmp_path, seq=SEQ):
    with open(tmp_path / "out" / f"{seq}.pkl", "rb") as f:
        return pickle.load(f)


# ---- formats ---------------------------------------------------------------------------------
@pytest.mark.parametrize("names", [BODY25, COCO18], ids=["body25", "coco18"])
def test_openpose_roundtrip_exact(tmp_path, names):
    rng = np.random.default_rng(1)
    kp, score = truth(rng, V=9, N=30)
    missed = rng.random((9, 30)) < 0.1  # frames written with "people": []
    native = to_set(kp, names, rng)
    for v in range(9):
        write_openpose(tmp_path / "K", vid(f"c{v + 1:02d}"),
                       [[] if missed[v, i] else [native[v, i]] for i in range(30)])
    info = preprocess_sequence(SEQ, cfg(tmp_path, joint_set="body25" if names is BODY25 else None))
    out = load(tmp_path)
    kp[missed] = np.nan
    score[missed] = 0
    np.testing.assert_array_equal(out["keypoints2d"], kp)  # NaNs in the same places too
    np.testing.assert_array_equal(out["det_scores"], score)
    np.testing.assert_array_equal(out["timestamps"], formats.frame_timestamps(30))
    assert out["joint_set"] == ("body25" if names is BODY25 else "coco18")
    assert out["view_names"] == [f"c{v + 1:02d}" for v in range(9)] and "image_sizes" not in out
    want_native = np.where((native == 0).all(-1, keepdims=True), np.nan, native)
    want_native[missed] = np.nan
    np.testing.assert_array_equal(out["keypoints2d_full"], want_native)
    assert info["frames"] == 30 and info["missing_views"] == [] and info["corrupt"] == 0
    assert formats.load_keypoints2d(tmp_path / "out" / f"{SEQ}.pkl")["keypoints2d"].shape == (9, 30, 17, 3)


def test_aist_detector_format_nested_and_flat(tmp_path):
    rng = np.random.default_rng(2)
    kp, _ = truth(rng, V=2, N=12, drop_joints=0)
    stamps = 1000 + 17 * np.arange(12)  # timestamps kept as they are
    for v, nested in ((0, True), (1, False)):
        d = tmp_path / "K" / vid(f"c{v + 1:02d}")
        d.mkdir(parents=True)
        for i, t in enumerate(stamps):
            other = kp[v, i] + 5.0  # a second, weaker detection at nearly the same place
            people = [other, kp[v, i]] if i % 2 else [kp[v, i], other]
            scores = [0.3, 0.9] if i % 2 else [0.9, 0.3]
            keypoints = [p.tolist() for p in people] if nested else np.concatenate([p.ravel() for p in people]).tolist()
            (d / f"{vid(f'c{v + 1:02d}')}_{t}.json").write_text(json.dumps({"keypoints": keypoints, "detection_scores": scores}))
    preprocess_sequence(SEQ, cfg(tmp_path))
    out = load(tmp_path)
    np.testing.assert_array_equal(out["timestamps"], stamps)
    np.testing.assert_array_equal(out["keypoints2d"][:2], kp)
    np.testing.assert_allclose(out["det_scores"][:2], 0.9)
    assert np.isnan(out["keypoints2d"][2:]).all() and (out["det_scores"][2:] == 0).all()


def test_coco_results_and_alphapose_halpe26(tmp_path):
    rng = np.random.default_rng(3)
    kp, _ = truth(rng, V=2, N=10, drop_joints=0)
    halpe_extra = rng.uniform(0, 1000, (10, 9, 3))
    k = tmp_path / "K"
    k.mkdir()
    # c01: COCO results list, integer image ids, frames 3 and 7 without anyone, a second person in frame 5.
    res = [{"image_id": i, "category_id": 1, "keypoints": kp[0, i].ravel().tolist(), "score": 0.8}
           for i in range(10) if i not in (3, 7)]
    res.append({"image_id": 5, "category_id": 1, "keypoints": (kp[0, 5] + 2).ravel().tolist(), "score": 0.5})
    (k / f"{vid('c01')}.json").write_text(json.dumps(res))
    # c02: AlphaPose HALPE-26 in <video>/alphapose-results.json with "12.jpg"-style ids, shuffled.
    (k / vid("c02")).mkdir()
    res = [{"image_id": f"{i}.jpg", "category_id": 1, "keypoints": np.concatenate([kp[1, i], halpe_extra[i]]).ravel().tolist(),
            "score": 2.5, "box": [0, 0, 1, 1], "idx": [0]} for i in rng.permutation(10)]
    (k / vid("c02") / "alphapose-results.json").write_text(json.dumps(res))
    info = preprocess_sequence(SEQ, cfg(tmp_path))
    out = load(tmp_path)
    np.testing.assert_array_equal(out["timestamps"], formats.frame_timestamps(10))
    want = kp[0].copy()
    want[[3, 7]] = np.nan
    np.testing.assert_array_equal(out["keypoints2d"][0], want)
    np.testing.assert_array_equal(out["det_scores"][0], np.where(np.isin(np.arange(10), [3, 7]), 0, 0.8).astype(np.float32))
    np.testing.assert_array_equal(out["keypoints2d"][1], kp[1])
    assert (out["det_scores"][1] == 2.5).all()
    assert info["joint_set"] == "mixed: coco17,halpe26" and load(tmp_path)["joint_set"] == "coco17"
    assert "keypoints2d_full" not in load(tmp_path)  # views of two sets share COCO-17 only
    assert read_video(k / vid("c02")).joint_set == "halpe26" and read_video(k / f"{vid('c01')}.json").joint_set == "coco17"


# ---- tracking --------------------------------------------------------------------------------
def walking_person(N, start, rng, step=3.0, size=300.0):
    centre = start + np.cumsum(rng.normal(0, step, (N, 2)), axis=0)
    fig = people("coco17", 1, rng)[0, :, :2]  # a figure, not random points (points 0-4 a head)
    offsets = (fig - fig.mean(0)) / np.ptp(fig[:, 1]) * size
    xy = centre[:, None] + offsets
    return np.concatenate([xy, np.full((N, 17, 1), 0.8)], -1)


def test_tracking_keeps_the_dancer_against_a_passer_by():
    rng = np.random.default_rng(4)
    N = 60
    dancer = walking_person(N, np.array([900.0, 500.0]), rng)
    passer = walking_person(N, np.array([200.0, 500.0]), rng, size=250)
    kp = np.full((N, 2, 17, 3), np.nan)
    scores = np.full((N, 2), np.nan)
    kp[:, 0], scores[:, 0] = dancer, 0.7
    # The passer-by shows up in frames 20-22 with a HIGHER score, listed first.
    for i in (20, 21, 22):
        kp[i] = [passer[i], dancer[i]]
        scores[i] = [0.95, 0.7]
    # A lingering audience member with a lower score in frames 40-59 (no single-person anchor after).
    kp[40:, 1], scores[40:, 1] = passer[40:], 0.4
    choice = select_dancer(kp, scores)
    picked = np.take_along_axis(kp, choice[:, None, None, None], 1)[:, 0]
    np.testing.assert_array_equal(picked, dancer)
    # The per-frame best would have switched (the test would be meaningless otherwise).
    assert (np.nanargmax(scores[20:23], axis=1) == 0).all()


def test_tracking_starts_on_the_consistent_person_and_handles_empty_frames():
    rng = np.random.default_rng(5)
    N = 30
    a = walking_person(N, np.array([400.0, 400.0]), rng)
    b = walking_person(N, np.array([1400.0, 400.0]), rng)
    kp = np.stack([b, a], 1)
    scores = np.tile([0.5, 0.8], (N, 1))
    scores[0] = [0.9, 0.8]  # b wins the first frame only
    kp[10:13], scores[10:13] = np.nan, np.nan  # nobody
    choice = select_dancer(kp, scores)
    assert (choice[10:13] == -1).all()
    assert (np.delete(choice, [10, 11, 12]) == 1).all()


def test_synth_like_distractor_end_to_end(tmp_path):
    """Low-score distractors (sometimes listed first) never replace the dancer."""
    rng = np.random.default_rng(6)
    kp, score = truth(rng, V=2, N=25, drop_joints=0.05)
    for v in range(2):
        frames = []
        for i in range(25):
            people = [kp[v, i]]
            if i % 4 == 1:
                d = kp[v, i].copy()
                d[:, :2] = d[:, :2] * 0.4 + 50
                d[:, 2] = 0.1
                people.insert(0 if i % 8 == 1 else 1, d)
            frames.append([to_set(p[None], BODY25, rng)[0] for p in people])
        write_openpose(tmp_path / "K", vid(f"c{v + 1:02d}"), frames)
    info = preprocess_sequence(SEQ, cfg(tmp_path, joint_set="body25"))
    out = load(tmp_path)
    np.testing.assert_array_equal(out["keypoints2d"][:2], kp)
    np.testing.assert_array_equal(out["det_scores"][:2], score)
    assert info["overrides"] == 0


# ---- missing and corrupt -----------------------------------------------------------------
def test_missing_frames_views_and_corrupt_files(tmp_path):
    rng = np.random.default_rng(7)
    kp, score = truth(rng, V=9, N=20)
    k = tmp_path / "K"
    for v in range(9):
        if v == 4:
            (k / vid("c05")).mkdir(parents=True)  # view c05: an empty folder
            continue
        frames = [[to_set(kp[v, i][None], BODY25, rng)[0]] for i in range(20)]
        if v == 0:
            frames[15:] = [None] * 5  # c01 stops early: no files for frames 15..19
        write_openpose(k, vid(f"c{v + 1:02d}"), frames)
    bad = {1: b'{"version": 1.3, "people": [{"pose_key', 2: b"\x00\xff not json", 3: b'{"people": [{"pose_keypoints_2d": [1, 2]}]}'}
    for v, data in bad.items():
        (k / vid(f"c{v + 1:02d}") / f"{vid(f'c{v + 1:02d}')}_{8:012d}_keypoints.json").write_bytes(data)
    (k / vid("c03") / f"{vid('c03')}_{9:012d}_keypoints.json").write_bytes(b"")
    (k / vid("c04") / f"{vid('c04')}_{9:012d}_keypoints.json").write_text(
        json.dumps({"people": [{"pose_keypoints_2d": ["x"] * 75}]}))  # right shape, not numbers
    report = run_preprocess(cfg(tmp_path, joint_set="body25"))
    (item,) = report.items
    assert item.status == "done", item.error
    out = load(tmp_path)
    want, want_score = kp.copy(), score.copy()
    want[4], want_score[4] = np.nan, 0
    want[0, 15:], want_score[0, 15:] = np.nan, 0
    for v in bad:
        want[v, 8], want_score[v, 8] = np.nan, 0
    want[2:4, 9], want_score[2:4, 9] = np.nan, 0
    np.testing.assert_array_equal(out["keypoints2d"], want)
    np.testing.assert_array_equal(out["det_scores"], want_score)
    np.testing.assert_array_equal(out["timestamps"], formats.frame_timestamps(20))
    assert item.info["missing_views"] == ["c05"] and item.info["corrupt"] == 5
    assert any(p.endswith(f"{vid('c02')}_{8:012d}_keypoints.json") for p in item.info["corrupt_files"])


def test_view_order_from_camera_json_and_union_of_timestamps(tmp_path):
    anno = tmp_path / "anno"
    formats.write_mapping(anno / "cameras" / "mapping.txt", {SEQ: "setting1"})
    formats.save_cameras(anno / "cameras" / "setting1.json", aist_like_ring(3, names=("c03", "c01", "c02")))
    rng = np.random.default_rng(8)
    kp, _ = truth(rng, V=3, N=6, drop_joints=0)
    for v, view in enumerate(("c01", "c02", "c03")):
        frames = [[to_set(kp[v, i][None], BODY25, rng)[0]] for i in range(6)]
        frames[v] = None  # each view lacks a different frame
        write_openpose(tmp_path / "K", vid(view), frames)
    preprocess_sequence(SEQ, cfg(tmp_path, anno_dir=anno, joint_set="body25"))
    out = load(tmp_path)
    assert out["keypoints2d"].shape == (3, 6, 17, 3)
    for slot, v in enumerate((2, 0, 1)):  # c03, c01, c02
        want = kp[v].copy()
        want[v] = np.nan
        np.testing.assert_array_equal(out["keypoints2d"][slot], want)


def test_a_late_view_is_compared_with_the_others_at_the_instant_it_shows(tmp_path):
    """As detect's chooser (tests/test_detect.py): view c01 runs 30 frames late (its camera's
    frame_offsets entry) and sees the dancer and, scored higher, a second person on the dancer's
    path 30 frames ahead (2.4 m); the other views see the dancer. Matched at the instants the frames show,
    the views agree on the dancer; frame for frame, on the other person."""
    from _figure import FIGURE

    from tests.conftest import save_setting

    N, late = 60, 30
    rig = aist_like_ring(3, size=(960, 540), focal=800)
    body = np.array([FIGURE[n] for n in COCO], float)

    def dancer(t):  # (len(t), 17, 3) cm, crossing the stage at 8 cm a frame
        return body[None] + np.asarray(t, float)[:, None, None] * np.array([8.0, 0, 0]) - [150, 0, 0]

    n = np.arange(N)
    seen = rig.project(dancer(n))  # (V, N, 17, 2) the instant of the common clock
    late_view = rig.project(dancer(n - late))[0]  # what c01 shows in its frame n
    conf = lambda xy, c: np.concatenate([xy, np.full(xy.shape[:-1] + (1,), c)], -1)  # noqa: E731
    for v, view in enumerate(("c01", "c02", "c03")):
        frames = [[conf(late_view[i], 0.7), conf(seen[0, i], 0.9)] if v == 0 else [conf(seen[v, i], 0.8)]
                  for i in range(N)]
        write_openpose(tmp_path / "K", vid(view), [[to_set(p[None], BODY25, np.random.default_rng(i))[0] for p in f]
                                                   for i, f in enumerate(frames)])
    got = {}
    for synced in (False, True):
        anno = save_setting(tmp_path / f"anno_{synced}", rig, SEQ, {0: late} if synced else None)
        preprocess_sequence(SEQ, cfg(tmp_path, anno_dir=anno, joint_set="body25"))
        kp = load(tmp_path)["keypoints2d"][0]
        got[synced] = np.all(np.abs(kp[..., :2] - late_view) < 1e-2, axis=(-1, -2))  # (N,) on the dancer
    assert got[True][late:].all()
    assert not got[False][late:].any()


def test_pack_puts_every_person_in_its_frame():
    rng = np.random.default_rng(9)
    E = 50
    frame = rng.integers(0, 12, E) * 10
    kp = rng.normal(size=(E, 4, 3)).astype(np.float32)
    sc = rng.random(E).astype(np.float32)
    ts, out, osc = pack(np.array([5]), frame, kp, sc)
    assert 5 in ts and np.isnan(osc[list(ts).index(5)]).all()
    for e in range(E):
        f = list(ts).index(frame[e])
        rank = int(np.sum(frame[:e] == frame[e]))
        np.testing.assert_array_equal(out[f, rank], kp[e])
        assert osc[f, rank] == sc[e]
    assert out.shape[1] == np.bincount(frame).max()


# ---- the command -------------------------------------------------------------------------
def test_cli_batch_resumes_and_reports(tmp_path):
    rng = np.random.default_rng(10)
    kp, _ = truth(rng, V=2, N=5)
    other = "gBR_sBM_cAll_d04_mBR0_ch01"
    for seq in (SEQ, other):
        for v in range(2):
            write_openpose(tmp_path / "K", vid(f"c{v + 1:02d}", seq), [[to_set(kp[v, i][None], BODY25, rng)[0]] for i in range(5)])
    args = ["preprocess", "--keypoints-dir", str(tmp_path / "K"), "--save-dir", str(tmp_path / "out"),
            "--executor", "serial", "--quiet", "--report", str(tmp_path / "r.json"), "--joint-set", "body25"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([f"{SEQ}.pkl", f"{other}.pkl"])
    res = CliRunner().invoke(app, args)
    assert json.loads((tmp_path / "r.json").read_text())["skipped"] == 2
    res = CliRunner().invoke(app, args + ["--sequence-names", "gHO_sBM_cAll_d20_mHO0_ch01"])
    assert res.exit_code == 2  # a sequence without detections fails (bad input), reported
    res = CliRunner().invoke(app, ["preprocess", "--save-dir", str(tmp_path / "out")])
    assert res.exit_code == 2 and "--keypoints-dir" in res.output
    # Options from a TOML file; a wrong value there is a one-line error (exit 2).
    toml = tmp_path / "c.toml"
    toml.write_text(f'[preprocess]\nkeypoints_dir = "{tmp_path / "K"}"\nsave_dir = "{tmp_path / "out2"}"\n'
                    'format = "openpose"\njoint_set = "body25"\nexecutor = "serial"\nquiet = true\n')
    res = CliRunner().invoke(app, ["preprocess", "--config", str(toml)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out2" / f"{SEQ}.pkl").is_file()
    toml.write_text(toml.read_text().replace('"openpose"', '"yolo"'))
    res = CliRunner().invoke(app, ["preprocess", "--config", str(toml)])
    assert res.exit_code == 2 and "format" in res.output


def test_job_tracking_overrides_a_brief_higher_scored_passer_by(tmp_path):
    rng = np.random.default_rng(11)
    N = 20
    dancer = walking_person(N, np.array([900.0, 500.0]), rng).astype(np.float32)
    passer = walking_person(N, np.array([150.0, 500.0]), rng, size=200).astype(np.float32)
    d = tmp_path / "K" / vid("c01")
    d.mkdir(parents=True)
    for i in range(N):
        people, scores = [dancer[i]], [0.7]
        if i in (8, 9):
            people, scores = [passer[i], dancer[i]], [0.99, 0.7]
        (d / f"{vid('c01')}_{i}.json").write_text(json.dumps({"keypoints": [p.tolist() for p in people], "detection_scores": scores}))
    info = preprocess_sequence(SEQ, cfg(tmp_path))
    np.testing.assert_array_equal(load(tmp_path)["keypoints2d"][0], dancer)
    assert info["overrides"] == 2
    preprocess_sequence(SEQ, cfg(tmp_path, tracking=False))
    np.testing.assert_array_equal(load(tmp_path)["keypoints2d"][0, 8:10], passer[8:10])


def test_synth_writer_conventions_roundtrip(tmp_path):
    """synth's own detection simulator and OpenPose writer (as ``aistpp synth`` calls them, on
    random body points instead of a SMPL motion) -> preprocess == synth's keypoints2d, bit for bit."""
    from aistpp.pipeline.synth.detections import make_detections
    from aistpp.pipeline.synth.openpose import body25_from_coco, make_distractor, write_openpose_video

    rng = np.random.default_rng(13)
    N = 60
    rig = aist_like_ring()
    centre = np.cumsum(rng.normal(0, 1.0, (N, 1, 3)), axis=0) * [1, 0, 1]
    kp3d = centre + rng.uniform([-30, 0, -30], [30, 170, 30], (1, 17, 3)) + rng.normal(0, 2, (N, 17, 3))
    feet3d = centre + rng.uniform([-30, 0, -30], [30, 10, 30], (1, 6, 3))
    det = make_detections(rig, kp3d, rng, missing_frame_rate=0.05, feet3d=feet3d)
    body25 = body25_from_coco(det["keypoints2d"], det["feet2d"])
    hide = (~det["missing"]) & (det["det_scores"] > 0.4) & (rng.random(det["missing"].shape) < 0.1)
    for v in range(len(rig)):
        distractors = {int(i): (make_distractor(body25[v, i], rig.sizes[v], rng), bool(rng.random() < 0.5))
                       for i in np.flatnonzero(hide[v])}
        write_openpose_video(tmp_path / "K", vid(rig.names[v]), body25[v], det["missing"][v], distractors)
    assert hide.sum() > 10 and det["missing"].any() and np.isnan(det["keypoints2d"]).any()
    preprocess_sequence(SEQ, cfg(tmp_path, joint_set="body25"))
    out = load(tmp_path)
    np.testing.assert_array_equal(out["keypoints2d"], det["keypoints2d"])
    np.testing.assert_array_equal(out["det_scores"], det["det_scores"])
    np.testing.assert_array_equal(out["timestamps"], formats.frame_timestamps(N))


def test_synth_detections_reproduce_synth_keypoints2d(synth_data, tmp_path):
    """synth's OpenPose JSON -> preprocess == synth's own keypoints2d pickles, bit for bit."""
    config = PreprocessConfig(keypoints_dir=synth_data.detections_dir, save_dir=tmp_path / "out",
                              anno_dir=synth_data.anno_dir, executor="serial", quiet=True)
    report = run_preprocess(config)
    assert sorted(it.name for it in report.items) == sorted(synth_data.sequences)
    assert all(it.status == "done" for it in report.items), [it.error for it in report.items]
    for seq in synth_data.sequences:
        ours = formats.load_keypoints2d(tmp_path / "out" / f"{seq}.pkl")
        want = synth_data.keypoints2d[seq]
        np.testing.assert_array_equal(ours["keypoints2d"], want["keypoints2d"])
        np.testing.assert_array_equal(ours["det_scores"], want["det_scores"])
        np.testing.assert_array_equal(ours["timestamps"], want["timestamps"])
        assert np.isnan(want["keypoints2d"]).any()  # the comparison covers missing joints/frames
    assert synth_data.truth[synth_data.sequences[0]]["distractor"].any() or synth_data.truth[synth_data.sequences[1]]["distractor"].any()


def test_full_set_with_an_empty_view_and_results_without_score(tmp_path):
    rng = np.random.default_rng(12)
    kp, score = truth(rng, V=1, N=4, drop_joints=0)
    native = to_set(kp, COCO18, rng)
    write_openpose(tmp_path / "K", vid("c01"), [[native[0, i]] for i in range(4)])
    write_openpose(tmp_path / "K", vid("c02"), [[] for _ in range(4)])  # nobody, ever
    preprocess_sequence(SEQ, cfg(tmp_path))
    out = load(tmp_path)
    assert out["keypoints2d_full"].shape == (9, 4, 18, 3) and out["joint_set"] == "coco18"
    assert np.isnan(out["keypoints2d_full"][1]).all() and (out["det_scores"][1] == 0).all()
    np.testing.assert_array_equal(out["keypoints2d"][0], kp[0])
    # A COCO results entry without "score" is scored like OpenPose (mean COCO confidence).
    (tmp_path / "R").mkdir()
    res = [{"image_id": i, "keypoints": kp[0, i].ravel().tolist()} for i in range(4)]
    (tmp_path / "R" / f"{vid('c01')}.json").write_text(json.dumps(res))
    d = read_video(tmp_path / "R" / f"{vid('c01')}.json")
    np.testing.assert_array_equal(d.scores[:, 0], score[0])
