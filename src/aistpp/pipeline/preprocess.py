"""Preprocess: the detections of every view -> one ``keypoints2d/<seq>.pkl`` per sequence.

Where the detections are (``aistpp.core.detection_layout``: flat AIST names, ``<sequence>/<view>/``,
``<view>/`` for one sequence, or a TOML listing), how each file is read and which joint set it
holds (``aistpp.core.detections``, ``aistpp.core.joint_sets``) and which person is the dancer
(``aistpp.core.people``) are decided elsewhere; this module puts the views of a sequence together:
``assemble_views`` (frames on one time line, one NaN slot per missing frame or view),
``preprocess_sequence`` (the job) and ``run_preprocess``.

Output keys: ``keypoints2d`` (V, N, 17, 3) float32 px + confidence, NaN where missing;
``det_scores`` (V, N) float32, 0 where no person; ``timestamps`` (N,) int64; ``view_names``
list[str] (V,) as the detections (or the setting's cameras) name them; ``image_sizes`` int (V, 2)
[width, height] px (written when every view's is known); ``joint_set`` the source set's name; and, when that set
has points beyond COCO-17, ``keypoints2d_full`` (V, N, J, 3) float32 in its own order.
Frame-numbered formats (all but ``aist``) fill gaps: frames 0..last of every view, NaN where a
view has no file.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import numpy as np
from pydantic import Field, field_validator

from aistpp.core import formats
from aistpp.core.detection_layout import RigLayout, find_layout, find_video
from aistpp.core.detections import Format, VideoDetections, read_video, to_coco17
from aistpp.core.joint_sets import REGISTRY, joint_set as named_set
from aistpp.core.names import AIST_VIEWS, check_name, unique_names
from aistpp.core.people import Policy, agree_across_views, best_scored, choose, pick, switches
from aistpp.core.runner import RunOptions, RunReport, run_jobs
from aistpp.errors import AistppError

log = logging.getLogger(__name__)
MAX_LISTED_CORRUPT = 20
MAX_GAP_FACTOR = 4  # frame numbers beyond 4x the frames seen (+10,000) are refused, not filled


def assemble_views(timestamps: list[np.ndarray | None], keypoints: list[np.ndarray | None],
                   scores: list[np.ndarray | None], num_joints: int,
                   fill: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-view (F_v,) timestamps, (F_v, J, 3) keypoints and (F_v,) scores (None = missing view)
    -> (V, N, J, 3) float32 keypoints (NaN where a view lacks a frame), (V, N) scores (0 there)
    and the (N,) union of timestamps (with ``fill``: every frame number 0..last)."""
    present = [t for t in timestamps if t is not None and len(t)]
    ts = np.unique(np.concatenate(present)) if present else np.zeros(0, np.int64)
    if fill and len(ts):
        ts = np.arange(max(0, int(ts[-1])) + 1, dtype=np.int64) if ts[0] >= 0 else ts
    V, N = len(timestamps), len(ts)
    kp = np.full((V, N, num_joints, 3), np.nan, np.float32)
    sc = np.zeros((V, N), np.float32)
    for v, (t, k, s) in enumerate(zip(timestamps, keypoints, scores)):
        if t is None or not len(t):
            continue
        at = np.searchsorted(ts, t)
        kp[v, at] = k
        sc[v, at] = s
    return kp, sc, ts.astype(np.int64)


