"""SMPL motion from COCO-17 3D keypoints: fast, robust, all frames at once.

``fit_smpl(fast, targets)`` is the array function: closed-form initialisation
(``fit_smpl_init``), then Levenberg-Marquardt (``fit_smpl_solve``) over every frame of a window
jointly (long sequences: overlapping windows, blended) on

    robust (Charbonnier) joint error, NaN targets masked
    + joint-acceleration smoothness + rotation smoothness
    + a small pose prior + soft joint limits (hinge knees/elbows, no impossible twists)
    (+ a shape prior when betas are fitted).

Only the skeleton joints and the landmarks the keypoints observe are posed (``aistpp.core.fast_smpl``;
for SMPL and COCO-17: the 24 joints and the 5 face vertices). The body model and the keypoint set
come with the poser (``fast.model``, ``fast.joint_set``; SMPL and COCO-17 by default). Axis-angle
output is made continuous across frames (no 2 pi flips). ``fit_smpl_sequence`` is the
per-sequence job and ``run_fit_smpl`` maps it over sequences with the shared runner.
"""

from __future__ import annotations

import functools
import time
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aistpp.core.body_models import SMPL
from aistpp.core.runner import RunOptions, RunReport, report_stage, run_jobs
from aistpp.pipeline.fit_smpl_feet import FeetWeights
from aistpp.pipeline.fit_smpl_init import FitLayout, fit_layout
from aistpp.errors import AistppError


def joint_limits(layout: FitLayout | None = None) -> np.ndarray:
    """(O, 3, 2) rad: low/high per axis of each optimised joint (the body model's ``limits``;
    default SMPL fitted to COCO-17)."""
    layout = layout or fit_layout()
    return layout.model.joint_limits(layout.opt_joints)


class FitWeights(BaseModel):
    """Loss weights of ``fit_smpl_solve``'s objective (data in cm^2, rotations in rad, time in s)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    robust_cm: float = Field(5.0, gt=0, le=1e4)  # Charbonnier scale: quadratic below, linear above
    accel: float = Field(5e-5, ge=0, le=1e6)  # per (cm/s^2)^2 s: integral of the COCO points' squared acceleration
    rot_accel: float = Field(1e-4, ge=0, le=1e6)  # per (1/s^2)^2 s: the same of the local rotation matrices
    pose: float = Field(0.6, ge=0, le=1e6)  # squared axis-angle of body joints
    twist: float = Field(6.0, ge=0, le=1e6)  # extra on limb twist components
    limits: float = Field(2000.0, ge=0, le=1e9)  # squared excess over joint limits
    betas: float = Field(20.0, ge=0, le=1e6)


class Solve(BaseModel):
    """How the fit is solved: the stopping rule and the windowing of long sequences."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tol: float = Field(1e-5, gt=0, lt=1)  # converged: an accepted step lowers the objective by less than this (relative)
    max_gap_s: float = Field(0.12, gt=0)  # frames further apart than this are not smoothed together (about 8 fps)
    window: int = Field(400, ge=20, le=100_000)  # frames solved together; longer sequences: overlapping windows, blended
    overlap: int = Field(40, ge=0, le=10_000)  # frames shared by neighbouring windows
    globals_frames: int = Field(400, ge=10, le=100_000)  # frames that start scale and betas on long sequences ...
    globals_run: int = Field(40, ge=3, le=100_000)  # ... in runs of this many consecutive frames, evenly spread ...
    globals_share: float = Field(0.15, gt=0, le=1)  # ... at most this share of the frames, at least 3 runs

    def globals_count(self, n: int) -> int:
        """Frames of the scale (and betas) stage of an n-frame sequence: ``globals_share`` of them,
        at least three runs, at most ``globals_frames``. The stage only starts the globals (the
        windows' Newton step over every frame settles them), so its cost is the same share of the
        fit at every length; a fixed 400 frames was 40 % of the work at 1,000 frames, 13 % at 3,000."""
        return int(min(self.globals_frames, max(3 * self.globals_run, round(self.globals_share * n))))


class NotConverged(UserWarning):
    """The fit stopped at the iteration cap before meeting its tolerance."""


def continuous_rotvec(r: np.ndarray) -> np.ndarray:
    """(N, ..., 3) axis-angle -> the same rotations with no 2 pi jumps along axis 0.

    Canonicalises (angle <= pi), makes the axis sign consistent frame to frame, then
    unwraps the signed angle.
    """
    r = np.asarray(r, np.float64)
    ang = np.linalg.norm(r, axis=-1, keepdims=True)
    axis = np.where(ang > 1e-12, r / np.maximum(ang, 1e-12), 0.0)
    ang = np.mod(ang + np.pi, 2 * np.pi) - np.pi  # into [-pi, pi)
    axis, ang = np.where(ang < 0, -axis, axis), np.abs(ang)
    flip = np.ones(ang.shape)
    dots = np.einsum("n...i,n...i->n...", axis[1:], axis[:-1])[..., None]
    flip[1:] = np.where(dots < 0, -1.0, 1.0)
    sign = np.cumprod(flip, axis=0)
    signed = np.unwrap(sign * ang, axis=0)
    return sign * axis * signed


