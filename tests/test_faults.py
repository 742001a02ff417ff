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


# ---- issue 16: pipes, links, permissions, full disk under the video writer -------------------
import json  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

_DRIVER = r"""
import json, sys
from typer.testing import CliRunner
from aistpp.cli import app
out = {}
for label, args in json.loads(sys.argv[1]):
    res = CliRunner().invoke(app, args)
    out[label] = [res.exit_code, res.stderr]
print(json.dumps(out))
"""


def test_named_pipes_are_refused_not_waited_on(synth_data, tmp_path):
    """Item 6: a FIFO in place of a pickle, a camera JSON, mapping.txt or a frame JSON: a clear
    error (or, for one frame of detections, a warning naming it), never a hang. In a child
    process with a timeout, as a hang would otherwise stop the test run."""
    seq = synth_data.sequences[0]
    cases = []
    for label, rel in (("pickle", f"keypoints2d/{seq}.pkl"), ("camera JSON", "cameras/setting1.json"),
                       ("mapping.txt", "cameras/mapping.txt")):
        anno = tmp_path / label.replace(" ", "_")
        shutil.copytree(synth_data.anno_dir, anno, ignore=shutil.ignore_patterns("motions", "keypoints3d"))
        (anno / rel).unlink()
        os.mkfifo(anno / rel)
        cases.append((label, ["triangulate", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "out"),
                              "--sequence-names", seq, "--executor", "serial", "--quiet"]))
    det = tmp_path / "det"
    video = sorted(p.name for p in synth_data.detections_dir.iterdir())[0]
    shutil.copytree(synth_data.detections_dir / video, det / video)
    frame = sorted((det / video).glob("*.json"))[3]
    frame.unlink()
    os.mkfifo(frame)
    cases.append(("frame JSON", ["preprocess", "--keypoints-dir", str(det), "--save-dir", str(tmp_path / "kp"),
                                 "--executor", "serial", "--quiet"]))
    res = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(cases)], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads(res.stdout.splitlines()[-1])
    for label in ("pickle", "camera JSON", "mapping.txt"):
        code, stderr = results[label]
        assert code == 2 and "not a regular file" in stderr and "Traceback" not in stderr, (label, stderr)
    code, stderr = results["frame JSON"]
    assert code == 0 and frame.name in stderr, stderr


def test_synth_never_writes_through_a_symlinked_folder(tmp_path):
    """Item 7: `synth --overwrite` with <out>/annotations a link to another dataset leaves the
    link's target untouched."""
    other = tmp_path / "other_dataset"
    (other / "motions").mkdir(parents=True)
    (other / "motions" / "precious.pkl").write_bytes(b"keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "annotations").symlink_to(other, target_is_directory=True)
    res = CliRunner().invoke(app, ["synth", "--out", str(out), "--sequences", "1", "--frames", "10", "--no-videos",
                                   "--overwrite", "--executor", "serial", "--quiet"])
    assert res.exit_code == 2 and "symbolic link" in res.stderr, res.output
    assert sorted(p.relative_to(other) for p in other.rglob("*")) == [Path("motions"), Path("motions/precious.pkl")]
    assert (other / "motions" / "precious.pkl").read_bytes() == b"keep me"


def test_atomic_writes_refuse_a_linked_folder(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "annotations").symlink_to(real, target_is_directory=True)
    with pytest.raises(formats.AistppError, match="symbolic link"):
        formats.write_lines(tmp_path / "out" / "annotations" / "splits" / "x.txt", ["a"])
    assert not any(real.iterdir())


def test_outputs_get_the_usual_permissions(tmp_path):
    """Issue 17: outputs are created as open() would (0666 minus the umask: 0644 under 022), and
    overwriting keeps the existing file's mode."""
    old = os.umask(0o022)
    try:
        formats.write_lines(tmp_path / "a.txt", ["x"])
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
        with open(tmp_path / "ref.txt", "w") as f:  # the peer: what open() does under this umask
            f.write("x")
        assert stat.S_IMODE((tmp_path / "ref.txt").stat().st_mode) == 0o644
        formats.write_lines(tmp_path / "a.txt", ["y"])
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
        os.chmod(tmp_path / "a.txt", 0o640)
        formats.save_json(tmp_path / "a.txt", {"z": 1})
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
        os.umask(0o077)
        formats.save_json(tmp_path / "b.json", {})
        assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_vis_onto_a_full_disk_keeps_the_earlier_video(monkeypatch, synth_data_videos, tmp_path):
    """Medium item: the error of container.close() (a full disk) is inside the atomic guard:
    one line naming the video, exit 2, the earlier video kept, no temporary file."""
    import av

    real_open = av.open

    class FullDisk:
        def __init__(self, container):
            self._c = container

        def __getattr__(self, name):
            return getattr(self._c, name)

        def close(self):
            self._c.close()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fake_open(path, mode="r", **kwargs):
        c = real_open(path, mode, **kwargs)
        return FullDisk(c) if mode == "w" else c

    monkeypatch.setattr(av, "open", fake_open)
    d = synth_data_videos
    seq = d.sequences[0]
    video = seq.replace("_cAll_", "_c01_")
    save = tmp_path / "save"
    save.mkdir()
    (save / f"{video}.mp4").write_bytes(b"an earlier video")
    res = CliRunner().invoke(app, ["vis", "--anno-dir", str(d.anno_dir), "--video-dir", str(d.video_dir),
                                   "--save-dir", str(save), "--video-name", video, "--mode", "2d", "--end", "4",
                                   "--overwrite", "--quiet"])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "No space left on device" in lines[0] and f"{video}.mp4" in lines[0]
    assert sorted(p.name for p in save.iterdir()) == [f"{video}.mp4"]
    assert (save / f"{video}.mp4").read_bytes() == b"an earlier video"


def test_fit_smpl_save_dir_on_a_read_only_file_system(monkeypatch, synth_data, tmp_path):
    """Medium item: a new --save-dir that cannot be created is one line naming it, exit 2."""
    from pathlib import Path as _Path

    real_mkdir = _Path.mkdir

    def ro_mkdir(self, *args, **kwargs):
        if "new_save" in str(self):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(_Path, "mkdir", ro_mkdir)
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir",
                                   str(synth_data.smpl_dir), "--save-dir", str(tmp_path / "new_save"),
                                   "--device", "cpu", "--executor", "serial", "--quiet"])
    assert res.exit_code == 2 and "Read-only file system" in res.stderr and "new_save" in res.stderr, res.output


