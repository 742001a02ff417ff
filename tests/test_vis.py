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


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_display_rotation_is_applied_as_opencv_does(tmp_path, degrees):
    """A phone stores a portrait clip landscape with a display rotation in its container: probe
    gives the displayed size and read_frames the displayed picture, as OpenCV (the peer, which
    applies the display matrix) decodes the same file; calibrate --video-dir reads that size."""
    import cv2

    from aistpp.core.names import video_name
    from aistpp.pipeline.calibrate import CalibrateConfig, image_sizes

    seq = "gBR_sBM_cAll_d04_mBR0_ch01"
    path = tmp_path / f"{video_name(seq, 'c01')}.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=60)
        s.width, s.height, s.pix_fmt = 96, 48, "yuv420p"
        s.set_display_rotation(degrees)
        for i in range(3):
            img = np.full((48, 96, 3), 40, np.uint8)
            img[:12, :24] = (255, 255, 255)  # a block in the stored picture's top-left corner
            img[40:, 60 + 8 * i:68 + 8 * i, 1] = 200
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    displayed = (48, 96) if degrees in (90, 270) else (96, 48)
    assert probe(path).size == displayed and probe(path).rotation == degrees
    cap = cv2.VideoCapture(str(path))
    peer = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        peer.append(f)
    cap.release()
    ours = [f for _, f in read_frames(path)]
    assert len(ours) == len(peer) == 3
    for a, b in zip(ours, peer):
        assert a.shape == b.shape == (displayed[1], displayed[0], 3)
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 3  # the same picture (colour conversions differ by a level or two)
    cfg = CalibrateConfig(anno_dir=tmp_path, save_dir=tmp_path / "out", video_dir=tmp_path)
    sizes, _ = image_sizes(cfg, "setting1", [seq], ("c01",), [{}], None)
    assert sizes.tolist() == [list(displayed)]


def test_writer_failure_leaves_nothing(tmp_path):
    path = tmp_path / "b.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, size=(32, 32)) as w:
            w.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert not path.exists() and not list(tmp_path.iterdir())
    with pytest.raises(AistppError):
        VideoWriter(path, size=(33, 32))
    with pytest.raises(AistppError, match="no frame"):
        with VideoWriter(path, size=(32, 32)):
            pass
    assert not path.exists() and not list(tmp_path.iterdir())


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


def test_render_nearer_box_wins_in_any_order():
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
    # visibility (faces drawn far to near by mean depth): the near box in front, the far box's rim around it
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


# ---- a small dataset of our own: 4 views at 640x360, a COCO skeleton walking, videos ---------
from aistpp.core import formats  # noqa: E402
from aistpp.core.draw import BONE_COLORS, JOINT_COLORS, draw_named_skeleton, draw_skeleton  # noqa: E402
from aistpp.core.joints import COCO_BONES, COCO_SIDE  # noqa: E402
from aistpp.core.rig import aist_like_ring  # noqa: E402
from aistpp.core.video import annotation_frames  # noqa: E402
from aistpp.pipeline.vis import VisConfig, grid_layout, run_vis, vis_video  # noqa: E402
import cv2  # noqa: E402

SEQ = "gWA_sFM_cAll_d27_mWA2_ch21"
N = 12
SIZE = (640, 360)
# a standing person (cm), COCO-17 order, facing +z
POSE = np.array([
    [0, 165, 8], [4, 169, 6], [-4, 169, 6], [8, 167, 0], [-8, 167, 0],
    [18, 145, 0], [-18, 145, 0], [30, 118, 0], [-30, 118, 0], [38, 92, 5], [-38, 92, 5],
    [11, 95, 0], [-11, 95, 0], [13, 50, 2], [-13, 50, 2], [14, 8, 0], [-14, 8, 0],
], float)  # fmt: skip


