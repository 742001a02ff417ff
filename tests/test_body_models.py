"""The body-model seam (issue 15 item 2): SMPL's numbers live in one file, and a body model
defined here alone (the "new body model" recipe of docs/contributing.md) flows through
triangulation and the fit and recovers its own ground truth.

The toy model's truth is posed by ``smplx.lbs.lbs`` (the peer's generic skinning, any tree),
not by aistpp's poser; its keypoint set has its own names, mapped explicitly.
"""

from __future__ import annotations

import pickle
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aistpp.core import body_models
from aistpp.core.body_models import SMPL, BodyModel, Landmark, Limb, get_body_model
from aistpp.core.joint_sets import REGISTRY, JointSet
from aistpp.errors import AistppError

SRC = Path(__file__).resolve().parents[1] / "src" / "aistpp"

# ---- 1. SMPL's constants appear only in its definition -----------------------------------------------
SMPL_DEFINITION = SRC / "core" / "body_models" / "smpl.py"
# Everywhere (code, docstrings, comments): 24 joints -> 72 pose numbers, 207 pose-blend features, 6890
# vertices (not inside decimals such as 1.72); hard-wired slices of the 24 joints; the older names of SMPL
# facts (SMPL_PARENTS, NUM_SMPL, ...). A layout's prose may name the model files (SMPL_MALE.pkl).
SMPL_PATTERN = re.compile(r"(?<![.\d])(72|207|6890)(?![.\d])|\[:, ?:24\]|NUM_SMPL|SMPL_[A-Z]+\b(?!\.pkl)")
# In code (strings that are not docstrings): no model file name spelled out, no second model-file check.
CODE_PATTERN = re.compile(r"SMPL_|SMPL model file")
VENDORED = ("static/vendor",)  # the three.js bundle


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the string tokens that are not docstrings (a string alone as a statement)."""
    statement_start = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)
    out, prev = [], tokenize.ENCODING
    with open(path, "rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type == tokenize.STRING and prev not in statement_start:
                out.append((tok.start[0], tok.string))
            elif tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):  # Python >= 3.12 splits f-strings
                out.append((tok.start[0], tok.string))
            if tok.type not in (tokenize.COMMENT, tokenize.NL):
                prev = tok.type
    return out


def test_smpl_constants_only_in_the_smpl_definition():
    """A grep of src/ for SMPL's numbers and names finds them only in body_models/smpl.py, and
    the one model-file check only in body_models/base.py."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SMPL_DEFINITION or any(part in path.as_posix() for part in VENDORED):
            continue
        rel = path.relative_to(SRC).as_posix()
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SMPL_PATTERN.search(line):
                found.append(f"{rel}:{k}: {line.strip()}")
        if rel != "core/body_models/base.py":
            found += [f"{rel}:{k}: {text}" for k, text in _code_strings(path) if CODE_PATTERN.search(text)]
    assert not found, "SMPL constants outside core/body_models/smpl.py:\n" + "\n".join(found)


def test_the_grep_would_catch_them():
    """The pattern matches what the seam removed (so the test above can fail)."""
    for line in ("poses.reshape(n, 72)", "pts[:, :24]", "from aistpp.core.joints import NUM_SMPL",
                 "SMPL_PARENTS[k]", "(6890, 3)", "(N, 207)", "72,"):
        assert SMPL_PATTERN.search(line), line
    for line in ("height 1.72 m", "<smpl_dir>/SMPL_MALE.pkl", "0.072"):
        assert not SMPL_PATTERN.search(line), line
    assert CODE_PATTERN.search('f"SMPL_{g}.pkl"')
    strings = [t for _, t in _code_strings(SRC / "core" / "body_models" / "base.py")]
    assert any("model file not found" in t for t in strings)  # code strings are seen, docstrings are not
    assert not any("BodyModel``: what aistpp needs" in t for t in strings)
    assert "6890" in SMPL_DEFINITION.read_text(encoding="utf-8") and "72" in SMPL_DEFINITION.read_text(encoding="utf-8")


