"""SMPL motion from COCO-17 3D keypoints: fast, robust, all frames at once.

``fit_smpl(fast, targets)`` is the array function: closed-form initialisation
(``fit_smpl_init``), then L-BFGS (strong Wolfe line search) over every frame jointly on

    robust (Charbonnier) joint error, NaN targets masked
    + joint-acceleration smoothness + rotation smoothness
    + a small pose prior + soft joint limits (hinge knees/elbows, no impossible twists)
    (+ a shape prior when betas are fitted).

Only the 24 joints and the 5 face vertices are posed (``aistpp.core.fast_smpl``). Axis-angle
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

from aistpp.core.joints import COCO17, NUM_SMPL
from aistpp.core.runner import RunOptions, RunReport, report_stage, run_jobs
from aistpp.errors import AistppError

# Joints whose rotation COCO-17 observes (directly or through the chain); the rest
# (ankles, feet, wrists, hands) move no COCO keypoint and stay at zero.
OPT_JOINTS = (1, 2, 3, 4, 5, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19)
# Soft joint limits (rad) on the local axis-angle components (x, y, z) of the left side;
# right joints mirror y and z. Generous anatomical ranges; hinges nearly pure.
_LEFT_LIMITS = {
    1: ((-2.6, 0.7), (-0.9, 0.9), (-0.6, 1.5)),   # hip: flex/extend, twist, abduct
    4: ((-0.05, 2.7), (-0.15, 0.15), (-0.15, 0.15)),  # knee: hinge about x, flexes +
    16: ((-1.6, 1.6), (-1.8, 1.2), (-1.7, 1.7)),  # shoulder
    18: ((-0.8, 0.8), (-2.8, 0.05), (-0.15, 0.15)),  # elbow: hinge about y, flexes -
    13: ((-0.6, 0.6), (-0.6, 0.6), (-0.6, 0.6)),  # collar
}
_CENTRE_LIMITS = {3: 0.7, 6: 0.6, 9: 0.6, 12: 0.9, 15: 0.9}
_MIRROR = {1: 2, 4: 5, 16: 17, 18: 19, 13: 14}


def joint_limits() -> np.ndarray:
    """(len(OPT_JOINTS), 3, 2) rad: low/high per axis of each optimised joint."""
    lim = {}
    for j, rng in _LEFT_LIMITS.items():
        lim[j] = np.array(rng, float)
        m = np.array(rng, float)
        m[1:] = -m[1:, ::-1]
        lim[_MIRROR[j]] = m
    for j, r in _CENTRE_LIMITS.items():
        lim[j] = np.array([[-r, r]] * 3)
    return np.stack([lim[j] for j in OPT_JOINTS])


class FitWeights(BaseModel):
    """Loss weights (data term in cm^2, rotations in rad)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    robust_cm: float = Field(5.0, gt=0, le=1e4)  # Charbonnier scale: quadratic below, linear above
    accel: float = Field(0.05, ge=0, le=1e6)  # joint acceleration (cm / frame^2)^2
    rot_accel: float = Field(2.0, ge=0, le=1e6)  # rotation-matrix acceleration
    pose: float = Field(0.3, ge=0, le=1e6)  # squared axis-angle of body joints
    twist: float = Field(3.0, ge=0, le=1e6)  # extra on limb twist components
    limits: float = Field(1000.0, ge=0, le=1e9)  # squared excess over joint limits
    betas: float = Field(10.0, ge=0, le=1e6)


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
             iterations: int = 150, init_iterations: int = 20, on_stage=None, threads: int | None = 1) -> dict:
    """Fit SMPL motion to COCO-17 targets.

    fast: an ``aistpp.core.fast_smpl.FastSMPL``; targets (N, 17, 3) cm (NaN = missing).
    Returns ``smpl_poses`` (N, 72) rad, ``smpl_trans`` (N, 3) cm, ``smpl_scaling`` (1,),
    ``smpl_betas`` (10,) when ``fit_betas``, ``smpl_loss`` (mean squared coordinate error,
    cm^2), ``joint_error_cm`` (17,) mean distance per COCO joint, ``iterations``.
    ``threads``: torch intra-op threads during the fit (default 1: the tensors are small, so
    extra threads mostly spin; use the runner's workers to use more cores).
    """
    import torch

    prev = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _fit(fast, targets, weights, fit_betas, iterations, init_iterations, on_stage)
    finally:
        torch.set_num_threads(prev)