def test_preprocess_reports_a_deeply_nested_detection_file(synth_data, tmp_path):
    """Medium item: a detection JSON nested 100k deep is a reported unreadable frame, not a crash."""
    det = tmp_path / "det"
    video = sorted(p.name for p in synth_data.detections_dir.iterdir())[0]
    shutil.copytree(synth_data.detections_dir / video, det / video)
    frame = sorted((det / video).glob("*.json"))[2]
    frame.write_text("[" * 100_000 + "]" * 100_000)
    res = CliRunner().invoke(app, ["preprocess", "--keypoints-dir", str(det), "--save-dir", str(tmp_path / "kp"),
                                   "--executor", "serial", "--quiet"])
    assert res.exit_code == 0 and frame.name in res.stderr and "Traceback" not in res.output, res.output


def test_videos_beyond_the_size_cap_are_refused_before_decoding(monkeypatch, synth_data_videos):
    from aistpp.core import video

    path = next(synth_data_videos.video_dir.glob("*.mp4"))
    info = video.probe(path)
    monkeypatch.setattr(video, "MAX_VIDEO_SIDE", min(info.width, info.height) - 1)
    with pytest.raises(formats.AistppError, match="beyond"):
        video.probe(path)


def test_a_temporary_removed_under_a_writer_is_one_line(tmp_path):
    """Item 5's symptom (a FileNotFoundError traceback) cannot come back as a traceback."""
    (tmp_path / "x.txt").write_text("earlier")
    with pytest.raises(formats.AistppError, match="removed while it was written"):
        with formats.atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("new")
            tmp.unlink()  # what the old stale-temporary cleanup of a second run did
            with open(tmp, "rb+"):
                pass
    assert (tmp_path / "x.txt").read_text() == "earlier"


def test_an_oversized_detection_file_is_an_unreadable_frame(monkeypatch, synth_data, tmp_path):
    from aistpp.core import detections

    det = tmp_path / "det"
    video = sorted(p.name for p in synth_data.detections_dir.iterdir())[0]
    shutil.copytree(synth_data.detections_dir / video, det / video)
    frame = sorted((det / video).glob("*.json"))[1]
    monkeypatch.setattr(detections, "_MAX_JSON_BYTES", frame.stat().st_size - 1)
    res = CliRunner().invoke(app, ["preprocess", "--keypoints-dir", str(det), "--save-dir", str(tmp_path / "kp"),
                                   "--executor", "serial", "--quiet"])
    assert res.exit_code == 0 and "unreadable" in res.stderr and "Traceback" not in res.output, res.output


def test_preprocess_never_replaces_a_result_by_nothing(synth_data, tmp_path):
    """Item 9: when every detection file of a sequence is unreadable, the earlier keypoints2d
    file is kept and the run says so (exit 2), instead of writing an all-NaN one."""
    det = tmp_path / "det"
    shutil.copytree(synth_data.detections_dir, det)
    seq = synth_data.sequences[0]
    for folder in det.iterdir():
        if folder.name.replace(folder.name.split("_")[2], "cAll") == seq:
            for f in folder.glob("*.json"):
                f.write_text("{broken")
    save = tmp_path / "kp"
    save.mkdir()
    (save / f"{seq}.pkl").write_bytes(b"an earlier result")
    res = CliRunner().invoke(app, ["preprocess", "--keypoints-dir", str(det), "--save-dir", str(save),
                                   "--sequence-names", seq, "--executor", "serial", "--overwrite", "--quiet"])
    assert res.exit_code == 2 and "nothing was written" in res.stderr, res.output
    assert (save / f"{seq}.pkl").read_bytes() == b"an earlier result"
