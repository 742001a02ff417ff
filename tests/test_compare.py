"""`aistpp compare`: a rebuild in another gauge, with known perturbations, against its reference."""

from __future__ import annotations

import json

import numpy as np
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.align import transform_rig
from aistpp.core.rig import aist_like_ring

SEQS = {"gWA_sFM_cAll_d27_mWA2_ch21": "setting1", "gBR_sBM_cAll_d04_mBR0_ch01": "setting1"}


def test_compare_undoes_the_gauge_and_measures_the_rest(tmp_path):
    rng = np.random.default_rng(0)
    ref, est = tmp_path / "ref", tmp_path / "est"
    rig = aist_like_ring()
    s, R, t = 0.5, Rotation.from_rotvec([0.1, 1.0, -0.2]).as_matrix(), np.array([30.0, -5.0, 12.0])
    formats.write_mapping(ref / "cameras" / "mapping.txt", SEQS)
    formats.write_mapping(est / "cameras" / "mapping.txt", dict(list(SEQS.items())[:1]))
    formats.save_cameras(ref / "cameras" / "setting1.json", rig)
    formats.save_cameras(est / "cameras" / "setting1.json", transform_rig(rig, s, R, t))
    kp = rng.normal([0, 100, 0], 40, (50, 17, 3))
    formats.save_keypoints3d(ref / "keypoints3d" / f"{list(SEQS)[0]}.pkl", kp, kp)
    offset = np.zeros_like(kp)
    offset[..., 0] = 2.0  # optim differs from the reference by exactly 2 cm along x
    moved = s * kp @ R.T + t
    moved_off = s * (kp + offset) @ R.T + t
    formats.save_keypoints3d(est / "keypoints3d" / f"{list(SEQS)[0]}.pkl", moved, moved_off)
    res = CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(ref), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    cams = out["settings"]["setting1"]
    assert cams["rotation_deg_max"] < 1e-3 and cams["center_cm_max"] < 1e-3
    row = out["sequences"][list(SEQS)[0]]
    assert row["keypoints3d_mpjpe_cm"] < 1e-3
    assert abs(row["keypoints3d_optim_mpjpe_cm"] - 2.0) < 1e-3
    assert out["missing"] == [list(SEQS)[1]] and out["extra"] == []
    # without alignment the gauge difference shows up
    raw = json.loads(CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(ref), "--json", "--no-align"]).output)
    assert raw["sequences"][list(SEQS)[0]]["keypoints3d_mpjpe_cm"] > 10


def test_body_errors_do_not_inherit_camera_lever_arm(tmp_path):
    """A camera error 5 m away shows in the camera rows, not in the keypoints (aligned on bodies)."""
    rng = np.random.default_rng(1)
    ref, est = tmp_path / "ref", tmp_path / "est"
    seq = list(SEQS)[0]
    rig = aist_like_ring()
    for root in (ref, est):
        formats.write_mapping(root / "cameras" / "mapping.txt", {seq: "setting1"})
    formats.save_cameras(ref / "cameras" / "setting1.json", rig)
    bad = transform_rig(rig, 1.0, np.eye(3), np.zeros(3))
    tvec = bad.tvec.copy()
    tvec[0] += [0.0, 0.0, 40.0]  # c01 40 cm further away along its axis
    formats.save_cameras(est / "cameras" / "setting1.json",
                         type(rig)(rig.names, rig.sizes, rig.K, rig.dist, rig.rvec, tvec))
    kp = rng.normal([0, 100, 0], 40, (50, 17, 3))
    formats.save_keypoints3d(ref / "keypoints3d" / f"{seq}.pkl", kp, kp)
    formats.save_keypoints3d(est / "keypoints3d" / f"{seq}.pkl", kp + [3.0, 0, 0], kp + [3.0, 0, 0])
    out = json.loads(CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(ref),
                                              "--json"]).output)
    assert out["settings"]["setting1"]["center_cm_max"] > 20
    assert out["sequences"][seq]["keypoints3d_mpjpe_cm"] < 1e-6  # a pure shift is a gauge change


