"""SMPL-H and SMPL-X model files (.pkl or .npz), read without trusting them.

``smplx`` reads these files with ``pickle.load`` / ``np.load(allow_pickle=True)``: a hostile
file runs code. Here a ``.pkl`` goes through the restricted unpickler (``safe_pickle``) and an
``.npz`` is read member by member from the zip: only the keys posing needs, each a plain
numeric ``.npy`` whose header is checked (dtype of kind b/i/u/f, C or Fortran order, a shape
whose byte count the member holds) before its bytes are read; object arrays (real SMPL-X
files carry pickled dicts such as ``joint2num``, which posing does not use) are never opened.

Then the arrays are validated: the vertex and joint counts of the model (``smplx_joints``),
shapes consistent with them, finite numbers, faces and landmark faces indexing existing
vertices and faces, the kinematic tree the model's (each parent before its child). Anything
else is one ``AistppError`` naming the file.

    path = model_file("models", "smplx", "neutral")   # models/SMPLX_NEUTRAL.npz (or .pkl)
    data = load_model_data(path, "smplx")             # dict of numpy arrays, metres
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from aistpp.core.files import check_regular, os_reason
from aistpp.core.safe_pickle import safe_load
from aistpp.core.smplx_joints import JOINT_NAMES, NUM_VERTICES, parents
from aistpp.errors import AistppError

Kind = Literal["smplh", "smplx"]
KINDS = ("smplh", "smplx")
CORE_KEYS = ("v_template", "f", "J_regressor", "weights", "posedirs", "shapedirs", "kintree_table")
HAND_KEYS = ("hands_componentsl", "hands_componentsr", "hands_meanl", "hands_meanr")
FACE_KEYS = ("lmk_faces_idx", "lmk_bary_coords")
OPTIONAL_KEYS = ("dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords")
MAX_SHAPE_COEFFS = 1000  # real files: 16 (SMPL-H), 20 or 400 (SMPL-X: body + expression)
MAX_FACES = 100_000
MAX_MEMBER_BYTES = 2 << 30
_PREFIX = {"smplh": "SMPLH", "smplx": "SMPLX"}


def candidates(model_dir: str | Path, kind: Kind, gender: str = "neutral") -> list[Path]:
    """Where the model file of ``kind`` and ``gender`` may be, in the order looked at:
    ``<PREFIX>_<GENDER>.npz`` or ``.pkl`` (npz first for SMPL-X, pkl first for SMPL-H, as ``smplx``
    defaults) in ``model_dir``, then in its ``smplx/`` or ``smplh/`` subfolder (``smplx.create``'s
    layout); ``model_dir`` may be the file itself."""
    model_dir = Path(model_dir)
    if model_dir.suffix in (".npz", ".pkl"):
        return [model_dir]
    exts = (".npz", ".pkl") if kind == "smplx" else (".pkl", ".npz")
    name = f"{_PREFIX[kind]}_{gender.upper()}"
    return [d / f"{name}{e}" for d in (model_dir, model_dir / kind) for e in exts]


def model_file(model_dir: str | Path, kind: Kind, gender: str = "neutral") -> Path:
    """The first of ``candidates`` that is a file, or an error naming the file to put there."""
    found = candidates(model_dir, kind, gender)
    for c in found:
        if c.is_file():
            return c
    name = f"{_PREFIX[kind]}_{gender.upper()}"
    raise AistppError(f"{kind.upper()} model file not found (put {name}.npz or {name}.pkl in --smpl-dir)", found[0])


# ---- reading -------------------------------------------------------------------------------
def read_npz(path: Path, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """The numeric arrays ``keys`` (required) and ``optional`` of an .npz, headers checked first."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise AistppError(f"not a readable .npz model file ({exc.__class__.__name__})", path) from None
    out = {}
    with zf:
        names = set(zf.namelist())
        for key in keys + optional:
            member = f"{key}.npy"
            if member not in names:
                if key in keys:
                    raise AistppError(f"not a {path.stem.split('_')[0]} model file: missing '{key}'", path)
                continue
            out[key] = _read_member(zf, member, path)
    return out


def _read_member(zf: zipfile.ZipFile, member: str, path: Path) -> np.ndarray:
    info = zf.getinfo(member)
    if info.file_size > MAX_MEMBER_BYTES:
        raise AistppError(f"'{member}' is {info.file_size} bytes: too large for a model array", path)
    fmt = np.lib.format
    try:
        with zf.open(info) as fh:
            version = fmt.read_magic(fh)
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
            if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
                raise AistppError(f"'{member}' holds {dtype} values, not plain numbers", path)
            count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
            nbytes = count * dtype.itemsize
            if nbytes > info.file_size:
                raise AistppError(f"'{member}' claims shape {shape} but holds fewer bytes", path)
            raw = fh.read(nbytes)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise AistppError(f"'{member}' is not a readable .npy array ({exc})", path) from None
    if len(raw) != nbytes:
        raise AistppError(f"'{member}' is truncated ({len(raw)} of {nbytes} bytes)", path)
    arr = np.frombuffer(raw, dtype=dtype, count=count)
    return (arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)).copy()


