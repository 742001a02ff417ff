"""Fuzzing the loaders with hypothesis: mutated pickles (annotations and SMPL model files),
crafted sparse matrices and dtypes, shared-reference and size bombs, JSON and text files.

Whatever the bytes, a loader returns data or raises ``AistppError`` (which the CLI prints as
one line). Every case runs in a separate worker process (``Sandbox``) that the test waits
on for at most ``CASE_SECONDS``: a case running longer is killed and fails the test (the
bound holds even inside C code, where an alarm signal would never be handled), a crash
(SIGSEGV, abort) fails it with the signal, and the worker's address space is capped so a
memory bomb fails as a MemoryError instead of swapping. The number of cases run per loader
is printed at the end of the test session.
"""

from __future__ import annotations

import json
import pickle
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aistpp.core.rig import aist_like_ring

CASE_SECONDS = 5
EXAMPLES = 120
CASES: dict[str, int] = {}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SMALL = settings(FUZZ, max_examples=EXAMPLES // 2)  # the SMPL and bomb cases: larger inputs

_WORKER = r"""
import json, resource, sys, traceback
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from pathlib import Path
import numpy as np
from aistpp.core import formats
from aistpp.core.body import load_smpl_data
from aistpp.core.detections import read_video
from aistpp.core.safe_pickle import safe_load, safe_loads
from aistpp.errors import AistppError

def smpl(path):  # what fit-smpl, vis and export do with the model's arrays
    data = load_smpl_data(path)
    reg = data["J_regressor"]
    dense = reg.toarray() if hasattr(reg, "toarray") else np.asarray(reg)
    dense.astype(np.float32) @ np.asarray(data["v_template"], np.float64)
    for key in ("weights", "posedirs", "shapedirs", "f", "kintree_table"):
        np.asarray(data[key]).astype(np.float64).sum()

def any_array(path):  # a loaded object's arrays, read as the loaders would
    obj = safe_load(path)
    for value in (obj.values() if isinstance(obj, dict) else [obj]):
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            value.astype(np.float32).sum()

LOADERS = {
    "keypoints2d": formats.load_keypoints2d, "keypoints3d": formats.load_keypoints3d,
    "motions": formats.load_motion, "cameras": formats.load_cameras, "mapping.txt": formats.read_mapping,
    "safe_load": any_array, "SMPL": smpl,
    "detections": lambda p: read_video(p.parent, "openpose"),
    "safe_loads (raw)": lambda p: safe_loads(p.read_bytes()),
    "config (TOML)": lambda p: __import__("aistpp.config", fromlist=["x"]).build_config(
        __import__("aistpp.pipeline.fit_smpl", fromlist=["x"]).FitSmplConfig,
        {"anno_dir": "a", "smpl_dir": "s", "save_dir": "o"}, p, "fit-smpl"),
    "test: hang": lambda p: __import__("time").sleep(600),
    "test: crash": lambda p: __import__("os").abort(),
}
for line in sys.stdin:
    name, path = json.loads(line)
    try:
        LOADERS[name](Path(path))
        result = "ok"
    except AistppError:
        result = "refused"
    except Exception as exc:
        result = "refused" if name == "safe_loads (raw)" else "".join(traceback.format_exception(exc, limit=-4))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
"""


class Sandbox:
    """A worker process that runs one loader call at a time; the caller waits a bounded time."""

    def __init__(self):
        self.proc = None

    def _start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def run(self, loader: str, path: Path, timeout: float) -> str:
        first = self.proc is None or self.proc.poll() is not None
        if first:
            self._start()
        self.proc.stdin.write(json.dumps([loader, str(path)]) + "\n")
        self.proc.stdin.flush()
        # a fresh worker also pays its imports (numpy, scipy, aistpp) on its first case
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout + (30 if first else 0))
        if not ready:
            self.close()
            raise AssertionError(f"{loader}: one input ran for more than {timeout} s (killed)")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            raise AssertionError(f"{loader}: the loader crashed the process (return code {code})")
        return json.loads(line)

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


SANDBOX = Sandbox()


@pytest.fixture(scope="module", autouse=True)
def _sandbox():
    yield SANDBOX
    SANDBOX.close()


