"""The procedural SMPL-format body model: file format, surface topology, proportions,
landmarks, skinning (checked by posing it with smplx) and shape directions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from aistpp.core.body import load_smpl, load_smpl_data
from aistpp.core.joints import SMPL24, SMPL_PARENTS, SMPL_VERTEX_JOINTS
from aistpp.errors import AistppError
from aistpp.pipeline.synth.body_model import make_body_model, write_body_model

J = {name: i for i, name in enumerate(SMPL24)}
LANDMARK = dict(SMPL_VERTEX_JOINTS)


@pytest.fixture(scope="module")
def models():
    return {g: make_body_model(g) for g in ("neutral", "male", "female")}


@pytest.fixture(scope="module")
def smpl_dir(models, tmp_path_factory):
    root = tmp_path_factory.mktemp("smpl")
    for g, data in models.items():
        write_body_model(root / f"SMPL_{g.upper()}.pkl", data)
    return root


@pytest.fixture(scope="module")
def smpl(smpl_dir):
    return load_smpl(smpl_dir, "neutral")


def _forward(model, body_pose=None, betas=None):
    with torch.no_grad():
        out = model(body_pose=torch.zeros(1, 69) if body_pose is None else body_pose,
                    betas=torch.zeros(1, 10) if betas is None else betas, global_orient=torch.zeros(1, 3))
    return out.joints[0].numpy().astype(np.float64), out.vertices[0].numpy().astype(np.float64)


def test_file_format_loads_with_plain_pickle_and_the_safe_loader(models, smpl_dir):
    path = smpl_dir / "SMPL_NEUTRAL.pkl"
    with open(path, "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    assert raw.keys() == models["neutral"].keys()
    data = load_smpl_data(path)
    assert data["v_template"].shape == (6890, 3) and data["v_template"].dtype == np.float64
    assert data["f"].shape == (13776, 3) and data["f"].min() == 0 and data["f"].max() == 6889
    assert sp.issparse(data["J_regressor"]) and data["J_regressor"].format == "csc"
    assert data["J_regressor"].shape == (24, 6890)
    assert data["weights"].shape == (6890, 24)
    assert data["posedirs"].shape == (6890, 3, 207) and data["shapedirs"].shape == (6890, 3, 10)
    kt = data["kintree_table"]
    assert kt.dtype == np.uint32 and kt.shape == (2, 24)
    assert kt[0, 0] == 4294967295 and np.array_equal(kt[0, 1:], SMPL_PARENTS[1:]) and np.array_equal(kt[1], np.arange(24))


def test_deterministic(models):
    again = make_body_model("neutral")
    for key in ("v_template", "f", "weights", "shapedirs"):
        assert np.array_equal(again[key], models["neutral"][key])
    assert (again["J_regressor"] != models["neutral"]["J_regressor"]).nnz == 0


@pytest.mark.parametrize("gender", ["neutral", "male", "female"])
def test_surface_is_one_closed_outward_sphere(models, gender):
    v, f = models[gender]["v_template"], models[gender]["f"].astype(np.int64)
    n = len(v)
    a, b = f.reshape(-1), np.roll(f, -1, axis=1).reshape(-1)
    directed = a * n + b
    assert len(np.unique(directed)) == len(directed)  # no half-edge twice
    assert np.all(np.isin(b * n + a, directed))  # every edge also runs the other way: closed, consistent
    edges = len(directed) // 2
    assert n - edges + len(f) == 2  # Euler characteristic of a sphere
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    assert sp.csgraph.connected_components(graph, directed=False)[0] == 1
    p = v[f]
    volume = np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6
    assert 0.045 < volume < 0.11  # m^3, outward normals give a positive volume; ~45-110 litres
    area = np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    assert area.min() > 1e-8  # no degenerate triangles


def test_human_proportions(models):
    heights = {g: np.ptp(m["v_template"][:, 1]) for g, m in models.items()}
    assert all(1.6 < h < 1.9 for h in heights.values())
    assert heights["male"] > heights["neutral"] > heights["female"]
    m = models["neutral"]
    joints = m["J_regressor"] @ m["v_template"]
    y = joints[:, 1]
    assert y[J["head"]] > y[J["neck"]] > y[J["spine3"]] > y[J["spine2"]] > y[J["spine1"]] > y[J["pelvis"]]
    for side, sign in (("left", 1), ("right", -1)):
        assert y[J[f"{side}_hip"]] > y[J[f"{side}_knee"]] > y[J[f"{side}_ankle"]]
        xs = sign * joints[[J[f"{side}_{k}"] for k in ("collar", "shoulder", "elbow", "wrist", "hand")], 0]
        assert np.all(np.diff(xs) > 0)  # T-pose: the arm runs out along +-x
        assert abs(y[J[f"{side}_wrist"]] - y[J[f"{side}_shoulder"]]) < 0.05  # horizontal
        assert sign * joints[J[f"{side}_hip"], 0] > 0.04
    span = np.ptp(m["v_template"][:, 0])
    assert 0.9 < span / np.ptp(m["v_template"][:, 1]) < 1.1  # arm span ~ height
    # Joints lie inside the body: closer to the body axis than the surface around them.
    v = m["v_template"]
    for j in range(24):
        assert np.linalg.norm(v - joints[j], axis=1).min() > 0.008


def test_regressor_and_weights_are_convex(models):
    m = models["neutral"]
    reg = m["J_regressor"].toarray()
    assert np.all(reg >= 0) and np.allclose(reg.sum(axis=1), 1)
    w = m["weights"]
    assert np.all(w >= 0) and np.allclose(w.sum(axis=1), 1)
    assert np.all(np.bincount(w.argmax(axis=1), minlength=24)[:22] > 0)  # every non-leaf joint drives a part
    # Smooth across the elbow: some vertices are shared by the upper arm and the forearm.
    blend = w[:, J["left_shoulder"]] / np.maximum(w[:, J["left_shoulder"]] + w[:, J["left_elbow"]], 1e-12)
    mixed = (w[:, J["left_shoulder"]] + w[:, J["left_elbow"]] > 0.9) & (blend > 0.2) & (blend < 0.8)
    assert mixed.sum() >= 20


def test_landmark_vertices_sit_at_their_body_parts(models):
    for m in models.values():
        v = m["v_template"]
        joints = m["J_regressor"] @ v
        at = {name: v[vid] for name, vid in LANDMARK.items()}
        head, neck = joints[J["head"]], joints[J["neck"]]
        assert at["nose"][2] > head[2] + 0.07 and abs(at["nose"][0]) < 0.01
        assert at["left_eye"][0] > 0.015 and at["right_eye"][0] < -0.015
        assert 0.04 < np.linalg.norm(at["left_eye"] - at["right_eye"]) < 0.09
        for eye in ("left_eye", "right_eye"):
            assert at[eye][1] > at["nose"][1] and np.linalg.norm(at[eye] - at["nose"]) < 0.07
            assert at[eye][2] > head[2] + 0.05
        assert at["left_ear"][0] > head[0] + 0.06 and at["right_ear"][0] < head[0] - 0.06
        for ear in ("left_ear", "right_ear"):
            assert neck[1] < at[ear][1] < at["left_eye"][1] + 0.02 and abs(at[ear][2] - head[2]) < 0.05
        floor = v[:, 1].min()
        for side, sign in (("left", 1), ("right", -1)):
            ankle = joints[J[f"{side}_ankle"]]
            for toe in ("big_toe", "small_toe"):
                p = at[f"{side}_{toe}"]
                assert p[2] > ankle[2] + 0.12 and p[1] < floor + 0.05 and sign * p[0] > 0
            assert sign * at[f"{side}_small_toe"][0] > sign * at[f"{side}_big_toe"][0]  # small toe outside
            assert at[f"{side}_heel"][2] < ankle[2] - 0.04 and at[f"{side}_heel"][1] < floor + 0.05
            wrist = joints[J[f"{side}_wrist"]]
            tips = np.array([at[f"{side}_{k}"] for k in ("thumb", "index", "middle", "ring", "pinky")])
            assert np.all(sign * (tips[:, 0] - wrist[0]) > 0.06)
            assert np.all(np.linalg.norm(tips - wrist, axis=1) < 0.25)
            assert tips[0, 2] > wrist[2] + 0.07 and tips[0, 2] > tips[1:, 2].max() + 0.05  # thumb forward, palms down
            assert np.all(np.diff(tips[1:, 2]) < 0)  # index .. pinky from front to back


def test_smplx_vertex_joints_are_the_landmarks(smpl, models):
    joints, verts = _forward(smpl)
    v = models["neutral"]["v_template"]
    assert np.allclose(verts, v, atol=1e-5)
    assert np.allclose(joints[:24], models["neutral"]["J_regressor"] @ v, atol=1e-5)
    # smplx's own vertex-joint table: nose, eyes, ears, toes, heels, then fingertips
    for k, (_, vid) in enumerate(SMPL_VERTEX_JOINTS):
        assert np.allclose(joints[24 + k], v[vid], atol=1e-5)


def _rotation(axis_angle: np.ndarray) -> np.ndarray:
    theta = np.linalg.norm(axis_angle)
    k = axis_angle / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


@pytest.mark.parametrize("side", ["left", "right"])
def test_elbow_bend_moves_forearm_and_hand_rigidly(smpl, models, side):
    elbow = J[f"{side}_elbow"]
    aa = np.array([0.0, -1.4 if side == "left" else 1.4, 0.0])  # bend the forearm forward
    pose = torch.zeros(1, 69)
    pose[0, (elbow - 1) * 3:(elbow - 1) * 3 + 3] = torch.tensor(aa, dtype=torch.float32)
    j0, v0 = _forward(smpl)
    j1, v1 = _forward(smpl, body_pose=pose)
    # Ground truth by hand: everything below the elbow turns about the elbow joint.
    R = _rotation(aa)
    wrist = J[f"{side}_wrist"]
    expected = j0[elbow] + (j0[wrist] - j0[elbow]) @ R.T
    assert np.linalg.norm(j1[wrist] - j0[wrist]) > 0.15
    assert np.allclose(j1[wrist], expected, atol=1e-4)
    assert j1[wrist][2] > j0[wrist][2] + 0.15  # forward (+z)
    hand = models["neutral"]["weights"][:, [wrist, J[f"{side}_hand"]]].sum(axis=1) > 0.999
    assert hand.sum() > 150
    assert np.allclose(v1[hand], j0[elbow] + (v0[hand] - j0[elbow]) @ R.T, atol=1e-4)
    tips = [24 + k for k, (name, _) in enumerate(SMPL_VERTEX_JOINTS) if name.startswith(side) and "toe" not in name
            and "heel" not in name and "eye" not in name and "ear" not in name]
    assert len(tips) == 5
    np.testing.assert_allclose(np.linalg.norm(j1[tips] - j1[wrist], axis=1),
                               np.linalg.norm(j0[tips] - j0[wrist], axis=1), atol=1e-4)
    # The other arm and the legs stay put.
    still = models["neutral"]["weights"][:, [J["pelvis"], J["left_knee"], J["right_knee"]]].sum(axis=1) > 0.5
    assert np.allclose(v1[still], v0[still], atol=1e-6)


def test_knee_bend_keeps_the_foot_attached(smpl, models):
    knee = J["left_knee"]
    pose = torch.zeros(1, 69)
    pose[0, (knee - 1) * 3] = 1.2
    j0, v0 = _forward(smpl)
    j1, v1 = _forward(smpl, body_pose=pose)
    assert j1[J["left_ankle"], 2] < j0[J["left_ankle"], 2] - 0.2  # the shin swings backwards
    # No vertex flies away: the surface stretches only near the knee.
    edges = models["neutral"]["f"].astype(np.int64)
    a, b = edges.reshape(-1), np.roll(edges, -1, axis=1).reshape(-1)
    l0 = np.linalg.norm(v0[a] - v0[b], axis=1)
    l1 = np.linalg.norm(v1[a] - v1[b], axis=1)
    assert np.max(l1 / l0) < 3.0


def test_shape_directions(smpl_dir):
    model = load_smpl(smpl_dir, "male")
    heights, widths = [], []
    for b in np.linspace(-2, 2, 5):
        betas = torch.zeros(1, 10)
        betas[0, 0] = float(b)
        _, v = _forward(model, betas=betas)
        heights.append(np.ptp(v[:, 1]))
        betas = torch.zeros(1, 10)
        betas[0, 1] = float(b)
        _, v = _forward(model, betas=betas)
        waist = np.abs(v[:, 1] - np.median(v[:, 1])) < 0.03
        widths.append(np.ptp(v[waist, 2]))
    assert np.all(np.diff(heights) > 0.02)
    assert np.all(np.diff(widths) > 0.002)
    data = load_smpl_data(smpl_dir / "SMPL_MALE.pkl")
    norms = np.linalg.norm(data["shapedirs"], axis=(0, 1))
    assert np.all(norms > 0)  # ten non-trivial directions


def test_unknown_gender_is_a_user_error():
    with pytest.raises(AistppError, match="gender"):
        make_body_model("robot")


def _winding_numbers(points: np.ndarray, v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Generalised winding number (P,) of a closed triangle mesh at ``points`` (P, 3): the
    summed signed solid angle of the triangles / 4 pi (Van Oosterom & Strackee)."""
    out = np.zeros(len(points))
    tri = v[f]  # (F, 3, 3)
    for s in range(0, len(points), 64):
        r = tri[None] - points[s:s + 64, None, None]  # (p, F, 3, 3)
        a, b, c = r[:, :, 0], r[:, :, 1], r[:, :, 2]
        la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
        num = np.einsum("pfk,pfk->pf", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("pfk,pfk->pf", a, b) * lc + np.einsum("pfk,pfk->pf", b, c) * la
               + np.einsum("pfk,pfk->pf", c, a) * lb)
        out[s:s + 64] = 2 * np.arctan2(num, den).sum(axis=1) / (4 * np.pi)
    return out


