"""Plausibility checks of a calibrated rig: a rig that merely minimises reprojection is not enough.

``check_rig`` runs every check on the final rig, the fitted frames' points and the held-out
frames, and returns a list of ``Check`` (name, passed, detail, value). The checks, each about a
physical fact the reprojection error cannot see:

- ``in_front``: every camera has the dancer in front of it (>= 95 % of its inlier points at
  positive depth, and the dancer's median position too; a camera with no observations, kept as
  given, by the median position alone).
- ``focal``: focal lengths within [0.2, 5] x the larger image side (fisheye to long telephoto).
- ``held_out``: frames kept out of the fit, triangulated with the rig, reproject about as well as
  the fitted ones (median <= 1.5 x fitted + 1.5 px).
- ``bones``: limb lengths constant over time (robust coefficient of variation of each of the
  8 limb bones <= 0.2) and left and right limbs alike (ratio within 0.7-1.4).
- ``upright``: the body axis (ankles -> head) within 35 deg of the world's up (median over frames).
- ``not_mirrored``: with the keypoints' left/right labels, the nose is in front of the
  shoulders' line (forward = (left - right) x up) in most frames (>= 65 %): a mirror image of the
  scene fails this while reprojecting equally well.
- ``scale``: cameras 0.3-40 body heights from the dancer (catches a rig scaled by tens).
- ``views_agree``: every view keeps >= 75 % of its detections as inliers and its median error
  is within 2.5 x the views' median: one view fitted far worse than the others means the rig
  is bent around it (a wrong start, a wrong time offset), not a view with a bad detector. A view
  not refined (too few detections, kept as given and flagged) is not judged.

Units: points in cm (any unit for the scale-free checks); COCO-17 joint order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from aistpp.core.cameras import CameraRig
from aistpp.core.joints import COCO17

_J = {name: i for i, name in enumerate(COCO17)}
LIMBS = [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("left_hip", "left_knee"),
         ("left_knee", "left_ankle")]
FOCAL_RANGE = (0.2, 5.0)


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    value: float = float("nan")

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": bool(self.passed), "detail": self.detail,
                "value": None if not np.isfinite(self.value) else float(self.value)}


def _nanmedian(x) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def check_in_front(rig: CameraRig, points3d: np.ndarray, observed: np.ndarray) -> Check:
    """points3d (N, J, 3), observed (V, N, J) bool: the observations used."""
    cam = rig.world_to_camera(points3d.reshape(-1, 3))  # (V, P, 3)
    z = cam[..., 2]
    obs = observed.reshape(len(rig), -1) & np.isfinite(z)
    # a view with no observations (kept as given: too few detections to refine) is judged by the
    # dancer's median position alone
    share = np.array([(z[v][obs[v]] > 0).mean() if obs[v].any() else 1.0 for v in range(len(rig))])
    centre = np.nanmedian(points3d.reshape(-1, 3), axis=0)
    zc = rig.world_to_camera(centre)[:, 2]
    bad = [n for n, s, c in zip(rig.names, share, zc) if s < 0.95 or not c > 0]
    return Check("in_front", not bad, f"dancer behind or beside camera(s) {', '.join(bad)}" if bad else
                 "every camera has the dancer in front", float(share.min()))


def check_focal(rig: CameraRig) -> Check:
    ratio = rig.K[:, 0, 0] / rig.sizes.max(axis=1)
    bad = [f"{n} ({f:.0f} px for a {w}x{h} image)" for n, f, r, (w, h) in
           zip(rig.names, rig.K[:, 0, 0], ratio, rig.sizes) if not FOCAL_RANGE[0] <= r <= FOCAL_RANGE[1]]
    return Check("focal", not bad, "implausible focal length: " + ", ".join(bad) if bad else
                 f"focal lengths {ratio.min():.2f}-{ratio.max():.2f} x the image size", float(ratio.max()))


def check_held_out(fitted_px: float, held_out_px: float) -> Check:
    limit = 1.5 * fitted_px + 1.5
    ok = np.isfinite(held_out_px) and held_out_px <= limit
    return Check("held_out", bool(ok), f"held-out frames reproject at {held_out_px:.2f} px median, fitted "
                 f"{fitted_px:.2f} px (limit {limit:.2f})", held_out_px)


def check_bones(points3d: np.ndarray) -> Check:
    cvs, ratios = [], []
    for a, b in LIMBS:
        lengths = []
        for side in ("left", "right"):
            ja, jb = (_J[x.replace("left", side)] for x in (a, b))
            d = np.linalg.norm(points3d[:, ja] - points3d[:, jb], axis=-1)
            d = d[np.isfinite(d)]
            if d.size < 10:
                return Check("bones", False, f"too few frames with {a.replace('left_', '')} and "
                             f"{b.replace('left_', '')} triangulated")
            med = np.median(d)
            cvs.append(1.4826 * np.median(np.abs(d - med)) / med)
            lengths.append(med)
        ratios.append(lengths[0] / lengths[1])
    cv, ratio = max(cvs), max(max(ratios), 1 / min(ratios))
    ok = cv <= 0.2 and ratio <= 1.4
    return Check("bones", bool(ok), f"limb lengths vary by {100 * cv:.0f} % over time (limit 20 %), left/right "
                 f"ratio up to {ratio:.2f} (limit 1.4)", cv)


def _body_axis(points3d: np.ndarray) -> np.ndarray:
    head = np.nanmean(points3d[:, [_J["nose"], _J["left_eye"], _J["right_eye"]]], axis=1)
    feet = np.nanmean(points3d[:, [_J["left_ankle"], _J["right_ankle"]]], axis=1)
    axis = head - feet
    return axis / np.linalg.norm(axis, axis=-1, keepdims=True)


def check_upright(points3d: np.ndarray, up: np.ndarray) -> Check:
    angle = np.degrees(np.arccos(np.clip(_body_axis(points3d) @ up, -1, 1)))
    med = _nanmedian(angle)
    return Check("upright", bool(med <= 35), f"body axis {med:.0f} deg from the world's up (limit 35)", med)


def check_not_mirrored(points3d: np.ndarray, up: np.ndarray) -> Check:
    ls, rs, nose = points3d[:, _J["left_shoulder"]], points3d[:, _J["right_shoulder"]], points3d[:, _J["nose"]]
    forward = np.cross(ls - rs, up)
    side = np.einsum("ni,ni->n", nose - (ls + rs) / 2, forward)
    side = side[np.isfinite(side)]
    share = float((side > 0).mean()) if side.size else float("nan")
    ok = side.size >= 10 and share >= 0.65
    return Check("not_mirrored", bool(ok), f"the nose is in front of the shoulders in {100 * share:.0f} % of frames "
                 "(a mirrored rig puts it behind; limit 65 %)", share)


def check_scale(rig: CameraRig, points3d: np.ndarray) -> Check:
    axis = np.nanmean(points3d[:, [_J["nose"], _J["left_eye"], _J["right_eye"]]], axis=1) - np.nanmean(
        points3d[:, [_J["left_ankle"], _J["right_ankle"]]], axis=1)
    size = _nanmedian(np.linalg.norm(axis, axis=-1))
    centre = np.nanmedian(points3d.reshape(-1, 3), axis=0)
    dist = np.linalg.norm(rig.centers - centre, axis=1) / size
    ok = bool(np.isfinite(dist).all() and dist.min() >= 0.3 and dist.max() <= 40)
    return Check("scale", ok, f"cameras {dist.min():.1f}-{dist.max():.1f} body heights from the dancer "
                 "(limits 0.3-40)", float(dist.max()))


def check_rig(rig: CameraRig, points3d: np.ndarray, observed: np.ndarray, up: np.ndarray, fitted_px: float,
              held_out_px: float) -> list[Check]:
    """Every check (see module docstring). points3d (N, 17, 3) of the fitted frames in the final
    world; observed (V, N, 17) the inlier observations; up (3,) the world's up direction."""
    up = np.asarray(up, float) / np.linalg.norm(up)
    with warnings.catch_warnings():  # frames without a head or ankles: 'Mean of empty slice'
        warnings.simplefilter("ignore", RuntimeWarning)
        return _all_checks(rig, points3d, observed, up, fitted_px, held_out_px)


