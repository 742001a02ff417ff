"""Triangulation: exactness, NaN rules, robustness and temporal optimisation against ground truth
generated here, and against aniposelib's CameraGroup.triangulate on the same input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.cameras import CameraRig
from aistpp.core.joints import COCO_BONES, COCO_FLIP
from aistpp.core.rig import aist_like_ring
from aistpp.core.triangulation import triangulate_dlt, triangulate_robust
from aistpp.pipeline.triangulate import triangulate_keypoints
from aistpp.core.gaps import fill_gaps, short_gaps_filled
from aistpp.pipeline.triangulate_optim import OptimOptions, optimise_keypoints3d

SEQ = "gWA_sFM_cAll_d27_mWA2_ch21"


# ---- ground truth generated here ------------------------------------------------------------
def distorted_rig(rng: np.random.Generator) -> CameraRig:
    r = aist_like_ring()
    dist = np.zeros((9, 5))
    dist[:, 0] = rng.uniform(-0.1, 0.1, 9)
    dist[:, 1] = rng.uniform(-0.05, 0.05, 9)
    dist[:, 2:4] = rng.uniform(-1e-3, 1e-3, (9, 2))
    return CameraRig(r.names, r.sizes, r.K, dist, r.rvec, r.tvec)


def stick_figure(num_frames: int, rng: np.random.Generator, fps: float = 60.0) -> np.ndarray:
    """A smoothly moving COCO-17 body (N, 17, 3) cm whose bone lengths are exactly constant."""
    t = np.arange(num_frames) / fps

    def wave(amp, hz):
        return amp * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))

    root = np.stack([wave(30, 0.2), 95 + wave(4, 1.0), wave(30, 0.15)], axis=-1)
    body = Rotation.from_euler("yx", np.stack([0.8 * t + wave(0.4, 0.5), wave(0.15, 0.7)], axis=-1))
    head = Rotation.from_euler("yxz", np.stack([wave(0.5, 0.6), wave(0.3, 0.8), wave(0.2, 0.9)], axis=-1))
    pts = np.zeros((num_frames, 17, 3))
    for j, p in {5: (17, 50, 0), 6: (-17, 50, 0), 11: (11, 0, 0), 12: (-11, 0, 0)}.items():  # rigid torso
        pts[:, j] = root + body.apply(np.array(p, float))
    neck = root + body.apply(np.array([0, 56, 0.0]))
    for j, p in {0: (0, 14, 9), 1: (3.5, 17, 7), 2: (-3.5, 17, 7), 3: (7.5, 15, 0), 4: (-7.5, 15, 0)}.items():
        pts[:, j] = neck + body.apply(head.apply(np.array(p, float)))  # rigid head
    lengths = {7: 28.0, 8: 28.0, 9: 25.0, 10: 25.0, 13: 42.0, 14: 42.0, 15: 40.0, 16: 40.0}
    for parent, child, rest in ((5, 7, (1, -1, 0)), (7, 9, (1, -1, 0)), (6, 8, (-1, -1, 0)), (8, 10, (-1, -1, 0)),
                                (11, 13, (0.1, -1, 0.1)), (13, 15, (0.1, -1, 0.1)), (12, 14, (-0.1, -1, 0.1)),
                                (14, 16, (-0.1, -1, 0.1))):
        d = np.array(rest, float) + np.stack([wave(0.8, rng.uniform(0.4, 1.4)) for _ in range(3)], axis=-1)
        pts[:, child] = pts[:, parent] + lengths[child] * body.apply(d / np.linalg.norm(d, axis=-1, keepdims=True))
    return pts


def corrupt(rig: CameraRig, points3d: np.ndarray, rng: np.random.Generator, noise_px=2.0, outlier_rate=0.05,
            missing_rate=0.02):
    """Detections (V, N, J, 2) px: noise, gross outliers (left/right swap or another limb's joint), misses.
    Returns (points, confidences (V, N, J), outlier mask (V, N, J))."""
    proj = rig.project(points3d)
    obs = proj + rng.normal(0, noise_px, proj.shape)
    V, N, J = proj.shape[:3]
    out = rng.random((V, N, J)) < outlier_rate
    other = np.where(rng.random((V, N, J)) < 0.5, COCO_FLIP, rng.integers(0, J, (V, N, J)))
    other = np.where(other == np.arange(J), (np.arange(J) + 5) % J, other)
    wrong = np.take_along_axis(proj, other[..., None], axis=2) + rng.normal(0, noise_px, proj.shape)
    obs = np.where(out[..., None], wrong, obs)
    miss = rng.random((V, N, J)) < missing_rate
    obs[miss] = np.nan
    return obs, rng.uniform(0.5, 1.0, (V, N, J)), out & ~miss


def mpjpe(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmean(np.linalg.norm(a - b, axis=-1)))


def aniposelib_triangulate(rig: CameraRig, pts: np.ndarray) -> np.ndarray:
    """aniposelib's CameraGroup.triangulate(undistort=True), with its per-point DLT run as plain
    Python (``py_func``): the same code without numba's parallel JIT, whose compile takes tens of
    seconds on a busy 2-core machine."""
    import aniposelib.cameras as ac

    V, N, J, _ = pts.shape
    jitted = ac.triangulate_simple
    ac.triangulate_simple = getattr(jitted, "py_func", jitted)
    try:
        out = rig.to_aniposelib().triangulate(pts.reshape(V, N * J, 2), undistort=True, progress=False)
    finally:
        ac.triangulate_simple = jitted
    return out.reshape(N, J, 3)


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(7)
    rig = distorted_rig(rng)
    gt = stick_figure(240, rng)
    obs, conf, out = corrupt(rig, gt, rng)
    return rig, gt, obs, conf, out


# ---- plain DLT ----------------------------------------------------------------------------------
def test_dlt_is_exact_on_noiseless_distorted_views():
    rng = np.random.default_rng(0)
    rig = distorted_rig(rng)
    X = rng.normal([0, 100, 0], 50, (40, 17, 3))
    got = triangulate_dlt(rig, rig.project(X))
    assert np.abs(got - X).max() < 1e-6


def test_dlt_agrees_with_aniposelib_on_clean_noisy_views():
    rng = np.random.default_rng(1)
    rig = distorted_rig(rng)
    X = rng.normal([0, 100, 0], 50, (40, 17, 3))
    obs = rig.project(X) + rng.normal(0, 2.0, (9, 40, 17, 2))
    ours, theirs = triangulate_dlt(rig, obs), aniposelib_triangulate(rig, obs)
    assert mpjpe(ours, theirs) < 0.25  # the same estimator up to the weighting of the views
    assert mpjpe(ours, X) < 1.03 * mpjpe(theirs, X)


def test_nan_only_where_fewer_than_two_views_or_degenerate():
    rng = np.random.default_rng(2)
    rig = aist_like_ring()
    X = rng.normal([0, 100, 0], 30, (4, 17, 3))
    obs = rig.project(X)
    conf = np.ones(obs.shape[:3])
    obs[1:, 0, 0] = np.nan  # one view only -> NaN
    obs[2:, 0, 1] = np.nan  # two views -> exact
    conf[1:, 0, 2] = 0.1  # one view above the confidence threshold -> NaN
    got = triangulate_dlt(rig, obs, conf, min_confidence=0.15)
    assert np.isnan(got[0, 0]).all() and np.isnan(got[0, 2]).all()
    assert np.abs(got[0, 1] - X[0, 1]).max() < 1e-6
    assert np.isfinite(got[1:]).all()
    # two cameras at almost the same place: parallel rays -> NaN, not a point 10 m away
    twin = CameraRig(("a", "b"), rig.sizes[:2], rig.K[:2], rig.dist[:2], rig.rvec[[0, 0]],
                     rig.tvec[[0, 0]] + [[0, 0, 0], [0.01, 0, 0]])
    assert np.isnan(triangulate_dlt(twin, twin.project(X) + rng.normal(0, 1, (2, 4, 17, 2)))).all()
    assert np.isnan(triangulate_robust(twin, twin.project(X) + rng.normal(0, 1, (2, 4, 17, 2))).points3d).all()


def test_confidence_weights_the_views():
    rng = np.random.default_rng(3)
    rig = aist_like_ring()
    X = rng.normal([0, 100, 0], 30, (50, 17, 3))
    obs = rig.project(X)
    obs[0] += 40.0  # view c01 is off by 40 px everywhere
    conf = np.ones(obs.shape[:3])
    plain = mpjpe(triangulate_dlt(rig, obs, conf), X)
    conf[0] = 0.16  # ... but it says so
    weighted = mpjpe(triangulate_dlt(rig, obs, conf), X)
    assert weighted < 0.1 * plain


# ---- robust and optimised -------------------------------------------------------------------------
def test_robust_rejects_outliers_and_beats_aniposelib(scene):
    rig, gt, obs, conf, out = scene
    tri = triangulate_robust(rig, obs, conf)
    ours, theirs = mpjpe(tri.points3d, gt), mpjpe(aniposelib_triangulate(rig, obs), gt)
    assert ours <= 1.5 and ours <= 0.7 * theirs, (ours, theirs)
    assert np.isfinite(tri.points3d).all()  # 2 % missing never leaves fewer than two views here
    far = out & (np.linalg.norm(obs - rig.project(gt), axis=-1) > 30)  # gross outliers
    assert (far & ~tri.inliers).sum() >= 0.97 * far.sum()
    clean = tri.observed & ~out
    assert (clean & ~tri.inliers).sum() <= 0.01 * clean.sum()
    assert tri.outliers_per_view.sum() == (tri.observed & ~tri.inliers).sum()


def test_optimised_is_smoother_more_accurate_and_keeps_bones(scene):
    rig, gt, obs, conf, out = scene
    res = triangulate_keypoints(rig, np.concatenate([obs, conf[..., None]], axis=-1))
    plain, optim = res["keypoints3d"], res["keypoints3d_optim"]
    theirs = mpjpe(aniposelib_triangulate(rig, obs), gt)
    assert mpjpe(optim, gt) <= 1.0 and mpjpe(optim, gt) <= 0.7 * theirs
    assert mpjpe(optim, gt) < 0.8 * mpjpe(plain, gt)
    bones = lambda p: np.linalg.norm(p[:, COCO_BONES[:, 0]] - p[:, COCO_BONES[:, 1]], axis=-1)  # noqa: E731
    assert bones(optim).std(axis=0).mean() < 0.5 * bones(plain).std(axis=0).mean()
    assert res["reproj_optim_px"] < 3.0 and res["reproj_px"] < 3.0
    assert 0.03 < res["outlier_fraction"] < 0.07


def test_optim_fills_short_gaps_only_and_windows_agree(scene):
    rig, gt, obs, conf, out = scene
    obs = obs.copy()
    obs[:, 100:106, 9] = np.nan  # left wrist unseen for 6 frames
    obs[:, 150:200, 10] = np.nan  # right wrist unseen for 50 frames
    tri = triangulate_robust(rig, obs, conf)
    assert np.isnan(tri.points3d[100:106, 9]).all()
    xy, w = rig.undistort(obs), np.where(tri.inliers, conf, 0.0)
    whole = optimise_keypoints3d(rig, xy, w, tri.points3d, OptimOptions(max_gap=15, window=1000))
    assert np.isfinite(whole[100:106, 9]).all()
    assert np.linalg.norm(whole[100:106, 9] - gt[100:106, 9], axis=-1).max() < 3.0
    assert np.isnan(whole[150:200, 10]).all() and np.isfinite(whole[:150]).all()
    windowed = optimise_keypoints3d(rig, xy, w, tri.points3d, OptimOptions(max_gap=15, window=70, overlap=30))
    assert np.nanmax(np.abs(windowed - whole)) < 0.3
    assert np.array_equal(np.isnan(windowed), np.isnan(whole))


def test_fill_gaps_interpolates_linearly():
    pts = np.zeros((10, 2, 3))
    pts[:, 0, 0] = np.arange(10.0)
    pts[3:5, 0] = np.nan  # short gap
    pts[:, 1] = np.nan  # never seen
    out, active = short_gaps_filled(pts, max_gap=2)
    assert np.allclose(out[3:5, 0, 0], [3.0, 4.0]) and active[:, 0].all()
    assert not active[:, 1].any() and np.isnan(out[:, 1]).all()
    _, active = short_gaps_filled(pts, max_gap=1)
    assert not active[3:5, 0].any() and active[5:, 0].all()
    # fit-smpl's variant: linear in the given times, a joint never seen takes its frame's mean
    times = np.arange(10.0) ** 2
    full = fill_gaps(pts, times)
    assert np.allclose(full[3:5, 0, 0], 2 + (times[3:5] - 4) / (25 - 4) * 3)
    assert np.allclose(full[:, 1], full[:, 0])


# ---- files and CLI ----------------------------------------------------------------------------
def write_dataset(root, rig, obs, conf):
    formats.write_mapping(root / "cameras" / "mapping.txt", {SEQ: "setting1"})
    formats.save_cameras(root / "cameras" / "setting1.json", rig)
    kp = np.concatenate([obs, np.where(np.isfinite(obs[..., :1]), conf[..., None], np.nan)], axis=-1)
    V, N = obs.shape[:2]
    formats.save_keypoints2d(root / "keypoints2d" / f"{SEQ}.pkl", kp, np.ones((V, N)), np.arange(N))


def test_cli_writes_dataset_files_and_flags_a_bad_view(tmp_path, scene):
    rig, gt, obs, conf, out = scene
    obs = obs[:, :80].copy()
    obs[2] = obs[2, ::-1]  # c03 plays backwards: a de-synced video
    write_dataset(tmp_path / "anno", rig, obs, conf[:, :80])
    save = tmp_path / "out"
    args = ["triangulate", "--anno-dir", str(tmp_path / "anno"), "--save-dir", str(save), "--executor", "serial",
            "--report", str(tmp_path / "report.json")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "c03" in res.output  # warned about
    data = formats.load_keypoints3d(save / f"{SEQ}.pkl")
    assert data["keypoints3d"].shape == data["keypoints3d_optim"].shape == (80, 17, 3)
    assert mpjpe(data["keypoints3d_optim"], gt[:80]) < 1.0
    import json

    item = json.loads((tmp_path / "report.json").read_text())["items"][0]["info"]
    per_view = item["outliers_per_view"]
    assert max(per_view, key=per_view.get) == "c03" and item["suspect_views"] == ["c03"]
    assert item["reproj_optim_px"] < 3.0
    again = CliRunner().invoke(app, args)  # resumable: the output exists
    assert again.exit_code == 0 and "1 skipped" in again.output


def test_cli_user_errors_exit_2(tmp_path):
    res = CliRunner().invoke(app, ["triangulate", "--anno-dir", str(tmp_path / "nope"), "--save-dir", str(tmp_path)])
    assert res.exit_code == 2 and "nope" in res.output
    res = CliRunner().invoke(app, ["triangulate", "--save-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--anno-dir" in res.output


def test_synth_dataset_end_to_end(synth_data, tmp_path):
    """The shared synthetic dataset (SMPL-driven motion, 960x540 views, the synth fault model)."""
    from aistpp.pipeline.triangulate import TriangulateConfig, run_triangulate

    cfg = TriangulateConfig(anno_dir=synth_data.anno_dir, save_dir=tmp_path, executor="serial", quiet=True)
    report = run_triangulate(cfg)
    assert not report.failed, report.failed[0].error if report.failed else ""
    for seq in synth_data.sequences:
        gt = synth_data.keypoints3d[seq]
        data = formats.load_keypoints3d(tmp_path / f"{seq}.pkl")
        ok = np.isfinite(data["keypoints3d"]).all(axis=-1)
        assert ok.mean() > 0.9
        pts = synth_data.keypoints2d[seq]["keypoints2d"][..., :2].astype(np.float64)
        theirs = mpjpe(aniposelib_triangulate(synth_data.rig, pts), gt)
        plain, optim = mpjpe(data["keypoints3d"], gt), mpjpe(data["keypoints3d_optim"], gt)
        assert plain < 0.9 * theirs  # few gross outliers in this fixture: a smaller margin than at 5 %
        assert optim < 0.9 * plain


def test_against_synth_detection_faults():
    """The synth package's own fault model (whole-body swaps, wrong-limb joints, missed view-frames,
    low-confidence joints) on the stick figure, against aniposelib on the same detections."""
    from aistpp.pipeline.synth import detections as synth
    from aistpp.pipeline.synth.rig import make_rig

    rng = np.random.default_rng(11)
    rig = make_rig(0, rng)
    gt = stick_figure(180, rng)
    det = synth.make_detections(rig, gt, rng, noise_px=2.0, outlier_rate=0.085, missing_frame_rate=0.02)
    kp = det["keypoints2d"].astype(np.float64)
    res = triangulate_keypoints(rig, kp)
    theirs = mpjpe(aniposelib_triangulate(rig, kp[..., :2]), gt)
    plain, optim = mpjpe(res["keypoints3d"], gt), mpjpe(res["keypoints3d_optim"], gt)
    assert plain <= 1.5 and plain <= 0.7 * theirs, (plain, theirs)
    assert optim <= 1.0 and optim <= 0.7 * theirs and optim < plain, (optim, plain)
    gross = det["outlier"]
    assert gross.sum() > 0.03 * res["observed"].sum()  # the input really is about 5 % outliers
    assert (gross & ~res["inliers"]).sum() >= 0.97 * gross.sum()


def test_compiled_kernel_equals_the_numpy_reference():
    """The numba kernel runs the numpy version's algorithm point by point: same points, inliers
    and errors, on heavy faults (15 % outliers: the pair-RANSAC path is taken), one-view joints,
    missing views and (nearly) parallel rays."""
    rng = np.random.default_rng(5)
    rig = distorted_rig(rng)
    gt = stick_figure(120, rng)
    obs, conf, _ = corrupt(rig, gt, rng, outlier_rate=0.15, missing_rate=0.05)
    obs[1:, :10, 3] = np.nan  # joint 3 seen by one view in the first frames
    conf[:, 20:25] = rng.uniform(0.0, 0.3, (9, 5, 17))  # some below min_confidence
    a = triangulate_robust(rig, obs, conf)
    b = triangulate_robust(rig, obs, conf, compiled=False)
    hard = (b.observed & ~b.inliers).sum(axis=0) >= 2
    assert hard.sum() > 20  # points that needed view pairs
    assert np.array_equal(np.isnan(a.points3d), np.isnan(b.points3d)) and np.isnan(a.points3d[:10, 3]).all()
    assert np.nanmax(np.abs(a.points3d - b.points3d)) < 1e-6
    assert np.array_equal(a.inliers, b.inliers) and np.array_equal(a.observed, b.observed)
    assert np.nanmax(np.abs(a.errors - b.errors)) < 1e-6
    assert np.array_equal(np.isnan(a.errors), np.isnan(b.errors))
    # the compiled undistortion is OpenCV's
    import cv2

    from aistpp.core.camera.compiled import undistort_points

    px = obs.reshape(9, -1, 2)
    ours = undistort_points(px, rig.K, rig.dist)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    for v in range(9):
        ok = np.isfinite(px[v]).all(axis=1)
        cv = cv2.undistortPoints(px[v, ok].reshape(-1, 1, 2), rig.K[v], rig.dist[v], None, None, None, criteria)
        assert np.abs(ours[v, ok] - cv.reshape(-1, 2)).max() < 1e-9