def test_surface_encloses_the_skeleton_once_and_does_not_self_intersect(models):
    m = models["neutral"]
    v, f = m["v_template"], m["f"].astype(np.int64)
    joints = m["J_regressor"] @ v
    assert np.allclose(_winding_numbers(joints, v, f), 1, atol=1e-6)  # every joint inside, once
    # Points just inside / outside the surface along the vertex normals: inside exactly once
    # (a second layer there would mean parts pass through each other), outside not at all.
    normals = np.zeros_like(v)
    tri = v[f]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    for k in range(3):
        np.add.at(normals, f[:, k], fn)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    sample = np.arange(0, len(v), 23)
    inside = _winding_numbers(v[sample] - 0.003 * normals[sample], v, f)
    outside = _winding_numbers(v[sample] + 0.003 * normals[sample], v, f)
    assert np.all(np.abs(inside - 1) < 0.1) and np.all(np.abs(outside) < 0.1)
    # Gaps: between the legs below the crotch, under the armpits, in front of the chest.
    knees = joints[[J["left_knee"], J["right_knee"]]].mean(axis=0)
    armpit = joints[J["left_shoulder"]] + np.array([0.0, -0.15, 0.0])
    chest = joints[J["spine3"]] + np.array([0.0, 0.0, 0.25])
    assert np.all(np.abs(_winding_numbers(np.array([knees, armpit, chest]), v, f)) < 1e-6)