def _fit(fast, targets, weights, fit_betas, iterations, init_iterations, on_stage) -> dict:
    import torch

    from aistpp.core.fast_smpl import _mm, axis_angle_to_matrix_fl
    from aistpp.pipeline.fit_smpl_init import initial_fit

    w = weights or FitWeights()
    targets = np.asarray(targets, np.float64)
    if targets.ndim != 3 or targets.shape[1:] != (len(COCO17), 3):
        raise AistppError(f"expected COCO-17 targets (N, 17, 3), got {targets.shape}")
    mask_np = np.isfinite(targets).all(-1)
    if not mask_np.any():
        raise AistppError("no finite 3D keypoint in the sequence")
    n = len(targets)
    dt, dev = fast.dtype, fast.device
    cidx = fast.coco_index()
    J0, V0 = fast.rest()
    rest_pts = torch.cat([J0, V0]).cpu().numpy()
    init = initial_fit(targets, rest_pts[cidx], rest_pts[:NUM_SMPL])

    # Optimisation runs with frames last ((..., N) tensors): 3x3 products become elementwise.
    tt = functools.partial(torch.as_tensor, dtype=dt, device=dev)
    y = tt(np.where(mask_np[..., None], targets, 0.0).transpose(1, 2, 0).copy())  # (17, 3, N)
    mask = tt(mask_np.T.copy())  # (17, N)
    root0 = tt(init["root"].transpose(1, 2, 0).copy())  # (3, 3, N)
    opt = list(OPT_JOINTS)
    body = tt(init["poses"][:, opt].transpose(1, 2, 0).copy()).requires_grad_(True)  # (J', 3, N)
    droot = torch.zeros(3, n, dtype=dt, device=dev, requires_grad=True)
    trans = tt(init["trans"].T.copy()).requires_grad_(True)  # (3, N)
    s0 = init["scaling"]
    log_s = torch.zeros((), dtype=dt, device=dev, requires_grad=True)
    betas = torch.zeros(fast.num_betas, dtype=dt, device=dev, requires_grad=True) if fit_betas else None
    lim = tt(joint_limits())[..., None]  # (J', 3, 2, 1)
    twist_axis = torch.zeros(len(opt), 3, 1, dtype=dt, device=dev)
    for k, j in enumerate(opt):  # limb twist: x for arms (along x), y for legs (along y)
        if j in (1, 2, 4, 5):
            twist_axis[k, 1] = 1.0
        elif j in (16, 17, 18, 19):
            twist_axis[k, 0] = 1.0
    slot = {j: k for k, j in enumerate(opt)}
    eye = torch.eye(3, dtype=dt, device=dev)[:, :, None].expand(3, 3, n)
    c2 = w.robust_cm**2
    denom = float(mask_np.sum())

    def rotations() -> torch.Tensor:
        body_R = axis_angle_to_matrix_fl(body).unbind(0)
        root = _mm(root0, axis_angle_to_matrix_fl(droot))
        return torch.stack([root] + [body_R[slot[j]] if j in slot else eye for j in range(1, NUM_SMPL)])

    def points(R) -> torch.Tensor:
        return fast.forward_frames_last(R, betas) * (s0 * torch.exp(log_s)) + trans[None]  # (P, 3, N)

    def loss_fn() -> torch.Tensor:
        R = rotations()
        pts = points(R)
        d2 = ((pts[cidx] - y) ** 2).sum(1)  # (17, N)
        data = (c2 * (torch.sqrt(1 + d2 / c2) - 1) * mask).sum() / denom * len(COCO17)
        total = data
        if n > 2:
            acc = pts[..., 2:] - 2 * pts[..., 1:-1] + pts[..., :-2]
            racc = R[..., 2:] - 2 * R[..., 1:-1] + R[..., :-2]
            total = total + (w.accel * (acc**2).sum() + w.rot_accel * (racc**2).sum()) / n
        excess = torch.relu(body - lim[:, :, 1]) + torch.relu(lim[:, :, 0] - body)
        prior = w.pose * (body**2).sum() + w.twist * ((body * twist_axis) ** 2).sum() + w.limits * (excess**2).sum()
        total = total + prior / n
        if betas is not None:
            total = total + w.betas * (betas**2).sum()
        return total

    def run(params, max_iter) -> int:
        optim = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, history_size=50,
                                  tolerance_grad=1e-7, tolerance_change=1e-10, line_search_fn="strong_wolfe")

        def closure():
            optim.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss

        optim.step(closure)
        return int(optim.state[optim._params[0]]["n_iter"])

    its = []
    if on_stage:
        on_stage("root")
    its.append(run([droot, trans, log_s], init_iterations))
    if on_stage:
        on_stage("body")
    its.append(run([droot, trans, log_s, body] + ([betas] if betas is not None else []), iterations))

    with torch.no_grad():
        R = rotations()
        coco = points(R)[cidx].permute(2, 0, 1).cpu().numpy()  # (N, 17, 3)
        root_rv = _matrix_to_rotvec(R[0].permute(2, 0, 1).cpu().numpy())
    poses = np.zeros((n, NUM_SMPL, 3))
    poses[:, 0] = root_rv
    poses[:, opt] = body.detach().permute(2, 0, 1).cpu().numpy()
    poses = continuous_rotvec(poses)
    err = np.linalg.norm(coco - targets, axis=-1)
    err_masked = np.where(mask_np, err, np.nan)
    with warnings.catch_warnings():  # a joint missing in every frame: NaN error, no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        per_joint = np.nanmean(err_masked, axis=0)
    out = {
        "smpl_poses": poses.reshape(n, 72).astype(np.float32),
        "smpl_trans": trans.detach().T.cpu().numpy().astype(np.float32),
        "smpl_scaling": np.array([s0 * float(torch.exp(log_s.detach()))], np.float32),
        "smpl_loss": float(np.nanmean(np.where(mask_np, err**2, np.nan)) / 3),
        "joint_error_cm": per_joint,
        "iterations": its,
    }
    if betas is not None:
        b = np.zeros(10, np.float32)
        b[: fast.num_betas] = betas.detach().cpu().numpy()
        out["smpl_betas"] = b
    return out