def background(view: int, k: int, size=SIZE) -> np.ndarray:
    """A smooth per-view gradient with a frame counter (green level 16k) in the top-left 32x32 block."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (np.arange(w) * 160 // w)[None, :]
    img[..., 1] = (np.arange(h) * 160 // h)[:, None]
    img[..., 2] = 60 + 20 * view
    img[:32, :32] = (40, 16 * k, 40)
    return img


def make_mini(root, fps=60, video_frames=N, views=4, video_size=SIZE):
    rig = aist_like_ring(num_views=views, size=SIZE, focal=1600 / 3)
    kp3d = np.repeat(POSE[None], N, axis=0) + np.arange(N)[:, None, None] * np.array([2.0, 0, 0])
    kp2d = rig.project(kp3d)  # (V, N, 17, 2)
    conf = np.ones(kp2d.shape[:3])
    conf[:, :, 9] = 0.05  # left wrist: low confidence everywhere
    kp2d[:, :, 10] = np.nan  # right wrist: missing everywhere
    anno = root / "anno"
    formats.save_keypoints2d(anno / "keypoints2d" / f"{SEQ}.pkl", np.concatenate([kp2d, conf[..., None]], -1),
                             np.ones(kp2d.shape[:2]), np.arange(N))
    formats.save_keypoints3d(anno / "keypoints3d" / f"{SEQ}.pkl", kp3d, kp3d)
    formats.save_cameras(anno / "cameras" / "setting1.json", rig)
    formats.write_mapping(anno / "cameras" / "mapping.txt", {SEQ: "setting1"})
    video_dir = root / "videos"
    n_src = int(round(video_frames * fps / 60))
    for v, view in enumerate(rig.names):
        with VideoWriter(video_dir / f"{SEQ.replace('cAll', view)}.mp4", fps=fps, size=video_size) as w:
            for k in range(n_src):
                w.write(background(v, k, video_size))
    return rig, kp3d, kp2d, anno, video_dir


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    return (root,) + make_mini(root)


def decode(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        info = (s.codec_context.name, s.codec_context.format.name, float(s.average_rate))
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(s)]
    return info, frames


def far_from(points: np.ndarray, shape, radius: float) -> np.ndarray:
    """(h, w) bool: pixels farther than ``radius`` from every finite point (J, 2) and the body's box."""
    h, w = shape
    pts = points[np.all(np.isfinite(points), axis=1)]
    lo, hi = pts.min(0) - radius, pts.max(0) + radius
    yy, xx = np.mgrid[0:h, 0:w]
    return ~((xx >= lo[0]) & (xx <= hi[0]) & (yy >= lo[1]) & (yy <= hi[1]))


def isolated(pts: np.ndarray, joints, min_px: float = 10.0) -> list[int]:
    """The joints of ``joints`` at least ``min_px`` from every other finite joint (no overlap)."""
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    d = np.where(np.isnan(d), np.inf, d)
    out = [j for j in joints if d[j].min() >= min_px]
    assert out, "test geometry: every checked joint overlaps another"
    return out


def near(pixel, color, tol=60) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(color)) <= tol))


def test_draw_skeleton_sides_and_skips():
    rng = np.random.default_rng(0)
    pts = rng.uniform(40, 600, (17, 2))
    conf = np.ones(17)
    conf[3] = 0.1
    pts[4] = np.nan
    img = np.zeros((640, 640, 3), np.uint8)
    draw_named_skeleton(img, pts, "coco17", conf, threshold=0.5, antialias=False)
    drawn = [j for j in isolated(pts, range(17), 12) if j not in (3, 4)]
    for j in drawn:
        assert tuple(img[int(round(pts[j, 1])), int(round(pts[j, 0]))]) == JOINT_COLORS[COCO_SIDE[j]]
    # skipping joints 3 (low confidence) and 4 (NaN) draws exactly what the skeleton without them draws
    keep = np.array([j for j in range(17) if j not in (3, 4)])
    remap = -np.ones(17, int)
    remap[keep] = np.arange(len(keep))
    bones = COCO_BONES[np.all(np.isin(COCO_BONES, keep), axis=1)]
    ref = draw_skeleton(np.zeros_like(img), pts[keep], remap[bones], COCO_SIDE[keep], antialias=False)
    assert np.array_equal(img, ref)
    assert not np.array_equal(img, draw_named_skeleton(np.zeros_like(img), np.nan_to_num(pts), "coco17", antialias=False))
    # a bone between two left joints (left knee -> left ankle) is in the left colour
    m = ((pts[13] + pts[15]) / 2).round().astype(int)
    assert tuple(img[m[1], m[0]]) in (BONE_COLORS[1], *JOINT_COLORS, *BONE_COLORS)
    assert (img == np.array(BONE_COLORS[1], np.uint8)).all(axis=2).sum() > 50


def test_vis_2d_on_video(mini, tmp_path):
    root, rig, kp3d, kp2d, anno, video_dir = mini
    name = SEQ.replace("cAll", "c01")
    cfg = VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path, video_name=name, mode="2D", quiet=True)
    report = run_vis(cfg)
    assert report.count("done") == 1, report.items[0].error
    (codec, pix, fps), frames = decode(tmp_path / f"{name}.mp4")
    assert (codec, pix, fps) == ("h264", "yuv420p", 60.0)
    assert len(frames) == N and frames[0].shape == (360, 640, 3)
    for i in (0, 5, N - 1):
        pts = kp2d[0, i]
        for j in isolated(pts, (0, 5, 6, 11, 16)):
            x, y = np.round(pts[j]).astype(int)
            assert near(frames[i][y, x], JOINT_COLORS[COCO_SIDE[j]]), (i, j, frames[i][y, x])
        far = far_from(pts, (360, 640), 40)
        far[:40, :40] = False
        diff = np.abs(frames[i].astype(int) - background(0, i).astype(int))[far]
        assert diff.mean() < 3 and np.percentile(diff, 99.9) < 30
        # frame i shows source frame i (the counter block)
        assert round(frames[i][8:24, 8:24, 1].mean() / 16) == i
    # the skipped wrists (low confidence / NaN) are not drawn: pixel keeps the video's colour
    x, y = np.round(kp2d[0, 0, 9]).astype(int)
    assert not near(frames[0][y, x], JOINT_COLORS[1], 40)
    # skipped: output exists
    assert run_vis(cfg).count("skipped") == 1


