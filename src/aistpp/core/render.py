"""A small CPU mesh rasteriser for overlays: depth-tested, Lambert-shaded, half-transparent.

Design: a face-index buffer drawn with the painter's algorithm. Faces are sorted far-to-near
by mean depth and their indices are filled (``cv2.fillConvexPoly``, sub-pixel vertices) into
an int32 buffer covering the mesh's bounding box, so the nearest face wins at each pixel.
Each face has one colour (flat Lambert shading, a head light at the camera), looked up per
pixel, and the covered pixels are alpha-blended over the image in one array operation.
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_MESH_COLOR = (200, 160, 120)  # BGR, a light blue-grey
_SHIFT = 4  # fractional bits of the vertex coordinates given to OpenCV


def face_shading(vertices_cam: np.ndarray, faces: np.ndarray, ambient: float = 0.3) -> np.ndarray:
    """Lambert factor per face (F,) in [ambient, 1] for a light at the camera centre.

    vertices_cam (M, 3) cm in the camera frame, faces (F, 3) vertex indices. Two-sided:
    the factor uses |n . l|, so the winding of the faces does not matter.
    """
    v = np.asarray(vertices_cam, np.float32)[faces]  # (F, 3, 3)
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    centre = v.mean(axis=1)
    dot = np.abs(np.einsum("fi,fi->f", n, centre))
    denom = np.linalg.norm(n, axis=1) * np.linalg.norm(centre, axis=1)
    lam = np.divide(dot, denom, out=np.zeros_like(dot), where=denom > 0)
    return ambient + (1.0 - ambient) * lam


def rasterize_faces(vertices_px: np.ndarray, depth: np.ndarray, faces: np.ndarray,
                    size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The visible face at each pixel of the mesh's bounding box.

    vertices_px (M, 2) px (OpenCV convention: integer coordinates are pixel centres),
    depth (M,) any unit (larger = further), faces (F, 3), size (w, h) of the image.
    Returns ``(ids, (x0, y0))``: ``ids`` int32 (bh, bw) holding the index of the face visible
    at pixel (x0 + col, y0 + row), or -1. Faces with a non-finite vertex or a vertex at
    depth <= 0 are skipped.
    """
    w, h = size
    pts = np.asarray(vertices_px, np.float64)
    z = np.asarray(depth, np.float64)
    faces = np.asarray(faces, np.int64)
    tri = pts[faces]  # (F, 3, 2)
    zf = z[faces]
    ok = np.all(np.isfinite(tri), axis=(1, 2)) & np.all(np.isfinite(zf) & (zf > 0), axis=1)
    lo = np.maximum(np.floor(tri.min(axis=1)), 0)
    hi = np.minimum(np.ceil(tri.max(axis=1)), [w - 1, h - 1])
    ok &= np.all(hi >= lo, axis=1)
    if not ok.any():
        return np.full((0, 0), -1, np.int32), (0, 0)
    idx = np.nonzero(ok)[0]
    idx = idx[np.argsort(-zf[idx].mean(axis=1), kind="stable")]  # far first, near drawn last
    x0, y0 = lo[idx].min(axis=0).astype(int)
    x1, y1 = hi[idx].max(axis=0).astype(int)
    ids = np.full((y1 - y0 + 1, x1 - x0 + 1), -1, np.int32)
    fixed = np.round((tri[idx] - [x0, y0]) * (1 << _SHIFT)).astype(np.int32)  # sub-pixel coords
    # One C call per face (OpenCV's fillPoly fills overlapping polygons even-odd, so faces
    # cannot share a call); measured 16 ms for 13,776 faces at 1080p, 8x faster than a
    # vectorised numpy rasteriser over the same faces.
    for face_id, poly in zip(idx.tolist(), list(fixed)):
        cv2.fillConvexPoly(ids, poly, face_id, cv2.LINE_8, _SHIFT)
    return ids, (int(x0), int(y0))


def render_mesh(image: np.ndarray, vertices_px: np.ndarray, depth: np.ndarray, faces: np.ndarray,
                color: tuple[int, int, int] = DEFAULT_MESH_COLOR, alpha: float = 0.6,
                vertices_cam: np.ndarray | None = None, ambient: float = 0.3) -> np.ndarray:
    """Draw a mesh over ``image`` in place (and return it).

    image uint8 (h, w, 3) BGR; vertices_px (M, 2) px (distortion already applied); depth (M,)
    cm along the camera's z; faces (F, 3) vertex indices; color BGR 0-255; alpha in [0, 1] the
    mesh's opacity. ``vertices_cam`` (M, 3) cm in the camera frame gives Lambert shading with
    a light at the camera; without it the mesh is drawn flat. Visibility is per pixel (the
    nearest face by mean depth wins), so the result does not depend on face order.
    """
    h, w = image.shape[:2]
    ids, (x0, y0) = rasterize_faces(vertices_px, depth, faces, (w, h))
    if ids.size == 0:
        return image
    faces = np.asarray(faces, np.int64)
    if vertices_cam is not None:
        shade = face_shading(vertices_cam, faces, ambient)
    else:
        shade = np.ones(len(faces), np.float32)
    colors = shade[:, None].astype(np.float32) * np.asarray(color, np.float32)[None, :]  # (F, 3)
    mask = ids >= 0
    bh, bw = ids.shape
    roi = image[y0:y0 + bh, x0:x0 + bw]
    under = roi[mask].astype(np.float32)
    roi[mask] = np.clip((1 - alpha) * under + alpha * colors[ids[mask]] + 0.5, 0, 255).astype(np.uint8)
    return image


def silhouette(vertices_px: np.ndarray, depth: np.ndarray, faces: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean (h, w) mask of the pixels the mesh covers (same coverage rule as ``render_mesh``)."""
    w, h = size
    out = np.zeros((h, w), bool)
    ids, (x0, y0) = rasterize_faces(vertices_px, depth, faces, size)
    out[y0:y0 + ids.shape[0], x0:x0 + ids.shape[1]] = ids >= 0
    return out
