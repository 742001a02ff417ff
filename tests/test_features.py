"""Dance features and metrics against the reference implementations' own outputs on real
AIST++ motions (tests/data/reference_features, see tests/data/NOTICE), closed forms, scipy,
and the two commands on synth motions."""

from __future__ import annotations

import itertools
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.body import motion_gender
from aistpp.pipeline.features import _fast, music_beats_for, smpl_joints
from aistpp.pipeline.metrics import (
    GEOMETRIC, KINETIC, bailando_joints, beat_alignment, diversity, frechet_distance, geometric_features,
    kinetic_features, motion_beats, normalise, physical_foot_contact,
)  # fmt: skip
from aistpp.pipeline.metrics.beats import music_beats_from_audio, read_beat_file
from aistpp.pipeline.metrics.geometric import HL

DATA = Path(__file__).parent / "data"
REF = DATA / "reference_features"
INDEX = json.loads((REF / "index.json").read_text())
SEQS = sorted(INDEX)
SHORT = "gJS_sBM_cAll_d03_mJS2_ch07"


def joints(seq: str) -> np.ndarray:
    return np.load(REF / f"{seq}.joints24.npy").astype(np.float64)  # the reference ran on float64


def rel_err(ours, ref) -> float:
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-12)))


@pytest.mark.parametrize("seq", SEQS)
def test_features_equal_the_aistpp_api_outputs(seq):
    j = joints(seq)
    assert len(j) == INDEX[seq]["frames"]
    kin, geo = kinetic_features(j), geometric_features(j)
    assert kin.shape == (72,) == (len(KINETIC),) and geo.shape == (32,) == (len(GEOMETRIC),)
    assert rel_err(kin, np.load(REF / f"{seq}.kinetic.npy")) < 1e-6
    ref_geo = np.load(REF / f"{seq}.manual.npy")
    assert rel_err(geo, ref_geo) < 1e-6 and 0 < ref_geo.sum() < 32  # some relations hold, not all


@pytest.mark.parametrize("seq", SEQS)
def test_bailando_protocol_features_equal_the_reference(seq):
    j = joints(seq)
    b = bailando_joints(j)
    assert len(b) == min(len(j), 1200) and np.allclose(b[0, 0], 0)
    assert rel_err(kinetic_features(b), np.load(REF / f"{seq}.bailando_kinetic.npy")) < 1e-6
    assert rel_err(geometric_features(b), np.load(REF / f"{seq}.bailando_manual.npy")) < 1e-6
    if len(j) > 1200:  # the cut matters: all frames give other numbers
        assert rel_err(kinetic_features(j - j[:1, :1]), np.load(REF / f"{seq}.bailando_kinetic.npy")) > 1e-3


@pytest.mark.parametrize("seq", SEQS)
def test_pfc_and_bas_equal_the_reference(seq):
    j, ref = joints(seq), INDEX[seq]
    assert physical_foot_contact(j, fps=60, up="y") == pytest.approx(ref["pfc_y_up_60fps"], rel=1e-9)
    assert physical_foot_contact(j, fps=60, up="z") != pytest.approx(ref["pfc_y_up_60fps"], rel=1e-3)
    beats = motion_beats(j)
    assert beats.tolist() == ref["motion_beats"]
    music = np.arange(0, len(j) - 1, 30)
    assert beat_alignment(music, beats, len(j) - 1) == pytest.approx(ref["bas_beats_every_30_frames"], rel=1e-9)