def _all_checks(rig, points3d, observed, up, fitted_px, held_out_px) -> list[Check]:
    return [check_in_front(rig, points3d, observed), check_focal(rig), check_held_out(fitted_px, held_out_px),
            check_bones(points3d), check_upright(points3d, up), check_not_mirrored(points3d, up),
            check_scale(rig, points3d)]


def check_views_agree(views: list[dict], min_share: float = 0.75, max_ratio: float = 2.5) -> Check:
    """views: the report's per-view dicts (``detections``, ``inliers``, ``after_median_px``, ``name``,
    ``status``). A view that was not refined (too few detections: kept as given, flagged weak)
    cannot bend the rig and is not judged."""
    views = [v for v in views if not str(v.get("status", "")).startswith("not refined")]
    meds = np.array([v["after_median_px"] for v in views], float)
    typical = _nanmedian(meds)
    bad = [f"{v['name']} ({100 * v['inliers'] / max(v['detections'], 1):.0f} % inliers, {v['after_median_px']:.1f} px)"
           for v, m in zip(views, meds) if v["inliers"] < min_share * v["detections"] or not m <= max_ratio * typical]
    return Check("views_agree", not bad, "view(s) fit far worse than the others: " + ", ".join(bad) if bad else
                 f"every view fits like the others (median {typical:.2f} px)", float(np.nanmax(meds) / typical))
