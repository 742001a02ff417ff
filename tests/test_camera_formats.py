"""aistpp cameras convert: every format round-trips, and each written file projects the same points
as the original when read by an independent reader (aniposelib for anipose TOML; OpenCV's
FileStorage + cv2.projectPoints for EasyMocap and OpenCV YAML)."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from test_camera_model import random_rig

from aistpp import AistppError, CameraRig
from aistpp.cli import app
from aistpp.core import formats

POINTS = np.random.default_rng(0).normal([0, 100, 0], 50, (200, 3))  # cm, around a dancer


@pytest.fixture
def source(synth_data, tmp_path):
    path = tmp_path / "setting1.json"
    formats.save_cameras(path, synth_data.rig)
    return path


def _convert(*args):
    res = CliRunner().invoke(app, ["cameras", "convert", *map(str, args)])
    assert res.exit_code == 0, res.output
    return res


@pytest.mark.parametrize("name", ["rig.toml", "easymocap", "rig.yml", "rig.xml"])
def test_round_trip_projects_identically(source, tmp_path, synth_data, name):
    _convert(source, tmp_path / name)
    _convert(tmp_path / name, tmp_path / "back.json")
    back = formats.load_cameras(tmp_path / "back.json")
    rig = synth_data.rig
    assert back.names == rig.names
    if name != "easymocap":  # EasyMocap files hold no image size
        assert np.array_equal(back.sizes, rig.sizes)
    assert np.abs(back.project(POINTS) - rig.project(POINTS)).max() < 1e-6


def test_anipose_toml_loads_in_aniposelib(source, tmp_path, synth_data):
    from aniposelib.cameras import CameraGroup

    _convert(source, tmp_path / "rig.toml")  # millimetres by default
    group = CameraGroup.load(str(tmp_path / "rig.toml"))
    assert group.get_names() == list(synth_data.rig.names)
    theirs = group.project(POINTS * 10.0)  # mm in, pixels out
    ours = synth_data.rig.project(POINTS)
    assert np.abs(theirs - ours).max() < 1e-6


def _cv_project(K, dist, rvec, tvec, points):
    px, _ = cv2.projectPoints(points.reshape(-1, 1, 3), rvec, tvec, K, dist)
    return px.reshape(-1, 2)


def test_easymocap_files_read_by_opencv(source, tmp_path, synth_data):
    _convert(source, tmp_path / "emc")
    intri = cv2.FileStorage(str(tmp_path / "emc" / "intri.yml"), cv2.FILE_STORAGE_READ)
    extri = cv2.FileStorage(str(tmp_path / "emc" / "extri.yml"), cv2.FILE_STORAGE_READ)
    ours = synth_data.rig.project(POINTS)
    for v, name in enumerate(synth_data.rig.names):
        K, dist = intri.getNode(f"K_{name}").mat(), intri.getNode(f"dist_{name}").mat()
        R, T = extri.getNode(f"Rot_{name}").mat(), extri.getNode(f"T_{name}").mat()
        assert np.allclose(cv2.Rodrigues(R)[0], extri.getNode(f"R_{name}").mat(), atol=1e-9)
        px = _cv_project(K, dist, cv2.Rodrigues(R)[0], T, POINTS / 100.0)  # EasyMocap: metres
        assert np.abs(px - ours[v]).max() < 1e-6


def test_opencv_yaml_states_its_units(source, tmp_path, synth_data):
    _convert(source, tmp_path / "rig.yaml", "--to-units", "m")
    fs = cv2.FileStorage(str(tmp_path / "rig.yaml"), cv2.FILE_STORAGE_READ)
    assert fs.getNode("units").string() == "m"
    name = synth_data.rig.names[2]
    px = _cv_project(fs.getNode(f"{name}_camera_matrix").mat(), fs.getNode(f"{name}_distortion_coefficients").mat(),
                     fs.getNode(f"{name}_rotation_vector").mat(), fs.getNode(f"{name}_translation_vector").mat(),
                     POINTS / 100.0)
    assert np.abs(px - synth_data.rig.project(POINTS)[2]).max() < 1e-6
    # reading honours the recorded unit: back to the same cameras in cm
    _convert(tmp_path / "rig.yaml", tmp_path / "back.json")
    assert np.allclose(formats.load_cameras(tmp_path / "back.json").tvec, synth_data.rig.tvec)


def test_errors_are_one_line_and_nothing_is_overwritten(source, tmp_path):
    (tmp_path / "out.toml").write_text("mine")
    res = CliRunner().invoke(app, ["cameras", "convert", str(source), str(tmp_path / "out.toml")])
    assert res.exit_code == 2 and "--overwrite" in res.stderr and (tmp_path / "out.toml").read_text() == "mine"
    (tmp_path / "bad.toml").write_text("[cam_0]\nname = 'c01'\n")
    res = CliRunner().invoke(app, ["cameras", "convert", str(tmp_path / "bad.toml"), str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "bad.toml" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()
    res = CliRunner().invoke(app, ["cameras", "convert", str(source), str(tmp_path / "x.txt")])
    assert res.exit_code == 2 and "--from/--to" in res.stderr


def _ring(count: int) -> CameraRig:
    """A rig of ``count`` views with names that do not sort like their order."""
    rig = random_rig(np.random.default_rng(count), 5, views=count)
    names = tuple(f"view{(7 * v) % count}" for v in range(count))
    return CameraRig(names, rig.sizes, rig.K, rig.dist, rig.rvec, rig.tvec)


def test_anipose_order_survives_aniposelib_with_more_than_ten_cameras(tmp_path):
    """aniposelib's load sorts the cam_<i> keys as text (cam_10 before cam_2): the file is written
    so that aniposelib, and so aistpp, read the cameras back in the rig's order."""
    from aniposelib.cameras import CameraGroup

    from aistpp.core.camera_formats import read_cameras, write_cameras

    rig = _ring(12)
    write_cameras(tmp_path / "rig.toml", rig)
    group = CameraGroup.load(str(tmp_path / "rig.toml"))
    assert group.get_names() == list(rig.names)
    assert group.metadata == {"units": "mm"}
    theirs = group.project(POINTS * 10.0)
    assert np.abs(theirs - rig.project(POINTS)).max() < 1e-6
    back = read_cameras(tmp_path / "rig.toml")
    assert back.names == rig.names and np.allclose(back.tvec, rig.tvec, atol=1e-9)


