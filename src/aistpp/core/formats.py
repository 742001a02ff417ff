"""AIST++ file formats: keypoints2d / keypoints3d / motions pickles, camera JSON, text lists.

Every reader validates keys, shapes and dtypes and raises ``AistppError`` naming the file.
Every writer is atomic (temporary file in the same folder, fsync, rename) and writes plain
dicts of numpy arrays, so code written for the released dataset reads them with ``pickle``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from aistpp.core.cameras import CameraRig
from aistpp.core.safe_pickle import safe_load
from aistpp.errors import AistppError

# The file keys, in one place.
KP2D_KEYS = ("keypoints2d", "det_scores", "timestamps")
KP3D_KEYS = ("keypoints3d", "keypoints3d_optim")
MOTION_KEYS = ("smpl_poses", "smpl_trans", "smpl_scaling", "smpl_loss")


# ---- atomic writes ---------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it onto ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise AistppError("output exists (pass --overwrite to replace it)", path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise AistppError(f"cannot write this file ({exc.strerror}): is its folder read-only or missing?", path) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise AistppError(f"write failed ({exc.strerror or exc}); nothing was changed", path) from None
        raise


def write_bytes_atomic(path: str | Path, data: bytes, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(data)


def save_pickle(path: str | Path, obj: dict, overwrite: bool = True) -> None:
    write_bytes_atomic(path, pickle.dumps(obj, protocol=4), overwrite)


def save_json(path: str | Path, obj: Any, overwrite: bool = True) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2) + "\n").encode(), overwrite)


# ---- validation helpers ----------------------------------------------------------
def _load_dict(path: Path, keys: tuple[str, ...], what: str) -> dict:
    data = safe_load(path)
    if not isinstance(data, dict):
        raise AistppError(f"expected a dict in a {what} file, found {type(data).__name__}", path)
    missing = [k for k in keys if k not in data]
    if missing:
        raise AistppError(f"not a {what} file: missing key(s) {', '.join(missing)}", path)
    return data


def _array(path: Path, data: dict, key: str, ndim: int, last: tuple[int, ...] = (), dtype=np.float32) -> np.ndarray:
    value = data[key]
    try:
        raw = np.asarray(value)
        if raw.dtype.kind not in "iuf":  # text, objects, booleans: not the dataset's float arrays
            raise TypeError
        arr = raw.astype(dtype)
    except (TypeError, ValueError):
        kind = getattr(locals().get("raw"), "dtype", type(value).__name__)
        raise AistppError(f"'{key}' is not numeric (found {kind})", path) from None
    if arr.ndim != ndim or (last and arr.shape[arr.ndim - len(last):] != last):
        want = "(" + ", ".join(["N"] * (ndim - len(last)) + [str(d) for d in last]) + ")"
        raise AistppError(f"'{key}' has shape {arr.shape}, expected {want}", path)
    if np.isinf(arr).any():
        raise AistppError(f"'{key}' holds inf values", path)
    return arr


# ---- keypoints2d -------------------------------------------------------------------
# Released keypoints2d timestamps are microseconds at exactly 60 fps: 0, 16667, 33333, ...
ANNOTATION_FPS = 60


def frame_timestamps(frames: int | np.ndarray, fps: float = ANNOTATION_FPS) -> np.ndarray:
    """Frame indices (or a count N: frames 0 .. N-1) -> (N,) int64 microseconds, round(i * 1e6 / fps)."""
    frames = np.arange(frames) if np.ndim(frames) == 0 else np.asarray(frames)
    return np.round(frames.astype(np.float64) * 1e6 / fps).astype(np.int64)


def timestamp_frames(timestamps: np.ndarray, fps: float = ANNOTATION_FPS) -> np.ndarray:
    """(N,) microseconds -> (N,) int64 frame indices (the nearest frame at ``fps``)."""
    return np.round(np.asarray(timestamps, np.float64) * fps / 1e6).astype(np.int64)


def load_keypoints2d(path: str | Path, num_views: int | None = None) -> dict:
    """Read ``keypoints2d/<seq>.pkl``.

    Returns ``keypoints2d`` (V, N, J, 3) float32 px + confidence (NaN missing),
    ``det_scores`` (V, N) float32, ``timestamps`` (N,) int64, plus any extra keys; the extra
    keys aistpp writes are checked when present: ``view_names`` list[str] (V,), ``image_sizes``
    int64 (V, 2) [width, height] px (0 = unknown), ``joint_set`` str, ``keypoints2d_full``
    float32 (V, N, J_full, 3).
    """
    path = Path(path)
    data = _load_dict(path, KP2D_KEYS, "keypoints2d")
    kp = _array(path, data, "keypoints2d", 4, (3,))
    V, N = kp.shape[:2]
    if num_views is not None and V != num_views:
        raise AistppError(f"'keypoints2d' has {V} views, the cameras have {num_views}", path)
    scores = _array(path, data, "det_scores", 2)
    if scores.shape != (V, N):
        raise AistppError(f"'det_scores' has shape {scores.shape}, expected {(V, N)}", path)
    ts = np.asarray(data["timestamps"])
    if ts.shape != (N,) or not np.issubdtype(ts.dtype, np.number) or not np.all(np.isfinite(ts)):
        raise AistppError(f"'timestamps' must be {N} finite numbers, found shape {ts.shape}", path)
    out = dict(data)
    out.update(keypoints2d=kp, det_scores=scores, timestamps=ts.astype(np.int64))
    if "view_names" in data:
        names = data["view_names"]
        if (not isinstance(names, (list, tuple)) or len(names) != V or not all(isinstance(n, str) for n in names)
                or len(set(names)) != V):
            raise AistppError(f"'view_names' must be {V} distinct names", path)
        out["view_names"] = [str(n) for n in names]
    if "image_sizes" in data:
        sizes = _array(path, data, "image_sizes", 2, (2,), np.float64)
        if sizes.shape != (V, 2) or np.isnan(sizes).any() or (sizes < 0).any() or (sizes != np.round(sizes)).any():
            raise AistppError(f"'image_sizes' must be {V} x [width, height] whole pixels", path)
        out["image_sizes"] = sizes.astype(np.int64)
    if "joint_set" in data and not isinstance(data["joint_set"], str):
        raise AistppError("'joint_set' must be a name", path)
    if "keypoints2d_full" in data:
        full = _array(path, data, "keypoints2d_full", 4, (3,))
        if full.shape[:2] != (V, N):
            raise AistppError(f"'keypoints2d_full' has shape {full.shape}, expected ({V}, {N}, J, 3)", path)
        out["keypoints2d_full"] = full
    return out


def save_keypoints2d(path: str | Path, keypoints2d: np.ndarray, det_scores: np.ndarray, timestamps: np.ndarray,
                     overwrite: bool = True, **extra: Any) -> None:
    """Write ``keypoints2d`` (V, N, J, 3), ``det_scores`` (V, N), ``timestamps`` (N,) (the
    release's are microseconds: ``frame_timestamps``) and ``extra`` keys (``view_names`` as a list
    of str, ``image_sizes`` as int64 (V, 2); see ``load_keypoints2d``)."""
    if "view_names" in extra:
        extra["view_names"] = [str(n) for n in extra["view_names"]]
    if "image_sizes" in extra:
        extra["image_sizes"] = np.asarray(extra["image_sizes"], np.int64).reshape(-1, 2)
    if "keypoints2d_full" in extra:
        extra["keypoints2d_full"] = np.asarray(extra["keypoints2d_full"], np.float32)
    obj = {
        "keypoints2d": np.asarray(keypoints2d, np.float32),
        "det_scores": np.asarray(det_scores, np.float32),
        "timestamps": np.asarray(timestamps, np.int64),
        **extra,
    }
    save_pickle(path, obj, overwrite)


def keypoints2d_views(data: dict, names: tuple[str, ...] | list[str], path: str | Path | None = None) -> np.ndarray:
    """Row of each of the views ``names`` (a rig's camera names) in a loaded keypoints2d ``data``:
    by its ``view_names`` when it has them, else by position (the file then must hold exactly
    ``len(names)`` views). Raises ``AistppError`` naming the views that do not match."""
    V = data["keypoints2d"].shape[0]
    if "view_names" in data:
        have = list(data["view_names"])
        missing = [n for n in names if n not in have]
        if missing:
            raise AistppError(f"keypoints2d holds views {have}; the cameras' views {missing} are not among them "
                              "(name the cameras like the detections, or rerun preprocess with --setting)", path)
        return np.array([have.index(n) for n in names], np.int64)
    if V != len(names):
        raise AistppError(f"'keypoints2d' has {V} views, the cameras have {len(names)}", path)
    return np.arange(V)


# ---- keypoints3d -------------------------------------------------------------------
def load_keypoints3d(path: str | Path) -> dict:
    """Read ``keypoints3d/<seq>.pkl``: ``keypoints3d`` and ``keypoints3d_optim`` (N, J, 3) cm."""
    path = Path(path)
    data = _load_dict(path, ("keypoints3d",), "keypoints3d")
    out = dict(data)
    out["keypoints3d"] = _array(path, data, "keypoints3d", 3, (3,))
    if "keypoints3d_optim" in data:
        out["keypoints3d_optim"] = _array(path, data, "keypoints3d_optim", 3, (3,))
        if out["keypoints3d_optim"].shape != out["keypoints3d"].shape:
            raise AistppError("'keypoints3d_optim' and 'keypoints3d' differ in shape", path)
    return out


def save_keypoints3d(path: str | Path, keypoints3d: np.ndarray, keypoints3d_optim: np.ndarray,
                     overwrite: bool = True, **extra: Any) -> None:
    obj = {
        "keypoints3d": np.asarray(keypoints3d, np.float32),
        "keypoints3d_optim": np.asarray(keypoints3d_optim, np.float32),
        **extra,
    }
    save_pickle(path, obj, overwrite)


# ---- motions -----------------------------------------------------------------------
def load_motion(path: str | Path) -> dict:
    """Read ``motions/<seq>.pkl``: ``smpl_poses`` (N, 72), ``smpl_trans`` (N, 3) cm,
    ``smpl_scaling`` (1,), ``smpl_loss`` float (``smpl_betas`` (10,) when present)."""
    path = Path(path)
    data = _load_dict(path, (), "motions")
    if "smpl_poses" not in data and ("keypoints3d" in data or "keypoints2d" in data):
        kind = "keypoints3d" if "keypoints3d" in data else "keypoints2d"
        raise AistppError(f"this is a {kind} file, not an SMPL motion (expected smpl_poses, smpl_trans, "
                          "smpl_scaling: a file of motions/)", path)
    missing = [k for k in ("smpl_poses", "smpl_trans", "smpl_scaling") if k not in data]
    if missing:
        raise AistppError(f"not a motions file: missing key(s) {', '.join(missing)}", path)
    poses = _array(path, data, "smpl_poses", 2, (72,))
    trans = _array(path, data, "smpl_trans", 2, (3,))
    if len(trans) != len(poses):
        raise AistppError(f"'smpl_trans' has {len(trans)} frames, 'smpl_poses' {len(poses)}", path)
    scaling = np.asarray(data["smpl_scaling"], dtype=np.float32).reshape(-1)
    if scaling.shape != (1,) or not np.isfinite(scaling).all() or scaling[0] <= 0:
        raise AistppError("'smpl_scaling' must be one positive number", path)
    if np.isnan(poses).any() or np.isnan(trans).any():
        raise AistppError("'smpl_poses' or 'smpl_trans' holds NaN", path)
    out = dict(data)
    out.update(smpl_poses=poses, smpl_trans=trans, smpl_scaling=scaling,
               smpl_loss=float(np.asarray(data.get("smpl_loss", np.nan)).reshape(-1)[0]))
    if "smpl_betas" in data:
        out["smpl_betas"] = np.asarray(data["smpl_betas"], np.float32).reshape(-1)
    return out


def save_motion(path: str | Path, smpl_poses: np.ndarray, smpl_trans: np.ndarray, smpl_scaling: float | np.ndarray,
                smpl_loss: float, overwrite: bool = True, **extra: Any) -> None:
    obj = {
        "smpl_poses": np.asarray(smpl_poses, np.float32),
        "smpl_trans": np.asarray(smpl_trans, np.float32),
        "smpl_scaling": np.asarray(smpl_scaling, np.float32).reshape(1),
        "smpl_loss": float(smpl_loss),
        **extra,
    }
    save_pickle(path, obj, overwrite)


# ---- cameras -----------------------------------------------------------------------
def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AistppError("file not found", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AistppError(f"not valid JSON ({exc})", path) from None
    except OSError as exc:
        raise AistppError(f"cannot read file ({exc.strerror})", path) from None


def load_cameras(path: str | Path) -> CameraRig:
    """Read a setting's camera JSON (list of per-view dicts) into a ``CameraRig``."""
    path = Path(path)
    items = read_json(path)
    try:
        return CameraRig.from_json_list(items)
    except AistppError as exc:
        raise AistppError(str(exc), path) from None


def save_cameras(path: str | Path, rig: CameraRig, overwrite: bool = True) -> None:
    save_json(path, rig.to_json_list(), overwrite)


# ---- text lists --------------------------------------------------------------------
def read_lines(path: str | Path) -> list[str]:
    """Non-empty, stripped lines of a text file (splits, ignore list)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise AistppError("file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AistppError(f"cannot read text ({exc})", path) from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def read_mapping(path: str | Path) -> dict[str, str]:
    """``cameras/mapping.txt``: ``<seq_name> <setting_name>`` per line -> {seq: setting}."""
    mapping: dict[str, str] = {}
    for i, line in enumerate(read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2:
            raise AistppError(f"line {i} must be '<sequence> <setting>', found {line!r}", path)
        mapping[parts[0]] = parts[1]
    return mapping


def write_mapping(path: str | Path, mapping: dict[str, str], overwrite: bool = True) -> None:
    text = "".join(f"{seq} {setting}\n" for seq, setting in mapping.items())
    write_bytes_atomic(path, text.encode(), overwrite)


def write_lines(path: str | Path, lines: list[str], overwrite: bool = True) -> None:
    write_bytes_atomic(path, "".join(f"{line}\n" for line in lines).encode(), overwrite)
