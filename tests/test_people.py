"""Choosing the dancer: per-frame policies, switches, and agreement across views (a bystander who
outscores the dancer in one view all along is refused because the other views see the dancer)."""

from __future__ import annotations

import numpy as np

from aistpp.core.people import agree_across_views, by_index, central, choose, epipolar_distance, essential, largest, switches
from aistpp.core.rig import aist_like_ring

from _figure import FIGURE

COCO = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle"]
BODY = np.array([FIGURE[n] for n in COCO], float)


def scene(N=40):
    rig = aist_like_ring(4, size=(960, 540), focal=800)
    t = np.arange(N)[:, None, None]
    dancer = BODY[None] + np.array([1.5, 0, 0.5]) * t - [30, 0, 0]
    bystander = np.repeat(BODY[None] + [170, 0, -60], N, axis=0)
    return rig, rig.project(dancer), rig.project(bystander)


def with_conf(xy, c):
    return np.concatenate([xy, np.full(xy.shape[:-1] + (1,), c)], -1)


def test_epipolar_geometry_against_projections():
    rig, dancer, bystander = scene(5)
    E = essential(rig, 0, 2)
    def norm(v, px):
        return rig.subset([rig.names[v]]).undistort(px[None])[0]

    norm = [norm(0, dancer[0]), norm(2, dancer[2]), norm(0, bystander[0])]
    assert np.nanmax(epipolar_distance(norm[0], norm[1], E)) < 1e-9  # the same 3D points
    assert np.nanmedian(epipolar_distance(norm[2], norm[1], E)) > 0.02  # another person (~20 px at f=800)


def test_a_bystander_outscoring_the_dancer_in_one_view_is_refused_by_the_others():
    rig, dancer, bystander = scene()
    N = dancer.shape[1]
    timestamps, keypoints, scores = [], [], []
    for v in range(4):
        if v == 0:  # both people all along, the bystander listed first and scored higher
            kp = np.stack([with_conf(bystander[0], 0.9), with_conf(dancer[0], 0.6)], axis=1)
            sc = np.tile([0.9, 0.6], (N, 1))
        else:
            kp = with_conf(dancer[v], 0.8)[:, None]
            sc = np.full((N, 1), 0.8)
        timestamps.append(np.arange(N) + (v == 3))  # view 3 lags a frame: matched by timestamp
        keypoints.append(kp.astype(np.float32))
        scores.append(sc.astype(np.float32))
    tracked = [choose(k, s) for k, s in zip(keypoints, scores)]
    assert (tracked[0] == 0).all()  # tracking alone keeps the steady, better-scored bystander
    agreed, changed = agree_across_views(rig, timestamps, keypoints, scores, keypoints, tracked)
    assert (agreed[0] == 1).all() and changed == N
    assert all((agreed[v] == 0).all() for v in (1, 2, 3))


def test_policies_and_switches():
    rng = np.random.default_rng(0)
    N = 10
    big = with_conf(rng.uniform(100, 400, (N, 17, 2)), 0.5)  # ~300 px wide, off-centre
    small = with_conf(rng.uniform(450, 530, (N, 17, 2)), 0.9)  # ~80 px, near the centre of 960x960
    kp = np.stack([small, big], axis=1).astype(np.float32)
    sc = np.tile([0.9, 0.5], (N, 1)).astype(np.float32)
    sc[3, 1] = np.nan  # frame 3: only slot 0
    kp[3, 1] = np.nan
    assert (largest(kp, sc)[[0, 1, 2, 4]] == 1).all() and largest(kp, sc)[3] == 0
    assert (central(kp, sc, (960, 960)) == 0).all()
    assert list(by_index(sc, 1)) == [1, 1, 1, -1, 1, 1, 1, 1, 1, 1]
    assert (choose(kp, sc, "best") == 0).all()
    alternate = np.array([0, 1] * 5)
    # frame 3 (slot 1 empty) is skipped: 0-1, 1-2 jump, 2-4 stays on the small one, then 5 more jumps
    assert switches(kp, alternate) == 7
    assert switches(kp, np.zeros(N, int)) == 0


def test_preprocess_uses_the_cameras_to_agree(tmp_path):
    import json
    import pickle

    from aistpp.core import formats
    from aistpp.pipeline.preprocess import PreprocessConfig, preprocess_sequence

    rig, dancer, bystander = scene(20)
    rig = type(rig)(("front", "left", "back", "right"), rig.sizes, rig.K, rig.dist, rig.rvec, rig.tvec)
    anno = tmp_path / "anno"
    formats.save_cameras(anno / "cameras" / "studio.json", rig)
    for v, view in enumerate(rig.names):
        res = [{"image_id": i, "keypoints": with_conf(dancer[v, i], 0.6).ravel().tolist(), "score": 0.6}
               for i in range(20)]
        if v == 0:
            res += [{"image_id": i, "keypoints": with_conf(bystander[v, i], 0.9).ravel().tolist(), "score": 0.9}
                    for i in range(20)]
        (tmp_path / "K" / "take").mkdir(parents=True, exist_ok=True)
        (tmp_path / "K" / "take" / f"{view}.json").write_text(json.dumps(res))
    base = dict(keypoints_dir=tmp_path / "K", save_dir=tmp_path / "out", executor="serial", quiet=True)
    info = preprocess_sequence("take", PreprocessConfig(**base, anno_dir=anno, setting="studio"))
    with open(tmp_path / "out" / "take.pkl", "rb") as f:
        out = pickle.load(f)
    assert out["view_names"] == ["front", "left", "back", "right"] and info["agreement_changes"] == 20
    np.testing.assert_allclose(out["keypoints2d"][0, :, :, :2], dancer[0], atol=1e-3)
    info = preprocess_sequence("take", PreprocessConfig(**base, overwrite=True))  # no cameras: no agreement
    assert info["agreement_changes"] == 0