def test_reads_a_file_aniposelib_wrote(tmp_path):
    """A calibration as anipose writes it (CameraGroup.dump, metre units recorded) reads back in cm."""
    from aniposelib.cameras import Camera, CameraGroup

    from aistpp.core.camera_formats import read_cameras

    rig = _ring(4)
    cams = [Camera(name=n, size=rig.sizes[v].tolist(), matrix=rig.K[v], dist=rig.dist[v], rvec=rig.rvec[v],
                   tvec=rig.tvec[v] / 100.0) for v, n in enumerate(rig.names)]
    CameraGroup(cams, metadata={"units": "m"}).dump(str(tmp_path / "calibration.toml"))
    back = read_cameras(tmp_path / "calibration.toml")
    assert back.names == rig.names
    assert np.abs(back.project(POINTS) - rig.project(POINTS)).max() < 1e-6


def test_anipose_files_it_cannot_represent_are_refused(tmp_path):
    from aniposelib.cameras import CameraGroup, FisheyeCamera

    from aistpp.core.camera_formats import read_cameras

    CameraGroup([FisheyeCamera(name="fish", size=[640, 480], dist=[0.1, 0, 0, 0])]).dump(str(tmp_path / "fish.toml"))
    (tmp_path / "empty.toml").write_text('[metadata]\nunits = "mm"\n')
    (tmp_path / "broken.toml").write_text("[cam_0\nname = 'x'\n")
    for name, words in (("fish.toml", "fisheye"), ("empty.toml", "no [cam_"), ("broken.toml", "TOML")):
        with pytest.raises(AistppError, match=re.escape(words)) as err:
            read_cameras(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)
