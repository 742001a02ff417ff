"""Motion features and metrics against closed forms, and the two commands on synth motions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.linalg
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core.joints import SMPL24
from aistpp.pipeline.features import (
    GEOMETRIC, KINETIC, diversity, frechet_distance, geometric_features, kinetic_features, smpl_joints_m, _fast,
)


def test_kinetic_features_match_closed_forms():
    fps, n = 60.0, 600  # 10 s
    t = np.arange(n) / fps
    joints = np.zeros((n, 24, 3))
    joints[:, 0, 0] = 1.5 * t  # pelvis walks along x at 1.5 m/s
    A, w = 0.2, 2 * np.pi * 1.0  # joint 20 bobs vertically, 20 cm at 1 Hz (10 whole periods)
    joints[:, 20, 1] = A * np.sin(w * t)
    k = kinetic_features(joints, fps).reshape(24, 3)
    assert k[0, 0] == pytest.approx(0.5 * 1.5**2, rel=1e-9) and k[0, 1] == 0 and k[0, 2] == pytest.approx(0, abs=1e-9)
    assert k[20, 0] == 0
    v_true, a_true = A * w * np.cos(w * t), -A * w * w * np.sin(w * t)  # exact derivatives at the frames
    assert k[20, 1] == pytest.approx(np.mean(0.5 * v_true**2), rel=5e-3)  # ~ A^2 w^2 / 4
    assert k[20, 2] == pytest.approx(np.mean(np.abs(a_true * v_true)), rel=5e-3)  # ~ A^2 w^3 / pi
    assert k[20, 2] == pytest.approx(A**2 * w**3 / np.pi, rel=2e-2)
    # fps-aware: the same per-frame positions read at half the frame rate are half the speed,
    # a quarter of the energy
    assert kinetic_features(joints, fps / 2).reshape(24, 3)[0, 0] == pytest.approx(k[0, 0] / 4)
    assert len(KINETIC) == 72


@pytest.fixture(scope="module")
def fast(synth_data):
    return _fast(str(synth_data.smpl_dir), "neutral")


def _pose(fast, **joint_rotvecs):
    poses = np.zeros((4, 72))
    for name, rv in joint_rotvecs.items():
        poses[:, 3 * SMPL24.index(name): 3 * SMPL24.index(name) + 3] = rv
    return smpl_joints_m(fast, {"smpl_poses": poses, "smpl_trans": np.zeros((4, 3)), "smpl_scaling": np.array([100.0])})


def test_geometric_features_on_known_poses(fast):
    g = dict(zip(GEOMETRIC, geometric_features(_pose(fast))))  # the T-pose: arms out, limbs straight
    assert g["hands_apart"] == 1 and g["left_hand_above_head"] == 0 and g["right_hand_above_head"] == 0
    assert g["left_knee_bent"] == 0 and g["left_elbow_bent"] == 0 and g["torso_leaning"] == 0
    assert g["standing_still"] == 1 and g["moving_fast"] == 0
    # left arm raised (about -z turns SMPL's left arm, along +x, up), right knee bent 90 degrees
    g = dict(zip(GEOMETRIC, geometric_features(_pose(fast, left_shoulder=[0, 0, 1.4], right_knee=[1.57, 0, 0]))))
    assert g["left_hand_above_head"] == 1 and g["right_hand_above_head"] == 0
    assert g["right_knee_bent"] == 1 and g["left_knee_bent"] == 0
    # leaning: the whole body pitched 45 degrees forward about x
    g = dict(zip(GEOMETRIC, geometric_features(_pose(fast, pelvis=[0.8, 0, 0]))))
    assert g["torso_leaning"] == 1


def test_frechet_distance_against_the_textbook_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(0.5, 1.0, size=(300, 5)) @ rng.normal(size=(5, 5))
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    textbook = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(ca + cb - 2 * scipy.linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(textbook, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    few = rng.normal(size=(3, 72))  # fewer samples than dimensions: singular covariances, still finite
    assert np.isfinite(frechet_distance(few, few + 1.0)) and frechet_distance(few, few + 1.0) == pytest.approx(72)
    pts = np.array([[0.0, 0], [3, 4], [6, 8]])
    assert diversity(pts) == pytest.approx((5 + 10 + 5) / 3)


def test_features_and_metrics_commands(synth_data, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["features", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir",
                              str(synth_data.smpl_dir), "--save-dir", str(tmp_path / "gt"), "--quiet"])
    assert res.exit_code == 0, res.output
    seq = synth_data.sequences[0]
    saved = json.loads((tmp_path / "gt" / f"{seq}.features.json").read_text())
    kin = np.load(tmp_path / "gt" / f"{seq}.kinetic.npy", allow_pickle=False)
    assert list(saved["kinetic"]) == list(KINETIC) and np.allclose(list(saved["kinetic"].values()), kin)
    # the features of the ground truth, computed here from the motion with the array API
    m = synth_data.motions[seq]
    assert np.allclose(kin, kinetic_features(smpl_joints_m(_fast(str(synth_data.smpl_dir), "neutral"), m)))
    # a "generated" set: the same motions, faster (read at 120 fps) -> more kinetic energy, FID_k > 0
    res = runner.invoke(app, ["features", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir",
                              str(synth_data.smpl_dir), "--save-dir", str(tmp_path / "fast"), "--fps", "120", "--quiet"])
    assert res.exit_code == 0, res.output
    same = json.loads(runner.invoke(app, ["metrics", "--pred", str(tmp_path / "gt"), "--gt", str(tmp_path / "gt"),
                                          "--json"]).output)
    other = json.loads(runner.invoke(app, ["metrics", "--pred", str(tmp_path / "fast"), "--gt",
                                           str(tmp_path / "gt"), "--json"]).output)
    assert same["fid_k"] == pytest.approx(0, abs=1e-3) and same["fid_g"] == pytest.approx(0, abs=1e-3)
    assert other["fid_k"] > 1.0
    res = runner.invoke(app, ["metrics", "--pred", str(tmp_path / "nothing"), "--gt", str(tmp_path / "gt")])
    assert res.exit_code == 2 and "nothing" in res.stderr
