"""What an AIST++ annotation set holds: sequences by tag, setting and split; frames; gaps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from aistpp.core import formats
from aistpp.core.dataset import AISTDataset
from aistpp.core.names import parse_name, split_video_name, video_name
from aistpp.errors import AistppError


def _frames(ds: AISTDataset, seq: str) -> dict[str, int]:
    """Frame count per annotation kind present for ``seq`` (unreadable files are reported as -1)."""
    out: dict[str, int] = {}
    readers = {
        "keypoints2d": lambda p: formats.load_keypoints2d(p)["keypoints2d"].shape[1],
        "keypoints3d": lambda p: formats.load_keypoints3d(p)["keypoints3d"].shape[0],
        "motions": lambda p: formats.load_motion(p)["smpl_poses"].shape[0],
    }
    for kind, read in readers.items():
        path = ds.layout.file(kind, seq)
        if path.exists():
            try:
                out[kind] = int(read(path))
            except AistppError:
                out[kind] = -1
    return out


def sequence_quality(ds: AISTDataset, seq: str, fast=None, min_confidence: float = 0.15, models=None) -> dict:
    """Quality of one sequence's annotations, without watching its videos.

    ``reproj_px``: median distance (px) between ``keypoints3d_optim`` projected through the
    setting's cameras (distortion included) and the detected 2D keypoints with confidence >=
    ``min_confidence``; ``smpl_cm``: mean distance (cm) between the COCO joints of the SMPL
    motion (``fast``: a FastSMPL, or ``models``: gender -> FastSMPL to pose each motion with
    the model it was made with, see ``motion_gender``; neither: skip) and ``keypoints3d_optim``. Missing files or
    unreadable ones leave their entry out (and ``error`` says why).
    """
    import numpy as np

    out: dict = {}
    try:
        kp3d = ds.load_keypoints3d(seq)
    except AistppError as exc:
        return {"error": str(exc)}
    try:
        rig = ds.load_cameras(seq)
        kp2d = ds.load_keypoints2d(seq)["keypoints2d"]
        n = min(kp2d.shape[1], len(kp3d))
        proj = rig.project(kp3d[:n].astype(np.float64))
        ok = np.nan_to_num(kp2d[:, :n, :, 2]) >= min_confidence
        err = np.linalg.norm(proj - kp2d[:, :n, :, :2], axis=-1)[ok]
        err = err[np.isfinite(err)]
        if err.size:
            out["reproj_px"] = float(np.median(err))
    except AistppError as exc:
        out["error"] = str(exc)
    if (fast is not None or models is not None) and ds.layout.file("motions", seq).exists():
        import torch

        try:
            m = ds.load_motion(seq)
        except AistppError as exc:
            out["error"] = str(exc)
            return out
        if models is not None:
            from aistpp.core.body import motion_body_model, motion_gender

            fast = models(motion_gender(m), motion_body_model(m).name)
        with torch.no_grad():
            pts = fast(torch.as_tensor(m["smpl_poses"], dtype=torch.float64),
                       torch.as_tensor(m["smpl_trans"], dtype=torch.float64), float(m["smpl_scaling"][0]))
        coco = pts.numpy()[:, fast.observed_index("coco17")]
        n = min(len(coco), len(kp3d))
        d = np.linalg.norm(coco[:n] - kp3d[:n], axis=-1)
        if np.isfinite(d).any():
            out["smpl_cm"] = float(np.nanmean(d))
    return out


def dataset_info(anno_dir: Path, video_dir: Path | None = None, count_frames: bool = True,
                 quality: bool = False, smpl_dir: Path | None = None) -> dict:
    """A JSON-able summary of the dataset at ``anno_dir`` (and the videos in ``video_dir``).

    Without ``cameras/mapping.txt`` (generated motions or keypoints: a folder of ``motions/`` alone)
    the sequences are the files' names, no setting is known, and ``mapping`` is False."""
    ds = AISTDataset(anno_dir, video_dir)
    kinds = ("keypoints2d", "keypoints3d", "motions")
    stored = {kind: ds.layout.stored(kind) for kind in kinds}
    has_mapping = (ds.layout.folder("cameras", must_exist=False) / "mapping.txt").is_file()
    if not has_mapping and not any(stored.values()):
        raise AistppError("nothing to describe: no cameras/mapping.txt and no keypoints2d, keypoints3d or motions "
                          "files", anno_dir)
    mapping = ds.mapping if has_mapping else {}
    seqs = ds.sequence_names if has_mapping else sorted(set().union(*stored.values()))
    tags = {}
    for s in seqs:
        try:
            tags[s] = parse_name(s)
        except AistppError:
            tags[s] = None
    by = lambda attr: dict(sorted(Counter(getattr(t, attr) for t in tags.values() if t).items()))  # noqa: E731
    splits = {name: len(ds.split(name)) for name in ds.split_names()}
    info: dict = {
        "anno_dir": str(anno_dir),
        "sequences": len(seqs),
        "by_genre": by("genre"),
        "by_situation": by("situation"),
        "by_setting": {k: len(v) for k, v in ds.settings.items()} if has_mapping else {},
        "mapping": has_mapping,
        "splits": splits,
        "ignored": len(set(ds.ignore_list) & set(seqs)),
        "files": {},
        "missing": {},
    }
    for kind in kinds:
        have = stored[kind]
        info["files"][kind] = len(have & set(seqs))
        # without a mapping a kind with no file at all was never part of the set (generated motions)
        info["missing"][kind] = sorted(set(seqs) - have) if has_mapping or have else []
        extra = sorted(have - set(seqs))
        if extra:
            info["missing"][f"{kind}_not_in_mapping"] = extra
    if count_frames:
        frames = {s: _frames(ds, s) for s in seqs}
        counts = [max(f.values()) for f in frames.values() if f]
        info["frames"] = {"total": int(sum(counts)), "min": min(counts, default=0), "max": max(counts, default=0)}
        info["frame_mismatch"] = sorted(s for s, f in frames.items() if len(set(f.values())) > 1)
    if quality:
        models = None
        if smpl_dir is not None:
            import functools

            from aistpp.pipeline.features import _fast

            models = functools.lru_cache(maxsize=3)(lambda g, b: _fast(str(smpl_dir), g, b))
        info["quality"] = {s: sequence_quality(ds, s, models=models) for s in seqs
                           if ds.layout.file("keypoints3d", s).exists()}
    if video_dir is not None:
        if not Path(video_dir).is_dir():
            raise AistppError("video folder not found", video_dir)
        videos = {p.stem for p in Path(video_dir).glob("*.mp4")}
        expected = set()
        for s in seqs if has_mapping else ():
            try:
                expected |= {video_name(s, v) for v in ds.load_cameras(s).names}
            except AistppError:
                continue
        info["videos"] = len(videos)
        info["missing"]["videos"] = sorted(expected - videos)
        orphans = []
        for v in sorted(videos - expected):
            try:
                if split_video_name(v)[0] not in mapping:
                    orphans.append(v)
            except AistppError:
                orphans.append(v)
        info["missing"]["annotations_for_videos"] = orphans
    return info
