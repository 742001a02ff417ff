"""Calibration's starting rig from the dancer's 2D keypoints alone (no assumed layout).

Every frame gives up to J correspondences per pair of views (the same joint, same instant).

1. Pairwise: the essential matrix of every pair of views (RANSAC on coordinates normalised
   with the focal guess) -> inlier counts, a view graph weighted by them.
2. The best pair (most inliers among pairs that see the body from angles > ``min_angle_deg``
   apart) is searched for its relative time offset (whole frames, +-``max_offset``), its
   relative pose seeds the reconstruction, its points are triangulated.
3. Views are added one by one (the one sharing most inliers with the registered views first):
   for each offset in +-``max_offset`` a PnP-RANSAC against the triangulated points, the best
   offset kept; then pose and focal length by resection (a few focal guesses, refined); then
   every point is re-triangulated robustly and the registered views are bundle-adjusted
   (focal length free once three views are in).

Offsets: ``offsets[v] = o`` means view v's frame ``n + o`` shows the instant the first
registered view's frame ``n`` shows (see ``shift_views``). The result is in an arbitrary
similarity frame (the caller fixes the gauge).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from aistpp.core.bundle_adjust import bundle_adjust
from aistpp.core.cameras import CameraRig, rodrigues, rotation_to_rodrigues
from aistpp.core.frame_offsets import shift_views
from aistpp.core.relative_pose import intrinsic_matrix, normalise, pair_pose, pnp_cost, pnp_ransac, resect
from aistpp.core.triangulation import (reprojection_errors, triangulate_dlt, triangulate_robust,
                                      usable_observations)
from aistpp.errors import AistppError

FOCAL_PER_SIZE = 0.8  # default focal guess: 0.8 x the larger image side (a ~26 mm-equivalent lens)


def default_focal(size) -> float:
    """The focal-length guess (px) for an image of ``size`` (w, h) px."""
    return FOCAL_PER_SIZE * float(max(size))


def search_offset(lo: int, hi: int, cost, step: int = 3) -> tuple[int, float]:
    """argmin of ``cost(o)`` over whole frames lo..hi: every ``step``-th offset, then every
    offset within ``step`` - 1 of the best (the costs vary smoothly with the offset).
    ``cost`` returns a float (inf: not evaluable). Returns (best offset, its cost)."""
    seen: dict[int, float] = {}

    def get(o):
        if o not in seen:
            seen[o] = cost(o)
        return seen[o]

    coarse = list(range(lo, hi + 1, step))
    if coarse[-1] != hi:
        coarse.append(hi)
    best = min(coarse, key=get)
    fine = range(max(lo, best - step + 1), min(hi, best + step - 1) + 1)
    best = min(fine, key=get)
    return best, seen[best]


@dataclass
class InitialRig:
    """rig: V cameras (arbitrary similarity frame); offsets (V,) int frames; info: what was done."""

    rig: CameraRig
    offsets: np.ndarray
    info: dict = field(default_factory=dict)


def _pair_inliers(xn: list[np.ndarray], ok: np.ndarray, a: int, b: int, thr: float, min_common: int):
    common = ok[a] & ok[b]
    if common.sum() < min_common:
        return None, common
    return pair_pose(xn[a][common], xn[b][common], thr), common


def initial_rig(points: np.ndarray, conf: np.ndarray | None, seq_id: np.ndarray, sizes: np.ndarray,
                names: tuple[str, ...], focal_guess: np.ndarray | None = None, min_confidence: float = 0.5,
                max_offset: int = 30, max_frames: int = 150, threshold_px: float = 6.0,
                min_angle_deg: float = 8.0, seed: int = 0, pair_rank: int = 0) -> InitialRig:
    """A starting rig and per-view time offsets from keypoints alone (see module docstring).

    points (V, N, J, 2) px (NaN missing) of the frames of one or more sequences laid end to end;
    conf (V, N, J) or None; seq_id (N,) the sequence of each frame; sizes (V, 2) (w, h) px;
    focal_guess (V,) px or None (``default_focal``); pair_rank: seed with the k-th best pair
    instead of the best (a retry after a start that failed). Raises AistppError when fewer than two
    views can be related or a view cannot be placed.
    """
    pts = np.asarray(points, np.float64)
    V, N, J = pts.shape[:3]
    sizes = np.asarray(sizes, np.int64)
    f0 = np.array([default_focal(s) for s in sizes]) if focal_guess is None else np.asarray(focal_guess, float)
    stride = max(1, N // max_frames)
    frames = np.arange(0, N, stride)
    ok_all = usable_observations(pts, conf, min_confidence)
    full = np.where(ok_all[..., None], pts, np.nan)  # (V, N, J, 2), unusable -> NaN

    def sample(offsets):
        s = shift_views(full, offsets, seq_id)[:, frames].reshape(V, -1, 2)
        return s, np.isfinite(s).all(-1)

    zero = np.zeros(V, int)
    xs, ok = sample(zero)
    xn = [normalise(np.nan_to_num(xs[v]), f0[v], sizes[v]) for v in range(V)]
    thr = threshold_px / f0
    min_common = 8 * J
    weights = np.zeros((V, V))
    angles = np.zeros((V, V))
    for a, b in combinations(range(V), 2):
        pp, _ = _pair_inliers(xn, ok, a, b, float(np.sqrt(thr[a] * thr[b])), min_common)
        if pp is not None:
            weights[a, b] = weights[b, a] = pp.front
            angles[a, b] = angles[b, a] = pp.angle_deg
    # a well-conditioned seed: seen from directions between min_angle_deg and 120 deg apart (nearly
    # opposite cameras triangulate poorly along their baseline), else any pair above min_angle_deg
    score = np.where((angles >= min_angle_deg) & (angles <= 120.0), weights, 0)
    if score.max() <= 0:
        score = np.where(angles >= min_angle_deg, weights, 0)
    if score.max() <= 0:
        raise AistppError("no two views share enough keypoints seen from different directions to start the "
                          f"calibration (pair inliers {weights.max():.0f})")
    upper = np.triu(score, 1)
    order = np.argsort(-upper, axis=None)
    order = order[upper.ravel()[order] > 0]
    a, b = np.unravel_index(order[min(pair_rank, len(order) - 1)], score.shape)  # pair_rank: the k-th best seed
    a, b = int(min(a, b)), int(max(a, b))

    # the pair's relative offset
    offsets = np.zeros(V, int)
    poses: dict[int, object] = {}

    def pair_cost(o):
        trial = zero.copy()
        trial[b] = o
        s, okk = sample(trial)
        xb = normalise(np.nan_to_num(s[b]), f0[b], sizes[b])
        common = ok[a] & okk[b]
        if common.sum() < min_common:
            return np.inf
        poses[o] = pair_pose(xn[a][common], xb[common], float(np.sqrt(thr[a] * thr[b])), seed)
        return -poses[o].front if poses[o] is not None else np.inf

    o_best, c_best = search_offset(-max_offset, max_offset, pair_cost)
    best = (-c_best, o_best, poses.get(o_best))
    if best[2] is None:
        raise AistppError(f"views {names[a]} and {names[b]} give no relative pose")
    offsets[b] = best[1]
    pose = best[2]
    baseline = 300.0  # arbitrary units near cm; the gauge is fixed by the caller
    R = np.zeros((V, 3, 3))
    t = np.zeros((V, 3))
    R[:] = np.eye(3)
    R[b], t[b] = pose.R, pose.t * baseline
    focal = f0.copy()
    registered = [a, b]
    info = {"first_pair": [names[a], names[b]], "pair_inliers": int(pose.front),
            "pair_angle_deg": pose.angle_deg, "order": [names[a], names[b]]}

    def rig_of(views):
        K = np.stack([intrinsic_matrix(focal[v], sizes[v]) for v in views])
        return CameraRig(tuple(names[v] for v in views), sizes[views], K, np.zeros((len(views), 5)),
                         rotation_to_rodrigues(R[views]), t[views])

    def triangulate(views):
        s = shift_views(full, offsets, seq_id)[:, frames]
        tri = triangulate_robust(rig_of(views), s[views], None, 0.0, max(2 * threshold_px, 10.0))
        return tri.points3d.reshape(-1, 3), tri.inliers.reshape(len(views), -1), s.reshape(V, -1, 2)

    def adjust(views, intrinsics):
        nonlocal R, t, focal
        X, inl, s = triangulate(views)
        good = np.isfinite(X).all(1)
        w = (inl & good[None]).astype(float)
        res = bundle_adjust(rig_of(views), np.nan_to_num(s[views]), w, np.nan_to_num(X), intrinsics=intrinsics,
                            loss="huber", scale=threshold_px / 2, max_iterations=8, tol=1e-5,
                            fixed_views=np.arange(len(views)) == 0)
        R[views], t[views] = res.rig.R, res.rig.tvec
        focal[views] = res.rig.K[:, 0, 0]

    adjust(registered, ())
    while len(registered) < V:
        rest = [v for v in range(V) if v not in registered]
        v = max(rest, key=lambda u: weights[u, registered].sum())
        X, _, _ = triangulate(registered)
        rng = np.random.default_rng(seed)

        def cost(o, v=v):
            s = shift_views(full[v:v + 1], [o], seq_id)[0, frames].reshape(-1, 2)
            m = np.flatnonzero(np.isfinite(s).all(1) & np.isfinite(X).all(1))
            if m.size < min_common:
                return np.inf
            if m.size > 300:
                m = m[rng.choice(m.size, 300, replace=False)]
            return pnp_cost(X[m], s[m], focal[v], sizes[v], 2 * threshold_px, seed)

        o_best, c_best = search_offset(-max_offset, max_offset, cost)
        if not np.isfinite(c_best):
            raise AistppError(f"view {names[v]} cannot be placed: too few of its keypoints match the others'")
        found = (c_best, o_best)
        offsets[v] = found[1]
        s = shift_views(full[v:v + 1], [found[1]], seq_id)[0, frames].reshape(-1, 2)
        m = np.isfinite(s).all(1) & np.isfinite(X).all(1)
        guesses = [f0[v] * k for k in (0.55, 0.7, 0.85, 1.0, 1.2, 1.45, 1.8)]
        res = resect(X[m], s[m], sizes[v], guesses, threshold_px, seed, refine_focal=len(registered) >= 2)
        if res is None:
            raise AistppError(f"view {names[v]} cannot be placed: no camera pose fits its keypoints")
        R[v], t[v], focal[v] = rodrigues(res.rvec), res.tvec, res.focal
        registered.append(v)
        info["order"].append(names[v])
        adjust(registered, ("f",))
    ref = offsets[a]
    info["offsets_searched"] = int(max_offset)
    info["reference_view"] = int(a)
    rig = rig_of(list(range(V)))
    return InitialRig(rig, offsets - ref, info)


# ---- with a rig: time offsets and left/right swaps ------------------------------------------------
def even_frames(N: int, count: int) -> np.ndarray:
    """Up to ``count`` frame indices (sorted, distinct) spread evenly over 0..N-1, both ends included."""
    return np.unique(np.linspace(0, N - 1, min(N, count)).round().astype(int))


def refine_offsets(rig: CameraRig, points: np.ndarray, conf: np.ndarray | None, seq_id: np.ndarray,
                   offsets: np.ndarray, radius: int, min_confidence: float = 0.5, max_frames: int = 300,
                   threshold_px: float = 15.0, seed: int = 0, anchor: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each view's whole-frame time offset, given the rig. View ``anchor`` is the clock: it is
    searched last, against the others' updated offsets (searching every view against the others'
    old offsets at once lets them drift together, or oscillate).

    View by view (each using the others' offsets as updated so far): the points triangulated
    (robustly) from the other views; v's keypoints shifted by each offset within ``radius`` of
    ``offsets[v]``; for each, a PnP pose (v's focal length) fitted to those points and its
    truncated mean squared error (``relative_pose.pnp_cost``): the lowest wins. The pose is
    re-fitted per offset, so a camera adjusted at a wrong offset does not hold it there.
    points (V, N, J, 2) px, conf (V, N, J) or None, seq_id (N,). Returns offsets (V,) and the
    winning cost per view (V,) px^2 (NaN when too few frames overlap).
    """
    V, N, J = points.shape[:3]
    ok = usable_observations(points, conf, min_confidence)
    full = np.where(ok[..., None], np.asarray(points, np.float64), np.nan)
    frames = even_frames(N, max_frames)
    out, costs = np.array(offsets, int), np.full(V, np.nan)
    rng = np.random.default_rng(seed)
    for v in [u for u in range(V) if u != anchor] + ([anchor] if anchor is not None else []):
        others = [u for u in range(V) if u != v]
        if not others:
            continue
        if len(others) < 2:  # two views: their own triangulation, nothing to resect against
            cost = _pair_offset_cost(rig, full, seq_id, frames, others[0], v, out[others[0]], threshold_px)
            o_best, c_best = search_offset(offsets[v] - radius, offsets[v] + radius, cost, 3 if radius > 4 else 1)
            costs[v], out[v] = (c_best, o_best) if np.isfinite(c_best) else (np.nan, out[v])
            continue
        shifted = shift_views(full[others], out[others], seq_id)[:, frames]
        X = triangulate_robust(rig.subset([rig.names[u] for u in others]), shifted, None, 0.0,
                               threshold_px).points3d.reshape(-1, 3)
        def cost(o, v=v, X=X):
            s = shift_views(full[v:v + 1], [o], seq_id)[0, frames].reshape(-1, 2)
            m = np.flatnonzero(np.isfinite(s).all(1) & np.isfinite(X).all(1))
            if m.size < 4 * J:
                return np.inf
            if m.size > 400:
                m = m[rng.choice(m.size, 400, replace=False)]
            return pnp_cost(X[m], s[m], float(rig.K[v, 0, 0]), rig.sizes[v], threshold_px, seed)

        o_best, c_best = search_offset(offsets[v] - radius, offsets[v] + radius, cost, 3 if radius > 4 else 1)
        best = (c_best, o_best) if np.isfinite(c_best) else (np.nan, out[v])
        costs[v], out[v] = best
    return out, costs


