"""Fuzzing the loaders with hypothesis: mutated pickles, JSON and text files.

Whatever the bytes, a loader returns data or raises ``AistppError`` (which the CLI prints as
one line); any other exception, a crash or a case running over ``CASE_SECONDS`` fails. The
number of cases run per loader is printed at the end of the test session.
"""

from __future__ import annotations

import json
import pickle
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistpp.core import formats
from aistpp.core.detections import read_video
from aistpp.core.rig import aist_like_ring
from aistpp.core.safe_pickle import safe_loads
from aistpp.errors import AistppError

CASE_SECONDS = 5
EXAMPLES = 120
CASES: dict[str, int] = {}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@contextmanager
def time_limit(seconds: int):
    def _alarm(signum, frame):
        raise TimeoutError(f"a loader ran for more than {seconds} s on one input")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check(name: str, load, path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and load it: only AistppError may escape, within the time limit."""
    CASES[name] = CASES.get(name, 0) + 1
    path.write_bytes(data)
    with time_limit(CASE_SECONDS):
        try:
            load(path)
        except AistppError:
            pass


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """``original`` with a few bytes changed, inserted or deleted, and maybe truncated."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[pos:pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


rng = np.random.default_rng(0)
KP2D = pickle.dumps({"keypoints2d": rng.normal(size=(3, 4, 17, 3)).astype(np.float32),
                     "det_scores": np.ones((3, 4), np.float32), "timestamps": np.arange(4)}, protocol=2)
KP3D = pickle.dumps({"keypoints3d": rng.normal(size=(4, 17, 3)).astype(np.float32),
                     "keypoints3d_optim": rng.normal(size=(4, 17, 3)).astype(np.float32)}, protocol=4)
MOTION = pickle.dumps({"smpl_poses": np.zeros((4, 72), np.float32), "smpl_trans": np.zeros((4, 3), np.float32),
                       "smpl_scaling": np.ones(1, np.float32), "smpl_loss": 0.5})
CAMERAS = json.dumps(aist_like_ring(3).to_json_list()).encode()
MAPPING = b"gWA_sFM_cAll_d27_mWA2_ch21 setting1\ngBR_sBM_cAll_d04_mBR0_ch01 setting2\n"
OPENPOSE = json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": list(rng.uniform(0, 100, 75))}]}).encode()


@FUZZ
@given(data=mutated(KP2D))
def test_fuzz_keypoints2d(tmp_path, data):
    check("keypoints2d", formats.load_keypoints2d, tmp_path / "k.pkl", data)


@FUZZ
@given(data=mutated(KP3D))
def test_fuzz_keypoints3d(tmp_path, data):
    check("keypoints3d", formats.load_keypoints3d, tmp_path / "k.pkl", data)


@FUZZ
@given(data=mutated(MOTION))
def test_fuzz_motions(tmp_path, data):
    check("motions", formats.load_motion, tmp_path / "m.pkl", data)


@FUZZ
@given(data=st.one_of(mutated(KP2D), st.binary(max_size=300)))
def test_fuzz_safe_unpickler(tmp_path, data):
    """The raw unpickler may raise anything pickle raises, but never runs code or hangs; via
    ``safe_load`` (the file API) only AistppError escapes."""
    from aistpp.core.safe_pickle import safe_load

    check("safe_load", safe_load, tmp_path / "x.pkl", data)
    with time_limit(CASE_SECONDS):
        try:
            safe_loads(data)
        except Exception:  # noqa: BLE001 - any refusal is fine here; only hangs and crashes are not
            pass


@FUZZ
@given(data=mutated(CAMERAS))
def test_fuzz_camera_bytes(tmp_path, data):
    check("cameras (bytes)", formats.load_cameras, tmp_path / "setting1.json", data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@FUZZ
@given(view=st.integers(0, 2), key=st.sampled_from(["name", "size", "matrix", "distortions", "rotation",
                                                     "translation", "extra"]), value=json_values)
def test_fuzz_camera_fields(tmp_path, view, key, value):
    """One field of one camera replaced by any JSON value (missing keys, strings, nesting...)."""
    items = json.loads(CAMERAS)
    items[view][key] = value
    check("cameras (fields)", formats.load_cameras, tmp_path / "setting1.json", json.dumps(items).encode())


@FUZZ
@given(data=st.one_of(mutated(MAPPING), st.binary(max_size=200)))
def test_fuzz_mapping(tmp_path, data):
    check("mapping.txt", formats.read_mapping, tmp_path / "mapping.txt", data)


@FUZZ
@given(data=mutated(OPENPOSE))
def test_fuzz_detection_json(tmp_path, data):
    """A corrupt per-frame detection file is reported and treated as a missing frame."""
    folder = tmp_path / "gWA_sFM_c01_d27_mWA2_ch21"
    folder.mkdir(exist_ok=True)
    (folder / "gWA_sFM_c01_d27_mWA2_ch21_000000000000_keypoints.json").write_bytes(OPENPOSE)
    check("detections (OpenPose JSON)", lambda p: read_video(folder, "openpose"),
          folder / "gWA_sFM_c01_d27_mWA2_ch21_000000000001_keypoints.json", data)
