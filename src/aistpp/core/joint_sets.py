"""Joint sets by name: the one registry of the 2D keypoint orders aistpp reads.

Each ``JointSet`` holds its joint names in the detector's order, a skeleton (bones as index
pairs) and, through shared joint names, its map to COCO-17 and to every other set: two sets
map where they hold a joint of the same name (``index_map``). Names are one vocabulary:
``left_``/``right_`` are the person's own sides; ``neck`` is the base of the neck between the
shoulders (OpenPose BODY_25 / COCO-18, HALPE), ``upper_neck`` BODY_25B's point under the
chin, ``head_top`` the top of the head, ``mid_hip`` the point between the hips.

Orders, from each format's documentation:
- ``coco17``: COCO keypoints (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
- ``coco18``: OpenPose COCO (``--model_pose COCO``): COCO's points with a neck, OpenPose order.
- ``body25``: OpenPose BODY_25 (``output_formats.md``): 0 nose, 1 neck, 2-4 right arm, 5-7 left
  arm, 8 mid_hip, 9-11 right leg, 12-14 left leg, 15-18 eyes/ears, 19-24 feet.
- ``body25b``: OpenPose experimental BODY_25B (openpose_train ``experimental_models``): the 17
  COCO points in COCO order, 17 upper_neck, 18 head_top, 19-24 feet as BODY_25.
- ``halpe26``: AlphaPose HALPE-26: COCO-17, 17 head_top, 18 neck, 19 mid_hip, 20-25 toes and heels.
- ``halpe136``: HALPE full body: HALPE-26, 68 face points, 21 left-hand and 21 right-hand points.
- ``wholebody133``: COCO-WholeBody: COCO-17, 6 foot points, 68 face points, left hand, right hand
  (21 each: root, then four points per finger from thumb to pinky).
- ``blazepose33``: MediaPipe / BlazePose pose landmarks (33).
- ``smpl24``: the SMPL skeleton's joints (for drawing fitted motions; not a detector set); every
  registered body model's skeleton is a set too (``skeleton_set``).

``detect_joint_set`` names the set of a detector's output only where the data settle it: by the
number of points, and for the two 25-point OpenPose sets by geometry on the frames (BODY_25's
point 1 is a neck between its shoulders 2 and 5, BODY_25B's an eye beside the nose). Otherwise
it raises, asking for ``--joint-set``: a set is never guessed. 17 points are COCO-17 only when
points 0-4 form a head (``coco17_votes``): Human3.6M's 17-point order is refused, not misread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import warnings

import numpy as np

from aistpp.errors import AistppError

# ---- names ---------------------------------------------------------------------------------
COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
FEET6 = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")

OPENPOSE_BODY25 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "mid_hip", "right_hip",
    "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
) + FEET6  # fmt: skip
OPENPOSE_BODY25B = COCO17 + ("upper_neck", "head_top") + FEET6
OPENPOSE_COCO18 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee",
    "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
    "left_eye", "right_ear", "left_ear",
)  # fmt: skip
HALPE26 = COCO17 + (
    "head_top", "neck", "mid_hip", "left_big_toe", "right_big_toe", "left_small_toe",
    "right_small_toe", "left_heel", "right_heel",
)  # fmt: skip
FACE68 = tuple(f"face_{i}" for i in range(68))
_FINGERS = ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")


def _hand(side: str) -> tuple[str, ...]:
    return (f"{side}_hand_root",) + tuple(f"{side}_{f}{k}" for f in _FINGERS for k in range(1, 5))


HANDS42 = _hand("left") + _hand("right")
WHOLEBODY133 = COCO17 + FEET6 + FACE68 + HANDS42
HALPE136 = HALPE26 + FACE68 + HANDS42
BLAZEPOSE33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand_pinky", "right_hand_pinky", "left_hand_index", "right_hand_index",
    "left_hand_thumb", "right_hand_thumb", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
# ---- skeletons, as pairs of names ---------------------------------------------------------------
_COCO_FACE = (("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"))
_COCO_TORSO = (("left_shoulder", "right_shoulder"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
               ("left_hip", "right_hip"))
_ARMS = (("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
         ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"))
_LEGS = (("left_hip", "left_knee"), ("left_knee", "left_ankle"),
         ("right_hip", "right_knee"), ("right_knee", "right_ankle"))
_COCO_BONES = _COCO_FACE + _COCO_TORSO + _ARMS + _LEGS  # the order of aistpp's COCO drawing
_FEET = tuple((f"{s}_ankle", f"{s}_{p}") for s in ("left", "right") for p in ("big_toe", "heel")) + \
    tuple((f"{s}_big_toe", f"{s}_small_toe") for s in ("left", "right"))
_NECK_TREE = (("neck", "left_shoulder"), ("neck", "right_shoulder"), ("neck", "nose"))
_OPENPOSE_FACE = (("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"))
_BODY25 = (_NECK_TREE + (("neck", "mid_hip"), ("mid_hip", "left_hip"), ("mid_hip", "right_hip")) + _OPENPOSE_FACE
           + _ARMS + _LEGS + _FEET)
_COCO18 = _NECK_TREE + (("neck", "left_hip"), ("neck", "right_hip")) + _OPENPOSE_FACE + _ARMS + _LEGS
_BODY25B = _COCO_BONES + (("upper_neck", "head_top"), ("upper_neck", "left_shoulder"),
                          ("upper_neck", "right_shoulder")) + _FEET
_HALPE26 = (_COCO_FACE + (("head_top", "neck"),) + _NECK_TREE + (("neck", "mid_hip"), ("mid_hip", "left_hip"),
            ("mid_hip", "right_hip")) + _ARMS + _LEGS + _FEET)


def _hand_bones(side: str) -> tuple[tuple[str, str], ...]:
    out = [(f"{side}_wrist", f"{side}_hand_root")]
    for f in _FINGERS:
        chain = [f"{side}_hand_root"] + [f"{side}_{f}{k}" for k in range(1, 5)]
        out += list(zip(chain[:-1], chain[1:]))
    return tuple(out)


_HAND_BONES = _hand_bones("left") + _hand_bones("right")
_BLAZEPOSE = (
    ("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"), ("left_eye", "left_eye_outer"),
    ("left_eye_outer", "left_ear"), ("nose", "right_eye_inner"), ("right_eye_inner", "right_eye"),
    ("right_eye", "right_eye_outer"), ("right_eye_outer", "right_ear"), ("mouth_left", "mouth_right"),
) + _COCO_TORSO + _ARMS + _LEGS + tuple(
    pair for s in ("left", "right") for pair in (
        (f"{s}_wrist", f"{s}_hand_pinky"), (f"{s}_wrist", f"{s}_hand_index"), (f"{s}_wrist", f"{s}_hand_thumb"),
        (f"{s}_hand_pinky", f"{s}_hand_index"), (f"{s}_ankle", f"{s}_heel"), (f"{s}_heel", f"{s}_foot_index"),
        (f"{s}_ankle", f"{s}_foot_index"))
)  # fmt: skip


@dataclass(frozen=True)
class JointSet:
    """One keypoint order: ``names`` (J,), ``bones`` (B, 2) int indices, ``title`` for messages."""

    name: str
    title: str
    names: tuple[str, ...]
    bone_names: tuple[tuple[str, str], ...] = field(repr=False)
    aliases: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.names)

    @property
    def bones(self) -> np.ndarray:
        return _bones(self.name)

    @property
    def sides(self) -> np.ndarray:
        """(J,) 0 centre, 1 left, 2 right (for colours)."""
        return np.array([1 if n.startswith("left") else 2 if n.startswith("right") else 0 for n in self.names])

    @property
    def flip(self) -> np.ndarray:
        """(J,) index of the mirrored joint (left <-> right; itself for a centre joint)."""
        return index_map(self.names, tuple(_mirror(n) for n in self.names))

    @property
    def coco_index(self) -> np.ndarray:
        """(17,) index of each COCO-17 joint in this set (-1 where the set lacks it)."""
        return index_map(self.names, COCO17)

    @property
    def beyond_coco(self) -> bool:
        """True when the set has points COCO-17 does not (feet, neck, hands...)."""
        return bool(set(self.names) - set(COCO17))


def _mirror(name: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if name.startswith(a):
            return b + name[len(a):]
        if name.endswith("_" + a):  # mouth_left
            return name[: -len(a)] + b
    return name


def skeleton_set(model) -> JointSet:
    """A body model's skeleton as a joint set (``smpl24``: for drawing fitted motions)."""
    names = model.joint_names
    return JointSet(model.skeleton_name, f"{model.title}-{len(names)}", names,
                    tuple((names[p], names[c]) for c, p in enumerate(model.parents) if p >= 0), (model.name,))


