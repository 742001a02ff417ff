"""Richer joint sets through triangulate (issue 19 item 1): keypoints2d_full + joint_set ->
keypoints3d_full(_optim) + joint_set, bones per the set's own skeleton; COCO-17 keys unchanged.

Ground truth: synth's exact 3D points of the set (heels and toes are mesh vertices, neck and
mid-hip midpoints, the head top a vertex), written independently of the triangulation.
"""

from __future__ import annotations

import numpy as np
import pytest

from aistpp.core import formats
from aistpp.core.joint_sets import REGISTRY, convert
from aistpp.errors import AistppError
from aistpp.pipeline.preprocess import PreprocessConfig, run_preprocess
from aistpp.pipeline.triangulate import TriangulateConfig, triangulate_keypoints, triangulate_sequence
from aistpp.pipeline.triangulate_optim import bone_lengths
from tests.conftest import make_synth_data


@pytest.fixture(scope="module")
def halpe(tmp_path_factory):
    """1 sequence x 120 frames in HALPE-26 (seed 5), and the same seed in COCO-17 only."""
    root = tmp_path_factory.mktemp("halpe")
    data = make_synth_data(root / "halpe", seed=5, sequences=1, frames=120, videos=False, joint_set="halpe26")
    coco = make_synth_data(root / "coco", seed=5, sequences=1, frames=120, videos=False)
    return data, coco


def _config(anno, out, **kw):
    return TriangulateConfig(anno_dir=anno, save_dir=out, executor="serial", quiet=True, **kw)


def test_synth_writes_halpe26_detections_with_exact_truth(halpe):
    data, coco = halpe
    seq = data.sequences[0]
    kp2d = data.keypoints2d[seq]
    assert kp2d["joint_set"] == "halpe26" and kp2d["keypoints2d_full"].shape[2] == 26
    truth3d = formats.load_keypoints3d(data.anno_dir / "keypoints3d" / f"{seq}.pkl")
    assert truth3d["joint_set"] == "halpe26" and truth3d["keypoints3d_full"].shape == (120, 26, 3)
    # the COCO-17 data are the very bytes of a COCO-17-only dataset of the same seed
    np.testing.assert_array_equal(kp2d["keypoints2d"], coco.keypoints2d[seq]["keypoints2d"])
    assert "keypoints2d_full" not in coco.keypoints2d[seq]
    # the full set's COCO part is the COCO detection; its feet are noisy like the COCO points
    names = REGISTRY["halpe26"].names
    np.testing.assert_array_equal(kp2d["keypoints2d_full"][:, :, :17], kp2d["keypoints2d"])
    err = np.linalg.norm(kp2d["keypoints2d_full"][..., :2] - data.rig.project(truth3d["keypoints3d_full"]), axis=-1)
    clean = ~data.truth[seq]["swapped"]
    med = {n: float(np.nanmedian(np.where(clean, err[..., k], np.nan))) for k, n in enumerate(names)}
    for n in ("left_heel", "right_big_toe", "left_small_toe", "head_top", "nose"):
        assert 1.5 < med[n] < 3.5, (n, med[n])  # 2 px per axis: median radius ~2.35 px
    # heel and toes lie on the foot, the heel behind the toes, near the floor when the foot is low
    X = truth3d["keypoints3d_full"]
    ankle, heel, toe = X[:, names.index("left_ankle")], X[:, names.index("left_heel")], X[:, names.index("left_big_toe")]
    assert 5 < np.median(np.linalg.norm(toe - heel, axis=-1)) < 35
    assert np.median(np.linalg.norm(heel - ankle, axis=-1)) < 15
    assert X[..., 1].min() > -1.0  # nothing below the floor


