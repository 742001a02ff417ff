"""One setting's calibration from keypoints, start to finish, on arrays (no files).

``solve``: start (``calibrate_init.initial_rig`` from the keypoints alone, or given cameras),
per-view time offsets, single-view left/right swaps undone, robust bundle adjustment
(``calibrate.calibrate_views``) on frames drawn from the pooled sequences with 10 % of them
held out, offsets re-searched with the adjusted rig (and the adjustment redone when they
change, a few passes, the best kept: ``_search_passes``), each sequence's own and sub-frame
offsets, the gauge (``--frame floor|init``, ``--up y|z``), then ``calibrate_checks``.
The result says whether every check passed; the caller refuses to write a rig that failed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from aistpp.core.align import rig_errors, similarity_transform, transform_rig
from aistpp.core.bundle_adjust import one_blas_thread
from aistpp.core.cameras import CameraRig
from aistpp.core.frame_offsets import shift_sequences
from aistpp.core.joints import COCO_FLIP
from aistpp.core.triangulation import reprojection_errors, triangulate_robust, usable_observations
from aistpp.errors import AistppError
from aistpp.pipeline.calibrate_checks import Check, check_rig, check_views_agree
from aistpp.pipeline.calibrate_gauge import Y_UP_TO_Z_UP, gauge_transform
from aistpp.pipeline.calibrate_init import fix_swaps, initial_rig, recentre_offsets, refine_offsets
from aistpp.pipeline.calibrate_offsets import SUBFRAME_DIGITS, offsets_by_sequence, recentre, subframe_offsets
from aistpp.pipeline.calibrate_spread import MIN_HALF_FRAMES, sequence_spread, spread_note

SEARCH_PASSES = 3  # rounds of adjustment and whole-frame offset search at most (see _search_passes)
POLISH_MAX_VIEWS = 4  # rigs this small get their offsets polished by whole adjustments (see _refine)
POLISH_GAIN = 0.01  # a polished offset must lower the median reprojection error by this share
SUBFRAME_PASSES = 2  # sub-frame offsets, then the adjustment with them, this many times at most
SUBFRAME_REFIT = 0.05  # sub-frame offsets that moved less (frames) are kept without redoing the adjustment
SUBFRAME_TOLERANCE = 0.01  # the adjustment with sub-frame offsets may raise the median error by this share
WEAK_OFFSET = 0.3  # a sub-frame offset this far (frames) from its whole frame: that frame is not settled
UP = {"y": np.array([0.0, 1.0, 0.0]), "z": np.array([0.0, 0.0, 1.0])}


@dataclass
class Solution:
    """rig: final cameras; offsets (V,) int frames, the setting's whole-frame offsets (view v's
    frame n + offsets[v] is the common instant n); frame_offsets (S, V) float frames: each
    sequence's own (rows: ``np.unique(seq_id)``), to 0.01 frame; points3d (M, J, 3) fitted frames
    in the final world; checks; report (JSON-ready)."""

    rig: CameraRig
    offsets: np.ndarray
    points3d: np.ndarray
    checks: list[Check]
    report: dict
    frame_offsets: np.ndarray | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def _pose_points(rig: CameraRig) -> np.ndarray:
    """Points that fix a similarity between two versions of a rig (P, 3): the centres, and for
    fewer than three cameras also a point on each optical axis as far ahead as the cameras are apart."""
    C = rig.centers
    if len(rig) >= 3:
        return C
    ahead = max(float(np.linalg.norm(C[0] - C[-1])), 1e-6)
    return np.concatenate([C, C + ahead * rig.R[:, 2]])


def _split_frames(usable: np.ndarray, max_frames: int, hold_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices for fitting (<= max_frames) and held out (about ``hold_out`` of them, disjoint),
    sorted. The frames are taken in one random order of all N (``seed``), the usable ones first
    come first served: views shifted by other offsets (a few usable frames more or fewer at the
    ends) give the same frames but for those, so adjustments at different offsets are compared on
    the same data (drawn from the usable list itself, as before, one usable frame more or fewer
    at an end reshuffled the whole draw: the medians compared came from different frames)."""
    order = np.random.default_rng(seed).permutation(len(usable))
    frames = order[np.asarray(usable, bool)[order]]
    n_hold = max(int(round(hold_out * min(len(frames), max_frames))), 1 if len(frames) > 20 else 0)
    return np.sort(frames[n_hold:n_hold + max_frames]), np.sort(frames[:n_hold])


