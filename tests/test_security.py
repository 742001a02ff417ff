"""Hostile pickles: every loader refuses real attack shapes, and none of them runs.

Each attack, if unpickled with plain ``pickle``, would create a sentinel file (checked below for
the first shapes, so the attack is known to be live). Through aistpp's loaders each must raise
``AistppError`` naming the file, and the sentinel must not exist.
"""

from __future__ import annotations

import ast
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aistpp.core import formats
from aistpp.core.body import load_smpl, load_smpl_data
from aistpp.core.safe_pickle import safe_load
from aistpp.errors import AistppError

ROOT = Path(__file__).resolve().parents[1]


class _Reduce:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def attacks(sentinel: Path) -> dict[str, bytes]:
    cmd = f"touch {sentinel}"
    hostile = _Reduce(os.system, cmd)
    arr = np.empty(1, dtype=object)
    arr[0] = hostile
    return {
        "os.system via __reduce__": pickle.dumps({"keypoints2d": hostile}),
        "builtins.eval": pickle.dumps(_Reduce(eval, f"__import__('os').system({cmd!r})")),
        "builtins.exec": pickle.dumps(_Reduce(exec, f"import os; os.system({cmd!r})")),
        "subprocess.Popen": pickle.dumps(_Reduce(subprocess.Popen, ["touch", str(sentinel)])),
        "nested globals": pickle.dumps({"keypoints2d": [np.zeros(3), {"deep": (1, [hostile])}]}),
        "pickle in a numpy object array": pickle.dumps({"keypoints3d": arr}),
        "hand-written GLOBAL opcode": f"cposix\nsystem\n(V{cmd}\ntR.".encode(),
        "python 2 __builtin__.eval": f"c__builtin__\neval\n(V__import__('os').system({cmd!r})\ntR.".encode(),
        "getattr(__import__('os'), 'system')(...)": (
            f"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(V{cmd}\ntR.".encode()),
        "copyreg._reconstructor of a foreign class": (
            b"ccopy_reg\n_reconstructor\n(cos\n_wrap_close\nc__builtin__\nobject\nNtR."),
        "numpy object array of plain values": pickle.dumps({"keypoints3d": np.array([1, "x"], dtype=object)}),
    }


LIVE = ["os.system via __reduce__", "builtins.eval", "builtins.exec", "hand-written GLOBAL opcode",
        "getattr(__import__('os'), 'system')(...)"]


@pytest.mark.parametrize("name", LIVE)
def test_the_attacks_are_live_with_plain_pickle(tmp_path, name):
    sentinel = tmp_path / "RAN"
    data = attacks(sentinel)[name]
    pickle.loads(data)  # noqa: S301 - proving the attack works, in a temporary folder
    assert sentinel.exists()


LOADERS = {
    "safe_load": safe_load,
    "keypoints2d": formats.load_keypoints2d,
    "keypoints3d": formats.load_keypoints3d,
    "motions": formats.load_motion,
    "SMPL model data": load_smpl_data,
    "SMPL model via smplx": lambda p: load_smpl(p),
}


@pytest.mark.parametrize("loader", list(LOADERS))
def test_every_loader_refuses_every_attack(tmp_path, loader):
    sentinel = tmp_path / "RAN"
    for name, data in attacks(sentinel).items():
        path = tmp_path / ("SMPL_NEUTRAL.pkl" if "SMPL" in loader else f"{loader}.pkl")
        path.write_bytes(data)
        with pytest.raises(AistppError) as err:
            LOADERS[loader](path)
        assert str(path) in str(err.value), (name, str(err.value))
        assert not sentinel.exists(), f"{name} ran through {loader}"


def test_real_files_still_load(synth_data):
    """The restriction keeps what the dataset's files hold: arrays, dicts, SMPL's sparse matrices."""
    seq = synth_data.sequences[0]
    assert formats.load_keypoints2d(synth_data.anno_dir / "keypoints2d" / f"{seq}.pkl")["keypoints2d"].ndim == 4
    data = load_smpl_data(synth_data.smpl_dir / "SMPL_NEUTRAL.pkl")
    assert data["v_template"].shape == (6890, 3)


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