def test_kinetic_features_closed_forms():
    fps, n = 60.0, 600
    t = np.arange(n) / fps
    P = np.zeros((n, 24, 3))
    P[:, 0, 0] = 1.5 * t  # the root walks along x at 1.5 m/s: every window velocity is exact
    P[:, 3, 1] = 0.4 * t  # joint 3 rises at 0.4 m/s
    P[:, 5] = [0.3, 0.9, -0.2]  # joint 5 stands still away from the origin
    k = kinetic_features(P).reshape(24, 3)
    assert k[0, 0] == pytest.approx(1.5**2, rel=1e-12) and k[0, 1] == 0  # |v|^2, no factor 0.5
    assert k[3, 1] == pytest.approx(0.4**2, rel=1e-12) and k[3, 0] == 0
    # the reference's acceleration term ((P[k+1]-P[k])/dt - (P[k] - P[k-1]/dt)) / dt: a joint
    # standing still at c "expends" |c| (1/dt - 1) / dt; a uniformly moving one more
    dt = 1 / fps
    assert k[5, 2] == pytest.approx(np.linalg.norm([0.3, 0.9, -0.2]) * (1 / dt - 1) / dt, rel=1e-9)
    assert k[1, 2] == 0  # a joint at the origin
    true = kinetic_features(P, reference_acceleration=False).reshape(24, 3)
    assert np.allclose(true[:, 2], 0, atol=1e-8) and np.allclose(true[:, :2], k[:, :2])
    A, w = 0.2, 2 * np.pi  # true second differences of a sine: |a| ~ A w^2 |sin|, mean 2 A w^2 / pi
    P[:, 7, 1] = A * np.sin(w * t)
    assert kinetic_features(P, reference_acceleration=False).reshape(24, 3)[7, 2] == pytest.approx(
        2 * A * w * w / np.pi, rel=2e-2)


def test_geometric_relations_on_constructed_motions():
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.3, (24, 3))
    still = np.repeat(pose[None], 50, axis=0)
    names = list(GEOMETRIC)
    g = dict(zip(names, geometric_features(still)))
    assert all(g[n] == 0 for n in names if n.startswith(("fast", "move", "nmove")))  # nothing moves
    moving = still.copy()
    moving[:, 0, 0] += np.arange(50) * 0.6 / 120 * 1.01  # the root at 1.01 x 0.6 m/s per 1/120 s frame
    assert dict(zip(names, geometric_features(moving)))["fast(root)"] == 1
    assert 0.6 == pytest.approx(2.3 * HL, rel=0.02)  # the threshold: 2.3 humerus lengths / (1/120 s)


def test_frechet_distance_against_scipy_sqrtm():
    rng = np.random.default_rng(0)

    def textbook(a, b):
        ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        with warnings.catch_warnings():  # scipy warns that a singular product may have no square root
            warnings.simplefilter("ignore")
            root = scipy.linalg.sqrtm(ca @ cb)
        return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca) + np.trace(cb) - 2 * np.trace(root).real)

    a = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(0.5, 1.0, size=(300, 5)) @ rng.normal(size=(5, 5))
    assert frechet_distance(a, b) == pytest.approx(textbook(a, b), rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    # singular covariances: fewer motions than dimensions (40 x 72, the usual case), and a rank-deficient set
    a, b = rng.normal(size=(40, 72)), rng.normal(0.3, 1.2, size=(30, 72))
    b[:, 10:20] = 0.5  # constant dimensions
    assert np.linalg.matrix_rank(np.cov(a, rowvar=False)) < 72
    assert frechet_distance(a, b) == pytest.approx(textbook(a, b), rel=1e-6)
    few = rng.normal(size=(3, 72))
    assert frechet_distance(few, few + 1.0) == pytest.approx(72, rel=1e-9)  # same covariance, mean moved by 1s
    assert frechet_distance(few, few + 1.0) == pytest.approx(textbook(few, few + 1.0), rel=1e-6)


def test_diversity_and_normalisation_by_hand():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 32)) * 50
    x[5] = x[4] + 1e-9  # a near-duplicate pair
    loop = np.mean([np.linalg.norm(x[i] - x[j]) for i, j in itertools.combinations(range(len(x)), 2)])
    assert diversity(x) == pytest.approx(loop, rel=1e-12)
    assert diversity(np.array([[0.0, 0], [3, 4], [6, 8]])) == pytest.approx((5 + 10 + 5) / 3)
    gt = rng.normal(3, 2, size=(20, 4))
    gt[:, 3] = 7.0  # a constant dimension: divided by 1e-10, not by zero
    pred = gt[:5] + 1
    p, g = normalise(pred, gt)
    sd = np.sqrt(((gt - gt.mean(0)) ** 2).mean(0))
    assert np.allclose(p, (pred - gt.mean(0)) / (sd + 1e-10)) and np.allclose(g[:, :3].std(0), 1)
    assert np.allclose(g[:, 3], 0) and np.allclose(p[:, 3], 1e10)


