"""AIST++ file formats: keypoints2d / keypoints3d / motions pickles, camera JSON, text lists.

Every reader validates keys, shapes and dtypes and raises ``AistppError`` naming the file.
Every writer is atomic (temporary file in the same folder, fsync, rename) and writes plain
dicts of numpy arrays, so code written for the released dataset reads them with ``pickle``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from aistpp.core.cameras import CameraRig
from aistpp.core.files import read_regular_text
from aistpp.core.names import check_name
from aistpp.core.safe_pickle import safe_load
from aistpp.errors import AistppError

# The keys each released file must have (the readers check them; other keys are optional
# - keypoints3d_optim, smpl_loss, smpl_betas, aistpp's extra keys - and kept as they are).
KP2D_KEYS = ("keypoints2d", "det_scores", "timestamps")
KP3D_KEYS = ("keypoints3d",)
MOTION_KEYS = ("smpl_poses", "smpl_trans", "smpl_scaling")


# ---- atomic writes ---------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it onto ``path``.

    On any error the temporary file is removed and ``path`` is left as it was. The file gets
    the permissions ``open()`` would give it: an existing file's mode is kept, a new one gets
    0666 minus the umask. Folders on the way that are symbolic links are refused (see
    ``check_no_links``): aistpp never writes through a link into another folder.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise AistppError("output exists (pass --overwrite to replace it)", path)
    check_no_links(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the owner's pid in the name: a later run removes it only once this process is gone
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise AistppError(f"cannot write this file ({_write_reason(exc)})", path) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, _mode_for(path))
        os.replace(tmp_path, path)
    except BaseException as exc:
        vanished = not tmp_path.exists()
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, FileNotFoundError) and vanished:
            raise AistppError("write failed: the temporary file was removed while it was written (by another "
                              "process in this folder?); nothing was changed", path) from None
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            raise AistppError(f"write failed ({_write_reason(exc)}); nothing was changed", path) from None
        raise


def _write_reason(exc: OSError) -> str:
    """The OS's reason, with the hint that fits it."""
    hints = {errno.ENAMETOOLONG: "use a shorter name or folder",
             errno.EACCES: "is the folder read-only?",
             errno.EPERM: "is the folder read-only?",
             errno.ENOTDIR: "a part of the path is a file, not a folder",
             errno.EEXIST: "a file is where a folder should be",
             errno.ENOENT: "is the folder missing?"}  # fmt: skip
    reason = exc.strerror or str(exc)
    return f"{reason}: {hints[exc.errno]}" if exc.errno in hints else reason


def _mode_for(path: Path) -> int:
    """The mode ``open(path, "w")`` would leave: the existing file's, or 0666 minus the umask."""
    with contextlib.suppress(OSError):
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux: /proc), so
    other threads never create files under a temporary umask."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o077)  # the most restrictive value while it is briefly changed
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()
LINK_CHECK_LEVELS = 3  # the output's folder and two above it: every folder aistpp's layouts name


def check_no_links(path: str | Path) -> None:
    """Refuse to write ``path`` if its folder, or one of the two folders above it, is a
    symbolic link (e.g. ``<out>/annotations`` pointing at another dataset). Top-level system
    folders (``/tmp``, ``/var``: a child of ``/``) are not checked."""
    folder = Path(os.path.abspath(path)).parent
    for _ in range(LINK_CHECK_LEVELS):
        if folder.parent == folder or folder.parent.parent == folder.parent:
            return
        if folder.is_symlink():
            raise AistppError(f"the output folder {folder} is a symbolic link (to {os.readlink(folder)}); "
                              "aistpp does not write through links: give the real folder", path)
        folder = folder.parent


