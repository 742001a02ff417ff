"""The AIST++ layout (pydantic-validated) and a dataset object over it.

```
<anno_dir>/motions/ keypoints2d/ keypoints3d/ splits/ cameras/ ignore_list.txt
<video_dir>/<video>.mp4
<smpl_dir>/SMPL_NEUTRAL.pkl
```
Each annotation folder can be overridden on its own (``cameras_dir=...``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from aistpp.core import formats
from aistpp.core.cameras import CameraRig
from aistpp.core.names import check_name, split_video_name, unique_names, video_name
from aistpp.errors import AistppError, AistppWarning

AnnotationKind = Literal["motions", "keypoints2d", "keypoints3d", "splits", "cameras"]


class AnnotationLayout(BaseModel):
    """Where the annotation folders are: ``anno_dir`` with optional per-folder overrides."""

    model_config = ConfigDict(frozen=True)

    anno_dir: Path
    motions_dir: Path | None = None
    keypoints2d_dir: Path | None = None
    keypoints3d_dir: Path | None = None
    splits_dir: Path | None = None
    cameras_dir: Path | None = None
    ignore_list: Path | None = None

    def folder(self, kind: AnnotationKind, must_exist: bool = True) -> Path:
        path = getattr(self, f"{kind}_dir") or self.anno_dir / kind
        if must_exist and not path.is_dir():
            raise AistppError(f"{kind} folder not found (expected it under the annotation dir)", path)
        return path

    def file(self, kind: AnnotationKind, seq_name: str) -> Path:
        """``<kind folder>/<seq_name>.pkl`` (the name is checked: no path tricks)."""
        return self.folder(kind, must_exist=False) / f"{check_name(seq_name)}.pkl"

    def stored(self, kind: AnnotationKind) -> set[str]:
        """The names of the ``<kind>/<name>.pkl`` files there are (none when the folder is missing)."""
        folder = self.folder(kind, must_exist=False)
        return {p.stem for p in folder.glob("*.pkl")} if folder.is_dir() else set()

    @property
    def ignore_list_path(self) -> Path:
        return self.ignore_list or self.anno_dir / "ignore_list.txt"


class VideoLayout(BaseModel):
    model_config = ConfigDict(frozen=True)
    video_dir: Path
    suffix: str = ".mp4"

    def path(self, video: str) -> Path:
        return self.video_dir / f"{check_name(video, 'video name')}{self.suffix}"


class AISTDataset:
    """An AIST++ annotation set (plus optional videos): names, settings, splits and loaders.

    >>> ds = AISTDataset("annotations")                      # doctest: +SKIP
    >>> kp = ds.load_keypoints3d("gWA_sFM_cAll_d27_mWA2_ch21")  # doctest: +SKIP
    """

    def __init__(self, anno_dir: str | Path | AnnotationLayout, video_dir: str | Path | None = None,
                 smpl_dir: str | Path | None = None, **overrides: Path | None):
        if isinstance(anno_dir, AnnotationLayout):
            self.layout = anno_dir
        else:
            self.layout = AnnotationLayout(anno_dir=Path(anno_dir), **overrides)
        if not self.layout.anno_dir.is_dir():
            raise AistppError("annotation folder not found", self.layout.anno_dir)
        self.videos = VideoLayout(video_dir=Path(video_dir)) if video_dir else None
        self.smpl_dir = Path(smpl_dir) if smpl_dir else None  # the body model files (aistpp.core.body names them)

    # ---- mapping and settings -------------------------------------------------------
    @cached_property
    def mapping(self) -> dict[str, str]:
        """{sequence name: camera setting name} from ``cameras/mapping.txt``."""
        return formats.read_mapping(self.layout.folder("cameras") / "mapping.txt")

    @cached_property
    def settings(self) -> dict[str, list[str]]:
        """{setting: [sequences]} (the mapping turned around), settings sorted."""
        out: dict[str, list[str]] = {}
        for seq, setting in self.mapping.items():
            out.setdefault(setting, []).append(seq)
        return dict(sorted(out.items()))

    @property
    def sequence_names(self) -> list[str]:
        return sorted(self.mapping)

    def setting_of(self, seq_name: str) -> str:
        try:
            return self.mapping[seq_name]
        except KeyError:
            raise AistppError(
                f"sequence {seq_name!r} is not listed in mapping.txt", self.layout.folder("cameras") / "mapping.txt"
            ) from None

    def camera_file(self, seq_or_setting: str) -> Path:
        """``cameras/<setting>.json`` of a setting (``setting1``) or of the setting of a sequence."""
        setting = self.mapping.get(seq_or_setting)
        if setting is None:
            folder = self.layout.folder("cameras")
            if not (folder / f"{check_name(seq_or_setting, 'setting name')}.json").is_file() and (
                    seq_or_setting not in self.mapping.values()):
                self.setting_of(seq_or_setting)  # names mapping.txt: a sequence it does not list
            setting = seq_or_setting
        return self.layout.folder("cameras") / f"{check_name(setting, 'setting name')}.json"

    def load_cameras(self, seq_or_setting: str) -> CameraRig:
        """Cameras of a setting (``setting1``) or of the setting of a sequence."""
        return formats.load_cameras(self.camera_file(seq_or_setting))

    def load_frame_offsets(self, seq_or_setting: str, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Per-camera time offsets (V,) frames of the views ``names``: for a sequence its own
        ``frame_offsets`` entry when the camera has one, else ``frame_offset``, else 0 (see
        ``aistpp.core.frame_offsets`` for the convention)."""
        from aistpp.core.frame_offsets import read_frame_offsets

        sequence = seq_or_setting if seq_or_setting in self.mapping else None
        return read_frame_offsets(self.camera_file(seq_or_setting), names, sequence)

    # ---- splits and ignore list --------------------------------------------------------
    def split_names(self) -> list[str]:
        folder = self.layout.folder("splits", must_exist=False)
        return sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []

    def split(self, name: str) -> list[str]:
        return formats.read_lines(self.layout.folder("splits") / f"{check_name(name, 'split name')}.txt")

    @cached_property
    def ignore_list(self) -> list[str]:
        path = self.layout.ignore_list_path
        return formats.read_lines(path) if path.exists() else []

    def select(self, names: list[str] | None = None, split: str | None = None,
               include_ignored: bool = False, available: list[str] | None = None,
               available_from: Path | None = None) -> list[str]:
        """Which sequences a batch command processes.

        ``names`` if given (checked, kept in the given order; an empty list given explicitly is
        an error), else the ``split``'s names, else ``available`` (e.g. the sequences that have
        input files in the folder ``available_from``: a file there whose name is not a sequence
        name is skipped with a warning naming the folder), else all of mapping.txt.
        Sequences on the ignore list are dropped unless ``include_ignored`` or named explicitly.
        """
        if names is not None and not names:
            raise AistppError("--sequence-names selects nothing: name at least one sequence")
        if split is not None and not split.strip():
            raise AistppError("--split is empty: name a split (a file of splits/)")
        if names:
            return unique_names(names)
        if split:
            chosen = self.split(split)
        elif available is not None:
            chosen = sorted(self._valid_names(available, available_from))
        else:
            chosen = self.sequence_names
        chosen = [check_name(n) for n in chosen]
        if not include_ignored:
            ignored = set(self.ignore_list)
            chosen = [n for n in chosen if n not in ignored]
        return chosen

    def select_with(self, kind: AnnotationKind, names: list[str] | None = None, split: str | None = None,
                    include_ignored: bool = False) -> list[str]:
        """``select`` for a step that reads ``<kind>/<seq>.pkl``: without ``names`` or ``split``,
        the sequences that have such a file. Without ``names``, the folder must exist and hold at
        least one such file (else one error naming the folder)."""
        if names:
            return self.select(names, split, include_ignored)
        folder = self.layout.folder(kind)
        available = sorted(self.layout.stored(kind))
        if not available:
            raise AistppError(f"no {kind}/<seq>.pkl files found", folder)
        return self.select(names, split, include_ignored, None if split else available, available_from=folder)

    @staticmethod
    def _valid_names(names: list[str], folder: Path | None) -> list[str]:
        good, bad = [], []
        for n in names:
            try:
                good.append(check_name(n))
            except AistppError:
                bad.append(n)
        if bad:
            import warnings

            where = f"{folder}: " if folder is not None else ""
            warnings.warn(f"{where}skipped {len(bad)} file(s) whose names are not sequence names "
                          f"(e.g. {bad[0][:60]!r})", AistppWarning, stacklevel=3)
        return good

    # ---- annotation loaders ------------------------------------------------------------
    def load_keypoints2d(self, seq_name: str) -> dict:
        return formats.load_keypoints2d(self.layout.file("keypoints2d", seq_name))

    def load_keypoints3d(self, seq_name: str, optim: bool = True) -> np.ndarray:
        """(N, 17, 3) cm: ``keypoints3d_optim`` when ``optim`` (and present), else ``keypoints3d``."""
        data = formats.load_keypoints3d(self.layout.file("keypoints3d", seq_name))
        return data["keypoints3d_optim"] if optim and "keypoints3d_optim" in data else data["keypoints3d"]

    def load_motion(self, seq_name: str) -> dict:
        return formats.load_motion(self.layout.file("motions", seq_name))

    # ---- videos ------------------------------------------------------------------------
    def video_names(self, seq_name: str) -> list[str]:
        """The videos of a sequence, in the order of its setting's cameras."""
        return [video_name(seq_name, view) for view in self.load_cameras(seq_name).names]

    def video_path(self, video: str) -> Path:
        if self.videos is None:
            raise AistppError("no video folder given (--video-dir)")
        return self.videos.path(video)

    @staticmethod
    def split_video_name(video: str) -> tuple[str, str]:
        return split_video_name(video)
