"""SMPL-H and SMPL-X: the synthetic model files, their restricted loading, our forward pass
against smplx's, and fit-smpl --model smplh|smplx with hand keypoints on synthetic ground truth.

The peer is ``smplx.SMPLH`` / ``smplx.SMPLX`` reading the synthetic files directly (they are
ours: generated here, so plain loading is safe); ground truth hand motion comes from
``synth.hands`` and is posed by smplx for the fit test, not by our code.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import zipfile

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.fast_body import BodyFK, body_view, full_pose
from aistpp.core.fast_smpl import FastSMPL
from aistpp.core.joint_sets import HANDS42, WHOLEBODY133
from aistpp.core.smplx_files import load_model_data
from aistpp.core.smplx_joints import JOINT_NAMES, VERTEX_IDS, output_names
from aistpp.errors import AistppError
from aistpp.pipeline.synth.body_model_x import make_body_model_x, model_file_name, write_body_model_x
from aistpp.pipeline.synth.hands import make_hand_motion, model_keypoints
from aistpp.pipeline.synth.motion import make_motion

KINDS = ("smplh", "smplx")
TIPS = [i for i, n in enumerate(HANDS42) if n.endswith("4")]  # 10 fingertips among the 42 hand points


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """kind -> (folder with <KIND>_NEUTRAL.npz and .pkl, model dict)."""
    out = {}
    for kind in KINDS:
        folder = tmp_path_factory.mktemp(kind)
        data = make_body_model_x(kind)
        for ext in (".npz", ".pkl"):
            write_body_model_x(folder / model_file_name(kind, "neutral", ext), data)
        out[kind] = (folder, data)
    return out


def peer(kind: str, path, n: int):
    """smplx's own model on the file (float64, full hand poses)."""
    import smplx

    cls = smplx.SMPLX if kind == "smplx" else smplx.SMPLH
    with contextlib.redirect_stdout(io.StringIO()):
        return cls(str(path), ext=path.suffix[1:], use_pca=False, flat_hand_mean=True, batch_size=n,
                   dtype=torch.float64)


def peer_points(model, kind: str, pose: np.ndarray, trans: np.ndarray, scale: float, betas=None, expression=None):
    """smplx's joints and vertex joints (N, J + 21, 3) and vertices, posed with the dataset's scaling (cm)."""
    names = JOINT_NAMES[kind]
    n = len(pose)
    T = lambda a: torch.as_tensor(np.asarray(a, np.float64))  # noqa: E731
    li, ri = names.index("left_index1"), names.index("right_index1")
    kw = dict(global_orient=T(pose[:, 0]), body_pose=T(pose[:, 1:22].reshape(n, -1)),
              left_hand_pose=T(pose[:, li:li + 15].reshape(n, -1)),
              right_hand_pose=T(pose[:, ri:ri + 15].reshape(n, -1)),
              betas=T(np.tile(np.zeros(10) if betas is None else betas, (n, 1))),
              transl=torch.zeros(n, 3, dtype=torch.float64))
    if kind == "smplx":
        kw.update(jaw_pose=T(pose[:, 22]), leye_pose=T(pose[:, 23]), reye_pose=T(pose[:, 24]),
                  expression=T(np.tile(np.zeros(10) if expression is None else expression, (n, 1))))
    with torch.no_grad():
        out = model(**kw)
    nj = len(names)
    return (out.joints[:, : nj + 21].numpy() * scale + trans[:, None], out.vertices.numpy() * scale + trans[:, None])


@pytest.mark.parametrize("kind", KINDS)
def test_synthetic_files_have_the_models_layout(models, kind):
    folder, data = models[kind]
    nv = {"smplh": 6890, "smplx": 10475}[kind]
    nj = len(JOINT_NAMES[kind])
    assert data["v_template"].shape == (nv, 3) and data["weights"].shape == (nv, nj)
    assert data["posedirs"].shape == (nv, 3, 9 * (nj - 1))
    assert np.allclose(data["weights"].sum(1), 1)
    for ext in (".npz", ".pkl"):
        loaded = load_model_data(folder / model_file_name(kind, "neutral", ext), kind)
        assert np.array_equal(loaded["v_template"], data["v_template"])
        m = peer(kind, folder / model_file_name(kind, "neutral", ext), 1)
        assert m.J_regressor.shape == (nj, nv)
    # the fingertip vertex joints sit at the ends of the fingers: beyond the last finger joint
    J = np.asarray(data["J_regressor"] @ data["v_template"])
    names = JOINT_NAMES[kind]
    for side, s in (("left", 1), ("right", -1)):
        tips = VERTEX_IDS[kind][11 if side == "left" else 16:]
        for finger, vid in zip(("thumb", "index", "middle", "ring", "pinky"), tips):
            j3 = J[names.index(f"{side}_{finger}3")]
            assert s * (data["v_template"][vid, 0] - j3[0]) > 0.005, (side, finger)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ext", [".npz", ".pkl"])