def ensure_dir(folder: str | Path, what: str = "output folder") -> Path:
    """Create ``folder`` (and its parents) for writing; one ``AistppError`` naming it when it is
    a file, on a read-only file system, or a symbolic link (see ``check_no_links``)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise AistppError(f"the {what} is a file, not a folder", folder)
    check_no_links(folder / "x")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AistppError(f"cannot create the {what} ({_write_reason(exc)})", folder) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AistppError(f"cannot write into the {what} (permission denied or read-only)", folder)
    return folder


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


def _numbers(path: Path, data: dict, key: str) -> np.ndarray:
    """``data[key]`` as float32 numbers (a number or an array of them; not text)."""
    value = data[key]
    raw = np.asarray(value) if isinstance(value, np.ndarray | np.generic | int | float | list | tuple) else None
    if raw is None or raw.dtype.kind not in "iuf" or raw.size > 10_000:
        raise AistppError(f"'{key}' is not a number (found {type(value).__name__})", path)
    return raw.astype(np.float32)


# Plausibility bounds: finite values beyond these are garbage, not data.
MAX_COORD_CM = 1e6  # 10 km from the origin
MAX_POSE_RAD = 100.0  # axis-angle components (real motions stay within a few pi)
MAX_SCALING = 1e4


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
    if ts.shape != (N,) or ts.dtype.kind not in "iuf" or not np.all(np.isfinite(ts)) or (
            N and np.abs(ts).max() > 1e15):  # microseconds: 30 years
        raise AistppError(f"'timestamps' must be {N} finite numbers (microseconds), found shape {ts.shape}", path)
    out = dict(data)
    out.update(keypoints2d=kp, det_scores=scores, timestamps=ts.astype(np.int64))
    _check_kp2d_extras(path, out, V, N)
    return out


def _check_kp2d_extras(path: Path, data: dict, V: int, N: int) -> None:
    """The optional keys of the shared convention, when present: ``view_names`` (V,) names,
    ``image_sizes`` (V, 2) positive [width, height], ``joint_set`` a short name,
    ``keypoints2d_full`` (V, N, J, 3) numbers."""
    if "view_names" in data:
        names = data["view_names"]
        if not isinstance(names, list | tuple) or len(names) != V or not all(isinstance(n, str) for n in names):
            raise AistppError(f"'view_names' must be {V} strings", path)
        try:
            data["view_names"] = [check_name(n, "view name") for n in names]
        except AistppError as exc:
            raise AistppError(f"'view_names': {exc}", path) from None
    if "image_sizes" in data:
        sizes = _numbers(path, data, "image_sizes")
        if sizes.shape != (V, 2) or not np.isfinite(sizes).all() or (sizes <= 0).any() or (sizes > 100_000).any():
            raise AistppError(f"'image_sizes' must be ({V}, 2) positive [width, height] pixels", path)
        data["image_sizes"] = sizes.astype(np.int64)
    if "joint_set" in data and not (isinstance(data["joint_set"], str) and 0 < len(data["joint_set"]) <= 64):
        raise AistppError("'joint_set' must be a joint set's name", path)
    if "keypoints2d_full" in data:
        full = _array(path, data, "keypoints2d_full", 4, (3,))
        if full.shape[:2] != (V, N):
            raise AistppError(f"'keypoints2d_full' has shape {full.shape}, expected ({V}, {N}, J, 3)", path)
        data["keypoints2d_full"] = full


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
        if len(set(have)) != len(have):
            raise AistppError(f"'view_names' {have} name a view twice", path)
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
    """Read ``keypoints3d/<seq>.pkl``: ``keypoints3d`` and ``keypoints3d_optim`` (N, J, 3) cm, plus
    any extra keys; aistpp's are checked when present: ``joint_set`` str and ``keypoints3d_full``,
    ``keypoints3d_full_optim`` (N, J_full, 3) cm float32 in that joint set's order."""
    path = Path(path)
    data = _load_dict(path, KP3D_KEYS, "keypoints3d")
    out = dict(data)
    out["keypoints3d"] = _array(path, data, "keypoints3d", 3, (3,))
    if len(out["keypoints3d"]) == 0:
        raise AistppError("'keypoints3d' has no frames", path)
    if np.nanmax(np.abs(out["keypoints3d"]), initial=0) > MAX_COORD_CM:
        raise AistppError(f"'keypoints3d' holds positions beyond {MAX_COORD_CM:g} cm: not a capture", path)
    if "keypoints3d_optim" in data:
        out["keypoints3d_optim"] = _array(path, data, "keypoints3d_optim", 3, (3,))
        if out["keypoints3d_optim"].shape != out["keypoints3d"].shape:
            raise AistppError("'keypoints3d_optim' and 'keypoints3d' differ in shape", path)
    _check_kp3d_extras(path, out)
    return out


