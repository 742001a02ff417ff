"""Tests of core.video, core.render, core.draw and the vis step (``aistpp vis``)."""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np
import pytest

from aistpp.core.render import render_mesh, silhouette
from aistpp.core.video import VideoWriter, probe, read_frames
from aistpp.errors import AistppError


def write_counter_video(path, fps, n, size=(64, 48)):
    """Frame k has green level 8*k (a counter readable after lossy coding)."""
    w, h = size
    with VideoWriter(path, fps=fps, size=size) as writer:
        for k in range(n):
            frame = np.full((h, w, 3), 40, np.uint8)
            frame[:, :, 1] = 8 * k
            writer.write(frame)


def counter(frame) -> int:
    return int(round(float(frame[:, :, 1].mean()) / 8))


# ---- video -------------------------------------------------------------------------------
def test_writer_h264_yuv420p_and_probe(tmp_path):
    path = tmp_path / "a.mp4"
    write_counter_video(path, 60, 12)
    info = probe(path)
    assert (info.width, info.height, info.frames, info.fps) == (64, 48, 12, 60.0)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert s.codec_context.format.name == "yuv420p"
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed


@pytest.mark.parametrize("fps", [60, 50, 30])
def test_reader_picks_frames_by_time(tmp_path, fps):
    path = tmp_path / f"v{fps}.mp4"
    n = 20
    write_counter_video(path, fps, n)
    got = list(read_frames(path))
    duration = n / fps
    assert len(got) == round(duration * 60)
    # annotation frame i is shown at i/60 s: the source frame nearest that time
    for i, frame in got:
        expected = min(math.ceil(Fraction(i * fps, 60) - Fraction(1, 2)), n - 1)  # ties -> earlier
        assert counter(frame) == expected, (i, fps)
    # a window with a seek gives the same frames
    window = [(i, counter(f)) for i, f in read_frames(path, start=15, end=19)]
    assert window == [(i, counter(f)) for i, f in got[15:19]]


def test_writer_failure_leaves_nothing(tmp_path):
    path = tmp_path / "b.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, size=(32, 32)) as w:
            w.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert not path.exists() and not list(tmp_path.iterdir())
    with pytest.raises(AistppError):
        VideoWriter(path, size=(33, 32))


def test_unreadable_video_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(AistppError, match="bad.mp4"):
        probe(bad)
    with pytest.raises(AistppError, match="not found"):
        next(read_frames(tmp_path / "missing.mp4"))


# ---- render ------------------------------------------------------------------------------
def box_mesh(center, half):
    """An axis-aligned box (8 vertices, 12 triangles) in camera coordinates (cm)."""
    c = np.asarray(center, float)
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    verts = c + corners * half
    faces = np.array([
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ])  # fmt: skip
    return verts, faces


def project(verts, f=100.0, c=(64.0, 48.0)):
    return verts[:, :2] / verts[:, 2:] * f + np.asarray(c), verts[:, 2]


def inside_triangles(px, faces, shape):
    """Independent coverage: pixel centres inside any triangle (barycentric test, numpy)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    p = np.stack([xx, yy], -1).reshape(-1, 1, 2).astype(float)
    a, b, c = (px[faces[:, k]][None] for k in range(3))
    def cross(u, v):
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    d0, d1, d2 = cross(b - a, p - a), cross(c - b, p - b), cross(a - c, p - c)
    inside = ((d0 >= 0) & (d1 >= 0) & (d2 >= 0)) | ((d0 <= 0) & (d1 <= 0) & (d2 <= 0))
    return inside.any(axis=1).reshape(h, w)


def test_render_covers_silhouette_and_keeps_background():
    verts, faces = box_mesh([5, -3, 60], [12, 15, 10])
    px, z = project(verts)
    img = np.full((96, 128, 3), 30, np.uint8)
    out = render_mesh(img.copy(), px, z, faces, color=(0, 0, 255), alpha=0.5, vertices_cam=verts)
    ref = inside_triangles(px, faces, (96, 128))
    changed = np.any(out != 30, axis=2)
    # interior agrees exactly; only boundary pixels (centre on an edge) may differ
    interior = ref & ~np.logical_xor(ref, np.roll(ref, 1, 0)) & ~np.logical_xor(ref, np.roll(ref, 1, 1))
    assert changed[interior].all()
    assert np.logical_xor(changed, ref).sum() < 0.05 * ref.sum()
    assert (out[~ref & ~np.roll(ref, 1, 0) & ~np.roll(ref, -1, 0) & ~np.roll(ref, 1, 1) & ~np.roll(ref, -1, 1)] == 30).all()
    assert np.array_equal(silhouette(px, z, faces, (128, 96)), changed)
    # half transparent red over grey 30: red channel (30+255)/2, others 15 .. 30*0.5 + shaded
    assert out[interior][:, 2].max() <= 143 and out[interior][:, 2].min() > 30
    assert (out[interior][:, 0] == 15).all()


def test_render_depth_test_nearer_box_wins_in_any_order():
    near, f1 = box_mesh([0, 0, 50], [5, 5, 5])
    far, f2 = box_mesh([0, 0, 80], [20, 20, 5])
    verts = np.concatenate([near, far])
    for faces in (np.concatenate([f1, f2 + 8]), np.concatenate([f2 + 8, f1])):
        colors = []
        for color in ((0, 0, 255), (255, 0, 0)):
            img = np.zeros((96, 128, 3), np.uint8)
            px, z = project(verts)
            render_mesh(img, px, z, faces, color=color, alpha=1.0)
            colors.append(img)
        # centre pixel shows the near box; its colour is the full drawing colour (flat shading)
        assert tuple(colors[0][48, 64]) == (0, 0, 255)
    # depth test: make the near box another colour by drawing it alone, the far box alone
    img = np.zeros((96, 128, 3), np.uint8)
    px, z = project(verts)
    render_mesh(img, px, z, np.concatenate([f2 + 8, f1]), color=(0, 255, 0), alpha=1.0, vertices_cam=verts)
    # shading: the near box's front face faces the camera (bright); far-box rim is visible
    assert img[48, 64, 1] > 200 and img[48, 64 + 25, 1] > 0


def test_render_skips_faces_behind_camera():
    verts, faces = box_mesh([0, 0, -50], [5, 5, 5])  # wholly behind the camera
    px, z = project(verts)
    img = np.zeros((96, 128, 3), np.uint8)
    render_mesh(img, px, z, faces)
    assert img.max() == 0
    verts, faces = box_mesh([0, 0, 1], [5, 5, 5])  # straddles the camera plane
    px, z = project(verts)
    front = faces[np.all(z[faces] > 0, axis=1)]
    assert 0 < len(front) < len(faces)
    a, b = np.zeros((96, 128, 3), np.uint8), np.zeros((96, 128, 3), np.uint8)
    render_mesh(a, px, z, faces)
    render_mesh(b, px, z, front)
    assert np.array_equal(a, b)
