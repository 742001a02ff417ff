"""Body-model files (SMPL by default): safe loading, and posing with AIST++'s scaling.

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

from aistpp.core.body_models import SMPL, BodyModel, get_body_model
from aistpp.core.safe_pickle import safe_load
from aistpp.errors import AistppError

Gender = Literal["neutral", "male", "female"]


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


def motion_body_model(motion: dict | None = None, override: str | BodyModel | None = None) -> BodyModel:
    """The body model a motion was made with: ``override`` when given, else the motion's
    ``body_model`` key, else SMPL (the release's)."""
    value = override if override is not None else (motion or {}).get("body_model", SMPL.name)
    if not isinstance(value, (str, BodyModel)):
        value = str(np.asarray(value).reshape(-1)[0])
    return get_body_model(value)


def motion_extra(gender: Gender, body_model: BodyModel = SMPL) -> dict:
    """The extra keys a motion aistpp writes carries (the original loader ignores them)."""
    return {"smpl_gender": motion_gender(None, gender), "body_model": body_model.name}


def smpl_model_path(smpl_dir: str | Path, gender: Gender = "neutral", body_model: BodyModel = SMPL) -> Path:
    """``<smpl_dir>/SMPL_<GENDER>.pkl`` (the body model's file name); ``smpl_dir`` may also be the file."""
    return body_model.model_path(smpl_dir, gender)


def require_smpl_model(smpl_dir: str | Path, gender: Gender, body_model: BodyModel = SMPL) -> Path:
    """``smpl_model_path``, or an error naming the missing file (``BodyModel.require_file``)."""
    return body_model.require_file(smpl_dir, gender)


def load_smpl_data(path: str | Path, body_model: BodyModel = SMPL) -> dict:
    """The SMPL model file as a dict of numpy arrays (``J_regressor`` may be scipy sparse)."""
    return load_model_data(path, body_model)


def load_model_data(path: str | Path, body_model: BodyModel = SMPL) -> dict:
    """A model file of ``body_model`` as a dict of numpy arrays (``J_regressor`` may be scipy
    sparse). Validates the keys and the shapes that posing relies on."""
    path = Path(path)
    title = body_model.title
    data = safe_load(path)
    if not isinstance(data, dict):
        raise AistppError(f"not a {title} model file (expected a dict)", path)
    missing = [k for k in body_model.file_keys if k not in data]
    if missing:
        raise AistppError(f"not a {title} model file: missing {', '.join(missing)}", path)
    nv, nj = np.shape(data["v_template"])[0], body_model.num_joints
    checks = {
        "v_template": (nv, 3), "weights": (nv, nj), "J_regressor": (nj, nv), "kintree_table": (2, nj),
    }  # fmt: skip
    for key, shape in checks.items():
        if tuple(np.shape(data[key])) != shape:
            raise AistppError(f"{title} '{key}' has shape {tuple(np.shape(data[key]))}, expected {shape}", path)
    if (tuple(np.shape(data["posedirs"])) != (nv, 3, body_model.pose_blend_size)
            or np.shape(data["shapedirs"])[:2] != (nv, 3)):
        raise AistppError(f"{title} 'posedirs' or 'shapedirs' has the wrong shape", path)
    _check_indices(data, nv, path, title)
    return data


def _check_indices(data: dict, nv: int, path: Path, title: str) -> None:
    """Faces index vertices and every joint's parent comes before it (posing code indexes
    with both): refuse anything else, and non-numeric or non-finite model arrays."""
    for key in ("v_template", "weights", "posedirs", "shapedirs", "J_regressor"):
        value = data[key]
        arr = value.data if hasattr(value, "toarray") else value
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
            raise AistppError(f"{title} '{key}' must hold finite numbers", path)
    faces = np.asarray(data["f"])
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu" or (
            faces.size and (faces.min() < 0 or faces.max() >= nv)):
        raise AistppError(f"{title} 'f' must be (F, 3) vertex indices below {nv}", path)
    kin = np.asarray(data["kintree_table"])
    if kin.dtype.kind not in "iu" or not all(0 <= int(kin[0, i]) < i for i in range(1, kin.shape[1])):
        raise AistppError(f"{title} 'kintree_table' must list each joint's parent before the joint", path)


