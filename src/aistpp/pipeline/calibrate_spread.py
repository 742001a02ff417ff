"""How well the sequences of a setting agree on its cameras: each sequence adjusted on its own.

A rig adjusted on several sequences minimises their pooled reprojection error; how far the rig
is from the truth is not in that error. A formal covariance (the normal equations' inverse)
assumes independent detection errors and, on the released setting4 keypoints, puts every focal
length within 0.2-0.3 % while the two sequences adjusted one at a time disagree by 8 % (median
over the views; 1.1 deg of rotation): errors shared between the detections of one recording
(where the dancer stood, how the detector misplaces a joint seen from one side) dominate. So the
spread is measured, not modelled: ``sequence_spread`` re-adjusts the pooled rig on each sequence
alone (up to ``MAX_SEQUENCES``, a seeded choice) and reports, per view, the largest rotation,
centre and focal change from the pooled rig (after a similarity alignment of the centres). A
view whose focal length or rotation moves more than ``WEAK_FOCAL_PCT`` / ``WEAK_ROTATION_DEG``
with the choice of sequence is weakly determined by these recordings: ``calibrate`` says so in
its status; more sequences (``--sequences-per-setting``) narrow it. Measured: synthetic dances
(200 frames each, the released detectors' error profile) on the released setting4 and setting9_1
rigs, two sequences: at most 2.8 % and 0.4 deg (the pooled rig 0.5-0.9 % / 0.12 deg from the
truth); the released setting4 keypoints: 1.9-15.8 % and 0.3-2.3 deg (the pooled rig 7.6 % /
1.8 deg from the released cameras).

One recording (``MIN_HALF_FRAMES`` x 2 frames or more) is split into its first and second halves
in time, each adjusted alone ("weak within the recording"): a lower bound, as the halves share
the recording's errors (real setting4's ch09 alone: halves within 4.9 % / 0.34 deg, the other
recording 8 % away; ch07 alone, 576 frames: up to 22 % / 1.9 deg, every view flagged).
"""

from __future__ import annotations

import numpy as np

from aistpp.core.align import rig_errors
from aistpp.core.cameras import CameraRig
from aistpp.core.joints import COCO_FLIP
from aistpp.core.triangulation import usable_observations
from aistpp.errors import AistppError

MAX_SEQUENCES = 4  # sequences adjusted alone (each one more adjustment)
ROUNDS = 2  # adjustment rounds per sequence, starting from the pooled rig
WEAK_FOCAL_PCT = 5.0  # a view whose focal length moves more than this with the sequence is weak ...
WEAK_ROTATION_DEG = 1.0  # ... or whose rotation does
MIN_HALF_FRAMES = 100  # one recording is split in two halves (each alone) from twice this many frames


def sequence_spread(rig: CameraRig, shifted: np.ndarray, sconf: np.ndarray | None, seq_id: np.ndarray,
                    min_confidence: float, intrinsics: tuple[str, ...], min_view_observations: int,
                    max_frames: int, seed: int = 0) -> dict | None:
    """Per view, how far the rig adjusted on one sequence alone lands from ``rig`` (the pooled
    adjustment, before the gauge): ``rotation_deg``, ``centre_cm`` (in ``rig``'s units), ``focal_pct``
    (V,) the largest over the sequences tried, and ``sequences`` tried. ``shifted`` (V, N, 17, 2) px
    and ``sconf`` (V, N, 17) or None: the keypoints on the common clock (each sequence's offsets
    applied), ``seq_id`` (N,); ``halves``: True when one recording's two halves stood in for the
    sequences. None when fewer than two sequences (or halves) can be adjusted alone, or with fewer
    than three views (two camera centres do not fix the similarity the rigs are compared under)."""
    from aistpp.pipeline.calibrate import calibrate_views
    from aistpp.pipeline.calibrate_init import fix_swaps

    if len(rig) < 3:
        return None
    ids = np.unique(seq_id)
    halves = len(ids) == 1
    if halves:  # one recording: its first and second halves in time, each alone
        n = len(seq_id)
        if n < 2 * MIN_HALF_FRAMES:
            return None
        seq_id = (np.arange(n) >= n // 2).astype(np.int64)
        ids = np.array([0, 1])
    rng = np.random.default_rng(seed)
    if len(ids) > MAX_SEQUENCES:
        ids = np.sort(rng.choice(ids, MAX_SEQUENCES, replace=False))
    seen = usable_observations(shifted, sconf, min_confidence).any(-1).sum(0) >= 2  # (N,) frames two views see
    per_frames = max(max_frames // 2, 50)
    found = []
    for s in ids:
        frames = np.flatnonzero((seq_id == s) & seen)
        if len(frames) > per_frames:
            frames = np.sort(rng.choice(frames, per_frames, replace=False))
        if len(frames) < 20:
            continue
        pts, conf, _ = fix_swaps(rig, shifted[:, frames], None if sconf is None else sconf[:, frames], COCO_FLIP,
                                 min_confidence)
        try:
            alone = calibrate_views(rig, pts, conf, min_confidence, intrinsics, ROUNDS, min_view_observations,
                                    height_cm=None)
        except AistppError:  # a view this sequence barely shows: it tells nothing alone
            continue
        found.append(rig_errors(alone.rig, rig))
    if len(found) < 2:
        return None
    worst = {k: np.max([e[k] for e in found], axis=0) for k in ("rotation_deg", "center_cm", "focal_rel")}
    return {"sequences": len(found), "halves": halves, "rotation_deg": worst["rotation_deg"],
            "centre_cm": worst["center_cm"], "focal_pct": 100.0 * worst["focal_rel"]}


def spread_note(rotation_deg: float, focal_pct: float, focal_refined: bool, halves: bool = False) -> str | None:
    """The status note of a view the sequences (``halves``: the two halves of one recording)
    disagree on (None: they agree well enough)."""
    parts = []
    if focal_refined and focal_pct > WEAK_FOCAL_PCT:
        parts.append(f"focal {focal_pct:.0f} %")
    if rotation_deg > WEAK_ROTATION_DEG:
        parts.append(f"rotation {rotation_deg:.1f} deg")
    if not parts:
        return None
    if halves:
        return f"weak within the recording: one half of it alone moves it by {' and '.join(parts)} (add recordings)"
    return f"weak across sequences: one sequence alone moves it by {' and '.join(parts)} (add sequences)"
