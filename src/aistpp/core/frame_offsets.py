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
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from aistpp.errors import AistppError

KEY = "frame_offset"
MAX_OFFSET_FRAMES = 100_000  # about 28 minutes at 60 fps: anything beyond is not a time offset


def offsets_from_items(items: list, names: tuple[str, ...] | list[str], path: str | Path | None = None) -> np.ndarray:
    """``frame_offset`` (V,) float frames of the cameras ``names`` from a camera JSON list
    (``items``, already read as a rig); 0 where a camera has no such key. Raises AistppError
    (naming ``path``) for a value that is not a finite number within +-``MAX_OFFSET_FRAMES``."""
    by_name = {str(it.get("name")): it for it in items if isinstance(it, dict)}
    out = np.zeros(len(names))
    for v, name in enumerate(names):
        value = by_name.get(str(name), {}).get(KEY, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or abs(value) > MAX_OFFSET_FRAMES:
            raise AistppError(f"camera {name!r}: '{KEY}' must be a number of frames within "
                              f"+-{MAX_OFFSET_FRAMES}, found {str(value)[:40]!r}", path)
        out[v] = float(value)
    return out


def read_frame_offsets(path: str | Path, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """``frame_offset`` (V,) float frames per camera of the setting file ``path`` (see module docstring)."""
    from aistpp.core.formats import read_json

    items = read_json(Path(path))
    if not isinstance(items, list):
        raise AistppError("camera file must hold a list of camera objects", path)
    return offsets_from_items(items, names, path)


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
