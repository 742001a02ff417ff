"""Benchmark: camera calibration from body keypoints, ours against aniposelib's ``bundle_adjust_iter``.

One synthetic setting (``synth.rig.make_rig``: AIST-like ring, focal ~1,600 px, lens distortion),
S sequences x F frames of a 17-joint dancing body, detections from ``synth.detections``
(2 px noise, low-confidence joints, missed frames, left/right swaps, wrong-limb outliers).
Both methods start from the same cameras (each turned by 5 deg, moved by 30 cm, f = 1600,
no distortion) and get the same pooled keypoints (confidence >= 0.5); each subsamples them its
own way (ours: 1,000 random frames, ``aistpp calibrate``'s default; aniposelib: up to 1,000
points per camera pair). aniposelib refines f and k1 (its default); ours the same unknowns. Errors are measured after a
similarity alignment to the true cameras; reprojection errors use our DLT of every pooled
keypoint with the final cameras. ``python benchmarks/calibrate.py [--quick]``.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # BLAS threads must be set before numpy loads (see --blas-threads)
    _n = sys.argv[sys.argv.index("--blas-threads") + 1] if "--blas-threads" in sys.argv else "1"
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _n)

import argparse
import json
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from aistpp.core.align import rig_errors
from aistpp.core.bundle_adjust import reprojection_errors
from aistpp.core.cameras import CameraRig, rodrigues, rotation_to_rodrigues
from aistpp.core.triangulation import triangulate_dlt
from aistpp.pipeline.calibrate import calibrate_views, pool_keypoints
from aistpp.pipeline.synth.detections import make_detections
from aistpp.pipeline.synth.rig import make_rig


def stick_dancer(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 17, 3) cm COCO keypoints of a 170 cm body: swinging arms, alternating leg lifts, turning
    and wandering about a metre around the origin (ankles on the floor)."""
    rest = np.array([[0, 155, 10], [3, 159, 8], [-3, 159, 8], [7.5, 156, 0], [-7.5, 156, 0], [17, 139, 0],
                     [-17, 139, 0], [19, 108, 0], [-19, 108, 0], [20, 83, 2], [-20, 83, 2], [9, 90, 0], [-9, 90, 0],
                     [9.5, 48.5, 2], [-9.5, 48.5, 2], [9.5, 6.6, 0], [-9.5, 6.6, 0]], float)
    t = np.arange(n) / 60.0
    ph = rng.uniform(0, 2 * np.pi, 8)
    P = np.repeat(rest[None], n, 0)

    def swing(joints, pivot, angle):
        c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
        d = P[:, joints] - P[:, [pivot]]
        y, z = d[..., 1], d[..., 2]
        P[:, joints, 1], P[:, joints, 2] = P[:, [pivot], 1] + c * y - s * z, P[:, [pivot], 2] + s * y + c * z

    for side, (sh, el, wr) in enumerate(((5, 7, 9), (6, 8, 10))):
        swing([el, wr], sh, 1.2 * np.sin(2 * np.pi * 0.7 * t + ph[side]))
        swing([wr], el, 0.6 * np.sin(2 * np.pi * 0.5 * t + ph[2 + side]) - 0.3)
    lift = np.sin(2 * np.pi * 0.4 * t + ph[4])
    swing([13, 15], 11, -np.clip(lift, 0, None))
    swing([14, 16], 12, -np.clip(-lift, 0, None))
    yaw = np.cumsum(rng.normal(0, 0.03, n)) + ph[5]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, z = P[..., 0].copy(), P[..., 2].copy()
    P[..., 0] = c * x + s * z + 90 * np.sin(2 * np.pi * 0.11 * t + ph[6])[:, None]
    P[..., 2] = -s * x + c * z + 90 * np.sin(2 * np.pi * 0.17 * t + ph[7])[:, None]
    return P


def perturbed(rig: CameraRig, rng: np.random.Generator, deg: float = 5.0, cm: float = 30.0) -> CameraRig:
    axis = rng.normal(size=(len(rig), 3))
    R = rodrigues(axis / np.linalg.norm(axis, axis=1, keepdims=True) * np.radians(deg)) @ rig.R
    d = rng.normal(size=(len(rig), 3))
    C = rig.centers + cm * d / np.linalg.norm(d, axis=1, keepdims=True)
    K = rig.K.copy()
    K[:, 0, 0] = K[:, 1, 1] = 1600.0
    return CameraRig(rig.names, rig.sizes, K, np.zeros((len(rig), 5)), rotation_to_rodrigues(R),
                     -np.einsum("vij,vj->vi", R, C))


