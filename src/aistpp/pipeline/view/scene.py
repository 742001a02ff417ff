"""What the page shows, as plain data: tracks (one sequence of one annotation folder),
cameras, per-frame errors and the music.

Pure part: ``reprojection_error``, ``detection_confidence``, ``joint_error`` (arrays in,
arrays out). Loading part: ``build_scene(config)`` reads the files of each requested
sequence and returns the dict that ``aistpp.pipeline.view.page`` writes into the HTML.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aistpp.config import end_after_start
from aistpp.core.cameras import CameraRig
from aistpp.core.dataset import AISTDataset
from aistpp.core.draw import SKELETONS, bone_sides
from aistpp.core.frame_offsets import shift_views
from aistpp.core.body_models import SMPL
from aistpp.core.names import parse_name
from aistpp.core.video import ANNOTATION_FPS, find_music
from aistpp.errors import AistppError
from aistpp.pipeline.view.pack import pack, quantise, quantise_unit

MAX_SEQUENCES = 8
ANKLE_CM = 8.0  # ankle joint above the sole, for a floor found from a skeleton
AUDIO_MIME = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac",
              ".ogg": "audio/ogg", ".flac": "audio/flac"}


class ViewConfig(BaseModel):
    """Options of ``aistpp view``."""

    model_config = ConfigDict(extra="forbid")

    anno_dir: Path
    out: Path = Field(description="The HTML file to write.")
    smpl_dir: Path | None = None
    sequence_names: list[str] | None = None
    compare_dir: Path | None = Field(None, description="A second annotation folder (rebuilt, generated, ...): its "
                                     "tracks are overlaid in another colour, with the per-frame joint error where "
                                     "both have the sequence.")
    music_dir: Path | None = Field(None, description="Folder of the music named by tag (mWA2.wav, .mp3, ...): the "
                                   "first sequence's music is embedded and plays in sync.")
    keypoints: Literal["optim", "plain"] = Field("optim", description="Skeleton from keypoints3d_optim (plain "
                                                 "triangulation when absent) or keypoints3d (plain).")
    mesh: bool = Field(True, description="Show the SMPL mesh of each motion (needs --smpl-dir).")
    joint_colour: Literal["auto", "reprojection", "confidence", "none"] = Field(
        "auto", description="Colour joints by per-frame reprojection error (px) or detection confidence, from "
        "keypoints2d; auto: reprojection when the cameras are there.")
    layout: Literal["side", "overlay"] = Field("side", description="Sequences side by side, or all at their own "
                                               "place (overlay).")
    gender: Literal["neutral", "male", "female"] | None = Field(None, description="Body model of the mesh.")
    start: int = Field(0, ge=0, description="First frame to show; the music starts at start/60 s.")
    end: int | None = Field(None, ge=1, description="Stop before this frame.", json_schema_extra={"unset": "the last"})
    max_error_px: float = Field(20.0, gt=0)  # reprojection error shown as the hottest colour
    min_confidence: float = Field(0.15, ge=0, le=1)

    _frames = model_validator(mode="after")(end_after_start)


# ---- pure array functions ---------------------------------------------------------------
def reprojection_error(points3d: np.ndarray, keypoints2d: np.ndarray, rig: CameraRig,
                       min_confidence: float = 0.15) -> np.ndarray:
    """Median over views of the pixel distance between 3D joints (N, J, 3) cm projected through
    ``rig`` and the detections (V, N, J, 3) (x, y, confidence) -> (N, J) px, NaN where no view
    has a detection above ``min_confidence``."""
    n = min(len(points3d), keypoints2d.shape[1])
    proj = rig.project(points3d[:n])  # (V, n, J, 2)
    kp = keypoints2d[:, :n]
    d = np.linalg.norm(proj - kp[..., :2], axis=-1)
    d = np.where(kp[..., 2] >= min_confidence, d, np.nan)
    out = np.full(points3d.shape[:2], np.nan)
    with np.errstate(all="ignore"):
        seen = np.isfinite(d).any(0)
        out[:n][seen] = np.nanmedian(d[:, seen], axis=0)
    return out


def detection_confidence(keypoints2d: np.ndarray) -> np.ndarray:
    """Mean over views of the detection confidence (V, N, J, 3) -> (N, J), NaN treated as 0."""
    return np.nan_to_num(keypoints2d[..., 2]).mean(0)


def floor_height(track_points: np.ndarray | None, lowest_vertex: float | None, ankle_cm: float = ANKLE_CM) -> float | None:
    """Where a track's floor is (cm): the lowest mesh vertex when there is a mesh, else the
    1st percentile over frames of the lowest joint (N, J, 3) minus an ankle's height.

    The released AIST++ world has its floor near y = 60 cm, synthetic data at 0: the page
    draws the floor where the dancer stands rather than at y = 0."""
    if lowest_vertex is not None:
        return float(lowest_vertex)
    if track_points is None:
        return None
    with np.errstate(all="ignore"):
        low = np.nanmin(track_points[..., 1], axis=1)
    low = low[np.isfinite(low)]
    return float(np.percentile(low, 1) - ankle_cm) if len(low) else None


def aligned_mean_error(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean joint distance (cm) between skeletons (N, J, 3) after one similarity transform of ``b``
    onto ``a`` fitted on every joint both have (``core.align.similarity_transform``): what is left
    when the two folders' world frames differ (a rebuild's gauge against the release's). None with
    fewer than 3 such joints."""
    from aistpp.core.align import similarity_transform

    n = min(len(a), len(b))
    pa, pb = a[:n].reshape(-1, 3).astype(np.float64), b[:n].reshape(-1, 3).astype(np.float64)
    ok = np.isfinite(pa).all(1) & np.isfinite(pb).all(1)
    if ok.sum() < 3:
        return None
    s, R, t = similarity_transform(pb[ok], pa[ok])
    return float(np.linalg.norm(s * pb[ok] @ R.T + t - pa[ok], axis=1).mean())


