"""Procedural SMPL-H and SMPL-X body models with fingers, in the model files' exact layout.

The licensed files cannot ship, so tests and ``aistpp synth`` use these: the synthetic SMPL
body (``body_model``: same cage, landmarks, skinning and shape space) whose mitten is cut back
to a palm at the knuckles, plus five closed finger tubes per hand running through the
finger joints (MANO's 15 per hand). SMPL-X adds jaw and eye joints, 10 expression directions
and face landmarks. Everything ``smplx.SMPLH`` / ``smplx.SMPLX`` read is there (joint
regressor, skinning weights, pose correctives, shape directions, kinematic tree, hand PCA
components and means, landmark faces), with the vertex counts and landmark vertex ids of
the real models (``aistpp.core.smplx_joints``). Pose correctives are small (a few mm) and
non-zero, and the hand means non-zero, so code that ignores either disagrees with smplx.

    data = make_body_model_x("smplx", "neutral")
    write_body_model_x(smpl_dir / "SMPLX_NEUTRAL.npz", data)     # or .pkl (either kind)
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from aistpp.core.formats import write_bytes_atomic
from aistpp.core.smplx_joints import (
    JOINT_NAMES, MANO_FINGERS, NUM_DYNAMIC_LANDMARKS, NUM_LANDMARKS, NUM_VERTICES, VERTEX_IDS, VERTEX_JOINT_NAMES,
    parents,
)  # fmt: skip
from aistpp.errors import AistppError
from aistpp.pipeline.synth.body_mesh import PROPORTIONS, Proportions, body_surface, build_cage, catmull_clark, \
    split_longest_edges, triangulate
from aistpp.pipeline.synth.body_model import (
    HEIGHT, NUM_BETAS, PELVIS_Y, ROOT_PARENT, _closest_on_segments, add_face_features, design_joints, joint_regressor,
    landmark_vertices, shape_directions, skinning_weights, vertex_adjacency,
)  # fmt: skip

RING = 8  # vertices per finger cross-section
# Left hand, relative to the wrist (m, construction frame: the arm along +x, palm down, thumb +z):
# finger -> (joint 1, joint 2, joint 3, tip), and tube radius.
_FINGER_DESIGN = {
    "index": ((0.085, 0.0, 0.032), 0.040, 0.024, 0.020, 0.0085),
    "middle": ((0.087, 0.0, 0.011), 0.044, 0.027, 0.021, 0.0088),
    "ring": ((0.084, 0.0, -0.010), 0.041, 0.026, 0.020, 0.0082),
    "pinky": ((0.078, 0.0, -0.030), 0.032, 0.019, 0.017, 0.0072),
}
_THUMB = (np.array([[0.022, -0.008, 0.022], [0.048, -0.010, 0.048], [0.070, -0.010, 0.062],
                    [0.090, -0.010, 0.072]]), 0.0095)
EXPRESSIONS = 10


def finger_chains(wrist: np.ndarray, side: float) -> dict[str, tuple[np.ndarray, float]]:
    """Per finger (MANO order): joint 1, 2, 3 and the tip (4, 3) m, and the tube radius."""
    out = {}
    for name in MANO_FINGERS:
        if name == "thumb":
            pts, r = _THUMB[0].copy(), _THUMB[1]
        else:
            base, *lengths, r = _FINGER_DESIGN[name]
            x = base[0] + np.cumsum([0.0] + lengths)
            pts = np.stack([x, np.full(4, base[1]), np.full(4, base[2])], 1)
        pts[:, 0] *= side
        out[name] = (wrist + pts, r)
    return out


def finger_tube(pts: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A closed tube through joints ``pts`` (4, 3): vertices (8 RING + 2, 3), triangles,
    weights (V, 4) over (parent of joint 1, joint 1, joint 2, joint 3), and the ring of each
    joint (3, RING) (its mean is the joint centre)."""
    d0 = pts[1] - pts[0]
    d0 = d0 / np.linalg.norm(d0)
    centres = [pts[0] - 0.012 * d0, pts[0], (pts[0] + pts[1]) / 2, pts[1], (pts[1] + pts[2]) / 2, pts[2],
               (pts[2] + pts[3]) / 2, pts[3] - 0.6 * r * (pts[3] - pts[2]) / np.linalg.norm(pts[3] - pts[2])]
    # weights per ring: (parent, j1, j2, j3)
    wr = [(1, 0, 0, 0), (0.5, 0.5, 0, 0), (0, 1, 0, 0), (0, 0.5, 0.5, 0), (0, 0, 1, 0), (0, 0, 0.5, 0.5),
          (0, 0, 0, 1), (0, 0, 0, 1)]
    seg_dir = [pts[1] - pts[0]] * 3 + [pts[2] - pts[1]] * 2 + [pts[3] - pts[2]] * 3
    verts, weights = [], []
    ang = 2 * np.pi * np.arange(RING) / RING
    taper = np.linspace(1.0, 0.8, len(centres))
    for c, d, w, t in zip(centres, seg_dir, wr, taper):
        d = d / np.linalg.norm(d)
        u = np.cross(d, [0.0, 1.0, 0.0])
        u /= np.linalg.norm(u)
        w2 = np.cross(u, d)
        verts.append(c + r * t * (np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * w2))
        weights.append(np.tile(w, (RING, 1)))
    v = np.concatenate(verts + [[centres[0] - 0.004 * d0], [pts[3]]])
    w = np.concatenate(weights + [[(1, 0, 0, 0)], [(0, 0, 0, 1)]]).astype(np.float64)
    nr = len(centres)
    f = []
    for i in range(nr - 1):
        for k in range(RING):
            a, b = i * RING + k, i * RING + (k + 1) % RING
            f += [(a, b, b + RING), (a, b + RING, a + RING)]
    start, end = nr * RING, nr * RING + 1
    for k in range(RING):
        f.append((start, (k + 1) % RING, k))
        f.append((end, (nr - 1) * RING + k, (nr - 1) * RING + (k + 1) % RING))
    f = _outward(v, np.array(f), np.array(centres + [pts[3]]))
    return v, f, w, np.arange(RING)[None] + RING * np.array([1, 3, 5])[:, None]


