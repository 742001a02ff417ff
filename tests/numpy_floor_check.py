"""Run with the oldest supported numpy (pyproject's floor) to keep that floor true:

    python -m venv /tmp/np && /tmp/np/bin/pip install numpy==1.24.4 scipy==1.10.1 'pydantic>=2.5'
    PYTHONPATH=src /tmp/np/bin/python tests/numpy_floor_check.py

``import aistpp`` and the file formats (annotation pickles written by numpy 1.x and 2.x, the
SMPL file's sparse matrix, camera JSON) must work there; a crafted file is still refused.
Exit 0 and a last line ``numpy floor ok`` on success. (.ci/run runs it.)
"""

from __future__ import annotations

import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import aistpp
from aistpp.core import formats
from aistpp.core.rig import aist_like_ring
from aistpp.core.safe_pickle import safe_loads
from aistpp.errors import AistppError


def main() -> int:
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(3, 5, 17, 3)).astype(np.float32)
    formats.save_keypoints2d(tmp / "k2.pkl", kp, np.ones((3, 5)), np.arange(5))
    assert np.array_equal(aistpp.load_keypoints2d(tmp / "k2.pkl")["keypoints2d"], kp)
    formats.save_motion(tmp / "m.pkl", np.zeros((4, 72)), np.zeros((4, 3)), 1.0, 0.5)
    assert formats.load_motion(tmp / "m.pkl")["smpl_poses"].shape == (4, 72)
    formats.save_cameras(tmp / "c.json", aist_like_ring(3))
    assert len(formats.load_cameras(tmp / "c.json")) == 3
    reg = sp.csc_matrix(rng.random((24, 30)) * (rng.random((24, 30)) < 0.2))
    obj = {"a": np.arange(6.0).reshape(2, 3), "J_regressor": reg, "s": np.float32(2), "t": "x"}
    for proto in (2, 4, 5):
        data = pickle.dumps(obj, protocol=proto)
        blobs = [data]
        if proto == 2:  # GLOBAL opcodes are text: the module names numpy 2 writes
            blobs.append(data.replace(b"numpy.core.multiarray\n", b"numpy._core.multiarray\n"))
        for blob in blobs:
            out = safe_loads(blob)
            assert np.array_equal(out["a"], obj["a"]) and (out["J_regressor"] != reg).nnz == 0
    bad = reg.copy()
    bad.indices[:] = 2**30
    try:
        safe_loads(pickle.dumps({"J_regressor": bad}, protocol=2))
    except pickle.UnpicklingError:
        pass
    else:
        raise AssertionError("a crafted sparse matrix was accepted")
    try:
        formats.load_motion(tmp / "k2.pkl")
    except AistppError:
        pass
    print(f"numpy floor ok: numpy {np.__version__}, scipy {sp.__name__} {__import__('scipy').__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
