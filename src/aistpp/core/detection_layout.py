"""Where a rig's detections are: sequences -> views -> one entry (folder of frames or file) each.

Layouts understood under ``--keypoints-dir K`` (names are the user's own; view names flow on
unchanged):

1. ``aist``: flat, one entry per video named the AIST++ way, ``K/gWA_sFM_c01_d27_mWA2_ch21/`` (or
   ``.json`` / ``.npy`` / ``.npz``): 6 (or 3) ``_``-separated tags, the view in the camera tag.
2. ``sequence/view``: ``K/<sequence>/<view>/`` per-frame files, or ``K/<sequence>/<view>.json``
   (a results file) / ``.npy`` / ``.npz``.
3. ``view``: ``K/<view>/`` (or ``K/<view>.json`` ...) for one sequence, named by ``--sequence-name``
   or else after ``K`` itself.
4. ``toml``: ``K`` is a TOML file listing sequences -> views -> entries (paths relative to it)::

       [sequences.session1]
       setting = "myrig"                                  # optional camera setting
       views = { cam01 = "det/cam01", cam02 = "det/cam02.npz" }
       image_sizes = { cam01 = [1080, 1920] }             # optional, [width, height] px

An entry is a folder of per-frame JSON files (a number in each name) or one results / array
file; a folder of per-view results files is a sequence, told apart by the files' content.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from aistpp.core.detections import _TRAILING_INT, ALPHAPOSE_FILE, ARRAY_SUFFIXES, _content_format, _read
from aistpp.core.names import ALL_VIEWS_TAG, check_name, parse_name, split_video_name
from aistpp.errors import AistppError

ENTRY_SUFFIXES = (".json",) + ARRAY_SUFFIXES
SCHEMES = ("(1) flat AIST video names: <gXX_sXX_cNN_dXX_mXX_chXX>/ or .json/.npy/.npz per video; "
           "(2) <sequence>/<view>/ per-frame files or <sequence>/<view>.json|.npy|.npz; "
           "(3) <view>/ ... for one sequence (named by --sequence-name); "
           "(4) a .toml file listing sequences -> views -> files")


@dataclass
class RigLayout:
    """``sequences`` {sequence: {view: entry}}, views in the order found (sorted by name);
    ``settings`` {sequence: camera setting} and ``image_sizes`` {sequence: {view: (w, h)}} from a TOML."""

    scheme: str
    sequences: dict[str, dict[str, Path]]
    settings: dict[str, str] = field(default_factory=dict)
    image_sizes: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)


def _entries(folder: Path) -> dict[str, Path]:
    """{name without suffix: path} of the folders and detection files in ``folder``."""
    out: dict[str, Path] = {}
    for e in sorted(os.scandir(folder), key=lambda e: e.name):
        if e.name.startswith("."):
            continue
        if e.is_dir():
            out[e.name] = Path(e.path)
        else:
            stem, suffix = os.path.splitext(e.name)
            if suffix in ENTRY_SUFFIXES:
                out.setdefault(stem, Path(e.path))
    return out


def _aist_view(name: str) -> str | None:
    """The view of an AIST-style video name, else None. Six tags must carry AIST's prefixes
    (g.._s.._c.._d.._m.._ch..); three tags a camera tag c<...> in the middle: a user's own
    ``take_1_cam01`` is not read as the sequence ``take_cAll_cam01`` of view ``1``."""
    try:
        _, view = split_video_name(name)
        tags = name.split("_")
        if len(tags) == 6:
            parse_name(name)
        elif not re.fullmatch(r"c[A-Za-z0-9.\-]+", tags[1]):
            return None
    except AistppError:
        return None
    return None if view == ALL_VIEWS_TAG else view


PEEK = 50  # entries of a folder looked at to tell what it is (folders of frames hold thousands)


def entry_kind(path: Path) -> str:
    """``view`` (one video's detections), ``sequence`` (a folder of views) or ``other``.

    A folder is told by its first ``PEEK`` entries: sub-folders or arrays make it a sequence;
    JSON files with a number in the name make it a view of per-frame files unless their
    content is a results file (``cam01.json`` ... of a sequence); an empty folder is a view.
    """
    if path.is_file():
        return "view" if path.suffix in ENTRY_SUFFIXES else "other"
    frames, jsons = [], 0
    with os.scandir(path) as it:
        for k, e in enumerate(it):
            if k >= PEEK:
                break
            if e.name.startswith("."):
                continue
            if e.is_dir() or e.name.endswith(ARRAY_SUFFIXES):
                return "sequence"
            if e.name == ALPHAPOSE_FILE:
                return "view"
            if e.name.endswith(".json"):
                jsons += 1
                if _TRAILING_INT.search(e.name[:-5]):
                    frames.append(e.path)
    if not jsons:
        return "view"  # an empty folder: a view without detections
    if not frames:
        return "sequence"  # cam_a.json, cam_b.json: results files named after views
    for p in sorted(frames)[:5]:  # per-frame files, or per-view results files with numbers (cam01.json)?
        try:
            kind = _content_format(_read(p))
        except (OSError, ValueError):
            continue
        return "sequence" if kind in ("coco", "mmpose-video") else "view"
    return "view"


def _refuse(root: Path, found: str) -> AistppError:
    return AistppError(f"cannot tell which detections belong to which sequence and view; understood: {SCHEMES}. "
                       f"Found: {found}", root)


def find_layout(keypoints: Path, sequence_name: str | None = None) -> RigLayout:
    """The sequences and views under ``keypoints`` (a folder, or a TOML file). Cached per
    process while the folder (or file) is unchanged: every job of a run asks."""
    keypoints = Path(keypoints)
    try:  # the folder's and its entries' modification times: a new view or sequence folder shows
        stamp = (keypoints.stat().st_mtime_ns,) if keypoints.is_file() else tuple(
            (e.name, e.stat().st_mtime_ns) for e in os.scandir(keypoints))
    except OSError:
        stamp = None
    return _find_layout(keypoints.resolve() if stamp is not None else keypoints, sequence_name, stamp)


@functools.lru_cache(maxsize=8)
def _find_layout(keypoints: Path, sequence_name: str | None, stamp: tuple | None) -> RigLayout:
    if keypoints.is_file() and keypoints.suffix == ".toml":
        return read_toml(keypoints)
    if not keypoints.is_dir():
        raise AistppError("keypoints folder not found (--keypoints-dir)", keypoints)
    entries = _entries(keypoints)
    if not entries:
        raise _refuse(keypoints, "an empty folder")
    aist = {n: _aist_view(n) for n in entries}
    if all(aist.values()):
        seqs: dict[str, dict[str, Path]] = {}
        for n, p in entries.items():
            seq, view = split_video_name(n)
            seqs.setdefault(seq, {})[view] = p
        return RigLayout("aist", seqs)
    kinds = {n: entry_kind(p) for n, p in entries.items()}
    if all(k == "view" for k in kinds.values()):
        name = check_name(sequence_name or keypoints.resolve().name)
        return RigLayout("view", {name: {check_name(v, "view name"): p for v, p in entries.items()}})
    if all(k == "sequence" for k in kinds.values()):
        seqs = {}
        for n, p in entries.items():
            views = {v: q for v, q in _entries(p).items() if entry_kind(q) == "view"}
            if views:
                seqs[check_name(n)] = {check_name(v, "view name"): q for v, q in views.items()}
        if seqs:
            return RigLayout("sequence/view", seqs)
    summary = {k: sorted(n for n in entries if kinds[n] == k) for k in ("view", "sequence", "other")}
    found = "; ".join(f"{len(v)} {k} entr{'y' if len(v) == 1 else 'ies'} "
                      f"({', '.join(v[:4])}{', ...' if len(v) > 4 else ''})" for k, v in summary.items() if v)
    partial = [n for n, v in aist.items() if v]
    if partial:
        found += f"; {len(partial)} of {len(entries)} names are AIST video names"
    raise _refuse(keypoints, found)


def read_toml(path: Path) -> RigLayout:
    """A TOML rig listing (see the module docstring)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AistppError(f"not a readable TOML file ({exc})", path) from None
    table = data.get("sequences")
    if not isinstance(table, dict) or not table:
        raise AistppError("expected [sequences.<name>] tables, each with views = {<view> = <path>, ...}", path)
    out = RigLayout("toml", {})
    for seq, spec in table.items():
        check_name(seq)
        views = spec.get("views") if isinstance(spec, dict) else None
        if not isinstance(views, dict) or not views or not all(isinstance(v, str) for v in views.values()):
            raise AistppError(f"sequence {seq!r}: expected views = {{<view> = \"<path>\", ...}}", path)
        out.sequences[seq] = {check_name(v, "view name"): (path.parent / p) for v, p in views.items()}
        if "setting" in spec:
            if not isinstance(spec["setting"], str):
                raise AistppError(f"sequence {seq!r}: setting must be a name", path)
            out.settings[seq] = check_name(spec["setting"], "setting name")
        sizes = spec.get("image_sizes", {})
        if not isinstance(sizes, dict):
            raise AistppError(f"sequence {seq!r}: image_sizes must be {{<view> = [width, height]}}", path)
        for v, wh in sizes.items():
            if (not isinstance(wh, list) or len(wh) != 2 or not all(isinstance(x, int) and x > 0 for x in wh)
                    or v not in views):
                raise AistppError(f"sequence {seq!r}: image_sizes.{v} must be [width, height] of a listed view", path)
            out.image_sizes.setdefault(seq, {})[v] = (wh[0], wh[1])
    return out


def find_video(video_dir: Path, sequence: str, view: str, suffix: str = ".mp4") -> Path | None:
    """A view's video: ``<video_dir>/<AIST video name>.mp4``, ``<video_dir>/<sequence>/<view>.mp4``,
    ``<video_dir>/<sequence>_<view>.mp4`` or ``<video_dir>/<view>.mp4``; None when none exists."""
    from aistpp.core.names import video_name

    candidates = []
    try:
        candidates.append(video_dir / f"{video_name(sequence, view)}{suffix}")
    except AistppError:
        pass
    candidates += [video_dir / sequence / f"{view}{suffix}", video_dir / f"{sequence}_{view}{suffix}",
                   video_dir / f"{view}{suffix}"]
    return next((c for c in candidates if c.is_file()), None)
