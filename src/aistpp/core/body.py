"""SMPL body model: safe loading of the model file, and posing with AIST++'s scaling.

World position of a joint or vertex = ``smpl_scaling`` x (SMPL output with betas = 0 and
no translation) + ``smpl_trans``. ``smplx.SMPL`` has no scaling argument; this module applies
it. The model pickle is read with the restricted unpickler (chumpy arrays become numpy).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Literal

import numpy as np

from aistpp.core.safe_pickle import safe_load
from aistpp.errors import AistppError

Gender = Literal["neutral", "male", "female"]
SMPL_KEYS = ("v_template", "f", "J_regressor", "weights", "posedirs", "shapedirs", "kintree_table")


# The released AIST++ motions were fitted with the male SMPL model (the original fitting code
# uses gender='MALE'); motions aistpp writes record theirs in the extra key ``smpl_gender``.
RELEASE_GENDER: Gender = "male"
GENDERS = ("neutral", "male", "female")


def motion_gender(motion: dict | None = None, override: str | None = None) -> Gender:
    """The body model a motion was made with: ``override`` when given, else the motion's
    ``smpl_gender`` key, else the release's (male)."""
    value = override if override is not None else (motion or {}).get("smpl_gender", RELEASE_GENDER)
    value = str(np.asarray(value).reshape(-1)[0] if not isinstance(value, str) else value).lower()
    if value not in GENDERS:
        raise AistppError(f"unknown SMPL gender {value!r} (use neutral, male or female)")
    return value  # type: ignore[return-value]


def motion_extra(gender: Gender) -> dict:
    """The extra keys a motion aistpp writes carries (the original loader ignores them)."""
    return {"smpl_gender": motion_gender(None, gender), "body_model": "smpl"}


def smpl_model_path(smpl_dir: str | Path, gender: Gender = "neutral") -> Path:
    """``<smpl_dir>/SMPL_<GENDER>.pkl``; ``smpl_dir`` may also be the .pkl file itself."""
    smpl_dir = Path(smpl_dir)
    if smpl_dir.suffix == ".pkl":
        return smpl_dir
    return smpl_dir / f"SMPL_{gender.upper()}.pkl"


def require_smpl_model(smpl_dir: str | Path, gender: Gender) -> Path:
    """``smpl_model_path``, or an error naming the missing file."""
    path = smpl_model_path(smpl_dir, gender)
    if not path.is_file():
        raise AistppError(f"SMPL model file not found (put {path.name} in --smpl-dir, or choose --gender)", path)
    return path


def load_smpl_data(path: str | Path) -> dict:
    """The SMPL model file as a dict of numpy arrays (``J_regressor`` may be scipy sparse).

    Validates the keys and the shapes that posing relies on.
    """
    path = Path(path)
    data = safe_load(path)
    if not isinstance(data, dict):
        raise AistppError("not a SMPL model file (expected a dict)", path)
    missing = [k for k in SMPL_KEYS if k not in data]
    if missing:
        raise AistppError(f"not a SMPL model file: missing {', '.join(missing)}", path)
    nv = np.shape(data["v_template"])[0]
    checks = {
        "v_template": (nv, 3), "weights": (nv, 24), "J_regressor": (24, nv), "kintree_table": (2, 24),
    }  # fmt: skip
    for key, shape in checks.items():
        if tuple(np.shape(data[key])) != shape:
            raise AistppError(f"SMPL '{key}' has shape {tuple(np.shape(data[key]))}, expected {shape}", path)
    if tuple(np.shape(data["posedirs"])) != (nv, 3, 207) or np.shape(data["shapedirs"])[:2] != (nv, 3):
        raise AistppError("SMPL 'posedirs' or 'shapedirs' has the wrong shape", path)
    _check_indices(data, nv, path)
    return data


def _check_indices(data: dict, nv: int, path: Path) -> None:
    """Faces index vertices and every joint's parent comes before it (posing code indexes
    with both): refuse anything else, and non-numeric or non-finite model arrays."""
    for key in ("v_template", "weights", "posedirs", "shapedirs", "J_regressor"):
        value = data[key]
        arr = value.data if hasattr(value, "toarray") else value
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
            raise AistppError(f"SMPL '{key}' must hold finite numbers", path)
    faces = np.asarray(data["f"])
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu" or (
            faces.size and (faces.min() < 0 or faces.max() >= nv)):
        raise AistppError(f"SMPL 'f' must be (F, 3) vertex indices below {nv}", path)
    kin = np.asarray(data["kintree_table"])
    if kin.dtype.kind not in "iu" or not all(0 <= int(kin[0, i]) < i for i in range(1, kin.shape[1])):
        raise AistppError("SMPL 'kintree_table' must list each joint's parent before the joint", path)


def load_smpl(smpl_dir: str | Path, gender: Gender = "neutral", device: str = "cpu", num_betas: int = 10):
    """A ``smplx.SMPL`` module built from the safely loaded model file."""
    import torch
    from smplx import SMPL
    from smplx.utils import Struct

    path = smpl_model_path(smpl_dir, gender)
    data = load_smpl_data(path)
    num_betas = min(num_betas, np.shape(data["shapedirs"])[2])
    # smplx prints a warning to stdout for every SMPL file (they all have 10 shape coefficients)
    with contextlib.redirect_stdout(io.StringIO()):
        model = SMPL(str(path), data_struct=Struct(**data), gender=gender, num_betas=num_betas, dtype=torch.float32)
    return model.to(device)


def smpl_forward(model, poses: np.ndarray, trans: np.ndarray, scaling: float | np.ndarray,
                 betas: np.ndarray | None = None, vertices: bool = False, batch: int = 2048):
    """Pose SMPL with the dataset's convention.

    poses (N, 72) axis-angle, trans (N, 3) cm, scaling scalar -> joints (N, 45, 3) cm
    (the 24 skeleton joints then smplx's vertex joints), and vertices (N, 6890, 3) cm
    when ``vertices``.
    """
    import torch

    poses = np.asarray(poses, np.float32).reshape(-1, 72)
    trans = np.asarray(trans, np.float32).reshape(-1, 3)
    scale = float(np.asarray(scaling).reshape(-1)[0])
    device = next(model.buffers()).device
    joints, verts = [], []
    with torch.no_grad():
        for s in range(0, len(poses), batch):
            p = torch.from_numpy(poses[s:s + batch]).to(device)
            n = len(p)
            b = torch.zeros(n, model.num_betas, device=device)
            if betas is not None:
                b[:] = torch.as_tensor(np.asarray(betas, np.float32)[: model.num_betas], device=device)
            out = model(global_orient=p[:, :3], body_pose=p[:, 3:], betas=b, transl=torch.zeros(n, 3, device=device))
            t = torch.from_numpy(trans[s:s + batch]).to(device)[:, None]
            joints.append((out.joints * scale + t).cpu().numpy())
            if vertices:
                verts.append((out.vertices * scale + t).cpu().numpy())
    j = np.concatenate(joints) if joints else np.zeros((0, 45, 3), np.float32)
    if vertices:
        return j, (np.concatenate(verts) if verts else np.zeros((0, 6890, 3), np.float32))
    return j
