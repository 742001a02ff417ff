"""2D detector outputs of one video -> arrays of candidate people (one parser per format).

A video's detections are a folder of per-frame JSON files or one file. Formats (``--format``,
``auto`` tells them apart by their content):

- ``openpose``: per-frame JSON ``{"people": [{"pose_keypoints_2d": [x, y, c, ...]}, ...]}``
  (OpenPose ``--write_json`` and the tools that copy it; ``pose_keypoints`` before OpenPose 1.2).
  Files named ``<video>_<frame:012d>_keypoints.json``, ``cam01.0000.json``, ``frame_12.json``...: the last integer of the name is
  the frame number. No person score: a person's score is the mean confidence of its COCO-17
  joints (a missing joint counts 0).
- ``aist``: the dataset's own detector, per-frame ``{"keypoints": people x J x 3 (nested or
  flat), "detection_scores": [...]}``, the trailing integer kept as the timestamp.
- ``mmpose``: MMPose / RTMPose. Per-frame files holding a list of instances ``{"keypoints":
  [[x, y], ...], "keypoint_scores": [...], "bbox_score": s}`` (the inferencer's per-image
  output), or one file per video: the demo's ``{"meta_info": ..., "instance_info": [{"frame_id":
  f, "instances": [...]}]}`` (``frame_id`` counts from 1) or a list of per-frame instance lists.
- ``coco``: a COCO results list per video ``[{"image_id", "keypoints": [x, y, v, ...], "score"}]``
  (several entries of one ``image_id`` are several people; ``image_id`` is the frame number or an
  image name ending in it, ``000123.jpg``), also ``{"annotations": [...]}``.
- ``alphapose``: ``alphapose-results.json`` (COCO results with ``"12.jpg"`` ids; HALPE sets).
- ``array``: ``.npy`` (N, J, 3) or (N, P, J, 3) x, y, confidence per frame, or ``.npz`` with
  ``keypoints`` (that shape), optional ``scores`` (N,) / (N, P), ``frames`` (N,) frame numbers
  and ``image_size`` [w, h]. Read without pickle.

The joint set is named by ``joint_set`` or settled from the data by
``aistpp.core.joint_sets.detect_joint_set`` (never guessed). A joint at (0, 0) with confidence 0
(OpenPose's "not found") becomes NaN. A per-frame file that is truncated, not JSON or of the
wrong shape is listed in ``VideoDetections.corrupt`` and its frame left out, never raised.
"""

from __future__ import annotations

import os
import stat
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, get_args

import numpy as np

from aistpp.core.joint_sets import (
    COCO17, JOINT_SETS, check_geometry, convert, detect_joint_set, joint_set as named_set,
)
from aistpp.errors import AistppError

try:  # orjson parses these files ~5x faster than the standard library; optional.
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    from json import loads as _loads

Format = Literal["auto", "openpose", "aist", "mmpose", "coco", "alphapose", "array"]
PER_FRAME = ("openpose", "aist", "mmpose")
ALPHAPOSE_FILE = "alphapose-results.json"
ARRAY_SUFFIXES = (".npy", ".npz")
MAX_PEOPLE = 200  # people in one frame beyond which a file is refused (memory: frames x people x joints)
_TRAILING_INT = re.compile(r"(\d+)\D*$")
_BAD = (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError)


@dataclass
class VideoDetections:
    """The candidate people of one video.

    ``timestamps`` (F,) int64 sorted (frame numbers when ``frame_numbers``); ``keypoints``
    (F, P, J, 3) float32 x, y px and confidence in ``joint_set`` (NaN-padded where a frame has
    fewer than P people); ``scores`` (F, P) float32 person scores (NaN where no person);
    ``image_size`` (w, h) px when the file says it; ``joint_set_how``: how the set was named.
    """

    timestamps: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    joint_set: str
    format: str
    corrupt: list[Path] = field(default_factory=list)
    frame_numbers: bool = True
    image_size: tuple[int, int] | None = None
    joint_set_how: str = ""

    @property
    def timestamps_us(self) -> np.ndarray:
        """The timestamps as the release writes them, microseconds at 60 fps: frame numbers
        converted with ``formats.frame_timestamps``; the aist detector's own timestamps kept."""
        from aistpp.core.formats import frame_timestamps

        return frame_timestamps(self.timestamps) if self.frame_numbers else self.timestamps


