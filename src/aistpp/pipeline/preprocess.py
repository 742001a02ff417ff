"""Preprocess: per-frame 2D detections of every view -> one ``keypoints2d/<seq>.pkl`` per sequence.

Pure functions: ``select_dancer`` (keep one person per frame, stable over time) and
``assemble_views`` (union of timestamps, one NaN slot per missing frame or view). The job
``preprocess_sequence`` reads a sequence's detections (``aistpp.core.detections``), calls them
and writes ``<save_dir>/<seq>.pkl`` atomically; ``run_preprocess`` maps it over sequences.

Output keys: ``keypoints2d`` (V, N, 17, 3) float32 px + confidence, NaN where missing;
``det_scores`` (V, N) float32, 0 where no person; ``timestamps`` (N,) int64; ``joint_set``
``"coco17"``; with ``joints="native"`` also ``keypoints2d_native`` (V, N, J, 3) and
``joint_set_native`` (e.g. ``"body25"``).
"""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from aistpp.core import formats
from aistpp.core.detections import Format, read_video, to_coco17, video_entries
from aistpp.core.joints import JOINT_SETS
from aistpp.core.names import AIST_VIEWS, check_name, split_video_name
from aistpp.core.runner import RunOptions, RunReport, run_jobs
from aistpp.errors import AistppError

log = logging.getLogger(__name__)
MAX_LISTED_CORRUPT = 20