def _rig_pair(tmp_path, ref_names, est_names, held=("keypoints3d",)):
    rng = np.random.default_rng(2)
    ref, est = tmp_path / "ref", tmp_path / "est"
    seqs = {f"take{i}": "studio" for i in range(30)}  # the mappings list 30 sequences, 2 are held on both sides
    rig = aist_like_ring(4, names=ref_names)
    for root, names in ((ref, ref_names), (est, est_names)):
        formats.write_mapping(root / "cameras" / "mapping.txt", seqs)
        formats.save_cameras(root / "cameras" / "studio.json", type(rig)(names, rig.sizes, rig.K, rig.dist, rig.rvec, rig.tvec))
    kp = rng.normal([0, 100, 0], 40, (20, 17, 3))
    for seq in ("take3", "take7"):
        formats.save_keypoints3d(ref / "keypoints3d" / f"{seq}.pkl", kp, kp)
        formats.save_keypoints3d(est / "keypoints3d" / f"{seq}.pkl", kp + [0, 0, 1.5], kp)
    formats.save_keypoints3d(ref / "keypoints3d" / "take9.pkl", kp, kp)  # the reference only
    return est, ref


def test_compare_lists_only_what_both_hold(tmp_path):
    names = ("cam01", "cam02", "cam03", "cam04")
    est, ref = _rig_pair(tmp_path, names, names)
    res = CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(ref)])
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.startswith("│ take")]
    assert [r.split()[1] for r in rows] == ["take3", "take7"], res.output
    out = json.loads(CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(ref),
                                              "--json"]).output)
    assert sorted(out["sequences"]) == ["take3", "take7"] and out["refused"] == []
    # a pure shift is a gauge change: 0 after alignment
    assert out["sequences"]["take3"]["keypoints3d_mpjpe_cm"] < 1e-6


def test_compare_refuses_differently_named_views_unless_mapped(tmp_path):
    est, ref = _rig_pair(tmp_path, ("cam01", "cam02", "cam03", "cam04"), ("c01", "c02", "c03", "c04"))
    args = ["compare", "--anno-dir", str(est), "--reference-dir", str(ref), "--json"]
    out = json.loads(CliRunner().invoke(app, args).output)
    assert "views differ" in out["settings"]["studio"]["error"] and "--view-map" in out["settings"]["studio"]["error"]
    assert out["sequences"] == {} and out["refused"] == ["take3", "take7"]  # no meaningless MPJPE
    res = CliRunner().invoke(app, args[:-1])
    assert res.exit_code == 0 and "not compared (their setting's cameras refused, see the table): 2" in res.output
    mapped = json.loads(CliRunner().invoke(app, args + ["--view-map", "c01=cam01,c02=cam02,c03=cam03,c04=cam04"]).output)
    assert mapped["settings"]["studio"]["rotation_deg_max"] < 1e-6 and sorted(mapped["sequences"]) == ["take3", "take7"]
    # a map that pairs the views wrongly shows up as camera error, never as a silent success
    wrong = json.loads(CliRunner().invoke(app, args + ["--view-map", "c01=cam02,c02=cam01,c03=cam03,c04=cam04"]).output)
    assert wrong["settings"]["studio"]["center_cm_max"] > 50
    res = CliRunner().invoke(app, args + ["--view-map", "c01"])
    assert res.exit_code == 2 and "OURS=THEIRS" in res.output


def test_compare_reprojects_the_detections_with_both_rigs(tmp_path):
    """--reprojection: a smoothly moving body seen by the TRUE rig (the reference) with 1 px noise;
    our rig has every camera turned by 2 deg (and named differently, mapped). Both rigs reproject
    our keypoints2d: the true one near the noise (~1 px), ours clearly worse; the per-sequence
    figures are listed."""
    from aistpp.core.formats import frame_timestamps

    rng = np.random.default_rng(4)
    ref, est = tmp_path / "ref", tmp_path / "est"
    truth = aist_like_ring(4, names=("c01", "c02", "c03", "c04"))
    turn = rng.normal(size=(4, 3))
    turn *= np.radians(2.0) / np.linalg.norm(turn, axis=1, keepdims=True)
    rv = (Rotation.from_rotvec(turn) * Rotation.from_rotvec(truth.rvec)).as_rotvec()
    ours = type(truth)(("a", "b", "c", "d"), truth.sizes, truth.K, truth.dist, rv, truth.tvec)
    seqs = {"take1": "studio"}
    for root, rig in ((ref, truth), (est, ours)):
        formats.write_mapping(root / "cameras" / "mapping.txt", seqs)
        formats.save_cameras(root / "cameras" / "studio.json", rig)
    n = 240
    t = np.arange(n)[:, None, None] / 60
    base = rng.normal([0, 100, 0], 30, (1, 17, 3))
    X = base + 20 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6, (1, 17, 3)))  # (n, 17, 3) cm, smooth
    uv = truth.project(X) + rng.normal(0, 1.0, (4, n, 17, 2))
    kp = np.concatenate([uv, np.full((4, n, 17, 1), 0.9)], -1)
    formats.save_keypoints2d(est / "keypoints2d" / "take1.pkl", kp, np.ones((4, n)), frame_timestamps(n),
                             view_names=["a", "b", "c", "d"])
    args = ["compare", "--anno-dir", str(est), "--reference-dir", str(ref), "--view-map", "a=c01,b=c02,c=c03,d=c04"]
    out = json.loads(CliRunner().invoke(app, args + ["--json", "--reprojection", "3"]).output)
    rep = out["settings"]["studio"]["reprojection"]
    assert list(rep["sequences"]) == ["take1"]
    assert rep["reference_px"] < 1.5 < 3 * rep["reference_px"] < rep["ours_px"], rep
    assert "reprojection" not in json.loads(CliRunner().invoke(app, args + ["--json"]).output)["settings"]["studio"]
    res = CliRunner().invoke(app, args + ["--reprojection", "3"])
    assert res.exit_code == 0 and "(1 seq)" in res.output, res.output