REGISTRY: dict[str, JointSet] = {s.name: s for s in (
    JointSet("coco17", "COCO-17", COCO17, _COCO_BONES, ("coco", "coco_17")),
    JointSet("coco18", "OpenPose COCO-18", OPENPOSE_COCO18, _COCO18, ("openpose_coco", "coco_18")),
    JointSet("body25", "OpenPose BODY_25", OPENPOSE_BODY25, _BODY25, ("body_25", "openpose")),
    JointSet("body25b", "OpenPose BODY_25B", OPENPOSE_BODY25B, _BODY25B, ("body_25b",)),
    JointSet("halpe26", "HALPE-26 (AlphaPose)", HALPE26, _HALPE26, ("halpe", "halpe_26")),
    JointSet("halpe136", "HALPE-136 (AlphaPose full body)", HALPE136, _HALPE26 + _HAND_BONES, ("halpe_136",)),
    JointSet("wholebody133", "COCO-WholeBody-133", WHOLEBODY133, _COCO_BONES + _FEET + _HAND_BONES,
             ("coco_wholebody", "wholebody", "coco133", "coco_wholebody_133", "rtmpose_wholebody")),
    JointSet("blazepose33", "BlazePose / MediaPipe Pose (33)", BLAZEPOSE33, _BLAZEPOSE,
             ("blazepose", "mediapipe", "mediapipe33", "mediapipe_pose")),
    # each registered body model's skeleton (smpl24, ...) is added by core.body_models.register
)}  # fmt: skip
JOINT_SETS = {name: s.names for name, s in REGISTRY.items()}  # name -> joint names (the older interface)
DETECTOR_SETS = list(REGISTRY)  # the body models' skeletons are registered with detector=False
# Point counts -> the detector sets with that many points (two for 25: settled by geometry).
SETS_BY_COUNT: dict[int, tuple[str, ...]] = {}
for _n in DETECTOR_SETS:
    SETS_BY_COUNT.setdefault(len(REGISTRY[_n]), ())
    SETS_BY_COUNT[len(REGISTRY[_n])] += (_n,)


