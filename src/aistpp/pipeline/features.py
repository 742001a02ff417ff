"""``aistpp features`` / ``aistpp metrics``: per-motion features and set metrics as published.

Definitions live in ``aistpp.pipeline.metrics`` (the AIST++ API's kinetic and geometric
features, Bailando's FID / Div protocol, BAS, EDGE's PFC). This module poses the motions and
reads / writes folders.

Joints: the SMPL joints posed by the body model the motion was made with (the motion's
``smpl_gender``, else male: the release's), ``smpl_poses`` with translation
``smpl_trans / smpl_scaling`` and no scaling: metres at SMPL's own scale, +y up, 60 fps.

Generated motions given as joints (``joints_dir``): ``<name>.npy`` arrays (N, J, 3) or
(N, 3 J), the same J joints and units (metres at SMPL scale, +y up, SMPL order), read with
``allow_pickle=False``.

Per sequence, ``features`` writes into the save folder:
  <seq>.kinetic.npy (3 J,), <seq>.geometric.npy (32,)  on all frames (the AIST++ API's);
  <seq>.bailando_kinetic.npy, <seq>.bailando_geometric.npy  Bailando's protocol (first
      1,200 frames, minus the first frame's root joint);
  <seq>.features.json  the same values by name, plus ``motion_beats`` (frames, for BAS) and
      ``pfc`` (EDGE's score: every 2nd frame, i.e. 30 fps, up = y).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field

from aistpp.core import formats
from aistpp.core.body_models import SMPL
from aistpp.core.runner import RunOptions, RunReport, run_jobs
from aistpp.errors import AistppError
from aistpp.pipeline.metrics import (
    GEOMETRIC, KINETIC, bailando_joints, bailando_metrics, beat_alignment, geometric_features, kinetic_features,
    motion_beats, physical_foot_contact,
)  # fmt: skip
from aistpp.core.video import find_music
from aistpp.pipeline.metrics.beats import music_beats_from_audio, read_beat_file

PROTOCOLS = ("bailando", "full", "bas", "pfc")
FEATURE_SETS = {"bailando": "bailando_", "full": ""}  # protocol -> file prefix of its features
PFC_FPS = 30.0  # EDGE's


class FeaturesConfig(RunOptions):
    anno_dir: Path | None = None
    smpl_dir: Path | None = None
    joints_dir: Path | None = Field(None, description="Instead of --anno-dir/--smpl-dir: generated joints, "
                                    f"<name>.npy (N, {SMPL.num_joints}, 3) or (N, {SMPL.pose_size}), metres at "
                                    "SMPL scale, +y up, SMPL order.")
    save_dir: Path | None = Field(None, json_schema_extra={"unset": "<anno-dir or joints-dir>/features"})
    fps: float = Field(60.0, gt=0, description="Frame rate of the motions (the reference's frame time is 1/60 s).")
    gender: Optional[Literal["neutral", "male", "female"]] = None  # None: the motion's, else male
    sequence_names: list[str] | None = None

    def out_dir(self) -> Path:
        return self.save_dir or (self.joints_dir or self.anno_dir) / "features"


@functools.lru_cache(maxsize=3)
def _fast(smpl_dir: str, gender: str, body_model: str = "smpl"):
    from aistpp.core.body_models import get_body_model

    bm = get_body_model(body_model)
    return bm.poser(bm.load_data(bm.require_file(smpl_dir, gender)))


def smpl_joints(fast, motion: dict) -> np.ndarray:
    """The skeleton joints (N, J, 3) (SMPL: 24) in metres at the model's scale: ``smpl_poses``
    with translation ``smpl_trans / smpl_scaling`` and no scaling (the reference features' input)."""
    import torch

    scaling = float(np.asarray(motion["smpl_scaling"]).reshape(-1)[0])
    prev = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: extra threads only spin (10x slower on a busy machine)
    try:
        with torch.no_grad():
            pts = fast(torch.as_tensor(np.asarray(motion["smpl_poses"]), dtype=torch.float64),
                       torch.as_tensor(np.asarray(motion["smpl_trans"]) / scaling, dtype=torch.float64), 1.0)
    finally:
        torch.set_num_threads(prev)
    return pts[:, :fast.num_joints].numpy()


def sequence_features(joints: np.ndarray, fps: float = 60.0) -> dict[str, np.ndarray | float]:
    """(N, J, 3) m SMPL joints -> every per-motion quantity the metrics use (see the module docstring)."""
    bailando = bailando_joints(joints)
    step = max(1, int(round(fps / PFC_FPS)))
    return {
        "kinetic": kinetic_features(joints, 1.0 / fps), "geometric": geometric_features(joints),
        "bailando_kinetic": kinetic_features(bailando, 1.0 / fps), "bailando_geometric": geometric_features(bailando),
        "motion_beats": motion_beats(joints), "pfc": physical_foot_contact(joints[::step], fps / step, "y"),
    }


def load_joints(path: Path) -> np.ndarray:
    """``<name>.npy`` SMPL joints (N, J, 3) or (N, 3 J) -> (N, J, 3) float64, checked (J = 24)."""
    J = SMPL.num_joints
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AistppError(f"not a readable .npy array ({exc})", path) from None
    if arr.ndim == 2 and arr.shape[1] == 3 * J:
        arr = arr.reshape(len(arr), J, 3)
    if arr.ndim != 3 or arr.shape[1:] != (J, 3) or not np.issubdtype(arr.dtype, np.number):
        raise AistppError(f"expected joints (N, {J}, 3) or (N, {3 * J}), found {arr.shape} {arr.dtype}", path)
    if not np.isfinite(arr).all():
        raise AistppError("joints hold NaN or infinite values", path)
    return arr.astype(np.float64)


def features_sequence(name: str, config: FeaturesConfig) -> dict:
    from aistpp.core.body import motion_body_model, motion_gender
    from aistpp.core.dataset import AISTDataset

    if config.joints_dir is not None:
        path = Path(config.joints_dir) / f"{name}.npy"
        joints, gender = load_joints(path), None
    else:
        path = AISTDataset(config.anno_dir).layout.file("motions", name)
        motion = formats.load_motion(path)
        # the published features are defined on SMPL's skeleton: SMPL-H / SMPL-X motions are read through
        # their SMPL body (smpl_poses, the hands at rest); another body model's motion has no such view
        if motion_body_model(motion).name not in ("smpl", "smplh", "smplx"):
            raise AistppError(f"features are defined on {SMPL.title}'s joints; this motion is "
                              f"{motion_body_model(motion).title}", path)
        gender = motion_gender(motion, config.gender)
        joints = smpl_joints(_fast(str(config.smpl_dir), gender), motion)
    if len(joints) < 3:
        raise AistppError(f"{len(joints)} frames: features need at least 3", path)
    feats = sequence_features(joints, config.fps)
    out = config.out_dir()
    for kind in ("kinetic", "geometric", "bailando_kinetic", "bailando_geometric"):
        with formats.atomic_path(out / f"{name}.{kind}.npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, feats[kind], allow_pickle=False)
    names = {"kinetic": KINETIC, "geometric": GEOMETRIC, "bailando_kinetic": KINETIC, "bailando_geometric": GEOMETRIC}
    formats.save_json(out / f"{name}.features.json", {
        "sequence": name, "fps": config.fps, "frames": len(joints), "smpl_gender": gender,
        **{kind: dict(zip(names[kind], map(float, feats[kind]))) for kind in names},
        "motion_beats": [int(b) for b in feats["motion_beats"]], "pfc": float(feats["pfc"])})
    return {"frames": len(joints), "gender": gender or "-", "pfc": float(feats["pfc"])}


def _outputs(out: Path, name: str) -> list[Path]:
    return [out / f"{name}.{k}.npy" for k in ("kinetic", "geometric", "bailando_kinetic", "bailando_geometric")] + [
        out / f"{name}.features.json"]


def run_features(config: FeaturesConfig) -> RunReport:
    from aistpp.core.dataset import AISTDataset
    from aistpp.core.names import check_name

    if config.joints_dir is not None:
        if not Path(config.joints_dir).is_dir():
            raise AistppError("joints folder not found", config.joints_dir)
        available = sorted(p.stem for p in Path(config.joints_dir).glob("*.npy"))
        if not available:
            raise AistppError("no <name>.npy joint files", config.joints_dir)
        names = [check_name(n) for n in (config.sequence_names or available)]
    else:
        if config.anno_dir is None or config.smpl_dir is None:
            raise AistppError("features need --anno-dir and --smpl-dir (SMPL motions) or --joints-dir (joints)")
        if config.gender is not None:
            _fast(str(config.smpl_dir), config.gender)  # a missing model is one error before any work
        names = AISTDataset(config.anno_dir).select_with("motions", config.sequence_names, config.split,
                                                         config.include_ignored)
    job = functools.partial(features_sequence, config=config)
    out = config.out_dir()
    return run_jobs(job, names, config, outputs=functools.partial(_outputs, out), title="features")


# ---- reading feature folders and the metrics -----------------------------------------------
def load_feature_set(folder: Path, prefix: str = "bailando_") -> dict:
    """{"kinetic": (K, len(KINETIC)), "geometric": (K, 32), "names": [...]} from a folder ``aistpp
    features`` wrote; ``prefix`` "bailando_" (Bailando's protocol) or "" (all frames)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AistppError("feature folder not found", folder)
    tail = f".{prefix}kinetic.npy"
    names = sorted(p.name[: -len(tail)] for p in folder.glob(f"*{tail}"))
    if not names:
        raise AistppError(f"no <seq>{tail} files (run 'aistpp features' first)", folder)
    out: dict = {"names": names}
    for kind, size in (("kinetic", len(KINETIC)), ("geometric", len(GEOMETRIC))):
        rows = []
        for n in names:
            path = folder / f"{n}.{prefix}{kind}.npy"
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise AistppError(f"not a readable .npy file ({exc})", path) from None
            if arr.shape != (size,) or not np.isfinite(arr).all():
                raise AistppError(f"expected {size} finite values, found shape {arr.shape} (written by an older "
                                  "aistpp? re-run 'aistpp features --overwrite')", path)
            rows.append(arr)
        out[kind] = np.stack(rows)
    return out


def _sequence_json(folder: Path, name: str) -> dict:
    path = Path(folder) / f"{name}.features.json"
    data = formats.read_json(path)
    if not isinstance(data, dict) or "motion_beats" not in data or "pfc" not in data:
        raise AistppError("no motion_beats / pfc (written by an older aistpp? re-run 'aistpp features --overwrite')",
                          path)
    return data


def music_beats_for(name: str, beats_dir: Path | None, music_dir: Path | None, fps: float,
                    cache: dict | None = None) -> np.ndarray:
    """Music beat frames of a sequence: ``<beats_dir>/<seq or music tag>.txt|json`` (seconds),
    else the song ``<music_dir>/<music tag>.<audio>`` tracked with librosa (once per song and
    fps when a ``cache`` dict is given: many sequences share a song)."""
    from aistpp.core.names import parse_name

    try:
        tags = [name, parse_name(name).music]
    except AistppError:
        tags = [name]
    if beats_dir is not None:
        for tag in tags:
            for suffix in (".txt", ".json"):
                path = Path(beats_dir) / f"{tag}{suffix}"
                if path.is_file():
                    return read_beat_file(path, fps)
        if music_dir is None:
            raise AistppError(f"no beat file {' or '.join(t + '.txt|json' for t in tags)}", beats_dir)
    song = find_music(music_dir, tags[-1])
    if cache is None:
        return music_beats_from_audio(song, fps)
    if (song, fps) not in cache:
        cache[song, fps] = music_beats_from_audio(song, fps)
    return cache[song, fps]


def _bas(folder: Path, names: list[str], beats_dir, music_dir, cache: dict) -> float:
    scores = []
    for n in names:
        data = _sequence_json(folder, n)
        beats = music_beats_for(n, beats_dir, music_dir, float(data.get("fps", 60.0)), cache)
        scores.append(beat_alignment(beats, np.asarray(data["motion_beats"]), int(data["frames"]) - 1))
    return float(np.nanmean(scores))


def metrics_report(pred_dir: Path, gt_dir: Path, protocols: tuple[str, ...] = ("bailando",),
                   beats_dir: Path | None = None, music_dir: Path | None = None) -> dict:
    """The named protocols' numbers for a generated (``pred_dir``) and a ground-truth feature folder."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise AistppError(f"unknown protocol {', '.join(unknown)} (use {', '.join(PROTOCOLS)})")
    out: dict = {}
    for protocol in protocols:
        if protocol in FEATURE_SETS:
            prefix = FEATURE_SETS[protocol]
            pred, gt = load_feature_set(pred_dir, prefix), load_feature_set(gt_dir, prefix)
            for folder, s in ((pred_dir, pred), (gt_dir, gt)):
                if len(s["names"]) < 2:
                    raise AistppError("each set needs at least two motions for covariances and diversity", folder)
            out.setdefault("pred_motions", len(pred["names"]))
            out.setdefault("gt_motions", len(gt["names"]))
            tag = "" if protocol == "bailando" else f"{protocol}_"
            out.update({tag + k: v for k, v in bailando_metrics(pred, gt).items()})
            for kind, key in (("kinetic", "k"), ("geometric", "g")):  # divided by 1e-10: they dominate FID
                constant = int(np.count_nonzero(gt[kind].std(0) == 0))
                if constant:
                    out[f"{tag}GT_constant_dims_{key}"] = constant
        elif protocol == "bas":
            if beats_dir is None and music_dir is None:
                raise AistppError("the bas protocol needs music beats: --beats DIR or --music-dir DIR")
            cache: dict = {}
            for label, folder in (("BAS", pred_dir), ("GT_BAS", gt_dir)):
                out[label] = _bas(folder, load_feature_set(folder, "")["names"], beats_dir, music_dir, cache)
        else:  # pfc
            for label, folder in (("PFC", pred_dir), ("GT_PFC", gt_dir)):
                names = load_feature_set(folder, "")["names"]
                out[label] = float(np.mean([_sequence_json(folder, n)["pfc"] for n in names]))
    return out
