"""``detect``: every view's video of a sequence -> ``keypoints2d/<seq>.pkl`` (2D keypoints).

(1) Array functions: ``derived_confidence`` (a confidence that separates good points from bad
ones better than BlazePose's visibility), ``feet_of`` (toes and heels of a joint set).
(2) ``detect_video`` (one video, streamed: frame i is the video frame shown at i/60 s) and
``detect_sequence`` (all views of one sequence; writes the pickle and, with ``json_dir``,
per-frame OpenPose BODY_25 JSON).
(3) ``run_detect``: every selected sequence through the shared runner.

Output keys: ``keypoints2d`` (V, N, 17, 3) COCO-17 px + confidence (NaN: not found),
``det_scores`` (V, N) (mean COCO-17 confidence, 0 when no person), ``timestamps`` (N,) us at
60 fps, and the shared extras ``view_names``, ``image_sizes`` (V, 2) [w, h], ``joint_set`` (the
detector's), ``keypoints2d_full`` (V, N, J, 3) in that joint set when it has more than COCO-17.
One person per frame, the dancer, chosen as ``preprocess`` does (``core.people``): per view the
track with high scores and small jumps (``select_dancer``), then, when the sequence's cameras are
known (``anno_dir``, by default the folder holding ``save_dir``, with ``cameras/mapping.txt``
listing the sequence), re-decided by agreement with the other views (``agree_across_views``).
The bundled backends find one person per frame (BlazePose tracks one; the ONNX backend crops one
box); the chooser matters for a backend that returns several.
"""

from __future__ import annotations

import functools
import time
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from aistpp.core import formats
from aistpp.core.names import check_name, is_sequence_name, split_video_name, unique_names, video_name
from aistpp.core.runner import RunOptions, RunReport, report_stage, run_jobs
from aistpp.core.video import ANNOTATION_FPS, annotation_frames, probe, read_frames
from aistpp.errors import AistppError

VIDEO_SUFFIX = ".mp4"
FOOT_NAMES = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
_FOOT_ALIASES = {"left_big_toe": "left_foot_index", "right_big_toe": "right_foot_index"}  # BlazePose's names
MAX_PEOPLE = 8  # people kept per frame (the best-scored), for choosing the dancer
JITTER_SCALE = 0.03  # frame-to-frame jitter (fraction of the body's box diagonal) that costs a point 1 - 1/e of its score


class DetectConfig(RunOptions):
    """Options of ``aistpp detect`` (plus the shared runner options)."""

    video_dir: Path
    save_dir: Path
    anno_dir: Path | None = Field(None, description="The annotation folder whose cameras/ (mapping.txt and the "
                                  "setting's JSON) let the dancer be chosen across views; when not given, the "
                                  "folder holding --save-dir, if it has them.")
    json_dir: Path | None = Field(None, description="Also write per-frame OpenPose BODY_25 JSON here "
                                  "(<video>/<video>_<frame>_keypoints.json).")
    sequence_names: list[str] | None = None
    model: str = Field("blazepose", description="blazepose (MediaPipe BlazePose full, from the optional 'detect' "
                       "extra of aistpp) or a top-down .onnx model file (RTMPose-style SimCC or heatmap outputs; "
                       "17 or 26 keypoints).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where an ONNX model runs (cuda fails clearly "
                                                   "when absent; BlazePose runs on the CPU).")
    min_detection_confidence: float = Field(0.5, ge=0.0, le=1.0, description="BlazePose's threshold for finding "
                                            "the person.")


def timestamps(n: int) -> np.ndarray:
    """(n,) int64 microseconds of annotation frames at 60 fps: round(i * 1e6 / 60)."""
    return np.round(np.arange(n) * 1e6 / ANNOTATION_FPS).astype(np.int64)