# ---- configuration and the per-sequence job ---------------------------------------------------
class PreprocessConfig(RunOptions):
    """Options of ``aistpp preprocess`` (plus the shared runner options)."""

    keypoints_dir: Path = Field(description="Detections: a folder of AIST-named videos (<gXX_sXX_cNN_...>/ or "
                                ".json), of <sequence>/<view>/ (or <sequence>/<view>.json|.npy|.npz), of <view>/ for one "
                                "sequence, or a TOML file listing sequences -> views -> files.")
    save_dir: Path
    anno_dir: Path | None = None
    video_dir: Path | None = Field(None, description="Folder of the videos: their sizes become image_sizes.")
    sequence_names: list[str] | None = None
    sequence_name: str | None = Field(None, description="Name of the one sequence of a <view>/ layout.",
                                      json_schema_extra={"unset": "the folder's name"})
    setting: str | None = Field(None, description="Camera setting (cameras/<setting>.json under --anno-dir) of "
                                "sequences mapping.txt does not list: its camera names order the views.")
    format: Format = Field("auto", description="auto (from the files' content), openpose (people[].pose_keypoints_2d "
                           "per frame), aist (keypoints + detection_scores per frame), mmpose (MMPose/RTMPose "
                           "instances), coco (results list), alphapose (alphapose-results.json) or array (.npy/.npz "
                           "of (N, J, 3)).")
    joint_set: str | None = Field(None, description="The detector's joint set: coco17, coco18, body25, body25b, "
                                  "halpe26, halpe136, wholebody133, blazepose33.", json_schema_extra={
                                      "unset": "settled from the data (by count; BODY_25 vs BODY_25B by geometry), "
                                      "or an error asking for it"})
    person: Policy = Field("track", description="Which person is the dancer: track (stable over time), best "
                           "(highest score per frame), largest, central, or index (slot --person-index as the "
                           "detector lists people).")
    person_index: int = Field(0, ge=0, description="Slot for --person index.")
    tracking: bool = Field(True, description="--no-tracking is --person best.")
    image_size: dict[str, tuple[int, int]] | None = Field(
        None, description="Image size of the detections, WIDTHxHEIGHT for every view or VIEW=WxH,VIEW=WxH.",
        json_schema_extra={"metavar": "<WxH|VIEW=WxH,...>", "unset": "from the detector file, else the videos of "
                           "--video-dir"})

    @field_validator("joint_set")
    @classmethod
    def _known_set(cls, v):
        return None if v is None else named_set(v).name

    @field_validator("image_size", mode="before")
    @classmethod
    def _sizes(cls, v):
        """``"1080x1920"`` (every view) or ``"cam01=1080x1920,cam02=1088x1920"`` -> {view: (w, h)}."""
        if v is None or isinstance(v, dict):
            return v
        out = {}
        for item in ([v] if isinstance(v, str) else v):
            for part in str(item).split(","):
                view, _, wh = part.strip().rpartition("=")
                try:
                    w, h = (int(x) for x in wh.lower().split("x"))
                except ValueError:
                    raise ValueError(f"image size {part.strip()!r}: expected WxH or VIEW=WxH") from None
                if w <= 0 or h <= 0:
                    raise ValueError(f"image size {part.strip()!r} must be positive")
                out[view or "*"] = (w, h)
        return out


def layout(config: PreprocessConfig) -> RigLayout:
    return find_layout(config.keypoints_dir, config.sequence_name)


def sequence_views(seq: str, found: list[str], anno_dir: Path | None, setting: str | None = None,
                   scheme: str = "aist") -> tuple[list[str], str | None]:
    """(view order, camera setting) of ``seq``: its setting's cameras (``anno_dir`` with the
    sequence in mapping.txt, or ``setting``), else c01..c09 for a flat AIST layout of AIST
    views, else the found views sorted."""
    if anno_dir is not None:
        from aistpp.core.dataset import AISTDataset

        ds = AISTDataset(anno_dir)
        cams = ds.layout.folder("cameras", must_exist=False)
        mapped = (cams / "mapping.txt").is_file() and seq in ds.mapping
        name = ds.mapping[seq] if mapped else setting
        if name is not None:
            rig = setting_cameras(anno_dir, name)
            if not set(found) & set(rig.names):
                raise AistppError(f"{seq}: the detections' views {sorted(found)} are none of the cameras of setting "
                                  f"{name!r} {list(rig.names)}: name the view folders after the cameras",
                                  cams / f"{name}.json")
            return list(rig.names), name
    if scheme == "aist" and all(v in AIST_VIEWS for v in found):
        return list(AIST_VIEWS), setting
    return sorted(found), setting


def summarise_how(hows: list[str]) -> str:
    """The views' ways of naming the joint set in one phrase (geometry votes summed over views)."""
    votes = [re.fullmatch(r"geometry: point 1 = (\w+) in (\d+)/(\d+) people", h) for h in hows]
    if hows and all(votes) and len({m.group(1) for m in votes}) == 1:
        n, total = sum(int(m.group(2)) for m in votes), sum(int(m.group(3)) for m in votes)
        return f"geometry: point 1 = {votes[0].group(1)} in {n}/{total} people, {len(hows)} views"
    return "; ".join(sorted(set(hows)))


def cameras_of(views: list[str], setting: str | None, config: PreprocessConfig):
    """The cameras of ``views`` (a ``CameraRig``) when the setting is known and names them all, else None."""
    if config.anno_dir is None or setting is None:
        return None
    rig = setting_cameras(config.anno_dir, setting)
    return rig.subset(views) if set(views) <= set(rig.names) else None


def setting_file(anno_dir: Path, setting: str) -> Path:
    """``<anno_dir>/cameras/<setting>.json`` (mapping.txt not needed)."""
    from aistpp.core.dataset import AISTDataset

    return AISTDataset(anno_dir).layout.folder("cameras") / f"{check_name(setting, 'setting name')}.json"


