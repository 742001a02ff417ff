"""Annotations drawn onto the videos: 2D keypoints, projected 3D keypoints, SMPL joints, SMPL mesh.

Pure part: ``annotation_points`` turns a sequence's annotations into pixels per view
``(V, N, J, 2)``; ``grid_layout`` places views in one frame. Streaming part: ``render_video``
decodes one frame per view (by time, frame i at i/60 s), draws, and encodes, so memory stays
flat in the video's length (SMPL vertices are posed in small chunks as frames go by).
Time: frame i of an output is the setting's common instant i; a view with time offset o (the
sequence's ``frame_offsets`` entry, else ``frame_offset``: ``core.frame_offsets``) contributes its
video frame i + round(o) and its detections of that frame; projected 3D points are those of the
instant that video frame shows (i + round(o) - o, interpolated, when o is fractional), and so is
the posed mesh (vertices interpolated between the two posed frames around that instant).
Job: ``vis_video(name, config)`` writes ``<save_dir>/<name>.mp4`` for a video name, or one grid
video for a sequence name (all views); ``run_vis(config)`` maps it over the requested outputs.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Iterator, Literal, Optional

import cv2
import numpy as np
from pydantic import Field, field_validator, model_validator

from aistpp.config import end_after_start
from aistpp.core.body import (
    load_smpl, module_body_model, motion_body_model, motion_gender, skeleton_joints, smpl_forward,
)  # fmt: skip
from aistpp.core.body_models import SMPL
from aistpp.core.cameras import CameraRig
from aistpp.core.dataset import AISTDataset
from aistpp.core.draw import SKELETONS, draw_named_skeleton, draw_skeleton
from aistpp.core.joint_sets import REGISTRY
from aistpp.core import formats
from aistpp.core.detection_layout import find_video
from aistpp.core.frame_offsets import shift_views
from aistpp.core.names import check_name, is_sequence_name, parse_name, split_video_name, video_name
from aistpp.core.render import DEFAULT_MESH_COLOR, outward_faces, render_mesh
from aistpp.core.runner import RunOptions, RunReport, run_jobs
from aistpp.core.video import (
    ANNOTATION_FPS, VideoWriter, add_audio, annotation_frames, check_audio, find_music, probe, read_frames,
)
from aistpp.errors import AistppError

Mode = Literal["2d", "3d", "smpl", "mesh"]
BACKGROUND_BGR = (48, 48, 48)
MESH_CHUNK = 32  # frames posed at once in mesh mode


class VisConfig(RunOptions):
    """Options of ``aistpp vis`` (runner options inherited)."""

    anno_dir: Path
    save_dir: Path
    video_name: str = Field(description="A video name (..._c01_..., or <sequence>_<view> for other names) or a "
                            "sequence name with --views.")
    mode: Mode = Field("2d", description="What to draw: 2D keypoints, projected 3D keypoints, SMPL joints or the "
                       "SMPL mesh.")
    video_dir: Path | None = Field(None, json_schema_extra={"unset": "a plain background of the camera's size"})
    smpl_dir: Path | None = None
    views: list[str] | None = Field(None, description="Comma-separated views (one video each), or 'all' for one "
                                    "grid video.", json_schema_extra={"unset": "the video's own view"})
    start: int = Field(0, ge=0, description="First annotation frame to draw.")
    end: int | None = Field(None, ge=1, description="Stop before this annotation frame.",
                            json_schema_extra={"unset": "the last"})
    labels: bool = Field(False, description="Write joint names beside the joints.")
    joints: Literal["coco17", "full"] = Field("coco17", description="2d / 3d modes: COCO-17, or every point of "
                                              "the detector's own joint set (keypoints2d_full; in 3d the triangulated "
                                              "keypoints3d_full: feet, hands) with its skeleton.")
    min_confidence: float = Field(0.15, ge=0.0, le=1.0, description="2d mode: skip joints below this confidence.")
    alpha: float = Field(0.6, ge=0.0, le=1.0)
    gender: Optional[Literal["neutral", "male", "female"]] = None  # None: the motion's smpl_gender, else male
    crf: int = Field(20, ge=0, le=51)
    preset: str = "veryfast"
    executor: Literal["serial", "processes", "ray"] = Field(
        "serial", description="How videos are drawn: one after another, in local processes (the default once "
        "--workers is given), or on Ray.")
    any_fps: bool = Field(False, description="Draw on videos whose frame rate is far from 60 fps (frames still "
                          "taken by time); else refuse them.")
    audio: Path | None = Field(None, description="Music to carry in the output MP4 (AAC), aligned so that audio "
                               "time 0 plays with video frame 0, trimmed to the video.")
    music_dir: Path | None = Field(None, description="Folder of the music named by tag (mWA2.wav, .mp3, ...): the "
                                   "sequence's music goes into the output.")

    _frames = model_validator(mode="after")(end_after_start)

    @model_validator(mode="before")
    @classmethod
    def _workers_mean_processes(cls, values):
        """``--workers`` without ``--executor``: processes (a worker count means parallel work)."""
        if isinstance(values, dict) and values.get("workers") is not None and "executor" not in values:
            values = {**values, "executor": "processes"}
        return values

    @field_validator("mode", mode="before")
    @classmethod
    def _lower(cls, v):
        return v.lower() if isinstance(v, str) else v

    @field_validator("views", mode="before")
    @classmethod
    def _split(cls, v):
        if isinstance(v, str):
            v = [v]
        if v is None:
            return None
        out = [s.strip() for item in v for s in str(item).split(",") if s.strip()]
        return ["all"] if any(s.lower() == "all" for s in out) else out


# ---- pure array functions ----------------------------------------------------------------
def grid_layout(num_views: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(cols, rows, tile_w, tile_h) to fit ``num_views`` tiles in a frame of ``size`` (w, h) px.

    Tiles keep the camera's aspect ratio and even sizes (yuv420p needs even frame sizes).
    """
    w, h = size
    cols = math.ceil(math.sqrt(num_views))
    rows = math.ceil(num_views / cols)
    scale = min(1 / cols, 1 / rows)
    tw, th = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
    return cols, rows, max(tw, 2), max(th, 2)