def _check_kp3d_extras(path: Path, data: dict) -> None:
    """The full joint set's keys, when present: (N, J_full, 3) cm with the frames of ``keypoints3d``
    and a ``joint_set`` naming the set."""
    N = len(data["keypoints3d"])
    full = [k for k in ("keypoints3d_full", "keypoints3d_full_optim") if k in data]
    if full and not (isinstance(data.get("joint_set"), str) and 0 < len(data["joint_set"]) <= 64):
        raise AistppError(f"'{full[0]}' needs a 'joint_set' naming its joint set", path)
    for key in full:
        arr = _array(path, data, key, 3, (3,))
        if len(arr) != N or (len(full) == 2 and arr.shape != np.shape(data[full[0]])):
            raise AistppError(f"'{key}' has shape {arr.shape}, expected ({N}, J, 3) like the other keys", path)
        if np.nanmax(np.abs(arr), initial=0) > MAX_COORD_CM:
            raise AistppError(f"'{key}' holds positions beyond {MAX_COORD_CM:g} cm: not a capture", path)
        data[key] = arr


def save_keypoints3d(path: str | Path, keypoints3d: np.ndarray, keypoints3d_optim: np.ndarray,
                     overwrite: bool = True, **extra: Any) -> None:
    """Write ``keypoints3d`` and ``keypoints3d_optim`` (N, 17, 3) cm and ``extra`` keys (arrays of
    the full joint set as float32; see ``load_keypoints3d``)."""
    for key in ("keypoints3d_full", "keypoints3d_full_optim"):
        if key in extra:
            extra[key] = np.asarray(extra[key], np.float32)
    obj = {
        "keypoints3d": np.asarray(keypoints3d, np.float32),
        "keypoints3d_optim": np.asarray(keypoints3d_optim, np.float32),
        **extra,
    }
    save_pickle(path, obj, overwrite)


# ---- motions -----------------------------------------------------------------------
def _motion_body_model(path: Path, data: dict):
    """The body model a motions file names (``body_model``; SMPL when absent), or an error."""
    from aistpp.core.body_models import BODY_MODELS, SMPL

    name = data.get("body_model", SMPL.name)
    if not isinstance(name, str) and isinstance(name, np.ndarray) and name.size == 1:
        name = str(name.reshape(-1)[0])
    if not isinstance(name, str) or name not in BODY_MODELS:
        raise AistppError(f"'body_model' must be one of {', '.join(BODY_MODELS)}", path)
    return BODY_MODELS[name]


