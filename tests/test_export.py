"""aistpp export: BVH read back by bvhio (a BVH library from PyPI, its own forward kinematics)
and AMASS-style npz posed by smplx, both against the dataset's SMPL joints."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.body import load_smpl, smpl_forward
from aistpp.core.joints import SMPL24

Z_UP = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])


@pytest.fixture(scope="module")
def world(synth_data):
    """The ground-truth motions' SMPL joints and vertices in the dataset's world (cm)."""
    model = load_smpl(synth_data.smpl_dir)
    out = {}
    for seq, m in synth_data.motions.items():
        joints, verts = smpl_forward(model, m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"], vertices=True)
        out[seq] = (joints[:, :24].astype(np.float64), verts.astype(np.float64))
    return model, out


def _export(synth_data, out, *options):
    res = CliRunner().invoke(app, ["export", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir",
                                   str(synth_data.smpl_dir), "--save-dir", str(out), "--executor", "serial",
                                   "--quiet", *options])
    assert res.exit_code == 0, res.output
    return res


def _bvh_joints(path, frames):
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    layout = root.layout()
    idx = [[j.Name for j, _, _ in layout].index(n) for n in SMPL24]
    out = []
    for f in frames:
        root.loadPose(f)
        out.append([[j.PositionWorld.x, j.PositionWorld.y, j.PositionWorld.z] for j, _, _ in layout])
    return np.asarray(out)[:, idx]


@pytest.mark.parametrize("options, up, unit", [
    ((), "y", 1.0),
    (("--order", "XYZ", "--units", "m", "--up", "z"), "z", 100.0),
])
def test_bvh_round_trips_through_a_bvh_library(synth_data, world, tmp_path, options, up, unit):
    _export(synth_data, tmp_path, "--no-floor", *options)
    _, joints = world
    for seq in synth_data.sequences:
        path = tmp_path / f"{seq}.bvh"
        text = path.read_text()
        order = "XYZ" if "XYZ" in options else "ZXY"
        assert f"CHANNELS 3 {order[0]}rotation {order[1]}rotation {order[2]}rotation" in text
        J = joints[seq][0]
        frames = range(0, len(J), 7)
        got = _bvh_joints(path, frames) * unit  # back to cm
        expected = J[list(frames)] @ (Z_UP.T if up == "z" else np.eye(3))
        assert np.abs(got - expected).max() < 1e-3  # cm


def test_bvh_frame_rate_and_floor(synth_data, world, tmp_path):
    _export(synth_data, tmp_path, "--fps", "30")
    _, joints = world
    seq = synth_data.sequences[0]
    J, V = joints[seq]
    text = (tmp_path / f"{seq}.bvh").read_text()
    assert f"Frames: {len(range(0, len(J), 2))}" in text and "Frame Time: 0.03333333" in text
    lowest = V[::2, :, 1].min()  # the lowest vertex of the kept frames, found here from smplx's mesh
    got = _bvh_joints(tmp_path / f"{seq}.bvh", [0, 3])
    assert np.abs(got - (J[[0, 6]] - [0, lowest, 0])).max() < 1e-3


def test_npz_is_amass_style_with_the_scale_folded_in(synth_data, world, tmp_path):
    _export(synth_data, tmp_path, "--format", "npz", "--up", "z")
    model, joints = world
    for seq in synth_data.sequences:
        with np.load(tmp_path / f"{seq}.npz", allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        assert data["poses"].shape == (len(joints[seq][0]), 72) and data["trans"].shape[1] == 3
        assert np.all(data["betas"] == 0) and str(data["gender"]) == "neutral"
        assert float(data["mocap_framerate"]) == 60.0
        # posed by smplx as AMASS users do: SMPL(poses, betas) + trans, no scale
        J_npz, V_npz = smpl_forward(model, data["poses"], data["trans"], 1.0, vertices=True)
        scale = float(synth_data.motions[seq]["smpl_scaling"][0])
        J, V = joints[seq]
        lowest = V[:, :, 1].min()
        expected = ((J - [0, lowest, 0]) @ Z_UP.T) / scale  # the dataset's motion, turned z-up, at SMPL size
        assert np.abs(J_npz[:, :24] - expected).max() < 1e-5  # metres
        assert abs(V_npz[..., 2].min()) < 1e-5  # floor: the lowest vertex touches z = 0
        assert 0.5 < expected[..., 2].max() < 2.5  # metres: a standing body, not centimetres


def test_wrong_kind_of_input_is_a_clear_error(synth_data, tmp_path):
    anno = tmp_path / "anno"
    shutil.copytree(synth_data.anno_dir, anno)
    seq = synth_data.sequences[0]
    shutil.copy(anno / "keypoints3d" / f"{seq}.pkl", anno / "motions" / f"{seq}.pkl")
    res = CliRunner().invoke(app, ["export", "--anno-dir", str(anno), "--smpl-dir", str(synth_data.smpl_dir),
                                   "--save-dir", str(tmp_path / "out"), "--sequence-names", seq, "--quiet"])
    assert res.exit_code == 2 and "keypoints3d file, not an SMPL motion" in res.stderr
    assert not (tmp_path / "out" / f"{seq}.bvh").exists()
