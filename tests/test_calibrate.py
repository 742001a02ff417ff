"""`aistpp calibrate`: bundle adjustment and gauge against independently generated ground truth.

The ground truth here is made in the test: a body-like 17-joint point cloud moving on the
floor (COCO order, anthropometric proportions), a perturbed AIST-like rig, 2 px noise,
gross outliers and left/right swaps; the initial cameras are the truth turned by 5 deg and
moved by 30 cm, with nominal intrinsics (f = 1600, no distortion).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.align import rig_errors, similarity_transform, transform_rig
from aistpp.core.bundle_adjust import bundle_adjust, project_jacobians, reprojection_errors, update_rig
from aistpp.core.cameras import CameraRig, rodrigues, rotation_to_rodrigues
from aistpp.core.joints import COCO_FLIP
from aistpp.core.rig import aist_like_ring, perturb_rig
from aistpp.pipeline.calibrate import calibrate_views, choose_sequences
from aistpp.pipeline.calibrate_gauge import gauge_transform

SEQS = ["gWA_sFM_cAll_d27_mWA2_ch21", "gBR_sBM_cAll_d04_mBR0_ch01", "gPO_sBM_cAll_d10_mPO1_ch02"]


# ---- ground truth ------------------------------------------------------------------------------
def rest_skeleton(height: float = 170.0) -> np.ndarray:
    """(17, 3) cm, COCO order, standing at the origin facing +z, ankles 0.039 H above the floor."""
    p = np.array([
        [0, 155, 10], [3, 159, 8], [-3, 159, 8], [7.5, 156, 0], [-7.5, 156, 0],
        [17, 139, 0], [-17, 139, 0], [19, 108, 0], [-19, 108, 0], [20, 83, 2], [-20, 83, 2],
        [9, 90, 0], [-9, 90, 0], [9.5, 48.5, 2], [-9.5, 48.5, 2], [9.5, 6.63, 0], [-9.5, 6.63, 0]], float)
    return p * height / 170.0


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def body_motion(n: int, rng: np.random.Generator, height: float = 170.0, times: np.ndarray | None = None) -> np.ndarray:
    """(n, 17, 3) cm: arms swing, one leg lifts at a time (the other ankle stays on the floor),
    the body turns and wanders about a metre around the origin. ``times`` (n,) frames at 60 fps
    (any real numbers): the motion sampled at those instants, a smooth function of time (the
    turn too; default: frames 0..n-1, the body turning by a random walk)."""
    t = (np.arange(n) if times is None else np.asarray(times, np.float64)) / 60.0
    P = np.repeat(rest_skeleton(height)[None], n, 0)
    ph = rng.uniform(0, 2 * np.pi, 8)
    for side, (sh, el, wr) in enumerate(((5, 7, 9), (6, 8, 10))):
        R = _rot_x(1.2 * np.sin(2 * np.pi * 0.7 * t + ph[side]))
        for j in (el, wr):
            P[:, j] = P[:, sh] + np.einsum("nij,nj->ni", R, P[:, j] - P[:, sh])
        R = _rot_x(0.6 * np.sin(2 * np.pi * 0.5 * t + ph[2 + side]) - 0.3)
        P[:, wr] = P[:, el] + np.einsum("nij,nj->ni", R, P[:, wr] - P[:, el])
    swing = np.sin(2 * np.pi * 0.4 * t + ph[4])
    for lift, (hp, kn, an) in zip((np.clip(swing, 0, None), np.clip(-swing, 0, None)), ((11, 13, 15), (12, 14, 16))):
        R = _rot_x(-lift)
        for j in (kn, an):
            P[:, j] = P[:, hp] + np.einsum("nij,nj->ni", R, P[:, j] - P[:, hp])
    yaw = np.cumsum(rng.normal(0, 0.03, n)) + ph[5] if times is None else \
        ph[5] + 1.5 * np.sin(2 * np.pi * 0.05 * t) + 0.4 * np.sin(2 * np.pi * 0.23 * t + ph[0])
    c, s, o, z = np.cos(yaw), np.sin(yaw), np.ones(n), np.zeros(n)
    Ry = np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)
    root = np.stack([90 * np.sin(2 * np.pi * 0.11 * t + ph[6]), z, 90 * np.sin(2 * np.pi * 0.17 * t + ph[7])], -1)
    return np.einsum("nij,nkj->nki", Ry, P) + root[:, None]


def true_rig(rng: np.random.Generator) -> CameraRig:
    base = aist_like_ring()
    C = base.centers + rng.normal(0, 10, (9, 3))
    R = rodrigues(rng.normal(0, np.radians(1.5), (9, 3))) @ base.R
    K = base.K.copy()
    K[:, 0, 0] = K[:, 1, 1] = rng.uniform(1520, 1680, 9)
    dist = np.zeros((9, 5))
    dist[:, 0], dist[:, 1] = rng.uniform(-0.08, 0.02, 9), rng.uniform(-0.03, 0.03, 9)
    return CameraRig(base.names, base.sizes, K, dist, rotation_to_rodrigues(R), -np.einsum("vij,vj->vi", R, C))


def perturb(rig: CameraRig, rng: np.random.Generator, deg: float = 5.0, cm: float = 30.0) -> CameraRig:
    """Each camera turned by ``deg`` about a random axis and moved by ``cm``; f = 1600, no distortion."""
    moved = perturb_rig(rig, rng, deg, cm)
    K = moved.K.copy()
    K[:, 0, 0] = K[:, 1, 1] = 1600.0
    return CameraRig(rig.names, rig.sizes, K, np.zeros((len(rig), 5)), moved.rvec, moved.tvec)


def detections(rig: CameraRig, X: np.ndarray, rng: np.random.Generator, noise: float = 2.0):
    """Noisy detections (V, N, 17, 2) px, confidences (V, N, 17), clean projections; 3 % low-confidence
    joints (4x noise), 1 % joints moved 30-200 px, 0.5 % view-frames left/right swapped."""
    clean = rig.project(X)
    V, N, J, _ = clean.shape
    conf = rng.uniform(0.6, 1.0, (V, N, J))
    low = rng.random((V, N, J)) < 0.03
    conf[low] = rng.uniform(0.05, 0.45, low.sum())
    det = clean + rng.normal(0, noise, clean.shape) * np.where(low, 4, 1)[..., None]
    swapped = rng.random((V, N)) < 0.005
    det[swapped] = det[swapped][:, COCO_FLIP]
    out = rng.random((V, N, J)) < 0.01
    off = rng.normal(size=(out.sum(), 2))
    det[out] += off / np.linalg.norm(off, axis=1, keepdims=True) * rng.uniform(30, 200, (out.sum(), 1))
    w, h = rig.sizes[:, 0, None, None], rig.sizes[:, 1, None, None]
    inside = (det[..., 0] >= 0) & (det[..., 0] < w) & (det[..., 1] >= 0) & (det[..., 1] < h)
    det[~inside], conf[~inside] = np.nan, np.nan
    return det, conf, clean


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(7)
    truth = true_rig(rng)
    X = body_motion(360, rng)
    det, conf, clean = detections(truth, X, rng)
    return {"truth": truth, "X": X, "det": det, "conf": conf, "clean": clean, "init": perturb(truth, rng)}


@pytest.fixture(scope="module")
def calibrated(scene):
    return calibrate_views(scene["init"], scene["det"], scene["conf"], min_confidence=0.5, height_cm=170.0)


# ---- bundle adjustment core -------------------------------------------------------------------
def test_jacobians_match_finite_differences():
    rng = np.random.default_rng(0)
    rig = true_rig(rng)
    K = rig.K.copy()
    K[:, 0, 1], K[:, 1, 1] = 2.0, K[:, 1, 1] * 1.01  # skew and non-square pixels too
    dist = rig.dist.copy()
    dist[:, 2:] = rng.normal(0, 1e-3, (9, 3))
    rig = CameraRig(rig.names, rig.sizes, K, dist, rig.rvec, rig.tvec)
    X = rng.normal([0, 90, 0], 60, (6, 3))
    intr = ("f", "k1", "k2", "cx", "cy")
    uv, jc, jp, _ = project_jacobians(rig, X, intr)
    np.testing.assert_allclose(uv, rig.project(X), atol=1e-9)
    eps = 1e-6
    for i in range(jc.shape[-1]):
        d = np.zeros((9, jc.shape[-1]))
        d[:, i] = eps
        num = (update_rig(rig, d, intr).project(X) - uv) / eps
        np.testing.assert_allclose(jc[..., i], num, atol=1e-5 * max(1.0, np.abs(num).max()))
    for i in range(3):
        X2 = X.copy()
        X2[:, i] += eps
        np.testing.assert_allclose(jp[..., i], (rig.project(X2) - uv) / eps, atol=1e-5)


def test_bundle_adjust_recovers_exact_data_to_zero_error():
    rng = np.random.default_rng(1)
    truth = true_rig(rng)
    X = body_motion(60, rng).reshape(-1, 3)
    obs = truth.project(X)
    init = perturb(truth, rng, deg=1.0, cm=5.0)
    K = truth.K.copy()
    K[:, 0, 0] *= 1.02
    K[:, 1, 1] *= 1.02
    init = CameraRig(init.names, init.sizes, K, truth.dist, init.rvec, init.tvec)
    X0 = X + rng.normal(0, 3, X.shape)
    res = bundle_adjust(init, obs, np.ones(obs.shape[:2]), X0, intrinsics=("f",), loss="linear", max_iterations=100)
    err = reprojection_errors(res.rig, res.points3d, obs)
    assert np.nanmax(err) < 1e-3
    e = rig_errors(res.rig, truth)
    assert e["rotation_deg"].max() < 1e-3 and e["center_cm"].max() < 1e-2 and e["focal_rel"].max() < 1e-5
    assert res.cost[-1] < res.cost[0] * 1e-6


def test_bundle_adjust_runs_with_one_blas_thread(monkeypatch):
    """The adjustment's many small solves run with one BLAS thread, whatever the caller's
    setting, and the caller's setting comes back after."""
    import aistpp.core.bundle_adjust as ba
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []
    inner = ba._solve_step

    def spy(*args, **kwargs):
        seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"])
        return inner(*args, **kwargs)

    monkeypatch.setattr(ba, "_solve_step", spy)
    rng = np.random.default_rng(2)
    truth = true_rig(rng)
    X = body_motion(10, rng).reshape(-1, 3)
    init = perturb(truth, rng, deg=0.5, cm=3.0)
    with threadpool_limits(limits=2, user_api="blas"):
        before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        bundle_adjust(init, truth.project(X), np.ones((9, len(X))), X, intrinsics=(), max_iterations=3)
        after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert seen and all(n == [1] * len(before) for n in seen)
    assert after == before


