"""Shared fixtures: small synthetic datasets generated once per test session.

``synth_data``: 2 sequences x 120 frames, 9 views, one setting, no videos (a few seconds).
``synth_data_videos``: 1 sequence x 24 frames, 9 views at 1/4 resolution (480x270), videos.

Both return a ``SynthData`` namespace: paths ``root``, ``anno_dir``, ``smpl_dir``,
``detections_dir``, ``video_dir``, ``truth_dir``; ``sequences`` (names), ``config``; and the
ground truth per sequence, read back from the written files: ``motions[seq]``,
``keypoints3d[seq]`` (N, 17, 3) cm, ``keypoints2d[seq]`` (the pickle dict),
``truth[seq]`` (fault masks: ``missing`` (V, N), ``outlier``/``low_conf``/``visible`` (V, N, 17),
``swapped`` (V, N), ``clean`` (V, N, 17, 2) exact projections, ``distractor`` (V, N)),
``rig`` (the ground-truth ``CameraRig`` of setting1). Treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class SynthData:
    root: Path
    config: object
    sequences: list[str]
    anno_dir: Path = field(init=False)
    smpl_dir: Path = field(init=False)
    detections_dir: Path = field(init=False)
    video_dir: Path = field(init=False)
    truth_dir: Path = field(init=False)
    motions: dict = field(default_factory=dict)
    keypoints3d: dict = field(default_factory=dict)
    keypoints2d: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    rig: object = None

    def __post_init__(self) -> None:
        self.anno_dir = self.root / "annotations"
        self.smpl_dir = self.root / "smpl"
        self.detections_dir = self.root / "detections"
        self.video_dir = self.root / "videos"
        self.truth_dir = self.root / "truth"


def make_synth_data(root: Path, **options) -> SynthData:
    """Generate a dataset under ``root`` with ``SynthConfig`` ``options`` and read its ground truth back."""
    from aistpp.core import formats
    from aistpp.core.safe_pickle import safe_load
    from aistpp.pipeline.synth.generate import SynthConfig, generate

    config = SynthConfig(out=root, executor="serial", quiet=True, **options)
    summary = generate(root, config)
    failed = summary["report"].failed
    assert not failed, failed[0].error
    data = SynthData(root, config, list(summary["sequences"]))
    for seq in data.sequences:
        data.motions[seq] = formats.load_motion(data.anno_dir / "motions" / f"{seq}.pkl")
        data.keypoints3d[seq] = formats.load_keypoints3d(data.anno_dir / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
        data.keypoints2d[seq] = formats.load_keypoints2d(data.anno_dir / "keypoints2d" / f"{seq}.pkl")
        data.truth[seq] = safe_load(data.truth_dir / f"{seq}.pkl")
    data.rig = formats.load_cameras(data.anno_dir / "cameras" / "setting1.json")
    return data


def save_setting(anno: Path, rig, sequence: str, late: dict[int, int] | None = None) -> Path:
    """``<anno>/cameras/setting1.json`` (``rig``, views ``late`` {view index: frames} given that time
    offset for ``sequence``) and mapping.txt mapping ``sequence`` to it; returns ``anno``."""
    from aistpp.core import formats

    items = rig.to_json_list()
    for v, o in (late or {}).items():
        items[v].update(frame_offset=o, frame_offsets={sequence: o})
    formats.save_json(anno / "cameras" / "setting1.json", items)
    formats.write_mapping(anno / "cameras" / "mapping.txt", {sequence: "setting1"})
    return anno


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> SynthData:
    """2 sequences x 120 frames, 9 views (960x540), no videos."""
    return make_synth_data(tmp_path_factory.mktemp("synth"), seed=0, sequences=2, frames=120, videos=False)


@pytest.fixture(scope="session")
def synth_data_videos(tmp_path_factory) -> SynthData:
    """1 sequence x 24 frames, 9 views at 480x270, with videos."""
    return make_synth_data(tmp_path_factory.mktemp("synth_videos"), seed=1, sequences=1, frames=24,
                           image_scale=0.25, videos=True)


def pytest_terminal_summary(terminalreporter):
    """How many fuzz cases ran per loader (tests/test_fuzz.py)."""
    import sys

    fuzz = sys.modules.get("test_fuzz")
    if fuzz is not None and fuzz.CASES:
        total = sum(fuzz.CASES.values())
        detail = ", ".join(f"{name} {count}" for name, count in sorted(fuzz.CASES.items()))
        terminalreporter.write_line(f"fuzz: {total} cases ({detail})")