def test_settings_named_differently_are_aligned_by_their_sequences(tmp_path):
    """An own rebuild names its setting 'myrig' where the release says 'setting4' (real released
    keypoints3d of both setting4 slices, tests/data). The 3D must still be compared after alignment
    (it was compared raw: 70 cm for a rebuild 2-3 cm from the release): ours is the release moved by
    a known similarity (x1.08, 30 deg, 2 m) plus 1 cm noise, so the error is that noise's, ~1.6 / 1.08 cm."""
    from scipy.spatial.transform import Rotation

    import _released

    rng = np.random.default_rng(5)
    z3 = np.load(_released.DATA / "setting4_keypoints3d.npz")
    ref, est = tmp_path / "ref", tmp_path / "est"
    formats.write_mapping(ref / "cameras" / "mapping.txt", {s: "setting4" for s in _released.SEQS})
    formats.write_mapping(est / "cameras" / "mapping.txt", {s: "myrig" for s in _released.SEQS})
    R = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    noise = []
    for seq in _released.SEQS:
        kp = z3[f"{seq}.keypoints3d"].astype(np.float64)
        formats.save_keypoints3d(ref / "keypoints3d" / f"{seq}.pkl", kp, kp)
        n = rng.normal(0, 1.0, kp.shape)
        noise.append(np.linalg.norm(n, axis=-1).mean() / 1.08)
        moved = 1.08 * kp @ R.T + [200.0, 0, -50] + n
        formats.save_keypoints3d(est / "keypoints3d" / f"{seq}.pkl", moved, moved)
    out = json.loads(CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(ref),
                                              "--json"]).output)
    assert out["settings_by_sequences"] == {"myrig": ["setting4"]} and out["unaligned"] == []
    for seq, expected in zip(_released.SEQS, noise):
        assert abs(out["sequences"][seq]["keypoints3d_mpjpe_cm"] - expected) < 0.1, (out["sequences"][seq], expected)
    res = CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(ref)])
    text = " ".join(res.output.split())
    assert res.exit_code == 0 and "cameras not compared" in text and "setting myrig (ours) holds" in text
    # --no-align compares the raw numbers, as asked
    raw = json.loads(CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(ref),
                                              "--json", "--no-align"]).output)
    assert raw["sequences"][_released.SEQS[0]]["keypoints3d_mpjpe_cm"] > 100