def test_halpe26_is_triangulated_and_optimised_with_its_bones(halpe, tmp_path):
    data, _ = halpe
    seq = data.sequences[0]
    info = triangulate_sequence(seq, _config(data.anno_dir, tmp_path / "k3"))
    out = formats.load_keypoints3d(tmp_path / "k3" / f"{seq}.pkl")
    assert out["joint_set"] == "halpe26" and info["joint_set"] == "halpe26"
    assert out["keypoints3d"].shape == (120, 17, 3) and out["keypoints3d_full_optim"].shape == (120, 26, 3)
    truth = formats.load_keypoints3d(data.anno_dir / "keypoints3d" / f"{seq}.pkl")["keypoints3d_full"]
    raw = np.nanmean(np.linalg.norm(out["keypoints3d_full"] - truth, axis=-1), axis=0)
    opt = np.nanmean(np.linalg.norm(out["keypoints3d_full_optim"] - truth, axis=-1), axis=0)
    feet = [REGISTRY["halpe26"].names.index(n) for n in ("left_heel", "right_heel", "left_big_toe", "right_small_toe")]
    assert raw[feet].max() < 1.5 and opt[feet].max() < 0.8, (raw[feet], opt[feet])
    assert opt.mean() < raw.mean()
    # the foot bones of HALPE-26's skeleton keep their length (the truth's are rigid up to skinning)
    bones = REGISTRY["halpe26"].bones
    sd_opt = np.nanstd(np.linalg.norm(out["keypoints3d_full_optim"][:, bones[:, 0]] -
                                      out["keypoints3d_full_optim"][:, bones[:, 1]], axis=-1), axis=0)
    sd_raw = np.nanstd(np.linalg.norm(out["keypoints3d_full"][:, bones[:, 0]] -
                                      out["keypoints3d_full"][:, bones[:, 1]], axis=-1), axis=0)
    assert np.median(sd_opt) < 0.5 * np.median(sd_raw)


def test_coco17_keys_do_not_depend_on_the_full_set(halpe, tmp_path):
    """The released keys of a HALPE-26 sequence equal those of its COCO-17-only twin, bit for bit,
    and a COCO-17-only file gets no extra key."""
    data, coco = halpe
    seq = data.sequences[0]
    triangulate_sequence(seq, _config(data.anno_dir, tmp_path / "full"))
    triangulate_sequence(seq, _config(coco.anno_dir, tmp_path / "coco"))
    full = formats.load_keypoints3d(tmp_path / "full" / f"{seq}.pkl")
    only = formats.load_keypoints3d(tmp_path / "coco" / f"{seq}.pkl")
    assert set(only) == {"keypoints3d", "keypoints3d_optim"}
    for key in ("keypoints3d", "keypoints3d_optim"):
        assert full[key].tobytes() == only[key].tobytes()
    # and the COCO-17 file is what triangulate_keypoints' COCO default makes
    res = triangulate_keypoints(coco.rig, coco.keypoints2d[seq]["keypoints2d"])
    assert res["keypoints3d_optim"].astype(np.float32).tobytes() == only["keypoints3d_optim"].tobytes()


def test_body25_from_openpose_files_through_preprocess(halpe, tmp_path):
    """synth's OpenPose BODY_25 JSON -> preprocess (keypoints2d_full in BODY_25) -> triangulate:
    feet in BODY_25's order, close to the truth."""
    data, _ = halpe
    seq = data.sequences[0]
    report = run_preprocess(PreprocessConfig(keypoints_dir=data.detections_dir, save_dir=tmp_path / "anno" / "keypoints2d",
                                             anno_dir=data.anno_dir, joint_set="body25", executor="serial", quiet=True))
    assert all(it.status == "done" for it in report.items), [it.error for it in report.items]
    (tmp_path / "anno" / "cameras").symlink_to(data.anno_dir / "cameras")
    triangulate_sequence(seq, _config(tmp_path / "anno", tmp_path / "k3"))
    out = formats.load_keypoints3d(tmp_path / "k3" / f"{seq}.pkl")
    assert out["joint_set"] == "body25" and out["keypoints3d_full_optim"].shape[1] == 25
    truth = convert(formats.load_keypoints3d(data.anno_dir / "keypoints3d" / f"{seq}.pkl")["keypoints3d_full"],
                    "halpe26", "body25")
    err = np.nanmean(np.linalg.norm(out["keypoints3d_full_optim"] - truth, axis=-1), axis=0)
    names = REGISTRY["body25"].names
    for n in ("left_heel", "right_heel", "left_big_toe", "right_big_toe", "left_small_toe", "mid_hip", "neck"):
        assert err[names.index(n)] < 1.0, (n, err[names.index(n)])