def test_vis_3d_projects_through_camera(mini, tmp_path):
    root, rig, kp3d, kp2d, anno, video_dir = mini
    name = SEQ.replace("cAll", "c03")
    info = vis_video(name, VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path, video_name=name,
                                     mode="3d", start=4, end=9))
    assert info["frames"] == 5 and not info["warnings"]
    _, frames = decode(tmp_path / f"{name}.mp4")
    assert len(frames) == 5
    proj = rig.project(kp3d)[2]  # independent of kp2d's NaN/low-confidence edits
    for k, i in enumerate(range(4, 9)):
        for j in isolated(proj[i], (9, 10, 15)):  # wrists are drawn in 3d mode
            x, y = np.round(proj[i, j]).astype(int)
            assert near(frames[k][y, x], JOINT_COLORS[COCO_SIDE[j]]), (i, j)
        assert round(frames[k][8:24, 8:24, 1].mean() / 16) == i


def test_vis_without_video_plain_background(mini, tmp_path):
    root, rig, kp3d, kp2d, anno, video_dir = mini
    name = SEQ.replace("cAll", "c01")
    info = vis_video(name, VisConfig(anno_dir=anno, save_dir=tmp_path, video_name=name, mode="3d"))
    assert info["frames"] == N and info["video"] == "no"
    _, frames = decode(tmp_path / f"{name}.mp4")
    assert len(frames) == N and frames[0].shape == (360, 640, 3)
    pts = rig.project(kp3d)[0, 3]
    far = far_from(pts, (360, 640), 30)
    assert np.abs(frames[3][far].astype(int) - 48).max() <= 3
    x, y = np.round(pts[0]).astype(int)
    assert near(frames[3][y, x], JOINT_COLORS[0])


def test_vis_grid_all_views(mini, tmp_path):
    root, rig, kp3d, kp2d, anno, video_dir = mini
    cfg = VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path, video_name=SEQ, views="all",
                    mode="3d", end=3)
    assert run_vis(cfg).count("done") == 1
    _, frames = decode(tmp_path / f"{SEQ}.mp4")
    assert len(frames) == 3 and frames[0].shape == (360, 640, 3)  # 2x2 tiles of 320x180
    proj = rig.project(kp3d)
    for v in range(4):
        r, c = divmod(v, 2)
        pts = proj[v, 2] * 0.5 + [320 * c, 180 * r]
        if v % 2 == 0:  # front and back views: joints apart, each in its side's colour
            for j in isolated(pts, range(17), 8):
                x, y = np.round(pts[j]).astype(int)
                assert near(frames[2][y, x], JOINT_COLORS[COCO_SIDE[j]]), (v, j)
        else:  # side views: left and right joints overlap; one of them is drawn on top
            x, y = np.round(pts[15]).astype(int)
            assert any(near(frames[2][y, x], JOINT_COLORS[k]) for k in (1, 2)), v


def test_vis_time_based_on_30fps_and_length_mismatch(tmp_path):
    rig, kp3d, kp2d, anno, video_dir = make_mini(tmp_path, fps=30, video_frames=8, views=1)
    name = SEQ.replace("cAll", "c01")
    with pytest.raises(AistppError, match="30 fps.*--any-fps"):  # refused unless asked for
        vis_video(name, VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path / "out",
                                  video_name=name, mode="2d"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    info = vis_video(name, VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path / "out",
                                     video_name=name, mode="2d", any_fps=True))
    assert info["frames"] == 8 and "overlap" in info["warnings"][0]  # 12 annotation frames, 8 of video
    _, frames = decode(tmp_path / "out" / f"{name}.mp4")
    assert len(frames) == 8
    # annotation frame i at i/60 s: source frame round-half-down(i / 2) of the 30 fps video
    assert [round(f[8:24, 8:24, 1].mean() / 16) for f in frames] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_vis_video_smaller_than_camera(tmp_path):
    rig, kp3d, kp2d, anno, video_dir = make_mini(tmp_path, video_frames=3, views=1, video_size=(320, 180))
    name = SEQ.replace("cAll", "c01")
    info = vis_video(name, VisConfig(anno_dir=anno, video_dir=video_dir, save_dir=tmp_path / "out",
                                     video_name=name, mode="3d"))
    assert info["frames"] == 3
    _, frames = decode(tmp_path / "out" / f"{name}.mp4")
    assert frames[0].shape == (180, 320, 3)  # the video's size, drawing scaled to it
    pts = rig.project(kp3d)[0, 1] * 0.5
    for j in isolated(pts, range(17), 8):
        x, y = np.round(pts[j]).astype(int)
        assert near(frames[1][y, x], JOINT_COLORS[COCO_SIDE[j]]), j


