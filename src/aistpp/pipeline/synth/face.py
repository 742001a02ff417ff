"""Face features finer than the mesh: eyes, brows, nostrils, a mouth and ears as small polygons on the head.

The body mesh has ~1.6 cm between vertices on the head, so eyes painted as vertex colours
(``video.body_colours``) blur into the skin and a detector sees a blank face. ``face_decals``
builds the features as thin polygons lying on the head's surface instead: each polygon vertex
is fixed to a template triangle (barycentric coordinates) and lifted a little along its normal,
so ``posed_decals`` places it on the posed mesh with no skinning of its own, and the renderer
draws its triangles right after the body faces they lie on (a nose or an arm in front of an
eye still hides it).

Sizes are an adult's (an eye opening ~2.9 x 1.1 cm, iris ~1.2 cm, mouth ~4.4 cm, ear ~3 x 5 cm),
placed around SMPL's eye, nose and ear landmark vertices in the template (m, +y up, facing +z):
the face's features by rays along -z, the ears' by rays along -x / +x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LIFT_CM = 0.05  # decals float this far above the surface (cm, posed scale),
LAYER_CM = 0.02  # and each layer (socket, eye white, iris, pupil) this much above the one below
_RING = 12  # polygon vertices of an ellipse


@dataclass
class Decals:
    """Triangles (T, 3) of decal points, each point on template triangle ``tri`` (P,) at
    barycentric ``bary`` (P, 3), lifted ``lift`` (P,) cm, a BGR colour (T, 3) per triangle, and the
    feature (T,) each triangle belongs to (an eye's stack of socket, white, lid, iris and pupil; a
    brow; an ear and its hollow...): the renderer draws a feature's layers bottom to top."""

    tri: np.ndarray
    bary: np.ndarray
    lift: np.ndarray
    triangles: np.ndarray
    colours: np.ndarray
    features: np.ndarray


