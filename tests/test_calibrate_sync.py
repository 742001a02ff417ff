"""Per-view time offsets end to end, and 2-camera rigs.

``aistpp calibrate`` writes each camera's ``frame_offset`` (view v's frame n + o shows the common
instant n); ``triangulate`` and ``vis`` apply it. The synthetic truth is generated here: a dancer
seen by a rig of a real layout, two views recorded out of sync by known offsets (their frame n
shows the instant n - o), detector faults as in test_calibrate_layouts.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from _geometry import aligned_errors
from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.align import rig_errors, similarity_transform, transform_rig
from aistpp.core.cameras import CameraRig
from aistpp.core.frame_offsets import read_frame_offsets, shift_views
from aistpp.errors import AistppError
from aistpp.pipeline.calibrate_solve import solve
from aistpp.pipeline.synth.rig import make_layout
from test_calibrate import perturb
from test_calibrate_layouts import dancer, faulty_detections

SEQ = "gBR_sBM_cAll_d04_mBR0_ch01"
PAD = 30  # faulty_detections' margin: common frame n shows the dancer's X[n + PAD]


# ---- the convention ------------------------------------------------------------------------------
def test_shift_views_sign_fraction_and_sequences():
    arr = (100.0 * np.arange(2)[:, None] + np.arange(6)[None])[..., None]  # view v, frame k holds 100 v + k
    out = shift_views(arr, [0, 2])[..., 0]
    np.testing.assert_array_equal(out[0], np.arange(6))
    np.testing.assert_array_equal(out[1, :4], 100 + np.arange(2, 6))  # frame n + 2 of view 1
    assert np.isnan(out[1, 4:]).all()
    half = shift_views(arr, [0, -1.5])[1, :, 0]  # between frames n - 2 and n - 1
    assert np.isnan(half[:2]).all()
    np.testing.assert_allclose(half[2:], 100 + np.arange(2, 6) - 1.5)
    seq = shift_views(arr, [0, 1], np.array([0, 0, 0, 1, 1, 1]))[1, :, 0]  # never across sequences
    assert np.isnan(seq[[2, 5]]).all() and seq[1] == 102 and seq[3] == 104


def test_frame_offsets_read_missing_and_refused(tmp_path):
    rig = make_layout("portrait4", np.random.default_rng(0))
    items = rig.to_json_list()
    items[1]["frame_offset"], items[3]["frame_offset"] = -4, 2.5
    path = tmp_path / "setting1.json"
    formats.save_json(path, items)
    np.testing.assert_array_equal(read_frame_offsets(path, rig.names), [0, -4, 0, 2.5])  # no key: 0
    np.testing.assert_array_equal(read_frame_offsets(path, rig.names[::-1]), [2.5, 0, -4, 0])  # by name
    assert formats.load_cameras(path).names == rig.names  # the rig reader ignores the key
    for bad in ("3", True, None, 1e9, [1]):
        items[2]["frame_offset"] = bad
        formats.save_json(path, items)
        with pytest.raises(AistppError, match="frame_offset") as info:
            read_frame_offsets(path, rig.names)
        assert "setting1.json" in str(info.value)


# ---- calibrate -> triangulate ------------------------------------------------------------------
def _dataset(root, truth, det, conf):
    anno = root / "anno"
    formats.write_mapping(anno / "cameras" / "mapping.txt", {SEQ: "setting1"})
    kp = np.concatenate([det, conf[..., None]], axis=-1)
    N = kp.shape[1]
    formats.save_keypoints2d(anno / "keypoints2d" / f"{SEQ}.pkl", kp, np.ones(kp.shape[:2]),
                             np.round(np.arange(N) * 1e6 / 60), view_names=list(truth.names), image_sizes=truth.sizes)
    return anno


def _calibrate_triangulate(root, anno, extra=()):
    cams = root / "cams"
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(cams), "--executor",
                                   "serial", "--max-frames", "200", "--quiet", *extra])
    assert res.exit_code == 0, res.output
    return cams, _triangulate(root, anno, cams)


def _triangulate(root, anno, cams, tag="k3d"):
    out = root / tag
    res = CliRunner().invoke(app, ["triangulate", "--anno-dir", str(anno), "--cameras-dir", str(cams), "--save-dir",
                                   str(out), "--executor", "serial", "--quiet", "--no-optimise"])
    assert res.exit_code == 0, res.output
    return formats.load_keypoints3d(out / f"{SEQ}.pkl")["keypoints3d"]


def _error_cm(k3d, X):
    truth = X[PAD:PAD + len(k3d)]
    err, _, ok = aligned_errors(k3d.reshape(-1, 3), truth.reshape(-1, 3))
    return float(np.median(err)), float(ok.mean())


@pytest.fixture(scope="module")
def sync_worlds(tmp_path_factory):
    """The same dancer, rig and detector faults recorded twice: in sync, and with two views out of
    sync (-10 and +7 frames); each calibrated from its keypoints alone, then triangulated."""
    rng = np.random.default_rng(21)
    truth = make_layout("ring8_ccw", rng)
    V, N = len(truth), 200
    X = dancer(N + 2 * PAD, rng)
    offsets = np.zeros(V, int)
    offsets[2], offsets[5] = -10, 7
    out = {"truth": truth, "X": X, "offsets": offsets}
    for name, o in (("synced", np.zeros(V, int)), ("desynced", offsets)):
        det, conf = faulty_detections(truth, X, np.random.default_rng(5), o)  # the same faults in both
        root = tmp_path_factory.mktemp(name)
        anno = _dataset(root, truth, det, conf)
        cams, k3d = _calibrate_triangulate(root, anno)
        out[name] = {"root": root, "anno": anno, "cams": cams, "k3d": k3d}
    return out


def test_offsets_written_and_applied_by_triangulate(sync_worlds):
    w = sync_worlds
    items = json.loads((w["desynced"]["cams"] / "setting1.json").read_text())
    np.testing.assert_allclose([it["frame_offset"] for it in items], w["offsets"], atol=0.15)  # sub-frame, to 0.01
    assert [it["frame_offsets"] for it in items] == [{SEQ: it["frame_offset"]} for it in items]  # one sequence
    assert all(abs(it["frame_offset"]) <= 0.15 for it in json.loads((w["synced"]["cams"] / "setting1.json").read_text()))
    synced, seen_s = _error_cm(w["synced"]["k3d"], w["X"])
    desynced, seen_d = _error_cm(w["desynced"]["k3d"], w["X"])
    assert synced < 2.0  # cm, 2 px noise at 5 m
    # the de-synced recording, calibrated and triangulated, is as good as the synchronised one
    assert desynced <= 1.15 * synced + 0.2, (synced, desynced)
    assert seen_d > 0.97 * seen_s  # only the frames the late/early views miss at the ends are lost
    # the same cameras with the offsets dropped: triangulate pairs instants 10 and 7 frames apart
    root = w["desynced"]["root"]
    items0 = [{k: v for k, v in it.items() if k not in ("frame_offset", "frame_offsets")} for it in items]
    stripped = root / "stripped"
    formats.save_json(stripped / "setting1.json", items0)
    (stripped / "mapping.txt").write_text((w["desynced"]["cams"] / "mapping.txt").read_text())
    ignored = _error_cm(_triangulate(root, w["desynced"]["anno"], stripped, "k3d_stripped"), w["X"])[0]
    assert ignored > desynced
    from aistpp.pipeline.triangulate import TriangulateConfig, triangulate_sequence

    late = [w["truth"].names[v] for v in np.flatnonzero(w["offsets"])]
    for cams, suspect in ((stripped, late), (w["desynced"]["cams"], [])):
        cfg = TriangulateConfig(anno_dir=w["desynced"]["anno"], cameras_dir=cams, save_dir=root / "k3d_check",
                                optimise=False)
        assert triangulate_sequence(SEQ, cfg)["suspect_views"] == suspect  # their rays miss the others'


def test_offsets_that_differ_between_sequences_are_reported():
    """Two recordings of one setting, synchronised differently in one view (each AIST++ sequence is
    its own recording; the released setting4's two sequences differ by a frame in some views):
    the report gives each sequence's offsets and names that view."""
    rng = np.random.default_rng(31)
    truth = make_layout("ring8_ccw", rng)
    V, N = len(truth), 150
    first, second = np.zeros(V, int), np.zeros(V, int)
    first[3] = second[3] = 5
    second[6] = 3  # view 6 is 3 frames late in the second recording only
    parts = [faulty_detections(truth, dancer(N + 2 * PAD, rng), rng, o) for o in (first, second)]
    det = np.concatenate([p[0] for p in parts], axis=1)
    conf = np.concatenate([p[1] for p in parts], axis=1)
    seq_id = np.repeat([0, 1], N)
    sol = solve(det, conf, seq_id, truth.sizes, truth.names, max_frames=2 * N)
    assert not sol.failed, [c.detail for c in sol.failed]
    assert sol.report["offsets_by_sequence"] == {0: first.tolist(), 1: second.tolist()}
    assert sol.report["offsets_differ_by_sequence"] == [truth.names[6]]
    assert sol.offsets[3] == 5
    # applied per sequence (the adjustment used them), to a fraction of a frame
    assert np.abs(sol.frame_offsets - np.stack([first, second])).max() <= 0.15, sol.frame_offsets


# ---- vis ----------------------------------------------------------------------------------------
def test_vis_draws_each_view_on_the_common_clock(tmp_path):
    """A view with time offset o (its sequence's ``frame_offsets`` entry, else ``frame_offset``) shows
    its video frame i + o at output frame i, with the 3D points of instant i and its own detections
    of frame i + o (video frames carry a counter)."""
    from test_vis import COCO_SIDE, JOINT_COLORS, SEQ as VIS_SEQ, decode, isolated, make_mini, near
    from aistpp.pipeline.vis import BACKGROUND_BGR, VisConfig, vis_video

    rig, kp3d, kp2d, anno, video_dir = make_mini(tmp_path)
    items = rig.to_json_list()
    # the sequence's own entries (frame_offsets) come first; frame_offset (the setting's) is for other sequences
    items[2].update(frame_offset=-5, frame_offsets={VIS_SEQ: 3, "gBR_sBM_cAll_d04_mBR0_ch09": 1})
    items[1]["frame_offset"] = -2
    formats.save_json(anno / "cameras" / "setting1.json", items)
    proj = rig.project(kp3d)
    name = VIS_SEQ.replace("cAll", "c03")
    info = vis_video(name, VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path / "3d", video_name=name,
                                     mode="3d", start=2, end=8))
    _, frames = decode(tmp_path / "3d" / f"{name}.mp4")
    assert info["frames"] == len(frames) == 6
    for k, i in enumerate(range(2, 8)):
        assert round(frames[k][8:24, 8:24, 1].mean() / 16) == i + 3  # video frame i + 3 ...
        for j in isolated(proj[2, i], (9, 10, 15)):  # ... with the points of instant i
            x, y = np.round(proj[2, i, j]).astype(int)
            assert near(frames[k][y, x], JOINT_COLORS[COCO_SIDE[j]]), (i, j)
    # the video has 12 frames: with o = 3 the common clock reaches instant 8 only
    info = vis_video(name, VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path / "all", video_name=name,
                                     mode="2d"))
    assert info["frames"] == 9 and info["warnings"]
    _, frames = decode(tmp_path / "all" / f"{name}.mp4")
    for i in (0, 4, 8):  # detections of the view's own frame i + 3, on that frame
        assert round(frames[i][8:24, 8:24, 1].mean() / 16) == i + 3
        for j in isolated(kp2d[2, i + 3], (0, 5, 11, 16)):
            x, y = np.round(kp2d[2, i + 3, j]).astype(int)
            assert near(frames[i][y, x], JOINT_COLORS[COCO_SIDE[j]]), (i, j)
    # o = -2: instants 0 and 1 come before the view's first frame (background), then video frame i - 2
    name = VIS_SEQ.replace("cAll", "c02")
    vis_video(name, VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path / "neg", video_name=name,
                              mode="3d", end=5))
    _, frames = decode(tmp_path / "neg" / f"{name}.mp4")
    assert len(frames) == 5
    for i in (0, 1):
        assert np.abs(frames[i][8:24, 8:24].astype(int) - BACKGROUND_BGR).max() < 12
    assert [round(frames[i][8:24, 8:24, 1].mean() / 16) for i in (2, 3, 4)] == [0, 1, 2]


