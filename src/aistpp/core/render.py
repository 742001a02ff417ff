"""The one small CPU mesh rasteriser (vis overlays and synth's videos): painter's algorithm,
Lambert-shaded, opaque or half-transparent.

Design: a face-index buffer drawn with the painter's algorithm. Faces are sorted far-to-near
by mean depth and their indices are filled (``cv2.fillConvexPoly``, sub-pixel vertices) into
an int32 buffer covering the mesh's bounding box; at each pixel the face drawn last (the
nearest by mean depth) wins. There is no per-pixel depth test (a z-buffer would cost an
interpolated depth per covered pixel, several times the fill): where two faces interpenetrate,
or a long face spans a range of depths, the order can be wrong at a few pixels. Each face has
one colour (flat Lambert shading, a head light at the camera), looked up per pixel, and the
covered pixels are blended over the image in one array operation (``paint_faces``).
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_MESH_COLOR = (200, 160, 120)  # BGR, a light blue-grey
_SHIFT = 4  # fractional bits of the vertex coordinates given to OpenCV


def outward_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Faces (F, 3) wound so that (v1 - v0) x (v2 - v0) points out of a closed mesh.

    vertices (M, 3) any unit; the winding is flipped for all faces when the mesh's signed
    volume is negative. Compute once per mesh (e.g. on SMPL's template), then cull with it.
    """
    faces = np.asarray(faces, np.int64)
    v = np.asarray(vertices, np.float64)[faces]
    volume = np.einsum("fi,fi->f", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum()
    return faces if volume >= 0 else faces[:, ::-1].copy()


def face_geometry(vertices_cam: np.ndarray, faces: np.ndarray, ambient: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(facing (F,) bool, shade (F,) in [ambient, 1]) for a light at the camera centre.

    vertices_cam (M, 3) cm in the camera frame, faces (F, 3). ``facing``: the face's normal
    (v1 - v0) x (v2 - v0) points towards the camera (meaningful for outward-wound faces).
    ``shade``: Lambert factor from |n . l|, two-sided, so it does not depend on the winding.
    """
    v = np.asarray(vertices_cam, np.float32)[faces]  # (F, 3, 3)
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    centre = v.sum(axis=1) / 3
    dot = np.einsum("fi,fi->f", n, centre)
    denom = np.sqrt(np.einsum("fi,fi->f", n, n) * np.einsum("fi,fi->f", centre, centre))
    lam = np.divide(np.abs(dot), denom, out=np.zeros_like(dot), where=denom > 0)
    return dot < 0, ambient + (1.0 - ambient) * lam


def rasterize_faces(vertices_px: np.ndarray, depth: np.ndarray, faces: np.ndarray,
                    size: tuple[int, int], order: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """The visible face at each pixel of the mesh's bounding box.

    vertices_px (M, 2) px (OpenCV convention: integer coordinates are pixel centres),
    depth (M,) any unit (larger = further), faces (F, 3), size (w, h) of the image.
    Returns ``(ids, (x0, y0))``: ``ids`` int32 (bh, bw) holding the index of the face visible
    at pixel (x0 + col, y0 + row), or -1. Faces with a non-finite vertex or a vertex at
    depth <= 0 are skipped. ``order`` (F,) optional drawing key (larger = drawn earlier, i.e.
    further); default each face's mean vertex depth.
    """
    w, h = size
    faces = np.asarray(faces, np.int64)
    tri = np.asarray(vertices_px, np.float32)[faces]  # (F, 3, 2)
    zf = np.asarray(depth, np.float32)[faces]  # (F, 3)
    lo, hi = tri.min(axis=1), tri.max(axis=1)  # (F, 2); NaN propagates
    ok = (zf.min(axis=1) > 0) & np.isfinite(zf.sum(axis=1))  # NaN compares False
    ok &= (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] <= w - 1) & (lo[:, 1] <= h - 1)
    if not ok.any():
        return np.full((0, 0), -1, np.int32), (0, 0)
    idx = np.nonzero(ok)[0]
    key = zf.sum(axis=1) if order is None else np.asarray(order, np.float64)
    idx = idx[np.argsort(-key[idx], kind="stable")]  # far first, near drawn last
    x0, y0 = np.maximum(np.floor(lo[idx].min(axis=0)), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi[idx].max(axis=0)), [w - 1, h - 1]).astype(int)
    rank = np.full((y1 - y0 + 1, x1 - x0 + 1), -1, np.int32)
    local = np.clip(tri[idx] - np.float32([x0, y0]), -1e5, 1e5)  # keep far-off vertices in int32 range
    fixed = np.round(local * (1 << _SHIFT)).astype(np.int32)  # sub-pixel coordinates
    # One C call per face, in depth order (OpenCV's fillPoly fills overlapping polygons
    # even-odd, so faces cannot share a call); the value drawn is the face's rank.
    fill = cv2.fillConvexPoly
    for r in range(len(fixed)):
        fill(rank, fixed[r], r, cv2.LINE_8, _SHIFT)
    ids = np.where(rank >= 0, idx.astype(np.int32)[rank], np.int32(-1))
    return ids, (int(x0), int(y0))


def render_mesh(image: np.ndarray, vertices_px: np.ndarray, depth: np.ndarray, faces: np.ndarray,
                color: tuple[int, int, int] = DEFAULT_MESH_COLOR, alpha: float = 0.6,
                vertices_cam: np.ndarray | None = None, ambient: float = 0.3, cull_back: bool = False) -> np.ndarray:
    """Draw a mesh over ``image`` in place (and return it).

    image uint8 (h, w, 3) BGR; vertices_px (M, 2) px (distortion already applied); depth (M,)
    cm along the camera's z; faces (F, 3) vertex indices; color BGR 0-255; alpha in [0, 1] the
    mesh's opacity. ``vertices_cam`` (M, 3) cm in the camera frame gives Lambert shading with
    a light at the camera; without it the mesh is drawn flat. Visibility is per pixel (the
    nearest face by mean depth wins), so the result does not depend on face order.
    ``cull_back`` (needs ``vertices_cam`` and outward-wound faces, see ``outward_faces``)
    skips faces turned away from the camera: half the work on a closed mesh, same picture.
    """
    h, w = image.shape[:2]
    faces = np.asarray(faces, np.int64)
    if vertices_cam is not None:
        facing, shade = face_geometry(vertices_cam, faces, ambient)
        if cull_back:
            faces, shade = faces[facing], shade[facing]
    else:
        shade = np.ones(len(faces), np.float32)
    ids, origin = rasterize_faces(vertices_px, depth, faces, (w, h))
    colors = shade[:, None].astype(np.float32) * np.asarray(color, np.float32)[None, :]  # (F, 3)
    return paint_faces(image, ids, origin, colors, alpha)


def paint_faces(image: np.ndarray, ids: np.ndarray, origin: tuple[int, int], colors: np.ndarray,
                alpha: float = 1.0) -> np.ndarray:
    """Blend face colours over ``image`` (h, w, 3) uint8 in place (and return it).

    ``ids``, ``origin``: ``rasterize_faces``'s face-index buffer and its top-left pixel;
    colors (F, 3) 0-255 per face (indexed by ``ids``); alpha in [0, 1] the faces' opacity.
    """
    if ids.size == 0:
        return image
    x0, y0 = origin
    mask = ids >= 0
    bh, bw = ids.shape
    roi = image[y0:y0 + bh, x0:x0 + bw]
    under = roi[mask].astype(np.float32)
    over = np.asarray(colors, np.float32)[ids[mask]]
    roi[mask] = np.clip((1 - alpha) * under + alpha * over + 0.5, 0, 255).astype(np.uint8)
    return image


def silhouette(vertices_px: np.ndarray, depth: np.ndarray, faces: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean (h, w) mask of the pixels the mesh covers (same coverage rule as ``render_mesh``)."""
    w, h = size
    out = np.zeros((h, w), bool)
    ids, (x0, y0) = rasterize_faces(vertices_px, depth, faces, size)
    out[y0:y0 + ids.shape[0], x0:x0 + ids.shape[1]] = ids >= 0
    return out
