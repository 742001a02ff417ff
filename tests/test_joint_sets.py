"""Joint sets by name: orders as each format documents them, maps through shared names, and the
BODY_25 / BODY_25B decision on geometry (people projected from a 3D stick figure the test builds)."""

from __future__ import annotations

import numpy as np
import pytest

from aistpp.core import joints
from aistpp.core.joint_sets import REGISTRY, body25_votes, convert, detect_joint_set, index_map, joint_set
from aistpp.errors import AistppError

from _figure import people

# Documented facts, index -> name, typed here from each format's documentation.
DOCUMENTED = {
    "coco17": {0: "nose", 1: "left_eye", 5: "left_shoulder", 6: "right_shoulder", 11: "left_hip", 16: "right_ankle"},
    "coco18": {1: "neck", 2: "right_shoulder", 8: "right_hip", 11: "left_hip", 14: "right_eye", 17: "left_ear"},
    "body25": {1: "neck", 2: "right_shoulder", 5: "left_shoulder", 8: "mid_hip", 15: "right_eye", 19: "left_big_toe",
               21: "left_heel", 24: "right_heel"},
    "body25b": {1: "left_eye", 2: "right_eye", 5: "left_shoulder", 17: "upper_neck", 18: "head_top",
                19: "left_big_toe", 24: "right_heel"},
    "halpe26": {17: "head_top", 18: "neck", 19: "mid_hip", 20: "left_big_toe", 21: "right_big_toe", 24: "left_heel"},
    "halpe136": {26: "face_0", 93: "face_67", 94: "left_hand_root", 115: "right_hand_root"},
    "wholebody133": {17: "left_big_toe", 19: "left_heel", 22: "right_heel", 23: "face_0", 91: "left_hand_root",
                     92: "left_thumb1", 111: "left_pinky_finger4", 112: "right_hand_root", 132: "right_pinky_finger4"},
    "blazepose33": {0: "nose", 2: "left_eye", 5: "right_eye", 7: "left_ear", 11: "left_shoulder", 12: "right_shoulder",
                    16: "right_wrist", 23: "left_hip", 28: "right_ankle", 29: "left_heel", 32: "right_foot_index"},
}
COUNTS = {"coco17": 17, "coco18": 18, "body25": 25, "body25b": 25, "halpe26": 26, "halpe136": 136,
          "wholebody133": 133, "blazepose33": 33}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_orders_match_the_documentation(name):
    s = REGISTRY[name]
    assert len(s) == COUNTS[name] and len(set(s.names)) == len(s.names)
    for i, n in DOCUMENTED[name].items():
        assert s.names[i] == n, (name, i)
    bones = s.bones
    assert bones.min() >= 0 and bones.max() < len(s) and (bones[:, 0] != bones[:, 1]).all()
    # every body point is in some bone (face points are drawn as points only)
    body = {i for i, n in enumerate(s.names) if not n.startswith("face_") and not n.startswith("mouth")}
    assert body <= set(bones.ravel()), [s.names[i] for i in body - set(bones.ravel())]
    # mirroring twice is the identity, and left joints mirror to right ones
    assert (s.flip[s.flip] == np.arange(len(s))).all()
    assert all(s.sides[s.flip[j]] == {0: 0, 1: 2, 2: 1}[s.sides[j]] for j in range(len(s)))


def test_names_aliases_and_the_older_interface():
    assert joint_set("BODY_25B").name == "body25b" and joint_set("coco-wholebody").name == "wholebody133"
    assert joint_set("MediaPipe").name == "blazepose33" and joint_set("Halpe-26").name == "halpe26"
    with pytest.raises(AistppError, match="unknown joint set"):
        joint_set("body26")
    assert joints.JOINT_SETS["body25"] == joints.OPENPOSE_BODY25 and joints.COCO17 == REGISTRY["coco17"].names
    assert joints.COCO_BONES.shape == (16, 2)


def test_maps_to_coco_and_between_rich_sets():
    rng = np.random.default_rng(0)
    for name in COUNTS:
        s = REGISTRY[name]
        kp = rng.normal(size=(4, len(s), 3)).astype(np.float32)
        coco = convert(kp, name)
        for k, n in enumerate(REGISTRY["coco17"].names):
            if n in s.names:
                assert np.array_equal(coco[:, k], kp[:, s.names.index(n)])
            else:
                assert np.isnan(coco[:, k]).all()
    # every detector set holds the 17 COCO points
    assert all((REGISTRY[n].coco_index >= 0).all() for n in COUNTS)
    # feet: BODY_25 <-> COCO-WholeBody <-> HALPE-26 map onto each other; BlazePose shares the heels only
    feet = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
    for a in ("body25", "body25b", "halpe26", "wholebody133"):
        assert (index_map(REGISTRY[a].names, feet) >= 0).all()
    assert list(index_map(REGISTRY["blazepose33"].names, feet) >= 0) == [False, False, True, False, False, True]
    # the neck of BODY_25 is HALPE's neck, not BODY_25B's upper neck
    assert "neck" not in REGISTRY["body25b"].names and "neck" in REGISTRY["halpe26"].names


@pytest.mark.parametrize("name", ["body25", "body25b"])
def test_25_point_sets_are_told_apart_by_geometry(name):
    rng = np.random.default_rng(1 if name == "body25" else 2)
    kp = people(name, 60, rng)
    found, how = detect_joint_set(25, kp)
    assert found == name, how
    assert "geometry" in how
    votes = body25_votes(kp)
    assert votes[found == "body25b"] >= 57, votes  # nearly every single person votes right


def test_25_points_without_enough_evidence_are_refused():
    rng = np.random.default_rng(3)
    with pytest.raises(AistppError, match="--joint-set body25"):
        detect_joint_set(25, people("body25", 3, rng))  # too few people
    mixed = np.concatenate([people("body25", 20, rng), people("body25b", 20, rng)])
    with pytest.raises(AistppError, match="cannot tell"):
        detect_joint_set(25, mixed)
    with pytest.raises(AistppError, match="cannot tell"):
        detect_joint_set(25, rng.uniform(0, 1000, (50, 25, 3)))  # no body at all: not settled either way
    with pytest.raises(AistppError, match="no known joint set has that many"):
        detect_joint_set(21)


@pytest.mark.parametrize("count,name", [(17, "coco17"), (18, "coco18"), (26, "halpe26"), (33, "blazepose33"),
                                        (133, "wholebody133"), (136, "halpe136")])
def test_unique_counts_name_their_set(count, name):
    assert detect_joint_set(count) == (name, f"count: {count} points")