def check(name: str, loader: str, path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and load it in the sandbox: only AistppError may escape,
    within ``CASE_SECONDS``, without crashing the process."""
    CASES[name] = CASES.get(name, 0) + 1
    path.write_bytes(data)
    result = SANDBOX.run(loader, path, CASE_SECONDS)
    assert result in ("ok", "refused"), f"{name}: not an AistppError:\n{result}"


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
    check("keypoints2d", "keypoints2d", tmp_path / "k.pkl", data)


@FUZZ
@given(data=mutated(KP3D))
def test_fuzz_keypoints3d(tmp_path, data):
    check("keypoints3d", "keypoints3d", tmp_path / "k.pkl", data)


@FUZZ
@given(data=mutated(MOTION))
def test_fuzz_motions(tmp_path, data):
    check("motions", "motions", tmp_path / "m.pkl", data)


@FUZZ
@given(data=st.one_of(mutated(KP2D), st.binary(max_size=300)))
def test_fuzz_safe_unpickler(tmp_path, data):
    """The raw unpickler may raise anything pickle raises, but never runs code, hangs or
    crashes; via ``safe_load`` (the file API) only AistppError escapes."""
    check("safe_load", "safe_load", tmp_path / "x.pkl", data)
    check("safe_loads (raw)", "safe_loads (raw)", tmp_path / "x.pkl", data)


@FUZZ
@given(data=mutated(CAMERAS))
def test_fuzz_camera_bytes(tmp_path, data):
    check("cameras (bytes)", "cameras", tmp_path / "setting1.json", data)


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
    check("cameras (fields)", "cameras", tmp_path / "setting1.json", json.dumps(items).encode())


@FUZZ
@given(data=st.one_of(mutated(MAPPING), st.binary(max_size=200)))
def test_fuzz_mapping(tmp_path, data):
    check("mapping.txt", "mapping.txt", tmp_path / "mapping.txt", data)


@FUZZ
@given(data=mutated(OPENPOSE))
def test_fuzz_detection_json(tmp_path, data):
    """A corrupt per-frame detection file is reported and treated as a missing frame."""
    folder = tmp_path / "gWA_sFM_c01_d27_mWA2_ch21"
    folder.mkdir(exist_ok=True)
    (folder / "gWA_sFM_c01_d27_mWA2_ch21_000000000000_keypoints.json").write_bytes(OPENPOSE)
    check("detections (OpenPose JSON)", "detections",
          folder / "gWA_sFM_c01_d27_mWA2_ch21_000000000001_keypoints.json", data)


def test_the_sandbox_enforces_its_bounds(tmp_path):
    """The per-case bound is real: a loader that hangs is killed after CASE_SECONDS, and one
    that crashes the process is reported with its signal; the next case gets a fresh worker."""
    import time

    (tmp_path / "x").write_bytes(b"")
    SANDBOX.run("keypoints3d", tmp_path / "x", CASE_SECONDS)  # a warm worker
    start = time.monotonic()
    with pytest.raises(AssertionError, match="more than"):
        SANDBOX.run("test: hang", tmp_path / "x", 1)
    assert time.monotonic() - start < 5
    with pytest.raises(AssertionError, match="crashed the process .return code -6"):
        SANDBOX.run("test: crash", tmp_path / "x", CASE_SECONDS)
    assert SANDBOX.run("keypoints3d", tmp_path / "x", CASE_SECONDS) == "refused"


# ---- SMPL model files and bombs (issue 16) ---------------------------------------------------
def _mini_smpl(nv: int = 30) -> dict:
    """A small but complete SMPL-format dict (load_smpl_data accepts it): the same keys,
    dtypes and containers as the real files (csc J_regressor, uint32 faces and kintree)."""
    r = np.random.default_rng(1)
    reg = np.zeros((24, nv))
    for j in range(24):
        reg[j, r.choice(nv, 3, replace=False)] = 1 / 3
    parents = np.array([0xFFFFFFFF, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])
    return {
        "v_template": r.normal(size=(nv, 3)), "f": r.integers(0, nv, (40, 3)).astype(np.uint32),
        "J_regressor": sp.csc_matrix(reg), "weights": r.dirichlet(np.ones(24), nv),
        "posedirs": r.normal(size=(nv, 3, 207)) * 1e-3, "shapedirs": r.normal(size=(nv, 3, 10)) * 1e-2,
        "kintree_table": np.stack([parents, np.arange(24)]).astype(np.uint32), "bs_type": "lrotmin",
        "bs_style": "lbs",
    }


MINI_SMPL = _mini_smpl()
SMPL_BYTES = pickle.dumps(MINI_SMPL, protocol=2)


def test_the_mini_smpl_file_loads(tmp_path):
    """The fuzzed SMPL file is a valid one: its mutations start from something that loads."""
    check("SMPL (original)", "SMPL", tmp_path / "SMPL_NEUTRAL.pkl", SMPL_BYTES)
    assert SANDBOX.run("SMPL", tmp_path / "SMPL_NEUTRAL.pkl", CASE_SECONDS) == "ok"


@SMALL
@given(data=mutated(SMPL_BYTES))
def test_fuzz_smpl_bytes(tmp_path, data):
    check("SMPL (bytes)", "SMPL", tmp_path / "SMPL_NEUTRAL.pkl", data)


_BIG = st.sampled_from([-1, 0, 1, 23, 24, 29, 30, 31, 2**15, 2**31 - 1, 2**31, 2**40, -(2**31)])


@st.composite
def mutated_sparse(draw) -> bytes:
    """The J_regressor's arrays, shape and dtypes changed the way a hostile file can."""
    reg = MINI_SMPL["J_regressor"].copy()
    field = draw(st.sampled_from(["indices", "indptr", "shape", "data dtype", "index dtype", "lengths"]))
    if field in ("indices", "indptr"):
        arr = getattr(reg, field).astype(np.int64)
        idx = draw(st.lists(st.integers(0, len(arr) - 1), min_size=1, max_size=4))
        arr[idx] = draw(_BIG)
        setattr(reg, field, arr)
    elif field == "shape":
        reg._shape = (draw(_BIG), draw(_BIG))
    elif field == "data dtype":
        reg.data = reg.data.astype(draw(st.sampled_from([object, np.complex128, np.bool_, "U3", np.float16])))
    elif field == "index dtype":
        reg.indices = reg.indices.astype(draw(st.sampled_from([np.float64, np.uint8, np.int8, object])))
    else:
        reg.data = reg.data[: draw(st.integers(0, len(reg.data)))]
    return pickle.dumps({**MINI_SMPL, "J_regressor": reg}, protocol=draw(st.sampled_from([2, 4, 5])))


@SMALL
@given(data=mutated_sparse())
def test_fuzz_smpl_sparse(tmp_path, data):
    check("SMPL (sparse fields)", "SMPL", tmp_path / "SMPL_NEUTRAL.pkl", data)


@st.composite
def forged_dtype_file(draw) -> bytes:
    """v_template with a dtype state and array state drawn from what numpy's BUILD accepts."""
    import _hostile as H

    v = MINI_SMPL["v_template"]
    spec = draw(st.sampled_from(["f8", "f4", "V8", "O8", "i8", "U2", "S8", "c16", "M8", "f16"]))
    order = draw(st.sampled_from(["<", ">", "|", "=", "x"]))
    names = draw(st.sampled_from([None, ("x",), ("x", "y")]))
    fields = None if names is None else {n: (np.dtype("<f8"), draw(st.sampled_from([0, 4, 8, 16 << 20])))
                                         for n in names}
    sub = draw(st.sampled_from([None, (np.dtype("<f8"), (2,)), (np.dtype("<f8"), (1 << 20,))]))
    elsize, align = draw(st.sampled_from([-1, 0, 4, 8, 16, 1 << 30])), draw(st.sampled_from([-1, 1, 8]))
    flags = draw(st.sampled_from([0, 1, 8, 0x3F, 255]))
    dt = H.forged_dtype((3, order, sub, names, fields, elsize, align, flags), spec)
    shape = draw(st.sampled_from([v.shape, (v.shape[0] * 2, 3), (0,), (2**40, 0), (-1, 3), (v.size,)]))
    raw = v.tobytes()[: draw(st.sampled_from([v.nbytes, v.nbytes - 1, 0, 8]))]
    return pickle.dumps({**MINI_SMPL, "v_template": H.forged_array(dt, shape, raw)}, protocol=2)


@SMALL
@given(data=forged_dtype_file())
def test_fuzz_smpl_dtypes(tmp_path, data):
    check("SMPL (forged dtypes)", "SMPL", tmp_path / "SMPL_NEUTRAL.pkl", data)


_WIDE = [pickle.dumps({"keypoints3d": [list(range(1000))] * (k * 4000)}, protocol=4) for k in (1, 5, 20)]


@st.composite
def bomb(draw) -> bytes:
    """Shared references, deep nesting and size requests of drawn sizes, inside a keypoints3d dict."""
    import _hostile as H

    kind = draw(st.sampled_from(["shared list", "shared tuple key", "deep tuple key", "deep list", "copies",
                                 "size", "wide shared"]))
    n = draw(st.integers(1, 80))
    if kind == "shared list":
        return H.shared_list_bomb(n)
    if kind == "shared tuple key":
        return H.shared_tuple_key_bomb(n)
    if kind == "deep tuple key":
        return H.deep_tuple_key(n * 500)
    if kind == "deep list":
        return H.deep_list(n * 500)
    if kind == "copies":
        return H._copy_chain(n * 250)
    if kind == "wide shared":  # one list referenced n*1000 times, each copy of it 1000 long
        return _WIDE[n % len(_WIDE)]
    return draw(st.sampled_from(_size_bombs()))


_SIZE_BOMBS: list = []


def _size_bombs() -> list:
    import _hostile as H

    if not _SIZE_BOMBS:
        _SIZE_BOMBS.extend(H.size_bombs().values())
    return _SIZE_BOMBS


@SMALL
@given(data=bomb())
def test_fuzz_bombs(tmp_path, data):
    """Every bomb is refused (or, when small enough, loaded) within the time bound."""
    check("bombs", "keypoints3d", tmp_path / "k.pkl", data)
    check("bombs (safe_load)", "safe_load", tmp_path / "k.pkl", data)


TOML = b"""workers = 2
executor = "serial"
[fit-smpl]
iterations = 20
sequence_names = ["gWA_sFM_cAll_d27_mWA2_ch21"]
weights = {robust_cm = 4.0, accel = 0.1}
"""


@SMALL
@given(data=st.one_of(mutated(TOML), st.builds(lambda n: b"a = " + b"[" * n + b"]" * n, st.integers(1, 5000))))
def test_fuzz_config_toml(tmp_path, data):
    """A mutated or deeply nested --config file: the options or one line naming the file."""
    check("config (TOML)", "config (TOML)", tmp_path / "options.toml", data)
