"""The synthetic dataset: files in the released format, detections consistent with the
ground truth (checked with aniposelib's projection and smplx's own forward pass), motion sanity,
OpenPose JSON equal to the pickles, videos aligned with the cameras, determinism, the CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.dataset import AISTDataset
from aistpp.core.joints import COCO17, COCO_FLIP, COCO_TO_SMPL, OPENPOSE_BODY25, SMPL_VERTEX_JOINTS, index_map
from aistpp.core.names import parse_name, video_name


def _aniposelib_project(rig, points: np.ndarray) -> np.ndarray:
    """Peer projection: aniposelib's CameraGroup (cv2.projectPoints) -> (V, ..., 2)."""
    group = rig.to_aniposelib()
    flat = points.reshape(-1, 3)
    return np.asarray(group.project(flat)).reshape(len(rig), *points.shape[:-1], 2)


# ---- released-format files ------------------------------------------------------------------
def test_every_file_loads_with_plain_pickle_and_aistpp(synth_data):
    d = synth_data
    ds = AISTDataset(d.anno_dir)
    assert ds.sequence_names == sorted(d.sequences)
    assert set(ds.settings) == {"setting1"}
    assert sorted(ds.split("pose_train") + ds.split("pose_val")) == sorted(d.sequences)
    assert ds.ignore_list == []
    N = d.config.frames
    for seq in d.sequences:
        parse_name(seq)  # a valid AIST name
        for kind in ("motions", "keypoints2d", "keypoints3d"):
            with open(d.anno_dir / kind / f"{seq}.pkl", "rb") as f:
                raw = pickle.load(f)  # as code written for the released dataset reads it
            assert isinstance(raw, dict)
            for key, value in raw.items():
                # plain arrays and numbers; the lead's extra motion keys are plain strings
                assert isinstance(value, (np.ndarray, float)) or (key in ("smpl_gender", "body_model")
                                                                  and isinstance(value, str))
        kp2 = formats.load_keypoints2d(d.anno_dir / "keypoints2d" / f"{seq}.pkl", num_views=9)
        assert kp2["keypoints2d"].shape == (9, N, 17, 3) and kp2["keypoints2d"].dtype == np.float32
        assert kp2["det_scores"].shape == (9, N)
        assert np.array_equal(kp2["timestamps"], formats.frame_timestamps(N))  # microseconds at 60 fps, as released
        kp3 = formats.load_keypoints3d(d.anno_dir / "keypoints3d" / f"{seq}.pkl")
        assert kp3["keypoints3d"].shape == (N, 17, 3)
        assert np.array_equal(kp3["keypoints3d"], kp3["keypoints3d_optim"])
        mo = formats.load_motion(d.anno_dir / "motions" / f"{seq}.pkl")
        assert mo["smpl_poses"].shape == (N, 72) and mo["smpl_trans"].shape == (N, 3)
        assert 85 < mo["smpl_scaling"][0] < 105
    items = json.loads((d.anno_dir / "cameras" / "setting1.json").read_text())
    assert [c["name"] for c in items] == [f"c{i:02d}" for i in range(1, 10)]
    assert all(c["size"] == [960, 540] for c in items)
    assert all(700 < c["matrix"][0][0] < 900 for c in items)  # ~1600 px at full size, halved
    for gender in ("NEUTRAL", "MALE", "FEMALE"):
        with open(d.smpl_dir / f"SMPL_{gender}.pkl", "rb") as f:
            model = pickle.load(f, encoding="latin1")
        assert np.shape(model["v_template"]) == (6890, 3)


def test_rig_is_aist_like(synth_data):
    rig = synth_data.rig
    centres = rig.centers
    radius = np.linalg.norm(centres[:8, [0, 2]], axis=1)
    assert np.all((400 < radius) & (radius < 650))
    assert np.all((120 < centres[:8, 1]) & (centres[:8, 1] < 240))
    angles = np.sort(np.degrees(np.arctan2(centres[:8, 0], centres[:8, 2])) % 360)
    gaps = np.diff(np.append(angles, angles[0] + 360))
    assert np.all(np.abs(gaps - 45) < 10)
    assert np.any(rig.dist[:, 0] != 0) and np.all(np.abs(rig.dist[:, 0]) <= 0.08)
    # Every camera looks at the dancer: the origin at 1 m height projects inside the image.
    px = rig.project(np.array([0.0, 100.0, 0.0]))
    assert np.all((px > 0) & (px < rig.sizes))