# ---- 2. SMPL's description agrees with smplx and the release ------------------------------------------
def test_smpl_description_matches_smplx():
    """Joint names, parents, vertex joints and sizes as smplx defines SMPL (its own tables)."""
    from smplx.joint_names import JOINT_NAMES
    from smplx.vertex_ids import vertex_ids

    # SMPL-X's first 22 joints are SMPL's; SMPL ends with a hand joint per side instead of the jaw and eyes
    assert SMPL.joint_names == tuple(JOINT_NAMES[:22]) + ("left_hand", "right_hand")
    assert SMPL.pose_size == 72 and SMPL.pose_blend_size == 207 and SMPL.num_vertices == 6890
    smplx_landmarks = {k: int(v) for k, v in vertex_ids["smplh"].items()}
    for lm in SMPL.landmarks:
        name = {"left_big_toe": "LBigToe", "left_small_toe": "LSmallToe", "left_heel": "LHeel",
                "right_big_toe": "RBigToe", "right_small_toe": "RSmallToe", "right_heel": "RHeel",
                "left_thumb": "lthumb", "left_index": "lindex", "left_middle": "lmiddle", "left_ring": "lring",
                "left_pinky": "lpinky", "right_thumb": "rthumb", "right_index": "rindex",
                "right_middle": "rmiddle", "right_ring": "rring", "right_pinky": "rpinky",
                "right_eye": "reye", "left_eye": "leye", "right_ear": "rear", "left_ear": "lear"}.get(lm.name, lm.name)
        assert smplx_landmarks[name] == lm.vertex, lm.name
    # mirror: every left joint maps to the right joint of the same part and back; the centre to itself
    for j, m in enumerate(SMPL.mirror):
        a, b = SMPL.joint_names[j], SMPL.joint_names[m]
        side = a.split("_")[0]
        assert b == ({"left": "right", "right": "left"}[side] + a[len(side):] if side in ("left", "right") else a)
        assert SMPL.mirror[m] == j
    assert SMPL.observed_index("coco17").tolist() == [24, 26, 25, 28, 27, 16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8]


def test_smpl_outputs_in_smplx_order():
    """Output point k of the description is smplx.SMPL's joint k: the skeleton joints, then each
    landmark read off its vertex (posed, on a random pose of the synthetic SMPL-format model)."""
    from smplx import SMPL as SmplxSMPL
    from smplx.utils import Struct

    from aistpp.core.body import smpl_forward
    from aistpp.pipeline.synth.body_model import make_body_model

    model = SmplxSMPL("synth.pkl", data_struct=Struct(**make_body_model("neutral")), num_betas=10)
    poses = np.random.default_rng(4).normal(0, 0.3, (3, SMPL.pose_size))
    joints, verts = smpl_forward(model, poses, np.zeros((3, 3)), 100.0, vertices=True)
    assert joints.shape[1] == SMPL.num_outputs and verts.shape[1] == SMPL.num_vertices
    for k, lm in enumerate(SMPL.landmarks):
        assert np.allclose(joints[:, SMPL.num_joints + k], verts[:, lm.vertex], atol=1e-4), lm.name


def test_synthetic_motion_stays_inside_the_fit_limits():
    """The synthetic dance's ranges (one table) lie inside the fit's anatomical limits (another)
    wherever the fit limits a joint, on both sides (both mirrored by the same rule)."""
    for (name, axis), (lo, hi) in SMPL.motion_range.items():
        if name in SMPL.limits:
            flo, fhi = SMPL.limits[name][axis]
            assert flo <= lo <= hi <= fhi, (name, axis)
    assert ("right_elbow", 1) in SMPL.motion_range and SMPL.motion_range[("right_elbow", 1)] == (0.0, 2.2)


def test_registry_and_model_file_check(tmp_path):
    assert get_body_model("smpl") is SMPL and get_body_model("SMPL") is SMPL
    copy = pickle.loads(pickle.dumps(SMPL))  # jobs in worker processes may carry it
    assert copy == SMPL and copy.limits == SMPL.limits and np.array_equal(copy.mirror, SMPL.mirror)
    with pytest.raises(TypeError):
        SMPL.limits["left_knee"] = ((0, 0),) * 3  # a frozen description: its tables are read-only
    with pytest.raises(AistppError, match="unknown body model"):
        get_body_model("smplz")
    with pytest.raises(AistppError, match="model file not found") as exc:
        SMPL.require_file(tmp_path, "female")
    assert exc.value.path == tmp_path / "SMPL_FEMALE.pkl"


