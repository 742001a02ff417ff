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
            if func in ("SMPL", "smplx.SMPL", "smplx.create") and "data_struct" not in keywords:
                problems.append(f"{where} {func} would unpickle the model file itself")
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