def to_coco17(keypoints: np.ndarray, joint_set: str) -> np.ndarray:
    """(..., J, 3) in ``joint_set`` -> (..., 17, 3) COCO-17 (NaN for joints the set lacks)."""
    return convert(keypoints, joint_set, "coco17")


_CHUNK = 1 << 16
_MAX_JSON_BYTES = 1 << 30  # a detection file beyond 1 GiB is refused (read as unreadable)


def _read(path: str) -> object:
    """Parse a JSON file. Raw ``os.open``/``os.read`` costs a third of ``open(...).read()``."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a named pipe must not block the run
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"not a regular file: {path}")
        if st.st_size > _MAX_JSON_BYTES:
            raise OSError(f"larger than {_MAX_JSON_BYTES >> 20} MiB: {path}")
        data = os.read(fd, _CHUNK)
        if len(data) == _CHUNK:  # a large file: read the rest
            parts = [data]
            while chunk := os.read(fd, _CHUNK):
                parts.append(chunk)
            data = b"".join(parts)
    finally:
        os.close(fd)
    try:
        return _loads(data)
    except RecursionError:  # the standard library's parser on deeply nested JSON
        raise ValueError("JSON nested too deeply") from None


def frame_number(name: str) -> int:
    """The last integer in a file name: ``v_000000000012_keypoints.json`` -> 12, ``cam01.0007.json`` -> 7."""
    m = _TRAILING_INT.search(name[:-5] if name.endswith(".json") else name)
    if m is None:
        raise ValueError(f"{name!r} holds no frame number")
    return int(m.group(1))


def frame_files(folder: Path) -> list[tuple[str, str]]:
    """(name, path) of the per-frame JSON files in ``folder`` (a number in the name), by name."""
    return sorted((e.name, e.path) for e in os.scandir(folder) if e.name.endswith(".json")
                  and not e.name.startswith(".") and e.name != ALPHAPOSE_FILE and _TRAILING_INT.search(e.name[:-5]))


# ---- more per-frame formats -------------------------------------------------------------------
@dataclass(frozen=True)
class FrameFormat:
    """A per-frame JSON detection format beyond the built-in ones (one parsed file per frame, the
    frame number the last integer of the file name). ``matches(data)``: this parsed file is of the
    format (asked after the built-in formats said no); ``people(data)``: (people as lists of x, y,
    confidence per joint, flat or nested; their scores, or None for the mean COCO-17 confidence).
    A malformed file may raise KeyError / ValueError / TypeError / IndexError: it is listed as corrupt."""

    name: str
    matches: Callable[[object], bool]
    people: Callable[[object], tuple[list, list | None]]


FRAME_FORMATS: dict[str, FrameFormat] = {}


def register_frame_format(fmt: FrameFormat) -> FrameFormat:
    """Make ``read_video`` (``--format auto``) read ``fmt``'s files; returns it."""
    if fmt.name in get_args(Format):
        raise AistppError(f"detection format {fmt.name!r} is built in")
    FRAME_FORMATS[fmt.name] = fmt
    return fmt


def _registered_format(data: object) -> str | None:
    return next((f.name for f in FRAME_FORMATS.values() if f.matches(data)), None)


