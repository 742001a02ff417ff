"""docs/contributing.md's recipes, followed once: a joint set and a detector format defined here
alone (``register_joint_set``, ``register_frame_format``) flow through preprocess and triangulate.

The toy detector writes per-frame files of its own shape, ``{"figures": [{"pts": {...}, "conf":
s}]}`` with the joints keyed by index in a toy 20-point set (COCO-17's joints in another order,
plus neck, mid-hip and head top). Ground truth: the shared synthetic dataset's 3D keypoints,
projected by its cameras here, and the toy's points placed from them with the test's own rules.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from aistpp.core import detections, formats, joint_sets
from aistpp.core.joint_sets import COCO17, JointSet, register_joint_set
from aistpp.core.names import video_name

TOY_NAMES = tuple(reversed(COCO17[5:])) + ("neck", "mid_hip", "head_top") + COCO17[:5]  # 20 points
TOY_BONES = (("neck", "head_top"), ("neck", "mid_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
             ("right_hip", "right_knee"), ("right_knee", "right_ankle"))


@pytest.fixture
def toy_registries():
    """The toy set and format registered for one test, the registries restored after it."""
    saved = (dict(joint_sets.REGISTRY), dict(joint_sets.JOINT_SETS), list(joint_sets.DETECTOR_SETS),
             dict(joint_sets.SETS_BY_COUNT), dict(detections.FRAME_FORMATS))
    register_joint_set(JointSet("toy20", "Toy-20", TOY_NAMES, TOY_BONES, ("toy",)))
    detections.register_frame_format(detections.FrameFormat(
        "toyjson",
        matches=lambda data: isinstance(data, dict) and isinstance(data.get("figures"), list),
        people=lambda data: ([[f["pts"][str(j)] for j in range(len(f["pts"]))] for f in data["figures"]],
                             [f["conf"] for f in data["figures"]]),
    ))
    yield
    for live, old in zip((joint_sets.REGISTRY, joint_sets.JOINT_SETS, joint_sets.SETS_BY_COUNT,
                          detections.FRAME_FORMATS), (saved[0], saved[1], saved[3], saved[4])):
        live.clear()
        live.update(old)
    joint_sets.DETECTOR_SETS[:] = saved[2]
    joint_sets._bones.cache_clear()


def _toy_points(coco: np.ndarray) -> np.ndarray:
    """(..., 17, 2) COCO px -> (..., 20, 2) in the toy order (neck: mid-shoulders, mid-hip: mid-hips,
    head top: 1.5 ear-to-ear widths above the nose)."""
    c = {n: coco[..., i, :] for i, n in enumerate(COCO17)}
    extra = {"neck": (c["left_shoulder"] + c["right_shoulder"]) / 2, "mid_hip": (c["left_hip"] + c["right_hip"]) / 2,
             "head_top": c["nose"] - [0.0, 1.5] * np.linalg.norm(c["left_ear"] - c["right_ear"], axis=-1)[..., None]}
    return np.stack([c[n] if n in c else extra[n] for n in TOY_NAMES], axis=-2)


def test_a_toy_joint_set_and_detector_format_flow_through_preprocess_and_triangulate(
        synth_data, tmp_path, toy_registries):
    from aistpp.pipeline.preprocess import PreprocessConfig, run_preprocess
    from aistpp.pipeline.triangulate import TriangulateConfig, run_triangulate

    seq, N = synth_data.sequences[0], 40
    rig = synth_data.rig
    truth3d = synth_data.keypoints3d[seq][:N]  # (N, 17, 3) cm
    rng = np.random.default_rng(5)
    clean = rig.project(truth3d)  # (V, N, 17, 2)
    coco = clean + rng.normal(0, 0.5, clean.shape)
    toy = _toy_points(coco)  # (V, N, 20, 2)
    conf = rng.uniform(0.6, 1.0, toy.shape[:-1])
    for v, view in enumerate(rig.names):
        folder = tmp_path / "det" / video_name(seq, view)
        folder.mkdir(parents=True)
        for i in range(N):
            figure = {"pts": {str(j): [*map(float, toy[v, i, j]), float(conf[v, i, j])] for j in range(20)},
                      "conf": 0.9}
            (folder / f"shot-{i:05d}.json").write_text(json.dumps({"figures": [figure]}))
    anno = tmp_path / "anno"
    formats.write_mapping(anno / "cameras" / "mapping.txt", {seq: "setting1"})
    formats.save_cameras(anno / "cameras" / "setting1.json", rig)

    report = run_preprocess(PreprocessConfig(keypoints_dir=tmp_path / "det", anno_dir=anno,
                                             save_dir=anno / "keypoints2d", executor="serial", quiet=True))
    assert not report.failed, report.failed[0].error if report.failed else ""
    assert report.items[0].info["format"] == "toyjson" and report.items[0].info["joint_set"] == "toy20"
    kp = formats.load_keypoints2d(anno / "keypoints2d" / f"{seq}.pkl")
    assert kp["joint_set"] == "toy20" and kp["keypoints2d_full"].shape == (len(rig), N, 20, 3)
    np.testing.assert_allclose(kp["keypoints2d"][..., :2], coco, atol=1e-3)  # COCO-17 back in COCO order
    np.testing.assert_allclose(kp["keypoints2d"][..., 2], conf[..., [TOY_NAMES.index(n) for n in COCO17]], atol=1e-6)

    report = run_triangulate(TriangulateConfig(anno_dir=anno, save_dir=anno / "keypoints3d", executor="serial",
                                               quiet=True))
    assert not report.failed, report.failed[0].error if report.failed else ""
    pts = formats.load_keypoints3d(anno / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
    err = np.linalg.norm(pts - truth3d, axis=-1)
    assert np.median(err) < 1.0 and err.max() < 5.0, (np.median(err), err.max())


def test_a_joint_set_with_unknown_bone_names_is_refused():
    from aistpp.errors import AistppError

    with pytest.raises(AistppError, match="unknown joints"):
        register_joint_set(JointSet("bad", "Bad", ("a", "b"), (("a", "c"),)), detector=False)
    assert "bad" not in joint_sets.REGISTRY
