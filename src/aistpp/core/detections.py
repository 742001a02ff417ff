"""2D detector outputs -> per-video arrays of candidate people (one parser per detector format).

Supported inputs, under a keypoints folder ``K`` (one entry per video, named after the video):

- ``openpose``: ``K/<video>/<anything>_<frame:012d>_keypoints.json`` (OpenPose ``--write_json``),
  ``people[i].pose_keypoints_2d`` a flat x, y, c list of BODY_25 or COCO-18 joints. The frame
  number is the timestamp. OpenPose has no detection score: a person's score is the mean
  confidence of its COCO-17 joints (a missing joint counts 0).
- ``aist``: the dataset's own detector, ``K/<video>/<video>_<timestamp>.json`` holding
  ``keypoints`` (people x 17 x 3, nested or flat) and ``detection_scores`` (people,). The
  timestamp integer is kept as is.
- ``coco`` / ``alphapose``: one results file per video, ``K/<video>.json`` (or
  ``K/<video>/alphapose-results.json``): a list of ``{image_id, keypoints, score}``; several
  entries with one ``image_id`` are several people. ``image_id`` is the frame number, or an
  image name whose trailing digits are (``000123.jpg``, ``<video>_000123.jpg``).

The joint set is read off the number of keypoints (``JOINTS_BY_COUNT``, the one table):
17 COCO-17, 18 OpenPose COCO-18, 25 BODY_25, 26 HALPE-26 (AlphaPose), 133 COCO-WholeBody and
136 HALPE-136 (their leading body joints). ``to_coco17`` maps any of them to COCO-17 through
``aistpp.core.joints.index_map``.

A joint at exactly (0, 0) with confidence 0 (OpenPose's "not found") becomes NaN. A file that
is truncated, not JSON or not of the expected shape is listed in ``VideoDetections.corrupt``
and its frame is left out (treated as missing), never raised.
"""

from __future__ import annotations

import os
import stat
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np

from aistpp.core.joints import COCO17, JOINT_SETS, index_map
from aistpp.errors import AistppError

try:  # orjson parses these files ~5x faster than the standard library; optional.
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    from json import loads as _loads

Format = Literal["auto", "openpose", "aist", "coco", "alphapose"]
FORMATS = ("auto", "openpose", "aist", "coco", "alphapose")

# Number of keypoints a detector writes -> (joint set in aistpp.core.joints.JOINT_SETS, leading joints used).
JOINTS_BY_COUNT = {
    17: ("coco17", 17),
    18: ("coco18", 18),
    25: ("body25", 25),
    26: ("halpe26", 26),
    133: ("coco17", 17),  # COCO-WholeBody: body joints first
    136: ("halpe26", 26),  # HALPE-136: the HALPE-26 body first
}
OPENPOSE_SUFFIX = "_keypoints.json"
ALPHAPOSE_FILE = "alphapose-results.json"
_TRAILING_INT = re.compile(r"(\d+)\D*$")


@dataclass
class VideoDetections:
    """The candidate people of one video.

    ``timestamps`` (F,) int64 sorted; ``keypoints`` (F, P, J, 3) float32 x, y px and confidence
    in the native joint set (NaN-padded where a frame has fewer than P people);
    ``scores`` (F, P) float32 person scores (NaN where no person).
    """

    timestamps: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    joint_set: str
    format: str
    corrupt: list[Path] = field(default_factory=list)

    @property
    def timestamps_us(self) -> np.ndarray:
        """The timestamps as the release writes them, microseconds at 60 fps: frame numbers
        (openpose, coco, alphapose) converted with ``formats.frame_timestamps``; the aist
        detector's own timestamps kept."""
        from aistpp.core.formats import frame_timestamps

        return self.timestamps if self.format == "aist" else frame_timestamps(self.timestamps)


@lru_cache(maxsize=None)
def coco_index(joint_set: str) -> np.ndarray:
    """Indices into ``joint_set`` of the 17 COCO joints (-1 where the set lacks one)."""
    return index_map(JOINT_SETS[joint_set], COCO17)


def to_coco17(keypoints: np.ndarray, joint_set: str) -> np.ndarray:
    """(..., J, 3) in ``joint_set`` -> (..., 17, 3) COCO-17 (NaN for joints the set lacks)."""
    idx = coco_index(joint_set)
    out = keypoints[..., np.maximum(idx, 0), :].astype(np.float32, copy=True)
    out[..., idx < 0, :] = np.nan
    return out


def joint_set_of(count: int, path: Path) -> tuple[str, int]:
    try:
        return JOINTS_BY_COUNT[count]
    except KeyError:
        known = ", ".join(f"{n} ({s})" for n, (s, _) in JOINTS_BY_COUNT.items())
        raise AistppError(f"people have {count} keypoints; known counts: {known}", path) from None


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


def frame_of(name: str, suffix: str) -> int:
    """``<video>_000000000012_keypoints.json`` (suffix ``_keypoints.json``) -> 12."""
    return int(name[: len(name) - len(suffix)].rsplit("_", 1)[-1])


# ---- format detection --------------------------------------------------------------------
def detect_format(entry: Path) -> str:
    """``openpose``, ``aist`` or ``coco`` (results list) for a video's entry under K."""
    if entry.is_file():
        return "coco"
    names = [e.name for e in os.scandir(entry) if e.name.endswith(".json")]
    if any(n.endswith(OPENPOSE_SUFFIX) for n in names):
        return "openpose"
    if ALPHAPOSE_FILE in names:
        return "alphapose"
    return "aist"


