"""Compare a rebuilt annotation set with a reference one (e.g. the released AIST++).

A rebuild is defined up to a similarity transform per recording setting (its own gauge), so
with alignment on (the default):
- cameras are compared after aligning their centres (rotation, centre, focal errors);
- 3D keypoints and SMPL joints are compared after one similarity per setting, fitted on the
  pooled per-frame 3D keypoints of the setting's common sequences (the camera-centre fit is
  the fallback when there are none). Fitting on the bodies, not the cameras 5 m away, keeps
  the lever arm of a small camera error out of the body error: one transform for a whole
  setting cannot hide per-sequence errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aistpp.core import formats
from aistpp.core.align import procrustes_errors, rig_errors, similarity_transform
from aistpp.core.body import motion_module, skeleton_joints
from aistpp.core.cameras import CameraRig
from aistpp.core.dataset import AISTDataset
from aistpp.errors import AistppError


def _apply(T: tuple[float, np.ndarray, np.ndarray], pts: np.ndarray) -> np.ndarray:
    s, R, t = T
    return s * pts @ R.T + t


def _mpjpe(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    d = np.linalg.norm(a[:n] - b[:n], axis=-1)
    return float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")


def _keypoint_errors(key: str, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """``{key}_mpjpe_cm`` of ``a`` (aligned already) against ``b`` (N, J, 3), and the two errors of 3D
    pose estimation: ``{key}_root_mpjpe_cm`` with each frame centred on its hips' midpoint (COCO-17
    joints 11, 12; other joint sets: not given) and ``{key}_pa_mpjpe_cm`` after each frame's own
    similarity (Procrustes)."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    out = {f"{key}_mpjpe_cm": _mpjpe(a, b)}
    if a.shape[1] == b.shape[1] == 17:
        root = lambda x: x - x[:, 11:13].mean(axis=1, keepdims=True)  # noqa: E731
        out[f"{key}_root_mpjpe_cm"] = _mpjpe(root(a), root(b))
    if a.shape[1:] == b.shape[1:]:
        e = procrustes_errors(a, b)
        out[f"{key}_pa_mpjpe_cm"] = float(np.nanmean(e)) if np.isfinite(e).any() else float("nan")
    return out