def fit_smpl(fast, targets: np.ndarray, weights: FitWeights | None = None, fit_betas: bool = False,
             iterations: int = 500, times: np.ndarray | None = None, fps: float = 60.0,
             solve: Solve | None = None, on_stage=None, threads: int | None = 1) -> dict:
    """Fit SMPL motion to COCO-17 targets.

    fast: an ``aistpp.core.fast_smpl.FastSMPL`` (its ``model`` and ``joint_set``); targets
    (N, K, 3) cm in that joint set (COCO-17: K = 17; NaN = missing);
    times (N,) s, increasing (default i / fps). ``iterations``: the cap on Levenberg-Marquardt
    steps per solve (a ``NotConverged`` warning when hit). Returns ``smpl_poses`` (N, pose_size) rad,
    ``smpl_trans`` (N, 3) cm, ``smpl_scaling`` (1,), ``smpl_betas`` (shape_size,) when ``fit_betas``,
    ``smpl_loss`` (mean squared coordinate error, cm^2), ``joint_error_cm`` (K,) mean distance
    per keypoint, ``loss`` (the objective per frame as each window's solve ended, frame-weighted over windows: before
    the scale's last step across windows; ``smpl_loss`` is of the final poses),
    ``converged`` (every solve met the tolerance), ``iterations`` (the most any solve took),
    ``iterations_median`` (over the solves), ``solves`` (per solve: frames, iterations, converged,
    loss), ``fps`` (median frame rate).

    Long sequences (``solve.window``): the scale (and betas) first, on ``spread_runs`` (runs of
    consecutive frames spread over the sequence, ``Solve.globals_count``), then overlapping windows
    with those held, each started from that stage's solution on its frames and from the window
    before on the frames they share, blended (``windows``); last, one Gauss-Newton step of the
    globals over every frame, the windows' frames following it to first order (``_GlobalsStep``):
    the scale of the whole sequence, as a single solve of every frame would find it.
    ``threads``: torch intra-op threads during the fit (default 1: use the runner's workers).
    """
    import torch

    prev = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _fit(fast, targets, weights or FitWeights(), fit_betas, iterations, times, fps,
                    solve or Solve(), on_stage)
    finally:
        torch.set_num_threads(prev)


def frame_times(n: int, times: np.ndarray | None, fps: float) -> np.ndarray:
    """(n,) s: ``times`` checked (finite, strictly increasing) or i / fps."""
    if times is None:
        if not fps > 0:
            raise AistppError(f"the frame rate must be positive, got {fps}")
        return np.arange(n) / float(fps)
    t = np.asarray(times, np.float64)
    if t.shape != (n,) or not np.isfinite(t).all() or (n > 1 and not (np.diff(t) > 0).all()):
        raise AistppError(f"frame times must be {n} finite, strictly increasing seconds")
    return t


def windows(n: int, size: int, overlap: int) -> list[tuple[int, int, np.ndarray]]:
    """Overlapping windows covering n frames: (start, end, blend weights (end - start,)).

    The windows are spread evenly (neighbours share at least ``overlap`` frames; no last window
    nearly on top of the one before). Each window's weight ramps linearly across the frames it
    shares with a neighbour, and the weights are normalised so that they sum to 1 on every frame
    (where a window shares frames with both neighbours, their ramps can meet)."""
    if n <= size:
        return [(0, n, np.ones(n))]
    m = int(np.ceil((n - overlap) / max(size - overlap, 1)))
    starts = np.round(np.linspace(0, n - size, max(m, 2))).astype(int)
    raw = []
    for k, s in enumerate(starts):
        i = np.arange(size, dtype=np.float64)
        left = starts[k - 1] + size - s if k > 0 else 0  # frames shared with the window before
        right = s + size - starts[k + 1] if k + 1 < len(starts) else 0  # and with the one after
        w = np.ones(size)
        if left > 0:
            w = np.minimum(w, (i + 1) / (left + 1))
        if right > 0:
            w = np.minimum(w, (size - i) / (right + 1))
        raw.append(w)
    total = np.zeros(n)
    for s, w in zip(starts, raw):
        total[s:s + size] += w
    return [(int(s), int(s) + size, w / total[s:s + size]) for s, w in zip(starts, raw)]


def spread_runs(n: int, total: int, run: int) -> np.ndarray:
    """Frame indices: about ``total`` of n frames in runs of ``run`` consecutive frames, the runs
    evenly spread (all n when n <= total). The shared scale and betas are fitted on them: single
    frames spread over a long sequence would be a different problem at every length (frames
    seconds apart, their temporal terms fighting the data: 22 / 50 / 71 iterations at 1,000 /
    3,000 / 6,000 frames), runs are the same problem as a window's at every length."""
    if n <= total:
        return np.arange(n)
    run = min(run, total)
    k = int(np.ceil(total / run))
    starts = np.round(np.linspace(0, n - run, k)).astype(int)
    return np.unique((starts[:, None] + np.arange(run)).reshape(-1))


