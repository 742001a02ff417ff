"""Benchmark: aistpp triangulation against aniposelib 0.7.2 on the same synthetic input.

Input: synth's SMPL-driven dance motion on its generated body model, a synth 9-view rig
with lens distortion, synth's detection faults at 2 px noise, about 5 % gross-outlier joints
(whole-body left/right swaps, joints on another limb), 2 % missed view-frames (``--stick``:
a stick figure with exactly constant bone lengths and per-joint faults instead).
Compares wall time and MPJPE of
  ours: plain DLT, robust (RANSAC over view pairs; and the IRLS alternative), optimised;
  aniposelib: CameraGroup.triangulate (undistort=True) and triangulate_optim (COCO bones).
Then peak RSS of the whole ``triangulate_keypoints`` step for 3,000 and 12,000 frames, each
measured in a fresh subprocess (resource.getrusage ru_maxrss). aniposelib runs with
NUMBA_NUM_THREADS=1 unless set: its fastest setting on this shared 2-core machine.

    python benchmarks/triangulate.py            # 3,000 frames (aniposelib's optim takes about a minute)
    python benchmarks/triangulate.py --quick    # 600 frames
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.spatial.transform import Rotation

from aistpp.core.cameras import CameraRig
from aistpp.core.joints import COCO_BONES, COCO_FLIP
from aistpp.core.rig import aist_like_ring


def make_input(num_frames: int, seed: int = 0, outlier_rate: float = 0.05) -> tuple[CameraRig, np.ndarray, np.ndarray, np.ndarray]:
    """rig, ground truth (N, 17, 3) cm, detections (V, N, 17, 2) px, confidences (V, N, 17)."""
    rng = np.random.default_rng(seed)
    r = aist_like_ring()
    dist = np.zeros((9, 5))
    dist[:, 0], dist[:, 1] = rng.uniform(-0.1, 0.1, 9), rng.uniform(-0.05, 0.05, 9)
    rig = CameraRig(r.names, r.sizes, r.K, dist, r.rvec, r.tvec)
    t = np.arange(num_frames) / 60.0

    def wave(amp, hz):
        return amp * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))

    root = np.stack([wave(30, 0.2), 95 + wave(4, 1.0), wave(30, 0.15)], axis=-1)
    body = Rotation.from_euler("yx", np.stack([0.8 * t + wave(0.4, 0.5), wave(0.15, 0.7)], axis=-1))
    head = Rotation.from_euler("yxz", np.stack([wave(0.5, 0.6), wave(0.3, 0.8), wave(0.2, 0.9)], axis=-1))
    gt = np.zeros((num_frames, 17, 3))
    for j, p in {5: (17, 50, 0), 6: (-17, 50, 0), 11: (11, 0, 0), 12: (-11, 0, 0)}.items():
        gt[:, j] = root + body.apply(np.array(p, float))
    neck = root + body.apply(np.array([0, 56, 0.0]))
    for j, p in {0: (0, 14, 9), 1: (3.5, 17, 7), 2: (-3.5, 17, 7), 3: (7.5, 15, 0), 4: (-7.5, 15, 0)}.items():
        gt[:, j] = neck + body.apply(head.apply(np.array(p, float)))
    lengths = {7: 28.0, 8: 28.0, 9: 25.0, 10: 25.0, 13: 42.0, 14: 42.0, 15: 40.0, 16: 40.0}
    for parent, child, rest in ((5, 7, (1, -1, 0)), (7, 9, (1, -1, 0)), (6, 8, (-1, -1, 0)), (8, 10, (-1, -1, 0)),
                                (11, 13, (0.1, -1, 0.1)), (13, 15, (0.1, -1, 0.1)), (12, 14, (-0.1, -1, 0.1)),
                                (14, 16, (-0.1, -1, 0.1))):
        d = np.array(rest, float) + np.stack([wave(0.8, rng.uniform(0.4, 1.4)) for _ in range(3)], axis=-1)
        gt[:, child] = gt[:, parent] + lengths[child] * body.apply(d / np.linalg.norm(d, axis=-1, keepdims=True))
    proj = rig.project(gt)
    V, N, J = proj.shape[:3]
    obs = proj + rng.normal(0, 2.0, proj.shape)
    out = rng.random((V, N, J)) < outlier_rate
    other = np.where(rng.random((V, N, J)) < 0.5, COCO_FLIP, rng.integers(0, J, (V, N, J)))
    other = np.where(other == np.arange(J), (np.arange(J) + 5) % J, other)
    wrong = np.take_along_axis(proj, other[..., None], axis=2) + rng.normal(0, 2.0, proj.shape)
    obs = np.where(out[..., None], wrong, obs)
    obs[rng.random((V, N, J)) < 0.02] = np.nan
    return rig, gt, obs, rng.uniform(0.5, 1.0, (V, N, J))


def make_synth_input(num_frames: int, seed: int = 0, outlier_rate: float = 0.05) -> tuple:
    """The same, from the synth package: SMPL-driven dance motion on the generated body model,
    a synth rig, and synth's fault model (whole-body swaps, wrong-limb joints, missed view-frames,
    low-confidence joints). ``outlier_rate`` is the share of gross-outlier joints."""
    import tempfile

    from aistpp.core.body import load_smpl
    from aistpp.pipeline.synth import keypoints3d_from_motion, make_detections, make_motion, make_rig
    from aistpp.pipeline.synth.body_model import make_body_model, write_body_model

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        write_body_model(f"{tmp}/SMPL_NEUTRAL.pkl", make_body_model("neutral"))
        model = load_smpl(tmp)
    gt = keypoints3d_from_motion(model, make_motion(num_frames, rng, model=model)).astype(np.float64)
    rig = make_rig(0, rng)
    # synth's rate is per view and frame (60 % whole-body swaps of 16 joints): ~0.59 x rate of the joints
    det = make_detections(rig, gt, rng, noise_px=2.0, outlier_rate=outlier_rate / 0.59, missing_frame_rate=0.02)
    kp = det["keypoints2d"].astype(np.float64)
    return rig, gt, kp[..., :2], np.nan_to_num(kp[..., 2])


def mpjpe(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.nanmean(np.linalg.norm(a - b, axis=-1)))


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def rss_child(frames: int) -> None:
    """Run the whole step on ``frames`` frames and print peak RSS (MB) as JSON (subprocess entry).

    Uses the stick figure: synth's SMPL forward pass over 12,000 frames would itself take
    gigabytes and hide the step's own peak (ru_maxrss is a high-water mark)."""
    from aistpp.pipeline.triangulate import triangulate_keypoints

    rig, gt, obs, conf = make_input(frames, seed=1)
    kp = np.concatenate([obs, conf[..., None]], axis=-1).astype(np.float32)
    del obs, conf
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res, secs = timed(triangulate_keypoints, rig, kp)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": frames, "peak_rss_mb": round(peak, 1), "rss_before_mb": round(before, 1),
                      "input_mb": round(kp.nbytes / 2**20, 1), "seconds": round(secs, 2),
                      "mpjpe_optim_cm": round(mpjpe(res["keypoints3d_optim"], gt), 3)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="600 frames, RSS at 600 and 2,400 frames")
    parser.add_argument("--rss-frames", default="3000,12000", help="comma-separated frame counts for peak RSS")
    parser.add_argument("--no-peer-optim", action="store_true", help="skip aniposelib's triangulate_optim (slow)")
    parser.add_argument("--stick", action="store_true", help="a stick figure instead of synth's SMPL dance motion")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        return rss_child(args.rss_child)
    # aniposelib's numba kernels are parallel=True: on this shared 2-core machine their threads
    # oversubscribe and run 10-60x slower; one thread is its fastest setting here (set before import).
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    frames = 600 if args.quick else args.frames
    rss_frames = [600, 2400] if args.quick else [int(f) for f in args.rss_frames.split(",") if f]

    # Memory first, while this process is small: Linux keeps ru_maxrss across fork + exec.
    rss = []
    for f in rss_frames:
        cmd = [sys.executable, __file__, "--rss-child", str(f)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rss.append(json.loads(out.stdout.strip().splitlines()[-1]))

    from aistpp.core.triangulation import triangulate_dlt, triangulate_robust
    from aistpp.pipeline.triangulate_optim import optimise_keypoints3d

    make = make_input if args.stick else make_synth_input
    rig, gt, obs, conf = make(frames)
    V, N, J, _ = obs.shape
    group = rig.to_aniposelib()
    group.triangulate(obs[:, :2].reshape(V, -1, 2), undistort=True, progress=False)  # warm aniposelib's JIT
    _, s_jit = timed(triangulate_robust, rig, obs[:, :2], conf[:, :2])  # our imports and numba kernel (compile or disk cache)

    rows: dict[str, dict] = {}

    def record(name, points, secs):
        rows[name] = {"seconds": round(secs, 3), "mpjpe_cm": round(mpjpe(points, gt), 3),
                      "nan_pct": round(100 * float(np.isnan(points[..., 0]).mean()), 2)}

    p, s = timed(triangulate_dlt, rig, obs, conf)
    record("ours dlt (no outlier rejection)", p, s)
    tri, s_robust = timed(triangulate_robust, rig, obs, conf)
    record("ours robust (ransac)", tri.points3d, s_robust)
    p, s = timed(triangulate_robust, rig, obs, conf, compiled=False)
    record("ours robust (ransac, numpy reference)", p.points3d, s)
    p, s = timed(triangulate_robust, rig, obs, conf, method="irls")
    record("ours robust (irls)", p.points3d, s)
    xy, s_und = timed(rig.undistort, obs)
    p, s_opt = timed(optimise_keypoints3d, rig, xy, np.where(tri.inliers, conf, 0.0), tri.points3d)
    record("ours optim (robust + undistort + optim)", p, s_robust + s_und + s_opt)
    p, s = timed(group.triangulate, obs.reshape(V, -1, 2), undistort=True, progress=False)
    record("aniposelib triangulate", p.reshape(N, J, 3), s)
    if not args.no_peer_optim:
        import warnings

        with warnings.catch_warnings():  # numba's object-mode deprecation chatter
            warnings.simplefilter("ignore")
            p, s = timed(group.triangulate_optim, obs, constraints=COCO_BONES.tolist(), verbose=False)
        record("aniposelib triangulate_optim", p, s)

    # RANSAC or IRLS? The same comparison with three times the outliers.
    hard: dict[str, dict] = {}
    rig15, gt15, obs15, conf15 = make(600, seed=2, outlier_rate=0.15)
    for method in ("ransac", "irls"):
        p, s = timed(triangulate_robust, rig15, obs15, conf15, method=method)
        hard[method] = {"seconds": round(s, 3), "mpjpe_cm": round(mpjpe(p.points3d, gt15), 3)}

    console = Console()
    what = "stick figure" if args.stick else "synth dance"
    table = Table(title=f"triangulation, {what}, {N} frames x {J} joints x {V} views (2 px noise, 5 % outliers, 2 % missing)")
    for col in ("method", "seconds", "MPJPE cm", "NaN %"):
        table.add_column(col, justify="right" if col != "method" else "left")
    for name, r in rows.items():
        table.add_row(name, f"{r['seconds']:.2f}", f"{r['mpjpe_cm']:.3f}", f"{r['nan_pct']:.2f}")
    console.print(table)
    mem = Table(title="peak RSS of triangulate_keypoints (robust + optim), stick figure, fresh process each")
    for col in ("frames", "input MB", "RSS before MB", "peak RSS MB", "seconds", "MPJPE optim cm"):
        mem.add_column(col, justify="right")
    for r in rss:
        mem.add_row(str(r["frames"]), str(r["input_mb"]), str(r["rss_before_mb"]), str(r["peak_rss_mb"]),
                    str(r["seconds"]), str(r["mpjpe_optim_cm"]))
    console.print(mem)
    console.print("robust triangulation with 15 % outliers (600 frames): "
                  + ", ".join(f"{k} {v['mpjpe_cm']:.3f} cm in {v['seconds']:.2f} s" for k, v in hard.items()))
    peer, peer_opt = rows["aniposelib triangulate"], rows.get("aniposelib triangulate_optim")
    ours, ours_opt = rows["ours robust (ransac)"], rows["ours optim (robust + undistort + optim)"]
    ratios = {
        "robust_speedup_vs_triangulate": round(peer["seconds"] / ours["seconds"], 1),
        "robust_error_ratio_vs_triangulate": round(ours["mpjpe_cm"] / peer["mpjpe_cm"], 3),
        "optim_error_ratio_vs_triangulate": round(ours_opt["mpjpe_cm"] / peer["mpjpe_cm"], 3),
    }
    if peer_opt:
        ratios["optim_speedup_vs_triangulate_optim"] = round(peer_opt["seconds"] / ours_opt["seconds"], 1)
        ratios["optim_error_ratio_vs_triangulate_optim"] = round(ours_opt["mpjpe_cm"] / peer_opt["mpjpe_cm"], 3)
    ratios["robust_numba_speedup_vs_numpy"] = round(rows["ours robust (ransac, numpy reference)"]["seconds"]
                                                    / ours["seconds"], 1)
    for k, v in ratios.items():
        console.print(f"{k}: {v}")
    console.print(f"first call of the compiled kernel (numba compile, or load from its disk cache): {s_jit:.2f} s")
    print(json.dumps({"benchmark": "triangulate", "frames": N, "results": rows, "ratios": ratios, "rss": rss,
                      "outliers_15pct": hard}))


if __name__ == "__main__":
    main()