def joint_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean joint distance per frame (N,) cm between skeletons (N, J, 3); over the frames both
    have, NaN where no joint is finite in both."""
    n = min(len(a), len(b))
    d = np.linalg.norm(a[:n] - b[:n], axis=-1)
    with np.errstate(all="ignore"):
        return np.where(np.isfinite(d).any(1), np.nanmean(d, axis=1), np.nan)


# ---- loading ----------------------------------------------------------------------------
def _available(anno_dir: Path) -> list[str]:
    names = set()
    for kind in ("keypoints3d", "motions"):
        folder = anno_dir / kind
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.pkl"))
    return sorted(names)


def select_sequences(config: ViewConfig) -> list[str]:
    """The requested sequences (checked names), else every sequence with keypoints3d or a
    motion in either folder, at most MAX_SEQUENCES of them."""
    ds = AISTDataset(config.anno_dir)
    if config.compare_dir is not None and not config.compare_dir.is_dir():
        raise AistppError("comparison folder not found", config.compare_dir)
    if config.sequence_names:
        return ds.select(config.sequence_names)
    found = set(_available(config.anno_dir)) | (set(_available(config.compare_dir)) if config.compare_dir else set())
    if not found:
        raise AistppError("no keypoints3d/ or motions/ files to show", config.anno_dir)
    if len(found) > MAX_SEQUENCES:
        raise AistppError(f"{len(found)} sequences found: name up to {MAX_SEQUENCES} with --sequence-names",
                          config.anno_dir)
    return ds.select(sorted(found))


def _gender(config: ViewConfig, motion: dict) -> str:
    if config.gender is not None:
        return config.gender
    g = motion.get("smpl_gender")
    return g if isinstance(g, str) and g in ("neutral", "male", "female") else "male"


def _skeleton(ds: AISTDataset, seq: str, config: ViewConfig, motion: dict | None, model) -> tuple:
    """(joints (N, J, 3) cm, joint set name, source) of a track, or (None, None, None)."""
    path = ds.layout.file("keypoints3d", seq)
    if path.is_file():
        from aistpp.core import formats

        data = formats.load_keypoints3d(path)
        key = "keypoints3d_optim" if config.keypoints == "optim" and "keypoints3d_optim" in data else "keypoints3d"
        pts = data[key][config.start:config.end]
        joint_set = data.get("joint_set") if isinstance(data.get("joint_set"), str) else None
        if joint_set is None:
            joint_set = "coco17" if pts.shape[1] == 17 else SMPL.skeleton_name if pts.shape[
                1] == SMPL.num_joints else f"{pts.shape[1]} joints"
        return pts, joint_set, key
    if motion is not None and model is not None:  # a motion only: its body model's points at the COCO-17 places
        from aistpp.core.body import module_body_model, smpl_forward

        joints = smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"])
        return joints[:, module_body_model(model).observed_index("coco17")], "coco17", "smpl joints"
    return None, None, None


def _track(ds: AISTDataset, seq: str, config: ViewConfig, source: str, models: dict) -> dict | None:
    from aistpp.core.body import load_smpl, motion_body_model
    from aistpp.pipeline.view.mesh import faces_of, pack_mesh

    motion = ds.load_motion(seq) if ds.layout.file("motions", seq).is_file() else None
    if motion is not None:
        motion = dict(motion, smpl_poses=motion["smpl_poses"][config.start:config.end],
                      smpl_trans=motion["smpl_trans"][config.start:config.end])
    model = None
    gender = None
    if motion is not None and config.smpl_dir is not None:
        gender, bm = _gender(config, motion), motion_body_model(motion)
        if (bm.name, gender) not in models:
            models[(bm.name, gender)] = load_smpl(config.smpl_dir, gender, body_model=bm)  # checks the file
        model = models[(bm.name, gender)]
    pts, joint_set, key = _skeleton(ds, seq, config, motion, model)
    if pts is None and (model is None or not config.mesh):
        return None
    if (pts is not None and len(pts) == 0) or (motion is not None and len(motion["smpl_poses"]) == 0):
        raise AistppError(f"--start {config.start} leaves no frame of {seq} to show", ds.layout.file("keypoints3d", seq))
    track: dict = {"sequence": seq, "source": source}  # no local paths in a page meant to be shared
    frames = []
    if pts is not None:
        bones, sides, _ = SKELETONS.get(joint_set, (np.zeros((0, 2), int), np.zeros(pts.shape[1], int), None))
        bones, sides = np.asarray(bones, int).reshape(-1, 2), np.asarray(sides, int)
        track["skeleton"] = {"joint_set": joint_set, "source": key, "bones": bones.tolist(), "sides": sides.tolist(),
                             "bone_sides": bone_sides(bones, sides).tolist() if len(bones) else [],
                             "points": quantise(pts)}
        track["_points"] = pts
        frames.append(len(pts))
    if model is not None and config.mesh:
        mesh = pack_mesh(model, motion)
        track["mesh"] = mesh
        track["gender"] = gender
        models.setdefault("_faces", faces_of(model))
        frames.append(mesh["frames"])
    track["frames"] = max(frames)
    return track


def _joint_values(ds: AISTDataset, track: dict, rig: CameraRig | None, config: ViewConfig,
                  offsets: np.ndarray | None = None) -> None:
    """Reprojection error or detection confidence per frame and joint, as the joints' colour.
    The detections are first put on the setting's common clock (the 3D frames' clock) with the
    sequence's time offsets ``offsets`` (V,) frames, one per camera of ``rig`` (``core.frame_offsets``)."""
    if config.joint_colour == "none" or "_points" not in track:
        return
    path = ds.layout.file("keypoints2d", track["sequence"])
    if not path.is_file():
        if config.joint_colour != "auto":
            raise AistppError(f"--joint-colour {config.joint_colour} needs keypoints2d", path)
        return
    kp = ds.load_keypoints2d(track["sequence"])["keypoints2d"]
    if offsets is not None and len(offsets) == len(kp) and offsets.any():
        kp = shift_views(kp, offsets)  # view v's frame n + o shows the instant of 3D frame n
    kp = kp[:, config.start:config.end]
    pts = track["_points"]
    if kp.shape[2] != pts.shape[1]:
        return  # another joint set than the 3D joints: no per-joint comparison
    kind = config.joint_colour
    if kind == "auto":
        kind = "reprojection" if rig is not None and len(rig) == len(kp) else "confidence"
    if kind == "reprojection":
        if rig is None or len(rig) != len(kp):
            raise AistppError("--joint-colour reprojection needs the setting's cameras, one per view of keypoints2d", path)
        values = reprojection_error(pts, kp, rig, config.min_confidence)
        track["joint_values"] = {"kind": "reprojection error", "unit": "px", "good": "low", **quantise_unit(values, config.max_error_px)}
    else:
        values = np.zeros(pts.shape[:2])
        conf = detection_confidence(kp)
        values[: len(conf)] = conf[: len(values)]
        track["joint_values"] = {"kind": "detection confidence", "unit": "", "good": "high", **quantise_unit(values, 1.0)}