# ---- calibration accuracy ------------------------------------------------------------------------
def test_calibration_accuracy_with_noise_outliers_and_swaps(scene, calibrated):
    init_err = rig_errors(scene["init"], scene["truth"])
    assert np.median(init_err["rotation_deg"]) > 3  # the start really is off
    e = rig_errors(calibrated.rig, scene["truth"])
    assert np.median(e["rotation_deg"]) <= 0.2
    assert np.median(e["center_cm"]) <= 2.0
    assert np.median(e["focal_rel"]) <= 0.01
    # reprojection of the adjusted points against the noise-free projections
    clean_err = reprojection_errors(calibrated.rig, calibrated.points3d, scene["clean"])
    assert np.nanmedian(clean_err) <= 1.5
    # against the detections, as good as the ground truth itself (2 px noise per axis)
    truth_err = np.linalg.norm(scene["det"] - scene["clean"], axis=-1)
    usable = scene["conf"] >= 0.5
    assert calibrated.report["after_median_px"] <= 1.05 * np.nanmedian(truth_err[usable])
    assert calibrated.report["before_median_px"] > 20


def test_report_has_views_before_after(calibrated):
    r = calibrated.report
    assert [v["name"] for v in r["views"]] == list(aist_like_ring().names)
    for v in r["views"]:
        assert v["after_median_px"] < v["before_median_px"] and v["after_median_px"] <= v["after_p90_px"]
        assert v["status"] == "ok" and 0 < v["inliers"] <= v["detections"]
    assert r["weak_views"] == []
    json.dumps(r)  # JSON-ready


