"""A procedurally generated body model in the exact SMPL pickle format.

No real SMPL file may be downloaded or shipped, so ``aistpp synth`` and the tests use this
one: 6890 vertices and 13776 faces forming one closed, outward-wound surface (see
``body_mesh``), a T-pose template in metres (+y up, facing +z, the body's left is +x, pelvis
near y = -0.23 like SMPL), SMPL's 24 joints regressed from the surface by convex weights,
smooth skinning weights, ten shape directions and zero pose correctives. The vertex ids
smplx reads joints from (``SMPL.landmarks``: nose, eyes, ears, toes,
heels, fingertips) hold vertices at those landmarks.

    data = make_body_model("neutral")       # dict with SMPL's keys
    write_body_model(smpl_dir / "SMPL_NEUTRAL.pkl", data)
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls

from aistpp.core.formats import write_bytes_atomic
from aistpp.core.body_models import SMPL
from aistpp.errors import AistppError
from aistpp.pipeline.synth.body_mesh import PROPORTIONS, Proportions, body_surface

NUM_VERTICES = SMPL.num_vertices
NUM_BETAS = SMPL.shape_size
NUM_POSE_BASIS = SMPL.pose_blend_size  # 9 rotation-matrix entries per non-root joint
NUM_JOINTS = SMPL.num_joints
PARENTS = SMPL.parent_array
LANDMARKS = tuple((lm.name, lm.vertex) for lm in SMPL.landmarks)  # the vertices smplx reads joints from
HEIGHT = {"neutral": 1.72, "male": 1.79, "female": 1.64}  # m, heel to crown
PELVIS_Y = -0.23  # m, SMPL's template has its pelvis about here
ROOT_PARENT = np.uint32(0xFFFFFFFF)  # kintree_table's parent of the root, as in the released files


def design_joints(p: Proportions) -> np.ndarray:
    """The 24 SMPL joint centres (24, 3) m in the construction frame of ``body_mesh``."""
    x0, hx = p.arm_x, p.leg_x
    half = {  # left-side joints (x > 0); the right side mirrors x
        "hip": (hx, 0.86, -0.01), "knee": (hx, 0.48, -0.01), "ankle": (hx, 0.075, -0.03),
        "foot": (hx + 0.01, 0.025, 0.10), "collar": (0.075 * p.shoulders, 1.42, -0.02),
        "shoulder": (x0 + 0.02, 1.39, -0.015), "elbow": (x0 + 0.265, 1.392, -0.015),
        "wrist": (x0 + 0.51, 1.392, -0.01), "hand": (x0 + 0.59, 1.39, -0.01),
    }  # fmt: skip
    centre = {"pelvis": (0, 0.93, -0.01), "spine1": (0, 1.04, -0.02), "spine2": (0, 1.17, -0.015),
              "spine3": (0, 1.23, -0.01), "neck": (0, 1.49, -0.02), "head": (0, 1.565, 0.0)}
    out = np.zeros((NUM_JOINTS, 3))
    for j, name in enumerate(SMPL.joint_names):
        if name in centre:
            out[j] = centre[name]
        else:
            side, part = name.split("_")
            out[j] = half[part]
            out[j, 0] *= 1 if side == "left" else -1
    return out


def _end_points(joints: np.ndarray, p: Proportions) -> dict[int, np.ndarray]:
    """Where the leaf joints' body parts end: head top, fingertips, toe tips (construction frame)."""
    x0, hx = p.arm_x, p.leg_x
    ends = {15: np.array([0.0, 1.74, 0.0])}
    for j, s in ((22, 1), (23, -1)):
        ends[j] = np.array([s * (x0 + 0.70), joints[j, 1], joints[j, 2]])
    for j, s in ((10, 1), (11, -1)):
        ends[j] = np.array([s * (hx + 0.01), 0.02, 0.17])
    return ends


