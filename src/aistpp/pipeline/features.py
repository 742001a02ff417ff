"""Motion features and dance-generation metrics from SMPL joints.

Joints: the 24 SMPL joints in the dataset's world, converted to metres (cm / 100), +y up.
All features are vectorised over frames; ``fps`` sets the time step (dt = 1 / fps).

Kinetic features (72 = 24 joints x 3), per joint, averaged over the sequence:
  1. horizontal kinetic energy: mean over frames of 0.5 |v_xz|^2 (unit mass, m^2/s^2);
  2. vertical kinetic energy: mean over frames of 0.5 v_y^2;
  3. energy expenditure: mean over frames of |a| |v| (m^2/s^3), the rate of work per unit mass
     when force and motion are aligned.
  v: central differences of positions (one-sided at the ends) times fps; a: the three-point
  second difference times fps^2 (the end frames repeat their neighbours').

Geometric features (``GEOMETRIC``, Laban-style relations between body parts): for each, the
fraction of frames in which it holds. Lengths are relative to the sequence's median
shoulder-to-hip length (``torso``), so the features do not depend on body size; "forward" is
the direction the pelvis faces (the normal of the hips' line, horizontal).

Metrics between a predicted and a ground-truth set of sequences (one feature vector each):
  - normalisation: both sets are z-scored with the ground truth's per-dimension mean and
    standard deviation (a dimension with std < 1e-8 is only centred);
  - FID: the Fréchet distance between Gaussians fitted to the two normalised sets,
    |mu_p - mu_g|^2 + tr(S_p + S_g - 2 (S_p S_g)^(1/2)) (covariances with N - 1; the trace of
    the square root from the eigenvalues of S_p^(1/2) S_g S_p^(1/2), finite for singular
    covariances); FID_k on kinetic, FID_g on geometric features;
  - diversity: the mean Euclidean distance between all pairs of distinct sequences of a set,
    in the same normalised space (reported for both sets).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from pydantic import Field

from aistpp.core import formats
from aistpp.core.joints import SMPL24
from aistpp.core.runner import RunOptions, RunReport, run_jobs
from aistpp.errors import AistppError

_J = {n: i for i, n in enumerate(SMPL24)}


def _d(x: np.ndarray, fps: float) -> np.ndarray:
    """Time derivative along axis 0 (central differences, one-sided at the ends)."""
    if len(x) < 2:
        return np.zeros_like(x)
    return np.gradient(x, 1.0 / fps, axis=0)


def _d2(x: np.ndarray, fps: float) -> np.ndarray:
    """Second time derivative along axis 0: the three-point second difference (ends repeat
    their neighbour's), more accurate than differentiating twice."""
    if len(x) < 3:
        return np.zeros_like(x)
    a = np.empty_like(x)
    a[1:-1] = (x[2:] - 2.0 * x[1:-1] + x[:-2]) * fps * fps
    a[0], a[-1] = a[1], a[-2]
    return a


def kinetic_features(joints: np.ndarray, fps: float = 60.0) -> np.ndarray:
    """(N, 24, 3) metres -> (72,): per joint [horizontal KE, vertical KE, energy expenditure]."""
    v = _d(joints, fps)
    a = _d2(joints, fps)
    ke_h = 0.5 * (v[..., 0] ** 2 + v[..., 2] ** 2)
    ke_v = 0.5 * v[..., 1] ** 2
    power = np.linalg.norm(a, axis=-1) * np.linalg.norm(v, axis=-1)
    return np.stack([ke_h.mean(0), ke_v.mean(0), power.mean(0)], axis=1).reshape(-1)


KINETIC = tuple(f"{j}_{k}" for j in SMPL24 for k in ("ke_horizontal", "ke_vertical", "energy_expenditure"))


def _geometric_terms(joints: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    P = joints
    j = lambda name: P[:, _J[name]]  # noqa: E731
    mid_sh = 0.5 * (j("left_shoulder") + j("right_shoulder"))
    mid_hip = 0.5 * (j("left_hip") + j("right_hip"))
    torso = float(np.median(np.linalg.norm(mid_sh - mid_hip, axis=-1))) or 1.0
    up = np.array([0.0, 1.0, 0.0])
    across = j("left_hip") - j("right_hip")
    forward = np.cross(across, up)  # left x up = forward for a y-up, right-handed body
    forward /= np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
    floor = float(np.min(P[:, [_J["left_foot"], _J["right_foot"]], 1]))
    speed = np.linalg.norm(_d(mid_hip, fps), axis=-1) / torso  # torsos per second

    def angle(a: str, b: str, c: str) -> np.ndarray:  # inner angle at b, degrees
        u, w = j(a) - j(b), j(c) - j(b)
        cos = (u * w).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1), 1e-9)
        return np.degrees(np.arccos(np.clip(cos, -1, 1)))

    spine = mid_sh - mid_hip
    lean = np.degrees(np.arccos(np.clip(spine[:, 1] / np.maximum(np.linalg.norm(spine, axis=-1), 1e-9), -1, 1)))
    ahead = lambda a, b: ((j(a) - j(b)) * forward).sum(-1) / torso  # noqa: E731
    height = lambda a: (j(a)[:, 1] - floor) / torso  # noqa: E731
    return {
        "left_hand_above_head": j("left_wrist")[:, 1] > j("head")[:, 1],
        "right_hand_above_head": j("right_wrist")[:, 1] > j("head")[:, 1],
        "left_hand_above_shoulder": j("left_wrist")[:, 1] > j("left_shoulder")[:, 1],
        "right_hand_above_shoulder": j("right_wrist")[:, 1] > j("right_shoulder")[:, 1],
        "hands_apart": np.linalg.norm(j("left_wrist") - j("right_wrist"), axis=-1) > 2.0 * torso,
        "hands_together": np.linalg.norm(j("left_wrist") - j("right_wrist"), axis=-1) < 0.3 * torso,
        "left_hand_in_front": ahead("left_wrist", "spine3") > 0.5,
        "right_hand_in_front": ahead("right_wrist", "spine3") > 0.5,
        "left_foot_in_front": ahead("left_ankle", "right_ankle") > 0.3,
        "right_foot_in_front": ahead("right_ankle", "left_ankle") > 0.3,
        "feet_apart": np.linalg.norm(j("left_ankle") - j("right_ankle"), axis=-1) > 1.2 * torso,
        "left_foot_raised": height("left_foot") > 0.3,
        "right_foot_raised": height("right_foot") > 0.3,
        "both_feet_off_floor": np.minimum(height("left_foot"), height("right_foot")) > 0.1,
        "left_knee_bent": angle("left_hip", "left_knee", "left_ankle") < 150.0,
        "right_knee_bent": angle("right_hip", "right_knee", "right_ankle") < 150.0,
        "left_elbow_bent": angle("left_shoulder", "left_elbow", "left_wrist") < 120.0,
        "right_elbow_bent": angle("right_shoulder", "right_elbow", "right_wrist") < 120.0,
        "torso_leaning": lean > 30.0,
        "crouching": (mid_hip[:, 1] - floor) / torso < 1.2,
        "moving_fast": speed > 2.0,
        "standing_still": speed < 0.2,
    }