@one_blas_thread()
def solve(points: np.ndarray, conf: np.ndarray | None, seq_id: np.ndarray, sizes: np.ndarray,
          names: tuple[str, ...], init: CameraRig | None = None, *, min_confidence: float = 0.5,
          intrinsics: tuple[str, ...] = ("f", "k1"), rounds: int = 3, max_frames: int = 1000, max_offset: int = 30,
          height_cm: float = 170.0, frame: Literal["floor", "init"] = "floor", up: Literal["y", "z"] = "y",
          min_view_observations: int = 100, hold_out: float = 0.1, seed: int = 0) -> Solution:
    """Calibrate V views from COCO-17 keypoints.

    points (V, N, 17, 2) px (NaN missing) of one or more sequences laid end to end, conf
    (V, N, 17) or None, seq_id (N,) the sequence of each frame, sizes (V, 2) (w, h) px, names
    (V,). init: starting cameras (None: from the keypoints alone); ``frame="init"`` keeps its
    world and scale. Raises AistppError when no start can be found.
    """
    pts = np.asarray(points, np.float64)
    V = pts.shape[0]
    if V < 2:
        raise AistppError(f"calibration needs two or more views, the keypoints have {V}")
    if V == 2 and (init is None or intrinsics):
        raise AistppError("2 views: from a dancer's keypoints alone two cameras give neither their focal lengths "
                          "(both look at the dancer: the optical axes meet, the degenerate case of two-view "
                          "self-calibration) nor a trustworthy start; give --init-cameras FILE with the two "
                          "cameras (intrinsics known) and --fix-intrinsics, or record with a third camera")
    if frame == "init" and init is None:
        raise AistppError("--frame init needs starting cameras (--init-cameras FILE or rig)")
    if init is None:  # from the keypoints alone; a start whose result fails a check is retried from other seeds
        _check_every_view_sees(pts, conf, names, min_confidence, min_view_observations)
        first = None
        for rank in range(3):
            start = initial_rig(pts, conf, seq_id, sizes, names, min_confidence=min_confidence, max_offset=max_offset,
                                seed=seed, pair_rank=rank)
            sol = _refine(start.rig, start.offsets, {"init": start.info, "attempt": rank + 1}, pts, conf, seq_id, names,
                          None, min_confidence, intrinsics, rounds, max_frames, max_offset, height_cm, frame, up,
                          min_view_observations, hold_out, seed)
            if not sol.failed:
                return sol
            first = first or sol
            if {c.name for c in sol.failed} == {"not_mirrored"}:  # the labels' doing: no start changes it
                break
        return first
    return _refine(init, np.zeros(V, int), {"init": {"from": "given cameras"}}, pts, conf, seq_id, names, init,
                   min_confidence, intrinsics, rounds, max_frames, max_offset, height_cm, frame, up,
                   min_view_observations, hold_out, seed)


def _check_every_view_sees(pts: np.ndarray, conf: np.ndarray | None, names: tuple[str, ...], min_confidence: float,
                           min_view_observations: int) -> None:
    """From the keypoints alone every camera is placed by what it sees: a view with fewer than
    ``min_view_observations`` usable keypoints (a camera that recorded nothing, a view whose
    detections are all NaN or below ``min_confidence``) cannot be, whatever the others show.
    Raises AistppError naming each such view and its count, before any work."""
    V = pts.shape[0]
    ok = usable_observations(pts.reshape(V, -1, 2), None if conf is None else np.reshape(conf, (V, -1)),
                             min_confidence)
    counts = ok.sum(axis=1)
    blind = np.flatnonzero(counts < min_view_observations)
    if blind.size:
        listed = ", ".join(f"{names[v]} ({int(counts[v])})" for v in blind)
        raise AistppError(f"view(s) {listed} have fewer than {min_view_observations} usable keypoints (confidence >= "
                          f"{min_confidence:g}) in the pooled keypoints2d, and from the keypoints alone a camera is "
                          "placed only by what it sees: pool sequences where it sees the dancer "
                          "(--sequences-per-setting), lower --min-confidence, or give --init-cameras FILE (such a view "
                          "is then kept as given and flagged)")