def _matrix_to_rotvec(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_rotvec()


# ---- per-sequence job and batch ------------------------------------------------------
class FitSmplConfig(RunOptions):
    """Options of ``aistpp fit-smpl`` (plus the shared runner options)."""

    anno_dir: Path
    smpl_dir: Path
    save_dir: Path
    gender: Literal["neutral", "male", "female"] = "neutral"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    keypoints: Literal["optim", "raw"] = "optim"
    fit_betas: bool = False
    iterations: int = Field(150, ge=1, le=100_000)  # the CLI's --iterations min=1, for TOML too
    sequence_names: list[str] | None = None
    weights: FitWeights = FitWeights()


def resolve_device(device: str) -> str:
    """``auto`` -> cuda when available else cpu; ``cuda`` without CUDA is a user error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise AistppError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return device


@functools.lru_cache(maxsize=4)
def _fast_model(smpl_dir: str, gender: str, device: str):
    from aistpp.core.body import load_smpl_data, smpl_model_path
    from aistpp.core.fast_smpl import FastSMPL

    path = smpl_model_path(smpl_dir, gender)
    if not path.is_file():
        raise AistppError(f"SMPL model file not found (put SMPL_{gender.upper()}.pkl in --smpl-dir)", path)
    return FastSMPL(load_smpl_data(path), device=device)


def fit_smpl_sequence(name: str, config: FitSmplConfig) -> dict:
    """Job: keypoints3d/<name>.pkl -> <save_dir>/<name>.pkl; returns per-sequence metrics."""
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
    if targets.shape[1] != len(COCO17):
        raise AistppError(f"'{key}' has {targets.shape[1]} joints, expected COCO-17", path)
    fast = _fast_model(str(config.smpl_dir), config.gender, resolve_device(config.device))
    report_stage(name, "initialise")
    try:
        res = fit_smpl(fast, targets, config.weights, config.fit_betas, config.iterations,
                       on_stage=lambda stage: report_stage(name, f"fit {stage}"))
    except AistppError as exc:
        if exc.path is None:
            raise AistppError(f"'{key}': {exc} (re-run triangulation or drop the sequence)", path) from None
        raise
    extra = {"smpl_betas": res["smpl_betas"]} if "smpl_betas" in res else {}
    if not all(np.isfinite(res[k]).all() for k in ("smpl_poses", "smpl_trans", "smpl_scaling")):
        raise AistppError("the fit diverged (NaN or inf poses): nothing was written", path)  # never replace a result
    report_stage(name, "write")
    from aistpp.core.body import motion_extra  # the motion records its body model: smpl_gender, body_model

    formats.save_motion(Path(config.save_dir) / f"{name}.pkl", res["smpl_poses"], res["smpl_trans"],
                        res["smpl_scaling"], res["smpl_loss"], **extra, **motion_extra(config.gender))
    errs = res["joint_error_cm"]
    info = {
        "frames": len(targets),
        "error_cm": float(np.nanmean(errs)),
        "iterations": int(sum(res["iterations"])),
        "iterations_root": int(res["iterations"][0]),  # stage 1: orientation, translation, scale
        "iterations_body": int(res["iterations"][1]),  # stage 2: everything
        "fit_s": time.perf_counter() - start,
        "scaling": float(res["smpl_scaling"][0]),
    }
    info.update({f"error_{j}": float(e) for j, e in zip(COCO17, errs)})
    return info


def run_fit_smpl(config: FitSmplConfig) -> RunReport:
    """Fit every selected sequence that has 3D keypoints."""
    from aistpp.core.dataset import AISTDataset

    from aistpp.core.body import smpl_model_path

    if not Path(config.smpl_dir).exists():
        raise AistppError("SMPL folder not found (--smpl-dir)", config.smpl_dir)
    model_path = smpl_model_path(config.smpl_dir, config.gender)
    if not model_path.is_file():
        raise AistppError(f"SMPL model file not found (put SMPL_{config.gender.upper()}.pkl in --smpl-dir)", model_path)
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