def test_forward_pass_agrees_with_smplx(models, kind, ext):
    """Item 3: every joint, vertex joint and vertex, random body / hand / jaw / eye poses, betas
    and expression, to 1e-4 cm."""
    folder, _ = models[kind]
    path = folder / model_file_name(kind, "neutral", ext)
    rng = np.random.default_rng(len(kind) + len(ext))
    n = 6
    data = load_model_data(path, kind)
    fk = BodyFK(data, kind)
    pose = rng.normal(0, 0.5, (n, fk.nj, 3))
    trans, scale = rng.normal(0, 80, (n, 3)), rng.uniform(85, 100)
    betas, expression = rng.normal(0, 1, 10), rng.normal(0, 1, 10)
    ref_joints, ref_verts = peer_points(peer(kind, path, n), kind, pose, trans, scale, betas,
                                        expression if kind == "smplx" else None)
    ours = fk.pose_numpy(pose, trans, scale, betas, expression if kind == "smplx" else None)
    assert np.abs(ours - ref_joints).max() < 1e-4
    verts = fk.with_all_vertices().pose_numpy(pose, trans, scale, betas, expression if kind == "smplx" else None)
    assert np.abs(verts[:, fk.nj:] - ref_verts).max() < 1e-4
    if kind == "smplx":  # our names of smplx's output are smplx's
        from smplx.joint_names import JOINT_NAMES as SMPLX_NAMES

        assert output_names(kind)[: fk.nj + 21] == tuple(SMPLX_NAMES[: fk.nj + 21])


@pytest.mark.parametrize("kind", KINDS)
def test_body_view_is_the_body_with_hands_at_rest(models, kind):
    """FastSMPL on body_view: SMPL's 24-joint skeleton and face vertices equal smplx's body."""
    folder, data = models[kind]
    rng = np.random.default_rng(7)
    n = 5
    pose = np.zeros((n, len(JOINT_NAMES[kind]), 3))
    pose[:, :22] = rng.normal(0, 0.5, (n, 22, 3))
    trans = rng.normal(0, 50, (n, 3))
    ref, _ = peer_points(peer(kind, folder / model_file_name(kind, "neutral"), n), kind, pose, trans, 93.0)
    p72 = np.zeros((n, 72))
    p72[:, :66] = pose[:, :22].reshape(n, 66)
    fast = FastSMPL(body_view(load_model_data(folder / model_file_name(kind, "neutral"), kind), kind))
    ours = fast(torch.as_tensor(p72), torch.as_tensor(trans), 93.0).numpy()
    nj = len(JOINT_NAMES[kind])
    assert np.abs(ours[:, :22] - ref[:, :22]).max() < 1e-4
    coco = fast.coco_index()  # COCO-17 through the body view = COCO-17 read off smplx by name
    names = output_names(kind)
    from aistpp.core.joint_sets import COCO17
    want = ref[:, [names.index(n) if n in names else -1 for n in COCO17]]
    assert np.abs(ours[:, coco] - want).max() < 1e-4 and nj > 22


# ---- crafted files --------------------------------------------------------------------------
def _npz(path, data):
    np.savez(path, **{k: (v.toarray() if hasattr(v, "toarray") else v) for k, v in data.items()})


def crafted(data: dict) -> dict[str, dict]:
    nv = len(data["v_template"])
    bad = {}
    d = dict(data)
    d["f"] = np.array(data["f"], np.int64)
    d["f"][0, 0] = nv + 5
    bad["face index past the vertices"] = d
    d = dict(data)
    d["kintree_table"] = np.array(data["kintree_table"], np.int64)
    d["kintree_table"][0, 30] = 40
    bad["a joint's parent after it"] = d
    d = dict(data)
    d["weights"] = data["weights"][:, :-1]
    bad["weights of the wrong shape"] = d
    d = dict(data)
    d["posedirs"] = np.array(data["posedirs"])
    d["posedirs"][3, 1, 2] = np.nan
    bad["NaN pose corrective"] = d
    d = dict(data)
    del d["J_regressor"]
    bad["no J_regressor"] = d
    return bad