# ---- format detection --------------------------------------------------------------------
def _content_format(data: object) -> str | None:
    """The format of one parsed JSON file, or None when it is none of ours."""
    if isinstance(data, dict):
        if "people" in data:
            return "openpose"
        if "keypoints" in data and "detection_scores" in data:
            return "aist"
        if "instance_info" in data:
            return "mmpose-video"
        if isinstance(data.get("annotations"), list):
            return "coco"
        return _registered_format(data)
    if isinstance(data, list):
        first = next((d for d in data if d), None)
        if first is None:
            return "empty"
        if isinstance(first, dict) and "image_id" in first:
            return "coco"
        if isinstance(first, dict) and "frame_id" in first:
            return "mmpose-video"
        if isinstance(first, dict) and "keypoint_scores" in first:
            return "mmpose"
        if isinstance(first, list) and first and isinstance(first[0], dict) and "keypoint_scores" in first[0]:
            return "mmpose-video"
    return _registered_format(data)


def detect_format(entry: Path) -> str:
    """The format of a video's entry (folder of frames or one file), from its content."""
    entry = Path(entry)
    if entry.is_file():
        if entry.suffix in ARRAY_SUFFIXES:
            return "array"
        try:
            kind = _content_format(_read(str(entry)))
        except _BAD:
            raise AistppError("not a readable detection file (JSON, .npy or .npz)", entry) from None
        if kind in ("coco", "empty"):
            return "coco"
        if kind == "mmpose-video":
            return "mmpose"
        raise AistppError("not a detection results file: expected a COCO/AlphaPose results list, MMPose "
                          "predictions (instance_info) or a .npy/.npz array", entry)
    if (entry / ALPHAPOSE_FILE).is_file():
        return "alphapose"
    for _, path in frame_files(entry)[:20]:  # the first readable frame file says it
        try:
            kind = _content_format(_read(path))
        except _BAD:
            continue
        if kind in PER_FRAME or kind in FRAME_FORMATS:
            return kind
        if kind == "empty":
            return "mmpose"
        raise AistppError("per-frame files of an unknown kind: expected OpenPose {'people': [...]}, AIST "
                          "{'keypoints', 'detection_scores'} or MMPose [{'keypoints', 'keypoint_scores'}]", path)
    return "openpose"  # no readable frame: nothing to tell (the reader reports the files)