def prior_centre(start: np.ndarray, mask: np.ndarray, moves: np.ndarray, times: np.ndarray,
                 max_gap_s: float) -> np.ndarray | None:
    """The pose prior's centre (3 O, N) rad, or None when no joint needs one.

    start (3 O, N): the start's local axis-angle of the O optimised joints (``initial_fit``, its
    limbs posed on the keypoints); mask (N, K) observed; moves (K, O): keypoint k moves with joint
    o; times (N,) s. A joint that moves a keypoint missing in frame t, with no frame within
    ``max_gap_s`` where all of its keypoints are seen (so no smoothing reaches it: low frame rates,
    long gaps), is centred there on the median of its start over the frames where they are: the
    dancer's typical pose of that joint. With a wrist missing, the elbow's bend is unobserved and a
    zero-centred prior straightens the arm (30-40 cm at the wrist for a bent elbow). Nearer frames
    bridge it through the temporal terms, from the fitted neighbours. A joint never fully seen keeps
    zero, as does every joint elsewhere; the centre only moves what the keypoints leave free."""
    m = moves.astype(np.float64)
    full = ((~mask).astype(np.float64) @ m) == 0  # (N, O): every keypoint that joint o moves is seen
    need = ~full & full.any(0)
    out = np.zeros_like(start)
    for o in np.flatnonzero(need.any(0)):
        ok, miss = np.flatnonzero(full[:, o]), np.flatnonzero(need[:, o])
        k = np.searchsorted(times[ok], times[miss])  # the next fully seen frame
        before = np.where(k > 0, times[miss] - times[ok[np.maximum(k - 1, 0)]], np.inf)
        after = np.where(k < len(ok), times[ok[np.minimum(k, len(ok) - 1)]] - times[miss], np.inf)
        far = miss[np.minimum(before, after) > max_gap_s]
        for d in range(3):
            out[3 * o + d, far] = np.median(start[3 * o + d, ok])
    out = np.where(np.isfinite(out), out, 0.0)
    return out if out.any() else None


MIN_PRIOR_FRAMES = 8  # frames a sequence needs before its own poses make a prior
MAX_PRIOR_WEIGHT = 100.0  # per cm^2 of noise: no unknown is held tighter than 0.1 rad (6 deg) by the sequence prior


def isolated_frames(times: np.ndarray, max_gap_s: float) -> np.ndarray:
    """Indices of the frames that no smoothing term reaches: in no triple of consecutive frames
    whose two intervals are both within ``max_gap_s`` (low frame rates, frames alone between gaps)."""
    n = len(times)
    if n < 3:
        return np.arange(n)
    from aistpp.pipeline.fit_smpl_solve import temporal_coefficients

    _, q = temporal_coefficients(times, max_gap_s)
    covered = np.zeros(n, bool)
    for k in range(3):
        covered[k:n - 2 + k] |= q > 0
    return np.flatnonzero(~covered)