def setting_cameras(anno_dir: Path, setting: str):
    """The cameras of ``setting_file``."""
    return formats.load_cameras(setting_file(anno_dir, setting))


def output_path(name: str, config: PreprocessConfig) -> Path:
    return config.save_dir / f"{check_name(name)}.pkl"


def image_sizes(seq: str, views: list[str], dets: list[VideoDetections | None], rig: RigLayout,
                config: PreprocessConfig) -> tuple[np.ndarray, list[str]]:
    """(V, 2) int [w, h] per view and where each came from: --image-size, the TOML, the detector
    file, the video (--video-dir), else unknown (0, 0: the file then has no image_sizes)."""
    from aistpp.core.video import probe

    sizes = np.zeros((len(views), 2), np.int64)
    source = []
    given = config.image_size or {}
    listed = rig.image_sizes.get(seq, {})
    for v, (view, d) in enumerate(zip(views, dets)):
        wh, src = given.get(view, given.get("*")), "option"
        if wh is None:
            wh, src = listed.get(view), "toml"
        if wh is None and d is not None and d.image_size:
            wh, src = d.image_size, "detector"
        if wh is None and config.video_dir is not None:
            path = find_video(config.video_dir, seq, view)
            if path is not None:
                wh, src = probe(path).size, "video"
        if wh is None:
            wh, src = (0, 0), "unknown"
        sizes[v] = wh
        source.append(src)
    return sizes, source