def test_gauge_floor_up_scale_origin_and_heading(scene, calibrated):
    """The truth world is the dataset's gauge up to the choice of origin and heading."""
    X = calibrated.points3d
    ankles = np.nanmin(X[:, [15, 16], 1], axis=1)
    assert abs(np.percentile(ankles, 20) - 0.039 * 170) < 1.5  # floor at y = 0
    hips = np.nanmean(X[:, [11, 12]].mean(1), axis=0)
    assert abs(hips[0]) < 1e-6 and abs(hips[2]) < 1e-6
    s, R, _ = similarity_transform(calibrated.rig.centers, scene["truth"].centers)
    assert abs(s - 1) < 0.02  # units: cm from the stature
    up_err = np.degrees(np.arccos(np.clip((R @ [0, 1.0, 0])[1], -1, 1)))
    assert up_err < 0.5
    heading = lambda rig: np.degrees(np.arctan2(rig.R[0, 2, 0], rig.R[0, 2, 2]))  # noqa: E731
    assert abs(heading(calibrated.rig) - heading(scene["init"])) < 0.05


def test_gauge_undoes_a_random_similarity(scene):
    rng = np.random.default_rng(3)
    X = scene["X"]
    Rg = rodrigues(rng.normal(size=3))
    sg, tg = 0.37, rng.normal(0, 300, 3)
    moved_rig = transform_rig(scene["truth"], sg, Rg, tg)
    moved = sg * X @ Rg.T + tg
    s, R, t, info = gauge_transform(moved_rig, moved, 170.0, scene["truth"])
    back = s * moved @ R.T + t
    offset = back - X  # a pure horizontal translation (the origin choice)
    np.testing.assert_allclose(offset - offset.reshape(-1, 3).mean(0), 0, atol=0.2)
    assert abs(offset.reshape(-1, 3).mean(0)[1]) < 0.5
    assert info["up_from"] == "ankle plane"