# ---- tracking -------------------------------------------------------------------------------
def person_centres(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, P, J, 3) px -> centres (F, P, 2) px (mean of found joints) and sizes (F, P) px
    (larger side of the joints' bounding box, at least 1; NaN for an empty slot)."""
    xy = keypoints[..., :2]
    with warnings.catch_warnings():  # all-NaN people: 'mean of empty slice'
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(xy, axis=-2)
        extent = np.nanmax(xy, axis=-2) - np.nanmin(xy, axis=-2)
        size = np.maximum(np.nanmax(extent, axis=-1), 1.0)
    return centre, size


def _jump(ca: np.ndarray, sa: np.ndarray, cb: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """Cost of going from people a (..., Pa) to people b (..., Pb): centre distance in person sizes."""
    d = np.linalg.norm(ca[..., :, None, :] - cb[..., None, :, :], axis=-1)
    d = d / np.maximum(sa[..., :, None], sb[..., None, :])
    return np.nan_to_num(d, nan=1.0)


def select_dancer(keypoints: np.ndarray, scores: np.ndarray, score_weight: float = 1.0) -> np.ndarray:
    """Choose one person per frame, favouring high scores and small jumps between frames.

    ``keypoints`` (F, P, J, 3) px, ``scores`` (F, P) (NaN = no person). Returns (F,) int, the
    chosen slot or -1 for a frame without people.

    The choice minimises, over the whole video, sum(-score_weight * score) + sum(jump), jump =
    centre distance / person size between the people chosen in consecutive frames with people
    (Viterbi). A frame with one person fixes the choice, so the problem splits at such frames
    and only runs of frames with several people are solved: a passer-by who outscores the
    dancer for a frame or two costs two jumps and is not taken. (A frame where only a
    passer-by is found keeps that person: one candidate is never refused.)
    """
    F = len(scores)
    present = np.isfinite(scores)
    count = present.sum(axis=1)
    choice = np.full(F, -1, np.int64)
    rows = np.flatnonzero(count > 0)  # frames with people, in order
    if len(rows) == 0:
        return choice
    best = np.argmax(np.where(present, scores, -np.inf), axis=1)
    choice[rows] = best[rows]
    multi = count[rows] > 1
    if not multi.any():
        return choice
    M, P = len(rows), scores.shape[1]
    unary = np.where(present, -score_weight * np.nan_to_num(scores), np.inf)[rows]  # (M, P)
    # Jump costs between consecutive frames with people where one of them has several: (M-1, P, P).
    near = multi.copy()
    near[1:] |= multi[:-1]
    near[:-1] |= multi[1:]
    centre, size = np.zeros((M, P, 2)), np.ones((M, P))
    centre[near], size[near] = person_centres(keypoints[rows[near]])
    pairs = np.flatnonzero(multi[:-1] | multi[1:])
    trans = np.zeros((max(M - 1, 0), P, P))
    trans[pairs] = _jump(centre[pairs], size[pairs], centre[pairs + 1], size[pairs + 1])
    cost = unary.copy()  # add the anchors: the single person before / after each run
    single = ~multi
    into = np.flatnonzero(multi[1:] & single[:-1]) + 1  # run starts with an anchor before
    cost[into] += trans[into - 1, choice[rows[into - 1]], :]
    out = np.flatnonzero(multi[:-1] & single[1:])  # run ends with an anchor after
    cost[out] += trans[out, :, choice[rows[out + 1]]]
    edges = np.diff(np.concatenate([[0], multi.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    short = stops - starts == 1  # one-frame runs: no chain, decide all at once
    choice[rows[starts[short]]] = np.argmin(cost[starts[short]], axis=1)
    for a, b in zip(starts[~short], stops[~short]):  # Viterbi over each longer run
        back = np.zeros((b - a, cost.shape[1]), np.int64)
        acc = cost[a]
        cols = np.arange(cost.shape[1])
        for i in range(1, b - a):
            total = acc[:, None] + trans[a + i - 1]
            back[i] = np.argmin(total, axis=0)
            acc = total[back[i], cols] + cost[a + i]
        k = int(np.argmin(acc))
        for i in range(b - a - 1, -1, -1):
            choice[rows[a + i]] = k
            k = back[i, k]
    return choice


def pick(keypoints: np.ndarray, scores: np.ndarray, choice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, P, J, 3), (F, P), (F,) -> the chosen (F, J, 3) and scores (F,) (NaN / 0 where -1)."""
    idx = np.maximum(choice, 0)
    kp = np.take_along_axis(keypoints, idx[:, None, None, None], axis=1)[:, 0].copy()
    sc = np.take_along_axis(scores, idx[:, None], axis=1)[:, 0].copy()
    kp[choice < 0] = np.nan
    sc[choice < 0] = 0.0
    return kp, np.nan_to_num(sc, nan=0.0)


def assemble_views(timestamps: list[np.ndarray | None], keypoints: list[np.ndarray | None],
                   scores: list[np.ndarray | None], num_joints: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-view (F_v,) timestamps, (F_v, J, 3) keypoints and (F_v,) scores (None = missing view)
    -> (V, N, J, 3) float32 keypoints (NaN where a view lacks a frame), (V, N) scores (0 there)
    and the (N,) union of timestamps."""
    present = [t for t in timestamps if t is not None and len(t)]
    ts = np.unique(np.concatenate(present)) if present else np.zeros(0, np.int64)
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

    keypoints_dir: Path
    save_dir: Path
    anno_dir: Path | None = None
    sequence_names: list[str] | None = None
    format: Format = "auto"
    joints: Literal["coco17", "native"] = "coco17"
    tracking: bool = True


def sequence_views(seq: str, found: list[str], anno_dir: Path | None) -> list[str]:
    """The view order of ``seq``: its setting's cameras (with ``anno_dir``), else c01..c09 when
    the found views are AIST views, else the found views sorted."""
    if anno_dir is not None:
        from aistpp.core.dataset import AISTDataset

        ds = AISTDataset(anno_dir)
        if seq in ds.mapping:
            return list(ds.load_cameras(seq).names)
    if all(v in AIST_VIEWS for v in found):
        return list(AIST_VIEWS)
    return sorted(found)


def group_videos(keypoints_dir: Path) -> dict[str, dict[str, Path]]:
    """{sequence: {view: entry}} for the videos under ``keypoints_dir`` (unparseable names skipped)."""
    out: dict[str, dict[str, Path]] = {}
    for name, entry in video_entries(keypoints_dir).items():
        try:
            seq, view = split_video_name(name)
        except AistppError:
            continue
        out.setdefault(seq, {})[view] = entry
    return out


def output_path(name: str, config: PreprocessConfig) -> Path:
    return config.save_dir / f"{check_name(name)}.pkl"


def preprocess_sequence(name: str, config: PreprocessConfig) -> dict:
    """Read the detections of every view of ``name``, keep one dancer, write the pickle."""
    found = group_videos(config.keypoints_dir).get(name, {})
    if not found:
        raise AistppError(f"no detections for sequence {name} (expected <video>/ folders or <video>.json files)",
                          config.keypoints_dir)
    views = sequence_views(name, list(found), config.anno_dir)
    per_view = [read_video(found[v], config.format) if v in found else None for v in views]
    per_view = [d if d is not None and (len(d.timestamps) or d.corrupt) else None for d in per_view]
    if all(d is None for d in per_view):
        raise AistppError(f"no detection files for sequence {name} in its view folders", config.keypoints_dir)
    sets = {d.joint_set for d in per_view if d is not None and np.isfinite(d.scores).any()}
    if config.joints == "native" and len(sets) > 1:
        raise AistppError(f"views of {name} hold different joint sets {sorted(sets)}; use --joints coco17",
                          config.keypoints_dir)
    native_set = sets.pop() if sets else next(d.joint_set for d in per_view if d is not None)
    num_native = len(JOINT_SETS[native_set])
    ts, kp_native, kp_coco, sc = [], [], [], []
    overrides = 0
    for d in per_view:
        if d is None:
            ts.append(None), kp_native.append(None), kp_coco.append(None), sc.append(None)
            continue
        present = np.isfinite(d.scores)
        best = np.where(present.any(1), np.argmax(np.where(present, d.scores, -np.inf), 1), -1)
        choice = select_dancer(d.keypoints, d.scores) if config.tracking else best
        overrides += int(np.count_nonzero(choice != best))  # frames where tracking beat the score
        k, s = pick(d.keypoints, d.scores, choice)
        coco = to_coco17(k, d.joint_set)
        if k.shape[1] != num_native:  # a view where nobody was found: NaN in the native set
            k = np.full((len(k), num_native, 3), np.nan, np.float32)
        ts.append(d.timestamps_us), kp_native.append(k), kp_coco.append(coco), sc.append(s)
    keypoints2d, det_scores, timestamps = assemble_views(ts, kp_coco, sc, 17)
    extra: dict = {"joint_set": "coco17"}
    if config.joints == "native":
        native, _, _ = assemble_views(ts, kp_native, sc, num_native)
        extra.update(keypoints2d_native=native, joint_set_native=native_set)
    if not np.isfinite(keypoints2d[..., :2]).any():  # never replace an earlier result by nothing
        raise AistppError(f"no readable detection in any view of {name}: nothing was written", config.keypoints_dir)
    formats.save_keypoints2d(output_path(name, config), keypoints2d, det_scores, timestamps, **extra)
    corrupt = [str(p) for d in per_view if d is not None for p in d.corrupt]
    missing = [v for v, d in zip(views, per_view) if d is None]
    for v in missing:
        log.info("%s: view %s has no detections; its slot is NaN", name, v)
    for p in corrupt[:MAX_LISTED_CORRUPT]:
        log.info("%s: unreadable detection file treated as a missing frame", p)
    return {
        "frames": int(len(timestamps)),
        "views": f"{len(views) - len(missing)}/{len(views)}",
        "view_frames": int(sum(len(d.timestamps) for d in per_view if d is not None) + len(corrupt)),
        "format": ",".join(sorted({d.format for d in per_view if d is not None})),
        "joint_set": native_set,
        "missing_views": missing,
        "extra_views": sorted(set(found) - set(views)),  # detections of views the cameras lack: unused
        "corrupt": len(corrupt),
        "corrupt_files": corrupt[:MAX_LISTED_CORRUPT],
        "overrides": overrides,
    }


def select_sequences(config: PreprocessConfig) -> list[str]:
    """``sequence_names``, else the ``split``'s, else every sequence with detections, else those of
    mapping.txt; with ``anno_dir``, sequences on its ignore list are left out unless ``include_ignored``."""
    if config.sequence_names:
        return [check_name(n) for n in dict.fromkeys(config.sequence_names)]
    found = sorted(group_videos(config.keypoints_dir))
    if config.anno_dir is not None:
        from aistpp.core.dataset import AISTDataset

        return AISTDataset(config.anno_dir).select(None, config.split, config.include_ignored, found or None)
    if config.split:
        raise AistppError("--split needs --anno-dir (the splits/ folder is in the annotation folder)")
    if found:
        return found
    raise AistppError("no detections found (expected one <video> folder or <video>.json per view)",
                      config.keypoints_dir)


def run_preprocess(config: PreprocessConfig) -> RunReport:
    """Preprocess every selected sequence through the shared runner (resumable, atomic)."""
    names = select_sequences(config)
    job = functools.partial(preprocess_sequence, config=config)
    return run_jobs(job, names, config, outputs=lambda n: [output_path(n, config)], title="preprocess")