def test_scale_rig_scales_projections_exactly():
    from aistpp.pipeline.synth.rig import make_rig, scale_rig

    full = make_rig(0, np.random.default_rng(3))
    half = scale_rig(full, 0.5)
    assert np.array_equal(half.sizes, np.tile([960, 540], (9, 1)))
    pts = np.random.default_rng(4).uniform(-50, 150, (20, 3))
    assert np.allclose(half.project(pts), 0.5 * full.project(pts), atol=1e-9)


# ---- detections against the ground truth ------------------------------------------------------
def test_detections_reproject_within_the_added_noise(synth_data):
    d = synth_data
    noise = d.config.noise_px
    for seq in d.sequences:
        kp = d.keypoints2d[seq]["keypoints2d"]
        truth = d.truth[seq]
        clean = _aniposelib_project(d.rig, d.keypoints3d[seq].astype(np.float64))  # peer projection
        assert np.allclose(clean, truth["clean"], atol=1e-3)
        found = np.isfinite(kp[..., 0])
        err = np.linalg.norm(kp[..., :2] - clean, axis=-1)
        sigma = noise * np.where(truth["low_conf"], 4.0, 1.0)
        ordinary = found & ~truth["outlier"] & ~truth["swapped"][..., None]
        assert ordinary.mean() > 0.9
        assert np.all(err[ordinary] < 5 * sigma[ordinary])
        plain = ordinary & ~truth["low_conf"]
        rms = np.sqrt(np.mean(err[plain] ** 2) / 2)  # per-axis noise
        assert 0.85 * noise < rms < 1.15 * noise
        # Confidence tells low-confidence joints apart.
        conf = kp[..., 2]
        assert np.all(conf[plain] >= 0.6) and np.all(conf[found & truth["low_conf"]] < 0.5)
        # Missed frames: all NaN, score 0; other frames score the mean confidence.
        miss = truth["missing"]
        assert miss.any() and np.isnan(kp[miss]).all() and np.all(d.keypoints2d[seq]["det_scores"][miss] == 0)
        score = np.nan_to_num(conf, nan=0.0).mean(axis=-1)
        assert np.allclose(d.keypoints2d[seq]["det_scores"][~miss], score[~miss], atol=1e-6)
        # Outliers are gross, and swapped frames hold the mirrored joints.
        assert truth["outlier"].any() and np.all(err[truth["outlier"]] > 8 * noise)
        v, n = np.nonzero(truth["swapped"])
        flipped = clean[v, n][:, COCO_FLIP]
        ok = found[v, n] & ~truth["low_conf"][v, n]
        assert np.all(np.linalg.norm(kp[v, n, :, :2] - flipped, axis=-1)[ok] < 5 * noise)
        # Joints projected outside an image are not detected.
        outside = ~np.all((clean >= 0) & (clean <= d.rig.sizes[:, None, None] - 1), axis=-1)
        assert not np.any(found & outside & ~truth["outlier"])


def test_smplx_vertex_joints_project_near_the_coco_keypoints(synth_data):
    import smplx
    import torch

    d = synth_data
    model = smplx.SMPL(model_path=str(d.smpl_dir / "SMPL_NEUTRAL.pkl"), num_betas=10)
    seq = d.sequences[0]
    mo = d.motions[seq]
    poses = torch.from_numpy(mo["smpl_poses"])
    with torch.no_grad():
        out = model(global_orient=poses[:, :3], body_pose=poses[:, 3:], betas=torch.zeros(len(poses), 10))
    scale = float(mo["smpl_scaling"][0])
    joints = out.joints.numpy().astype(np.float64) * scale + mo["smpl_trans"][:, None]
    verts = out.vertices.numpy()
    # smplx reads the face and foot joints off the landmark vertices.
    ids = [i for _, i in SMPL_VERTEX_JOINTS[:11]]
    assert np.allclose(out.joints.numpy()[:, 24:35], verts[:, ids], atol=1e-5)
    coco = joints[:, COCO_TO_SMPL]
    assert np.allclose(coco, d.keypoints3d[seq], atol=0.05)
    px = _aniposelib_project(d.rig, coco)
    kp = d.keypoints2d[seq]["keypoints2d"]
    t = d.truth[seq]
    ok = np.isfinite(kp[..., 0]) & ~t["outlier"] & ~t["low_conf"] & ~t["swapped"][..., None]
    err = np.linalg.norm(kp[..., :2] - px, axis=-1)[ok]
    assert np.median(err) < 2 * d.config.noise_px and err.max() < 6 * d.config.noise_px
    # The face landmarks sit on a head of human size: eyes 4-10 cm apart, nose in front of the ears.
    eyes = np.linalg.norm(coco[:, 1] - coco[:, 2], axis=-1)
    assert np.all((eyes > 3) & (eyes < 10))
    height = verts[0, :, 1].max() - verts[0, :, 1].min()
    assert 1.4 < height < 2.0  # metres, model space