def _pair_offset_cost(rig: CameraRig, full: np.ndarray, seq_id: np.ndarray, frames: np.ndarray, u: int, v: int,
                      offset_u: int, threshold_px: float):
    """cost(o): mean truncated squared reprojection error (px^2) of views u (at ``offset_u``) and
    v (at o) triangulated together with the rig: how well the pair agrees at that offset."""
    J = full.shape[2]
    pair = rig.subset([rig.names[u], rig.names[v]])
    su = shift_views(full[u:u + 1], [offset_u], seq_id)[0, frames]

    def cost(o):
        both = np.stack([su, shift_views(full[v:v + 1], [o], seq_id)[0, frames]])  # (2, F, J, 2)
        seen = np.isfinite(both).all(-1)
        if (seen.all(0)).sum() < 4 * J:
            return np.inf
        X = triangulate_dlt(pair, both, seen.astype(np.float64), 0.5)
        e = reprojection_errors(pair, X, both)[:, seen.all(0)]
        return float(np.mean(np.minimum(np.nan_to_num(e, nan=threshold_px), threshold_px) ** 2))
    return cost


def fix_swaps(rig: CameraRig, points: np.ndarray, conf: np.ndarray | None, flip: np.ndarray,
              min_confidence: float = 0.5, threshold_px: float = 15.0):
    """Undo single-view left/right swaps: a view-frame whose keypoints, relabelled by ``flip``
    (J,), fit the robust triangulation of the other views far better (median error < half and
    < ``threshold_px``) is relabelled. points (V, N, J, 2), conf (V, N, J) or None.
    Returns points, conf (copies) and the number of view-frames relabelled per view (V,)."""
    ok = usable_observations(points, conf, min_confidence)
    pts = np.where(ok[..., None], np.asarray(points, np.float64), np.nan)
    X = triangulate_robust(rig, pts, None, 0.0, threshold_px).points3d
    proj = rig.project(X)  # (V, N, J, 2)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            e_id = np.nanmedian(np.linalg.norm(pts - proj, axis=-1), axis=-1)
            e_fl = np.nanmedian(np.linalg.norm(pts[:, :, flip] - proj, axis=-1), axis=-1)
    swap = np.isfinite(e_id) & np.isfinite(e_fl) & (e_fl < 0.5 * e_id) & (e_fl < threshold_px)
    out = np.array(points, np.float64, copy=True)
    out[swap] = out[swap][:, flip]
    c = None
    if conf is not None:
        c = np.array(conf, np.float64, copy=True)
        c[swap] = c[swap][:, flip]
    return out, c, swap.sum(axis=1)


def recentre_offsets(offsets: np.ndarray) -> np.ndarray:
    """Offsets shifted so that the most common value (ties: the one nearest 0) becomes 0."""
    values, counts = np.unique(offsets, return_counts=True)
    top = values[counts == counts.max()]
    return np.asarray(offsets, int) - int(top[np.argmin(np.abs(top))])
