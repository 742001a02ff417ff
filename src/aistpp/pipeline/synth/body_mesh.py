"""The surface of the procedural body: a box-modelled quad cage, smoothed by Catmull-Clark.

The cage starts as a subdivided torso box; neck and head, arms, thumbs, legs, feet and heels
are extruded from its faces (extrusion keeps a closed genus-0 surface). Two Catmull-Clark
steps make it smooth; the quads are split into triangles and the longest edges are split
until the mesh has exactly ``num_vertices`` vertices (a closed genus-0 triangle mesh with
V vertices has 2V - 4 faces: SMPL's vertex count gives its face count).

Construction frame: metres, +y up, floor y = 0, facing +z, the body's left is +x (SMPL's
rest frame up to a vertical shift). Faces are wound counter-clockwise seen from outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aistpp.core.body_models import SMPL


ROUND_LIMB = 2.2  # superellipse exponent of limb cross-sections (2: ellipse)
ROUND_TORSO = 3.0


@dataclass(frozen=True)
class Proportions:
    """Shape factors of one body (1 = the neutral body); lengths in metres, floor-based."""

    shoulders: float = 1.0  # torso half-width at the chest and shoulders
    hips: float = 1.0  # torso half-width at the hips, and leg spacing
    waist: float = 1.0
    depth: float = 1.0  # torso front-back depth
    limbs: float = 1.0  # limb thickness
    chest: float = 0.0  # extra chest depth (m)

    @property
    def arm_x(self) -> float:
        """|x| where the arms leave the torso (m); arm joints are placed from it."""
        return 0.175 * self.shoulders

    @property
    def leg_x(self) -> float:
        """|x| of the leg axes (m)."""
        return 0.085 * self.hips


PROPORTIONS = {
    "neutral": Proportions(),
    "male": Proportions(shoulders=1.08, hips=0.97, waist=1.03, depth=1.03, limbs=1.08),
    "female": Proportions(shoulders=0.92, hips=1.06, waist=0.9, depth=0.97, limbs=0.92, chest=0.012),
}


class Cage:
    """A closed quad mesh built by extrusion: ``v`` (n, 3) m, ``q`` (F, 4) vertex ids."""

    def __init__(self, v: np.ndarray, q: np.ndarray) -> None:
        self.v = np.asarray(v, np.float64)
        self.q = np.asarray(q, np.int64)

    def normals(self, faces: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Centroids (k, 3) and unit outward normals (k, 3) of ``faces`` (all by default)."""
        q = self.q if faces is None else self.q[faces]
        p = self.v[q]
        n = np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1])
        return p.mean(axis=1), n / np.linalg.norm(n, axis=1, keepdims=True)

    def select(self, normal: tuple[float, float, float], where=None, among: np.ndarray | None = None) -> np.ndarray:
        """Ids of faces (optionally ``among`` some) whose normal is within ~45 deg of ``normal``
        and whose centroid satisfies ``where(centroids) -> bool mask``."""
        ids = np.arange(len(self.q)) if among is None else np.asarray(among)
        c, n = self.normals(ids)
        keep = n @ np.asarray(normal, np.float64) > 0.7
        if where is not None:
            keep &= where(c)
        return ids[keep]

    def extrude(self, faces: np.ndarray, centre, size, roundness: float = ROUND_LIMB) -> np.ndarray:
        """Extrude the connected region ``faces``: its vertices are copied and mapped so their
        bounding box is centred on ``centre`` (3,) with extents ``size`` (3,) (NaN: keep the
        extent); the rim is then pulled onto a superellipse of exponent ``roundness`` within
        that box (2: an ellipse). Returns the ids of the new side faces; the region keeps its
        face ids."""
        region = self.q[faces]
        verts = np.unique(region)
        pts = self.v[verts]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        ext = hi - lo
        size = np.asarray(size, np.float64)
        scale = np.where(np.isnan(size) | (ext < 1e-9), 1.0, size / np.maximum(ext, 1e-9))
        offset = (pts - (lo + hi) / 2) * scale
        new_id = np.full(len(self.v), -1)
        new_id[verts] = np.arange(len(self.v), len(self.v) + len(verts))
        half = np.stack([region, np.roll(region, -1, axis=1)], axis=-1).reshape(-1, 2)
        inner = {(a, b) for a, b in half.tolist()}
        boundary = np.array([(a, b) for a, b in half.tolist() if (b, a) not in inner])
        across = ~np.isnan(size)  # the cross-section axes
        rim = np.isin(verts, boundary[:, 0])
        uw = offset[:, across] / (size[across] / 2)  # rim in [-1, 1]^2
        norm = np.sum(np.abs(uw) ** roundness, axis=1) ** (1 / roundness)
        offset[:, across] *= np.where(rim & (norm > 1e-9), 1 / np.maximum(norm, 1e-9), 1.0)[:, None]
        new_pts = np.asarray(centre, np.float64) + offset
        sides = np.stack([boundary[:, 0], boundary[:, 1], new_id[boundary[:, 1]], new_id[boundary[:, 0]]], axis=1)
        self.q[faces] = new_id[region]
        first = len(self.q)
        self.v = np.concatenate([self.v, new_pts])
        self.q = np.concatenate([self.q, sides])
        return np.arange(first, len(self.q))