def register_joint_set(s: JointSet, detector: bool = True) -> JointSet:
    """Add ``s`` to the registry at run time (a set shipped with aistpp is one ``JointSet(...)`` line
    in ``REGISTRY`` above instead). Its names must come from the shared vocabulary (module
    docstring): that is what maps it to COCO-17 and every other set. ``detector``: a detector's
    output, told apart by its point count when no other detector set has as many points."""
    unknown = {n for pair in s.bone_names for n in pair} - set(s.names)
    if len(set(s.names)) != len(s.names) or unknown:
        raise AistppError(f"joint set {s.name!r}: repeated joint names, or bones between unknown joints {sorted(unknown)}")
    REGISTRY[s.name] = s
    JOINT_SETS[s.name] = s.names
    _bones.cache_clear()
    if detector and s.name not in DETECTOR_SETS:
        DETECTOR_SETS.append(s.name)
        SETS_BY_COUNT[len(s)] = SETS_BY_COUNT.get(len(s), ()) + (s.name,)
    return s


def _key(text: str) -> str:
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def joint_set(name: str) -> JointSet:
    """The set named ``name`` (its name or an alias; case, '-' and '_' do not matter)."""
    key = _key(name)
    for s in REGISTRY.values():
        if key == s.name or key in s.aliases or key.replace("_", "") == s.name:
            return s
    raise AistppError(f"unknown joint set {name!r}; known: {', '.join(DETECTOR_SETS)}")