def _cameras(ds: AISTDataset, seq: str) -> tuple[str | None, CameraRig | None, np.ndarray | None]:
    """(setting, its cameras, the sequence's time offsets (V,) frames) of ``seq``; None where absent."""
    setting = ds.mapping.get(seq) if (ds.layout.folder("cameras", must_exist=False) / "mapping.txt").is_file() else None
    if setting is None:
        return None, None, None
    path = ds.layout.folder("cameras") / f"{setting}.json"
    if not path.is_file():
        return setting, None, None
    rig = ds.load_cameras(setting)
    return setting, rig, ds.load_frame_offsets(seq, rig.names)


def _rig_dict(rig: CameraRig) -> list[dict]:
    return [{"name": n, "size": rig.sizes[i].tolist(), "K": rig.K[i].tolist(), "R": rig.R[i].tolist(),
             "t": rig.tvec[i].tolist()} for i, n in enumerate(rig.names)]


def mp3_bytes(path: Path, rate: int = 44100, bitrate: int = 128_000) -> bytes:
    """The audio of ``path`` as MP3 (stereo, ``rate`` Hz): about 1 MB a minute where WAV takes 10.

    FFmpeg's MP3 muxer records the encoder's delay and padding (LAME/Xing header), which
    browsers remove on decoding, so audio time 0 stays the song's first sample.
    """
    import io

    import av

    buf = io.BytesIO()
    with av.open(str(path)) as src, av.open(buf, mode="w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate)
        stream.layout = "stereo"
        stream.bit_rate = bitrate
        resampler = av.AudioResampler(format="s16p", layout="stereo", rate=rate)
        for frame in src.decode(src.streams.audio[0]):
            for res in resampler.resample(frame):
                for packet in stream.encode(res):
                    out.mux(packet)
        for res in resampler.resample(None):
            for packet in stream.encode(res):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def _music(config: ViewConfig, sequences: list[str]) -> dict | None:
    if config.music_dir is None:
        return None
    from aistpp.core.video import check_audio

    path = find_music(config.music_dir, parse_name(sequences[0]).music)
    check_audio(path)
    if path.suffix.lower() in (".wav", ".flac"):  # uncompressed or lossless: MP3 for a small page
        try:
            data, mime = mp3_bytes(path), "audio/mpeg"
        except Exception as exc:  # av.error.FFmpegError and friends: a file we cannot decode
            raise AistppError(f"cannot convert this music file to MP3 ({exc})", path) from None
    else:
        data, mime = path.read_bytes(), AUDIO_MIME.get(path.suffix.lower(), "audio/mpeg")
    return {"file": path.name, "mime": mime, "b64": base64.b64encode(data).decode(),
            "offset_s": config.start / ANNOTATION_FPS}


def build_scene(config: ViewConfig) -> dict:
    """Everything the page shows, for the sequences of ``config`` (see the module docstring)."""
    sequences = select_sequences(config)
    main = AISTDataset(config.anno_dir)
    other = AISTDataset(config.compare_dir) if config.compare_dir is not None else None
    models: dict = {}
    tracks, groups, settings, pairs = [], [], [], []
    spacing = 0.0
    for seq in sequences:
        group = []
        for ds, source in ((main, "anno"), (other, "compare")):
            if ds is None:
                continue
            setting, rig, offsets = _cameras(ds, seq)
            if rig is None and source == "compare":
                setting, rig, offsets = _cameras(main, seq)
            t = _track(ds, seq, config, source, models)
            if t is None:
                continue
            _joint_values(ds, t, rig, config, offsets)
            t["setting"] = setting
            if rig is not None and source == "anno":
                settings.append({"group": len(groups), "setting": setting, "cameras": _rig_dict(rig)})
            group.append(len(tracks))
            tracks.append(t)
        if not group:
            raise AistppError(f"nothing to show for {seq}: no keypoints3d file, and no motion with --smpl-dir",
                              main.layout.file("keypoints3d", seq))
        if len(group) == 2 and "_points" in tracks[group[0]] and "_points" in tracks[group[1]]:
            a, b = tracks[group[0]]["_points"], tracks[group[1]]["_points"]
            if a.shape[1:] == b.shape[1:]:
                err = joint_error(a, b)
                pairs.append({"a": group[0], "b": group[1], "error_cm": pack(err.astype(np.float32)),
                              "mean_cm": float(np.nanmean(err)) if np.isfinite(err).any() else None,
                              "aligned_mean_cm": aligned_mean_error(a, b)})
        for i in group:
            p = tracks[i].get("_points")
            if p is not None and np.isfinite(p).any():
                spacing = max(spacing, float(np.nanmax(p[..., 0]) - np.nanmin(p[..., 0])))
        groups.append(group)
    spacing = (spacing + 150.0) if config.layout == "side" else 0.0
    for g, group in enumerate(groups):
        for i in group:
            tracks[i]["group"] = g
            tracks[i]["offset"] = [g * spacing, 0.0, 0.0]
    for s in settings:
        s["offset"] = [s["group"] * spacing, 0.0, 0.0]
    floors = [floor_height(t.get("_points"), t.get("mesh", {}).get("lowest_cm")) for t in tracks]
    floors = [f for f in floors if f is not None]
    for t in tracks:
        t.pop("_points", None)
    scene = {"fps": ANNOTATION_FPS, "frames": max(t["frames"] for t in tracks), "start": config.start, "tracks": tracks,
             "settings": settings, "pairs": pairs, "layout": config.layout,
             "floor_y": min(floors) if floors else 0.0}
    if "_faces" in models:
        scene["faces"] = pack(models["_faces"])
    music = _music(config, sequences)
    if music is not None:
        scene["music"] = music
    return scene