# ---- 3. the recipe: a toy body model defined here alone --------------------------------------------------
TOY_JOINTS = ("root", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
              "spine", "neck", "head")
TOY_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8)
TOY_REST = np.array([[0, .95, 0], [.11, .90, -.01], [.12, .50, .02], [.12, .09, -.02], [-.11, .90, -.01],
                     [-.12, .50, .02], [-.12, .09, -.02], [0, 1.20, -.02], [0, 1.47, 0], [0, 1.58, .03]])
CROWN = np.array([0.0, 1.76, 0.05])  # a landmark vertex on the head
# The toy's own keypoint set: other names than the model's, mapped explicitly.
TOY_KEYPOINTS = ("hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r", "throat", "crown")
TOY_OBSERVED = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "neck", "crown")
TOY_BONES = (("hip_l", "hip_r"), ("hip_l", "knee_l"), ("knee_l", "ankle_l"), ("hip_r", "knee_r"),
             ("knee_r", "ankle_r"), ("hip_l", "throat"), ("hip_r", "throat"), ("throat", "crown"))
_LEG = ((-2.4, 1.0), (-1.0, 1.0), (-1.0, 1.0))
_KNEE = ((-0.1, 2.6), (-0.2, 0.2), (-0.2, 0.2))
_BACK = ((-0.8, 0.8),) * 3

TOY = BodyModel(
    name="toy", title="Toy-10", joint_names=TOY_JOINTS, parents=TOY_PARENTS, shape_size=3,
    num_vertices=1 + 9 * 24 + 4 * 10,  # the crown, 24 per bone, 4 around each joint
    file_name="TOY_{GENDER}.pkl", landmarks=(Landmark("crown", 0, "head"),),
    observes={"toy8": TOY_OBSERVED},
    limits={"left_hip": _LEG, "right_hip": _LEG, "left_knee": _KNEE, "right_knee": _KNEE, "spine": _BACK,
            "neck": _BACK, "head": _BACK},
    twist_axes={"left_hip": 1, "right_hip": 1},
    limbs=(Limb("left_hip", "left_knee", "left_ankle", 0, 1.0), Limb("right_hip", "right_knee", "right_ankle", 0, 1.0)),
    torso=("left_hip", "right_hip", "neck"), pose_parts=(("global_orient", 0, 1), ("body_pose", 1, 9)),
)


def toy_data(rng: np.random.Generator) -> dict:
    """The toy's model file (SMPL's keys, metres): vertices along the bones skinned to their
    parent joint, 4 vertices around each joint regressing it exactly, vertex 0 the crown."""
    J = len(TOY_JOINTS)
    per_bone = 24
    verts, weights = [CROWN], [np.eye(J)[9]]
    for child in range(1, J):
        parent = TOY_PARENTS[child]
        u = rng.random(per_bone)[:, None]
        verts += list(TOY_REST[parent] * (1 - u) + TOY_REST[child] * u + rng.normal(0, 0.02, (per_bone, 3)))
        w = np.zeros((per_bone, J))
        w[:, parent] = 1 - 0.5 * u[:, 0]
        w[:, child] = 0.5 * u[:, 0]
        weights += list(w)
    ring = rng.normal(0, 0.01, (J, 4, 3))
    ids = len(verts) + np.arange(4 * J)
    verts += list((TOY_REST[:, None] + ring - ring.mean(1, keepdims=True)).reshape(-1, 3))
    weights += list(np.repeat(np.eye(J), 4, axis=0))
    v = np.array(verts)
    nv = len(v)
    assert nv == TOY.num_vertices
    return {
        "v_template": v,
        "f": np.stack([np.arange(nv - 2), np.arange(1, nv - 1), np.arange(2, nv)], 1).astype(np.uint32),
        "J_regressor": sp.csc_matrix((np.full(4 * J, 0.25), (np.repeat(np.arange(J), 4), ids)), shape=(J, nv)),
        "weights": np.array(weights), "posedirs": rng.normal(0, 2e-3, (nv, 3, TOY.pose_blend_size)),
        "shapedirs": rng.normal(0, 1e-2, (nv, 3, TOY.shape_size)),
        "kintree_table": np.stack([np.r_[4294967295, TOY_PARENTS[1:]], np.arange(J)]).astype(np.int64),
    }