def test_vis_user_errors(mini, tmp_path):
    root, rig, kp3d, kp2d, anno, video_dir = mini
    base = dict(anno_dir=anno, save_dir=tmp_path, mode="2d")
    with pytest.raises(AistppError, match="video not found"):
        vis_video(SEQ.replace("cAll", "c01"), VisConfig(video_dir=tmp_path, video_name="x", **base))
    with pytest.raises(AistppError, match="not listed in mapping"):
        vis_video("gBR_sFM_c01_d04_mBR0_ch01", VisConfig(video_name="x", **base))
    with pytest.raises(AistppError, match="--smpl-dir"):
        vis_video(SEQ.replace("cAll", "c01"), VisConfig(video_name="x", **{**base, "mode": "smpl"}))
    with pytest.raises(AistppError, match="--views"):
        run_vis(VisConfig(video_name=SEQ, **base))
    with pytest.raises(AistppError, match="view 'c07'"):
        vis_video(SEQ.replace("cAll", "c07"), VisConfig(video_name="x", **base))
    with pytest.raises(ValueError):
        VisConfig(video_name="x", **{**base, "mode": "4d"})


def test_cli_vis(mini, tmp_path):
    from typer.testing import CliRunner

    from aistpp.cli import app

    root, rig, kp3d, kp2d, anno, video_dir = mini
    name = SEQ.replace("cAll", "c01")
    args = ["vis", "--anno-dir", str(anno), "--video-dir", str(video_dir), "--save-dir", str(tmp_path),
            "--video-name", SEQ, "--views", "c01,c03", "--mode", "3D", "--end", "2", "--labels", "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / f"{name}.mp4").is_file() and (tmp_path / f"{SEQ.replace('cAll', 'c03')}.mp4").is_file()
    assert probe(tmp_path / f"{name}.mp4").frames == 2
    res = CliRunner().invoke(app, ["vis", "--anno-dir", str(anno), "--save-dir", str(tmp_path),
                                   "--video-name", name, "--mode", "mesh", "--overwrite"])
    assert res.exit_code == 2 and "--smpl-dir" in res.output and "Traceback" not in res.output
    cfg = tmp_path / "vis.toml"
    cfg.write_text(f'[vis]\nanno_dir = "{anno}"\nsave_dir = "{tmp_path / "t"}"\nvideo_name = "{name}"\nmode = "2d"\nend = 1\n')
    res = CliRunner().invoke(app, ["vis", "--config", str(cfg), "--quiet"])
    assert res.exit_code == 0, res.output
    assert probe(tmp_path / "t" / f"{name}.mp4").frames == 1


# ---- smpl and mesh modes: a crude body model in the SMPL file format ----------------------
def crude_smpl(path):
    """Write ``crude_smpl_arrays()`` as a SMPL pickle at ``path``."""
    import pickle

    model = crude_smpl_arrays()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(model))
    return model


def crude_smpl_arrays():
    """An ellipsoid 'body' with SMPL's file layout: 6890 vertices, a grid of faces, rigid skinning."""
    n = 83  # 83 x 83 = 6889 grid vertices, + 1 unused vertex = 6890
    th, ph = np.meshgrid(np.linspace(0.05, np.pi - 0.05, n), np.linspace(0, 2 * np.pi, n, endpoint=False), indexing="ij")
    grid = np.stack([25 * np.sin(th) * np.cos(ph), 85 * np.cos(th), 15 * np.sin(th) * np.sin(ph)], -1).reshape(-1, 3)
    verts = np.concatenate([grid, [[0, 0, 0]]]) / 100.0  # SMPL is in metres before the dataset's scaling
    g = np.arange(n * n).reshape(n, n)
    gn = np.roll(g, -1, axis=1)
    faces = np.concatenate([np.stack([g[:-1], g[1:], gn[1:]], -1).reshape(-1, 3),
                            np.stack([g[:-1], gn[1:], gn[:-1]], -1).reshape(-1, 3)])
    jreg = np.zeros((24, 6890))
    jreg[np.arange(24), np.linspace(300, 6500, 24).astype(int)] = 1.0
    weights = np.zeros((6890, 24))
    weights[:, 0] = 1.0
    from aistpp.core.joints import SMPL_PARENTS

    model = {"v_template": verts, "f": faces.astype(np.uint32), "J_regressor": jreg, "weights": weights,
             "posedirs": np.zeros((6890, 3, 207)), "shapedirs": np.zeros((6890, 3, 10)),
             "kintree_table": np.stack([np.where(SMPL_PARENTS < 0, 4294967295, SMPL_PARENTS), np.arange(24)])}
    return model