# ---- robustness: a view that sees too little ------------------------------------------------------
def test_view_that_sees_too_little_is_reported_and_left_alone(scene):
    det = scene["det"].copy()
    det[4, 5:] = np.nan  # c05 sees 5 frames only
    res = calibrate_views(scene["init"], det[:, :200], scene["conf"][:, :200], min_confidence=0.5,
                          min_view_observations=200, height_cm=None, rounds=2)
    v5 = res.report["views"][4]
    assert v5["status"].startswith("not refined") and res.report["weak_views"] == ["c05"]
    np.testing.assert_allclose(res.rig.rvec[4], scene["init"].rvec[4], atol=1e-12)
    others = [i for i in range(9) if i != 4]
    e = rig_errors(res.rig.subset([res.rig.names[i] for i in others]),
                   scene["truth"].subset([scene["truth"].names[i] for i in others]))
    assert np.median(e["rotation_deg"]) < 0.3


def test_sequence_choice_is_seeded():
    names = [f"s{i:02d}" for i in range(30)]
    a = choose_sequences(names, 5, 0, "setting1")
    assert a == choose_sequences(names, 5, 0, "setting1") and len(set(a)) == 5
    assert a != choose_sequences(names, 5, 1, "setting1")
    assert choose_sequences(names[:3], 5, 0, "setting1") == names[:3]


# ---- the command ---------------------------------------------------------------------------------
def _write_dataset(root, scene):
    anno = root / "anno"
    formats.write_mapping(anno / "cameras" / "mapping.txt", {s: "setting1" for s in SEQS})
    det, conf = scene["det"], scene["conf"]
    parts = np.array_split(np.arange(det.shape[1]), len(SEQS))
    for seq, idx in zip(SEQS, parts):
        kp = np.concatenate([det[:, idx], conf[:, idx, :, None]], axis=-1).astype(np.float32)
        formats.save_keypoints2d(anno / "keypoints2d" / f"{seq}.pkl", kp, np.ones(kp.shape[:2], np.float32),
                                 np.arange(len(idx)))
    formats.save_cameras(root / "init.json", scene["init"])
    return anno