@pytest.mark.parametrize("kind", KINDS)
def test_crafted_files_are_refused(models, kind, tmp_path):
    """Item 1: wrong shapes, indices out of range, NaN, a missing key, an object array (a pickle
    inside the .npz), a header claiming more data than the member holds, a hostile pickle:
    each one AistppError naming the file; nothing runs."""
    _, data = models[kind]
    cases = []
    for name, d in crafted(data).items():
        for ext in (".npz", ".pkl"):
            p = tmp_path / f"{len(cases)}{ext}"
            _npz(p, d) if ext == ".npz" else p.write_bytes(pickle.dumps(d, protocol=2))
            cases.append((name, p))
    sentinel = tmp_path / "ran"
    obj = dict(data)
    obj["f"] = np.array([None, __import__("os").system], dtype=object)
    p = tmp_path / "object.npz"
    _npz(p, obj)
    cases.append(("object array", p))

    class Evil:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {sentinel}",))

    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({**data, "f": Evil()}, protocol=2))
    cases.append(("os.system in the pickle", p))
    p = tmp_path / "short.npz"  # a member whose header claims 10^12 floats
    with zipfile.ZipFile(p, "w") as z:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
        z.writestr("v_template.npy", b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * 64)
    cases.append(("header claims more than the member", p))
    for name, path in cases:
        with pytest.raises(AistppError) as exc:
            load_model_data(path, kind)
        assert exc.value.path == path, name
        assert "\n" not in str(exc.value), name
    assert not sentinel.exists()


def test_crafted_model_exits_2_through_fit_smpl(models, tmp_path):
    folder, data = models["smplx"]
    bad = tmp_path / "models"
    bad.mkdir()
    _npz(bad / "SMPLX_NEUTRAL.npz", crafted(data)["face index past the vertices"])
    anno = tmp_path / "anno"
    (anno / "keypoints3d").mkdir(parents=True)
    formats.save_keypoints3d(anno / "keypoints3d" / "gWA_sFM_cAll_d27_mWA2_ch21.pkl", np.zeros((5, 17, 3)),
                             np.zeros((5, 17, 3)))
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(bad), "--save-dir",
                                   str(tmp_path / "out"), "--model", "smplx", "--executor", "serial"])
    assert res.exit_code == 2, res.output
    assert "SMPLX_NEUTRAL.npz" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(tmp_path), "--save-dir",
                                   str(tmp_path / "out"), "--model", "smplh", "--executor", "serial"])
    assert res.exit_code == 2 and "SMPLH_NEUTRAL" in res.output, res.output


# ---- the fit --------------------------------------------------------------------------------
def ground_truth(kind: str, folder, n: int, seed: int):
    """A dance with moving hands posed by smplx: (pose (N, J, 3), motion, WholeBody-133 points (N, 133, 3))."""
    rng = np.random.default_rng(seed)
    path = folder / model_file_name(kind, "neutral")
    data = load_model_data(path, kind)
    rest = np.asarray(data["J_regressor"] @ data["v_template"])
    motion = make_motion(n, rng)
    hands = make_hand_motion(n, rng, rest, kind)
    pose = full_pose(kind, motion["smpl_poses"], **hands)
    pose[:, 20], pose[:, 21] = hands["wrists"][:, 0], hands["wrists"][:, 1]
    joints, _ = peer_points(peer(kind, path, n), kind, pose, motion["smpl_trans"].astype(np.float64),
                            float(motion["smpl_scaling"][0]))
    return pose, motion, model_keypoints(joints, kind, "wholebody133"), rng