def _outward(v: np.ndarray, f: np.ndarray, axis_pts: np.ndarray) -> np.ndarray:
    """Flip triangles whose normal points toward the tube's axis polyline."""
    c = v[f].mean(1)
    closest, _ = _closest_on_segments(c, axis_pts[:-1], axis_pts[1:])
    near = closest[np.arange(len(c)), np.linalg.norm(c[:, None] - closest, axis=-1).argmin(1)]
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    flip = np.einsum("fk,fk->f", n, c - near) < 0
    f = f.copy()
    f[flip] = f[flip][:, ::-1]
    return f


def _surface(p: Proportions, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The body surface with exactly ``n`` vertices: ``body_surface`` when two Catmull-Clark
    steps leave room, else one step, edge splits and volume-keeping (Taubin) smoothing."""
    try:
        return body_surface(p, n)
    except ValueError:
        pass
    cage = build_cage(p)
    v, q = catmull_clark(cage.v, cage.q)
    v, f = split_longest_edges(v, triangulate(v, q), n - len(v))
    avg = vertex_adjacency(f, len(v))
    for lam in (0.5, -0.53) * 4:
        v = v + lam * (avg @ v - v)
    return v, f


def _palm(v: np.ndarray, p: Proportions) -> np.ndarray:
    """Cut the mitten back to a palm ending at the knuckles (and no mitten thumb)."""
    v = v.copy()
    x0 = p.arm_x
    for s in (1.0, -1.0):
        hand = (s * v[:, 0] > x0 + 0.52) & (np.abs(v[:, 1] - 1.39) < 0.08)
        v[hand, 0] = s * np.minimum(s * v[hand, 0], x0 + 0.51 + 0.09)
        v[hand, 2] = np.minimum(v[hand, 2], 0.035)
    return v


def _landmark_faces(v: np.ndarray, f: np.ndarray, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``count`` faces on the front of the head (construction frame) and barycentric weights."""
    c = v[f].mean(1)
    front = np.flatnonzero((c[:, 1] > 1.58) & (c[:, 1] < 1.70) & (c[:, 2] > 0.04) & (np.abs(c[:, 0]) < 0.06))
    pick = front[np.linspace(0, len(front) - 1, count).round().astype(int)]
    bary = rng.dirichlet((4.0, 4.0, 4.0), size=count)
    return pick, bary


def make_body_model_x(kind: str, gender: str = "neutral") -> dict:
    """The model dict of a ``kind`` ("smplh" or "smplx") file, metres, deterministic."""
    gender = gender.lower()
    if gender not in PROPORTIONS or kind not in JOINT_NAMES:
        raise AistppError(f"unknown body model {kind!r} / gender {gender!r}")
    p = PROPORTIONS[gender]
    names = JOINT_NAMES[kind]
    nj = len(names)
    rng = np.random.default_rng({"smplh": 1, "smplx": 2}[kind] * 10 + len(gender))
    j24 = design_joints(p)
    joints = np.zeros((nj, 3))
    joints[:22] = j24[:22]
    if kind == "smplx":
        joints[22] = (0.0, 1.60, 0.03)  # jaw
        joints[23], joints[24] = (0.032, 1.665, 0.045), (-0.032, 1.665, 0.045)  # eyes
    # fingers: tubes in the construction frame
    tubes, tips = [], {}
    for side, s in (("left", 1.0), ("right", -1.0)):
        wrist = j24[20 if side == "left" else 21]
        for finger, (pts, r) in finger_chains(wrist, s).items():
            ids = [names.index(f"{side}_{finger}{k}") for k in (1, 2, 3)]
            joints[ids] = pts[:3]
            tv, tf, tw, rings = finger_tube(pts, r)
            if s < 0:
                tf = tf[:, ::-1]  # (the design is mirrored: keep the winding outward)
                tf = _outward(tv, tf, pts)
            tubes.append((tv, tf, tw, rings, [names.index(f"{side}_wrist")] + ids))
            tips[f"{side}_{finger}"] = len(tv) - 1
    n_fingers = sum(len(t[0]) for t in tubes)
    nb = NUM_VERTICES[kind] - n_fingers
    vb, fb = _surface(p, nb)
    vb = _palm(add_face_features(vb), p)
    picks = landmark_vertices(vb, p)
    wb24 = skinning_weights(vb, fb, j24, p)
    # assemble: body then tubes
    v, f, W = [vb], [fb], np.zeros((NUM_VERTICES[kind], nj))
    W[:nb, :22] = wb24[:, :22]
    W[:nb, 20] += wb24[:, 22]
    W[:nb, 21] += wb24[:, 23]
    rows = []  # (joint, vertex ids) of the ring-mean regressor rows
    off = nb
    for (tv, tf, tw, rings, owners), (key, tip) in zip(tubes, tips.items()):
        v.append(tv), f.append(tf + off)
        for col, owner in enumerate(owners):
            W[off:off + len(tv), owner] += tw[:, col]
        rows += [(owners[1 + k], off + rings[k]) for k in range(3)]
        picks[key] = off + tip
        off += len(tv)
    v, f = np.concatenate(v), np.concatenate(f)
    if kind == "smplx":
        _jaw_weights(v[:nb], W[:nb], names.index("jaw"))
    order, f = _place(v, f, picks, dict(zip(VERTEX_JOINT_NAMES, VERTEX_IDS[kind])))
    new_id = np.empty(len(v), np.int64)
    new_id[order] = np.arange(len(v))
    v, W = v[order], W[order]
    # regressor: body (and face) joints from the surface near them, finger joints as ring means
    reg = sp.lil_matrix((nj, len(v)))
    body_ids = np.flatnonzero(order < nb)
    direct = [j for j in range(nj) if j not in {r[0] for r in rows}]
    sub = joint_regressor(v[body_ids], joints[direct]).tocoo()
    for r, c, val in zip(sub.row, sub.col, sub.data):
        reg[direct[r], body_ids[c]] = val
    for j, ids in rows:
        reg[j, new_id[ids]] = 1.0 / len(ids)
    reg = reg.tocsc()
    face = {}
    if kind == "smplx":  # face landmarks (picked in the construction frame)
        face["lmk_faces_idx"], face["lmk_bary_coords"] = _landmark_faces(v, f, NUM_LANDMARKS, rng)
        nbins, npts = NUM_DYNAMIC_LANDMARKS
        dyn, bary = _landmark_faces(v, f, npts, rng)
        face["dynamic_lmk_faces_idx"] = np.tile(dyn, (nbins, 1))
        face["dynamic_lmk_bary_coords"] = np.tile(bary, (nbins, 1, 1))
    scale = HEIGHT[gender] / np.ptp(v[:, 1])
    v = v * scale + np.array([0.0, PELVIS_Y - scale * joints[0, 1], 0.0])
    # shape space as the SMPL body's, over the 24 SMPL-like joints (each hand: one joint)
    w24 = np.zeros((len(v), 24))
    w24[:, :22] = W[:, :22]
    for side, col in (("left", 22), ("right", 23)):
        w24[:, col] = W[:, [i for i, n in enumerate(names) if n.startswith(f"{side}_") and n[-1] in "123"]].sum(1)
    if kind == "smplx":
        w24[:, 15] += W[:, 22:25].sum(1)
    jr = np.asarray(reg @ v)
    j24r = np.concatenate([jr[:22], jr[[names.index("left_middle1"), names.index("right_middle1")]]])
    shapedirs = shape_directions(v, w24, j24r)
    if kind == "smplx":
        shapedirs = np.concatenate([shapedirs, _expressions(v, jr[names.index("head")], rng)], axis=2)
    kin = np.stack([parents(kind), np.arange(nj)]).astype(np.int64)
    kin[0, 0] = int(ROOT_PARENT)
    out = {
        "v_template": v, "f": f.astype(np.uint32), "J_regressor": reg, "weights": W,
        "posedirs": _pose_correctives(v, W, rng), "shapedirs": shapedirs, "kintree_table": kin.astype(np.uint32),
    }  # fmt: skip
    for s in "lr":
        q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
        out[f"hands_components{s}"] = q.T.copy()
        out[f"hands_mean{s}"] = rng.normal(0.0, 0.12, 45)
    out.update(face)
    return out


def _jaw_weights(v: np.ndarray, W: np.ndarray, jaw: int) -> None:
    """Give the lower front of the head (construction frame) to the jaw, in place."""
    lower = np.clip((1.625 - v[:, 1]) / 0.03, 0, 1) * np.clip((v[:, 2] - 0.0) / 0.04, 0, 1) * (v[:, 1] > 1.55)
    share = W[:, 15] * lower
    W[:, 15] -= share
    W[:, jaw] += share


def _place(v: np.ndarray, f: np.ndarray, picks: dict[str, int], table: dict[str, int]):
    """Vertex order (new id -> old id) putting each picked vertex at its table id; faces renumbered."""
    target = np.array(list(table.values()))
    chosen = np.array([picks[name] for name in table])
    if len(np.unique(chosen)) != len(chosen):
        raise RuntimeError("two landmarks fell on the same vertex")
    order = np.full(len(v), -1)
    order[target] = chosen
    order[order < 0] = np.setdiff1d(np.arange(len(v)), chosen)
    new_id = np.empty(len(v), np.int64)
    new_id[order] = np.arange(len(v))
    return order, new_id[f]


def _pose_correctives(v: np.ndarray, W: np.ndarray, rng) -> np.ndarray:
    """posedirs (V, 3, 9 (J - 1)): each joint's rotation entries push the vertices it skins
    along a fixed random direction, up to 3 mm per unit of (R - I)."""
    nj = W.shape[1]
    dirs = rng.normal(size=(nj - 1, 9, 3))
    dirs *= 0.003 / np.linalg.norm(dirs, axis=-1, keepdims=True)
    return np.einsum("vj,jek->vkje", W[:, 1:], dirs).reshape(len(v), 3, 9 * (nj - 1))


def _expressions(v: np.ndarray, head: np.ndarray, rng) -> np.ndarray:
    """(V, 3, 10) m: smooth bumps (up to 5 mm) on the face, one per expression coefficient."""
    out = np.zeros((len(v), 3, EXPRESSIONS))
    front = v[:, 2] - head[2]
    for k in range(EXPRESSIONS):
        centre = head + np.array([rng.uniform(-0.04, 0.04), rng.uniform(-0.06, 0.03), 0.09])
        d2 = ((v - centre) ** 2).sum(1)
        out[:, 2, k] = 0.005 * np.exp(-d2 / (2 * 0.02**2)) * (front > 0)
    return out


def write_body_model_x(path: str | Path, data: dict) -> None:
    """Write ``data`` as ``.npz`` (plain arrays, J_regressor dense) or ``.pkl`` (protocol 2,
    numpy and scipy.sparse objects, as the released SMPL-H pickles)."""
    path = Path(path)
    if path.suffix == ".npz":
        import io

        buf = io.BytesIO()
        np.savez(buf, **{k: (v.toarray() if hasattr(v, "toarray") else np.asarray(v)) for k, v in data.items()})
        write_bytes_atomic(path, buf.getvalue())
    elif path.suffix == ".pkl":
        write_bytes_atomic(path, pickle.dumps(dict(data), protocol=2))
    else:
        raise AistppError("a body model file ends in .npz or .pkl", path)


def model_file_name(kind: str, gender: str, ext: str | None = None) -> str:
    """``SMPLX_NEUTRAL.npz`` / ``SMPLH_NEUTRAL.pkl`` (smplx's default extension per model)."""
    ext = ext or (".npz" if kind == "smplx" else ".pkl")
    return f"{kind.upper()}_{gender.upper()}{ext}"


__all__ = ["NUM_BETAS", "finger_chains", "make_body_model_x", "model_file_name", "write_body_model_x"]