def _torso(p: Proportions) -> Cage:
    """The torso box: 4 x 6 x 2 cells, shaped per height level (hips, waist, chest, shoulders)."""
    ys = np.array([0.80, 0.90, 1.00, 1.12, 1.24, 1.35, 1.47])
    half_w = 1.08 * np.array([0.150 * p.hips, 0.170 * p.hips, 0.155 * p.hips, 0.135 * p.waist,
                              0.150 * p.shoulders, 0.170 * p.shoulders, 0.165 * p.shoulders])
    half_d = np.array([0.09, 0.11, 0.105, 0.095, 0.105 + p.chest, 0.11 + p.chest, 0.085]) * p.depth
    z_off = np.array([-0.005, -0.015, -0.005, 0.0, 0.015, 0.012, -0.005])
    xs, zs = np.linspace(-1, 1, 5), np.linspace(-1, 1, 3)
    gx, gy, gz = np.meshgrid(xs, np.arange(len(ys)), zs, indexing="ij")  # (5, 7, 3) grid indices
    rim = (np.abs(gx) == 1) | (np.abs(gz) == 1)
    norm = (np.abs(gx) ** ROUND_TORSO + np.abs(gz) ** ROUND_TORSO) ** (1 / ROUND_TORSO)
    r = np.where(rim, 1 / np.maximum(norm, 1e-9), 1.0)  # rounded-rectangle cross-sections
    pts = np.stack([gx * r * half_w[gy], ys[gy], gz * r * half_d[gy] + z_off[gy]], axis=-1)
    top = gy == len(ys) - 1
    pts[..., 1] -= np.where(top, 0.035 * np.abs(gx) ** 2, 0.0)  # sloping shoulders
    idx = np.arange(pts[..., 0].size).reshape(gx.shape)
    quads = []
    for axis in range(3):  # two sides per axis; (u, w, n) right-handed so (u, w) runs CCW seen from +n
        u, w = (axis + 1) % 3, (axis + 2) % 3
        for end, flip in ((0, True), (idx.shape[axis] - 1, False)):
            face = np.take(idx, end, axis=axis)  # 2D array over the two remaining axes (in order)
            if u > w:  # np.take keeps axis order; make rows u, columns w
                face = face.T
            a, b, c, d = face[:-1, :-1], face[1:, :-1], face[1:, 1:], face[:-1, 1:]
            q = np.stack([a, b, c, d], axis=-1).reshape(-1, 4)
            quads.append(q[:, ::-1] if flip else q)
    q = np.concatenate(quads)
    used, q = np.unique(q, return_inverse=True)
    return Cage(pts.reshape(-1, 3)[used], q.reshape(-1, 4))