# ---- 2-camera rigs -------------------------------------------------------------------------------
def _pose_aligned_errors(est: CameraRig, truth: CameraRig) -> dict:
    """rig_errors after aligning centres and a point 3 m ahead of each camera (two centres alone
    leave the rotation about their baseline free)."""
    pts = lambda r: np.concatenate([r.centers, r.centers + 300.0 * r.R[:, 2]])  # noqa: E731
    return rig_errors(transform_rig(est, *similarity_transform(pts(est), pts(truth))), truth, align=False)


def test_two_cameras_with_known_intrinsics_and_an_offset():
    """Two cameras 80-100 deg apart, intrinsics known, a rough start (3 deg, 20 cm off), one view
    6 frames late: offset exact, poses to a fraction of a degree."""
    rng = np.random.default_rng(5)
    full = make_layout("aist9", rng)
    truth = full.subset(["c01", "c03"])
    N = 300
    offsets = np.array([0, 6])
    det, conf = faulty_detections(truth, dancer(N + 2 * PAD, rng), rng, offsets)
    rough = perturb(truth, np.random.default_rng(1), 3.0, 20.0)
    start = CameraRig(truth.names, truth.sizes, truth.K, truth.dist, rough.rvec, rough.tvec)
    assert _pose_aligned_errors(start, truth)["rotation_deg"].max() > 1.0
    sol = solve(det, conf, np.zeros(N, int), truth.sizes, truth.names, start, max_frames=N, intrinsics=())
    assert not sol.failed, [c.detail for c in sol.failed]
    np.testing.assert_array_equal(sol.offsets, offsets)
    e = _pose_aligned_errors(sol.rig, truth)
    assert e["rotation_deg"].max() < 0.5 and e["center_cm"].max() < 3.0