def annotation_points(mode: Mode, rig: CameraRig, data: dict, model=None) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Pixels to draw per view: ((V, N, J, 2) px, confidence (V, N, J) or None, skeleton name).

    ``2d``: data["keypoints2d"] (V, N, 17, 3) as detected (data["keypoints2d_full"] (V, N, J, 3)
    in data["joint_set"] when given: every point the detector found, feet, hands); ``3d``: data["keypoints3d"]
    (N, 17, 3) cm projected through ``rig`` (distortion included; data["keypoints3d_full"] (N, J, 3)
    in data["joint_set"] when given); ``smpl``: the 24 SMPL joints
    of data["motion"] posed with the dataset's scaling, projected.
    """
    if mode == "2d":
        if "keypoints2d_full" in data:
            kp = data["keypoints2d_full"]
            return kp[..., :2], kp[..., 2], data["joint_set"]
        kp = data["keypoints2d"]
        return kp[..., :2], kp[..., 2], "coco17"
    if mode == "3d":
        if "keypoints3d_full" in data:  # the full joint set's optimised 3D points (feet, hands)
            return rig.project(data["keypoints3d_full"]), None, data["joint_set"]
        return rig.project(data["keypoints3d"]), None, "coco17"
    if mode == "smpl":
        m = data["motion"]
        if hasattr(model, "skeleton"):  # SMPL-H / SMPL-X (vis_models.ModelPoser): every joint, the fingers
            return rig.project(model.points(m)), None, model.skeleton
        joints = skeleton_joints(model, m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"])
        return rig.project(joints), None, module_body_model(model).skeleton_name
    raise ValueError(f"no points for mode {mode!r}")


def draw_set(image: np.ndarray, points: np.ndarray, skeleton: str, confidence, threshold: float, labels: bool):
    """``draw_named_skeleton`` for ``coco17`` / ``smpl24``, else the bones and sides of that joint set."""
    if isinstance(skeleton, str) and skeleton in SKELETONS:
        return draw_named_skeleton(image, points, skeleton, confidence, threshold, labels)
    s = REGISTRY[skeleton] if isinstance(skeleton, str) else skeleton  # a registry set, or vis_models.Skeleton
    return draw_skeleton(image, points, s.bones, s.sides, confidence, threshold, s.names if labels else None)


def fit_tile(size: tuple[int, int], tile: tuple[int, int]) -> tuple[tuple[int, int], np.ndarray]:
    """((w, h) shown, (x, y) offset) of an image of ``size`` in a ``tile``: resized to the tile
    when their aspect ratios agree within 2 px, else fitted whole and centred (letterboxed)."""
    (w, h), (tw, th) = size, tile
    f = min(tw / w, th / h)
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    if abs(nw - tw) <= 2 and abs(nh - th) <= 2:
        return (tw, th), np.zeros(2)
    return (nw, nh), np.array([(tw - nw) // 2, (th - nh) // 2], np.float64)


# ---- streaming ------------------------------------------------------------------------------
def _frames(path: Path | None, size: tuple[int, int], start: int, end: int) -> Iterator[np.ndarray]:
    """Video frames start..end-1 by time, or a plain background when there is no video (and
    for frames before the video's first, ``start`` < 0: a view whose ``frame_offset`` is negative)."""
    w, h = size
    for _ in range(start, end if path is None else min(end, 0)):
        yield np.full((h, w, 3), BACKGROUND_BGR, np.uint8)
    if path is None or end <= 0:
        return
    for _, frame in read_frames(path, max(start, 0), end):
        yield frame


def _mesh_vertices(model, motion: dict, start: int, end: int) -> Iterator[np.ndarray]:
    """Posed mesh vertices (V, 3) cm for frames start..end-1, computed MESH_CHUNK at a time."""
    for s in range(start, end, MESH_CHUNK):
        e = min(s + MESH_CHUNK, end)
        if hasattr(model, "vertices"):  # SMPL-H / SMPL-X
            yield from model.vertices(motion, s, e)
            continue
        _, verts = smpl_forward(model, motion["smpl_poses"][s:e], motion["smpl_trans"][s:e],
                                motion["smpl_scaling"], vertices=True)
        yield from verts


def _mesh_at(model, motion: dict, start: int, end: int, shifts: np.ndarray) -> Iterator[list[np.ndarray]]:
    """Per frame i of start..end-1, the posed vertices (M, 3) cm at instant i + ``shifts[v]`` for
    each view v (|shift| <= 1 frame: linear between the two posed frames around it; at the
    motion's first / last frame, that frame)."""
    last = len(motion["smpl_poses"]) - 1
    lo, hi = max(start - 1, 0), min(end + 1, last + 1)
    posed = _mesh_vertices(model, motion, lo, hi)
    window = {}  # frame -> vertices, the frames around i
    for i in range(start, end):
        while max(window, default=lo - 1) < min(i + 1, last):
            window[max(window, default=lo - 1) + 1] = next(posed)
        for k in [k for k in window if k < i - 1]:
            del window[k]
        out = []
        for sh in shifts:
            j = min(max(i + float(sh), 0.0), float(last))
            a, b = int(np.floor(j)), min(int(np.floor(j)) + 1, last)
            w = j - a
            out.append(window[a] if w < 1e-9 else (1.0 - w) * window[a] + w * window[b])
        yield out


def render_video(out_path: Path, rig: CameraRig, sources: list[Path | None], start: int, end: int,
                 points: np.ndarray | None = None, confidence: np.ndarray | None = None,
                 skeleton: str = "coco17", mesh: tuple | None = None, grid: bool = False,
                 config: VisConfig | None = None, frame_sizes: list[tuple[int, int]] | None = None,
                 point_sizes: list[tuple[int, int]] | None = None, frame_offsets=None,
                 mesh_shifts=None) -> int:
    """Decode, draw and encode frames start..end-1 of the views of ``rig``; return frames written.

    sources: one video path (or None: plain background of ``frame_sizes``) per view, and
    frame_sizes (w, h) of those images (default: the cameras' sizes). points (V, N, J, 2) px
    with confidence (V, N, J) are drawn as a skeleton; they are pixels of an image of
    ``point_sizes`` (w, h) per view (default: the cameras' sizes, right for projections): where
    that differs from the frame, the drawing is scaled to the frame, else drawn where the points
    are (2D detections on their own video). ``mesh`` = (model, motion, faces) renders the SMPL
    mesh (faces wound outward: back faces are culled) scaled from camera to frame pixels. With
    ``grid`` all views are tiled into one frame of the first view's size (a view of another
    aspect ratio letterboxed in its tile), else ``rig`` holds one view. Frames are the setting's
    common clock: output frame i shows view v's video frame ``i + frame_offsets[v]`` (rounded;
    default 0, see ``core.frame_offsets``); ``points`` are on that clock already, and the mesh is
    posed at instant i + ``mesh_shifts[v]`` for view v (default 0; a sub-frame offset o: round(o) - o).
    """
    cfg = config or VisConfig(anno_dir=Path("."), save_dir=Path("."), video_name="x")
    cam_sizes = [tuple(int(s) for s in rig.sizes[v]) for v in range(len(rig))]
    sizes = frame_sizes or cam_sizes
    psizes = point_sizes or cam_sizes
    if grid:
        cols, rows, tw, th = grid_layout(len(rig), sizes[0])
        out_size = (cols * tw, rows * th)
        shown, offsets = zip(*(fit_tile(sz, (tw, th)) for sz in sizes))  # each view resized into its tile
    else:
        out_size = (sizes[0][0] // 2 * 2, sizes[0][1] // 2 * 2)  # yuv420p: even sizes
        shown, offsets = [tuple(sizes[0])], [np.zeros(2)]  # the frame, cropped to even sizes (no resampling)
    scales = [np.array([w / cw, h / ch]) for (w, h), (cw, ch) in zip(shown, cam_sizes)]  # camera px -> output
    pscales = [np.array([w / pw, h / ph]) for (w, h), (pw, ph) in zip(shown, psizes)]  # point px -> output
    cams = [rig.subset([name]) for name in rig.names]
    shift = np.zeros(len(rig), int) if frame_offsets is None else np.round(frame_offsets).astype(int)
    streams = [_frames(src, sizes[v], start + shift[v], end + shift[v]) for v, src in enumerate(sources)]
    if mesh is None:
        meshes = None
    elif mesh_shifts is None or not np.any(mesh_shifts):
        meshes = ([verts] * len(rig) for verts in _mesh_vertices(mesh[0], mesh[1], start, end))
    else:
        meshes = _mesh_at(mesh[0], mesh[1], start, end, np.asarray(mesh_shifts, np.float64))
    written = 0
    with VideoWriter(out_path, ANNOTATION_FPS, out_size, crf=cfg.crf, preset=cfg.preset, overwrite=True) as writer:
        for i in range(start, end):
            try:
                images = [next(s) for s in streams]
            except StopIteration:
                break
            posed = next(meshes) if meshes is not None else None
            if grid:
                canvas = np.full((out_size[1], out_size[0], 3), BACKGROUND_BGR, np.uint8)
            for v, image in enumerate(images):
                if grid:
                    tile = np.full((th, tw, 3), BACKGROUND_BGR, np.uint8)
                    (nw, nh), (ox, oy) = shown[v], offsets[v].astype(int)
                    tile[oy:oy + nh, ox:ox + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
                    image = tile
                elif image.shape[:2] != (out_size[1], out_size[0]):
                    image = np.ascontiguousarray(image[: out_size[1], : out_size[0]])
                if posed is not None:
                    verts = posed[v]
                    vcam = cams[v].world_to_camera(verts)[0]
                    px = cams[v].project(verts)[0] * scales[v] + offsets[v]
                    render_mesh(image, px, vcam[:, 2], mesh[2], DEFAULT_MESH_COLOR, cfg.alpha, vertices_cam=vcam,
                                cull_back=True)
                if points is not None:
                    conf = confidence[v, i] if confidence is not None else None
                    draw_set(image, points[v, i] * pscales[v] + offsets[v], skeleton, conf, cfg.min_confidence,
                             cfg.labels)
                if grid:
                    r, c = divmod(v, cols)
                    canvas[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = image
            writer.write(canvas if grid else image)
            written += 1
    return written


# ---- the job ---------------------------------------------------------------------------------
def split_target(name: str, ds: AISTDataset) -> tuple[str, str | None]:
    """(sequence, view) of an output name, view None for a sequence (a grid of all views).

    AIST names carry the view in their camera tag (``gWA_sFM_c01_...``); a sequence of an own
    rig (any name mapping.txt lists, ``take1``) is itself, and its views' outputs are
    ``<sequence>_<view>`` (``take1_cam01``).
    """
    mapping = ds.mapping
    if name in mapping or is_sequence_name(name):
        return name, None
    try:
        seq, view = split_video_name(name)
    except AistppError:
        seq = view = None
    if seq is not None and seq in mapping:
        return seq, view
    own = [q for q in mapping if name.startswith(q + "_") and len(name) > len(q) + 1]
    if own:
        seq = max(own, key=len)
        return seq, name[len(seq) + 1:]
    if seq is not None:  # an AIST video name whose sequence mapping.txt lacks: setting_of says so
        return seq, view
    raise AistppError(f"{name!r} is neither a sequence of mapping.txt nor <sequence>_<view> of one",
                      ds.layout.folder("cameras") / "mapping.txt")


def view_output(seq: str, view: str) -> str:
    """The output name of one view: the AIST video name, or ``<sequence>_<view>`` for other names."""
    try:
        return video_name(seq, view)
    except AistppError:
        return f"{check_name(seq)}_{check_name(view, 'view name')}"


def output_names(config: VisConfig) -> list[str]:
    """Output names (video names, or the sequence name for a grid) for the requested views."""
    ds = AISTDataset(config.anno_dir)
    seq, view = split_target(config.video_name, ds)
    if view is None and not config.views:
        raise AistppError(f"{config.video_name!r} is a sequence name: pass --views <view>,... or --views all")
    if not config.views:
        return [config.video_name]
    if config.views == ["all"]:
        return [seq]
    return [view_output(seq, v) for v in config.views]


def _require(path: Path, what: str, fix: str = "") -> Path:
    if not path.is_file():
        raise AistppError(f"{what} not found{fix}", path)
    return path


def video_file(ds: AISTDataset, seq: str, view: str) -> Path:
    """The video of one view (``aistpp.core.detection_layout.find_video``'s names); the AIST name
    (or ``<video_dir>/<seq>/<view>.mp4``) in the error when none exists."""
    found = find_video(ds.videos.video_dir, seq, view) if ds.videos is not None else None
    if found is not None:
        return found
    expected = ds.video_path(view_output(seq, view)) if is_sequence_name(seq) else \
        ds.videos.video_dir / seq / f"{view}.mp4"
    return _require(expected, "video", " (check --video-dir, or leave it out to draw on a plain background)")


def check_inputs(name: str, config: VisConfig) -> tuple[AISTDataset, str, CameraRig, list[str]]:
    """Cheap checks before any drawing: (dataset, sequence, setting's cameras, views of ``name``).

    Raises ``AistppError`` naming the missing piece: camera setting, view, time offsets, annotation
    file, SMPL model (smpl/mesh modes), video (when a video folder is given).
    """
    ds = AISTDataset(config.anno_dir, config.video_dir, config.smpl_dir)
    seq, view = split_target(name, ds)
    setting = ds.setting_of(seq)
    cam_file = ds.layout.folder("cameras") / f"{setting}.json"
    _require(cam_file, f"camera setting '{setting}' of {seq} (listed in mapping.txt)")
    full = ds.load_cameras(seq)
    views = list(full.names) if view is None else [full.names[full.index(view)]]
    ds.load_frame_offsets(seq, views)  # the time offsets are read (validated) before any drawing too
    if config.mode in ("smpl", "mesh"):
        if config.smpl_dir is None:
            raise AistppError(f"--mode {config.mode} needs the SMPL model: pass --smpl-dir "
                              f"(folder of {SMPL.model_path('.', 'male').name} for released motions)")
    kind = {"2d": "keypoints2d", "3d": "keypoints3d"}.get(config.mode, "motions")
    _require(ds.layout.file(kind, seq), f"{kind} file for --mode {config.mode}")
    if config.mode in ("smpl", "mesh"):
        motion = ds.load_motion(seq)
        motion_body_model(motion).require_file(config.smpl_dir, motion_gender(motion, config.gender))
    if config.video_dir is not None:
        for v in views:
            check_video(video_file(ds, seq, v), config.any_fps)
    if config.audio is not None or config.music_dir is not None:
        check_audio(music_file(seq, config))
    return ds, seq, full, views


def music_file(seq: str, config: VisConfig) -> Path:
    """``--audio``, else the file of the sequence's music tag in ``--music-dir``."""
    if config.audio is not None:
        return config.audio
    return find_music(config.music_dir, parse_name(seq).music)


def check_video(path: Path, any_fps: bool = False) -> None:
    """A video to draw on: readable, with frames, at about the annotations' 60 fps.

    AIST++'s videos run at 60 fps or a little off it (59.94); frames are taken by time, so that
    is fine. A video far from 60 fps (a 30 fps preview, say) would show each annotation frame on
    a frame up to 1/60 s away from its moment: refused unless ``any_fps`` (``--any-fps``).
    """
    info = probe(path)
    if info.frames <= 0:
        raise AistppError("the video has no frames", path)
    if not any_fps and abs(info.fps - ANNOTATION_FPS) > 0.05 * ANNOTATION_FPS:
        raise AistppError(f"the video runs at {info.fps:.3g} fps, the annotations at {ANNOTATION_FPS:g} "
                          "(pass --any-fps to draw by time anyway)", path)


def vis_video(name: str, config: VisConfig) -> dict:
    """Write ``<save_dir>/<name>.mp4``: a view's name draws that view, a sequence name all views."""
    ds, seq, full, views = check_inputs(name, config)
    grid = split_target(name, ds)[1] is None
    rig = full.subset(views)
    exact = ds.load_frame_offsets(seq, views)  # the sequence's own (core.frame_offsets), maybe sub-frame
    offsets = np.round(exact).astype(int)  # whole frames: the video's own

    data: dict = {}
    model = None
    mode = config.mode
    point_sizes = None
    if mode == "2d":
        kp_path = ds.layout.file("keypoints2d", seq)
        kp2d = ds.load_keypoints2d(seq)
        rows = formats.keypoints2d_views(kp2d, full.names, kp_path)[[full.index(v) for v in views]]  # by name
        data["keypoints2d"] = shift_views(kp2d["keypoints2d"][rows], offsets)  # on the common clock
        if config.joints == "full" and "keypoints2d_full" in kp2d and kp2d.get("joint_set") in REGISTRY:
            data.update(keypoints2d_full=shift_views(kp2d["keypoints2d_full"][rows], offsets),
                        joint_set=kp2d["joint_set"])
        if "image_sizes" in kp2d:  # the detections' own image sizes (0 = unknown)
            point_sizes = [tuple(int(x) for x in kp2d["image_sizes"][r]) for r in rows]
        n_anno = data["keypoints2d"].shape[1]
    elif mode == "3d":
        data["keypoints3d"] = ds.load_keypoints3d(seq, optim=True)
        if config.joints == "full":
            kp3d = formats.load_keypoints3d(ds.layout.file("keypoints3d", seq))
            key = "keypoints3d_full_optim" if "keypoints3d_full_optim" in kp3d else "keypoints3d_full"
            if key in kp3d and kp3d.get("joint_set") in REGISTRY:
                data.update(keypoints3d_full=kp3d[key], joint_set=kp3d["joint_set"])
        n_anno = len(data["keypoints3d"])
    else:
        data["motion"] = ds.load_motion(seq)
        bm, gender = motion_body_model(data["motion"]), motion_gender(data["motion"], config.gender)
        if bm.name != "smpl":  # SMPL-H / SMPL-X: the model's joints with the fingers, its mesh
            from aistpp.pipeline.vis_models import ModelPoser

            model = ModelPoser(config.smpl_dir, bm.name, gender)
        else:
            model = load_smpl(config.smpl_dir, gender, body_model=bm)
        n_anno = len(data["motion"]["smpl_poses"])

    sources: list[Path | None] = [None] * len(rig)
    warnings: list[str] = []
    n_video = None
    frame_sizes = None
    if config.video_dir is not None:
        sources = [video_file(ds, seq, v) for v in rig.names]
        infos = [probe(p) for p in sources]
        frame_sizes = [tuple(info.size) for info in infos]
        n_video = min(annotation_frames(info) - o for info, o in zip(infos, offsets))
        if n_video != n_anno:
            warnings.append(f"annotations have {n_anno} frames, the video {n_video} (at 60 fps): drawing the "
                            f"{min(n_anno, n_video)} that overlap")
    if mode == "2d":  # detections are drawn where the detector put them: pixels of their own image
        known = point_sizes or [(0, 0)] * len(rig)
        base = frame_sizes or [tuple(int(x) for x in rig.sizes[v]) for v in range(len(rig))]
        point_sizes = [p if min(p) > 0 else b for p, b in zip(known, base)]
        if frame_sizes is None:
            frame_sizes = point_sizes  # no video: a background of the detections' image size
        for v, (p, f) in enumerate(zip(point_sizes, frame_sizes)):
            if tuple(p) != tuple(f):
                warnings.append(f"view {rig.names[v]}: detections are for {p[0]}x{p[1]} images, the video is "
                                f"{f[0]}x{f[1]}: drawing scaled to the video")
    n = n_anno if n_video is None else min(n_anno, n_video)
    start, end = config.start, min(config.end or n, n)
    if start >= end:
        raise AistppError(f"--start {start} leaves no frame to draw ({n} frames{' overlap' if n_video else ''})")

    points = confidence = None
    skeleton = "coco17"
    mesh = None
    if mode == "mesh":
        template = model.v_template.detach().cpu().numpy()
        mesh = (model, data["motion"], outward_faces(template, np.asarray(model.faces, np.int64)))
    else:
        points, confidence, skeleton = annotation_points(mode, rig, data, model)
        if mode != "2d" and (exact != offsets).any():  # video frame i + round(o) shows instant i + round(o) - o
            points = shift_views(points, offsets - exact)
    out = config.save_dir / f"{name}.mp4"
    written = render_video(out, rig, sources, start, end, points, confidence, skeleton, mesh, grid, config,
                           frame_sizes, point_sizes, offsets, mesh_shifts=offsets - exact)
    if written < end - start:
        warnings.append(f"the video ended after {written} of {end - start} frames")
    if config.audio is not None or config.music_dir is not None:
        seconds = add_audio(out, music_file(seq, config), offset_s=start / ANNOTATION_FPS)
        if seconds < written / ANNOTATION_FPS - 0.05:
            warnings.append(f"the music ends {written / ANNOTATION_FPS - seconds:.1f} s before the video")
    return {"frames": written, "views": len(rig), "video": "yes" if config.video_dir else "no",
            "warnings": warnings, "output": str(out)}


def run_vis(config: VisConfig) -> RunReport:
    """Draw the requested video(s); one output per view, or one grid for ``--views all``."""
    names = output_names(config)
    for name in names:  # user errors (missing files) stop here, before any work, with exit 2
        check_inputs(name, config)
    job = functools.partial(vis_video, config=config)
    return run_jobs(job, names, config, outputs=lambda n: [config.save_dir / f"{n}.mp4"],
                    title=f"vis {config.mode}")