def toy_truth(data: dict, poses: np.ndarray, trans: np.ndarray, scaling: float) -> np.ndarray:
    """World output points (N, J + 1, 3) cm (joints, then the crown) posed by smplx.lbs.lbs."""
    from smplx.lbs import lbs

    d = {k: torch.as_tensor(np.asarray(v.toarray() if hasattr(v, "toarray") else v, np.float64))
         for k, v in data.items() if k in ("v_template", "J_regressor", "weights", "shapedirs", "posedirs")}
    n = len(poses)
    verts, joints = lbs(torch.zeros(n, TOY.shape_size, dtype=torch.float64), torch.as_tensor(poses),
                        d["v_template"], d["shapedirs"], d["posedirs"].reshape(-1, TOY.pose_blend_size).T,
                        d["J_regressor"], torch.as_tensor(TOY_PARENTS), d["weights"])
    pts = torch.cat([joints, verts[:, :1]], 1).numpy()
    return pts * scaling + trans[:, None]


def toy_motion(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Smooth poses (N, 30) inside the toy's limits (ankles still: they move no keypoint), a
    turning, wandering root, cm translation, and a scale."""
    t = np.arange(n) / 60.0
    poses = np.zeros((n, len(TOY_JOINTS), 3))

    def wave(amp, f):
        return amp * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))

    for j in (1, 4):  # hips: flex, a little twist and abduction
        poses[:, j] = np.stack([wave(0.6, 0.7) - 0.3, wave(0.2, 0.5), wave(0.25, 0.6) * (1 if j == 1 else -1)], 1)
    for j in (2, 5):  # knees flex (+x) only
        poses[:, j, 0] = 0.7 + wave(0.6, 0.8)
    for j in (7, 8, 9):
        poses[:, j] = np.stack([wave(0.2, 0.4), wave(0.2, 0.3), wave(0.15, 0.5)], 1)
    from scipy.spatial.transform import Rotation

    yaw = rng.uniform(-np.pi, np.pi) + 0.8 * t
    poses[:, 0] = Rotation.from_euler("YX", np.stack([yaw, 0.1 * np.sin(2 * np.pi * 0.5 * t)], 1)).as_rotvec()
    trans = np.stack([30 * np.sin(0.9 * t), 5 * np.sin(2.1 * t), 20 * np.cos(0.7 * t)], 1)
    return poses.reshape(n, -1), trans, float(rng.uniform(90, 105))


@pytest.fixture
def toy_registered(monkeypatch):
    """The recipe's two registrations: the keypoint set (joint-set registry) and the model."""
    monkeypatch.setitem(REGISTRY, "toy8", JointSet("toy8", "Toy-8", TOY_KEYPOINTS, TOY_BONES))
    monkeypatch.setitem(body_models.BODY_MODELS, TOY.name, TOY)
    return TOY


def test_toy_body_model_flows_through_triangulate_and_fit(toy_registered, tmp_path):
    """Truth (smplx.lbs) -> projected into a portrait-phone rig with noise and gaps -> robust and
    temporally optimised triangulation (the toy's bones) -> fit with the toy's own layout -> the
    fitted model's joints and landmark, posed again by smplx.lbs, lie within 0.8 cm of the truth
    on average; then the same through the files (keypoints3d -> fit-smpl's job -> motions)."""
    from aistpp.pipeline.fit_smpl import fit_smpl
    from aistpp.pipeline.fit_smpl_init import fit_layout
    from aistpp.pipeline.synth.rig import make_layout
    from aistpp.pipeline.triangulate import triangulate_keypoints

    rng = np.random.default_rng(15)
    data = toy_data(rng)
    path = tmp_path / "TOY_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data))
    model = get_body_model("toy")
    loaded = model.load_data(model.require_file(tmp_path, "neutral"))  # safe loading, checked shapes
    layout = fit_layout(model, "toy8")
    assert layout.opt_joints == (1, 2, 4, 5, 7, 8, 9) and layout.P == 27  # ankles move no keypoint

    n = 90
    poses, trans, scaling = toy_motion(n, rng)
    truth = toy_truth(data, poses, trans, scaling)  # (N, 11, 3)
    keypoints = truth[:, [model.output_names.index(o) for o in TOY_OBSERVED]]
    rig = make_layout("portrait4", rng)
    px = rig.project(keypoints)  # (V, N, 8, 2)
    kp2d = np.concatenate([px + rng.normal(0, 0.7, px.shape), np.full(px.shape[:-1] + (1,), 0.9)], -1)
    kp2d[rng.random(kp2d.shape[:-1]) < 0.04] = np.nan
    tri = triangulate_keypoints(rig, kp2d, joint_set="toy8")  # robust, then optimised with the toy's bones
    for key in ("keypoints3d", "keypoints3d_optim"):
        assert np.nanmean(np.linalg.norm(tri[key] - keypoints, axis=-1)) < 1.0, key
    kp3d = tri["keypoints3d_optim"]

    poser = model.poser(loaded, joint_set="toy8")
    res = fit_smpl(poser, kp3d)
    assert res["converged"] and res["smpl_poses"].shape == (n, 30)
    fitted = toy_truth(data, res["smpl_poses"].astype(np.float64), res["smpl_trans"].astype(np.float64),
                       float(res["smpl_scaling"][0]))
    err = np.linalg.norm(fitted - truth, axis=-1)  # every joint and the crown

    assert err.mean() < 0.8 and np.percentile(err, 95) < 2.5, (err.mean(), np.percentile(err, 95))
    assert abs(res["smpl_scaling"][0] / scaling - 1) < 0.02

    # the same through the files: keypoints3d naming its joint set -> fit-smpl's job -> a motion file
    from aistpp.core import formats
    from aistpp.pipeline.fit_smpl import FitSmplConfig, fit_smpl_sequence

    seq = "gBR_sBM_cAll_d04_mBR0_ch01"
    anno = tmp_path / "annotations"
    formats.save_keypoints3d(anno / "keypoints3d" / f"{seq}.pkl", kp3d, kp3d, joint_set="toy8")
    config = FitSmplConfig(anno_dir=anno, smpl_dir=tmp_path, save_dir=tmp_path / "motions", body_model="toy")
    info = fit_smpl_sequence(seq, config)
    motion = formats.load_motion(tmp_path / "motions" / f"{seq}.pkl")  # 30 pose numbers: the toy's
    assert motion["body_model"] == "toy" and motion["smpl_poses"].shape == (n, 30)
    assert info["converged"] and info["error_crown"] < 2.0 and info["error_knee_l"] < 1.0
    refit = toy_truth(data, motion["smpl_poses"].astype(np.float64), motion["smpl_trans"].astype(np.float64),
                      float(motion["smpl_scaling"][0]))
    assert np.linalg.norm(refit - truth, axis=-1).mean() < 0.8
    with pytest.raises(AistppError, match="'toy8', which the smpl body model does not observe"):
        fit_smpl_sequence(seq, config.model_copy(update={"body_model": "smpl"}))


def test_toy_model_file_refused_when_it_is_not_the_toy(toy_registered, tmp_path):
    """A model file checked against the wrong description fails with the file named."""
    data = toy_data(np.random.default_rng(1))
    path = tmp_path / "TOY_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(AistppError, match="SMPL 'v_template'|SMPL 'weights'") as exc:
        SMPL.load_data(path)
    assert exc.value.path == path


def test_a_model_file_too_small_for_the_landmarks_is_refused(tmp_path):
    """SMPL's landmark vertices index the mesh: a file with fewer vertices loads (the format allows
    it) but cannot be posed at the landmarks: one clear error, not an IndexError."""
    data = toy_data(np.random.default_rng(2))  # ~260 vertices, SMPL-shaped otherwise
    nv, J = len(data["v_template"]), SMPL.num_joints
    rng = np.random.default_rng(3)
    small = dict(data, J_regressor=np.full((J, nv), 1.0 / nv), weights=np.full((nv, J), 1.0 / J),
                 posedirs=np.zeros((nv, 3, SMPL.pose_blend_size)), shapedirs=np.zeros((nv, 3, SMPL.shape_size)),
                 kintree_table=np.stack([np.r_[4294967295, SMPL.parent_array[1:]], np.arange(J)]).astype(np.int64),
                 v_template=rng.normal(0, 0.3, (nv, 3)))
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(small))
    loaded = SMPL.load_data(path)
    with pytest.raises(AistppError, match="too few for the landmark vertices read for 'coco17'"):
        SMPL.poser(loaded)