def test_three_cameras_from_keypoints_alone_offset_exact():
    """Three views (AIST cameras c01, c03, c06), focal lengths unknown, one view 6 frames late:
    each offset is resected against only two other views, and the camera adjusted at a start one
    frame off held it (found [-1, 6, 0] before offsets were polished by whole adjustments)."""
    rng = np.random.default_rng(5)
    truth = make_layout("aist9", rng).subset(["c01", "c03", "c06"])
    N = 300
    offsets = np.array([0, 6, 0])
    det, conf = faulty_detections(truth, dancer(N + 2 * PAD, rng), rng, offsets)
    sol = solve(det, conf, np.zeros(N, int), truth.sizes, truth.names, max_frames=N)
    assert not sol.failed, [c.detail for c in sol.failed]
    np.testing.assert_array_equal(sol.offsets, offsets)
    e = rig_errors(sol.rig, truth)
    assert e["rotation_deg"].max() < 0.3 and e["center_cm"].max() < 5 and e["focal_rel"].max() < 0.02


def test_two_cameras_with_unknown_focal_are_refused(tmp_path):
    """Two views, focal lengths unknown: the rig that fits best is far from the truth (both cameras
    look at the dancer: the degenerate case of two-view self-calibration), so calibrate refuses
    with the reason and the way out, and writes nothing."""
    rng = np.random.default_rng(8)
    truth = make_layout("portrait4", rng).subset(["phone_left", "phone_b"])
    det, conf = faulty_detections(truth, dancer(150 + 2 * PAD, rng), rng, np.zeros(2, int))
    with pytest.raises(AistppError, match="2 views"):
        solve(det, conf, np.zeros(150, int), truth.sizes, truth.names)
    anno = _dataset(tmp_path, truth, det, conf)
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "cams"),
                                   "--executor", "serial", "--quiet"])
    assert res.exit_code != 0 and "2 views" in res.output and "--fix-intrinsics" in res.output
    assert not (tmp_path / "cams" / "setting1.json").exists()