def build_cage(p: Proportions) -> Cage:
    """The whole-body quad cage (428 faces) in the construction frame."""
    cage = _torso(p)
    lw = 1.07 * p.limbs
    # Regions of the torso box the limbs grow from (face ids survive extrusion).
    head = cage.select((0, 1, 0), lambda c: np.abs(c[:, 0]) < 0.08 * p.shoulders + 0.01)
    arms = {s: cage.select((s, 0, 0), lambda c: c[:, 1] > 1.25) for s in (1.0, -1.0)}
    legs = {s: cage.select((0, -1, 0), lambda c, s=s: s * c[:, 0] > 0) for s in (1.0, -1.0)}
    # Neck and head from the middle of the top face.
    for y, z, wx, wz in ((1.52, -0.012, 0.105, 0.105), (1.575, -0.005, 0.125, 0.14), (1.63, 0.01, 0.165, 0.20),
                         (1.72, 0.005, 0.165, 0.195), (1.775, -0.005, 0.11, 0.13)):
        cage.extrude(head, (0.0, y, z), (wx, np.nan, wz))
    for side in (1.0, -1.0):
        # Arm out of the upper side faces, palm down, thumb forward (+z).
        arm = arms[side]
        x0 = p.arm_x
        steps = ((0.03, 1.385, 0.135, 0.125), (0.13, 1.39, 0.10, 0.095), (0.265, 1.392, 0.08, 0.08),
                 (0.39, 1.393, 0.075, 0.078), (0.505, 1.393, 0.045, 0.062), (0.58, 1.391, 0.035, 0.09),
                 (0.70, 1.387, 0.022, 0.08))
        palm = None
        for k, (dx, y, wy, wz) in enumerate(steps):
            t = lw if k < 5 else 1.0
            sides = cage.extrude(arm, (side * (x0 + dx), y, -0.01), (np.nan, wy * t, wz * t))
            if k == 5:
                palm = sides
        thumb = cage.select((0, 0, 1), among=palm)
        cage.extrude(thumb, (side * (x0 + 0.545), 1.388, 0.065), (0.05, 0.04, np.nan))
        cage.extrude(thumb, (side * (x0 + 0.575), 1.388, 0.10), (0.045, 0.036, np.nan))
        # Leg from the bottom face, then the foot forward and the heel back.
        hx = p.leg_x
        leg = legs[side]
        steps = ((0.72, 0.155, 0.165), (0.60, 0.135, 0.145), (0.48, 0.105, 0.11), (0.37, 0.115, 0.125),
                 (0.25, 0.09, 0.10), (0.14, 0.068, 0.075), (0.085, 0.07, 0.08), (0.01, 0.08, 0.10))
        for y, wx, wz in steps:
            sides = cage.extrude(leg, (side * hx, y, -0.015), (wx * lw, np.nan, wz * lw))
        toe = cage.select((0, 0, 1), among=sides)
        heel = cage.select((0, 0, -1), among=sides)
        cage.extrude(toe, (side * (hx + 0.005), 0.035, 0.07), (0.09, 0.07, np.nan))
        cage.extrude(toe, (side * (hx + 0.01), 0.022, 0.165), (0.09, 0.04, np.nan))
        cage.extrude(heel, (side * hx, 0.04, -0.085), (0.07, 0.07, np.nan))
    used, q = np.unique(cage.q, return_inverse=True)  # drop the vertices extrusion left inside
    return Cage(cage.v[used], q.reshape(-1, 4))