@pytest.mark.parametrize("kind", KINDS)
def test_fit_smpl_model_fits_fingers(models, kind, tmp_path):
    """Item 3's acceptance: fit-smpl --model smplh|smplx on noisy WholeBody-133 keypoints3d_full
    (0.4 cm noise, some hand points missing): finger-tip error <= 1.5 cm against the truth,
    the motion's keys as smplx names them, smpl_poses still the body's 72 numbers."""
    folder, _ = models[kind]
    n = 150
    pose, motion, truth, rng = ground_truth(kind, folder, n, seed=11)
    noisy = truth + rng.normal(0, 0.4, truth.shape)
    hands = slice(len(WHOLEBODY133) - 42, None)
    drop = rng.random((n, 42)) < 0.05
    noisy[:, hands][drop] = np.nan
    anno = tmp_path / "anno"
    (anno / "keypoints3d").mkdir(parents=True)
    name = "gWA_sFM_cAll_d27_mWA2_ch21"
    formats.save_keypoints3d(anno / "keypoints3d" / f"{name}.pkl", noisy[:, :17], noisy[:, :17],
                             keypoints3d_full=noisy.astype(np.float32), joint_set="wholebody133")
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(folder), "--save-dir",
                                   str(tmp_path / "out"), "--model", kind, "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    mo = formats.load_motion(tmp_path / "out" / f"{name}.pkl")
    assert mo["body_model"] == kind and mo["smpl_poses"].shape == (n, 72)
    assert np.all(mo["smpl_poses"][:, 66:] == 0)
    keys = {"left_hand_pose", "right_hand_pose", "betas"} | ({"jaw_pose", "leye_pose", "reye_pose", "expression"}
                                                             if kind == "smplx" else set())
    assert keys <= set(mo)
    assert mo["left_hand_pose"].shape == (n, 45)
    if kind == "smplx":
        assert np.all(mo["jaw_pose"] == 0) and np.all(mo["expression"] == 0)
    fitted = full_pose(kind, mo["smpl_poses"], **{k: mo[k] for k in mo if k.endswith("_pose")})
    joints, _ = peer_points(peer(kind, folder / model_file_name(kind, "neutral"), n), kind, fitted,
                            mo["smpl_trans"].astype(np.float64), float(mo["smpl_scaling"][0]))
    fit = model_keypoints(joints, kind, "wholebody133")[:, hands]
    tip_err = np.linalg.norm(fit[:, TIPS] - truth[:, hands][:, TIPS], axis=-1)
    assert tip_err.mean() <= 1.5 and np.percentile(tip_err, 95) <= 1.5, (tip_err.mean(), np.percentile(tip_err, 95))
    # the fingers did move: a flat hand would be far off
    flat = pose.copy()
    flat[:, 22:] = 0
    flat_joints, _ = peer_points(peer(kind, folder / model_file_name(kind, "neutral"), n), kind, flat,
                                 motion["smpl_trans"].astype(np.float64), float(motion["smpl_scaling"][0]))
    flat_err = np.linalg.norm(model_keypoints(flat_joints, kind, "wholebody133")[:, hands][:, TIPS]
                              - truth[:, hands][:, TIPS], axis=-1)
    assert flat_err.mean() > 3 * tip_err.mean()


def test_without_hand_points_the_hands_stay_at_rest(models, tmp_path):
    """COCO-17 only, --model smplx: the body is fitted, the hands keep zero poses."""
    folder, _ = models["smplx"]
    n = 60
    pose, motion, truth, rng = ground_truth("smplx", folder, n, seed=3)
    anno = tmp_path / "anno"
    (anno / "keypoints3d").mkdir(parents=True)
    name = "gWA_sFM_cAll_d27_mWA2_ch21"
    formats.save_keypoints3d(anno / "keypoints3d" / f"{name}.pkl", truth[:, :17], truth[:, :17])
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(folder), "--save-dir",
                                   str(tmp_path / "out"), "--model", "smplx", "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    mo = formats.load_motion(tmp_path / "out" / f"{name}.pkl")
    assert np.all(mo["left_hand_pose"] == 0) and np.all(mo["smpl_poses"][:, 60:] == 0)
    joints, _ = peer_points(peer("smplx", folder / model_file_name("smplx", "neutral"), n), "smplx",
                            full_pose("smplx", mo["smpl_poses"]), mo["smpl_trans"].astype(np.float64),
                            float(mo["smpl_scaling"][0]))
    coco = model_keypoints(joints, "smplx", "coco17")
    assert np.linalg.norm(coco - truth[:, :17], axis=-1).mean() < 1.5


