"""Per-view time offsets of a setting: the ``frame_offset`` of each camera in ``<setting>.json``.

Convention (written by ``aistpp calibrate``, applied by ``triangulate`` and ``vis``): a camera
with ``frame_offset`` o shows in its own frame ``n + o`` the instant that the setting's common
frame ``n`` shows. The common clock is that of the cameras with offset 0 (calibrate makes the
most common offset 0). In AIST++ terms: ``keypoints2d[v, n + o]`` and ``keypoints2d[w, n]`` of
a camera w with offset 0 were taken at the same instant, and so were the video frame at time
``(n + o) / 60`` s of view v and the one at ``n / 60`` s of view w; ``keypoints3d[n]`` and
``motions`` frame n are on the common clock. A camera without the key has offset 0, so the
released cameras (no key: synchronised views) mean what they always meant. An offset may be
fractional (frames); a fractional shift interpolates linearly between neighbouring frames.

Per sequence (each AIST++ sequence is its own recording, synchronised on its own): a camera may
also carry ``frame_offsets``, {"<sequence name>": o, ...}, same sign and unit. A reader of
sequence ``s`` uses ``frame_offsets[s]`` when present, else ``frame_offset``, else 0
(``calibrate`` writes both: ``frame_offset`` is then the median over its sequences).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from aistpp.errors import AistppError

KEY = "frame_offset"
SEQUENCE_KEY = "frame_offsets"
MAX_NAME = 200  # characters of a sequence name in ``frame_offsets``
MAX_OFFSET_FRAMES = 100_000  # about 28 minutes at 60 fps: anything beyond is not a time offset


def _offset_value(value, what: str, name, path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or abs(value) > MAX_OFFSET_FRAMES:
        raise AistppError(f"camera {str(name)[:40]!r}: {what} must be a number of frames within "
                          f"+-{MAX_OFFSET_FRAMES}, found {str(value)[:40]!r}", path)
    return float(value)


def _sequence_offsets(item: dict, name, path) -> dict[str, float]:
    """A camera's ``frame_offsets`` {sequence: frames}, every entry validated ({} without the key)."""
    table = item.get(SEQUENCE_KEY, {})
    if not isinstance(table, dict):
        raise AistppError(f"camera {str(name)[:40]!r}: '{SEQUENCE_KEY}' must map sequence names to frames, "
                          f"found {str(table)[:40]!r}", path)
    out = {}
    for seq, value in table.items():
        if not isinstance(seq, str) or not 0 < len(seq) <= MAX_NAME:
            raise AistppError(f"camera {str(name)[:40]!r}: '{SEQUENCE_KEY}' has a key that is not a sequence name "
                              f"({str(seq)[:40]!r})", path)
        out[seq] = _offset_value(value, f"'{SEQUENCE_KEY}'[{seq[:40]!r}]", name, path)
    return out


def offsets_from_items(items: list, names: tuple[str, ...] | list[str], path: str | Path | None = None,
                       sequence: str | None = None) -> np.ndarray:
    """Time offsets (V,) float frames of the cameras ``names`` from a camera JSON list (``items``,
    already read as a rig): ``frame_offsets[sequence]`` when given and present, else
    ``frame_offset``, else 0. Raises AistppError (naming ``path``) for a value that is not a
    finite number within +-``MAX_OFFSET_FRAMES`` or a ``frame_offsets`` that is not a
    {name: number} table (every camera's entries are checked, whatever ``names`` and ``sequence``)."""
    found = {}
    for item in items:  # every camera of the file is checked, not only those asked for
        if isinstance(item, dict):
            name = str(item.get("name"))
            value = _offset_value(item.get(KEY, 0), f"'{KEY}'", name, path)
            table = _sequence_offsets(item, name, path)
            found[name] = table.get(sequence, value) if sequence is not None else value
    return np.array([found.get(str(name), 0.0) for name in names], np.float64)


def read_frame_offsets(path: str | Path, names: tuple[str, ...] | list[str], sequence: str | None = None) -> np.ndarray:
    """Time offsets (V,) float frames per camera of the setting file ``path`` for ``sequence``
    (None: the setting's ``frame_offset``); see the module docstring and ``offsets_from_items``."""
    from aistpp.core.formats import read_json

    items = read_json(Path(path))
    if not isinstance(items, list):
        raise AistppError("camera file must hold a list of camera objects", path)
    return offsets_from_items(items, names, path, sequence)


def instant_timestamps(timestamps: np.ndarray, offset: float) -> np.ndarray:
    """(N,) int64 microseconds of the common instants that a view's frames with ``timestamps``
    (N,) microseconds at 60 fps show when its time offset is ``offset`` frames (frame n + o shows
    instant n), to the nearest whole frame: frames of several views are matched on these."""
    from aistpp.core.formats import frame_timestamps, timestamp_frames

    return frame_timestamps(timestamp_frames(timestamps) - int(np.round(offset)))


def shift_views(arr: np.ndarray, offsets, seq_id: np.ndarray | None = None) -> np.ndarray:
    """Views put on the common clock: arr (V, N, ...) -> out (V, N, ...) float64 with
    ``out[v, n] = arr[v, n + offsets[v]]`` when that frame exists (and belongs to the same
    sequence as n, ``seq_id`` (N,), default one sequence), else NaN. A fractional offset
    interpolates linearly between the two neighbouring frames (NaN when either is missing)."""
    arr = np.asarray(arr, np.float64)
    V, N = arr.shape[:2]
    offsets = np.asarray(offsets, np.float64).reshape(-1)
    if offsets.shape != (V,):
        raise AistppError(f"{V} views but {offsets.size} frame offsets")
    seq = np.zeros(N, np.int64) if seq_id is None else np.asarray(seq_id)
    out = np.full(arr.shape, np.nan)
    n = np.arange(N)
    for v, o in enumerate(offsets):
        lo = int(np.floor(o))
        a = float(o - lo)
        parts = [(lo, 1.0 - a)] + ([(lo + 1, a)] if a > 1e-9 else [])
        ok = np.ones(N, bool)
        for step, _ in parts:
            src = n + step
            inside = (src >= 0) & (src < N)
            inside[inside] &= seq[src[inside]] == seq[n[inside]]
            ok &= inside
        acc = np.zeros((int(ok.sum()),) + arr.shape[2:])
        for step, weight in parts:
            acc += weight * arr[v, n[ok] + step]
        out[v, n[ok]] = acc
    return out


def shift_sequences(arr: np.ndarray, offsets, seq_id: np.ndarray) -> np.ndarray:
    """``shift_views`` with each sequence's own offsets: arr (V, N, ...) of sequences laid end to
    end (``seq_id`` (N,), each sequence's frames contiguous and in order), offsets (S, V) frames,
    row k for the k-th of ``np.unique(seq_id)`` (or (V,): the same for all) -> (V, N, ...) float64
    on the common clock."""
    offsets = np.asarray(offsets, np.float64)
    seq = np.asarray(seq_id)
    if offsets.ndim == 1:
        return shift_views(arr, offsets, seq)
    arr = np.asarray(arr, np.float64)
    out = np.full(arr.shape, np.nan)
    ids = np.unique(seq)
    if offsets.shape[0] != len(ids):
        raise AistppError(f"{len(ids)} sequences but frame offsets for {offsets.shape[0]}")
    for k, s in enumerate(ids):
        m = seq == s
        out[:, m] = shift_views(arr[:, m], offsets[k])
    return out
