"""Videos of the posed body seen from each camera: a dressed, shaded mesh on a checkered floor.

The body is drawn by the one mesh rasteriser (``aistpp.core.render``, a painter's algorithm):
back faces are culled, the front faces are drawn far to near, flat-shaded by a light at the
camera. So that a real detector (BlazePose) sees a person, the body is coloured like one
(``body_colours``: skin, hair, a shirt, trousers, shoes; colours drawn per sequence; the eyes,
brows, mouth and ears are polygons on the head, ``face.face_decals``) and the wall carries a
faint grey texture. The shadow is the convex hull of the body dropped onto the floor. Vertices
are projected with the camera's distortion, so the body lands exactly where the keypoints do.
Frames are written with ``aistpp.core.video.VideoWriter`` (libx264, yuv420p, 60 fps: frame i at i/60 s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aistpp.core.body_models import SMPL
from aistpp.core.cameras import CameraRig
from aistpp.core.render import face_geometry, paint_faces, rasterize_faces

BODY_BGR = np.array([200.0, 150.0, 95.0])  # the plain body colour (no ``colours`` given)
SHADES = 16
FLOOR_TILE_CM = 100.0
FLOOR_HALF_TILES = 5
_SHIFT = 2  # fillPoly sub-pixel bits (floor and shadow)
_COLOURS = BODY_BGR * (0.35 + 0.65 * (np.arange(SHADES)[:, None] + 0.5) / SHADES)  # (SHADES, 3) the plain body


# SMPL joints whose skinning region wears each garment (the rest is skin: head, neck, forearms, hands).
_SHIRT = tuple(SMPL.index(n) for n in ("spine1", "spine2", "spine3", "left_collar", "right_collar", "left_shoulder",
                                        "right_shoulder"))  # spine, collars, upper arms
_TROUSERS = tuple(SMPL.index(n) for n in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee"))  # thighs, shins
_SHOES = tuple(SMPL.index(n) for n in ("left_ankle", "right_ankle", "left_foot", "right_foot"))  # ankles, feet
_SKIN_TONES = np.array([[160, 190, 235], [120, 160, 215], [95, 130, 190], [70, 100, 150], [50, 70, 110]], float)


def _hsv_bgr(h: float, s: float, v: float) -> np.ndarray:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return np.array([b, g, r]) * 255


def body_colours(template: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-vertex BGR colours (M, 3) float of a dressed person: skin, hair, a shirt with short
    sleeves, trousers, shoes (the eyes, brows and mouth are finer than the mesh:
    ``face.face_decals``). ``template`` (M, 3) m is the rest pose (SMPL's frame: +y up, facing
    +z), ``weights`` (M, 24) its skinning weights; the garments are the regions of the joints
    that move them, the hairline and bare ears are placed from SMPL's landmark vertices.
    Colours are drawn from ``rng`` (skin tone, hue and shade of each garment)."""

    v = np.asarray(template, np.float64)
    part = np.asarray(weights).argmax(axis=1)
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.92, 1.05)
    out = np.tile(skin, (len(v), 1))
    out[np.isin(part, _SHIRT)] = _hsv_bgr(rng.random(), rng.uniform(0.45, 0.85), rng.uniform(0.55, 0.95))
    out[np.isin(part, _TROUSERS)] = _hsv_bgr(rng.random(), rng.uniform(0.35, 0.7), rng.uniform(0.25, 0.5))
    out[np.isin(part, _SHOES)] = _hsv_bgr(rng.random(), rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8))
    lm = {m.name: v[m.vertex] for m in SMPL.landmarks}
    eyes = (lm["left_eye"] + lm["right_eye"]) / 2
    head = part == SMPL.index("head")
    d = v - eyes
    # hair: the crown above the forehead and the back of the head down to the ears, the ears bare
    ears = np.minimum(np.linalg.norm(v - lm["left_ear"], axis=1), np.linalg.norm(v - lm["right_ear"], axis=1))
    hair = head & ((d[:, 1] > 0.05) | ((d[:, 2] < -0.045) & (d[:, 1] > lm["left_ear"][1] - eyes[1] - 0.03)))
    hair &= ears > 0.025
    out[hair] = _hsv_bgr(rng.uniform(0.02, 0.12), rng.uniform(0.4, 0.8), rng.uniform(0.08, 0.35))
    return out