def load_motion(path: str | Path) -> dict:
    """Read ``motions/<seq>.pkl``: ``smpl_poses`` (N, 3 J) for the J joints of the motion's
    ``body_model`` (default SMPL: 24), ``smpl_trans`` (N, 3) cm, ``smpl_scaling`` (1,),
    ``smpl_loss`` float (``smpl_betas`` (shape size,) when present)."""
    path = Path(path)
    data = _load_dict(path, (), "motions")
    if "smpl_poses" not in data and ("keypoints3d" in data or "keypoints2d" in data):
        kind = "keypoints3d" if "keypoints3d" in data else "keypoints2d"
        raise AistppError(f"this is a {kind} file, not an SMPL motion (expected smpl_poses, smpl_trans, "
                          "smpl_scaling: a file of motions/)", path)
    missing = [k for k in MOTION_KEYS if k not in data]
    if missing:
        raise AistppError(f"not a motions file: missing key(s) {', '.join(missing)}", path)
    bm = _motion_body_model(path, data)  # SMPL-H / SMPL-X motions keep SMPL's smpl_poses (motion_pose_size)
    poses = _array(path, data, "smpl_poses", 2, (getattr(bm, "motion_pose_size", bm.pose_size),))
    trans = _array(path, data, "smpl_trans", 2, (3,))
    if len(trans) != len(poses):
        raise AistppError(f"'smpl_trans' has {len(trans)} frames, 'smpl_poses' {len(poses)}", path)
    if len(poses) == 0:
        raise AistppError("the motion has no frames ('smpl_poses' is empty)", path)
    scaling = _numbers(path, data, "smpl_scaling").reshape(-1)
    if scaling.shape != (1,) or not np.isfinite(scaling).all() or not 0 < scaling[0] <= MAX_SCALING:
        raise AistppError(f"'smpl_scaling' must be one positive number up to {MAX_SCALING:g}", path)
    if np.isnan(poses).any() or np.isnan(trans).any():
        raise AistppError("'smpl_poses' or 'smpl_trans' holds NaN", path)
    if np.abs(poses).max() > MAX_POSE_RAD:
        raise AistppError(f"'smpl_poses' holds axis-angle values beyond {MAX_POSE_RAD:g} rad: not a motion", path)
    if np.abs(trans).max() > MAX_COORD_CM:
        raise AistppError(f"'smpl_trans' holds positions beyond {MAX_COORD_CM:g} cm: not a motion", path)
    loss = _numbers(path, data, "smpl_loss").reshape(-1) if "smpl_loss" in data else np.array([np.nan])
    if loss.size != 1:
        raise AistppError("'smpl_loss' must be one number", path)
    out = dict(data)
    out.update(smpl_poses=poses, smpl_trans=trans, smpl_scaling=scaling, smpl_loss=float(loss[0]))
    if "smpl_betas" in data:
        betas = _numbers(path, data, "smpl_betas").reshape(-1)
        if not 1 <= betas.size <= 300 or not np.isfinite(betas).all() or np.abs(betas).max() > 100:
            raise AistppError("'smpl_betas' must be up to 300 finite shape coefficients (|b| <= 100)", path)
        out["smpl_betas"] = betas
    _check_model_keys(path, data, out, len(poses))
    return out


# SMPL-H / SMPL-X motions (``body_model`` "smplh" / "smplx"): the model's extra pose keys, (N, width)
_MODEL_KEYS = {"left_hand_pose": 45, "right_hand_pose": 45, "jaw_pose": 3, "leye_pose": 3, "reye_pose": 3,
               "expression": None}


def _check_model_keys(path: Path, data: dict, out: dict, n: int) -> None:
    for key, width in _MODEL_KEYS.items():
        if key in data:
            arr = _array(path, data, key, 2)
            if len(arr) != n or (width is not None and arr.shape[1] != width) or arr.shape[1] > 400:
                raise AistppError(f"'{key}' has shape {arr.shape}, expected ({n}, {width or 'E'})", path)
            if not np.isfinite(arr).all() or np.abs(arr).max(initial=0) > MAX_POSE_RAD:
                raise AistppError(f"'{key}' must hold finite values up to {MAX_POSE_RAD:g}", path)
            out[key] = arr
    if "betas" in data:
        betas = _numbers(path, data, "betas").reshape(-1)
        if not 1 <= betas.size <= 300 or not np.isfinite(betas).all() or np.abs(betas).max() > 100:
            raise AistppError("'betas' must be up to 300 finite shape coefficients (|b| <= 100)", path)
        out["betas"] = betas


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
MAX_JSON_DEPTH = 64
MAX_JSON_INT_DIGITS = 30


def _parse_int(text: str) -> int:
    if len(text) > MAX_JSON_INT_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _json_depth_ok(obj: Any) -> bool:
    stack = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return False
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return True


def parse_json(text: str | bytes, path: Path) -> Any:
    """JSON from ``text``, refusing what no aistpp file holds: nesting beyond ``MAX_JSON_DEPTH``
    and integers longer than ``MAX_JSON_INT_DIGITS`` digits (errors name ``path``)."""
    try:
        obj = json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise AistppError(f"not valid JSON (nested more than {MAX_JSON_DEPTH} levels)", path) from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise AistppError(f"not valid JSON ({exc})", path) from None
    if not _json_depth_ok(obj):
        raise AistppError(f"not valid JSON (nested more than {MAX_JSON_DEPTH} levels)", path)
    return obj


def read_json(path: str | Path) -> Any:
    path = Path(path)
    return parse_json(read_regular_text(path, what="JSON file"), path)