def test_released_motion_is_posed_with_the_male_model(synth_data):
    """The real released motion: no gender key -> male; posed so, it gives the fixture's joints
    (posed by smplx.SMPL(gender="MALE") with the same synthetic model files)."""
    motion = formats.load_motion(DATA / "aist_real" / "motions" / f"{SHORT}.pkl")
    assert "smpl_gender" not in motion and motion_gender(motion) == "male"
    assert motion_gender({"smpl_gender": "female"}) == "female" and motion_gender(motion, "neutral") == "neutral"
    male = smpl_joints(_fast(str(synth_data.smpl_dir), "male"), motion)
    ref = joints(SHORT)
    assert np.abs(male - ref).max() < 1e-5  # float32 posing round-off
    neutral = smpl_joints(_fast(str(synth_data.smpl_dir), "neutral"), motion)
    assert np.linalg.norm(neutral - ref, axis=-1).mean() > 0.01


def test_beat_files_and_music_beats(tmp_path, monkeypatch):
    (tmp_path / "mJS2.txt").write_text("# beats of mJS2, seconds\n0.5\n1.0, 1.5\n")
    assert read_beat_file(tmp_path / "mJS2.txt").tolist() == [30, 60, 90]
    assert music_beats_for(SHORT, tmp_path, None, 60.0).tolist() == [30, 60, 90]
    (tmp_path / f"{SHORT}.json").write_text("[0.25, 2]")  # the sequence's own file wins over the song's
    assert music_beats_for(SHORT, tmp_path, None, 60.0).tolist() == [15, 120]
    (tmp_path / "bad.txt").write_text("one two")
    with pytest.raises(Exception, match="bad.txt|numbers"):
        read_beat_file(tmp_path / "bad.txt")
    monkeypatch.setitem(sys.modules, "librosa", None)  # librosa not installed
    (tmp_path / "song.wav").write_bytes(b"")
    with pytest.raises(Exception, match=r"pip install 'aistpp\[music\]'"):
        music_beats_from_audio(tmp_path / "song.wav")


def test_beat_alignment_edge_cases():
    assert beat_alignment([10, 20], [10, 20]) == 1.0
    assert beat_alignment([10], [13]) == pytest.approx(np.exp(-9 / 18))
    assert beat_alignment([10, 500], [10], length=100) == 1.0  # beats past the motion are dropped
    assert beat_alignment([10], []) == 0.0 and np.isnan(beat_alignment([], [3]))