# ---- motion ---------------------------------------------------------------------------------------
def test_motion_is_smooth_within_limits_and_varied():
    from aistpp.pipeline.synth.motion import joint_limits, make_motion

    lim = joint_limits()
    motions = [make_motion(600, np.random.default_rng(s)) for s in range(3)]
    for mo in motions:
        pose = mo["smpl_poses"].reshape(-1, 24, 3).astype(np.float64)
        body = pose[:, 1:]
        assert np.all(body >= lim[1:, :, 0] - 1e-5) and np.all(body <= lim[1:, :, 1] + 1e-5)
        assert np.abs(np.diff(body, 2, axis=0)).max() < 0.05  # rad / frame^2: no jerks
        assert np.abs(np.diff(body, axis=0)).max() < 0.25  # rad / frame
        # Knees and elbows bend one way only, and do bend.
        assert np.all(pose[:, [4, 5], 0] >= 0) and pose[:, 4, 0].max() > 0.3
        assert np.all(pose[:, 18, 1] <= 0) and np.all(pose[:, 19, 1] >= 0)
        # Arms swing, the dancer turns and steps around near the origin.
        assert pose[:, 16:18].std(axis=0).max() > 0.1
        trans = mo["smpl_trans"]
        assert np.abs(trans[:, [0, 2]]).max() < 150 and np.ptp(trans[:, 0]) > 10
        from scipy.spatial.transform import Rotation

        R = Rotation.from_rotvec(pose[:, 0]).as_matrix()
        step = np.degrees(np.arccos(np.clip((np.einsum("nij,nij->n", R[1:], R[:-1]) - 1) / 2, -1, 1)))
        assert step.max() < 8  # degrees per frame
    a, b = motions[0]["smpl_poses"], motions[1]["smpl_poses"]
    assert np.abs(a - b).mean() > 0.05


def test_generated_motion_keeps_feet_on_the_floor(synth_data):
    from aistpp.core.body import load_smpl, smpl_forward

    model = load_smpl(synth_data.smpl_dir)
    for seq in synth_data.sequences:
        mo = synth_data.motions[seq]
        joints = smpl_forward(model, mo["smpl_poses"], mo["smpl_trans"], mo["smpl_scaling"])
        feet = joints[:, [7, 8, 10, 11, *range(29, 35)], 1].min(axis=1)
        assert feet.min() > -0.5 and np.median(feet) < 1.0 and feet.max() < 15
        head = joints[:, 15, 1]
        assert np.all(head > 100)  # cm: the dancer stands up
        speed = np.linalg.norm(np.diff(joints[:, :24], axis=0), axis=-1) * 60  # cm/s
        assert np.percentile(speed, 99) < 800


# ---- OpenPose JSON ----------------------------------------------------------------------------------
def test_openpose_json_holds_the_pickle_values(synth_data):
    d = synth_data
    coco_in_body25 = index_map(OPENPOSE_BODY25, COCO17)
    for seq in d.sequences[:1]:
        kp = d.keypoints2d[seq]["keypoints2d"]
        scores = d.keypoints2d[seq]["det_scores"]
        truth = d.truth[seq]
        seen_distractor = False
        for v, view in enumerate(d.rig.names):
            video = video_name(seq, view)
            folder = d.detections_dir / video
            files = sorted(folder.iterdir())
            assert [f.name for f in files] == [f"{video}_{i:012d}_keypoints.json" for i in range(kp.shape[1])]
            for i, f in enumerate(files):
                people = json.loads(f.read_text())["people"]
                if truth["missing"][v, i]:
                    assert people == []
                    continue
                body = np.array([p["pose_keypoints_2d"] for p in people], np.float32).reshape(len(people), 25, 3)
                body[(body == 0).all(axis=-1)] = np.nan
                coco = body[:, coco_in_body25]
                conf = np.nan_to_num(coco[..., 2].astype(np.float64), nan=0.0).mean(axis=-1).astype(np.float32)
                best = int(np.argmax(conf))
                assert len(people) == 1 + bool(truth["distractor"][v, i])
                seen_distractor |= len(people) > 1
                np.testing.assert_array_equal(coco[best], kp[v, i])
                assert conf[best] == scores[v, i]
                neck = body[best, OPENPOSE_BODY25.index("neck"), :2]
                assert np.allclose(neck, (kp[v, i, 5, :2] + kp[v, i, 6, :2]) / 2, equal_nan=True)
        assert seen_distractor