def video_entries(keypoints_dir: Path) -> dict[str, Path]:
    """{video name: folder or ``.json`` file} of the videos under ``keypoints_dir``."""
    if not keypoints_dir.is_dir():
        raise AistppError("keypoints folder not found (--keypoints-dir)", keypoints_dir)
    out: dict[str, Path] = {}
    for e in os.scandir(keypoints_dir):
        if e.name.startswith("."):
            continue
        if e.is_dir():
            out[e.name] = Path(e.path)
        elif e.name.endswith(".json"):
            out.setdefault(e.name[:-5], Path(e.path))
    return out


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


# ---- per-frame formats ----------------------------------------------------------------------
def _per_frame(folder: Path, fmt: str):
    suffix = OPENPOSE_SUFFIX if fmt == "openpose" else ".json"
    entries = [(e.name, e.path) for e in os.scandir(folder) if e.name.endswith(suffix) and not e.name.startswith(".")]
    frames: list[int] = []
    person_frame: list[int] = []
    rows: list = []
    det: list = []
    corrupt: list[Path] = []
    paths: list[str] = []
    width = 0
    for name, path in entries:
        try:
            t = frame_of(name, suffix)
        except ValueError:
            continue  # not a frame file (no trailing number)
        try:
            data = _read(path)
            if fmt == "openpose":
                people = [p["pose_keypoints_2d"] for p in data["people"]]
                scores = None
            else:
                scores = data["detection_scores"]
                people = data["keypoints"]
                if people and not isinstance(people[0], list):  # one flat list for all people
                    n = len(people) // max(1, len(scores))
                    people = [people[i * n:(i + 1) * n] for i in range(len(scores))]
                elif people and isinstance(people[0][0], list):  # people x joints x 3
                    people = [[v for j in p for v in j] for p in people]
                if len(people) != len(scores):
                    raise ValueError("keypoints and detection_scores differ in length")
            for p in people:
                if width == 0:
                    width = len(p)
                if len(p) != width:
                    raise ValueError(f"a person has {len(p)} values, others {width}")
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            corrupt.append(Path(path))
            continue
        frames.append(t)
        paths.append(path)
        person_frame.extend([t] * len(people))
        rows.extend(people)
        if scores is not None:
            det.extend(scores)
    return frames, paths, person_frame, rows, det, width, corrupt


def _results_list(path: Path):
    try:
        data = _read(str(path))
        if isinstance(data, dict):  # {"annotations": [...]} style
            data = data.get("annotations", data.get("results"))
        person_frame = [_image_frame(d["image_id"]) for d in data]
        rows = [d["keypoints"] for d in data]
        det = [float(d.get("score", np.nan)) for d in data]
        width = len(rows[0]) if rows else 0
        if any(len(r) != width for r in rows):
            raise ValueError("people differ in their number of keypoints")
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return [], [], [], [], [], 0, [path]
    return list(person_frame), [str(path)] * len(person_frame), person_frame, rows, det, width, []


def _image_frame(image_id) -> int:
    if isinstance(image_id, int):
        return image_id
    m = _TRAILING_INT.search(os.path.splitext(str(image_id))[0])
    if m is None:
        raise ValueError(f"image_id {image_id!r} holds no frame number")
    return int(m.group(1))


def _drop_non_numeric(frames, paths, person_frame, rows, det):
    """Remove the frames (and their people) of files whose keypoints are not all numbers."""
    def numeric(row) -> bool:
        try:
            np.asarray(row, np.float64)
            return True
        except (TypeError, ValueError):
            return False

    bad = {t for t, r in zip(person_frame, rows) if not numeric(r)}
    keep = [i for i, t in enumerate(person_frame) if t not in bad]
    where = dict(zip(frames, paths))
    return ([t for t in frames if t not in bad], [person_frame[i] for i in keep], [rows[i] for i in keep],
            [det[i] for i in keep] if det else det, sorted({Path(where[t]) for t in bad}))


def read_video(entry: Path, fmt: Format = "auto") -> VideoDetections:
    """Read every detection of one video (a folder of per-frame files or one results file)."""
    entry = Path(entry)
    if fmt == "auto":
        fmt = detect_format(entry)
    if fmt in ("coco", "alphapose"):
        path = entry / ALPHAPOSE_FILE if entry.is_dir() else entry
        frames, paths, person_frame, rows, det, width, corrupt = _results_list(path)
    else:
        if not entry.is_dir():
            raise AistppError(f"expected a folder of per-frame {fmt} JSON files", entry)
        frames, paths, person_frame, rows, det, width, corrupt = _per_frame(entry, fmt)
    if rows:
        if width % 3:
            raise AistppError(f"people have {width} values, not a multiple of 3 (x, y, c)", entry)
        joint_set, used = joint_set_of(width // 3, entry)
        try:
            values = np.asarray(rows, np.float64)
        except (TypeError, ValueError):  # a file with non-numbers: drop its frame, report it
            frames, person_frame, rows, det, bad = _drop_non_numeric(frames, paths, person_frame, rows, det)
            corrupt += bad
            values = np.asarray(rows, np.float64).reshape(len(rows), width)
        kp = _clean(values.reshape(len(rows), width // 3, 3)[:, :used])
    else:
        joint_set, used = ("body25" if fmt == "openpose" else "coco17"), 0
        kp = np.zeros((0, len(JOINT_SETS[joint_set]), 3), np.float32)
    mean_conf = _coco_mean_confidence(kp, joint_set)
    if fmt == "openpose":
        scores = mean_conf
    else:  # a result without a score gets the OpenPose rule
        scores = np.asarray(det, np.float32).reshape(-1)
        scores = np.where(np.isfinite(scores), scores, mean_conf)
    ts, kp, sc = pack(np.asarray(frames, np.int64), np.asarray(person_frame, np.int64), kp, scores)
    return VideoDetections(ts, kp, sc, joint_set, fmt, sorted(corrupt))