@pytest.fixture(scope="module")
def mini_smpl(mini):
    root, rig, kp3d, kp2d, anno, video_dir = mini
    crude_smpl(root / "smpl" / "SMPL_NEUTRAL.pkl")
    poses = np.zeros((N, 72))
    poses[:, 1] = np.linspace(0, 1.2, N)  # turning about the vertical axis
    trans = np.stack([np.linspace(-20, 20, N), np.full(N, 90.0), np.zeros(N)], 1)
    # an aistpp-written motion says which model posed it (without the key: male, as released)
    formats.save_motion(anno / "motions" / f"{SEQ}.pkl", poses, trans, 100.0, 0.0, smpl_gender="neutral", body_model="smpl")
    return root / "smpl", poses, trans


def smplx_points(smpl_dir, poses, trans, scaling=100.0):
    """Peer: joints (N, 45, 3) and vertices (N, 6890, 3) cm straight from smplx with the dataset's scaling."""
    import smplx
    import torch

    model = smplx.SMPL(str(smpl_dir / "SMPL_NEUTRAL.pkl"))
    p = torch.tensor(poses, dtype=torch.float32)
    out = model(global_orient=p[:, :3], body_pose=p[:, 3:], betas=torch.zeros(len(p), 10))
    t = torch.tensor(trans, dtype=torch.float32)[:, None]
    return (out.joints * scaling + t).detach().numpy(), (out.vertices * scaling + t).detach().numpy(), model.faces


def test_vis_smpl_joints(mini, mini_smpl, tmp_path):
    root, rig, kp3d, kp2d, anno, video_dir = mini
    smpl_dir, poses, trans = mini_smpl
    name = SEQ.replace("cAll", "c01")
    info = vis_video(name, VisConfig(anno_dir=anno, smpl_dir=smpl_dir, save_dir=tmp_path, video_name=name,
                                     mode="SMPL", end=6))
    assert info["frames"] == 6
    joints, _, _ = smplx_points(smpl_dir, poses[:6], trans[:6])
    cams = rig.to_aniposelib()
    px = cams.cameras[0].project(joints[:, :24].reshape(-1, 3)).reshape(6, 24, 2)
    from aistpp.core.joints import SMPL_SIDE

    _, frames = decode(tmp_path / f"{name}.mp4")
    for i in (0, 5):
        for j in isolated(px[i], range(24), 12):
            x, y = np.round(px[i, j]).astype(int)
            assert near(frames[i][y, x], JOINT_COLORS[SMPL_SIDE[j]]), (i, j)


def test_vis_mesh_covers_silhouette(mini, mini_smpl, tmp_path):
    import cv2

    root, rig, kp3d, kp2d, anno, video_dir = mini
    smpl_dir, poses, trans = mini_smpl
    name = SEQ.replace("cAll", "c03")
    info = vis_video(name, VisConfig(anno_dir=anno, smpl_dir=smpl_dir, save_dir=tmp_path, video_name=name,
                                     mode="mesh", start=2, end=5))
    assert info["frames"] == 3
    _, verts, faces = smplx_points(smpl_dir, poses[2:5], trans[2:5])
    cam = rig.to_aniposelib().cameras[2]
    _, frames = decode(tmp_path / f"{name}.mp4")
    for k in range(3):
        px = cam.project(verts[k]).reshape(-1, 2)
        sil = np.zeros((360, 640), np.uint8)
        for f in faces:  # independent silhouette: every projected face filled
            cv2.fillConvexPoly(sil, np.round(px[f]).astype(np.int32), 1)
        kernel = np.ones((5, 5), np.uint8)
        inner, outer = cv2.erode(sil, kernel).astype(bool), cv2.dilate(sil, kernel).astype(bool)
        changed = np.abs(frames[k].astype(int) - 48).max(axis=2) > 6
        assert inner.sum() > 5000
        assert changed[inner].mean() > 0.99  # the mesh covers the silhouette
        assert changed[~outer].mean() < 0.001  # and nothing else
        # half transparent: the plain background shows through (not the full mesh colour)
        body = frames[k][inner].astype(int)
        assert np.all(body.max(axis=1) < 230) and np.all(body.mean(axis=0) > 48)