def measure(rig: CameraRig, truth: CameraRig, pts: np.ndarray, conf: np.ndarray, clean: np.ndarray) -> dict:
    e = rig_errors(rig, truth)
    X = triangulate_dlt(rig, pts, conf, 0.5)
    err = reprojection_errors(rig, X, pts)
    ok = (conf >= 0.5) & np.isfinite(err)
    clean_err = reprojection_errors(rig, X, clean)
    return {"rotation_deg_median": float(np.median(e["rotation_deg"])), "rotation_deg_max": float(e["rotation_deg"].max()),
            "center_cm_median": float(np.median(e["center_cm"])), "center_cm_max": float(e["center_cm"].max()),
            "focal_rel_median": float(np.median(e["focal_rel"])),
            "reproj_median_px": float(np.median(err[ok])), "reproj_vs_clean_median_px": float(np.nanmedian(clean_err[ok]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 sequences x 300 frames")
    ap.add_argument("--sequences", type=int, default=20)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-aniposelib", action="store_true")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads for both methods (default 1: the machine is shared, and OpenBLAS "
                    "threads spinning against other jobs slow small matrix products down several-fold)")
    args = ap.parse_args()
    S, F = (4, 300) if args.quick else (args.sequences, args.frames)
    rng = np.random.default_rng(args.seed)
    truth = make_rig(0, rng)
    kp3d = np.concatenate([stick_dancer(F, rng) for _ in range(S)])
    det = make_detections(truth, kp3d, rng)
    init = perturbed(truth, rng)
    pts_all, conf_all = det["keypoints2d"][..., :2].astype(np.float64), det["keypoints2d"][..., 2].astype(np.float64)
    clean = det["clean"]
    console = Console()
    console.print(f"{S} sequences x {F} frames = {S * F} frames, {len(truth)} views")
    results = {"init": measure(init, truth, pts_all, conf_all, clean)}
    times = {}

    t0 = time.perf_counter()
    pts, conf = pool_keypoints([det["keypoints2d"]], 1000, args.seed, 0.5)
    ours = calibrate_views(init, pts, conf, 0.5, ("f", "k1"), height_cm=None)
    times["ours"] = time.perf_counter() - t0
    results["ours"] = measure(ours.rig, truth, pts_all, conf_all, clean)

    if not args.skip_aniposelib:
        usable = np.isfinite(pts_all).all(-1) & (conf_all >= 0.5)
        p2ds = np.where(usable[..., None], pts_all, np.nan).reshape(len(truth), -1, 2)
        group = init.to_aniposelib()
        np.random.seed(args.seed)  # aniposelib samples points with the global generator
        t0 = time.perf_counter()
        group.bundle_adjust_iter(p2ds, verbose=False)
        times["aniposelib"] = time.perf_counter() - t0
        results["aniposelib"] = measure(CameraRig.from_aniposelib(group), truth, pts_all, conf_all, clean)

    table = Table(title=f"calibration from body keypoints ({S} x {F} frames, 9 views)")
    cols = ("rotation_deg_median", "rotation_deg_max", "center_cm_median", "center_cm_max", "focal_rel_median",
            "reproj_median_px", "reproj_vs_clean_median_px")
    table.add_column("method")
    table.add_column("time s", justify="right")
    for c in cols:
        table.add_column(c.replace("_", " "), justify="right")
    for name, r in results.items():
        table.add_row(name, f"{times[name]:.1f}" if name in times else "-", *(f"{r[c]:.3g}" for c in cols))
    console.print(table)
    out = {"benchmark": "calibrate", "sequences": S, "frames": F, "times_s": times, "results": results}
    if "aniposelib" in times:
        out["speedup_vs_aniposelib"] = times["aniposelib"] / times["ours"]
        console.print(f"ours is {out['speedup_vs_aniposelib']:.1f}x faster than aniposelib bundle_adjust_iter")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