def _segments(joints: np.ndarray, p: Proportions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bone segments: starts (S, 3), ends (S, 3), and the joint (S,) whose rotation moves each."""
    starts, ends, owner = [], [], []
    for child in range(1, NUM_JOINTS):
        parent = PARENTS[child]
        starts.append(joints[parent]), ends.append(joints[child]), owner.append(parent)
    for j, end in _end_points(joints, p).items():
        starts.append(joints[j]), ends.append(end), owner.append(j)
    return np.array(starts), np.array(ends), np.array(owner)


def _closest_on_segments(v: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest points (V, S, 3) on segments a->b (S, 3) to points v (V, 3), and the unclamped
    parameter t (V, S) of the projection (t < 0: behind the segment's start)."""
    ab = b - a
    t = np.einsum("vsk,sk->vs", v[:, None] - a[None], ab) / np.einsum("sk,sk->s", ab, ab)
    return a + np.clip(t, 0, 1)[..., None] * ab, t


def vertex_adjacency(f: np.ndarray, n: int) -> sp.csr_matrix:
    """Row-normalised vertex adjacency (n, n) of triangles ``f`` (F, 3): averaging over neighbours."""
    a = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    b = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    adj = sp.coo_matrix((np.ones(2 * len(a)), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)).tocsr()
    adj.data[:] = 1.0  # each undirected edge once per direction
    return sp.diags(1.0 / np.asarray(adj.sum(axis=1)).ravel()) @ adj


def skinning_weights(v: np.ndarray, f: np.ndarray, joints: np.ndarray, p: Proportions,
                     iterations: int = 12) -> np.ndarray:
    """Weights (V, 24), rows summing to 1: each vertex starts on the bone nearest to it (a
    vertex behind a bone's start counts as farther), then weights are averaged over the
    surface ``iterations`` times so they blend smoothly across each joint."""
    a, b, owner = _segments(joints, p)
    closest, t = _closest_on_segments(v, a, b)
    dist = np.linalg.norm(v[:, None] - closest, axis=-1) + np.maximum(0.0, -t) * np.linalg.norm(b - a, axis=1)
    w = np.zeros((len(v), NUM_JOINTS))
    w[np.arange(len(v)), owner[dist.argmin(axis=1)]] = 1.0
    avg = vertex_adjacency(f, len(v))
    for _ in range(iterations):
        w = 0.5 * w + 0.5 * (avg @ w)
    return w / w.sum(axis=1, keepdims=True)


def joint_regressor(v: np.ndarray, joints: np.ndarray, ridge: float = 0.05) -> sp.csc_matrix:
    """J_regressor (24, V): for each joint, convex weights over the surface vertices around it
    (within 1.6x the distance to the nearest vertex, plus 2 cm) whose weighted mean is the joint
    centre; a small pull towards distance-based weights spreads them over the ring."""
    rows, cols, vals = [], [], []
    for j, c in enumerate(joints):
        d = np.linalg.norm(v - c, axis=1)
        near = np.flatnonzero(d < 1.6 * d.min() + 0.02)
        prior = np.exp(-((d[near] / d[near].max()) ** 2))
        prior /= prior.sum()
        k = len(near)
        big = 100.0
        A = np.vstack([big * v[near].T, big * np.ones((1, k)), ridge * np.eye(k)])
        rhs = np.concatenate([big * c, [big], ridge * prior])
        w, _ = nnls(A, rhs, maxiter=50 * k)
        w /= w.sum()
        keep = w > 1e-6
        rows.append(np.full(int(keep.sum()), j))
        cols.append(near[keep])
        vals.append(w[keep] / w[keep].sum())
    data = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
    return sp.csc_matrix(data, shape=(len(joints), len(v)))


# ---- landmarks -----------------------------------------------------------------------
def _bump(v: np.ndarray, centre, direction, height: float, sigma: float) -> np.ndarray:
    """Push vertices near ``centre`` along ``direction`` by a Gaussian bump (m)."""
    d2 = np.sum((v - np.asarray(centre)) ** 2, axis=1)
    return v + height * np.exp(-d2 / (2 * sigma**2))[:, None] * np.asarray(direction, np.float64)


def _ray_hit(v: np.ndarray, origin, direction, mask: np.ndarray, radius: float = 0.008) -> int:
    """The vertex (among ``mask``) where the ray meets the surface: of the vertices within
    ``radius`` of the ray line (the radius grows until some qualify) and within 1.5 cm of the
    first of them along the ray, the one nearest the line."""
    o, d = np.asarray(origin, np.float64), np.asarray(direction, np.float64)
    d = d / np.linalg.norm(d)
    rel = v - o
    along = rel @ d
    perp = np.linalg.norm(rel - along[:, None] * d, axis=1)
    for r in radius * 2.0 ** np.arange(6):
        ok = mask & (perp < r) & (along > 0)
        if ok.any():
            hit = along[ok].min()
            ids = np.flatnonzero(ok & (along < hit + 0.015))
            return int(ids[perp[ids].argmin()])
    raise RuntimeError(f"no body vertex near the ray from {origin}")


def add_face_features(v: np.ndarray) -> np.ndarray:
    """Nose and ears: small bumps on the head (construction frame)."""
    head = np.array([0.0, 1.645, 0.0])
    front = v[(v[:, 1] > 1.62) & (v[:, 1] < 1.66) & (np.abs(v[:, 0]) < 0.01), 2].max()
    v = _bump(v, (0.0, 1.635, front), (0, 0, 1), 0.02, 0.012)
    for s in (1.0, -1.0):
        side = v[(np.abs(v[:, 1] - head[1]) < 0.015) & (np.abs(v[:, 2]) < 0.02) & (s * v[:, 0] > 0), 0]
        v = _bump(v, (s * np.abs(side).max(), head[1], -0.01), (s, 0, 0), 0.012, 0.014)
    return v


def landmark_vertices(v: np.ndarray, p: Proportions) -> dict[str, int]:
    """Vertex id (in ``v``'s order) of each landmark of ``LANDMARKS``, found by casting
    rays at the surface (construction frame)."""
    x0, hx = p.arm_x, p.leg_x
    x, y, z = v.T
    head = y > 1.58
    out = {"nose": _ray_hit(v, (0, 1.635, 1), (0, 0, -1), head)}
    for s, side in ((1.0, "left"), (-1.0, "right")):
        out[f"{side}_eye"] = _ray_hit(v, (s * 0.032, 1.665, 1), (0, 0, -1), head)
        out[f"{side}_ear"] = _ray_hit(v, (s * 1.0, 1.645, -0.01), (-s, 0, 0), head)
        foot = (y < 0.12) & (s * x > 0)
        out[f"{side}_big_toe"] = _ray_hit(v, (s * (hx - 0.012), 0.02, 1), (0, 0, -1), foot)
        out[f"{side}_small_toe"] = _ray_hit(v, (s * (hx + 0.035), 0.015, 1), (0, 0, -1), foot)
        out[f"{side}_heel"] = _ray_hit(v, (s * hx, 0.025, -1), (0, 0, 1), foot)
        hand = (s * x > x0 + 0.45) & (np.abs(y - 1.39) < 0.06)
        out[f"{side}_thumb"] = int(np.flatnonzero(hand)[z[hand].argmax()])  # the thumb points forward
        fingers = hand & (z < 0.035)
        for name, zf in (("index", 0.012), ("middle", -0.002), ("ring", -0.016), ("pinky", -0.03)):
            out[f"{side}_{name}"] = _ray_hit(v, (s * 2.0, 1.387, zf), (-s, 0, 0), fingers)
    return out


def place_landmarks(v: np.ndarray, f: np.ndarray, picks: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Renumber vertices so that SMPL's landmark ids hold the picked vertices (old ids in
    ``picks``): returns the order (V,) (new id -> old id; the new vertices are ``v[order]``)
    and the faces (F, 3) renumbered (same triangles, same winding)."""
    target = np.array([vid for _, vid in LANDMARKS])
    chosen = np.array([picks[name] for name, _ in LANDMARKS])
    if len(np.unique(chosen)) != len(chosen):
        raise RuntimeError("two landmarks fell on the same vertex")
    order = np.full(len(v), -1)
    order[target] = chosen
    rest = np.setdiff1d(np.arange(len(v)), chosen)
    order[order < 0] = rest  # everything else keeps its relative order
    new_id = np.empty(len(v), np.int64)
    new_id[order] = np.arange(len(v))
    return order, new_id[f]


# ---- shape space ---------------------------------------------------------------------
def shape_directions(v: np.ndarray, w: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """shapedirs (V, 3, 10), metres per unit beta: 0 stature (+3 % size about the pelvis),
    1 girth (+8 % off the bones), 2 leg length, 3 shoulder width, 4 belly, 5 hip width,
    6 head size, 7 arm length, 8 torso length, 9 chest depth."""
    dirs = np.zeros((len(v), 3, NUM_BETAS))
    pelvis = joints[0]
    dirs[:, :, 0] = 0.03 * (v - pelvis)
    # girth: away from each vertex's skinning-weighted nearest bone point
    starts, ends = joints[PARENTS[1:]], joints[1:]
    closest, _ = _closest_on_segments(v, starts, ends)
    near = np.linalg.norm(v[:, None] - closest, axis=-1).argmin(axis=1)
    dirs[:, :, 1] = 0.08 * (v - closest[np.arange(len(v)), near])
    legs = w[:, [1, 2, 4, 5, 7, 8, 10, 11]].sum(axis=1)
    arms = w[:, 13:].sum(axis=1) - w[:, 15]
    torso = w[:, [0, 3, 6, 9]].sum(axis=1)
    head = w[:, [12, 15]].sum(axis=1)
    upper = 1.0 - legs - w[:, 0]
    side = np.sign(v[:, 0])
    dirs[:, 1, 2] = 0.04 * legs * (v[:, 1] - joints[1, 1])
    dirs[:, 0, 3] = 0.02 * arms * side
    belly = np.exp(-((v[:, 1] - joints[3, 1]) ** 2) / (2 * 0.08**2)) * np.clip(v[:, 2] - joints[3, 2], 0, None) / 0.1
    dirs[:, 2, 4] = 0.03 * torso * belly
    hips = np.exp(-((v[:, 1] - joints[1, 1]) ** 2) / (2 * 0.1**2))
    dirs[:, 0, 5] = 0.015 * hips * (legs + w[:, 0]) * side
    dirs[:, :, 6] = 0.06 * head[:, None] * (v - joints[15])
    shoulder_x = np.abs(joints[16, 0])
    dirs[:, 0, 7] = 0.04 * arms * side * np.clip(np.abs(v[:, 0]) - shoulder_x, 0, None)
    dirs[:, 1, 8] = 0.03 * np.clip(upper, 0, 1)
    chest = np.exp(-((v[:, 1] - joints[9, 1]) ** 2) / (2 * 0.08**2)) * np.clip(v[:, 2] - joints[9, 2], 0, None) / 0.1
    dirs[:, 2, 9] = 0.02 * torso * chest
    return dirs


# ---- the model -----------------------------------------------------------------------
def kintree_table() -> np.ndarray:
    """(2, 24) uint32: parents (root's parent 2**32 - 1) over joint ids 0..23, as in SMPL files."""
    parents = PARENTS.astype(np.int64).copy()
    parents[0] = int(ROOT_PARENT)
    return np.stack([parents, np.arange(NUM_JOINTS)]).astype(np.uint32)


def make_body_model(gender: str = "neutral") -> dict:
    """The body model as the dict a SMPL pickle holds: ``v_template`` (6890, 3) m,
    ``f`` (13776, 3), ``J_regressor`` (24, 6890) csc, ``weights`` (6890, 24), ``posedirs``
    (6890, 3, 207) zeros, ``shapedirs`` (6890, 3, 10) m, ``kintree_table`` (2, 24) uint32.
    Deterministic; ``gender`` is "neutral", "male" or "female"."""
    gender = gender.lower()
    if gender not in PROPORTIONS:
        raise AistppError(f"unknown body model gender {gender!r} (use neutral, male or female)")
    p = PROPORTIONS[gender]
    v, f = body_surface(p, NUM_VERTICES)
    v = add_face_features(v)
    order, f = place_landmarks(v, f, landmark_vertices(v, p))
    v = v[order]
    joints = design_joints(p)
    weights = skinning_weights(v, f, joints, p)  # both invariant to the similarity below
    regressor = joint_regressor(v, joints)
    # To SMPL's frame: the requested stature, pelvis at PELVIS_Y.
    scale = HEIGHT[gender] / np.ptp(v[:, 1])
    v = v * scale + np.array([0.0, PELVIS_Y - scale * joints[0, 1], 0.0])
    return {
        "v_template": v,
        "f": f.astype(np.uint32),
        "J_regressor": regressor,
        "weights": weights,
        "posedirs": np.zeros((NUM_VERTICES, 3, NUM_POSE_BASIS)),
        "shapedirs": shape_directions(v, weights, regressor @ v),
        "kintree_table": kintree_table(),
        "bs_type": "lrotmin",
        "bs_style": "lbs",
        "gender": gender,
    }


def write_body_model(path: str | Path, data: dict) -> None:
    """Write ``data`` (from ``make_body_model``) as a SMPL pickle: protocol 2, plain numpy and
    scipy.sparse objects only, readable with ``pickle.load(f, encoding="latin1")``."""
    write_bytes_atomic(path, pickle.dumps(dict(data), protocol=2))