def test_vis_mesh_is_posed_at_the_instant_a_sub_frame_offset_shows(mini, mini_smpl, tmp_path):
    """A view 2.4 frames late shows, in its video frame i + 2, the instant i - 0.4: the mesh drawn
    there is the body of that instant (here moving 15 cm a frame, 6 px apart from instant i),
    checked against smplx's mesh at the interpolated translation."""
    import shutil

    import cv2

    from tests.conftest import save_setting

    root, rig, kp3d, kp2d, anno, video_dir = mini
    smpl_dir, poses, _ = mini_smpl
    local = tmp_path / "anno"
    shutil.copytree(anno, local)
    trans = np.stack([-60 + 15.0 * np.arange(N), np.full(N, 90.0), np.zeros(N)], 1)
    pose = np.repeat(poses[:1], N, axis=0)
    formats.save_motion(local / "motions" / f"{SEQ}.pkl", pose, trans, 100.0, 0.0, smpl_gender="neutral",
                        body_model="smpl")
    save_setting(local, rig, SEQ, {2: 2.4})
    name = SEQ.replace("cAll", "c03")
    vis_video(name, VisConfig(anno_dir=local, smpl_dir=smpl_dir, save_dir=tmp_path / "o", video_name=name,
                              mode="mesh", start=2, end=6))
    _, frames = decode(tmp_path / "o" / f"{name}.mp4")
    cam = rig.to_aniposelib().cameras[2]
    kernel = np.ones((5, 5), np.uint8)

    def silhouette(t):  # smplx's mesh with the translation of instant t (linear in time)
        _, verts, faces = smplx_points(smpl_dir, pose[:1], np.array([[-60 + 15.0 * t, 90.0, 0.0]]))
        px = cam.project(verts[0]).reshape(-1, 2)
        sil = np.zeros((360, 640), np.uint8)
        for f in faces:
            cv2.fillConvexPoly(sil, np.round(px[f]).astype(np.int32), 1)
        return cv2.erode(sil, kernel).astype(bool), cv2.dilate(sil, kernel).astype(bool)

    for k, i in enumerate(range(2, 6)):
        changed = np.abs(frames[k].astype(int) - 48).max(axis=2) > 6
        inner, outer = silhouette(i - 0.4)
        assert inner.sum() > 5000
        assert changed[inner].mean() > 0.99 and changed[~outer].mean() < 0.001, i
        inner_i, outer_i = silhouette(i)  # the instant of the common clock: visibly elsewhere
        assert changed[~outer_i].mean() > 0.002, i


def test_render_back_face_culling_same_picture():
    from aistpp.core.render import outward_faces

    model = crude_smpl_arrays()
    verts = model["v_template"] * 100 + [0, 0, 400]  # cm, 4 m in front of the camera
    faces = outward_faces(model["v_template"], model["f"].astype(np.int64))
    inward = faces[:, ::-1]
    assert np.array_equal(outward_faces(model["v_template"], inward), faces)  # flipped back
    # outward: the normal of the face nearest the +z pole of the ellipsoid points along +z
    v = model["v_template"]
    k = np.argmax(v[faces].mean(axis=1)[:, 2])
    assert np.cross(v[faces[k, 1]] - v[faces[k, 0]], v[faces[k, 2]] - v[faces[k, 0]])[2] > 0
    px, z = project(verts, f=300.0)
    a = render_mesh(np.zeros((96, 128, 3), np.uint8), px, z, faces, vertices_cam=verts)
    b = render_mesh(np.zeros((96, 128, 3), np.uint8), px, z, faces, vertices_cam=verts, cull_back=True)
    covered = a.any(axis=2)
    assert covered.sum() > 1000
    assert (a != b).any(axis=2).sum() <= 0.01 * covered.sum()  # grazing faces at the rim only
    from aistpp.core.render import face_geometry

    facing = face_geometry(verts, faces)[0]
    assert 0.3 < facing.mean() < 0.7 and not (facing & face_geometry(verts, inward)[0]).any()