def _fixed(px: np.ndarray) -> np.ndarray:
    return np.round(np.clip(px, -1e4, 1e4) * (1 << _SHIFT)).astype(np.int32)


def _in_view(cam: CameraRig, points: np.ndarray, margin: float = 1.3) -> np.ndarray:
    """(...,) bool: in front of the one-camera rig ``cam`` and within ``margin`` x its field of view,
    where the distortion polynomial is still monotonic (beyond it, far points fold back in)."""
    p = cam.world_to_camera(points)[0]
    z = p[..., 2]
    w, h = cam.sizes[0]
    fx, fy, cx, cy = cam.K[0, 0, 0], cam.K[0, 1, 1], cam.K[0, 0, 2], cam.K[0, 1, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = p[..., 0] / z, p[..., 1] / z
        return (z > 10) & (np.abs(x) < margin * max(cx, w - cx) / fx) & (np.abs(y) < margin * max(cy, h - cy) / fy)


def background(rig: CameraRig, view: int) -> np.ndarray:
    """A (h, w, 3) uint8 BGR backdrop: a grey wall gradient and a checkered floor (y = 0)."""
    import cv2

    cam = rig.subset([rig.names[view]])
    w, h = (int(s) for s in rig.sizes[view])
    img = np.empty((h, w, 3), np.uint8)
    # a grey wall: a vertical gradient and a faint blotchy texture (fixed per view)
    noise = np.random.default_rng([7, view]).normal(size=(max(h // 24, 2), max(w // 24, 2)))
    texture = cv2.GaussianBlur(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 3)
    img[:] = np.clip(np.linspace(120, 70, h)[:, None] + 6 * texture, 0, 255).astype(np.uint8)[..., None]
    # Floor cells of a quarter tile, each coloured by its tile; cells outside the view are
    # dropped (they are off-image), so no far point folds back through the distortion.
    n, s, sub = FLOOR_HALF_TILES, FLOOR_TILE_CM, 4
    a = np.arange(-n * sub, n * sub) * (s / sub)
    x0, z0 = (g.ravel() for g in np.meshgrid(a, a, indexing="ij"))
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]]) * (s / sub)
    quad = np.stack([x0[:, None] + square[:, 0], np.zeros((len(x0), 4)), z0[:, None] + square[:, 1]], -1)
    ok = _in_view(cam, quad).all(axis=1)
    px = cam.project(quad)[0]
    ok &= np.all(np.isfinite(px), axis=(1, 2))
    dark = (np.floor(x0 / s) + np.floor(z0 / s)).astype(int) % 2 == 0
    for colour, mask in (((150, 150, 150), ok & dark), ((185, 185, 185), ok & ~dark)):
        if mask.any():
            cv2.fillPoly(img, list(_fixed(px[mask])), colour, lineType=cv2.LINE_8, shift=_SHIFT)
    return img


def render_body(image: np.ndarray, cam: CameraRig, vertices: np.ndarray, faces: np.ndarray,
                colours: np.ndarray | None = None, decals=None) -> np.ndarray:
    """Draw the mesh ``vertices`` (M, 3) cm (world) seen by the one-camera rig ``cam`` onto ``image``
    (h, w, 3) uint8 BGR, in place; ``faces`` (F, 3) wound outward (see ``core.render.outward_faces``);
    ``colours`` (M, 3) BGR per vertex (``body_colours``), default the plain ``BODY_BGR``;
    ``decals``: ``face.Decals`` of the same mesh (face features, drawn with ``colours`` only)."""
    import cv2

    cam_pts = cam.world_to_camera(vertices)[0]  # (M, 3)
    px = cam.project(vertices)[0]  # (M, 2)
    if not np.all(np.isfinite(px)) or np.any(cam_pts[:, 2] < 1):
        return image
    # Shadow: the body dropped onto the floor, its convex hull darkened.
    flat = np.array(vertices[::4], np.float64)
    flat[:, 1] = 0.0
    shadow = cam.project(flat)[0]
    if np.all(np.isfinite(shadow)):
        hull = cv2.convexHull(_fixed(shadow).reshape(-1, 1, 2))
        x, y, w, h = cv2.boundingRect(hull >> _SHIFT)
        x0, y0 = max(x - 1, 0), max(y - 1, 0)
        roi = image[y0:y + h + 2, x0:x + w + 2]
        if roi.size:
            overlay = roi.copy()
            cv2.fillPoly(overlay, [hull - (np.array([x0, y0]) << _SHIFT)], (40, 40, 40), cv2.LINE_AA, _SHIFT)
            cv2.addWeighted(overlay, 0.4, roi, 0.6, 0, dst=roi)
    # Front faces through the one rasteriser (core.render: painter's algorithm, far to near),
    # each flat-shaded by a head light, opaque.
    facing, lam = face_geometry(cam_pts, faces, ambient=0.0)
    front, lam = np.asarray(faces)[facing], lam[facing].astype(np.float64)
    if colours is None:
        face_bgr = _COLOURS[np.minimum((lam * SHADES).astype(int), SHADES - 1)]
    else:
        face_bgr = np.asarray(colours, np.float64)[front].mean(axis=1) * (0.35 + 0.65 * np.clip(lam, 0, 1))[:, None]
    h, w = image.shape[:2]
    depth = cam_pts[:, 2]
    order = depth[front].mean(axis=1)
    if decals is not None and colours is not None:  # face features join the body's faces in the depth order
        from aistpp.pipeline.synth.face import posed_decals

        points = posed_decals(decals, vertices, faces)
        d_cam = cam.world_to_camera(points)[0]
        d_facing, d_lam = face_geometry(d_cam, decals.triangles, ambient=0.0)
        tris = np.asarray(decals.triangles)[d_facing]
        # each feature drawn right after the nearest body face it lies on, its layers bottom to top:
        # sorting by their own depth would let the neighbours of a tilted host paint over them, and
        # keying each triangle on its own hosts would let a lower layer paint over a higher one
        host = cam_pts[np.asarray(faces)[decals.tri]].mean(axis=1)[:, 2]  # (P,) depth of each point's host face
        feature = np.asarray(decals.features)[d_facing]
        nearest = np.full(int(decals.features.max()) + 1, np.inf)
        np.minimum.at(nearest, feature, host[tris].min(axis=1))
        d_order = nearest[feature] - 1e-3 * (1 + decals.lift[tris].max(axis=1))
        d_bgr = decals.colours[d_facing] * (0.35 + 0.65 * np.clip(d_lam[d_facing], 0, 1))[:, None]
        px = np.concatenate([px, cam.project(points)[0]])
        depth = np.concatenate([depth, d_cam[:, 2]])
        front = np.concatenate([front, tris + len(cam_pts)])
        order = np.concatenate([order, d_order])
        face_bgr = np.concatenate([face_bgr, d_bgr])
    ids, origin = rasterize_faces(px, depth, front, (w, h), order=order)
    return paint_faces(image, ids, origin, np.round(face_bgr))


def write_video(path: Path, frames, size: tuple[int, int], fps: int = 60, crf: int = 23) -> int:
    """Encode BGR uint8 frames (h, w, 3) to an H.264 MP4 at ``path`` (atomically, through
    ``aistpp.core.video.VideoWriter`` with libx264's fastest preset). Returns the frame count."""
    from aistpp.core.video import VideoWriter

    with VideoWriter(path, fps=fps, size=size, crf=crf, preset="ultrafast") as writer:
        for frame in frames:
            writer.write(frame)
    return writer.frames


def render_view_video(path: Path, rig: CameraRig, view: int, vertices: np.ndarray, faces: np.ndarray,
                      colours: np.ndarray | None = None, decals=None) -> int:
    """Write the video of one view: vertices (N, M, 3) cm world, one frame per row; ``colours``
    (M, 3) BGR per vertex (``body_colours``) or None for the plain body; ``decals`` face features."""
    cam = rig.subset([rig.names[view]])
    back = background(rig, view)

    def frames():
        for verts in vertices:
            yield render_body(back.copy(), cam, verts, faces, colours, decals)

    return write_video(path, frames(), tuple(int(s) for s in rig.sizes[view]))