def _ellipse(centre: np.ndarray, half_w: float, half_h: float, n: int = _RING) -> np.ndarray:
    """(n + 1, 2): the centre, then ``n`` points around it."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.concatenate([[centre], np.stack([centre[0] + half_w * np.cos(t), centre[1] + half_h * np.sin(t)], 1)])


def _hit(v: np.ndarray, f: np.ndarray, uv: np.ndarray, candidates: np.ndarray, plane: tuple[int, int],
         depth: int, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """For points ``uv`` (P, 2) (template coordinates ``plane``), the template triangle (among
    ``candidates``) a ray along -``sign`` x axis ``depth`` hits first, and the barycentric
    coordinates of the hit: (P,), (P, 3)."""
    a, b, c = (v[f[candidates, k]][:, plane] for k in range(3))  # (C, 2): projected on the plane
    tri = np.empty(len(uv), np.int64)
    bary = np.empty((len(uv), 3))
    d = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    for i, p in enumerate(uv):
        with np.errstate(divide="ignore", invalid="ignore"):
            l1 = ((b[:, 1] - c[:, 1]) * (p[0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (p[1] - c[:, 1])) / d
            l2 = ((c[:, 1] - a[:, 1]) * (p[0] - c[:, 0]) + (a[:, 0] - c[:, 0]) * (p[1] - c[:, 1])) / d
        l3 = 1 - l1 - l2
        inside = np.flatnonzero((l1 >= -1e-9) & (l2 >= -1e-9) & (l3 >= -1e-9) & (np.abs(d) > 1e-12))
        if not len(inside):
            raise RuntimeError(f"no head triangle under the face point {p}")
        ends = v[f[candidates[inside]], depth]  # (n, 3)
        z = l1[inside] * ends[:, 0] + l2[inside] * ends[:, 1] + l3[inside] * ends[:, 2]
        k = inside[np.argmax(sign * z)]
        tri[i], bary[i] = candidates[k], (l1[k], l2[k], l3[k])
    return tri, bary


def face_decals(template: np.ndarray, faces: np.ndarray, weights: np.ndarray, skin_bgr: np.ndarray,
                hair_bgr: np.ndarray, rng: np.random.Generator) -> Decals:
    """The eyes (shaded socket, white, lid line, iris, pupil), brows, nostrils, mouth and ears of the
    template (M, 3) m with ``faces`` (F, 3) wound outward and skinning ``weights`` (M, joints) (the
    head is the head joint's region); shades of ``skin_bgr``, brows of ``hair_bgr``, the iris and lip
    colours drawn from ``rng``."""
    from aistpp.core.body_models import SMPL

    v = np.asarray(template, np.float64)
    lm = {m.name: v[m.vertex] for m in SMPL.landmarks}
    head = np.asarray(weights).argmax(axis=1) == SMPL.index("head")
    normal = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    candidates = np.flatnonzero(head[faces].all(axis=1) & (normal[:, 2] > 0))  # the head's front faces
    iris = np.array([rng.uniform(20, 70), rng.uniform(30, 80), rng.uniform(40, 100)])
    lips = np.array([rng.uniform(70, 110), rng.uniform(70, 100), rng.uniform(140, 190)])
    skin = np.asarray(skin_bgr, np.float64)
    dark = np.array([25.0, 22.0, 20.0])
    # (centre + ring (n + 1, 2) template x, y; colour; layer; feature)
    shapes: list[tuple[np.ndarray, np.ndarray, int, int]] = []
    for k, side in enumerate(("left_eye", "right_eye")):
        e = lm[side][:2]
        shapes.append((_ellipse(e + (0.0, 0.002), 0.019, 0.011), 0.72 * skin, 0, 2 * k))  # the eye socket's shade
        shapes.append((_ellipse(e, 0.0145, 0.0055), np.array([215.0, 220.0, 225.0]), 1, 2 * k))
        shapes.append((_ellipse(e + (0.0, 0.0045), 0.015, 0.0018), dark, 2, 2 * k))  # upper lid and lashes
        shapes.append((_ellipse(e, 0.006, 0.0055), iris, 2, 2 * k))
        shapes.append((_ellipse(e, 0.0028, 0.0028, 8), dark, 3, 2 * k))
        shapes.append((_ellipse(e + (0.0, 0.017), 0.016, 0.0028), np.asarray(hair_bgr, np.float64), 1, 2 * k + 1))
    nose = lm["nose"][:2]
    for k, s in enumerate((-1.0, 1.0)):  # nostrils, under the tip
        shapes.append((_ellipse(nose + (s * 0.008, -0.012), 0.004, 0.0022, 8), 0.45 * skin, 0, 4 + k))
    shapes.append((_ellipse(nose + (0.0, -0.028), 0.022, 0.0055), lips, 0, 6))
    shapes.append((_ellipse(nose + (0.0, -0.0275), 0.021, 0.0009, 8), 0.4 * lips, 1, 6))  # between the lips
    points = np.concatenate([ring for ring, _, _, _ in shapes])
    tri, bary = _hit(v, faces, points, candidates, (0, 1), 2, 1.0)  # seen from the front (+z)
    flipped: list[int] = []
    for k, (s, side) in enumerate(((1.0, "left_ear"), (-1.0, "right_ear"))):  # ears, seen from the side (z, y)
        e = lm[side][[2, 1]]
        shapes.append((_ellipse(e, 0.015, 0.026), 0.8 * skin, 0, 7 + k))
        shapes.append((_ellipse(e + (0.003, -0.002), 0.006, 0.011, 8), 0.5 * skin, 1, 7 + k))  # the hollow
        ring = np.concatenate([shapes[-2][0], shapes[-1][0]])
        side_faces = np.flatnonzero(head[faces].all(axis=1) & (s * normal[:, 0] > 0))
        t, b = _hit(v, faces, ring, side_faces, (2, 1), 0, s)
        tri, bary = np.concatenate([tri, t]), np.concatenate([bary, b])
        if s > 0:  # a counter-clockwise ring in the z-y plane faces -x: the left ear's is wound the other way
            flipped += [len(shapes) - 2, len(shapes) - 1]
    lift = LIFT_CM + LAYER_CM * np.concatenate([np.full(len(ring), layer, float) for ring, _, layer, _ in shapes])
    triangles, colours, features, start = [], [], [], 0
    for i, (ring, colour, _, feature) in enumerate(shapes):  # a fan about each ellipse's centre, facing out of the head
        n = len(ring) - 1
        fan = [(start, start + 1 + k, start + 1 + (k + 1) % n) for k in range(n)]
        triangles += [(a, c, b) for a, b, c in fan] if i in flipped else fan
        colours += [colour] * n
        features += [feature] * n
        start += n + 1
    return Decals(tri, bary, lift, np.array(triangles, np.int64), np.array(colours), np.array(features, np.int64))


def posed_decals(decals: Decals, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Decal points (P, 3) cm on posed ``vertices`` (M, 3) cm: the barycentric point of each one's
    triangle, lifted its ``lift`` along the triangle's normal."""
    t = np.asarray(vertices, np.float64)[faces[decals.tri]]  # (P, 3, 3)
    p = np.einsum("pk,pkd->pd", decals.bary, t)
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    return p + decals.lift[:, None] * n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