# ---- on synth's dataset (videos rendered from the SMPL-format body model) -------------------
def test_vis_on_synth_videos(synth_data_videos, tmp_path):
    d = synth_data_videos
    seq = d.sequences[0]
    name = seq.replace("cAll", "c01")
    rig = d.rig
    kp3d = formats.load_keypoints3d(d.anno_dir / "keypoints3d" / f"{seq}.pkl")["keypoints3d_optim"]
    n = len(kp3d)
    info = vis_video(name, VisConfig(anno_dir=d.anno_dir, video_dir=d.video_dir, save_dir=tmp_path,
                                     video_name=name, mode="3d"))
    assert info["frames"] == n and not info["warnings"]
    (codec, pix, fps), frames = decode(tmp_path / f"{name}.mp4")
    assert (codec, pix, fps, len(frames)) == ("h264", "yuv420p", 60.0, n)
    _, source = decode(d.video_dir / f"{name}.mp4")
    w, h = (int(s) for s in rig.sizes[0])
    assert frames[0].shape == (h, w, 3)
    proj = rig.to_aniposelib().cameras[0].project(kp3d.reshape(-1, 3)).reshape(n, 17, 2)
    for i in (0, n // 2, n - 1):
        for j in isolated(proj[i], range(17), 8):
            x, y = np.round(proj[i, j]).astype(int)
            if 0 <= x < w and 0 <= y < h:
                assert near(frames[i][y, x], JOINT_COLORS[COCO_SIDE[j]]), (i, j)
        far = far_from(proj[i], (h, w), 25)
        diff = np.abs(frames[i].astype(int) - source[i].astype(int))[far]
        assert diff.mean() < 3, i


def test_vis_mesh_on_synth_body(synth_data_videos, tmp_path):
    import cv2

    d = synth_data_videos
    seq = d.sequences[0]
    name = seq.replace("cAll", "c05")
    info = vis_video(name, VisConfig(anno_dir=d.anno_dir, smpl_dir=d.smpl_dir, save_dir=tmp_path,
                                     video_name=name, mode="mesh", end=3))
    assert info["frames"] == 3
    m = d.motions[seq]
    _, verts, faces = smplx_points(d.smpl_dir, m["smpl_poses"][:3], m["smpl_trans"][:3], float(m["smpl_scaling"][0]))
    cam = d.rig.to_aniposelib().cameras[4]
    w, h = (int(s) for s in d.rig.sizes[4])
    _, frames = decode(tmp_path / f"{name}.mp4")
    for k in range(3):
        px = cam.project(verts[k]).reshape(-1, 2)
        sil = np.zeros((h, w), np.uint8)
        for f in faces:
            cv2.fillConvexPoly(sil, np.round(px[f]).astype(np.int32), 1)
        inner = cv2.erode(sil, np.ones((3, 3), np.uint8)).astype(bool)
        outer = cv2.dilate(sil, np.ones((5, 5), np.uint8)).astype(bool)  # H.264 rings next to edges
        changed = np.abs(frames[k].astype(int) - 48).max(axis=2) > 6
        assert inner.sum() > 500
        assert changed[inner].mean() > 0.98
        assert changed[~outer].mean() < 0.002


# ---- own rigs: free names, detections drawn on their own video's pixels ---------------------------
def _blob_centre(frame, bg, around, r=9):
    """Centroid (x, y) of the luma difference between ``frame`` and ``bg`` near ``around``."""
    x0, y0 = np.round(around).astype(int)
    luma = lambda im: im.astype(float) @ [0.114, 0.587, 0.299]  # noqa: E731  (BGR)
    d = np.clip(luma(frame) - luma(bg), 0, None)[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
    d[d < 8] = 0
    yy, xx = np.mgrid[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
    return np.array([(d * xx).sum() / d.sum(), (d * yy).sum() / d.sum()])


@pytest.mark.parametrize("views", [["cam01"], "all"])
def test_vis_2d_lands_on_the_detections_when_the_camera_says_another_size(tmp_path, views):
    """Cameras say 648 px wide, the videos (and the detector) 640 and 400: each joint is drawn
    within 0.5 px of the detector's point (not rescaled to the camera's size); names cam01/cam02
    and the sequence 'take1' flow unchanged."""
    rig = aist_like_ring(num_views=2, size=(648, 360), focal=500, names=("cam01", "cam02"))
    sizes = [(640, 360), (400, 360)]
    n = 4
    pts = np.full((2, n, 17, 3), np.nan, np.float32)
    pts[0, :, 0] = [600.3, 200.7, 1.0]  # one joint per view (nose), off-centre
    pts[1, :, 0] = [310.6, 90.2, 1.0]
    anno = tmp_path / "anno"
    # the file lists the views in another order than the cameras: matched by name
    formats.save_keypoints2d(anno / "keypoints2d" / "take1.pkl", pts[::-1], np.ones((2, n)), np.arange(n),
                             view_names=["cam02", "cam01"], image_sizes=np.array(sizes[::-1]), joint_set="coco17")
    formats.save_cameras(anno / "cameras" / "studio.json", rig)
    formats.write_mapping(anno / "cameras" / "mapping.txt", {"take1": "studio"})
    bgs = []
    for v, (name, size) in enumerate(zip(rig.names, sizes)):
        bg = np.full((size[1], size[0], 3), 90, np.uint8)
        bgs.append(bg)
        with VideoWriter(tmp_path / "videos" / "take1" / f"{name}.mp4", fps=60, size=size) as w:
            for _ in range(n):
                w.write(bg)
    cfg = VisConfig(anno_dir=anno, video_dir=tmp_path / "videos", save_dir=tmp_path / "out", video_name="take1",
                    views=views, mode="2d", quiet=True)
    report = run_vis(cfg)
    assert report.count("done") == 1, report.items[0].error
    if views == "all":
        _, frames = decode(tmp_path / "out" / "take1.mp4")
        cols, rows, tw, th = grid_layout(2, sizes[0])
        for v in range(2):  # each view's tile: its video fitted whole into the tile, the point with it
            f = min(tw / sizes[v][0], th / sizes[v][1])  # 640x360 -> 320x180; 400x360 -> 200x180, 60 px in
            nw, nh = round(sizes[v][0] * f), round(sizes[v][1] * f)
            ox, oy = (tw - nw) // 2, (th - nh) // 2
            assert (v == 0 and ox == 0) or (v == 1 and ox == 60)
            want = pts[v, 0, 0, :2] * [nw / sizes[v][0], nh / sizes[v][1]] + [tw * v + ox, oy]
            canvas = np.full_like(frames[1], 48)
            canvas[oy:oy + nh, tw * v + ox:tw * v + ox + nw] = cv2.resize(bgs[v], (nw, nh), interpolation=cv2.INTER_AREA)
            assert np.abs(_blob_centre(frames[1], canvas, want, 5) - want).max() < 0.5, v
            if ox:  # the letterbox band beside the narrower view
                assert np.abs(frames[1][th // 2, tw * v + ox // 2].astype(int) - 48).max() <= 4
    else:
        assert report.items[0].name == "take1_cam01" and not report.items[0].info["warnings"]
        _, frames = decode(tmp_path / "out" / "take1_cam01.mp4")
        assert frames[0].shape == (360, 640, 3)
        got = _blob_centre(frames[2], bgs[0], pts[0, 0, 0, :2])
        assert np.abs(got - pts[0, 0, 0, :2]).max() < 0.5, got  # 648/640 would move it 7.5 px


def test_vis_2d_full_joint_set_draws_the_feet(tmp_path):
    """--joints full draws keypoints2d_full (here BODY_25's left heel) with that set's skeleton;
    the default draws COCO-17 only."""
    from aistpp.core.joint_sets import OPENPOSE_BODY25

    rig = aist_like_ring(num_views=1, size=(320, 240), focal=300, names=("cam01",))
    n = 3
    full = np.full((1, n, 25, 3), np.nan, np.float32)
    heel = OPENPOSE_BODY25.index("left_heel")
    full[0, :, heel] = [200.0, 150.0, 0.9]
    coco = np.full((1, n, 17, 3), np.nan, np.float32)
    anno = tmp_path / "anno"
    formats.save_keypoints2d(anno / "keypoints2d" / "t.pkl", coco, np.ones((1, n)), np.arange(n), view_names=["cam01"],
                             image_sizes=np.array([[320, 240]]), joint_set="body25", keypoints2d_full=full)
    formats.save_cameras(anno / "cameras" / "r.json", rig)
    formats.write_mapping(anno / "cameras" / "mapping.txt", {"t": "r"})
    for joints, drawn in (("full", True), ("coco17", False)):
        out = tmp_path / joints
        info = vis_video("t_cam01", VisConfig(anno_dir=anno, save_dir=out, video_name="t_cam01", mode="2d", joints=joints))
        assert info["frames"] == n
        _, frames = decode(out / "t_cam01.mp4")
        assert near(frames[1][150, 200], JOINT_COLORS[1]) == drawn, frames[1][150, 200]


def test_vis_3d_full_joint_set_draws_the_triangulated_feet(tmp_path):
    """--mode 3d --joints full projects keypoints3d_full (here HALPE-26's left heel) through the
    camera; the default draws the COCO-17 keypoints3d only."""
    from aistpp.core.joint_sets import HALPE26

    rig = aist_like_ring(num_views=1, size=(320, 240), focal=300, names=("cam01",))
    n = 3
    heel3d = np.array([5.0, 10.0, 0.0])
    px = rig.project(heel3d[None, None])[0, 0, 0]
    full = np.full((n, 26, 3), np.nan, np.float32)
    full[:, HALPE26.index("left_heel")] = heel3d
    coco = np.full((n, 17, 3), np.nan, np.float32)
    anno = tmp_path / "anno"
    formats.save_keypoints3d(anno / "keypoints3d" / "t.pkl", coco, coco, keypoints3d_full=full,
                             keypoints3d_full_optim=full, joint_set="halpe26")
    formats.save_cameras(anno / "cameras" / "r.json", rig)
    formats.write_mapping(anno / "cameras" / "mapping.txt", {"t": "r"})
    x, y = np.round(px).astype(int)
    for joints, drawn in (("full", True), ("coco17", False)):
        out = tmp_path / joints
        info = vis_video("t_cam01", VisConfig(anno_dir=anno, save_dir=out, video_name="t_cam01", mode="3d", joints=joints))
        assert info["frames"] == n
        _, frames = decode(out / "t_cam01.mp4")
        assert near(frames[1][y, x], JOINT_COLORS[1]) == drawn, frames[1][y, x]