def test_own_rig_named_differently_has_its_cameras_compared(tmp_path):
    """An own rebuild's 'myrig' holding the release's setting4 sequences: its cameras are compared
    with setting4's (they were not compared at all). Ours: the released setting4 cameras (tests/data)
    in another gauge (x1.08, 30 deg, 2 m) with c03 turned 2 deg about its own centre: after aligning
    the centres, c03 is 2 deg off, every other view and every centre exact."""
    from aistpp.core.cameras import CameraRig, rotation_to_rodrigues

    import _released

    ref, est = tmp_path / "ref", tmp_path / "est"
    released = _released.cameras()
    formats.write_mapping(ref / "cameras" / "mapping.txt", {s: "setting4" for s in _released.SEQS})
    formats.write_mapping(est / "cameras" / "mapping.txt", {s: "myrig" for s in _released.SEQS})
    formats.save_cameras(ref / "cameras" / "setting4.json", released)
    R = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    moved = transform_rig(released, 1.08, R, np.array([200.0, 0, -50]))
    i = moved.names.index("c03")
    Rc = moved.R.copy()
    Rc[i] = Rotation.from_euler("z", 2, degrees=True).as_matrix() @ Rc[i]
    tvec = -np.einsum("vij,vj->vi", Rc, moved.centers)
    formats.save_cameras(est / "cameras" / "myrig.json",
                         CameraRig(moved.names, moved.sizes, moved.K, moved.dist, rotation_to_rodrigues(Rc), tvec))
    z3 = np.load(_released.DATA / "setting4_keypoints3d.npz")
    for seq in _released.SEQS:
        kp = z3[f"{seq}.keypoints3d"].astype(np.float64)
        formats.save_keypoints3d(ref / "keypoints3d" / f"{seq}.pkl", kp, kp)
        formats.save_keypoints3d(est / "keypoints3d" / f"{seq}.pkl", 1.08 * kp @ R.T + [200.0, 0, -50], kp)
    args = ["compare", "--anno-dir", str(est), "--reference-dir", str(ref)]
    out = json.loads(CliRunner().invoke(app, args + ["--json"]).output)
    row = out["settings"]["myrig=setting4"]
    assert abs(row["rotation_deg_max"] - 2.0) < 1e-3 and row["rotation_deg_median"] < 1e-6, row
    assert row["center_cm_max"] < 1e-3 and row["focal_rel_max"] < 1e-9, row
    assert out["sequences"][_released.SEQS[0]]["keypoints3d_mpjpe_cm"] < 1e-3
    text = " ".join(CliRunner().invoke(app, args).output.split())
    assert "myrig=setting4" in text and "cameras are compared with theirs" in text, text


def test_generated_motions_without_cameras_are_compared(synth_data, tmp_path):
    """A set of generated motions (mapping.txt and motions, no cameras: what a dance-generation model
    writes) against the set it imitates. Every sequence was refused ('cameras file not found') and
    nothing compared. Now the missing cameras are one line, not an error, and the joints are compared
    in the reference's frame (the same setting name): ours moved 2 cm along x is 2 cm off."""
    est = tmp_path / "generated"
    ds_map = formats.read_mapping(synth_data.anno_dir / "cameras" / "mapping.txt")
    formats.write_mapping(est / "cameras" / "mapping.txt", ds_map)
    for seq in synth_data.sequences:
        m = synth_data.motions[seq]
        formats.save_motion(est / "motions" / f"{seq}.pkl", m["smpl_poses"], m["smpl_trans"] + [2.0, 0, 0],
                            m["smpl_scaling"], m["smpl_loss"], smpl_gender=m["smpl_gender"])  # the same body
    args = ["compare", "--anno-dir", str(est), "--reference-dir", str(synth_data.anno_dir)]
    plain = json.loads(CliRunner().invoke(app, args + ["--json"]).output)
    assert plain["refused"] == [] and plain["motions_not_compared"] == sorted(synth_data.sequences), plain
    assert plain["settings"]["setting1"]["cameras"] == "none on our side"
    res = CliRunner().invoke(app, args)
    text = " ".join(res.output.split())
    assert res.exit_code == 0 and "pass --smpl-dir" in text and "none on our side: setting1" in text, text
    out = json.loads(CliRunner().invoke(app, args + ["--smpl-dir", str(synth_data.smpl_dir), "--json"]).output)
    assert out["settings"]["setting1"]["keypoints_aligned_on"].startswith("none")
    for seq in synth_data.sequences:
        assert abs(out["sequences"][seq]["smpl_joint_error_cm"] - 2.0) < 1e-3, out["sequences"][seq]