def index_map(source: tuple[str, ...], target: tuple[str, ...] = COCO17) -> np.ndarray:
    """Indices into ``source`` of each joint of ``target`` (``-1`` where ``source`` lacks it)."""
    where = {name: i for i, name in enumerate(source)}
    return np.array([where.get(name, -1) for name in target], dtype=np.int64)


@lru_cache(maxsize=None)
def _bones(name: str) -> np.ndarray:
    s = REGISTRY[name]
    where = {n: i for i, n in enumerate(s.names)}
    out = np.array([[where[a], where[b]] for a, b in s.bone_names], dtype=np.int64).reshape(-1, 2)
    out.setflags(write=False)  # shared (cached): read-only
    return out


def convert(keypoints: np.ndarray, source: str, target: str = "coco17") -> np.ndarray:
    """(..., J_source, C) in set ``source`` -> (..., J_target, C) float32 in ``target`` (NaN where
    ``source`` lacks a joint)."""
    idx = index_map(joint_set(source).names, joint_set(target).names)
    kp = np.asarray(keypoints)
    out = kp[..., np.maximum(idx, 0), :].astype(np.float32, copy=True)
    out[..., idx < 0, :] = np.nan
    return out


# ---- telling a set from the data ---------------------------------------------------------------
MIN_DECIDED = 5  # people whose geometry must agree before a 25-point set is named
AGREEMENT = 0.9  # share of those that must agree


def body25_votes(keypoints: np.ndarray) -> tuple[int, int]:
    """(people that look like BODY_25, people that look like BODY_25B) among (E, 25, >=2) px.

    BODY_25's point 1 is the neck, on the segment between its shoulders (points 2 and 5) and
    far from the nose (point 0); BODY_25B's point 1 is the left eye, beside the nose, and far
    from the midpoint of its points 2 (right eye) and 5 (left shoulder). ``r = |p1 - mid(p2,
    p5)| / |p1 - p0|`` is below 0.3 for BODY_25 and above 1.4 for BODY_25B (a figure seen from every
    side, arms raised or not), whatever the person's size: a person votes BODY_25 below 0.6 and
    BODY_25B above 1.0 (in between: no vote).
    """
    xy = np.asarray(keypoints, np.float64)[..., :2]
    if xy.ndim != 3 or xy.shape[1] != 25 or not len(xy):
        return 0, 0
    pt0, pt1, pt2, pt5 = xy[:, 0], xy[:, 1], xy[:, 2], xy[:, 5]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.linalg.norm(pt1 - (pt2 + pt5) / 2, axis=-1) / np.linalg.norm(pt1 - pt0, axis=-1)
    ok = np.isfinite(r)
    return int(np.count_nonzero(ok & (r < 0.6))), int(np.count_nonzero(ok & (r > 1.0)))