def preprocess_sequence(name: str, config: PreprocessConfig) -> dict:
    """Read the detections of every view of ``name``, keep one dancer, write the pickle."""
    rig = layout(config)
    found = rig.sequences.get(name, {})
    if not found:
        raise AistppError(f"no detections for sequence {name} (layout {rig.scheme}: sequences "
                          f"{', '.join(sorted(rig.sequences)[:5])}{' ...' if len(rig.sequences) > 5 else ''})",
                          config.keypoints_dir)
    views, setting = sequence_views(name, list(found), config.anno_dir, config.setting or rig.settings.get(name),
                                    rig.scheme)
    per_view = [read_video(found[v], config.format, config.joint_set) if v in found else None for v in views]
    per_view = [d if d is not None and (len(d.timestamps) or d.corrupt) else None for d in per_view]
    if all(d is None for d in per_view):
        raise AistppError(f"no detection files for sequence {name} in its view folders", config.keypoints_dir)
    seen = [d for d in per_view if d is not None and np.isfinite(d.scores).any()]
    sets = {d.joint_set for d in seen}
    if len(sets) > 1:  # views from different detectors: COCO-17 is what they share
        log.info("%s: views hold different joint sets (%s): keypoints2d only, no keypoints2d_full", name,
                 ", ".join(f"{v}: {d.joint_set}" for v, d in zip(views, per_view) if d is not None))
        set_name = "coco17"
    else:
        set_name = sets.pop() if sets else next(d.joint_set for d in per_view if d is not None)
    full_set = REGISTRY[set_name]
    sizes, size_source = image_sizes(name, views, per_view, rig, config)
    policy = "best" if not config.tracking and config.person == "track" else config.person
    choices = [None if d is None else choose(d.keypoints, d.scores, policy, config.person_index, tuple(sizes[v]))
               for v, d in enumerate(per_view)]
    agreement = 0
    rig_cams = cameras_of(views, setting, config)
    if policy == "track" and rig_cams is not None:  # the dancer is the one the other views see too
        from aistpp.core.frame_offsets import instant_timestamps, read_frame_offsets

        coco_all = [None if d is None else to_coco17(d.keypoints, d.joint_set) for d in per_view]
        offsets = read_frame_offsets(setting_file(config.anno_dir, setting), views, name)  # compared at one instant
        choices, agreement = agree_across_views(
            rig_cams, [None if d is None else instant_timestamps(d.timestamps_us, o) for d, o in zip(per_view, offsets)],
            [None if d is None else d.keypoints for d in per_view], [None if d is None else d.scores for d in per_view],
            coco_all, choices)
    ts, kp_full, kp_coco, sc = [], [], [], []
    changes = overrides = 0
    for v, d in enumerate(per_view):
        if d is None:
            ts.append(None), kp_full.append(None), kp_coco.append(None), sc.append(None)
            continue
        choice = choices[v]
        changes += switches(d.keypoints, choice)
        overrides += int(np.count_nonzero(choice != best_scored(d.scores)))  # frames not on the best score
        k, s = pick(d.keypoints, d.scores, choice)
        coco = to_coco17(k, d.joint_set)
        if d.joint_set != set_name:  # nobody found in this view, or mixed sets: NaN / COCO in the full set
            k = coco if set_name == "coco17" else np.full((len(k), len(full_set), 3), np.nan, np.float32)
        ts.append(d.timestamps), kp_full.append(k), kp_coco.append(coco), sc.append(s)
    fill = all(d.frame_numbers for d in per_view if d is not None)
    if fill:  # frames 0..last: refuse frame numbers far beyond the files there are (a stray 999999 name)
        for view, d in zip(views, per_view):
            if d is not None and len(d.timestamps) and d.timestamps[-1] >= MAX_GAP_FACTOR * len(d.timestamps) + 10_000:
                raise AistppError(f"{name}: view {view}'s frame numbers run to {int(d.timestamps[-1])} for "
                                  f"{len(d.timestamps)} frames: a stray file name? (frames would be filled with NaN "
                                  "up to it)", found.get(view, config.keypoints_dir))
    if not fill:  # some view keeps its detector's own timestamps: put every view in microseconds first
        ts = [None if d is None else d.timestamps_us for d in per_view]
    keypoints2d, det_scores, frames = assemble_views(ts, kp_coco, sc, 17, fill)
    timestamps = formats.frame_timestamps(frames) if fill else frames  # microseconds at 60 fps, like the release
    extra: dict = {"view_names": list(views), "joint_set": set_name}
    if (sizes > 0).all():  # image_sizes only when every view's is known (a reader trusts each one)
        extra["image_sizes"] = sizes
    if full_set.beyond_coco:
        extra["keypoints2d_full"], _, _ = assemble_views(ts, kp_full, sc, len(full_set), fill)
    if not np.isfinite(keypoints2d[..., :2]).any():  # never replace an earlier result by nothing
        raise AistppError(f"no readable detection in any view of {name}: nothing was written", config.keypoints_dir)
    formats.save_keypoints2d(output_path(name, config), keypoints2d, det_scores, timestamps, **extra)
    corrupt = [str(p) for d in per_view if d is not None for p in d.corrupt]
    missing = [v for v, d in zip(views, per_view) if d is None]
    for v in missing:
        log.info("%s: view %s has no detections; its slot is NaN", name, v)
    for p in corrupt[:MAX_LISTED_CORRUPT]:
        log.info("%s: unreadable detection file treated as a missing frame", p)
    hows = summarise_how([d.joint_set_how for d in seen])
    sets_seen = sorted({d.joint_set for d in seen})
    return {
        "frames": int(len(timestamps)),
        "views": f"{len(views) - len(missing)}/{len(views)}",
        "view_names": list(views),
        "view_frames": int(sum(len(d.timestamps) for d in per_view if d is not None) + len(corrupt)),
        "format": ",".join(sorted({d.format for d in per_view if d is not None})),
        "layout": rig.scheme,
        "setting": setting or "",
        "joint_set": set_name if len(sets_seen) < 2 else "mixed: " + ",".join(sets_seen),
        "joint_set_how": hows,
        "image_sizes": {v: f"{w}x{h} ({src})" for v, (w, h), src in zip(views, sizes.tolist(), size_source)},
        "missing_views": missing,
        "extra_views": sorted(set(found) - set(views)),  # detections of views the cameras lack: unused
        "corrupt": len(corrupt),
        "corrupt_files": corrupt[:MAX_LISTED_CORRUPT],
        "person": policy,
        "switches": changes,
        "overrides": overrides,
        "agreement_changes": agreement,  # frames re-decided by agreement with the other views (cameras known)
    }


def select_sequences(config: PreprocessConfig) -> list[str]:
    """``sequence_names``, else the ``split``'s, else every sequence with detections; with
    ``anno_dir``, sequences on its ignore list are left out unless ``include_ignored``."""
    if config.sequence_names:
        return unique_names(config.sequence_names)
    found = sorted(layout(config).sequences)
    if config.anno_dir is not None:
        from aistpp.core.dataset import AISTDataset

        return AISTDataset(config.anno_dir).select(None, config.split, config.include_ignored, found or None)
    if config.split:
        raise AistppError("--split needs --anno-dir (the splits/ folder is in the annotation folder)")
    return found


def run_preprocess(config: PreprocessConfig) -> RunReport:
    """Preprocess every selected sequence through the shared runner (resumable, atomic)."""
    names = select_sequences(config)
    job = functools.partial(preprocess_sequence, config=config)
    return run_jobs(job, names, config, outputs=lambda n: [output_path(n, config)], title="preprocess")
