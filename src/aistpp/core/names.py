"""AIST++ names: video name <-> sequence name and view, and the tags a name carries.

A video is ``g{genre}_s{situation}_c{camera}_d{dancer}_m{music}_ch{choreo}``; the sequence
(all views) puts ``cAll`` in the camera tag. Names with three tags carry the camera in the
second one. Custom rigs may use any view names (``cam3``, ``left``): the view tag is whatever
stands in the camera slot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aistpp.errors import AistppError

ALL_VIEWS_TAG = "cAll"
AIST_VIEWS = tuple(f"c{i:02d}" for i in range(1, 10))
GENRES = {
    "gBR": "break", "gPO": "pop", "gLO": "lock", "gMH": "middle hip-hop", "gLH": "LA hip-hop",
    "gHO": "house", "gWA": "waack", "gKR": "krump", "gJS": "street jazz", "gJB": "ballet jazz",
}  # fmt: skip
SITUATIONS = {"sBM": "basic dance", "sFM": "advanced dance"}

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
# File systems allow 255 bytes per name; outputs add a suffix (".kinetic.npy") and their
# temporary files ".<name>.<pid>-<random>.tmp": 200 leaves room for both.
MAX_NAME_LENGTH = 200


def check_name(name: str, what: str = "sequence name") -> str:
    """Refuse a name that could escape a folder when used as a file name (``../x``, ``a/b``),
    an empty one, one with a line break, and one too long for a file name."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        if isinstance(name, str) and not name.strip():
            raise AistppError(f"empty {what}: name at least one")
        raise AistppError(f"invalid {what} {name!r}: use letters, digits, '_', '-', '.' only")
    if len(name) > MAX_NAME_LENGTH:
        raise AistppError(f"{what} too long ({len(name)} characters, at most {MAX_NAME_LENGTH}): "
                          f"{name[:40]}...")
    return name


def unique_names(names, what: str = "sequence name") -> list[str]:
    """The requested names (an iterable of str), each checked (``check_name``), repeats dropped,
    in the order given: what every command's ``--sequence-names`` selects."""
    return [check_name(n, what) for n in dict.fromkeys(names)]


def _camera_slot(tags: list[str], name: str) -> int:
    if len(tags) == 6:
        return 2
    if len(tags) == 3:
        return 1
    raise AistppError(
        f"cannot parse name {name!r}: expected 6 '_'-separated tags "
        "(g.._s.._c.._d.._m.._ch..) or 3 tags with the camera second"
    )


def split_video_name(video_name: str) -> tuple[str, str]:
    """``gWA_sFM_c01_d27_mWA2_ch21`` -> (``gWA_sFM_cAll_d27_mWA2_ch21``, ``c01``)."""
    check_name(video_name, "video name")
    tags = video_name.split("_")
    slot = _camera_slot(tags, video_name)
    view = tags[slot]
    tags[slot] = ALL_VIEWS_TAG
    return "_".join(tags), view


def video_name(sequence_name: str, view: str) -> str:
    """``gWA_sFM_cAll_d27_mWA2_ch21``, ``c01`` -> ``gWA_sFM_c01_d27_mWA2_ch21``."""
    check_name(sequence_name)
    check_name(view, "view name")
    tags = sequence_name.split("_")
    tags[_camera_slot(tags, sequence_name)] = view
    return "_".join(tags)


def is_sequence_name(name: str) -> bool:
    tags = name.split("_")
    return len(tags) in (3, 6) and tags[_camera_slot(tags, name)] == ALL_VIEWS_TAG


@dataclass(frozen=True)
class NameTags:
    """The tags of a six-tag AIST name (values keep their prefixes: ``gWA``, ``sFM``...)."""

    genre: str
    situation: str
    camera: str
    dancer: str
    music: str
    choreo: str

    @property
    def genre_name(self) -> str:
        return GENRES.get(self.genre, self.genre)

    @property
    def situation_name(self) -> str:
        return SITUATIONS.get(self.situation, self.situation)


def parse_name(name: str) -> NameTags:
    """Parse the six tags of a video or sequence name."""
    check_name(name, "name")
    tags = name.split("_")
    prefixes = ("g", "s", "c", "d", "m", "ch")
    if len(tags) != 6 or not all(t.startswith(p) and len(t) > len(p) for t, p in zip(tags, prefixes)):
        raise AistppError(f"cannot parse name {name!r}: expected g.._s.._c.._d.._m.._ch..")
    return NameTags(*tags)