GEOMETRIC = tuple(_geometric_terms(np.zeros((3, 24, 3)) + np.arange(24)[None, :, None], 60.0))


def geometric_features(joints: np.ndarray, fps: float = 60.0) -> np.ndarray:
    """(N, 24, 3) metres -> (len(GEOMETRIC),): the fraction of frames each relation holds."""
    terms = _geometric_terms(joints, fps)
    return np.array([np.mean(terms[name]) for name in GEOMETRIC], np.float64)


# ---- metrics ---------------------------------------------------------------------------------
def _normalise(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = gt.mean(0), gt.std(0)
    sd = np.where(sd < 1e-8, 1.0, sd)
    return (pred - mu) / sd, (gt - mu) / sd


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b`` (K, D).

    tr((S_a S_b)^(1/2)) is computed as the sum of square roots of the eigenvalues of the
    symmetric S_a^(1/2) S_b S_a^(1/2), which stays finite when the covariances are singular
    (fewer sequences than feature dimensions, the usual case).
    """
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    w, V = np.linalg.eigh(ca)
    root_a = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    middle = np.linalg.eigvalsh(root_a @ cb @ root_a)
    cross = float(np.sqrt(np.clip(middle, 0, None)).sum())
    return max(0.0, float(np.sum((mu_a - mu_b) ** 2) + np.trace(ca) + np.trace(cb) - 2.0 * cross))  # >= 0 up to round-off


def diversity(x: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of distinct rows."""
    if len(x) < 2:
        return float("nan")
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    return float(d[np.triu_indices(len(x), 1)].mean())


def motion_metrics(pred: dict[str, np.ndarray], gt: dict[str, np.ndarray]) -> dict:
    """FID_k, FID_g and diversities of two sets; ``pred``/``gt``: {"kinetic": (K, 72), "geometric": (K, G)}."""
    out: dict = {"pred_sequences": len(pred["kinetic"]), "gt_sequences": len(gt["kinetic"])}
    for kind, key in (("kinetic", "k"), ("geometric", "g")):
        p, g = _normalise(pred[kind], gt[kind])
        out[f"fid_{key}"] = frechet_distance(p, g)
        out[f"diversity_{key}_pred"] = diversity(p)
        out[f"diversity_{key}_gt"] = diversity(g)
    return out


# ---- per-sequence job and folders ------------------------------------------------------------
class FeaturesConfig(RunOptions):
    anno_dir: Path
    smpl_dir: Path
    save_dir: Path | None = None  # default <anno_dir>/features
    fps: float = Field(60.0, gt=0)
    gender: str = "neutral"
    sequence_names: list[str] | None = None

    def out_dir(self) -> Path:
        return self.save_dir or self.anno_dir / "features"


@functools.lru_cache(maxsize=2)
def _fast(smpl_dir: str, gender: str):
    from aistpp.core.body import load_smpl_data, smpl_model_path
    from aistpp.core.fast_smpl import FastSMPL

    path = smpl_model_path(smpl_dir, gender)
    if not path.is_file():
        raise AistppError(f"SMPL model file not found (put SMPL_{gender.upper()}.pkl in --smpl-dir)", path)
    return FastSMPL(load_smpl_data(path))


def smpl_joints_m(fast, motion: dict) -> np.ndarray:
    """The 24 SMPL joints (N, 24, 3) in metres, in the dataset's world (scaling and translation)."""
    import torch

    with torch.no_grad():
        pts = fast(torch.as_tensor(motion["smpl_poses"], dtype=torch.float64),
                   torch.as_tensor(motion["smpl_trans"], dtype=torch.float64), float(motion["smpl_scaling"][0]))
    return pts[:, :24].numpy() / 100.0


def features_sequence(name: str, config: FeaturesConfig) -> dict:
    from aistpp.core.dataset import AISTDataset

    motion = formats.load_motion(AISTDataset(config.anno_dir).layout.file("motions", name))
    joints = smpl_joints_m(_fast(str(config.smpl_dir), config.gender), motion)
    kin, geo = kinetic_features(joints, config.fps), geometric_features(joints, config.fps)
    out = config.out_dir()
    for kind, values in (("kinetic", kin), ("geometric", geo)):
        with formats.atomic_path(out / f"{name}.{kind}.npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, values, allow_pickle=False)
    formats.save_json(out / f"{name}.features.json", {
        "sequence": name, "fps": config.fps, "frames": len(joints),
        "kinetic": dict(zip(KINETIC, map(float, kin))), "geometric": dict(zip(GEOMETRIC, map(float, geo)))})
    return {"frames": len(joints), "ke_mean": float(kin.reshape(24, 3)[:, :2].sum(1).mean())}


def run_features(config: FeaturesConfig) -> RunReport:
    from aistpp.core.dataset import AISTDataset

    _fast(str(config.smpl_dir), config.gender)  # a missing model is one error before any work
    ds = AISTDataset(config.anno_dir)
    folder = ds.layout.folder("motions")
    available = sorted(p.stem for p in folder.glob("*.pkl"))
    names = ds.select(config.sequence_names, config.split, config.include_ignored,
                      None if config.split else available, available_from=folder)
    job = functools.partial(features_sequence, config=config)
    out = config.out_dir()
    return run_jobs(job, names, config, outputs=lambda n: [out / f"{n}.kinetic.npy", out / f"{n}.geometric.npy",
                                                           out / f"{n}.features.json"], title="features")


def load_feature_set(folder: Path) -> dict[str, np.ndarray]:
    """{"kinetic": (K, 72), "geometric": (K, G), "names": [...]} from a folder ``aistpp features`` wrote."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AistppError("feature folder not found", folder)
    names = sorted(p.name[: -len(".kinetic.npy")] for p in folder.glob("*.kinetic.npy"))
    if not names:
        raise AistppError("no <seq>.kinetic.npy files (run 'aistpp features' first)", folder)
    out: dict = {"names": names}
    for kind, size in (("kinetic", len(KINETIC)), ("geometric", len(GEOMETRIC))):
        rows = []
        for n in names:
            path = folder / f"{n}.{kind}.npy"
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise AistppError(f"not a readable .npy file ({exc})", path) from None
            if arr.shape != (size,) or not np.isfinite(arr).all():
                raise AistppError(f"expected {size} finite values, found shape {arr.shape}", path)
            rows.append(arr)
        out[kind] = np.stack(rows)
    return out


def metrics_report(pred_dir: Path, gt_dir: Path) -> dict:
    pred, gt = load_feature_set(pred_dir), load_feature_set(gt_dir)
    if len(gt["names"]) < 2 or len(pred["names"]) < 2:
        raise AistppError("each set needs at least two sequences for covariances and diversity",
                          pred_dir if len(pred["names"]) < 2 else gt_dir)
    return motion_metrics(pred, gt)