def sequence_prior(body: np.ndarray, noise_var: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """The pose prior a sequence gives its own frames: centre (3 O,) the median of each unknown
    over the fitted frames ``body`` (3 O, N) rad, weight (3 O,) noise_var / its variance (robust:
    1.4826 MAD, squared), between ``floor`` (``FitWeights.pose``) and ``MAX_PRIOR_WEIGHT`` x
    noise_var (no unknown held to less than 0.1 rad: one the first fit kept still, e.g. by the
    twist prior, says nothing about how it moves). noise_var: the targets' noise variance per
    coordinate (cm^2), so the weight is a Gaussian prior's against the data term (cm^2); the fit
    passes 1, the noise every weight of ``FitWeights`` is set against (the residuals of frames
    fitted alone would say 0.26 cm^2 for 1 cm noise: ~50 unknowns absorb much of 51 coordinates).

    Why: a frame fitted alone (no neighbour within ``max_gap_s``) has 17 noisy points for ~50
    unknowns; the generic prior (zero-centred, weight ``FitWeights.pose``, a standard deviation
    of 1.3 rad for every joint) lets the spine bend and the collars turn to fit the noise (a
    frame at 1.5 fps: the chest 6-12 cm off). The dancer's own poses, pooled over the sequence,
    say how far each joint moves; the spread includes the first fit's own noise, so the prior
    errs on the weak side."""
    mu = np.median(body, axis=1)
    var = (1.4826 * np.median(np.abs(body - mu[:, None]), axis=1)) ** 2
    w = np.clip(noise_var / np.maximum(var, 1e-12), floor, MAX_PRIOR_WEIGHT * noise_var)
    return mu, w


def _fit(fast, targets, w: FitWeights, fit_betas, iterations, times, fps, cfg: Solve, on_stage) -> dict:
    import torch

    from aistpp.pipeline import fit_smpl_solve as fs
    from aistpp.pipeline.fit_smpl_init import initial_fit

    layout = fit_layout(fast.model, fast.joint_set)
    bm, k_pts = layout.model, layout.num_keypoints
    targets = np.asarray(targets, np.float64)
    if targets.ndim != 3 or targets.shape[1:] != (k_pts, 3):
        raise AistppError(f"expected '{layout.joint_set}' targets (N, {k_pts}, 3), got {targets.shape}")
    mask_np = np.isfinite(targets).all(-1)
    if not mask_np.any():
        raise AistppError("no finite 3D keypoint in the sequence")
    n = len(targets)
    t = frame_times(n, times, fps)
    cidx = fast.observed_index()
    J0, V0 = fast.rest()
    rest_pts = torch.cat([J0, V0]).cpu().numpy()
    init = initial_fit(targets, rest_pts[cidx], rest_pts[:fast.num_joints], t, layout)
    opt = list(layout.opt_joints)
    theta0 = np.zeros((layout.P, n))
    theta0[3:6] = init["trans"].T
    lim = joint_limits(layout)  # start inside the limits: their penalty is stiff, a poor model far outside
    theta0[6:] = np.clip(init["poses"][:, opt], lim[..., 0], lim[..., 1]).reshape(n, -1).T
    s0 = init["scaling"]
    solver = fs.Solver(fast, w, lim, _twist_axes(layout))
    kw = dict(dtype=fast.dtype, device=fast.device)
    moves = (solver.Wsub.sum(-1) > 0)[:, 1:].cpu().numpy()  # (K, O): keypoint c moves with joint o
    centre = prior_centre(theta0[6:], mask_np, moves, t, cfg.max_gap_s)

    def frames(idx, smooth: float = 1.0, prior: tuple | None = None) -> fs.Frames:
        c, q = fs.temporal_coefficients(t[idx], cfg.max_gap_s)
        q = q * smooth * (idx[2:] - idx[:-2] == 2)  # no smoothing across frames left out (the globals' runs)
        y = np.where(mask_np[idx, :, None], targets[idx], 0.0)
        mu = centre[:, idx] if prior is None and centre is not None else None if prior is None else \
            np.repeat(prior[0][:, None], len(idx), 1)
        pw = None if prior is None else np.repeat(prior[1][:, None], len(idx), 1)
        return fs.Frames(torch.as_tensor(y.transpose(1, 2, 0).copy(), **kw),
                         torch.as_tensor(mask_np[idx].T.astype(np.float64), **kw),
                         torch.as_tensor(init["root"][idx].transpose(1, 2, 0).copy(), **kw),
                         torch.as_tensor(c, **kw), torch.as_tensor(q, **kw),
                         None if mu is None else torch.as_tensor(np.ascontiguousarray(mu), **kw),
                         None if pw is None else torch.as_tensor(np.ascontiguousarray(pw), **kw))

    betas0 = np.zeros(fast.num_betas) if fit_betas else None
    wins = windows(n, cfg.window, cfg.overlap)
    solves = []
    if on_stage:
        on_stage("globals" if len(wins) > 1 else "all frames")
    gidx = np.arange(n) if len(wins) == 1 else spread_runs(n, cfg.globals_count(n), cfg.globals_run)
    res = _solve(solver, theta0[:, gidx], 0.0, betas0, frames, gidx, s0, True, iterations, cfg.tol)
    solves.append(_summary(res, len(gidx), "globals" if len(wins) > 1 else "all"))
    log_s, betas = res["log_s"], res["betas"]
    if len(wins) == 1:
        theta = res["theta"]
    else:
        theta = np.zeros_like(theta0)
        theta0[:, gidx] = res["theta"]  # the stage's frames are frames of the sequence: the windows start there
        step = _GlobalsStep(n, theta0.shape[0], 1 + (0 if betas is None else len(betas)))
        for k, (a, b, wt) in enumerate(wins):
            if on_stage:
                on_stage(f"window {k + 1}/{len(wins)}")
            idx = np.arange(a, b)
            start = theta0[:, idx].copy()
            if k > 0:  # the frames shared with the window before start from its solution
                pa = wins[k - 1][0]
                start[:, : wins[k - 1][1] - a] = prev[:, a - pa:]
            r = _solve(solver, start, log_s, betas, frames, idx, s0, False, iterations, cfg.tol)
            prev = r["theta"]
            theta[:, idx] += wt * r["theta"]
            solves.append(_summary(r, b - a, f"frames {a}-{b}"))
            step.add(fs.globals_response(solver, r["theta"], log_s, betas, frames(idx), s0), idx, wt)
        d = step.solve()
        if d is not None:
            theta -= step.Y @ d
            log_s += float(d[0])
            betas = None if betas is None else betas + d[1:]
    body_solves = solves if len(solves) == 1 else solves[1:]
    iso = isolated_frames(t, cfg.max_gap_s)
    if len(iso) and n >= MIN_PRIOR_FRAMES:
        # frames no smoothing reaches, again, with the pose prior the sequence itself gives (the data
        # term's unit is a 1 cm noise, as every weight of FitWeights assumes)
        prior = sequence_prior(theta[6:], 1.0, w.pose)
        if on_stage:
            on_stage("frames alone, the sequence's pose prior")
        r = _solve(solver, theta[:, iso], log_s, betas, lambda idx, smooth=1.0: frames(idx, smooth, prior), iso, s0,
                   False, iterations, cfg.tol)
        theta[:, iso] = r["theta"]
        solves.append(_summary(r, len(iso), "frames alone (the sequence's pose prior)"))
    converged = all(s["converged"] for s in solves)
    if not converged:
        warnings.warn(f"fit-smpl stopped at the iteration cap ({iterations}) before converging "
                      f"(tolerance {cfg.tol:g}); raise --iterations", NotConverged, stacklevel=3)
    loss = sum(s["loss"] * s["frames"] for s in body_solves) / sum(s["frames"] for s in body_solves)

    scale = s0 * float(np.exp(log_s))
    coco, root_rv = np.zeros((n, k_pts, 3)), np.zeros((n, 3))
    with torch.no_grad():  # window by window: memory does not grow with the length
        bt = None if betas is None else torch.as_tensor(betas, **kw)
        for a in range(0, n, cfg.window):
            idx = np.arange(a, min(n, a + cfg.window))
            th = torch.as_tensor(theta[:, idx], **kw)
            R16 = solver.rotations(th, frames(idx))
            pts = fast.forward_frames_last(solver._full(R16), bt)[cidx] * scale + th[3:6][None]
            coco[idx] = pts.permute(2, 0, 1).cpu().numpy()
            root_rv[idx] = _matrix_to_rotvec(R16[0].permute(2, 0, 1).cpu().numpy())
    poses = np.zeros((n, fast.num_joints, 3))
    poses[:, 0] = root_rv
    poses[:, opt] = theta[6:].T.reshape(n, len(opt), 3)
    poses = continuous_rotvec(poses)
    err = np.linalg.norm(coco - targets, axis=-1)
    err_masked = np.where(mask_np, err, np.nan)
    with warnings.catch_warnings():  # a joint missing in every frame: NaN error, no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        per_joint = np.nanmean(err_masked, axis=0)
    out = {
        "smpl_poses": poses.reshape(n, -1).astype(np.float32),
        "smpl_trans": theta[3:6].T.astype(np.float32),
        "smpl_scaling": np.array([scale], np.float32),
        "smpl_loss": float(np.nanmean(np.where(mask_np, err**2, np.nan)) / 3),
        "joint_error_cm": per_joint,
        "loss": float(loss),
        "converged": converged,
        "iterations": max(s["iterations"] for s in solves),
        "iterations_median": float(np.median([s["iterations"] for s in solves])),
        "solves": solves,
        "fps": float(1.0 / np.median(np.diff(t))) if n > 1 else float(fps),
    }
    if betas is not None:
        b = np.zeros(bm.shape_size, np.float32)
        b[: fast.num_betas] = betas
        out["smpl_betas"] = b
    return out


def _solve(solver, theta0, log_s, betas, frames, idx, s0, fit_globals, iterations, tol) -> dict:
    """Solve with the temporal terms at 1 % first (tolerance 1e-2: jitter in the per-frame
    initialisation, e.g. a nearly straight limb's twist, would otherwise start at a huge
    acceleration cost), then in full; the cap and the iterations count both."""
    from aistpp.pipeline.fit_smpl_solve import solve

    first = solve(solver, theta0, log_s, betas, frames(idx, 0.01), s0, fit_globals, max(1, iterations // 4), 1e-2)
    if first["iterations"] >= iterations:  # the cap (on the sum) is used up
        return dict(first, converged=False)
    res = solve(solver, first["theta"], first["log_s"], first["betas"], frames(idx), s0, fit_globals,
                iterations - first["iterations"], tol)
    res["iterations"] += first["iterations"]
    return res


class _GlobalsStep:
    """The globals' Gauss-Newton step over every frame from the windows' ``globals_response``:
    each window's gradient and reduced Hessian weighted by its share of the sequence (its blend
    weights' sum / n), the frames' responses ``Y`` (P, n, G) blended as the windows are."""

    def __init__(self, n: int, P: int, G: int):
        self.n, self.g, self.S, self.Y = n, np.zeros(G), np.zeros((G, G)), np.zeros((P, n, G))

    def add(self, resp: dict, idx: np.ndarray, wt: np.ndarray) -> None:
        share = wt.sum() / self.n
        self.g += share * resp["g"]
        self.S += share * resp["S"]
        self.Y[:, idx] += wt[:, None] * resp["Y"]

    def solve(self) -> np.ndarray | None:
        """(G,) the step, or None where S is not positive definite (no step)."""
        try:
            np.linalg.cholesky(self.S)
        except np.linalg.LinAlgError:
            return None
        return -np.linalg.solve(self.S, self.g)


def _summary(res: dict, frames: int, what: str) -> dict:
    return {"what": what, "frames": frames, "iterations": res["iterations"], "converged": res["converged"],
            "loss": res["loss"]}


def _twist_axes(layout: FitLayout | None = None) -> np.ndarray:
    """(O, 3): the twist component of each optimised joint (the body model's ``twist_axes``;
    SMPL: y for legs, x for arms, none else)."""
    layout = layout or fit_layout()
    axes = np.zeros((len(layout.opt_joints), 3))
    for k, j in enumerate(layout.opt_joints):
        axis = layout.model.twist_axes.get(layout.model.joint_names[j])
        if axis is not None:
            axes[k, axis] = 1.0
    return axes


def _matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_rotvec()


# ---- per-sequence job and batch ------------------------------------------------------
class FitSmplConfig(RunOptions):
    """Options of ``aistpp fit-smpl`` (plus the shared runner options)."""

    anno_dir: Path
    smpl_dir: Path
    save_dir: Path
    gender: Literal["neutral", "male", "female"] = Field(
        "neutral", description=f"Which {SMPL.file_name.replace('{GENDER}', '<GENDER>')}.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to fit (cuda fails clearly when absent).")
    keypoints: Literal["optim", "raw"] = Field("optim", description="Fit keypoints3d_optim, or the plain "
                                               "triangulation keypoints3d (raw).")
    fit_betas: bool = Field(False, description=f"Also fit body shape; writes smpl_betas ({SMPL.shape_size},). "
                            "Else betas = 0, as in AIST++.")
    iterations: int = Field(default=500, ge=1, le=100_000,
                            description="Cap on solver steps per solve; the fit stops earlier once converged "
                            "(relative objective change < 1e-5) and warns when it hits the cap.")
    fps: float | None = Field(default=None, gt=0, le=10_000, description="Frame rate of the keypoints (uniform).",
                              json_schema_extra={"unset": "their timestamps (keypoints3d, else keypoints2d/<seq>.pkl), "
                                                 "else 60"})
    sequence_names: list[str] | None = None
    body_model: str = Field(  # a name of aistpp.core.body_models
        "smpl", description="Body model: smpl (the --gender file above), smplh or smplx (SMPLH_ / SMPLX_<GENDER>.npz or "
        ".pkl in --smpl-dir): the body fitted as SMPL's, then wrists and fingers where keypoints3d_full holds "
        "WholeBody hand points; the motion adds left_hand_pose, right_hand_pose, betas and, for smplx, jaw_pose, "
        "leye_pose, reye_pose and expression (zero).")
    weights: FitWeights = FitWeights()
    solve: Solve = Solve()
    feet: bool = Field(True, description="With heel and toe keypoints (keypoints3d_full: HALPE-26, BODY_25, "
                       "WholeBody-133, BlazePose-33), fit the ankles and feet too, a planted foot held in place; --no-feet: the "
                       "body fit only.")
    feet_weights: FeetWeights = FeetWeights()


def resolve_device(device: str) -> str:
    """``auto`` -> cuda when available else cpu; ``cuda`` without CUDA is a user error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise AistppError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    if device == "cuda":
        try:  # reported available is not usable (driver, a CPU-only build): fail here, before any job
            torch.empty(1, device="cuda")
        except (RuntimeError, AssertionError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AistppError(f"--device cuda: CUDA is reported but cannot be used ({first}); "
                              "use --device cpu") from None
    return device


@functools.lru_cache(maxsize=4)
def _fast_model(smpl_dir: str, gender: str, device: str, body_model: str = "smpl", joint_set: str | None = None):
    """The poser of ``body_model`` for ``joint_set`` keypoints (default: the first it observes; SMPL-H /
    SMPL-X: their body seen as SMPL's skeleton, ``BodyModel.poser``)."""
    from aistpp.core.body_models import get_body_model

    bm = get_body_model(body_model)
    return bm.poser(bm.load_data(bm.require_file(smpl_dir, gender)), joint_set=joint_set or bm.default_joint_set,
                    device=device)


DEFAULT_FPS = 60.0


def timestamps_to_seconds(ts: np.ndarray, path: Path) -> np.ndarray | None:
    """Timestamps (N,) of a keypoints file -> seconds: microseconds as in the release; plain frame
    indices (steps of exactly 1, as older synthetic data wrote) -> None (use the frame rate)."""
    ts = np.asarray(ts, np.float64)
    if len(ts) < 2:
        return None
    steps = np.diff(ts)
    if not np.isfinite(ts).all() or not (steps > 0).all():
        raise AistppError("'timestamps' must increase strictly from frame to frame", path)
    if np.all(steps == 1):
        return None
    if np.median(steps) < 100:  # above 10 kHz: not microseconds
        raise AistppError(f"'timestamps' step {np.median(steps):g} is not in microseconds "
                          "(e.g. 16667 at 60 fps)", path)
    return (ts - ts[0]) / 1e6


def sequence_times(name: str, data: dict, config: FitSmplConfig) -> tuple[np.ndarray | None, float, str]:
    """(times (N,) s or None, fps, source): --fps wins; else the timestamps of the keypoints3d
    file, else those of keypoints2d/<name>.pkl (same frame count), else 60 fps."""
    from aistpp.core import formats
    from aistpp.core.dataset import AnnotationLayout

    n = len(data["keypoints3d"])
    if config.fps is not None:
        return None, config.fps, "--fps"
    layout = AnnotationLayout(anno_dir=config.anno_dir)
    if "timestamps" in data:
        path = layout.file("keypoints3d", name)
        ts = np.asarray(data["timestamps"])
        if ts.shape != (n,):
            raise AistppError(f"'timestamps' has shape {ts.shape}, expected ({n},)", path)
        return timestamps_to_seconds(ts, path), DEFAULT_FPS, "keypoints3d timestamps"
    path2d = layout.file("keypoints2d", name)
    if path2d.is_file():
        ts = formats.load_keypoints2d(path2d)["timestamps"]
        if len(ts) == n:
            t = timestamps_to_seconds(ts, path2d)
            return t, DEFAULT_FPS, "keypoints2d timestamps" if t is not None else "default"
    return None, DEFAULT_FPS, "default"


def fit_smpl_sequence(name: str, config: FitSmplConfig) -> dict:
    """Job: keypoints3d/<name>.pkl -> <save_dir>/<name>.pkl; returns per-sequence metrics
    (``converged``, ``iterations``, ``loss`` among them; ``warning`` when the cap was hit)."""
    from aistpp.core import formats
    from aistpp.core.dataset import AnnotationLayout

    start = time.perf_counter()
    layout = AnnotationLayout(anno_dir=config.anno_dir)
    path = layout.file("keypoints3d", name)
    if not path.is_file():
        raise AistppError("3D keypoints not found (run 'aistpp triangulate' first)", path)
    data = formats.load_keypoints3d(path)
    key = "keypoints3d_optim" if config.keypoints == "optim" and "keypoints3d_optim" in data else "keypoints3d"
    targets = data[key]
    from aistpp.core.body_models import get_body_model

    # 'joint_set' names the set of 'keypoints3d_full' when that is there (the released keys are then
    # COCO-17, as in keypoints2d); without it, the set of the keypoints3d arrays themselves.
    named = data.get("joint_set") if isinstance(data.get("joint_set"), str) else None
    joint_set = None if "keypoints3d_full" in data else named  # None: the model's default set
    observes = get_body_model(config.body_model).observes
    if joint_set is not None and joint_set not in observes:
        raise AistppError(f"the keypoints are '{joint_set}', which the {config.body_model} body model does not "
                          f"observe (it observes {', '.join(observes)})", path)
    fast = _fast_model(str(config.smpl_dir), config.gender, resolve_device(config.device), config.body_model,
                       joint_set)
    if targets.shape[1] != len(fast.observed_index()):
        raise AistppError(f"'{key}' has {targets.shape[1]} joints, expected {fast.joint_set}", path)
    times, fps, time_source = sequence_times(name, data, config)
    report_stage(name, "initialise")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NotConverged)
            res = fit_smpl(fast, targets, config.weights, config.fit_betas, config.iterations, times=times, fps=fps,
                           solve=config.solve, on_stage=lambda stage: report_stage(name, f"fit {stage}"))
    except AistppError as exc:
        if exc.path is None:
            raise AistppError(f"'{key}': {exc} (re-run triangulation or drop the sequence)", path) from None
        raise
    feet_info = {}
    if config.feet:
        feet_info = refine_feet(res, data, targets, times, fps, config, path)
    extra = {"smpl_betas": res["smpl_betas"]} if "smpl_betas" in res else {}
    if not all(np.isfinite(res[k]).all() for k in ("smpl_poses", "smpl_trans", "smpl_scaling")):
        raise AistppError("the fit diverged (NaN or inf poses): nothing was written", path)  # never replace a result
    from aistpp.core.body import motion_extra  # the motion records its body model: smpl_gender, body_model

    from aistpp.core.body_models import get_body_model

    kind = get_body_model(config.body_model).name
    model_keys, hand_info = {}, {}
    if kind in ("smplh", "smplx"):  # stage two: wrists and fingers (other models: the body fit is the result)
        from aistpp.pipeline.fit_smplx import fit_extras, hand_targets, load_model

        report_stage(name, "fit hands")
        fk = load_model(str(config.smpl_dir), kind, config.gender, resolve_device(config.device))[1]
        model_keys, hand_info = fit_extras(kind, fk, res, hand_targets(data, config.keypoints, path))
        res["smpl_poses"] = model_keys.pop("smpl_poses")
    report_stage(name, "write")
    formats.save_motion(Path(config.save_dir) / f"{name}.pkl", res["smpl_poses"], res["smpl_trans"],
                        res["smpl_scaling"], res["smpl_loss"], **extra, **model_keys,
                        **dict(motion_extra(config.gender, fast.model), body_model=kind))
    errs = res["joint_error_cm"]
    info = {
        "frames": len(targets),
        "fps": res["fps"],
        "time_source": time_source,
        "error_cm": float(np.nanmean(errs)),
        "converged": bool(res["converged"]),
        "iterations": int(res["iterations"]),  # the most any solve (window) took
        "iterations_median": res["iterations_median"],  # over the solves (the globals' and each window's)
        "loss": res["loss"],  # the objective per frame as the solves ended (before the windows' last scale step)
        "solves": res["solves"],
        "fit_s": time.perf_counter() - start,
        "scaling": float(res["smpl_scaling"][0]),
    }
    if "hand_error_cm" in hand_info:
        info["hand_frames"] = hand_info["hand_frames"]
        info["hand_error_cm"] = float(np.nanmean(hand_info["hand_error_cm"]))
    if any(issubclass(w.category, NotConverged) for w in caught):
        info["warnings"] = [f"stopped at the iteration cap ({config.iterations}) before converging (raise --iterations)"]
    from aistpp.core.joint_sets import REGISTRY

    info.update({f"error_{j}": float(e) for j, e in zip(REGISTRY[fast.joint_set].names, errs)})
    return info | feet_info


def _coco_errors(res: dict, targets: np.ndarray, config: FitSmplConfig) -> None:
    """Set ``smpl_loss`` and ``joint_error_cm`` of ``res`` from its poses (as ``fit_smpl`` does)."""
    import torch

    fast = _fast_model(str(config.smpl_dir), config.gender, resolve_device(config.device), config.body_model)
    kw = dict(dtype=fast.dtype, device=fast.device)
    betas = res.get("smpl_betas")
    with torch.no_grad():
        pts = fast.forward(torch.as_tensor(res["smpl_poses"], **kw), torch.as_tensor(res["smpl_trans"], **kw),
                           float(res["smpl_scaling"][0]),
                           None if betas is None else torch.as_tensor(betas[: fast.num_betas], **kw))
    err = np.linalg.norm(pts[:, fast.observed_index()].cpu().numpy() - targets, axis=-1)
    mask = np.isfinite(err)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res["joint_error_cm"] = np.nanmean(np.where(mask, err, np.nan), axis=0)
        res["smpl_loss"] = float(np.nanmean(np.where(mask, err**2, np.nan)) / 3)


@functools.lru_cache(maxsize=4)
def _feet_model(smpl_dir: str, gender: str, device: str, body_model: str = "smpl"):
    from aistpp.core.body_models import get_body_model
    from aistpp.pipeline.fit_smpl_feet import feet_model

    bm = get_body_model(body_model)
    return feet_model(bm.load_data(bm.require_file(smpl_dir, gender)), bm, device=device)


def refine_feet(res: dict, data: dict, targets: np.ndarray, times: np.ndarray | None, fps: float,
                config: FitSmplConfig, path: Path) -> dict:
    """With heel and toe keypoints in ``data`` (keypoints3d_full(_optim) + joint_set), refine the
    legs of the body fit ``res`` in place (``fit_smpl_feet.fit_feet``); returns report metrics
    (empty when the keypoints have no feet: the body fit is then the result, unchanged)."""
    from aistpp.core.joint_sets import REGISTRY
    from aistpp.pipeline.fit_smpl_feet import fit_feet, foot_targets

    key = "keypoints3d_full_optim" if config.keypoints == "optim" and "keypoints3d_full_optim" in data \
        else "keypoints3d_full"
    if key not in data or data.get("joint_set") not in REGISTRY:
        return {}
    if config.body_model != "smpl":  # the feet stage poses SMPL's legs; SMPL-H / SMPL-X keep their body fit's
        return {"feet": f"not fitted (the feet stage is for smpl; {config.body_model}'s legs are the body fit's)"}
    model = _feet_model(str(config.smpl_dir), config.gender, resolve_device(config.device), config.body_model)
    feet = foot_targets(data[key], data["joint_set"], model.model)
    if feet is None or not np.isfinite(feet).all(-1).any():
        return {}
    if len(feet) != len(targets):
        raise AistppError(f"'{key}' has {len(feet)} frames, the COCO-17 keypoints {len(targets)}", path)
    report_stage(path.stem, "fit feet")
    t = frame_times(len(targets), times, fps)
    betas = res.get("smpl_betas")
    out = fit_feet(model, res["smpl_poses"], res["smpl_trans"], float(res["smpl_scaling"][0]), targets, feet, t,
                   betas=None if betas is None else betas[: model.num_betas], weights=config.feet_weights,
                   max_gap_s=config.solve.max_gap_s)
    res["smpl_poses"] = out["smpl_poses"]
    _coco_errors(res, targets, config)  # the legs moved: the COCO-17 errors of the result
    return {"feet_error_cm": float(np.nanmean(out["foot_error_cm"])), "planted_pct": 100.0 * float(out["planted"].mean()),
            "feet_converged": bool(out["converged"])}


def run_fit_smpl(config: FitSmplConfig) -> RunReport:
    """Fit every selected sequence that has 3D keypoints."""
    from aistpp.core.dataset import AISTDataset

    from aistpp.core.body_models import get_body_model

    bm = get_body_model(config.body_model)
    if not Path(config.smpl_dir).exists():
        raise AistppError(f"{bm.title} folder not found (--smpl-dir)", config.smpl_dir)
    path = bm.require_file(config.smpl_dir, config.gender)
    if bm.name != "smpl":  # found and validated here, once: a bad file is one error, not one per sequence
        bm.load_data(path)
    if not (config.executor == "ray" and config.device == "cuda"):
        # on a Ray cluster the GPUs are on the workers, not necessarily here: each task checks
        config = config.model_copy(update={"device": resolve_device(config.device)})
    ds = AISTDataset(config.anno_dir)
    kp_dir = ds.layout.folder("keypoints3d")
    available = sorted(p.stem for p in kp_dir.glob("*.pkl"))
    names = ds.select(config.sequence_names, config.split, config.include_ignored,
                      None if config.split else available, available_from=kp_dir)
    from aistpp.core.formats import ensure_dir

    ensure_dir(config.save_dir)
    job = functools.partial(fit_smpl_sequence, config=config)
    return run_jobs(job, names, config, outputs=lambda n: [Path(config.save_dir) / f"{n}.pkl"], title="fit-smpl")