def derived_confidence(keypoints: np.ndarray, jitter_scale: float = JITTER_SCALE) -> np.ndarray:
    """A confidence (N, J) in [0, 1] for one view's track ``keypoints`` (N, J, 3) px + score.

    A point the detector is unsure of jumps from frame to frame: the score is multiplied by
    ``exp(-(r / (jitter_scale * size))^2)``, r = the point's distance from the mean of its two
    neighbours in time (px; from its one neighbour with a single one: half the step), size = the
    person's box diagonal in that frame (px). A point with no neighbour keeps half its score.
    Missing points (NaN) get 0.
    """
    kp = np.asarray(keypoints, np.float64)
    xy, score = kp[..., :2], np.nan_to_num(kp[..., 2], nan=0.0)
    N = len(kp)
    ok = np.isfinite(xy).all(axis=-1)
    with warnings.catch_warnings():  # frames with no point: NaN size, no warning (numpy warns, not errstate)
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(np.where(ok[..., None], xy, np.nan), axis=1), np.nanmax(np.where(ok[..., None], xy, np.nan), axis=1)
    size = np.linalg.norm(hi - lo, axis=-1)  # (N,)
    prev = np.full_like(xy, np.nan)
    nxt = np.full_like(xy, np.nan)
    if N > 1:
        prev[1:], nxt[:-1] = xy[:-1], xy[1:]
    has_p, has_n = np.isfinite(prev).all(-1), np.isfinite(nxt).all(-1)
    both = has_p & has_n
    r = np.full(ok.shape, np.nan)
    r[both] = np.linalg.norm(xy[both] - (prev[both] + nxt[both]) / 2, axis=-1)
    one_p, one_n = has_p & ~has_n, has_n & ~has_p
    r[one_p] = np.linalg.norm(xy[one_p] - prev[one_p], axis=-1) / 2
    r[one_n] = np.linalg.norm(xy[one_n] - nxt[one_n], axis=-1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.exp(-(r / (jitter_scale * size[:, None])) ** 2)
    factor = np.where(np.isfinite(r), factor, 0.5)
    return np.where(ok, np.clip(score, 0.0, 1.0) * factor, 0.0).astype(np.float32)


def feet_of(keypoints: np.ndarray, joint_names: tuple[str, ...]) -> np.ndarray:
    """Toes and heels (..., 6, 3) (``FOOT_NAMES`` order; NaN where the joint set lacks one)."""
    where = {n: i for i, n in enumerate(joint_names)}
    out = np.full(keypoints.shape[:-2] + (6, 3), np.nan, np.float32)
    for k, name in enumerate(FOOT_NAMES):
        j = where.get(name, where.get(_FOOT_ALIASES.get(name, ""), -1))
        if j >= 0:
            out[..., k, :] = keypoints[..., j, :]
    return out


# ---- one video, one sequence --------------------------------------------------------------------
def detect_video(path: Path, detector, frames: int | None = None, on_frame=None,
                 max_people: int = MAX_PEOPLE) -> tuple[np.ndarray, np.ndarray]:
    """Every person the detector finds in each annotation frame of ``path``: keypoints
    (N, P, J, 3) px + score and person scores (N, P), NaN-padded (NaN score: no person in that
    slot), P = the most people in a frame (at least 1, at most ``max_people``: the best-scored
    are kept). Frames are decoded one at a time (flat memory). ``frames``: how many to read
    (default: all the video has at 60 fps)."""
    J = len(detector.joint_names)
    n = frames if frames is not None else annotation_frames(probe(path))
    out = np.full((n, 1, J, 3), np.nan, np.float32)
    scores = np.full((n, 1), np.nan, np.float32)
    detector.reset()
    for i, frame in read_frames(path, 0, n):
        people = detector.detect(frame)
        if len(people):
            order = np.argsort(-np.nan_to_num(people.scores, nan=-np.inf), kind="stable")[:max_people]
            if len(order) > out.shape[1]:  # more people than so far: widen (rare, so amortised)
                grow = len(order) - out.shape[1]
                out = np.concatenate([out, np.full((n, grow, J, 3), np.nan, np.float32)], axis=1)
                scores = np.concatenate([scores, np.full((n, grow), np.nan, np.float32)], axis=1)
            out[i, :len(order)] = people.keypoints[order]
            scores[i, :len(order)] = people.scores[order]
        if on_frame is not None:
            on_frame(i)
    return out, scores


def sequence_cameras(name: str, views: list[str], config: DetectConfig):
    """The cameras of ``views`` of sequence ``name`` and their time offsets for it, ``(CameraRig,
    (V,) frames)``, when the annotation folder (``anno_dir``, default: ``save_dir``'s parent) maps
    the sequence to a setting naming them all; else None (the dancer is then chosen per view only)."""
    from aistpp.core.frame_offsets import read_frame_offsets

    from aistpp.core.dataset import AISTDataset

    anno = config.anno_dir if config.anno_dir is not None else config.save_dir.parent
    cams = anno / "cameras"
    if config.anno_dir is None and not (cams / "mapping.txt").is_file():
        return None
    ds = AISTDataset(anno)
    if name not in ds.mapping:
        if config.anno_dir is not None:
            raise AistppError(f"sequence {name} is not listed in mapping.txt", cams / "mapping.txt")
        return None
    path = cams / f"{check_name(ds.mapping[name], 'setting name')}.json"
    rig = formats.load_cameras(path)
    if not set(views) <= set(rig.names):
        return None
    return rig.subset(views), read_frame_offsets(path, views, name)


def choose_dancer(keypoints: list[np.ndarray], scores: list[np.ndarray], joint_set: str,
                  rig=None, offsets=None) -> tuple[list[np.ndarray], dict]:
    """One person per frame in each view: ``keypoints`` (N, P_v, J, 3), ``scores`` (N, P_v) per view
    (each view's video frames at 60 fps) -> the chosen keypoints (N, J, 3) per view and counts
    (``switches``: likely changes of person; ``agreement``: choices changed by the other views).
    With cameras ``rig``, views are compared at the same instant: ``offsets`` (V,) frames, the
    views' time offsets (``core.frame_offsets``; default 0)."""
    from aistpp.core.detectors import to_coco17
    from aistpp.core.frame_offsets import instant_timestamps
    from aistpp.core.people import agree_across_views, pick, select_dancer, switches

    choices = [select_dancer(k, s) for k, s in zip(keypoints, scores)]
    agreement = 0
    several = any((np.isfinite(s).sum(1) > 1).any() for s in scores)
    if rig is not None and several:
        offsets = np.zeros(len(scores)) if offsets is None else np.asarray(offsets, np.float64)
        ts = [instant_timestamps(timestamps(len(s)), o) for s, o in zip(scores, offsets)]
        coco = [to_coco17(k, joint_set) for k in keypoints]
        choices, agreement = agree_across_views(rig, ts, keypoints, scores, coco, choices)
    chosen = [pick(k, s, c)[0] for k, s, c in zip(keypoints, scores, choices)]
    return chosen, {"switches": sum(switches(k, c) for k, c in zip(keypoints, choices)), "agreement": agreement}


def sequence_videos(video_dir: Path) -> dict[str, dict[str, Path]]:
    """{sequence: {view: video path}} of the ``<video_name>.mp4`` files in ``video_dir``, views sorted."""
    if not video_dir.is_dir():
        raise AistppError("video folder not found", video_dir)
    found: dict[str, dict[str, Path]] = {}
    for p in sorted(video_dir.glob(f"*{VIDEO_SUFFIX}")):
        try:
            seq, view = split_video_name(p.stem)
        except AistppError:
            continue  # not an AIST video name: not ours to read
        found.setdefault(seq, {})[view] = p
    return {s: dict(sorted(v.items())) for s, v in sorted(found.items())}


def output_path(name: str, config: DetectConfig) -> Path:
    return config.save_dir / f"{name}.pkl"


def outputs(name: str, config: DetectConfig, views: list[str]) -> list[Path]:
    """What a finished sequence has written: the pickle, and with ``json_dir`` each view's first JSON
    file (a view's JSON folder appears whole, renamed into place)."""
    out = [output_path(name, config)]
    if config.json_dir is not None:
        out += [config.json_dir / (v := video_name(name, view)) / f"{v}_{0:012d}_keypoints.json" for view in views]
    return out


def detect_sequence(name: str, config: DetectConfig) -> dict:
    """Detect every view of sequence ``name``; write ``<save_dir>/<name>.pkl`` (and the JSON)."""
    from aistpp.core.detectors import load_detector, to_coco17

    views = sequence_videos(config.video_dir).get(name)
    if not views:
        raise AistppError(f"no video of sequence {name} (expected {video_name(name, 'c01')}{VIDEO_SUFFIX} ...)",
                          config.video_dir)
    infos = {v: probe(p) for v, p in views.items()}
    counts = {v: annotation_frames(i) for v, i in infos.items()}
    N = max(counts.values())
    options = {"min_detection_confidence": config.min_detection_confidence} if config.model.startswith("blaze") else {}
    detector = load_detector(config.model, config.device, **options)
    found, found_scores = [], []
    start = time.perf_counter()
    done = 0
    try:
        for view, path in views.items():
            report_stage(name, f"{view}: detecting {counts[view]} frames")
            last = [time.perf_counter()]

            def progress(i: int, view=view) -> None:
                now = time.perf_counter()
                if now - last[0] > 5.0:
                    last[0] = now
                    report_stage(name, f"{view}: frame {i + 1}/{counts[view]}, "
                                       f"{(done + i + 1) / (now - start):.1f} frames/s")

            kp, sc = detect_video(path, detector, counts[view], progress)
            done += counts[view]
            if len(kp) < N:  # a shorter view: its last frames are missing
                kp = np.concatenate([kp, np.full((N - len(kp),) + kp.shape[1:], np.nan, np.float32)])
                sc = np.concatenate([sc, np.full((N - len(sc),) + sc.shape[1:], np.nan, np.float32)])
            found.append(kp)
            found_scores.append(sc)
    finally:
        detector.close()
    seconds = time.perf_counter() - start
    joint_set, names = detector.joint_set, detector.joint_names
    view_names = list(views)
    cams = sequence_cameras(name, view_names, config)
    chosen, chooser = choose_dancer(found, found_scores, joint_set, *(cams or ()))
    for kp in chosen:
        kp[..., 2] = np.where(np.isfinite(kp[..., 0]), derived_confidence(kp), np.nan)
    full = np.stack(chosen).astype(np.float32)  # (V, N, J, 3)
    coco = to_coco17(full, joint_set)
    with warnings.catch_warnings():  # a frame where the dancer was not found scores 0
        warnings.simplefilter("ignore", RuntimeWarning)
        det_scores = np.nan_to_num(np.nanmean(coco[..., 2], axis=-1), nan=0.0).astype(np.float32)
    if config.json_dir is not None:
        from aistpp.pipeline.synth.openpose import body25_from_coco, write_openpose_video

        body25 = body25_from_coco(coco, feet_of(full, names))
        for v, view in enumerate(view_names):
            missing = ~np.isfinite(full[v, :, :, 0]).any(axis=-1)
            write_openpose_video(config.json_dir, video_name(name, view), body25[v], missing, {})
    extra = dict(view_names=view_names, image_sizes=np.array([infos[v].size for v in view_names], np.int64),
                 joint_set=joint_set)
    if len(names) > 17:
        extra["keypoints2d_full"] = full.astype(np.float32)
    formats.save_keypoints2d(output_path(name, config), coco, det_scores, timestamps(N), **extra)
    detected = np.isfinite(full[..., 0]).any(axis=-1)
    return {"frames": N, "views": len(view_names), "detected_pct": float(100 * detected.mean()),
            "frames_per_s": float(done / seconds) if seconds > 0 else 0.0, "joint_set": joint_set,
            "several_people_pct": float(100 * np.mean([(np.isfinite(s).sum(1) > 1).mean() for s in found_scores])),
            **chooser}


def select_sequences(config: DetectConfig) -> list[str]:
    """Named sequences (each must have videos), else every sequence with videos in ``video_dir``."""
    available = sequence_videos(config.video_dir)
    if not config.sequence_names:
        if not available:
            raise AistppError(f"no AIST-named videos (<video_name>{VIDEO_SUFFIX}) found", config.video_dir)
        return list(available)
    # a video name selects its sequence
    names = unique_names(n if is_sequence_name(n) else split_video_name(n)[0] for n in unique_names(config.sequence_names))
    for n in names:
        if n not in available:
            raise AistppError(f"no video of sequence {n} in the video folder", config.video_dir)
    return names


def run_detect(config: DetectConfig) -> RunReport:
    """Detect every selected sequence through the shared runner (resumable, atomic writes)."""
    from aistpp.core.detectors import load_detector

    names = select_sequences(config)
    views = {n: list(v) for n, v in sequence_videos(config.video_dir).items()}
    if not config.dry_run:  # a missing backend or a bad model file: one error, before any work
        load_detector(config.model, config.device).close()
    job = functools.partial(detect_sequence, config=config)
    return run_jobs(job, names, config, outputs=lambda n: outputs(n, config, views[n]), title="detect")