# ---- export ---------------------------------------------------------------------------------
def _bvh_positions(path, names, frames: int):
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    layout = root.layout()
    have = [j.Name for j, _, _ in layout]
    out = []
    for f in range(frames):
        root.loadPose(f)
        pos = [[j.PositionWorld.x, j.PositionWorld.y, j.PositionWorld.z] for j, _, _ in layout]
        out.append([pos[have.index(n)] for n in names])
    return np.asarray(out)


@pytest.mark.parametrize("kind", KINDS)
def test_export_bvh_and_npz_with_fingers(models, kind, tmp_path):
    """Item 4: BVH with every model joint (fingers included) read back by bvhio equals smplx's
    joints; the npz posed by smplx (its own keys, no scale) is the motion at model size."""
    folder, _ = models[kind]
    n = 3
    pose, motion, _, _ = ground_truth(kind, folder, n, seed=5)
    from aistpp.core.fast_body import split_pose

    keys = split_pose(kind, pose)
    anno = tmp_path / "anno"
    (anno / "motions").mkdir(parents=True)
    name = "gWA_sFM_cAll_d27_mWA2_ch21"
    extra = {k: v for k, v in keys.items() if k != "smpl_poses"}
    formats.save_motion(anno / "motions" / f"{name}.pkl", keys["smpl_poses"], motion["smpl_trans"],
                        motion["smpl_scaling"], 0.0, body_model=kind, smpl_gender="neutral", **extra)
    trans, scale = motion["smpl_trans"].astype(np.float64), float(motion["smpl_scaling"][0])
    joints, verts = peer_points(peer(kind, folder / model_file_name(kind, "neutral"), n), kind, pose, trans, scale)
    names = JOINT_NAMES[kind]
    base = ["export", "--anno-dir", str(anno), "--smpl-dir", str(folder), "--executor", "serial", "--quiet"]
    res = CliRunner().invoke(app, base + ["--save-dir", str(tmp_path / "bvh"), "--no-floor"])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "bvh" / f"{name}.bvh").read_text()
    assert "JOINT left_index3" in text and "JOINT right_thumb1" in text
    got = _bvh_positions(tmp_path / "bvh" / f"{name}.bvh", names, n)
    assert np.abs(got - joints[:, : len(names)]).max() < 1e-3  # cm
    res = CliRunner().invoke(app, base + ["--save-dir", str(tmp_path / "npz"), "--format", "npz"])
    assert res.exit_code == 0, res.output
    with np.load(tmp_path / "npz" / f"{name}.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    assert data["poses"].shape == (n, 3 * len(names)) and str(data["surface_model_type"]) == kind
    T = lambda a: torch.as_tensor(np.asarray(a, np.float64))  # noqa: E731
    kw = {k: T(data[k]) for k in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose")}
    if kind == "smplx":
        kw.update({k: T(data[k]) for k in ("jaw_pose", "leye_pose", "reye_pose", "expression")})
    with torch.no_grad():
        out = peer(kind, folder / model_file_name(kind, "neutral"), n)(
            betas=T(np.tile(data["betas"], (n, 1))), transl=T(data["trans"]), **kw)
    lowest = verts[..., 1].min()
    expected = (joints[:, : len(names)] - [0, lowest, 0]) / scale
    assert np.abs(out.joints[:, : len(names)].numpy() - expected).max() < 1e-5


# ---- vis ------------------------------------------------------------------------------------
def test_vis_smpl_mode_draws_the_fingers(models, tmp_path):
    """Item 4: vis --mode smpl on a SMPL-X motion draws the hand joints: the video of a motion
    with curled fingers differs from the same motion with flat hands, and only around the
    hands (where smplx puts them, projected by OpenCV)."""
    import av
    import cv2

    from aistpp.core.fast_body import split_pose
    from aistpp.core.rig import aist_like_ring
    from aistpp.pipeline.vis import VisConfig, vis_video

    folder, _ = models["smplx"]
    n = 2
    pose, motion, truth, _ = ground_truth("smplx", folder, n, seed=9)
    rig = aist_like_ring(num_views=2, size=(640, 360), focal=1600 / 3)
    frames = {}
    for label, p in (("curled", pose), ("flat", np.concatenate([pose[:, :25], 0 * pose[:, 25:]], 1))):
        anno = tmp_path / label / "anno"
        seq = "gWA_sFM_cAll_d27_mWA2_ch21"
        formats.save_cameras(anno / "cameras" / "setting1.json", rig)
        formats.write_mapping(anno / "cameras" / "mapping.txt", {seq: "setting1"})
        keys = split_pose("smplx", p)
        formats.save_motion(anno / "motions" / f"{seq}.pkl", keys.pop("smpl_poses"), motion["smpl_trans"],
                            motion["smpl_scaling"], 0.0, body_model="smplx", smpl_gender="neutral", **keys)
        name = seq.replace("cAll", rig.names[0])
        vis_video(name, VisConfig(anno_dir=anno, smpl_dir=folder, save_dir=tmp_path / label, video_name=name,
                                  mode="smpl", end=n))
        with av.open(str(tmp_path / label / f"{name}.mp4")) as c:
            frames[label] = [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]
    hands = slice(len(WHOLEBODY133) - 42, None)
    K, dist = rig.K[0], rig.dist[0]
    for i in range(n):
        diff = np.abs(frames["curled"][i].astype(int) - frames["flat"][i].astype(int)).max(-1) > 60
        assert diff.sum() > 20  # the fingers are drawn, and they moved
        pts = truth[i, hands]
        px, _ = cv2.projectPoints(pts, cv2.Rodrigues(rig.R[0])[0], rig.tvec[0], K, dist)
        px = px.reshape(-1, 2)
        lo, hi = px.min(0) - 30, px.max(0) + 30  # the curled hands' box (flat fingers reach a little further)
        ys, xs = np.nonzero(diff)
        inside = (xs >= lo[0]) & (xs <= hi[0]) & (ys >= lo[1]) & (ys <= hi[1])
        assert inside.mean() > 0.99, inside.mean()


def test_hand_jacobian_matches_autograd(models):
    """The hand stage's analytic Jacobian (pose correctives included) equals autograd's."""
    from aistpp.core.fast_smpl import axis_angle_to_matrix
    from aistpp.core.smplx_joints import SIDES, hand_index
    from aistpp.pipeline import fit_hands as fh

    _, data = models["smplx"]
    fk = BodyFK(load_model_data(models["smplx"][0] / model_file_name("smplx", "neutral"), "smplx"), "smplx")
    rng = np.random.default_rng(0)
    n = 3
    pose = torch.as_tensor(rng.normal(0, 0.5, (n, fk.nj, 3)))
    slots = fh.hand_slots("smplx")
    slot_t = torch.as_tensor(slots.reshape(-1))
    idx = np.stack([hand_index("smplx", s) for s in SIDES])
    x = pose[:, slot_t].reshape(n, 2, 48).clone()
    _, J = fh._jacobian(fk, fh._Carry(fk, "smplx", idx, slots), x, pose, slot_t, slots, 90.0, None)

    def f(xx):
        full = torch.index_copy(pose, 1, slot_t, xx.reshape(n, 32, 3))
        return (fk.forward_matrices(axis_angle_to_matrix(full)) * 90.0)[:, torch.as_tensor(idx)]

    Ja = torch.autograd.functional.jacobian(f, x)  # (n, 2, 21, 3, n, 2, 48)
    Ja = torch.stack([torch.stack([Ja[i, h, :, :, i, h].reshape(63, 48) for h in range(2)]) for i in range(n)])
    assert (J - Ja).abs().max() < 1e-9 * Ja.abs().max()


def _synth_hands(tmp_path, views: int):
    """synth --hands smplx, one 40-frame sequence: (output folder, annotations, sequence name)."""
    out = tmp_path / "synth"
    res = CliRunner().invoke(app, ["synth", "--out", str(out), "--sequences", "1", "--frames", "40", "--views",
                                   str(views), "--no-videos", "--hands", "smplx", "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    anno = out / "annotations"
    return out, anno, next((anno / "motions").glob("*.pkl")).stem


def _fingertip_errors(out, motion_file, truth) -> np.ndarray:
    """(N, 10) cm: smplx's fingertips of a fitted SMPL-X motion against synth's truth keypoints3d_full."""
    mo = formats.load_motion(motion_file)
    pose = full_pose("smplx", mo["smpl_poses"], **{k: mo[k] for k in mo if k.endswith("_pose")})
    joints, _ = peer_points(peer("smplx", out / "smpl" / "SMPLX_NEUTRAL.npz", len(pose)), "smplx", pose,
                            mo["smpl_trans"].astype(np.float64), float(mo["smpl_scaling"][0]))
    hands = slice(len(WHOLEBODY133) - 42, None)
    fit = model_keypoints(joints, "smplx", "wholebody133")[:, hands][:, TIPS]
    return np.linalg.norm(fit - truth["keypoints3d_full"][:, hands][:, TIPS], axis=-1)


def test_synth_hands_through_fit_smpl(tmp_path):
    """synth --hands smplx: SMPL-X motions with moving hands, WholeBody-133 keypoints3d_full and
    keypoints2d_full (hands detected); fit-smpl --model smplx on it puts smplx's fingertips within
    1.5 cm of synth's."""
    out, anno, seq = _synth_hands(tmp_path, views=3)
    truth = formats.load_keypoints3d(anno / "keypoints3d" / f"{seq}.pkl")
    det = formats.load_keypoints2d(anno / "keypoints2d" / f"{seq}.pkl")
    assert truth["joint_set"] == det["joint_set"] == "wholebody133"
    assert det["keypoints2d_full"].shape == (3, 40, 133, 3)
    hands = slice(len(WHOLEBODY133) - 42, None)
    assert np.isfinite(det["keypoints2d_full"][:, :, hands]).mean() > 0.8
    assert np.isnan(det["keypoints2d_full"][:, :, 23:91]).all()  # no face points
    gt_motion = formats.load_motion(anno / "motions" / f"{seq}.pkl")
    assert gt_motion["body_model"] == "smplx" and np.abs(gt_motion["left_hand_pose"]).max() > 0.5
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(out / "smpl"), "--save-dir",
                                   str(tmp_path / "fit"), "--model", "smplx", "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    err = _fingertip_errors(out, tmp_path / "fit" / f"{seq}.pkl", truth)
    assert err.mean() <= 1.5 and np.percentile(err, 95) <= 1.5, (err.mean(), np.percentile(err, 95))
    # code written for SMPL (info --quality, features) poses a SMPL-X motion's body (core.body.load_smpl)
    res = CliRunner().invoke(app, ["info", "--anno-dir", str(anno), "--smpl-dir", str(out / "smpl"), "--quality"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["features", "--anno-dir", str(anno), "--smpl-dir", str(out / "smpl"), "--save-dir",
                                   str(tmp_path / "features"), "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output


def test_synth_hands_detections_triangulated_then_fitted(tmp_path):
    """The whole rebuild with hands: synth --hands smplx (6 views; 2D detections of the body and
    hands with synth's noise and faults) -> triangulate (keypoints3d_full in WholeBody-133) ->
    fit-smpl --model smplx on those 3D points, not on synth's exact ones. smplx poses the fit; its
    fingertips are compared with synth's ground truth: within 1.5 cm (mean and 95th percentile)."""
    out, anno, seq = _synth_hands(tmp_path, views=6)
    rebuilt = tmp_path / "rebuilt"
    res = CliRunner().invoke(app, ["triangulate", "--anno-dir", str(anno), "--save-dir", str(rebuilt / "keypoints3d"),
                                   "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    (rebuilt / "cameras").mkdir()
    for f in (anno / "cameras").iterdir():
        (rebuilt / "cameras" / f.name).write_bytes(f.read_bytes())
    tri = formats.load_keypoints3d(rebuilt / "keypoints3d" / f"{seq}.pkl")
    truth = formats.load_keypoints3d(anno / "keypoints3d" / f"{seq}.pkl")
    assert tri["joint_set"] == "wholebody133"
    hands = slice(len(WHOLEBODY133) - 42, None)
    assert np.nanmedian(np.linalg.norm(tri["keypoints3d_full"][:, hands] - truth["keypoints3d_full"][:, hands], axis=-1)) > 0.1
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(rebuilt), "--smpl-dir", str(out / "smpl"), "--save-dir",
                                   str(tmp_path / "fit"), "--model", "smplx", "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    assert formats.load_motion(tmp_path / "fit" / f"{seq}.pkl")["body_model"] == "smplx"
    err = _fingertip_errors(out, tmp_path / "fit" / f"{seq}.pkl", truth)
    assert err.mean() <= 1.5 and np.percentile(err, 95) <= 1.5, (err.mean(), np.percentile(err, 95))