def test_cli_writes_a_cameras_folder_and_resumes(tmp_path, scene):
    anno = _write_dataset(tmp_path, scene)
    out = tmp_path / "out"
    args = ["calibrate", "--anno-dir", str(anno), "--save-dir", str(out), "--init-cameras", str(tmp_path / "init.json"),
            "--executor", "serial", "--sequences-per-setting", "2", "--max-frames", "200", "--seed", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rig = formats.load_cameras(out / "setting1.json")
    assert rig.names == scene["truth"].names
    assert formats.read_mapping(out / "mapping.txt") == formats.read_mapping(anno / "cameras" / "mapping.txt")
    assert not (out / "setting1.report.json").exists()
    report = json.loads((tmp_path / "reports" / "calibrate" / "setting1.json").read_text())
    assert len(report["sequences"]) == 2 and set(report["sequences"]) <= set(SEQS) and report["frames"] <= 200
    assert report["after_median_px"] < 3 and "c09" in res.output
    # per-camera frame_offset / frame_offsets: released readers (aniposelib's Camera.load_dict, which
    # the AIST++ API's loader mirrors key by key) ignore them and read the same camera
    from aniposelib.cameras import Camera

    items = json.loads((out / "setting1.json").read_text())
    assert all(abs(it["frame_offset"]) <= 0.1 for it in items)  # in sync (sub-frame offsets, to 0.01)
    assert all(set(it["frame_offsets"]) == set(report["sequences"]) for it in items)  # and each sequence's
    for v, item in enumerate(items):
        cam = Camera.from_dict(item)
        np.testing.assert_allclose(cam.get_camera_matrix(), rig.K[v])
        np.testing.assert_allclose(cam.get_rotation(), rig.rvec[v])
        np.testing.assert_allclose(cam.get_translation(), rig.tvec[v])
    assert np.median(rig_errors(rig, scene["truth"])["rotation_deg"]) < 0.5
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "1 skipped" in again.output


def test_cli_user_errors_exit_2(tmp_path, scene):
    anno = _write_dataset(tmp_path, scene)
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "o"),
                                   "--settings", "nosuch"])
    assert res.exit_code == 2 and "nosuch" in res.output
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "o"),
                                   "--init-cameras", str(tmp_path / "missing.json"), "--executor", "serial"])
    assert res.exit_code == 2 and "missing.json" in res.output
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "o"),
                                   "--intrinsics", "f,k9"])
    assert res.exit_code == 2 and "intrinsics" in res.output