def _refine(rig0, offsets, info, pts, conf, seq_id, names, init, min_confidence, intrinsics, rounds, max_frames,
            max_offset, height_cm, frame, up, min_view_observations, hold_out, seed) -> Solution:
    """Offsets, swaps, adjustment, gauge and checks from the start ``rig0`` (see ``solve``)."""
    from aistpp.pipeline.calibrate import calibrate_views

    V = len(rig0)
    anchor = info["init"].get("reference_view", int(np.argmin(np.abs(offsets))))

    def fit_at(offs, start):
        """The adjustment with the views shifted by ``offs``: (calibration, shifted, sconf, held, fpts, swaps)."""
        shifted = shift_sequences(pts, offs, seq_id)  # offs (V,) or per sequence (S, V)
        sconf = None if conf is None else shift_sequences(np.asarray(conf, np.float64)[..., None], offs, seq_id)[..., 0]
        ok = np.isfinite(shifted).all(-1) & (True if sconf is None else np.nan_to_num(sconf) >= min_confidence)
        fit, held = _split_frames(ok.any(-1).sum(0) >= 2, max_frames, hold_out, seed)
        fpts, fconf, swaps = fix_swaps(start, shifted[:, fit], None if sconf is None else sconf[:, fit], COCO_FLIP,
                                       min_confidence)
        cal = calibrate_views(start, fpts, fconf, min_confidence, intrinsics, rounds, min_view_observations,
                              height_cm=None)
        return cal, shifted, sconf, held, fpts, swaps

    best, offsets, passes = _search_passes(fit_at, rig0, offsets, pts, conf, seq_id, max_offset, min_confidence,
                                           anchor, seed)
    rig = best[0].rig
    cal, shifted, sconf, held, fpts, swaps = best
    if 0 < max_offset and V <= POLISH_MAX_VIEWS:
        # few views: each view's offset is resected against only one to three others, and a camera
        # adjusted at a wrong offset can hold it; one frame either way is tried with the whole adjustment
        for _ in range(2):
            improved = False
            for v, step in [(v, d) for v in range(V) for d in (-1, 1)]:  # the reference too: offsets are relative
                trial = offsets.copy()
                trial[v] += step
                if np.ptp(trial) > 2 * max_offset:
                    continue
                res = fit_at(trial, rig)
                if res[0].report["after_median_px"] < (1 - POLISH_GAIN) * best[0].report["after_median_px"]:
                    best, offsets, rig, improved = res, trial, res[0].rig, True
                    passes.append({"offsets": offsets.tolist(), "after_median_px": res[0].report["after_median_px"],
                                   "polish": True})
            if not improved:
                break
        cal, shifted, sconf, held, fpts, swaps = best
    offsets = recentre_offsets(offsets)  # those of the final adjustment
    whole = np.tile(offsets, (len(np.unique(seq_id)), 1))
    fine = whole.astype(np.float64)
    if max_offset > 0:
        (cal, shifted, sconf, held, fpts, swaps), rig, whole, fine, sync = _per_sequence_offsets(
            (cal, shifted, sconf, held, fpts, swaps), fit_at, pts, conf, seq_id, offsets, min_confidence, seed)
        passes += sync
        offsets, whole, fine = _whole_frames_of(fine)
    X = cal.points3d
    spread = sequence_spread(rig, shifted, sconf, seq_id, min_confidence, intrinsics, min_view_observations,
                             max_frames, seed)
    unjudged = None if spread is not None or V < 3 else _unjudged(seq_id)
    # held-out frames: triangulated with the final rig, never fitted
    hpts = shifted[:, held]
    hconf = None if sconf is None else sconf[:, held]
    tri = triangulate_robust(rig, hpts, hconf, min_confidence, max(15.0, 4 * cal.report["after_median_px"]))
    herr = reprojection_errors(rig, tri.points3d, hpts)
    hok = tri.observed & np.isfinite(herr)
    held_px = float(np.median(herr[hok])) if hok.any() else float("nan")
    # gauge
    up_vec = UP[up]
    if frame == "floor":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s, R, t, gauge = gauge_transform(rig, X, height_cm, init)
        if up == "z":
            R, t = Y_UP_TO_Z_UP @ R, Y_UP_TO_Z_UP @ t
    else:
        s, R, t = similarity_transform(rig.centers, init.centers)
        gauge = {"frame": "init", "scale": float(s)}
    gauge.update(frame=frame, up=up)
    rig = transform_rig(rig, s, R, t)
    X = s * X @ R.T + t
    inliers = np.isfinite(X).all(-1)[None] & np.isfinite(fpts).all(-1)
    checks = check_rig(rig, X, inliers, up_vec, cal.report["after_median_px"], held_px)
    checks.append(check_views_agree(cal.report["views"]))
    change = rig_errors(transform_rig(rig0, *similarity_transform(_pose_points(rig0), _pose_points(rig))), rig,
                        align=False)
    report = dict(cal.report)
    for v, item in enumerate(report["views"]):
        item.update(offset_frames=int(offsets[v]), swaps_fixed=int(swaps[v]),
                    rotation_change_deg=float(change["rotation_deg"][v]), centre_change_cm=float(change["center_cm"][v]),
                    start_focal_px=float(rig0.K[v, 0, 0]), inlier_share=item["inliers"] / max(item["detections"], 1))
        item.update(subframe_offset_frames=float(np.median(fine[:, v])),
                    offsets_by_sequence_frames=fine[:, v].tolist())
        unsettled = np.abs(fine[:, v] - whole[:, v]) > WEAK_OFFSET  # (S,) the sequence's frame is a guess
        item.update(offset_weak=bool(abs(np.median(fine[:, v]) - offsets[v]) > WEAK_OFFSET),
                    offset_weak_sequences=int(unsettled.sum()))
        median = float(np.median(fine[:, v]))
        if (offsets[v] != 0 or abs(median) > WEAK_OFFSET) and item["status"] == "ok":
            item["status"] = f"de-synced: {median:+.2f} frames (applied)"  # to 0.01 frame by triangulate and vis
        if item["offset_weak"]:  # between two frames: a reader that takes whole frames guesses; say so
            note = f"offset weak: between frames, whole-frame readers use {int(offsets[v]):+d}"
            item["status"] = note if item["status"] == "ok" else f"{item['status']}; {note}"
        if spread is not None:  # how much the choice of sequence moves this camera (calibrate_spread)
            item.update(spread_rotation_deg=float(spread["rotation_deg"][v]),
                        spread_centre_cm=float(s * spread["centre_cm"][v]), spread_focal_pct=float(spread["focal_pct"][v]))
            note = spread_note(spread["rotation_deg"][v], spread["focal_pct"][v], "f" in intrinsics, spread["halves"])
            if note:
                item["status"] = note if item["status"] == "ok" else f"{item['status']}; {note}"
    ids = np.unique(seq_id)
    differ = [names[v] for v in range(V) if (whole[:, v] != whole[0, v]).any()]  # between sequences
    report.update(held_out_median_px=held_px, held_out_frames=int(len(held)), gauge=gauge, passes=passes,
                  checks=[c.as_dict() for c in checks], offsets=dict(zip(names, offsets.tolist())),
                  offsets_by_sequence={int(k): whole[i].tolist() for i, k in enumerate(ids)} if len(ids) > 1 else {},
                  offsets_differ_by_sequence=differ,
                  weak_offsets=[names[v] for v in range(V) if report["views"][v]["offset_weak"]],
                  spread_sequences=0 if spread is None else spread["sequences"],
                  spread_halves=bool(spread is not None and spread["halves"]), stability_unjudged=unjudged,
                  weak_across_sequences=[names[v] for v in range(V) if any(
                      w in report["views"][v]["status"] for w in ("weak across sequences", "weak within the recording"))],
                  subframe_offsets_by_sequence={int(k): fine[i].tolist() for i, k in enumerate(ids)}, **info)
    return Solution(rig, offsets, X, checks, report, fine)