def test_no_unchecked_unpickling_in_the_source():
    """Static check of src/: pickle.load(s) only inside safe_pickle, np.load only with
    allow_pickle=False, smplx models only built from data we loaded (data_struct=...)."""
    problems = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node, func in _calls(tree):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if func in ("pickle.load", "pickle.loads", "pickle.Unpickler") and path.name != "safe_pickle.py":
                problems.append(f"{where} {func}")
            if func in ("np.load", "numpy.load") and keywords.get("allow_pickle") != "False":
                problems.append(f"{where} {func} without allow_pickle=False")
            if func in ("SMPL", "smplx.SMPL", "smplx.create", "smplx.SMPLH") and "data_struct" not in keywords:
                problems.append(f"{where} {func} would unpickle the model file itself")
            if func in ("SMPLX", "smplx.SMPLX") and path.name != "smplx_files.py":  # it reads files only:
                problems.append(f"{where} {func} would unpickle the model file itself")  # a sanitised copy there
    assert not problems, problems


def test_cli_refuses_a_hostile_annotation(tmp_path, synth_data):
    """End to end in a fresh interpreter: the command fails cleanly and nothing ran."""
    import shutil

    anno = tmp_path / "anno"
    shutil.copytree(synth_data.anno_dir, anno)
    sentinel = tmp_path / "RAN"
    seq = synth_data.sequences[0]
    (anno / "keypoints3d" / f"{seq}.pkl").write_bytes(attacks(sentinel)["os.system via __reduce__"])
    res = subprocess.run([sys.executable, "-m", "aistpp", "vis", "--anno-dir", str(anno), "--save-dir",
                          str(tmp_path / "out"), "--video-name", seq.replace("_cAll_", "_c01_"), "--mode", "3d"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "not a safe pickle" in res.stderr and "Traceback" not in res.stderr
    assert not sentinel.exists()


# ---- memory safety and resource bombs (issue 16, items 1-3) ---------------------------------
# Crafted files that make numpy/scipy read or write out of bounds, or ask for gigabytes from a
# few hundred bytes. Run through the real command line in a child process: a signal (SIGSEGV,
# abort) or a hang shows there as a return code other than 2.
import json  # noqa: E402
import time  # noqa: E402

import _hostile as H  # noqa: E402

from aistpp.pipeline.synth.body_model import make_body_model  # noqa: E402

_DRIVER = r"""
import json, sys, resource
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a bomb fails here instead of swapping
from typer.testing import CliRunner
from aistpp.cli import app
results = {}
for label, args in json.loads(sys.argv[1]):
    print("running", label, flush=True, file=sys.stderr)
    res = CliRunner().invoke(app, args)
    results[label] = [res.exit_code, res.stderr]
print(json.dumps(results))
"""


def _run_driver(cases: list, timeout: float) -> dict:
    res = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(cases)], capture_output=True, text=True,
                         timeout=timeout, cwd=ROOT)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])  # < 0: killed by a signal
    return json.loads(res.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def smpl_model() -> dict:
    return make_body_model()


def test_the_sparse_attack_is_live_with_plain_pickle(tmp_path, smpl_model):
    """Plain pickle + scipy's toarray() on the crafted J_regressor dies by a signal."""
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(H.sparse_bombs(smpl_model)["sparse indices 2**30"])
    code = f"import pickle; d = pickle.load(open({str(path)!r}, 'rb')); print(d['J_regressor'].toarray().sum())"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert res.returncode < 0 or res.returncode > 1, res.returncode


def test_the_forged_dtype_is_live_with_plain_pickle(smpl_model):
    """Plain pickle accepts a dtype whose field lies 16 MB past the 8-byte item."""
    d = pickle.loads(H.dtype_bombs(smpl_model)["dtype field 16 MB past the item"])  # noqa: S301 - inspected only
    assert d["v_template"].dtype.fields["x"][1] == 16 << 20 and d["v_template"].dtype.itemsize == 8


def test_crafted_smpl_files_exit_2_through_the_cli(tmp_path, synth_data, synth_data_videos, smpl_model):
    """Items 1-2: every crafted SMPL file, through fit-smpl, export, info --quality and (two of
    them) vis --mode smpl, in a child process: exit 2 with one line naming the file, never a
    signal."""
    crafted = {**H.sparse_bombs(smpl_model), **H.dtype_bombs(smpl_model)}
    cases = []
    for i, (name, data) in enumerate(crafted.items()):
        folder = tmp_path / f"smpl{i}"
        folder.mkdir()
        (folder / "SMPL_NEUTRAL.pkl").write_bytes(data)
        commands = {
            "fit-smpl": ["fit-smpl", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir", str(folder),
                         "--save-dir", str(tmp_path / f"fit{i}"), "--executor", "serial", "--quiet"],
            "export": ["export", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir", str(folder),
                       "--save-dir", str(tmp_path / f"bvh{i}"), "--executor", "serial", "--quiet"],
            "info": ["info", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir", str(folder), "--quality"],
        }
        v = synth_data_videos
        commands["vis"] = ["vis", "--anno-dir", str(v.anno_dir), "--video-dir", str(v.video_dir), "--smpl-dir",
                           str(folder), "--save-dir", str(tmp_path / f"vis{i}"), "--mode", "smpl", "--end", "2",
                           "--video-name", v.sequences[0].replace("_cAll_", "_c01_"), "--quiet"]
        which = ["fit-smpl", "export", "info", "vis"] if i < 2 else [["fit-smpl", "export", "info"][i % 3]]
        cases += [(f"{name} / {cmd}", commands[cmd]) for cmd in which]
    results = _run_driver(cases, timeout=300)
    for label, (code, stderr) in results.items():
        assert code == 2, (label, code, stderr)
        assert "SMPL_NEUTRAL.pkl" in stderr and "Traceback" not in stderr, (label, stderr)
    assert not any((tmp_path / f"fit{i}").exists() and any((tmp_path / f"fit{i}").iterdir())
                   for i in range(len(crafted)))


def test_sparse_bomb_through_fit_smpl_in_a_fresh_interpreter(tmp_path, synth_data, smpl_model):
    """The issue's repro: J_regressor.indices[:] = 2**30, `aistpp fit-smpl --executor serial`."""
    (tmp_path / "smpl").mkdir()
    (tmp_path / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes(H.sparse_bombs(smpl_model)["sparse indices 2**30"])
    res = subprocess.run([sys.executable, "-m", "aistpp", "fit-smpl", "--anno-dir", str(synth_data.anno_dir),
                          "--smpl-dir", str(tmp_path / "smpl"), "--save-dir", str(tmp_path / "out"),
                          "--executor", "serial", "--quiet"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "indices outside its shape" in res.stderr and "SMPL_NEUTRAL.pkl" in res.stderr


def test_size_and_time_bombs_are_refused_quickly(tmp_path, synth_data):
    """Item 3: small pickles that would never finish or take gigabytes, as keypoints3d files of a
    triangulated dataset read by fit-smpl, in a child process: exit 2 within seconds each."""
    import shutil

    cases = []
    for i, (name, data) in enumerate(H.size_bombs().items()):
        anno = tmp_path / f"anno{i}"
        shutil.copytree(synth_data.anno_dir, anno, ignore=shutil.ignore_patterns("keypoints2d", "motions"))
        for seq in synth_data.sequences:
            (anno / "keypoints3d" / f"{seq}.pkl").write_bytes(data)
        cases.append((name, ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(synth_data.smpl_dir),
                             "--save-dir", str(tmp_path / f"out{i}"), "--executor", "serial", "--quiet",
                             "--sequence-names", synth_data.sequences[0]]))
    start = time.perf_counter()
    results = _run_driver(cases, timeout=120)
    assert time.perf_counter() - start < 60
    for label, (code, stderr) in results.items():
        assert code == 2 and "keypoints3d" in stderr and "Traceback" not in stderr, (label, code, stderr)
        assert "not a safe pickle" in stderr or "not a readable pickle" in stderr, (label, stderr)


def test_numpy_floor_check_passes_with_this_numpy():
    """Item 14: the check CI also runs with numpy 1.24 (.ci/run): aistpp no longer reaches into
    numpy internals (``np._core`` exists only in numpy 2), only matches their pickled names."""
    import numpy_floor_check

    assert numpy_floor_check.main() == 0
    source = (ROOT / "src" / "aistpp" / "core" / "safe_pickle.py").read_text()
    assert "np._core" not in source and "numpy.core." not in source.replace('"numpy.core.', "")