def test_cli_leaves_out_settings_without_keypoints(tmp_path):
    """A partial download (mapping.txt lists every setting, keypoints2d are there for some): without
    --settings only the settings with keypoints2d are calibrated, the others named in one warning
    (it used to report each as failed and exit 2); named with --settings, one still fails, saying why;
    with no keypoints2d at all: one error."""
    import _released

    seq = _released.SEQS[1]
    anno = tmp_path / "anno"
    formats.write_mapping(anno / "cameras" / "mapping.txt", {seq: "setting4", "gBR_sBM_cAll_d04_mBR0_ch01": "setting1",
                                                            "gPO_sBM_cAll_d10_mPO1_ch01": "setting2"})
    kp = _released.keypoints2d(seq).astype(np.float32)
    formats.save_keypoints2d(anno / "keypoints2d" / f"{seq}.pkl", kp, np.ones(kp.shape[:2], np.float32),
                             np.arange(kp.shape[1]))
    base = ["calibrate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "out"), "--image-size", "1920x1080"]
    res = CliRunner().invoke(app, base + ["--dry-run"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "setting4: would run" in text and "1 would run" in text, text
    assert "2 of 3 settings left out" in text and "setting1, setting2" in text
    res = CliRunner().invoke(app, base + ["--dry-run", "--settings", "setting1"])
    assert res.exit_code == 0 and "setting1: would run" in res.output  # named: attempted (and fails, below)
    res = CliRunner().invoke(app, base + ["--settings", "setting1", "--executor", "serial"])
    assert res.exit_code == 2 and "no keypoints2d file for any sequence of setting1" in " ".join(res.output.split())
    (anno / "keypoints2d" / f"{seq}.pkl").unlink()
    res = CliRunner().invoke(app, base + ["--dry-run"])
    assert res.exit_code == 2 and "no keypoints2d file for any sequence" in " ".join(res.output.split()), res.output


def test_cli_fix_intrinsics_keeps_them(tmp_path, scene):
    anno = _write_dataset(tmp_path, scene)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(out), "--init-cameras",
                                   str(tmp_path / "init.json"), "--executor", "serial", "--max-frames", "120",
                                   "--fix-intrinsics", "--quiet"])
    assert res.exit_code == 0, res.output
    rig = formats.load_cameras(out / "setting1.json")
    np.testing.assert_allclose(rig.K, scene["init"].K)
    np.testing.assert_allclose(rig.dist, scene["init"].dist)


# ---- the synthetic dataset (SMPL body, synth's fault model) ------------------------------------------
def test_synth_dataset_accuracy(tmp_path, synth_data):
    truth = synth_data.rig
    rng = np.random.default_rng(11)
    init = perturb(truth, rng)
    K = truth.K.copy()  # keep the true principal point (not refined), start from a nominal focal
    K[:, 0, 0] = K[:, 1, 1] = 1600.0 * truth.sizes[0, 0] / 1920
    init = CameraRig(init.names, init.sizes, K, init.dist, init.rvec, init.tvec)
    formats.save_cameras(tmp_path / "init.json", init)
    out = tmp_path / "cams"
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(synth_data.anno_dir), "--save-dir", str(out),
                                   "--init-cameras", str(tmp_path / "init.json"), "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    rig = formats.load_cameras(out / "setting1.json")
    e = rig_errors(rig, truth)
    # 2 x 2 s of dancing within about a metre, 960x540 px: focal length and camera distance trade
    # off more freely than in the longer full-resolution case above, hence looser bounds.
    assert np.median(e["rotation_deg"]) <= 0.3 and np.median(e["center_cm"]) <= 8.0
    assert np.median(e["focal_rel"]) <= 0.02
    s, R, _ = similarity_transform(rig.centers, truth.centers)
    # same up direction: synth's ankles are no clean plane (foot pitch, hops, 2 x 2 s within a metre:
    # even the true ankles of these 240 frames give 2-3 deg), hence 4 deg here and 0.5 deg above
    assert np.degrees(np.arccos(np.clip((R @ [0, 1.0, 0])[1], -1, 1))) < 4.0
    assert abs(s - 1) < 0.15  # units: cm, from a 170 cm stature (synth bodies vary in size)
    report = json.loads((tmp_path / "reports" / "calibrate" / "setting1.json").read_text())
    assert report["weak_views"] == [] and report["after_median_px"] < report["before_median_px"] / 5


# ---- world frames: --frame init, --up z --------------------------------------------------------------
def test_frame_init_and_up_z(scene):
    from aistpp.pipeline.calibrate_solve import solve

    det, conf = scene["det"][:, :150], scene["conf"][:, :150]
    seq = np.zeros(150, int)
    kw = dict(max_frames=150, max_offset=0, rounds=2)
    kept = solve(det, conf, seq, scene["truth"].sizes, scene["truth"].names, scene["init"], frame="init", **kw)
    assert not kept.failed
    # the starting rig's world and scale: its centres are already best aligned with the start's
    s, R, t = similarity_transform(kept.rig.centers, scene["init"].centers)
    assert abs(s - 1) < 1e-6 and np.abs(R - np.eye(3)).max() < 1e-6 and np.abs(t).max() < 1e-3
    # ... which is the truth's up to the start's random 5 deg / 30 cm errors per camera
    e = rig_errors(kept.rig, scene["truth"], align=False)
    assert np.median(e["rotation_deg"]) < 2 and np.median(e["center_cm"]) < 30
    z_up = solve(det, conf, seq, scene["truth"].sizes, scene["truth"].names, scene["init"], up="z", **kw)
    assert not z_up.failed
    heights = z_up.rig.centers[:, 2]  # camera heights above the floor, along +z
    np.testing.assert_allclose(heights, scene["truth"].centers[:, 1], atol=8)
    assert np.nanmedian(z_up.points3d[:, 0, 2]) > 140  # the nose is up along +z


def test_cli_original_ring_hint(tmp_path, scene):
    """--init-cameras rig: the original AIST++ hand-made ring as the start (no camera file)."""
    anno = _write_dataset(tmp_path, scene)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(out), "--init-cameras",
                                   "rig", "--image-size", "1920x1080", "--executor", "serial", "--max-frames", "150",
                                   "--max-offset", "0", "--quiet"])
    assert res.exit_code == 0, res.output
    e = rig_errors(formats.load_cameras(out / "setting1.json"), scene["truth"])
    assert np.median(e["rotation_deg"]) < 0.5 and np.median(e["focal_rel"]) < 0.02