def read_model_file(path: str | Path, kind: Kind) -> dict:
    """The raw dict of a model file (.npz: the keys posing needs; .pkl: the restricted unpickler)."""
    path = Path(path)
    if path.suffix == ".npz":
        try:
            check_regular(path, path.stat())  # a FIFO or device would hang zipfile
        except OSError as exc:
            raise AistppError(f"{kind.upper()} model file not readable ({os_reason(exc)})", path) from None
        face = FACE_KEYS if kind == "smplx" else ()
        return read_npz(path, CORE_KEYS + face, HAND_KEYS + (OPTIONAL_KEYS if kind == "smplx" else ()))
    data = safe_load(path)
    if not isinstance(data, dict):
        raise AistppError(f"not a {kind.upper()} model file (expected a dict)", path)
    return data


# ---- validation ----------------------------------------------------------------------------
def _numbers(data: dict, key: str, path: Path, kind_str: str = "iuf") -> np.ndarray:
    value = data[key]
    arr = value.data if hasattr(value, "toarray") else value
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in kind_str or not np.isfinite(arr).all():
        raise AistppError(f"'{key}' must hold finite numbers", path)
    return value


def _shape(data: dict, key: str, shape: tuple, path: Path) -> None:
    got = tuple(np.shape(data[key]))
    if got != shape:
        raise AistppError(f"'{key}' has shape {got}, expected {shape}", path)


def _indices(data: dict, key: str, ndim_last: tuple, below: int, path: Path) -> np.ndarray:
    arr = np.asarray(data[key])
    if arr.dtype.kind not in "iu" or arr.shape[len(arr.shape) - len(ndim_last):] != ndim_last or (
            arr.size and (arr.min() < 0 or arr.max() >= below)):
        raise AistppError(f"'{key}' must be indices below {below} (shape (..., {', '.join(map(str, ndim_last))}))",
                          path)
    return arr.astype(np.int64)


def validate(data: dict, kind: Kind, path: Path) -> dict:
    """The model dict checked (see the module docstring) and normalised: numpy float64 arrays,
    ``f`` int64, hand PCA defaults (identity components, zero means) where a file has none."""
    missing = [k for k in CORE_KEYS + (FACE_KEYS if kind == "smplx" else ()) if k not in data]
    if missing:
        raise AistppError(f"not a {kind.upper()} model file: missing {', '.join(missing)}", path)
    nv, nj = NUM_VERTICES[kind], len(JOINT_NAMES[kind])
    for key in ("v_template", "weights", "posedirs", "shapedirs", "J_regressor"):
        _numbers(data, key, path)
    _shape(data, "v_template", (nv, 3), path)
    _shape(data, "weights", (nv, nj), path)
    _shape(data, "J_regressor", (nj, nv), path)
    _shape(data, "posedirs", (nv, 3, 9 * (nj - 1)), path)
    sd = np.shape(data["shapedirs"])
    need = 20 if kind == "smplx" else 1  # SMPL-X: 10 body + 10 expression at least
    if len(sd) != 3 or sd[:2] != (nv, 3) or not need <= sd[2] <= MAX_SHAPE_COEFFS:
        raise AistppError(f"'shapedirs' has shape {sd}, expected ({nv}, 3, B) with {need} <= B <= "
                          f"{MAX_SHAPE_COEFFS}", path)
    f = _indices(data, "f", (3,), nv, path)
    if f.ndim != 2 or not 1 <= len(f) <= MAX_FACES:
        raise AistppError(f"'f' must be (F, 3) with 1 <= F <= {MAX_FACES}", path)
    kin = np.asarray(data["kintree_table"])
    if kin.shape != (2, nj) or kin.dtype.kind not in "iu":
        raise AistppError(f"'kintree_table' must be (2, {nj}) integers", path)
    want = parents(kind)
    if not (kin[0, 1:].astype(np.int64) == want[1:]).all():
        raise AistppError(f"'kintree_table' is not the {kind.upper()} skeleton (each joint's parent as smplx "
                          "orders them)", path)
    out = {k: (v.tocsr() if hasattr(v, "tocsr") else np.asarray(v, np.float64))
           for k, v in data.items() if k in ("v_template", "weights", "posedirs", "shapedirs", "J_regressor")}
    out["f"], out["kintree_table"] = f, kin.astype(np.int64)
    out.update(_hands(data, path))
    if kind == "smplx":
        out.update(_landmarks(data, len(f), path))
    return out