def coco17_votes(keypoints: np.ndarray) -> tuple[int, int]:
    """(people whose points 0-4 form a head, people whose points 0-4 do not) among (E, 17, >=2) px.

    In COCO-17 points 0-4 are the nose, eyes and ears: every one within a few percent of the
    person's extent from the nose. A 17-point file in another order (Human3.6M's starts pelvis,
    right hip, knee, foot, left hip) spreads them over half the body. ``r`` = the largest
    distance of points 1-4 from point 0 over the diagonal of the person's box: about 0.03-0.12 for
    a COCO person of any size seen from any side, 0.25-0.6 for Human3.6M's order. A person with
    at least 8 points seen (confidence > 0) votes COCO-17 below 0.2 and against above 0.3.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[2] < 2 or not len(kp):
        return 0, 0
    xy = kp[..., :2].copy()
    seen = np.isfinite(xy).all(-1)
    if kp.shape[2] >= 3:
        seen &= np.nan_to_num(kp[..., 2]) > 0
    xy[~seen] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN people: no vote
        diag = np.linalg.norm(np.nanmax(xy, 1) - np.nanmin(xy, 1), axis=-1)
        head = np.nanmax(np.linalg.norm(xy[:, 1:5] - xy[:, :1], axis=-1), axis=1)
        r = head / diag
    ok = np.isfinite(r) & (seen.sum(1) >= 8) & (seen[:, 0]) & (seen[:, 1:5].sum(1) >= 2) & (diag > 0)
    return int(np.count_nonzero(ok & (r < 0.2))), int(np.count_nonzero(ok & (r > 0.3)))


def check_geometry(name: str, keypoints: np.ndarray, where: str = "") -> None:
    """Refuse people (E, J, >=2) px whose geometry says they are not in set ``name``, named or
    settled by count: BODY_25 named for BODY_25B's points or the other way (``body25_votes``), or
    17 points whose points 0-4 are not a head (``coco17_votes``: Human3.6M's order, say). A set
    misread would be silently wrong everywhere downstream."""
    if name in ("body25", "body25b"):
        votes = dict(zip(("body25", "body25b"), body25_votes(keypoints)))
        other = "body25b" if name == "body25" else "body25"
        if votes[other] >= MIN_DECIDED and votes[other] >= AGREEMENT * sum(votes.values()):
            raise AistppError(f"--joint-set {name}, but point 1 of {votes[other]} of {sum(votes.values())} people is "
                              f"{'an eye beside the nose' if other == 'body25b' else 'a neck between the shoulders'}: "
                              f"the file looks like {other}", where or None)
    elif name == "coco17":
        coco, other = coco17_votes(keypoints)
        if other >= MIN_DECIDED and other >= AGREEMENT * (coco + other):
            raise AistppError(
                f"17 keypoints, but points 0-4 are not a head (nose, eyes, ears) in {other} of {coco + other} people: "
                "not in COCO-17 order (Human3.6M's?); convert the file to COCO-17 order", where or None)


def detect_joint_set(count: int, keypoints: np.ndarray | None = None, where: str = "") -> tuple[str, str]:
    """Name the joint set of people with ``count`` points: (set name, how it was settled).

    ``keypoints`` (E, count, >=2) px of the people seen (for the 25-point sets). Raises
    ``AistppError`` asking for ``--joint-set`` when the count is unknown or the geometry does
    not settle BODY_25 against BODY_25B.
    """
    names = SETS_BY_COUNT.get(count, ())
    known = ", ".join(f"{n} ({len(REGISTRY[n])})" for n in DETECTOR_SETS)
    if not names:
        raise AistppError(f"people have {count} keypoints: no known joint set has that many ({known}); "
                          "pass --joint-set if yours is one of them", where or None)
    if len(names) == 1:
        if keypoints is not None:
            check_geometry(names[0], keypoints, where)
        return names[0], f"count: {count} points"
    if set(names) != {"body25", "body25b"}:  # pragma: no cover - the registry has no other tie
        raise AistppError(f"{count} points could be {' or '.join(names)}: pass --joint-set", where or None)
    votes = body25_votes(keypoints) if keypoints is not None else (0, 0)
    total = sum(votes)
    if total >= MIN_DECIDED:
        for name, n in zip(("body25", "body25b"), votes):
            if n >= AGREEMENT * total:
                what = "neck" if name == "body25" else "eye"
                return name, f"geometry: point 1 = {what} in {n}/{total} people"
    raise AistppError(
        f"25 keypoints: cannot tell OpenPose BODY_25 from BODY_25B (point 1 looks like a neck in {votes[0]} "
        f"and like an eye in {votes[1]} people): pass --joint-set body25 or --joint-set body25b", where or None)