def test_each_vertex_follows_the_bone_it_belongs_to(models):
    m = models["neutral"]
    v, w = m["v_template"], m["weights"]
    joints = m["J_regressor"] @ v
    main = w.argmax(axis=1)
    arm_chain = [J[f"{s}_{k}"] for s in ("left", "right") for k in ("elbow", "wrist", "hand")]
    beyond_shoulder = np.abs(v[:, 0]) > np.abs(joints[J["left_shoulder"], 0]) + 0.08
    assert np.all(np.isin(main[beyond_shoulder], [J["left_shoulder"], J["right_shoulder"]] + arm_chain))
    below_knee = v[:, 1] < joints[J["left_knee"], 1] - 0.08
    assert np.all(np.isin(main[below_knee], [J[f"{s}_{k}"] for s in ("left", "right") for k in ("knee", "ankle", "foot")]))
    assert np.all(np.sign(v[below_knee, 0]) == np.where(np.isin(main[below_knee], [4, 7, 10]), 1, -1))
    above_chin = v[:, 1] > joints[J["head"], 1] + 0.05
    assert np.all(main[above_chin] == J["head"])
    # Far-away joints have no influence at all (weights stay local).
    assert np.all(w[below_knee][:, [J["head"], J["left_wrist"], J["right_wrist"]]] == 0)