def load_cameras(path: str | Path) -> CameraRig:
    """Read a setting's camera JSON (list of per-view dicts) into a ``CameraRig``."""
    path = Path(path)
    items = read_json(path)
    try:
        rig = CameraRig.from_json_list(items)
    except AistppError as exc:
        raise AistppError(str(exc), path) from None
    return check_camera_ranges(rig, path)


def check_camera_ranges(rig: CameraRig, path: str | Path | None = None) -> CameraRig:
    """Refuse finite but absurd cameras: image sizes not positive (or beyond 100k px), focal
    lengths outside 0.05-50x the image's larger side, a principal point farther than one image
    size outside the image, or a camera farther than ``MAX_COORD_CM`` from the origin."""
    for v, name in enumerate(rig.names):
        w, h = (int(x) for x in rig.sizes[v])
        where = f"camera {v} ({name!r})"
        if not (0 < w <= 100_000 and 0 < h <= 100_000):
            raise AistppError(f"{where}: image size must be positive, found {w}x{h}", path)
        side = max(w, h)
        fx, fy = rig.K[v, 0, 0], rig.K[v, 1, 1]
        if not (0.05 * side <= fx <= 50 * side and 0.05 * side <= fy <= 50 * side):
            raise AistppError(f"{where}: focal length {fx:.4g}/{fy:.4g} px is implausible for a {w}x{h} image "
                              f"(expected {0.05 * side:g}-{50 * side:g})", path)
        cx, cy = rig.K[v, 0, 2], rig.K[v, 1, 2]
        if not (-w <= cx <= 2 * w and -h <= cy <= 2 * h):
            raise AistppError(f"{where}: principal point ({cx:.4g}, {cy:.4g}) is far outside the {w}x{h} image", path)
        if np.abs(rig.tvec[v]).max() > MAX_COORD_CM or np.abs(rig.dist[v]).max() > 1e4:
            raise AistppError(f"{where}: translation or distortion is implausibly large", path)
    return rig


def check_keypoints_in_images(keypoints2d: np.ndarray, rig: CameraRig, path: str | Path | None = None) -> None:
    """Refuse 2D keypoints (V, N, J, 3) farther than one image size outside their view's image."""
    for v, name in enumerate(rig.names):
        xy = keypoints2d[v, ..., :2]
        if not np.isfinite(xy).any():
            continue
        w, h = rig.sizes[v]
        lo, hi = np.nanmin(xy.reshape(-1, 2), axis=0), np.nanmax(xy.reshape(-1, 2), axis=0)
        if lo[0] < -w or lo[1] < -h or hi[0] > 2 * w or hi[1] > 2 * h:
            raise AistppError(f"view {name!r}: 2D keypoints reach ({lo[0]:.4g}..{hi[0]:.4g}, {lo[1]:.4g}..{hi[1]:.4g}) "
                              f"px, far outside its {w}x{h} image (wrong units or a corrupt file?)", path)


def save_cameras(path: str | Path, rig: CameraRig, overwrite: bool = True) -> None:
    save_json(path, rig.to_json_list(), overwrite)


# ---- text lists --------------------------------------------------------------------
def read_lines(path: str | Path) -> list[str]:
    """Non-empty, stripped lines of a text file (splits, ignore list)."""
    path = Path(path)
    text = read_regular_text(path)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def read_mapping(path: str | Path) -> dict[str, str]:
    """``cameras/mapping.txt``: ``<seq_name> <setting_name>`` per line -> {seq: setting}."""
    mapping: dict[str, str] = {}
    for i, line in enumerate(read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2:
            raise AistppError(f"line {i} must be '<sequence> <setting>', found {line!r}", path)
        try:
            check_name(parts[0])
            check_name(parts[1], "setting name")
        except AistppError as exc:
            raise AistppError(f"line {i}: {exc}", path) from None
        mapping[parts[0]] = parts[1]
    return mapping


def write_mapping(path: str | Path, mapping: dict[str, str], overwrite: bool = True) -> None:
    text = "".join(f"{seq} {setting}\n" for seq, setting in mapping.items())
    write_bytes_atomic(path, text.encode(), overwrite)


def write_lines(path: str | Path, lines: list[str], overwrite: bool = True) -> None:
    write_bytes_atomic(path, "".join(f"{line}\n" for line in lines).encode(), overwrite)