def test_predictions_without_mapping_take_the_references_settings(synth_data, tmp_path):
    """A 3D pose estimator's output: keypoints3d/<seq>.pkl alone, no cameras/mapping.txt (compare
    said 'cameras folder not found'). The sequences take the reference's settings by name; a file the
    reference does not know is 'extra'. Ours is the truth 2 cm up: 2 cm as it is, 0 once aligned."""
    est = tmp_path / "predictions"
    for seq in synth_data.sequences:
        kp = synth_data.keypoints3d[seq] + [0, 2.0, 0]
        formats.save_keypoints3d(est / "keypoints3d" / f"{seq}.pkl", kp, kp)
    formats.save_keypoints3d(est / "keypoints3d" / "not_in_the_reference.pkl", kp, kp)
    args = ["compare", "--anno-dir", str(est), "--reference-dir", str(synth_data.anno_dir), "--json"]
    raw = json.loads(CliRunner().invoke(app, args + ["--no-align"]).output)
    assert sorted(raw["sequences"]) == sorted(synth_data.sequences) and raw["extra"] == ["not_in_the_reference"]
    for seq in synth_data.sequences:
        assert abs(raw["sequences"][seq]["keypoints3d_mpjpe_cm"] - 2.0) < 1e-4, raw["sequences"][seq]
    out = json.loads(CliRunner().invoke(app, args).output)
    assert out["settings"]["setting1"] == {"cameras": "none on our side", "keypoints_aligned_on": "keypoints3d"}
    assert all(out["sequences"][s]["keypoints3d_mpjpe_cm"] < 1e-3 for s in synth_data.sequences), out["sequences"]
    res = CliRunner().invoke(app, ["compare", "--anno-dir", str(tmp_path), "--reference-dir", str(synth_data.anno_dir)])
    assert res.exit_code == 2 and "nothing to compare" in res.output


def test_pose_estimation_errors_per_frame(synth_data, tmp_path):
    """The errors 3D pose estimation reports: PA-MPJPE (each frame aligned by its own similarity) and
    root-relative MPJPE (each frame centred on the hips' midpoint), on constructions whose answer is
    known. Each frame of the truth turned, scaled and moved at random: PA-MPJPE 0, the setting-level
    MPJPE not. The truth moved per frame: root-relative 0. The nose alone 3 cm off: both MPJPEs 3/17 cm
    (the hips are untouched), and PA-MPJPE what scipy's Kabsch alignment per frame gives."""
    rng = np.random.default_rng(7)
    seq = synth_data.sequences[0]
    truth = synth_data.keypoints3d[seq].astype(np.float64)
    n = len(truth)
    R, s, t = Rotation.random(n, random_state=3).as_matrix(), rng.uniform(0.7, 1.4, n), rng.normal(0, 50, (n, 3))
    cases = {"turned": s[:, None, None] * np.einsum("nik,njk->nji", R, truth) + t[:, None],
             "moved": truth + t[:, None]}
    nose = truth.copy()
    nose[:, 0, 0] += 3.0
    cases["nose"] = nose
    rows = {}
    for name, kp in cases.items():
        est = tmp_path / name
        formats.save_keypoints3d(est / "keypoints3d" / f"{seq}.pkl", kp, kp)
        res = CliRunner().invoke(app, ["compare", "--anno-dir", str(est), "--reference-dir", str(synth_data.anno_dir),
                                       "--json", "--no-align"])
        rows[name] = json.loads(res.output)["sequences"][seq]
    assert rows["turned"]["keypoints3d_pa_mpjpe_cm"] < 1e-3 and rows["turned"]["keypoints3d_mpjpe_cm"] > 20
    assert rows["moved"]["keypoints3d_root_mpjpe_cm"] < 1e-3 and rows["moved"]["keypoints3d_pa_mpjpe_cm"] < 1e-3
    assert abs(rows["moved"]["keypoints3d_mpjpe_cm"] - np.linalg.norm(t, axis=1).mean()) < 1e-3
    for key in ("keypoints3d_mpjpe_cm", "keypoints3d_root_mpjpe_cm", "keypoints3d_optim_root_mpjpe_cm"):
        assert abs(rows["nose"][key] - 3 / 17) < 1e-4, (key, rows["nose"])
    # PA-MPJPE against scipy's Kabsch (Rotation.align_vectors) per frame, with the least-squares scale
    pa = []
    for a, b in zip(nose, truth):
        a0, b0 = a - a.mean(0), b - b.mean(0)
        rot = Rotation.align_vectors(b0, a0)[0]
        scale = (b0 * rot.apply(a0)).sum() / (a0**2).sum()
        pa.append(np.linalg.norm(scale * rot.apply(a0) - b0, axis=1).mean())
    assert abs(rows["nose"]["keypoints3d_pa_mpjpe_cm"] - np.mean(pa)) < 1e-4, (rows["nose"], np.mean(pa))