def test_features_and_metrics_commands(synth_data, tmp_path):
    runner = CliRunner()
    anno, smpl = str(synth_data.anno_dir), str(synth_data.smpl_dir)
    res = runner.invoke(app, ["features", "--anno-dir", anno, "--smpl-dir", smpl, "--save-dir", str(tmp_path / "gt"),
                              "--quiet"])
    assert res.exit_code == 0, res.output
    seq = synth_data.sequences[0]
    saved = json.loads((tmp_path / "gt" / f"{seq}.features.json").read_text())
    kin = np.load(tmp_path / "gt" / f"{seq}.kinetic.npy", allow_pickle=False)
    assert list(saved["kinetic"]) == list(KINETIC) and np.allclose(list(saved["kinetic"].values()), kin)
    assert list(saved["geometric"]) == list(GEOMETRIC)
    # the features of the motion, computed here with the array API on joints posed by smplx itself
    import torch

    from aistpp.core.body import load_smpl

    m = synth_data.motions[seq]
    gender = motion_gender(formats.load_motion(synth_data.anno_dir / "motions" / f"{seq}.pkl"))
    assert saved["smpl_gender"] == gender
    model = load_smpl(synth_data.smpl_dir, gender)
    with torch.no_grad():
        j = model(global_orient=torch.as_tensor(m["smpl_poses"][:, :3], dtype=torch.float32),
                  body_pose=torch.as_tensor(m["smpl_poses"][:, 3:], dtype=torch.float32),
                  transl=torch.as_tensor(m["smpl_trans"] / m["smpl_scaling"][0], dtype=torch.float32)).joints[:, :24]
    j = j.numpy().astype(np.float64)
    assert rel_err(np.load(tmp_path / "gt" / f"{seq}.bailando_geometric.npy"), geometric_features(bailando_joints(j))) < 0.05
    assert np.allclose(kin[0::3], kinetic_features(j)[0::3], rtol=1e-3)  # kinetic energies (float32 posing)
    # a "generated" set: the same motions read at 120 fps (slower in time: lower kinetic energy)
    res = runner.invoke(app, ["features", "--anno-dir", anno, "--smpl-dir", smpl, "--save-dir",
                              str(tmp_path / "slow"), "--fps", "120", "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["metrics", "--pred", str(tmp_path / "gt"), "--gt", str(tmp_path / "gt"), "--json"])
    same = json.loads(res.output)
    assert {"pred_motions", "gt_motions", "FID_k", "FID_g", "Div_k", "Div_g", "GT_Div_k", "GT_Div_g"} <= set(same)
    assert set(same) - {"pred_motions", "gt_motions", "FID_k", "FID_g", "Div_k", "Div_g", "GT_Div_k",
                        "GT_Div_g"} <= {"GT_constant_dims_g"}  # two synth motions: some relations never vary
    gt_geo = np.stack([np.load(tmp_path / "gt" / f"{s}.bailando_geometric.npy") for s in sorted(synth_data.sequences)])
    assert same.get("GT_constant_dims_g", 0) == int((gt_geo.std(0) == 0).sum())
    assert same["FID_k"] == pytest.approx(0, abs=1e-6) and same["Div_k"] == same["GT_Div_k"]
    res = runner.invoke(app, ["metrics", "--pred", str(tmp_path / "slow"), "--gt", str(tmp_path / "gt"), "--json"])
    assert json.loads(res.output)["FID_k"] > 1.0
    # BAS and PFC only when named; BAS needs beats
    beats = tmp_path / "beats"
    beats.mkdir()
    for s in synth_data.sequences:
        (beats / f"{s}.txt").write_text("\n".join(str(t) for t in np.arange(0, 2, 0.5)))
    res = runner.invoke(app, ["metrics", "--pred", str(tmp_path / "gt"), "--gt", str(tmp_path / "gt"), "--protocol",
                              "bas,pfc", "--beats", str(beats), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"BAS", "GT_BAS", "PFC", "GT_PFC"} and 0 <= out["BAS"] <= 1 and out["PFC"] == out["GT_PFC"]
    saved = {s: json.loads((tmp_path / "gt" / f"{s}.features.json").read_text()) for s in synth_data.sequences}
    want = np.mean([beat_alignment(np.arange(0, 120, 30), d["motion_beats"], d["frames"] - 1) for d in saved.values()])
    assert out["BAS"] == pytest.approx(want)
    res = runner.invoke(app, ["metrics", "--pred", str(tmp_path / "gt"), "--gt", str(tmp_path / "gt"), "--protocol", "bas"])
    assert res.exit_code == 2 and "--beats" in res.stderr
    res = runner.invoke(app, ["metrics", "--pred", str(tmp_path / "nothing"), "--gt", str(tmp_path / "gt")])
    assert res.exit_code == 2 and "nothing" in res.stderr


def test_release_conventions_read_and_written_back(synth_data, tmp_path):
    """Real released files: keypoints2d timestamps are microseconds at 60 fps and preprocess
    writes the same from OpenPose frame numbers; the released motion (no gender key) is male,
    and a motion fit-smpl writes records its body model, which features then uses."""
    from aistpp.core.body import load_smpl, smpl_forward
    from aistpp.core.joints import COCO_TO_SMPL
    from aistpp.core.names import AIST_VIEWS, video_name
    from aistpp.pipeline.preprocess import PreprocessConfig, preprocess_sequence
    from aistpp.pipeline.synth.openpose import body25_from_coco, write_openpose_video

    real = formats.load_keypoints2d(DATA / "aist_real" / "keypoints2d" / f"{SHORT}.first60.pkl", num_views=9)
    n = len(real["timestamps"])
    assert real["timestamps"][:4].tolist() == [0, 16667, 33333, 50000]
    assert np.array_equal(real["timestamps"], formats.frame_timestamps(n))
    assert np.array_equal(formats.timestamp_frames(real["timestamps"]), np.arange(n))
    kp = real["keypoints2d"]
    body25 = body25_from_coco(kp, np.full(kp.shape[:2] + (6, 3), np.nan, np.float32))
    missing = ~np.isfinite(kp[..., 2]).any(-1)
    for v, view in enumerate(AIST_VIEWS):
        write_openpose_video(tmp_path / "K", video_name(SHORT, view), body25[v], missing[v], {})
    preprocess_sequence(SHORT, PreprocessConfig(keypoints_dir=tmp_path / "K", save_dir=tmp_path / "k2d",
                                                executor="serial", quiet=True))
    ours = formats.load_keypoints2d(tmp_path / "k2d" / f"{SHORT}.pkl")
    assert ours["timestamps"].dtype == real["timestamps"].dtype and np.array_equal(ours["timestamps"], real["timestamps"])
    ok = np.isfinite(kp) & np.isfinite(ours["keypoints2d"])
    assert ok.mean() > 0.5 and np.allclose(ours["keypoints2d"][ok], kp[ok], atol=1e-3)

    # the released motion: male; fit-smpl (here with the neutral model, not the default) on its
    # COCO joints writes a motion that records its model, and features poses it with that one
    motion = formats.load_motion(DATA / "aist_real" / "motions" / f"{SHORT}.pkl")
    assert motion_gender(motion) == "male"
    frames = 40
    male = load_smpl(synth_data.smpl_dir, "male")
    y = smpl_forward(male, motion["smpl_poses"][:frames], motion["smpl_trans"][:frames], motion["smpl_scaling"])
    anno = tmp_path / "anno"
    formats.save_keypoints3d(anno / "keypoints3d" / f"{SHORT}.pkl", y[:, COCO_TO_SMPL], y[:, COCO_TO_SMPL])
    runner = CliRunner()
    res = runner.invoke(app, ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(synth_data.smpl_dir),
                              "--save-dir", str(anno / "motions"), "--gender", "neutral", "--executor", "serial",
                              "--device", "cpu", "--quiet"])
    assert res.exit_code == 0, res.output
    from aistpp.core.safe_pickle import safe_load

    raw = safe_load(anno / "motions" / f"{SHORT}.pkl")  # what the original loader sees: its keys, plus ours
    assert {"smpl_poses", "smpl_trans", "smpl_scaling", "smpl_loss"} <= set(raw)
    assert raw["smpl_gender"] == "neutral" and raw["body_model"] == "smpl"
    fitted = formats.load_motion(anno / "motions" / f"{SHORT}.pkl")
    neutral = load_smpl(synth_data.smpl_dir, "neutral")
    fit = smpl_forward(neutral, fitted["smpl_poses"], fitted["smpl_trans"], fitted["smpl_scaling"])[:, :24]
    assert np.linalg.norm(fit - y[:, :24], axis=-1).mean() < 3.0  # cm: the fit reproduces the real motion
    res = runner.invoke(app, ["features", "--anno-dir", str(anno), "--smpl-dir", str(synth_data.smpl_dir), "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads((anno / "features" / f"{SHORT}.features.json").read_text())["smpl_gender"] == "neutral"


def test_export_defaults_to_the_motions_model(synth_data, tmp_path):
    """export poses a released motion (no gender key) with the male model, an aistpp motion
    with the model it records; --gender overrides."""
    anno = tmp_path / "anno"
    (anno / "motions").mkdir(parents=True)
    real = formats.load_motion(DATA / "aist_real" / "motions" / f"{SHORT}.pkl")
    formats.save_motion(anno / "motions" / f"{SHORT}.pkl", real["smpl_poses"][:20], real["smpl_trans"][:20],
                        real["smpl_scaling"], real["smpl_loss"])
    other = SHORT.replace("d03", "d04")
    formats.save_motion(anno / "motions" / f"{other}.pkl", real["smpl_poses"][:20], real["smpl_trans"][:20],
                        real["smpl_scaling"], real["smpl_loss"], smpl_gender="female", body_model="smpl")
    args = ["export", "--anno-dir", str(anno), "--smpl-dir", str(synth_data.smpl_dir), "--format", "npz",
            "--no-floor", "--executor", "serial", "--quiet"]
    res = CliRunner().invoke(app, args + ["--save-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert str(np.load(tmp_path / "out" / f"{SHORT}.npz")["gender"]) == "male"
    assert str(np.load(tmp_path / "out" / f"{other}.npz")["gender"]) == "female"
    res = CliRunner().invoke(app, args + ["--save-dir", str(tmp_path / "n"), "--gender", "neutral"])
    assert res.exit_code == 0 and str(np.load(tmp_path / "n" / f"{SHORT}.npz")["gender"]) == "neutral"


def _click_track(path: Path, seconds: float, period: float, sr: int = 22050) -> None:
    """A mono 16-bit WAV of short 1 kHz clicks every ``period`` s from ``period`` on (stdlib only)."""
    import wave

    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for start in np.arange(period, seconds, period):
        on = (t >= start) & (t < start + 0.03)
        y[on] = np.sin(2 * np.pi * 1000 * (t[on] - start)) * np.exp(-(t[on] - start) / 0.01)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(sr)
        w.writeframes((y * 20000).astype("<i2").tobytes())


def test_music_tempo_of_aist_tags():
    from aistpp.pipeline.metrics.beats import music_tempo

    assert music_tempo("mJS2") == 100 and music_tempo("mBR0") == 80 and music_tempo("mHO5") == 135
    assert music_tempo("song") is None and music_tempo("mXX1") is None


def test_music_beats_tracked_from_a_song(tmp_path):
    pytest.importorskip("librosa")  # the optional extra aistpp[music]; CI's test extra installs it
    _click_track(tmp_path / "mJS2.wav", 12.0, 0.5)  # 120 BPM: a beat every 30 frames at 60 fps
    beats = music_beats_for(SHORT, None, tmp_path, 60.0)
    inner = beats[(beats > 60) & (beats < 600)]
    assert len(inner) >= 15
    assert np.all(np.abs(inner - 30 * np.round(inner / 30)) <= 2)  # on the clicks, within 2 frames
    assert np.median(np.diff(inner)) == pytest.approx(30, abs=1)


def test_features_command_on_joint_arrays_equals_the_reference(tmp_path):
    """Generated motions as joints: the command's files hold the reference's numbers."""
    src = tmp_path / "joints"
    src.mkdir()
    for seq in SEQS:
        np.save(src / f"{seq}.npy", np.load(REF / f"{seq}.joints24.npy"))
    np.save(src / "flat.npy", np.load(REF / f"{SHORT}.joints24.npy").reshape(-1, 72))  # (N, 72) too
    res = CliRunner().invoke(app, ["features", "--joints-dir", str(src), "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    out = src / "features"
    for seq in SEQS:
        for ours, ref in (("kinetic", "kinetic"), ("geometric", "manual"), ("bailando_kinetic", "bailando_kinetic"),
                          ("bailando_geometric", "bailando_manual")):
            assert rel_err(np.load(out / f"{seq}.{ours}.npy"), np.load(REF / f"{seq}.{ref}.npy")) < 1e-6, (seq, ours)
        saved = json.loads((out / f"{seq}.features.json").read_text())
        assert saved["motion_beats"] == INDEX[seq]["motion_beats"]
        assert saved["pfc"] == pytest.approx(physical_foot_contact(joints(seq)[::2], 30, "y"), rel=1e-9)
    assert np.array_equal(np.load(out / "flat.kinetic.npy"), np.load(out / f"{SHORT}.kinetic.npy"))
    bad = tmp_path / "bad"
    bad.mkdir()
    np.save(bad / "x.npy", np.zeros((10, 17, 3)))
    res = CliRunner().invoke(app, ["features", "--joints-dir", str(bad), "--executor", "serial", "--quiet"])
    assert res.exit_code != 0 and "(10, 17, 3)" in res.output


def test_features_command_on_the_released_motion_equals_the_reference(synth_data, tmp_path):
    """The whole chain on a real released motion: no gender key -> the male model, joints at
    SMPL scale (trans / scaling), the reference's features to 1e-6."""
    import shutil

    (tmp_path / "anno" / "motions").mkdir(parents=True)
    shutil.copy(DATA / "aist_real" / "motions" / f"{SHORT}.pkl", tmp_path / "anno" / "motions")
    res = CliRunner().invoke(app, ["features", "--anno-dir", str(tmp_path / "anno"), "--smpl-dir",
                                   str(synth_data.smpl_dir), "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "anno" / "features"
    for ours, ref in (("kinetic", "kinetic"), ("geometric", "manual"), ("bailando_kinetic", "bailando_kinetic"),
                      ("bailando_geometric", "bailando_manual")):
        assert rel_err(np.load(out / f"{SHORT}.{ours}.npy"), np.load(REF / f"{SHORT}.{ref}.npy")) < 1e-6, ours
    saved = json.loads((out / f"{SHORT}.features.json").read_text())
    assert saved["smpl_gender"] == "male" and saved["motion_beats"] == INDEX[SHORT]["motion_beats"]


def test_vis_poses_a_released_motion_with_the_male_model(synth_data, tmp_path):
    """vis --mode smpl/mesh checks for the motion's model before drawing: a released motion
    (no gender key) needs SMPL_MALE.pkl, an aistpp motion the model it records."""
    import shutil

    from aistpp.pipeline.vis import VisConfig, check_inputs

    anno = tmp_path / "anno"
    shutil.copytree(synth_data.anno_dir, anno)
    seq = synth_data.sequences[0]
    real = formats.load_motion(DATA / "aist_real" / "motions" / f"{SHORT}.pkl")
    formats.save_motion(anno / "motions" / f"{seq}.pkl", real["smpl_poses"][:10], real["smpl_trans"][:10],
                        real["smpl_scaling"], real["smpl_loss"])  # as released: no gender key
    only_neutral = tmp_path / "smpl"
    only_neutral.mkdir()
    shutil.copy(synth_data.smpl_dir / "SMPL_NEUTRAL.pkl", only_neutral)
    config = VisConfig(anno_dir=anno, save_dir=tmp_path / "out", video_name=seq, mode="mesh", smpl_dir=only_neutral)
    with pytest.raises(Exception, match="SMPL_MALE.pkl"):
        check_inputs(seq, config)
    check_inputs(seq, config.model_copy(update={"gender": "neutral"}))  # the override
    formats.save_motion(anno / "motions" / f"{seq}.pkl", real["smpl_poses"][:10], real["smpl_trans"][:10],
                        real["smpl_scaling"], real["smpl_loss"], smpl_gender="neutral", body_model="smpl")
    check_inputs(seq, config)  # the motion's own key