def _keypoint_transform(est: AISTDataset, ref: AISTDataset, sequences: list[str], max_points: int = 50_000):
    """Similarity (est -> ref) fitted on the pooled ``keypoints3d`` of ``sequences``, or None."""
    pairs_a, pairs_b = [], []
    for seq in sequences:
        pa, pb = est.layout.file("keypoints3d", seq), ref.layout.file("keypoints3d", seq)
        if not (pa.exists() and pb.exists()):
            continue
        a, b = formats.load_keypoints3d(pa)["keypoints3d"], formats.load_keypoints3d(pb)["keypoints3d"]
        n = min(len(a), len(b))
        a, b = a[:n].reshape(-1, 3), b[:n].reshape(-1, 3)
        ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        pairs_a.append(a[ok])
        pairs_b.append(b[ok])
    if not pairs_a or sum(len(p) for p in pairs_a) < 3:
        return None
    a, b = np.concatenate(pairs_a), np.concatenate(pairs_b)
    step = max(1, len(a) // max_points)
    return similarity_transform(a[::step], b[::step])


def _rename(rig: CameraRig, view_map: dict[str, str]) -> CameraRig:
    """``rig`` with its views renamed by ``view_map`` (ours -> the reference's; others kept)."""
    return CameraRig(tuple(view_map.get(n, n) for n in rig.names), rig.sizes, rig.K, rig.dist, rig.rvec, rig.tvec)


def parse_view_map(text: str | None) -> dict[str, str]:
    """``"c01=cam01,c02=cam02"`` (our view = the reference's) -> {ours: theirs}."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise AistppError(f"--view-map {part.strip()!r}: expected OURS=THEIRS (e.g. c01=cam01)")
        out[ours.strip()] = theirs.strip()
    return out


IDENTITY = (1.0, np.eye(3), np.zeros(3))


def _compare_rigs(est: AISTDataset, ref: AISTDataset, ours: str, theirs: str, view_map: dict[str, str], align: bool,
                  reprojection: int) -> tuple[dict, tuple | None]:
    """Our setting ``ours``'s cameras against the reference's setting ``theirs``: the row of the
    ``settings`` table and the similarity of the centres (identity without ``align``). No cameras
    file on our side (a set of generated motions or keypoints has none) is no error: the row is
    ``{"cameras": "none on our side"}``; a file that cannot be read, or views that differ, make a
    row with ``error``. The similarity is None for both."""
    if not (est.layout.folder("cameras", must_exist=False).is_dir() and est.camera_file(ours).exists()):
        return {"cameras": "none on our side"}, None
    try:
        a, b = _rename(est.load_cameras(ours), view_map), ref.load_cameras(theirs)
    except AistppError as exc:
        return {"error": str(exc)}, None
    if set(a.names) != set(b.names):
        hint = "" if view_map else ": pass --view-map OURS=THEIRS,... to say how they map"
        return {"error": f"views differ: {list(a.names)} vs {list(b.names)}{hint}"}, None
    a = a.subset(list(b.names))  # the reference's order
    errs = rig_errors(a, b, align=align)
    row = {
        "rotation_deg_median": float(np.median(errs["rotation_deg"])),
        "rotation_deg_max": float(errs["rotation_deg"].max()),
        "center_cm_median": float(np.median(errs["center_cm"])),
        "center_cm_max": float(errs["center_cm"].max()),
        "focal_rel_max": float(errs["focal_rel"].max()),
    }
    if reprojection > 0:
        inverse = {theirs_: ours_ for ours_, theirs_ in view_map.items()}
        rep = _reprojection(est, ours, a, b, [inverse.get(n, n) for n in b.names], reprojection)
        if rep is not None:
            row["reprojection"] = rep
    return row, similarity_transform(a.centers, b.centers) if align else IDENTITY


def _files_mapping(est: AISTDataset, ref: AISTDataset) -> dict[str, str]:
    """Our mapping when we have no ``cameras/mapping.txt`` (3D pose predictions, generated motions:
    files named like the reference's sequences): each keypoints3d or motions file in the
    reference's setting of that name; a name the reference does not list maps to no setting ('')."""
    files = est.layout.stored("keypoints3d") | est.layout.stored("motions")
    if not files:
        raise AistppError("nothing to compare: no cameras/mapping.txt and no keypoints3d or motions files",
                          est.layout.anno_dir)
    return {q: ref.mapping.get(q, "") for q in sorted(files)}


def _held(ds: AISTDataset, seq: str) -> bool:
    return any(ds.layout.file(kind, seq).exists() for kind in ("keypoints3d", "motions"))


def _reprojection(est: AISTDataset, setting: str, ours: CameraRig, theirs: CameraRig, names: list[str],
                  limit: int) -> dict | None:
    """Both rigs (same view order; ``names`` the views as our keypoints2d files call them) on up
    to ``limit`` of our sequences of ``setting`` with keypoints2d: per sequence the median
    reprojection px (``calibrate_offsets.held_out_reprojection``), and their mean."""
    from aistpp.pipeline.calibrate_offsets import held_out_reprojection

    seqs = sorted(q for q, st in est.mapping.items() if st == setting and est.layout.file("keypoints2d", q).exists())
    per: dict[str, dict] = {}
    for q in seqs[:limit]:
        path = est.layout.file("keypoints2d", q)
        data = formats.load_keypoints2d(path)
        kp = data["keypoints2d"][formats.keypoints2d_views(data, names, path)].astype(np.float64)
        per[q] = {"ours": held_out_reprojection(ours, kp)["median_px"],
                  "reference": held_out_reprojection(theirs, kp)["median_px"]}
    if not per:
        return None
    return {"sequences": per, "ours_px": float(np.mean([r["ours"] for r in per.values()])),
            "reference_px": float(np.mean([r["reference"] for r in per.values()]))}


def compare_datasets(anno_dir: Path, reference_dir: Path, smpl_dir: Path | None = None, align: bool = True,
                     view_map: dict[str, str] | None = None, reprojection: int = 0) -> dict:
    """Per-setting camera errors and per-sequence keypoint / SMPL joint errors (cm).

    Only what both sides hold is listed: settings both have, sequences with keypoints3d or
    motions on both sides. A sequence whose setting the sides name differently is aligned by
    the keypoints3d of the sequences the two settings share (``settings_by_sequences``: our
    setting -> the reference's; the two rigs are compared under ``settings["ours=theirs"]``);
    without keypoints3d on both sides it is listed under ``unaligned``, not compared. A setting
    with no cameras on our side (generated motions) is no error: its 3D is aligned on keypoints3d
    or, without them, compared as it is (the same name, the same world frame). Views are matched
    by name; rigs whose views are named differently are refused (``error``; for a same-named
    setting its sequences are left out and listed under ``refused``) unless ``view_map`` {our
    view: the reference's} says how they map. ``reprojection`` > 0: also each
    setting's two rigs reprojecting the detections of up to that many of our sequences of the
    setting (keypoints2d; ``reprojection`` key: per sequence and the mean median px), which judges
    cameras without the truth: fairest on recordings neither rig was calibrated on.
    """
    est, ref = AISTDataset(anno_dir), AISTDataset(reference_dir)
    if not (est.layout.folder("cameras", must_exist=False) / "mapping.txt").is_file():
        est.mapping = _files_mapping(est, ref)
    ours, theirs = set(est.mapping), set(ref.mapping)
    out: dict = {"missing": sorted(theirs - ours), "extra": sorted(ours - theirs), "settings": {}, "sequences": {},
                 "refused": [], "motions_not_compared": []}  # the last: motions on both sides, no smpl_dir
    view_map = view_map or {}
    common = sorted(q for q in ours & theirs if _held(est, q) and _held(ref, q))
    transforms: dict[str, tuple] = {}  # same-named settings: the similarity of the centres
    refused: set[str] = set()
    no_cameras: list[str] = []
    for setting in sorted(set(est.settings) & set(ref.settings)):
        out["settings"][setting], T = _compare_rigs(est, ref, setting, setting, view_map, align, reprojection)
        if "error" in out["settings"][setting]:
            refused.add(setting)
        elif T is None:
            no_cameras.append(setting)
        else:
            transforms[setting] = T
    out["refused"] = [q for q in common if est.mapping[q] == ref.mapping[q] and est.mapping[q] in refused]
    common = [q for q in common if q not in out["refused"]]
    if align:
        # one similarity per same-named setting on the pooled keypoints3d; without them, the
        # centres' (or, with no cameras on our side either, none: the same name says the same frame)
        for setting in [*transforms, *no_cameras]:
            T = _keypoint_transform(est, ref, [q for q in common if est.mapping[q] == setting == ref.mapping[q]])
            if T is not None:
                transforms[setting] = T
                out["settings"][setting]["keypoints_aligned_on"] = "keypoints3d"
            elif setting in no_cameras:
                transforms[setting] = IDENTITY
                out["settings"][setting]["keypoints_aligned_on"] = "none (compared as they are)"
    # a sequence whose setting the two sides name differently (an own rig's 'myrig' for the release's
    # 'setting4'): one similarity per (ours, theirs) pair fitted on the pair's keypoints3d; without
    # keypoints3d on both sides there is nothing to align it by, and an unaligned gauge is no error
    pair_transforms: dict[tuple[str, str], tuple] = {}
    out["settings_by_sequences"], out["unaligned"] = {}, []
    pairs: dict[tuple[str, str], list[str]] = {}
    # a setting both name alike was handled above: with --align it is in ``transforms`` (or refused,
    # its sequences dropped); without, the sequence loop below compares it as it is (the identity)
    for q in common:
        if est.mapping[q] != ref.mapping[q]:
            pairs.setdefault((est.mapping[q], ref.mapping[q]), []).append(q)
    for (sa, sb), seqs in pairs.items():
        out["settings_by_sequences"][sa] = sorted({*out["settings_by_sequences"].get(sa, []), sb})
        # their cameras are compared too (a refused pair's 3D still is: it is aligned on keypoints3d)
        out["settings"][f"{sa}={sb}"] = _compare_rigs(est, ref, sa, sb, view_map, align, reprojection)[0]
        if not align:
            continue
        T = _keypoint_transform(est, ref, seqs)
        if T is None:
            out["unaligned"] += seqs
        else:
            pair_transforms[(sa, sb)] = T
    models: dict = {}

    def model(motion: dict):  # each motion posed with the body model it was made with (release: male)
        return motion_module(smpl_dir, motion, cache=models)

    for seq in common:
        if not align:
            T = IDENTITY
        elif est.mapping[seq] != ref.mapping[seq]:
            T = pair_transforms.get((est.mapping[seq], ref.mapping[seq]))
            if T is None:
                continue  # listed under 'unaligned'
        else:
            T = transforms[est.mapping[seq]]
        row: dict = {}
        pa, pb = est.layout.file("keypoints3d", seq), ref.layout.file("keypoints3d", seq)
        if pa.exists() and pb.exists():
            ka, kb = formats.load_keypoints3d(pa), formats.load_keypoints3d(pb)
            row["frames"] = [len(ka["keypoints3d"]), len(kb["keypoints3d"])]
            for key in ("keypoints3d", "keypoints3d_optim"):
                if key in ka and key in kb:
                    row.update(_keypoint_errors(key, _apply(T, ka[key]), kb[key]))
        ma, mb = est.layout.file("motions", seq), ref.layout.file("motions", seq)
        if smpl_dir and ma.exists() and mb.exists():
            a, b = formats.load_motion(ma), formats.load_motion(mb)
            ja = skeleton_joints(model(a), a["smpl_poses"], a["smpl_trans"], a["smpl_scaling"])
            jb = skeleton_joints(model(b), b["smpl_poses"], b["smpl_trans"], b["smpl_scaling"])
            row["smpl_joint_error_cm"] = _mpjpe(_apply(T, ja), jb)
        elif ma.exists() and mb.exists():
            out["motions_not_compared"].append(seq)
        if row:
            out["sequences"][seq] = row
    return out