def load_smpl(smpl_dir: str | Path, gender: Gender = "neutral", device: str = "cpu", num_betas: int | None = None,
              body_model: BodyModel | str = SMPL):
    """The ``smplx`` module of ``body_model`` (``smplx.SMPL`` for SMPL) built from the safely
    loaded model file; it remembers its description as ``aistpp_body_model``."""
    import smplx
    import torch
    from smplx.utils import Struct

    body_model = get_body_model(body_model)
    path = body_model.require_file(smpl_dir, gender)
    data = body_model.load_data(path)
    if hasattr(body_model, "smpl_view"):  # SMPL-H / SMPL-X: their body as SMPL's skeleton, hands at rest
        data, body_model = body_model.smpl_view(data), SMPL
    num_betas = min(num_betas or body_model.shape_size, np.shape(data["shapedirs"])[2])
    # smplx prints a warning to stdout for every SMPL file (they all have 10 shape coefficients)
    with contextlib.redirect_stdout(io.StringIO()):
        model = getattr(smplx, body_model.smplx_class)(str(path), data_struct=Struct(**data), gender=gender,
                                                       num_betas=num_betas, dtype=torch.float32,
                                                       **dict(body_model.smplx_options))
    model.aistpp_body_model = body_model
    return model.to(device)


def motion_module(smpl_dir: str | Path, motion: dict, gender: str | None = None, cache: dict | None = None,
                  device: str = "cpu"):
    """The smplx module a motion is posed with: its body model and gender (``gender`` overrides
    the motion's ``smpl_gender``; release motions: SMPL, male), kept in ``cache`` by both."""
    bm, g = motion_body_model(motion), motion_gender(motion, gender)
    cache = {} if cache is None else cache
    if (bm.name, g) not in cache:
        cache[(bm.name, g)] = load_smpl(smpl_dir, g, device=device, body_model=bm)
    return cache[(bm.name, g)]


def module_body_model(model) -> BodyModel:
    """The description of a module ``load_smpl`` built (SMPL for any other smplx module)."""
    return getattr(model, "aistpp_body_model", SMPL)


def smpl_forward(model, poses: np.ndarray, trans: np.ndarray, scaling: float | np.ndarray,
                 betas: np.ndarray | None = None, vertices: bool = False, batch: int = 2048):
    """Pose the body model with the dataset's convention.

    poses (N, pose_size) axis-angle (SMPL: 24 x 3), trans (N, 3) cm, scaling scalar -> output
    points (N, num_outputs, 3) cm (SMPL: the 24 skeleton joints then smplx's 21 vertex joints),
    and vertices (N, num_vertices, 3) cm when ``vertices``.
    """
    import torch

    bm = module_body_model(model)
    poses = np.asarray(poses, np.float32).reshape(-1, bm.pose_size)
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
            parts = {name: p[:, 3 * first:3 * (first + count)] for name, first, count in bm.pose_parts}
            out = model(**parts, betas=b, transl=torch.zeros(n, 3, device=device))
            t = torch.from_numpy(trans[s:s + batch]).to(device)[:, None]
            joints.append((out.joints * scale + t).cpu().numpy())
            if vertices:
                verts.append((out.vertices * scale + t).cpu().numpy())
    j = np.concatenate(joints) if joints else np.zeros((0, bm.num_outputs, 3), np.float32)
    if vertices:
        return j, (np.concatenate(verts) if verts else np.zeros((0, bm.num_vertices, 3), np.float32))
    return j


def skeleton_joints(model, poses: np.ndarray, trans: np.ndarray, scaling: float | np.ndarray, **kw) -> np.ndarray:
    """``smpl_forward``'s skeleton joints only: (N, num_joints, 3) cm."""
    return smpl_forward(model, poses, trans, scaling, **kw)[:, :module_body_model(model).num_joints]