def test_preprocess_parser_reads_the_same_detections(synth_data):
    from aistpp.core.detections import read_video, to_coco17

    seq = synth_data.sequences[1]
    kp = synth_data.keypoints2d[seq]["keypoints2d"]
    for v in (0, 4):
        det = read_video(synth_data.detections_dir / video_name(seq, synth_data.rig.names[v]))
        assert np.array_equal(det.timestamps, np.arange(kp.shape[1]))
        best = np.nan_to_num(det.scores, nan=-1).argmax(axis=1)
        coco = to_coco17(det.keypoints[np.arange(len(best)), best], det.joint_set)
        np.testing.assert_array_equal(coco, kp[v])


# ---- videos -------------------------------------------------------------------------------------------
def test_videos_show_the_body_where_the_cameras_put_it(synth_data_videos):
    import av

    from aistpp.pipeline.synth.video import background

    import cv2

    from aistpp.core.body import load_smpl, smpl_forward
    from aistpp.core.render import silhouette

    d = synth_data_videos
    seq = d.sequences[0]
    N = d.config.frames
    model = load_smpl(d.smpl_dir)
    mo = d.motions[seq]
    _, verts = smpl_forward(model, mo["smpl_poses"], mo["smpl_trans"], mo["smpl_scaling"], vertices=True)
    faces = model.faces.astype(np.int64)
    kp3 = d.keypoints3d[seq]
    torso = (kp3[:, [5, 6, 11, 12]].mean(axis=1))  # (N, 3) cm, inside the body
    px = d.rig.project(torso)  # (V, N, 2)
    for v in (0, 3, 8):
        path = d.video_dir / f"{video_name(seq, d.rig.names[v])}.mp4"
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == tuple(d.rig.sizes[v])
            assert stream.average_rate == 60
            frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        assert len(frames) == N
        back = background(d.rig, v).astype(int)
        changed = []
        for i in range(0, N, 4):
            x, y = np.round(px[v, i]).astype(int)
            changed.append(np.abs(frames[i][y, x].astype(int) - back[y, x]).sum() > 30)
        assert np.mean(changed) > 0.8
        # Far from the dancer (an image corner), the frame is the backdrop.
        assert np.abs(frames[0][:5, :5].astype(int) - back[:5, :5]).mean() < 12
        # Peer check: the body's pixels match core.render's silhouette (the same rasteriser's coverage) of the mesh.
        cam = d.rig.subset([d.rig.names[v]])
        for i in (0, N // 2, N - 1):
            vpx = cam.project(verts[i])[0]
            sil = silhouette(vpx, cam.world_to_camera(verts[i])[0, :, 2], faces, tuple(d.rig.sizes[v]))
            frame = frames[i].astype(int)
            # the body is dressed in colours, floor and wall are grey: a body pixel is coloured or unlike the backdrop
            # (the shadow is grey: outside the body, nothing is coloured)
            saturated = frame.max(axis=-1) - frame.min(axis=-1) > 12
            body = saturated | (np.abs(frame - back).sum(axis=-1) > 40)
            near = cv2.dilate(sil.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            inner = cv2.erode(sil.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # 4:2:0 chroma blurs the rim
            assert (body & inner).sum() > 0.97 * inner.sum()
            assert (saturated & ~near).sum() < 0.02 * sil.sum()


# ---- determinism and CLI ------------------------------------------------------------------------------
def _tiny(out: Path, seed: int):
    from aistpp.pipeline.synth.generate import SynthConfig, generate

    generate(out, SynthConfig(out=out, seed=seed, sequences=2, frames=20, views=3, videos=False,
                              executor="serial", quiet=True))
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    a = _tiny(tmp_path / "a", 5)
    b = _tiny(tmp_path / "b", 5)
    c = _tiny(tmp_path / "c", 6)
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    pickles = [k for k in a if k.suffix == ".pkl" and k.parts[0] == "annotations"]
    assert len(pickles) == 6
    assert any(a[k] != c.get(k) for k in pickles) or a.keys() != c.keys()


def test_cli_writes_and_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "ds"
    args = ["synth", "--out", str(out), "--sequences", "1", "--frames", "12", "--views", "3", "--no-videos",
            "--executor", "serial", "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    ds = AISTDataset(out / "annotations")
    assert len(ds.sequence_names) == 1 and len(ds.load_cameras("setting1")) == 3
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "not empty" in res.output
    res = CliRunner().invoke(app, [*args, "--overwrite", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert len(AISTDataset(out / "annotations").sequence_names) == 1


@pytest.mark.parametrize("bad", [["--image-scale", "0"], ["--noise-px", "-1"]])
def test_cli_rejects_bad_values(tmp_path, bad):
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "x"), *bad])
    assert res.exit_code == 2