def _hands(data: dict, path: Path) -> dict:
    out = {}
    for side in "lr":
        comp, mean = f"hands_components{side}", f"hands_mean{side}"
        if comp not in data and mean not in data:  # e.g. AMASS' SMPL+H files: no PCA, flat mean
            out[comp], out[mean] = np.eye(45), np.zeros(45)
            continue
        for key in (comp, mean):
            if key not in data:
                raise AistppError(f"'{key}' is missing (the file has its other hand's PCA)", path)
            _numbers(data, key, path, "f")
        c = np.asarray(data[comp], np.float64)
        if c.ndim != 2 or c.shape[1] != 45 or not 1 <= c.shape[0] <= 45:
            raise AistppError(f"'{comp}' has shape {c.shape}, expected (K <= 45, 45)", path)
        _shape(data, mean, (45,), path)
        out[comp], out[mean] = c, np.asarray(data[mean], np.float64)
    return out


def _landmarks(data: dict, nf: int, path: Path) -> dict:
    idx = np.asarray(data["lmk_faces_idx"])
    if idx.ndim != 1 or idx.size > 1000:
        raise AistppError("'lmk_faces_idx' must be (L,) face indices", path)
    out = {"lmk_faces_idx": _indices(data, "lmk_faces_idx", (), nf, path) if idx.size else idx.astype(np.int64)}
    _numbers(data, "lmk_bary_coords", path, "f")
    _shape(data, "lmk_bary_coords", (len(idx), 3), path)
    out["lmk_bary_coords"] = np.asarray(data["lmk_bary_coords"], np.float64)
    if "dynamic_lmk_faces_idx" in data or "dynamic_lmk_bary_coords" in data:
        if not all(k in data for k in OPTIONAL_KEYS):
            raise AistppError("'dynamic_lmk_faces_idx' and 'dynamic_lmk_bary_coords' come together", path)
        d = np.asarray(data["dynamic_lmk_faces_idx"])
        if d.ndim != 2 or d.size > 100_000:
            raise AistppError("'dynamic_lmk_faces_idx' must be (bins, L) face indices", path)
        out["dynamic_lmk_faces_idx"] = _indices(data, "dynamic_lmk_faces_idx", (d.shape[1],), nf, path)
        _numbers(data, "dynamic_lmk_bary_coords", path, "f")
        _shape(data, "dynamic_lmk_bary_coords", d.shape + (3,), path)
        out["dynamic_lmk_bary_coords"] = np.asarray(data["dynamic_lmk_bary_coords"], np.float64)
    return out


def load_model_data(path: str | Path, kind: Kind) -> dict:
    """A SMPL-H or SMPL-X model file as a validated dict of numpy arrays (metres)."""
    if kind not in KINDS:
        raise AistppError(f"unknown body model {kind!r} (use smplh or smplx)")
    path = Path(path)
    return validate(read_model_file(path, kind), kind, path)


# ---- smplx modules (the peer) -------------------------------------------------------------
def smplx_module(data: dict, kind: Kind, gender: str = "neutral", num_betas: int = 10,
                 num_expression_coeffs: int = 10, dtype=None, batch_size: int = 1):
    """A ``smplx.SMPLH`` / ``smplx.SMPLX`` built from validated ``data``, full hand poses
    (``use_pca=False``, ``flat_hand_mean=True``: the hand poses are the joints' own rotations).

    ``smplx.SMPLX`` only reads files: it is given a sanitised copy (plain numeric arrays,
    written here), never the user's file."""
    import contextlib
    import io
    import tempfile

    import torch
    import smplx
    from smplx.utils import Struct

    dtype = dtype or torch.float32
    common = dict(gender=gender, num_betas=num_betas, use_pca=False, flat_hand_mean=True, dtype=dtype,
                  batch_size=batch_size)
    plain = {k: (v.toarray() if hasattr(v, "toarray") else v) for k, v in data.items()}
    with contextlib.redirect_stdout(io.StringIO()):  # smplx prints warnings about shape space sizes
        if kind == "smplh":
            return smplx.SMPLH("unused", data_struct=Struct(**plain), **common)
        with tempfile.TemporaryDirectory() as tmp:
            clean = Path(tmp) / "SMPLX_MODEL.npz"
            np.savez(clean, **plain)
            return smplx.SMPLX(str(clean), num_expression_coeffs=num_expression_coeffs, **common)
