"""Faults while writing (full disk, read-only folder) and degenerate geometry.

Writes: the error names the file and says what happened, exit code 2, an earlier result is
kept byte for byte, no temporary file is left, and a rerun once the fault is gone completes.
(A worker killed mid-write is tests/test_runner.py's SIGKILL test.)
Geometry: undetermined points are NaN with a warning, never a garbage point or an exception.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.cameras import CameraRig, rotation_to_rodrigues
from aistpp.core.rig import aist_like_ring, look_at
from aistpp.core.triangulation import triangulate_dlt, triangulate_robust


@pytest.fixture
def setup(synth_data, tmp_path):
    save = tmp_path / "save"
    save.mkdir()
    seq = synth_data.sequences[0]
    (save / f"{seq}.pkl").write_bytes(b"an earlier result")
    args = ["triangulate", "--anno-dir", str(synth_data.anno_dir), "--save-dir", str(save), "--sequence-names", seq,
            "--executor", "serial", "--overwrite", "--quiet"]
    return save, seq, args


def _fault_then_rerun(monkeypatch, setup, target: str, error: OSError, expected: str):
    save, seq, args = setup
    real = {"os.fsync": os.fsync, "tempfile.mkstemp": tempfile.mkstemp}[target]

    def broken(*a, **k):
        raise error

    module, name = target.split(".")
    monkeypatch.setattr({"os": os, "tempfile": tempfile}[module], name, broken)
    res = CliRunner().invoke(app, args)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, (res.exit_code, res.stderr)
    assert expected in lines[0] and f"{seq}.pkl" in lines[0], lines[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert sorted(p.name for p in save.iterdir()) == [f"{seq}.pkl"]  # no temporary left
    assert (save / f"{seq}.pkl").read_bytes() == b"an earlier result"
    monkeypatch.setattr({"os": os, "tempfile": tempfile}[module], name, real)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.stderr
    assert formats.load_keypoints3d(save / f"{seq}.pkl")["keypoints3d"].shape[1:] == (17, 3)


def test_full_disk(monkeypatch, setup):
    _fault_then_rerun(monkeypatch, setup, "os.fsync", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                      "No space left on device")


def test_read_only_save_dir(monkeypatch, setup):
    # (as root, chmod does not stop writes: the refusal the OS would give is simulated)
    _fault_then_rerun(monkeypatch, setup, "tempfile.mkstemp", PermissionError(errno.EACCES, os.strerror(errno.EACCES)),
                      "Permission denied")


# ---- degenerate geometry -------------------------------------------------------------------
def _rig(eyes: list, target=(0.0, 100.0, 0.0)) -> CameraRig:
    Rs, ts = zip(*(look_at(np.array(e, float), np.array(target)) for e in eyes))
    V = len(eyes)
    K = np.tile(np.array([[1000.0, 0, 960], [0, 1000.0, 540], [0, 0, 1]]), (V, 1, 1))
    return CameraRig(tuple(f"c{i + 1:02d}" for i in range(V)), np.tile([1920, 1080], (V, 1)), K, np.zeros((V, 5)),
                     rotation_to_rodrigues(np.stack(Rs)), np.stack(ts))


def _points(n=20, seed=0):
    return np.random.default_rng(seed).normal([0, 100, 0], 30, (n, 17, 3))


def test_two_views_are_enough_and_exact():
    rig = _rig([(500, 150, 0), (0, 150, 500)])
    pts = _points()
    px = rig.project(pts)
    for X in (triangulate_dlt(rig, px), triangulate_robust(rig, px).points3d):
        assert np.allclose(X, pts, atol=1e-6)


def test_a_joint_seen_by_one_view_is_nan():
    rig = aist_like_ring()
    pts = _points()
    px = rig.project(pts)
    px[1:, :, 5] = np.nan  # joint 5 only in c01
    for X in (triangulate_dlt(rig, px), triangulate_robust(rig, px).points3d):
        assert np.isnan(X[:, 5]).all()
        assert np.allclose(np.delete(X, 5, axis=1), np.delete(pts, 5, axis=1), atol=1e-6)


def test_cameras_all_on_one_side_with_parallel_rays_give_nan_not_garbage():
    # four cameras 20 m away within 2 mm of each other: the rays meet at well under 0.01 degrees
    rig = _rig([(2000.0 + 0.05 * i, 150.0, 0.05 * i) for i in range(4)])
    pts = _points(5)
    px = rig.project(pts) + np.random.default_rng(1).normal(0, 0.5, (4, 5, 17, 2))
    for X in (triangulate_dlt(rig, px), triangulate_robust(rig, px).points3d):
        assert np.isnan(X).all()


def test_one_side_with_a_real_baseline_is_still_determined():
    rig = _rig([(500.0 * np.cos(a), 150.0, 500.0 * np.sin(a)) for a in np.radians([0, 20, 40])])
    pts = _points(5)
    X = triangulate_robust(rig, rig.project(pts)).points3d
    assert np.allclose(X, pts, atol=1e-5)


def test_triangulate_warns_about_undetermined_points(synth_data, tmp_path):
    anno = tmp_path / "anno"
    shutil.copytree(synth_data.anno_dir, anno)
    seq = synth_data.sequences[0]
    path = anno / "keypoints2d" / f"{seq}.pkl"
    data = formats.load_keypoints2d(path)
    kp = data["keypoints2d"]
    kp[1:, :, 9:] = np.nan  # joints 9.. (wrists, hips, legs) only in c01
    formats.save_keypoints2d(path, kp, data["det_scores"], data["timestamps"])
    res = CliRunner().invoke(app, ["triangulate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "out"),
                                   "--sequence-names", seq, "--executor", "serial", "--quiet"])
    assert res.exit_code == 0, res.stderr
    assert "warning" in res.stderr and "NaN" in res.stderr
    out = formats.load_keypoints3d(tmp_path / "out" / f"{seq}.pkl")
    assert np.isnan(out["keypoints3d"][:, 9:]).all() and np.isfinite(out["keypoints3d"][:, :9]).mean() > 0.95