@pytest.mark.parametrize("target", ["wholebody133", "blazepose33"])
def test_other_sets_with_points_no_view_sees(halpe, target):
    """WholeBody-133 (no face or hand detection here) and BlazePose-33 (no eye corners, mouth, hands):
    the points nobody saw stay NaN, the rest are triangulated with the set's bones."""
    data, _ = halpe
    seq = data.sequences[0]
    kp = convert(data.keypoints2d[seq]["keypoints2d_full"], "halpe26", target)
    res = triangulate_keypoints(data.rig, kp, bones=REGISTRY[target].bones)
    truth = convert(formats.load_keypoints3d(data.anno_dir / "keypoints3d" / f"{seq}.pkl")["keypoints3d_full"],
                    "halpe26", target)
    seen = np.isfinite(truth[0, :, 0])
    assert np.isnan(res["keypoints3d_optim"][:, ~seen]).all()
    err = np.nanmean(np.linalg.norm(res["keypoints3d_optim"][:, seen] - truth[:, seen], axis=-1), axis=0)
    assert err.max() < 1.0
    lengths = bone_lengths(res["keypoints3d_optim"], REGISTRY[target].bones)
    assert np.isfinite(lengths).sum() >= 10


def test_full_set_files_that_do_not_fit_are_refused(halpe, tmp_path):
    data, _ = halpe
    seq = data.sequences[0]
    anno = tmp_path / "anno"
    (anno / "keypoints2d").mkdir(parents=True)
    (anno / "cameras").symlink_to(data.anno_dir / "cameras")
    kp2d = dict(data.keypoints2d[seq])
    path = anno / "keypoints2d" / f"{seq}.pkl"
    for bad, msg in ((dict(joint_set="my_detector"), "does not know"),
                     (dict(keypoints2d_full=kp2d["keypoints2d_full"][:, :, :20]), "has 20 points")):
        formats.save_keypoints2d(path, **(kp2d | bad))
        with pytest.raises(AistppError, match=msg) as exc:
            triangulate_sequence(seq, _config(anno, tmp_path / "out"))
        assert exc.value.path == path
    assert not (tmp_path / "out" / f"{seq}.pkl").exists()


def test_keypoints3d_full_keys_are_checked(tmp_path):
    kp = np.zeros((4, 17, 3), np.float32)
    path = tmp_path / "k.pkl"
    formats.save_keypoints3d(path, kp, kp, keypoints3d_full=np.zeros((4, 26, 3)))
    with pytest.raises(AistppError, match="joint_set"):
        formats.load_keypoints3d(path)
    formats.save_keypoints3d(path, kp, kp, keypoints3d_full=np.zeros((5, 26, 3)), joint_set="halpe26")
    with pytest.raises(AistppError, match="keypoints3d_full"):
        formats.load_keypoints3d(path)
    formats.save_keypoints3d(path, kp, kp, keypoints3d_full=np.zeros((4, 26, 3)),
                             keypoints3d_full_optim=np.zeros((4, 26, 3)), joint_set="halpe26")
    assert formats.load_keypoints3d(path)["keypoints3d_full_optim"].dtype == np.float32


def test_cli_synth_joint_set_then_triangulate_and_fit(tmp_path):
    """aistpp synth --joint-set halpe26 --planted-feet -> triangulate -> fit-smpl on the command line:
    the full set flows through and fit-smpl reports its feet."""
    from typer.testing import CliRunner

    from aistpp.cli import app

    run = CliRunner()
    out = tmp_path / "d"
    res = run.invoke(app, ["synth", "--out", str(out), "--sequences", "1", "--frames", "40", "--no-videos",
                           "--joint-set", "halpe26", "--planted-feet", "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    anno = out / "annotations"
    res = run.invoke(app, ["triangulate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "keypoints3d"), "--quiet"])
    assert res.exit_code == 0, res.output
    (seq,) = [p.stem for p in (tmp_path / "keypoints3d").glob("*.pkl")]
    assert formats.load_keypoints3d(tmp_path / "keypoints3d" / f"{seq}.pkl")["joint_set"] == "halpe26"
    report = tmp_path / "fit.json"
    res = run.invoke(app, ["fit-smpl", "--anno-dir", str(tmp_path), "--smpl-dir", str(out / "smpl"), "--save-dir",
                           str(tmp_path / "m"), "--quiet", "--fps", "60", "--report", str(report)])
    assert res.exit_code == 0, res.output
    import json

    items = json.loads(report.read_text())["items"]
    assert items[0]["info"]["feet_error_cm"] < 2.0
    res = run.invoke(app, ["synth", "--out", str(tmp_path / "e"), "--joint-set", "wholebody133"])
    assert res.exit_code == 2 and "joint" in res.output.lower()