def catmull_clark(v: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Catmull-Clark step on a closed quad mesh: (n, 3), (F, 4) -> (n + E + F, 3), (4F, 4)."""
    n, F = len(v), len(q)
    a, b = q.reshape(-1), np.roll(q, -1, axis=1).reshape(-1)  # half-edges, (4F,)
    key = np.minimum(a, b) * n + np.maximum(a, b)
    _, edge, count = np.unique(key, return_inverse=True, return_counts=True)
    if np.any(count != 2):
        raise ValueError("catmull_clark needs a closed manifold quad mesh")
    E = len(count)
    face_of = np.repeat(np.arange(F), 4)
    fp = v[q].mean(axis=1)
    ep = np.zeros((E, 3))
    np.add.at(ep, edge, (v[a] + fp[face_of]) / 2)  # each edge gets (v_a + fp)/2 from both sides
    ep /= 2
    valence = np.bincount(a, minlength=n).astype(np.float64)[:, None]
    f_avg = np.zeros((n, 3))
    np.add.at(f_avg, a, fp[face_of])
    f_avg /= valence
    r_avg = np.zeros((n, 3))
    np.add.at(r_avg, a, (v[a] + v[b]) / 2)  # each incident edge once as an outgoing half-edge
    r_avg /= valence
    vp = (f_avg + 2 * r_avg + (valence - 3) * v) / valence
    e = edge.reshape(F, 4)  # e[:, k] joins corners k and k+1
    f = n + E + np.arange(F)
    quads = [np.stack([q[:, k], n + e[:, k], f, n + e[:, k - 1]], axis=1) for k in range(4)]
    return np.concatenate([vp, ep, fp]), np.stack(quads, axis=1).reshape(-1, 4)


def triangulate(v: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Split each quad (F, 4) along its shorter diagonal -> triangles (2F, 3), same winding."""
    d02 = np.linalg.norm(v[q[:, 0]] - v[q[:, 2]], axis=1)
    d13 = np.linalg.norm(v[q[:, 1]] - v[q[:, 3]], axis=1)
    use02 = (d02 <= d13)[:, None]
    t1 = np.where(use02, q[:, [0, 1, 2]], q[:, [0, 1, 3]])
    t2 = np.where(use02, q[:, [0, 2, 3]], q[:, [1, 2, 3]])
    return np.stack([t1, t2], axis=1).reshape(-1, 3)


def split_longest_edges(v: np.ndarray, f: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Add ``count`` vertices to the closed triangle mesh by splitting its longest edges at
    their midpoints (each split: +1 vertex, +2 faces; winding kept)."""
    v, f = v.copy(), f.copy()
    while count > 0:
        a, b = f.reshape(-1), np.roll(f, -1, axis=1).reshape(-1)
        length = np.linalg.norm(v[a] - v[b], axis=1)
        where = {(x, y): i for i, (x, y) in enumerate(zip(a.tolist(), b.tolist()))}
        touched = np.zeros(len(f), bool)
        new_v, new_f, drop = [], [], []
        for h in np.argsort(-length, kind="stable"):
            if count == 0:
                break
            x, y = int(a[h]), int(b[h])
            g = where[(y, x)]
            t1, t2 = h // 3, g // 3
            if touched[t1] or touched[t2]:
                continue
            touched[t1] = touched[t2] = True
            c = int(f[t1][(h % 3 + 2) % 3])  # opposite corner in t1 = (x, y, c)
            d = int(f[t2][(g % 3 + 2) % 3])  # opposite corner in t2 = (y, x, d)
            m = len(v) + len(new_v)
            new_v.append((v[x] + v[y]) / 2)
            new_f += [(x, m, c), (m, y, c), (y, m, d), (m, x, d)]
            drop += [t1, t2]
            count -= 1
        keep = np.ones(len(f), bool)
        keep[drop] = False
        v = np.concatenate([v, np.array(new_v)])
        f = np.concatenate([f[keep], np.array(new_f, np.int64)])
    return v, f


def body_surface(p: Proportions, num_vertices: int = SMPL.num_vertices) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (num_vertices, 3) m and outward triangles (2 num_vertices - 4, 3) of the body."""
    cage = build_cage(p)
    v, q = cage.v, cage.q
    for _ in range(2):
        v, q = catmull_clark(v, q)
    f = triangulate(v, q)
    if len(v) > num_vertices:
        raise ValueError(f"cage too fine: {len(v)} vertices > {num_vertices}")
    return split_longest_edges(v, f, num_vertices - len(v))