def test_cli_names_the_views_that_see_nothing(tmp_path):
    """Real released detections (setting4's ch09 slice) with two cameras that recorded nothing
    (all NaN, as the release marks missing points) and one that saw 3 frames: from the keypoints
    alone those cameras cannot be placed; calibrate says which and why, exits 2 and writes nothing,
    before any solving (it used to fail after the start, naming only the first)."""
    import _released

    kp = _released.keypoints2d(_released.SEQS[1]).astype(np.float32)
    kp[[1, 3]] = np.nan
    seen = np.isfinite(kp[4, :, :, 0]) & (kp[4, :, :, 2] >= 0.5)
    first3 = np.flatnonzero(seen.any(1))[:3]
    keep = np.zeros(kp.shape[1], bool)
    keep[first3] = True
    kp[4, ~keep] = np.nan
    anno = tmp_path / "anno"
    seq = _released.SEQS[1]
    formats.write_mapping(anno / "cameras" / "mapping.txt", {seq: "setting4"})
    formats.save_keypoints2d(anno / "keypoints2d" / f"{seq}.pkl", kp, np.ones(kp.shape[:2], np.float32),
                             np.arange(kp.shape[1]))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(out),
                                   "--image-size", "1920x1080", "--executor", "serial"])
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert f"c02 (0), c04 (0), c05 ({int(seen[first3].sum())})" in text and "c03" not in text.split("failed")[-1]
    assert "--init-cameras" in text
    assert not (out / "setting4.json").exists()


def test_views_that_see_nothing_are_kept_as_given_from_a_start():
    """With starting cameras (the released setting4 rig) and two of the real ch09 views blind, the
    other seven are refined and the rig is written: the blind cameras are kept as given (flagged,
    not judged by the per-view checks, which refused the whole rig before): their intrinsics are
    the given ones and their pose relative to each other is the given one (the world's gauge moves
    every camera alike)."""
    import _released

    from aistpp.pipeline.calibrate_solve import solve

    kp = _released.keypoints2d(_released.SEQS[1])
    kp[[1, 3]] = np.nan
    given = _released.cameras()
    sol = solve(kp[..., :2], kp[..., 2], np.zeros(kp.shape[1], int), given.sizes, given.names, given, max_frames=250)
    assert not sol.failed, [c.detail for c in sol.failed]
    views = sol.report["views"]
    assert [v["name"] for v in views if v["status"].startswith("not refined")] == ["c02", "c04"]
    assert {"c02", "c04"} <= set(sol.report["weak_views"])
    for v in (1, 3):
        np.testing.assert_allclose(sol.rig.K[v], given.K[v], rtol=1e-9)
        np.testing.assert_allclose(sol.rig.dist[v], given.dist[v], atol=1e-12)
    R, R0 = rodrigues(sol.rig.rvec), rodrigues(given.rvec)
    np.testing.assert_allclose(R[1] @ R[3].T, R0[1] @ R0[3].T, atol=1e-9)
    assert np.median(rig_errors(sol.rig, given)["rotation_deg"]) < 2.0  # and the others near the released rig


def test_a_recording_too_short_to_judge_is_said_so(tmp_path, scene):
    """One recording of 120 frames cannot be split into halves to judge its rig (calibrate_spread):
    the rig is written but the report and the run say its stability is unjudged; 240 frames are
    judged (and 3 sequences of 120 each, below, too)."""
    from aistpp.pipeline.calibrate_solve import solve

    short = solve(scene["det"][:, :120], scene["conf"][:, :120], np.zeros(120, int), scene["truth"].sizes,
                  scene["truth"].names, scene["init"], max_frames=120)
    assert not short.failed and "one recording of 120 frames" in short.report["stability_unjudged"]
    long = solve(scene["det"][:, :240], scene["conf"][:, :240], np.zeros(240, int), scene["truth"].sizes,
                 scene["truth"].names, scene["init"], max_frames=240)
    assert not long.failed and long.report["stability_unjudged"] is None and long.report["spread_halves"]
    anno = _write_dataset(tmp_path, scene)  # three sequences of 120 frames: each adjusted alone
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "out"),
                                   "--init-cameras", str(tmp_path / "init.json"), "--executor", "serial"])
    assert res.exit_code == 0 and "unjudged" not in res.output, res.output
    formats.write_mapping(anno / "cameras" / "mapping.txt", {SEQS[0]: "setting1"})
    res = CliRunner().invoke(app, ["calibrate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "one"),
                                   "--init-cameras", str(tmp_path / "init.json"), "--executor", "serial"])
    assert res.exit_code == 0 and "stability is unjudged: one recording of 120 frames" in " ".join(res.output.split())