# ---- packing people into (F, P, J, 3) -----------------------------------------------------
def pack(frames: np.ndarray, person_frame: np.ndarray, keypoints: np.ndarray, scores: np.ndarray):
    """Scatter E people into frames.

    ``frames`` (F0,) timestamps of every frame seen (with or without people); ``person_frame``
    (E,) the timestamp of each person; ``keypoints`` (E, J, 3); ``scores`` (E,).
    Returns ``timestamps`` (F,), ``keypoints`` (F, P, J, 3) and ``scores`` (F, P), people of a
    frame in input order, NaN padding, P >= 1.
    """
    ts = np.unique(np.concatenate([np.asarray(frames, np.int64), np.asarray(person_frame, np.int64)]))
    F, J = len(ts), keypoints.shape[1]
    fi = np.searchsorted(ts, person_frame)
    order = np.argsort(fi, kind="stable")
    counts = np.bincount(fi, minlength=F)
    P = max(1, int(counts.max()) if len(counts) else 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    fs = fi[order]
    rank = np.arange(len(fs)) - starts[fs]
    kp = np.full((F, P, J, 3), np.nan, np.float32)
    sc = np.full((F, P), np.nan, np.float32)
    kp[fs, rank] = keypoints[order]
    sc[fs, rank] = scores[order]
    return ts, kp, sc


def _clean(kp: np.ndarray) -> np.ndarray:
    """(E, J, 3): OpenPose's 'not found' joints (0, 0, 0) -> NaN."""
    kp = kp.astype(np.float32, copy=False)
    kp[(kp == 0).all(axis=-1)] = np.nan
    return kp


def _coco_mean_confidence(kp: np.ndarray, joint_set: str) -> np.ndarray:
    """(E, J, 3) -> (E,) mean confidence of the COCO-17 joints, missing counted 0 (float32)."""
    conf = to_coco17(kp, joint_set)[..., 2].astype(np.float64)
    return np.nan_to_num(conf, nan=0.0).mean(axis=-1).astype(np.float32)


# ---- people of one parsed file -----------------------------------------------------------------
def _flat(values) -> list:
    """A person's keypoints, flat x, y, c (from flat, (J, 3) or (J, 2) + scores)."""
    if values and isinstance(values[0], list):
        return [v for j in values for v in j]
    return list(values)


def _mmpose_people(instances) -> tuple[list, list]:
    rows, det = [], []
    for inst in instances:
        xy, conf = inst["keypoints"], inst.get("keypoint_scores")
        if conf is None:  # [[x, y, score], ...] or bare [[x, y], ...] (confidence 1)
            rows.append([v for j in xy for v in ((*j, 1.0) if len(j) == 2 else j)])
        else:
            if len(conf) != len(xy):
                raise ValueError("keypoints and keypoint_scores differ in length")
            rows.append([v for (x, y, *_), c in zip(xy, conf) for v in (x, y, c)])
        s = inst.get("bbox_score", np.nan)
        det.append(float(s[0] if isinstance(s, list) else s))
    return rows, det


def _frame_people(data, fmt: str) -> tuple[list, list | None]:
    """(people as flat lists, their scores or None) of one per-frame file."""
    if fmt in FRAME_FORMATS:
        people, scores = FRAME_FORMATS[fmt].people(data)
        return [_flat(p) for p in people], scores
    if fmt == "openpose":
        key = "pose_keypoints_2d"
        return [p[key] if key in p else p["pose_keypoints"] for p in data["people"]], None
    if fmt == "mmpose":
        return _mmpose_people(data)
    scores = data["detection_scores"]
    people = data["keypoints"]
    if people and not isinstance(people[0], list):  # one flat list for all people
        n = len(people) // max(1, len(scores))
        people = [people[i * n:(i + 1) * n] for i in range(len(scores))]
    else:
        people = [_flat(p) for p in people]
    if len(people) != len(scores):
        raise ValueError("keypoints and detection_scores differ in length")
    return people, list(scores)


class _Collected:
    """People gathered from a video's files: frame numbers, flat rows, scores, corrupt files."""

    def __init__(self):
        self.frames: list[int] = []
        self.person_frame: list[int] = []
        self.rows: list = []
        self.det: list[float] = []
        self.corrupt: list[Path] = []
        self.width = 0

    def add(self, frame: int, people: list, scores: list | None) -> None:
        widths = {len(p) for p in people} | ({self.width} if self.width else set())
        if len(widths) > 1:
            raise ValueError(f"people have {sorted(widths)} values")
        if people:
            self.width = widths.pop()
        self.frames.append(frame)
        self.person_frame.extend([frame] * len(people))
        self.rows.extend(people)
        self.det.extend(scores if scores is not None else [np.nan] * len(people))


def _per_frame(folder: Path, fmt: str) -> _Collected:
    out = _Collected()
    for name, path in frame_files(folder):
        t = frame_number(name)
        try:
            people, scores = _frame_people(_read(path), fmt)
            people = [np.asarray(p, np.float64).ravel() for p in people]  # numbers only
            out.add(t, people, scores)
        except _BAD:
            out.corrupt.append(Path(path))
    return out


def _results_file(path: Path, fmt: str) -> _Collected:
    """A results file of the whole video (COCO / AlphaPose / MMPose). Unreadable: an error."""
    out = _Collected()
    try:
        data = _read(str(path))
        if fmt == "mmpose":
            frames = data["instance_info"] if isinstance(data, dict) else data
            for i, fr in enumerate(frames):
                if isinstance(fr, dict):  # the demo's instance_info: frame_id counts from 1
                    f, inst = int(fr["frame_id"]) - (1 if isinstance(data, dict) else 0), fr["instances"]
                else:  # a list of per-frame instance lists: the index is the frame
                    f, inst = i, fr
                rows, det = _mmpose_people(inst)
                out.add(f, [np.asarray(r, np.float64).ravel() for r in rows], det)
            return out
        if isinstance(data, dict):  # {"annotations": [...]} style
            data = data["annotations"]
        by_frame: dict[int, tuple[list, list]] = {}
        for d in data:
            rows, det = by_frame.setdefault(_image_frame(d["image_id"]), ([], []))
            rows.append(np.asarray(d["keypoints"], np.float64).ravel())
            det.append(float(d.get("score", np.nan)))
        for f, (rows, det) in sorted(by_frame.items()):
            out.add(f, rows, det)
    except _BAD as exc:
        raise AistppError(f"not a valid {fmt} results file ({type(exc).__name__}: {exc})", path) from None
    return out


def _image_frame(image_id) -> int:
    if isinstance(image_id, int) and not isinstance(image_id, bool):
        return image_id
    m = _TRAILING_INT.search(os.path.splitext(str(image_id))[0])
    if m is None:
        raise ValueError(f"image_id {image_id!r} holds no frame number")
    return int(m.group(1))


def read_array(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int] | None]:
    """``.npy`` / ``.npz`` -> frame numbers (F,), keypoints (F, P, J, 3), scores (F, P) or None, image size."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            kp, scores, frames, size = np.load(path, allow_pickle=False), None, None, None
        else:
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                key = "keypoints" if "keypoints" in keys else keys[0] if len(keys) == 1 else None
                if key is None:
                    raise AistppError(f"no 'keypoints' array (found {keys})", path)
                kp = z[key]
                scores = z["scores"] if "scores" in keys else None
                frames = z["frames"] if "frames" in keys else None
                size = tuple(int(v) for v in z["image_size"].ravel()[:2]) if "image_size" in keys else None
    except AistppError:
        raise
    except Exception as exc:  # an untrusted zip / .npy: whatever numpy or zipfile raise, one clear error
        raise AistppError(f"not a readable numpy array file ({exc})", path) from None
    if kp.dtype.kind not in "iuf" or kp.ndim not in (3, 4) or kp.shape[-1] != 3:
        raise AistppError(f"keypoints must be numbers of shape (N, J, 3) or (N, P, J, 3), found {kp.shape} "
                          f"{kp.dtype}", path)
    kp = kp.astype(np.float32)
    kp[~np.isfinite(kp)] = np.nan
    if kp.ndim == 3:
        kp = kp[:, None]
    N, P = kp.shape[:2]
    if scores is not None:
        if scores.dtype.kind not in "iuf" or scores.size != N * P:
            raise AistppError(f"scores must be {N} x {P} numbers, found {scores.shape} {scores.dtype}", path)
        scores = scores.astype(np.float32).reshape(N, P)
    if frames is None:
        frames = np.arange(N, dtype=np.int64)
    elif frames.dtype.kind not in "iu" or frames.size != N or len(np.unique(frames)) != N:
        raise AistppError(f"frames must be {N} distinct integer frame numbers", path)
    frames = np.asarray(frames, np.int64).ravel()
    return frames, kp, scores, size


# ---- one video ------------------------------------------------------------------------------
def _check_pixels(kp: np.ndarray, entry: Path) -> None:
    """Refuse coordinates normalised to the image ([0, 1], as MediaPipe returns them): aistpp
    needs pixels, and drawing or triangulating 0..1 "pixels" would be silently wrong."""
    xy = kp[..., :2]
    xy = xy[np.isfinite(xy).all(-1)]
    if len(xy) >= 10 and np.abs(xy).max() <= 1.5:
        raise AistppError("keypoints lie within [0, 1]: normalised image coordinates? aistpp reads pixels "
                          "(multiply x by the image width and y by its height)", entry)


def _name_set(count: int, kp: np.ndarray, joint_set: str | None, entry: Path) -> tuple[str, str]:
    if joint_set is None:
        return detect_joint_set(count, kp, str(entry))
    s = named_set(joint_set)
    if len(s) != count:
        raise AistppError(f"people have {count} keypoints, --joint-set {s.name} has {len(s)}", entry)
    check_geometry(s.name, kp, str(entry))  # named, yet the geometry says otherwise: refuse, never misread
    return s.name, "named (--joint-set)"


def read_video(entry: Path, fmt: Format = "auto", joint_set: str | None = None) -> VideoDetections:
    """Read every detection of one video (a folder of per-frame files or one file).

    ``joint_set``: the set's name (``aistpp.core.joint_sets``), else settled from the data.
    """
    entry = Path(entry)
    if not entry.exists():
        raise AistppError("detections not found (a folder of per-frame files or a results / array file)", entry)
    if fmt == "auto":
        fmt = detect_format(entry)
    size = None
    if fmt == "array":
        frames, kp4, sc, size = read_array(entry)
        count = kp4.shape[2]
        flat = kp4.reshape(-1, count, 3)
        _check_pixels(flat, entry)
        name, how = _name_set(count, flat, joint_set, entry)
        kp4 = _clean(kp4.copy())
        if sc is None:
            sc = _coco_mean_confidence(kp4.reshape(-1, count, 3), name).reshape(kp4.shape[:2])
        sc = np.where(np.isfinite(kp4[..., :2]).any((-1, -2)), sc, np.nan).astype(np.float32)
        return VideoDetections(frames, kp4, sc, name, fmt, [], True, size, how)
    if (fmt in PER_FRAME or fmt in FRAME_FORMATS) and not (fmt == "mmpose" and entry.is_file()):  # MMPose: frames, or one file
        if not entry.is_dir():
            raise AistppError(f"expected a folder of per-frame {fmt} JSON files", entry)
        got = _per_frame(entry, fmt)
    else:
        path = entry / ALPHAPOSE_FILE if entry.is_dir() and fmt == "alphapose" else entry
        if not path.is_file():
            raise AistppError(f"expected one {fmt} results file", path)
        got = _results_file(path, fmt)
    if got.rows:
        if got.width % 3:
            raise AistppError(f"people have {got.width} values, not a multiple of 3 (x, y, c)", entry)
        count = got.width // 3
        kp = _clean(np.asarray(got.rows, np.float64).reshape(len(got.rows), count, 3))
        _check_pixels(kp, entry)
        name, how = _name_set(count, kp, joint_set, entry)
    else:
        name, how = (named_set(joint_set).name if joint_set else "coco17"), "no people"
        kp = np.zeros((0, len(JOINT_SETS[name]), 3), np.float32)
    mean_conf = _coco_mean_confidence(kp, name)
    scores = np.asarray(got.det, np.float32).reshape(-1)
    scores = np.where(np.isfinite(scores), scores, mean_conf)  # no score (OpenPose): the mean confidence
    if got.person_frame:
        frame, many = np.unique(np.asarray(got.person_frame, np.int64), return_counts=True)
        if many.max() > MAX_PEOPLE:
            raise AistppError(f"frame {int(frame[np.argmax(many)])} lists {int(many.max())} people (more than "
                              f"{MAX_PEOPLE}): not a detector's output?", entry)
    ts, kp, sc = pack(np.asarray(got.frames, np.int64), np.asarray(got.person_frame, np.int64), kp, scores)
    return VideoDetections(ts, kp, sc, name, fmt, sorted(got.corrupt), fmt != "aist", size, how)


__all__ = ["COCO17", "FRAME_FORMATS", "Format", "FrameFormat", "VideoDetections", "detect_format", "frame_number",
           "pack", "read_video", "register_frame_format", "to_coco17"]