def _unjudged(seq_id: np.ndarray) -> str:
    """Why no spread could be measured (``calibrate_spread``): too little data to adjust parts of it
    alone. Such a rig is not refused (it may be right) but is not vouched for: from a one-second
    synthetic recording with a real detector's (BlazePose's) errors, the rig fitted its
    detections at 1.9 px where the true cameras gave 2.5 px, one camera three times too far
    with a focal length three times too long, and every check passed."""
    ids, counts = np.unique(seq_id, return_counts=True)
    if len(ids) == 1 and counts[0] < 2 * MIN_HALF_FRAMES:
        return (f"one recording of {int(counts[0])} frames, too short to compare its halves "
                f"({2 * MIN_HALF_FRAMES} frames or more)")
    parts = "halves of the recording" if len(ids) == 1 else f"{len(ids)} sequences"
    return f"fewer than two of the {parts} could be adjusted alone (too few frames seen, or views they barely show)"


def _same_relative(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two whole-frame offset sets (V,) differ only by a constant (the same relative
    offsets, another clock: the adjustment cannot tell them apart)."""
    return bool(np.ptp(np.asarray(a, int) - np.asarray(b, int)) == 0)


def _search_passes(fit_at, rig0, offsets, pts, conf, seq_id, max_offset, min_confidence, anchor, seed):
    """The rig search: up to ``SEARCH_PASSES`` rounds of the adjustment at the current whole-frame
    offsets (``fit_at``) and the offsets re-searched with its rig (``refine_offsets``: +-max_offset
    the first time, +-3 frames after). Each pass is only good to about a frame and, from a start
    with some views a frame off, the passes can wander between offset sets that fit about as well
    (or go round in a cycle); so the search stops when it proposes offsets it has already adjusted
    at (up to a constant: another clock), and the pass whose adjustment has the lowest median
    reprojection error is kept, not the last. Returns (that pass's ``fit_at`` result, its offsets
    (V,) int, the passes for the report: offsets, median px, ``kept`` on the one kept)."""
    rig, radius, passes, best = rig0, max_offset, [], None
    for _ in range(SEARCH_PASSES):
        res = fit_at(offsets, rig)
        rig = res[0].rig
        passes.append({"offsets": offsets.tolist(), "after_median_px": res[0].report["after_median_px"]})
        if best is None or res[0].report["after_median_px"] < best[0][0].report["after_median_px"]:
            best = (res, offsets, len(passes) - 1)
        if max_offset <= 0:
            break
        thr = max(4.0, 3 * res[0].report["after_median_px"])
        new, _ = refine_offsets(rig, pts, conf, seq_id, offsets, radius, min_confidence, threshold_px=thr, seed=seed,
                                anchor=anchor)
        radius = min(3, max_offset)
        if any(_same_relative(new, p["offsets"]) for p in passes):  # adjusted there already: a fixed point or a cycle
            break
        offsets = new
    passes[best[2]]["kept"] = True
    return best[0], np.asarray(best[1], int), passes


def _whole_frames_of(fine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole-frame offsets of record from the final, sub-frame ones ``fine`` (S, V): the
    setting's (V,) (each view's median over the sequences, rounded, the most common value made 0,
    ``recentre_offsets``), each sequence's (S, V) (rounded), and ``fine`` on that clock. The rig
    search's whole frames (``refine_offsets``: a truncated PnP-RANSAC cost, a few passes, each
    against a rig adjusted at the offsets being tested) are only good to about a frame; left
    there, a view they got wrong stays wrong in ``Solution.offsets`` although its sequences'
    sub-frame offsets, with which the rig was adjusted, are right."""
    setting = np.round(np.median(fine, axis=0)).astype(int)
    shift = int(setting[0] - recentre_offsets(setting)[0])
    fine = np.round(fine - shift, SUBFRAME_DIGITS) + 0.0
    return setting - shift, np.round(fine).astype(int), fine


def _per_sequence_offsets(best, fit_at, pts, conf, seq_id, offsets, min_confidence, seed):
    """Each sequence's whole-frame offsets, then sub-frame ones, each followed by the adjustment
    redone with them (``fit_at``), kept when it does not raise the median reprojection error by
    more than ``SUBFRAME_TOLERANCE``. best: ``fit_at``'s result at the setting's ``offsets``.
    Returns (the adjustment kept, its rig, whole (S, V) int, sub-frame (S, V) float, passes)."""
    S = len(np.unique(seq_id))
    err = lambda res: res[0].report["after_median_px"]  # noqa: E731
    thr = max(4.0, 3 * err(best))
    whole = offsets_by_sequence(best[0].rig, pts, conf, seq_id, offsets, min_confidence, thr, seed) if S > 1 \
        else offsets[None].copy()
    passes = []
    if (whole != offsets).any():
        best = fit_at(whole, best[0].rig)
        passes.append({"offsets_by_sequence": whole.tolist(), "after_median_px": err(best)})
    fine = whole.astype(np.float64)
    for _ in range(SUBFRAME_PASSES):
        trial, _ = subframe_offsets(best[0].rig, pts, conf, seq_id, fine, min_confidence, max(15.0, 4 * err(best)))
        trial = recentre(trial, whole)
        if np.abs(trial - fine).max() < SUBFRAME_REFIT:  # the adjustment would hardly change
            fine = trial
            break
        res = fit_at(trial, best[0].rig)
        passes.append({"subframe_offsets": trial.tolist(), "after_median_px": err(res)})
        if err(res) > (1 + SUBFRAME_TOLERANCE) * err(best):
            break
        best, fine = res, trial
    return best, best[0].rig, whole, fine, passes
